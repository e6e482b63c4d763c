// zod schemas of the Consul wire fields previewd reads, named after what they describe.
import { z } from 'zod';

const stringMap = z.record(z.string(), z.string()).nullish().transform((m) => m ?? {});
const tags = z.array(z.string()).nullish().transform((t) => t ?? []);

export const ConsulHealthEntryWire = z.object({
  Node: z.object({ Node: z.string(), Address: z.string() }),
  Service: z.object({ ID: z.string(), Service: z.string(), Tags: tags, Meta: stringMap, Address: z.string().nullish(), Port: z.number() }),
  Checks: z.array(z.object({ CheckID: z.string(), Status: z.string() })).nullish().transform((c) => c ?? []),
});

export const ConsulCatalogServiceWire = z.object({
  Node: z.string(),
  Address: z.string(),
  ServiceID: z.string(),
  ServiceName: z.string(),
  ServiceTags: tags,
  ServiceMeta: stringMap,
  ServiceAddress: z.string().nullish(),
  ServicePort: z.number(),
});

/** GET /v1/catalog/nodes: structs.Node. */
export const ConsulCatalogNodeWire = z.object({ Node: z.string(), Address: z.string() });

/** GET /v1/catalog/node/:node: structs.NodeServices, services keyed by ID (or null: no such node). */
export const ConsulNodeServicesWire = z.object({
  Node: ConsulCatalogNodeWire,
  Services: z
    .record(z.string(), z.object({ ID: z.string(), Service: z.string(), Tags: tags, Meta: stringMap, Address: z.string().nullish(), Port: z.number() }))
    .nullish()
    .transform((m) => m ?? {}),
});

export const ConsulServicesWire = z.record(z.string(), tags);

export const ConsulHealthCheckWire = z.object({ Node: z.string(), CheckID: z.string(), Status: z.string() });

export const ConsulTokenSelfWire = z.object({
  AccessorID: z.string(),
  Description: z.string().nullish(),
  Policies: z
    .array(z.object({ Name: z.string() }))
    .nullish()
    .transform((p) => p ?? []),
});

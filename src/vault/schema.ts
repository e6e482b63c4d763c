// Vault's wire JSON, parsed only as far as previewd reads it. Unknown keys are
// ignored (newer servers add fields such as mount_type).
import { z } from 'zod';

const stringMap = z.record(z.string(), z.string());

/** KV v2 data values may be any JSON; previewd writes strings, and reads others as their JSON text. */
const kvValues = z.record(z.string(), z.unknown()).transform((values) =>
  Object.fromEntries(Object.entries(values).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)])),
);

export const KvReadResponse = z.object({
  data: z.object({
    data: kvValues.nullable(),
    metadata: z.object({
      custom_metadata: stringMap.nullable().optional(),
      version: z.number().int(),
      destroyed: z.boolean().optional(),
      deletion_time: z.string().optional(),
    }),
  }),
});

export const KvMetadataResponse = z.object({
  data: z.object({
    custom_metadata: stringMap.nullable().optional(),
    current_version: z.number().int(),
  }),
});

export const KeysResponse = z.object({
  data: z.object({ keys: z.array(z.string()) }),
});

export const PolicyResponse = z.object({
  data: z.object({ policy: z.string() }),
});

export const RoleResponse = z.object({
  data: z.record(z.string(), z.unknown()),
});

export const HealthResponse = z.object({
  initialized: z.boolean(),
  sealed: z.boolean(),
  standby: z.boolean(),
});

/** The error body of every status >= 400. */
export const ErrorBody = z.object({ errors: z.array(z.string()) });

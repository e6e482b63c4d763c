// The GC inventory as it was before issue 14 §3, kept only so that bench/gc.ts can time
// it beside src/gc/inventory.ts in the same run: after one list call per kind it reads
// every Consul service name's instances and every Vault secret's metadata, policy and
// JWT role (8 in flight per kind), and lists Nomad jobs in one unpaged call. Rows are
// read after every list, as observeGc expects. Not used by previewd itself.
import type { InventoryDeps } from '../src/gc/inventory.js';
import type { InventoryLister } from '../src/gc/sweep.js';
import type { OwnedInventory, OwnedKind, OwnedResource } from '../src/gc/types.js';
import { NOMAD_META } from '../src/ownership/markers.js';
import { ownedEnvId, ownerOfConsulService, ownerOfNomadJob, ownerOfVaultJwtRole, ownerOfVaultPolicy, ownerOfVaultSecret } from '../src/ownership/owners.js';

async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

const q = (v: string) => JSON.stringify(v);

const LISTERS: [OwnedKind, (deps: InventoryDeps) => Promise<OwnedResource[]>][] = [
  [
    'nomad-job',
    async (deps) => {
      const { instance } = deps.config;
      const jobs = await deps.nomad.listJobs({ filter: `Meta[${q(NOMAD_META.managedBy)}] == ${q(instance)}`, perPage: 0 });
      return jobs.flatMap((job) => {
        const envId = ownedEnvId(ownerOfNomadJob(job.meta), instance);
        return envId ? [{ kind: 'nomad-job' as const, name: job.id, envId }] : [];
      });
    },
  ],
  [
    'consul-service',
    async (deps) => {
      const names = Object.keys(await deps.consul.listServices());
      const perName = await mapLimit(names, 8, (name) => deps.consul.listServiceInstances(name));
      return perName.flat().flatMap((svc) => {
        const envId = ownedEnvId(ownerOfConsulService(svc.meta), deps.config.instance);
        return envId ? [{ kind: 'consul-service' as const, name: svc.serviceId, envId, node: svc.node, serviceName: svc.serviceName }] : [];
      });
    },
  ],
  [
    'vault-secret',
    async (deps) => {
      const { instance, vault } = deps.config;
      const keys = (await deps.vault.listSecrets(vault.pathPrefix)).filter((k) => !k.endsWith('/'));
      const metas = await mapLimit(keys, 8, async (key) => ({ path: `${vault.pathPrefix}/${key}`, meta: await deps.vault.readSecretMetadata(`${vault.pathPrefix}/${key}`) }));
      return metas.flatMap(({ path, meta }) => {
        const envId = ownedEnvId(ownerOfVaultSecret(meta?.customMetadata), instance);
        return envId ? [{ kind: 'vault-secret' as const, name: path, envId }] : [];
      });
    },
  ],
  [
    'vault-policy',
    async (deps) => {
      const { instance } = deps.config;
      const names = (await deps.vault.listPolicies()).filter((n) => n.startsWith(`${instance}-`));
      const bodies = await mapLimit(names, 8, async (name) => ({ name, hcl: await deps.vault.getPolicy(name) }));
      return bodies.flatMap(({ name, hcl }) => {
        const envId = ownedEnvId(ownerOfVaultPolicy(hcl), instance);
        return envId ? [{ kind: 'vault-policy' as const, name, envId }] : [];
      });
    },
  ],
  [
    'vault-jwt-role',
    async (deps) => {
      const { instance } = deps.config;
      const names = (await deps.vault.listJwtRoles()).filter((n) => n.startsWith(`${instance}-`));
      const roles = await mapLimit(names, 8, async (name) => ({ name, role: await deps.vault.getJwtRole(name) }));
      return roles.flatMap(({ name, role }) => {
        const envId = ownedEnvId(ownerOfVaultJwtRole(name, role, instance), instance);
        return envId ? [{ kind: 'vault-jwt-role' as const, name, envId }] : [];
      });
    },
  ],
  [
    'database',
    async (deps) =>
      (await deps.databases.listOwnedDatabases()).flatMap((d) => {
        const envId = ownedEnvId(d, deps.config.instance);
        return envId ? [{ kind: 'database' as const, name: d.name, envId }] : [];
      }),
  ],
  [
    'database-role',
    async (deps) =>
      (await deps.databases.listOwnedRoles()).flatMap((r) => {
        const envId = ownedEnvId(r, deps.config.instance);
        return envId ? [{ kind: 'database-role' as const, name: r.name, envId }] : [];
      }),
  ],
];

export const listOwnedResourcesPerResource: InventoryLister = async (deps, options) => {
  const settled = await Promise.allSettled(LISTERS.map(([, list]) => list(deps)));
  const inventory: OwnedInventory = { resources: [], failed: [] };
  settled.forEach((result, i) => {
    if (result.status === 'fulfilled') inventory.resources.push(...result.value);
    else inventory.failed.push({ kind: LISTERS[i]![0], error: (result.reason as Error)?.message ?? String(result.reason) });
  });
  await options.liveEnvIds();
  return inventory;
};

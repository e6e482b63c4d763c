// Lists everything carrying *this* instance's ownership marker, one system at a time.
// A system that cannot be listed is reported as failed (its orphans wait for the next
// sweep) rather than read as empty. Only markers decide ownership; names only narrow
// the search.
import type { Deps } from '../deps.js';
import { NOMAD_META } from '../ownership/markers.js';
import { ownedEnvId, ownerOfConsulService, ownerOfNomadJob, ownerOfVaultJwtRole, ownerOfVaultPolicy, ownerOfVaultSecret } from '../ownership/owners.js';
import type { OwnedInventory, OwnedKind, OwnedResource } from './types.js';

type InventoryDeps = Pick<Deps, 'config' | 'nomad' | 'consul' | 'vault' | 'databases'>;

/** Runs `fn` over items with at most `limit` in flight (keeps big clusters from being hammered). */
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

function quoteBexpr(value: string): string {
  return JSON.stringify(value);
}

async function nomadJobs(deps: InventoryDeps): Promise<OwnedResource[]> {
  const { instance } = deps.config;
  // The server-side filter narrows the list; the marker is checked again here regardless.
  const jobs = await deps.nomad.listJobs({ filter: `Meta[${quoteBexpr(NOMAD_META.managedBy)}] == ${quoteBexpr(instance)}` });
  return jobs.flatMap((job) => {
    const envId = ownedEnvId(ownerOfNomadJob(job.meta), instance);
    return envId ? [{ kind: 'nomad-job' as const, name: job.id, envId }] : [];
  });
}

async function consulServices(deps: InventoryDeps): Promise<OwnedResource[]> {
  const { instance } = deps.config;
  const names = Object.keys(await deps.consul.listServices());
  const perName = await mapLimit(names, 8, (name) => deps.consul.listServiceInstances(name));
  return perName.flat().flatMap((svc) => {
    const envId = ownedEnvId(ownerOfConsulService(svc.meta), instance);
    return envId ? [{ kind: 'consul-service' as const, name: svc.serviceId, envId, node: svc.node, serviceName: svc.serviceName }] : [];
  });
}

async function vaultSecrets(deps: InventoryDeps): Promise<OwnedResource[]> {
  const { instance, vault } = deps.config;
  // Only leaves directly under the prefix: previewd writes "<prefix>/<envId>" and nothing deeper.
  const keys = (await deps.vault.listSecrets(vault.pathPrefix)).filter((k) => !k.endsWith('/'));
  const metas = await mapLimit(keys, 8, async (key) => ({ path: `${vault.pathPrefix}/${key}`, meta: await deps.vault.readSecretMetadata(`${vault.pathPrefix}/${key}`) }));
  return metas.flatMap(({ path, meta }) => {
    const envId = ownedEnvId(ownerOfVaultSecret(meta?.customMetadata), instance);
    return envId ? [{ kind: 'vault-secret' as const, name: path, envId }] : [];
  });
}

async function vaultPolicies(deps: InventoryDeps): Promise<OwnedResource[]> {
  const { instance } = deps.config;
  const names = (await deps.vault.listPolicies()).filter((n) => n.startsWith(`${instance}-`));
  const bodies = await mapLimit(names, 8, async (name) => ({ name, hcl: await deps.vault.getPolicy(name) }));
  return bodies.flatMap(({ name, hcl }) => {
    const envId = ownedEnvId(ownerOfVaultPolicy(hcl), instance);
    return envId ? [{ kind: 'vault-policy' as const, name, envId }] : [];
  });
}

async function vaultJwtRoles(deps: InventoryDeps): Promise<OwnedResource[]> {
  const { instance } = deps.config;
  const names = (await deps.vault.listJwtRoles()).filter((n) => n.startsWith(`${instance}-`));
  const roles = await mapLimit(names, 8, async (name) => ({ name, role: await deps.vault.getJwtRole(name) }));
  return roles.flatMap(({ name, role }) => {
    const envId = ownedEnvId(ownerOfVaultJwtRole(name, role, instance), instance);
    return envId ? [{ kind: 'vault-jwt-role' as const, name, envId }] : [];
  });
}

async function databases(deps: InventoryDeps): Promise<OwnedResource[]> {
  // listOwned* already read the COMMENT marker; the same rule as every system decides.
  return (await deps.databases.listOwnedDatabases()).flatMap((d) => {
    const envId = ownedEnvId(d, deps.config.instance);
    return envId ? [{ kind: 'database' as const, name: d.name, envId }] : [];
  });
}

async function databaseRoles(deps: InventoryDeps): Promise<OwnedResource[]> {
  return (await deps.databases.listOwnedRoles()).flatMap((r) => {
    const envId = ownedEnvId(r, deps.config.instance);
    return envId ? [{ kind: 'database-role' as const, name: r.name, envId }] : [];
  });
}

const LISTERS: [OwnedKind, (deps: InventoryDeps) => Promise<OwnedResource[]>][] = [
  ['nomad-job', nomadJobs],
  ['consul-service', consulServices],
  ['vault-secret', vaultSecrets],
  ['vault-policy', vaultPolicies],
  ['vault-jwt-role', vaultJwtRoles],
  ['database', databases],
  ['database-role', databaseRoles],
];

export async function listOwnedResources(deps: InventoryDeps): Promise<OwnedInventory> {
  const settled = await Promise.allSettled(LISTERS.map(([, list]) => list(deps)));
  const inventory: OwnedInventory = { resources: [], failed: [] };
  settled.forEach((result, i) => {
    if (result.status === 'fulfilled') inventory.resources.push(...result.value);
    else inventory.failed.push({ kind: LISTERS[i]![0], error: (result.reason as Error)?.message ?? String(result.reason) });
  });
  return inventory;
}

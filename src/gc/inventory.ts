// Lists everything carrying *this* instance's ownership marker, with list calls rather
// than a read per resource. A system that cannot be listed is reported as failed (its
// orphans wait for the next sweep) rather than read as empty. Only markers decide
// ownership; names only narrow the search.
//
// Calls per sweep, whatever the number of environments:
// - Nomad: GET /v1/jobs?meta=true with a server-side filter on the managed-by meta, paged.
// - Consul: GET /v1/catalog/nodes, then per node GET /v1/catalog/node/:node filtered on the
//   managed-by service meta (one call per node of the cluster, not per service).
// - Postgres: one catalog query for databases, one for roles (COMMENT markers included).
// - Vault: one LIST each for KV metadata, ACL policies and JWT roles. No Vault LIST returns
//   more than names, and each marker lives only in its object: a secret's custom_metadata in
//   its metadata read, a policy's marker in its body, a JWT role's shape in its role read.
//   Those reads cannot be avoided for a resource GC might remove, so they are made only for
//   names whose environment is not live (`liveEnvIds`): GC never acts on a live
//   environment's parts, and the teardown steps re-read every marker before deleting.
// Reads that remain are bounded per system by gc.readsInFlight.
import type { Deps } from '../deps.js';
import { CONSUL_META, NOMAD_META, quoteBexpr } from '../ownership/markers.js';
import { isEnvironmentId, ownedEnvId, ownerOfConsulService, ownerOfNomadJob, ownerOfVaultJwtRole, ownerOfVaultPolicy, ownerOfVaultSecret } from '../ownership/owners.js';
import type { OwnedInventory, OwnedKind, OwnedResource } from './types.js';
import { createSlots } from '../queue/slots.js';

export type InventoryDeps = Pick<Deps, 'config' | 'nomad' | 'consul' | 'vault' | 'databases'>;

export interface InventoryOptions {
  /**
   * Read once every list call has answered (so that a resource listed cannot be newer than
   * the rows behind the answer): the environments whose parts GC leaves alone. Their Vault
   * markers are not read. Without it every listed Vault name is read.
   */
  liveEnvIds?: () => Promise<ReadonlySet<string>>;
}

/**
 * At most `limit` calls of one system at once; the rest wait their turn in order (the
 * queue's slots: a freed slot goes straight to the next in line, so none can overtake).
 */
export function createLimiter(limit: number): <T>(fn: () => Promise<T>) => Promise<T> {
  const slots = createSlots(limit);
  return async (fn) => {
    const release = await slots.acquire();
    try {
      return await fn();
    } finally {
      release();
    }
  };
}

type Limit = ReturnType<typeof createLimiter>;

async function nomadJobs(deps: InventoryDeps): Promise<OwnedResource[]> {
  const { instance } = deps.config;
  // The server-side filter narrows the list; the marker is checked again here regardless.
  const jobs = await deps.nomad.listJobs({ filter: `Meta[${quoteBexpr(NOMAD_META.managedBy)}] == ${quoteBexpr(instance)}` });
  return jobs.flatMap((job) => {
    const envId = ownedEnvId(ownerOfNomadJob(job.meta), instance);
    return envId ? [{ kind: 'nomad-job' as const, name: job.id, envId }] : [];
  });
}

async function consulServices(deps: InventoryDeps, limit: Limit): Promise<OwnedResource[]> {
  const { instance } = deps.config;
  // structs.NodeService's Meta is filterable (agent/consul/catalog_endpoint.go NodeServices runs
  // bexpr over the node's NodeService map); the marker is checked again here regardless.
  const filter = `Meta[${quoteBexpr(CONSUL_META.managedBy)}] == ${quoteBexpr(instance)}`;
  const nodes = await deps.consul.listNodes();
  const perNode = await Promise.all(nodes.map((node) => limit(() => deps.consul.listNodeServices(node.name, { filter }))));
  return perNode.flat().flatMap((svc) => {
    const envId = ownedEnvId(ownerOfConsulService(svc.meta), instance);
    return envId ? [{ kind: 'consul-service' as const, name: svc.serviceId, envId, node: svc.node, serviceName: svc.serviceName }] : [];
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

/** A Vault object listed by name, and the environment its name points to (its marker decides). */
interface VaultCandidate {
  name: string;
  nameEnvId: string;
}

type VaultKind = 'vault-secret' | 'vault-policy' | 'vault-jwt-role';

/** The LIST of one Vault kind: the names previewd could have made, with the environment each names. */
async function listVaultNames(deps: InventoryDeps, kind: VaultKind): Promise<VaultCandidate[]> {
  const { instance, vault } = deps.config;
  if (kind === 'vault-secret') {
    // Only leaves directly under the prefix: previewd writes "<prefix>/<envId>" and nothing deeper.
    const keys = (await deps.vault.listSecrets(vault.pathPrefix)).filter((k) => !k.endsWith('/'));
    return keys.map((key) => ({ name: `${vault.pathPrefix}/${key}`, nameEnvId: key }));
  }
  const names = kind === 'vault-policy' ? await deps.vault.listPolicies() : await deps.vault.listJwtRoles();
  return names.filter((n) => n.startsWith(`${instance}-`)).map((name) => ({ name, nameEnvId: name.slice(instance.length + 1) }));
}

/** The one read that shows a Vault object's marker: the environment it is marked for, or null. */
async function readVaultOwner(deps: InventoryDeps, kind: VaultKind, name: string): Promise<string | null> {
  const { instance } = deps.config;
  if (kind === 'vault-secret') return ownedEnvId(ownerOfVaultSecret((await deps.vault.readSecretMetadata(name))?.customMetadata), instance);
  if (kind === 'vault-policy') return ownedEnvId(ownerOfVaultPolicy(await deps.vault.getPolicy(name)), instance);
  return ownedEnvId(ownerOfVaultJwtRole(name, await deps.vault.getJwtRole(name), instance), instance);
}

const VAULT_KINDS: VaultKind[] = ['vault-secret', 'vault-policy', 'vault-jwt-role'];

export async function listOwnedResources(deps: InventoryDeps, options: InventoryOptions = {}): Promise<OwnedInventory> {
  const inventory: OwnedInventory & { unread: number } = { resources: [], failed: [], unread: 0 };
  const failed = (kind: OwnedKind, reason: unknown) => inventory.failed.push({ kind, error: (reason as Error)?.message ?? String(reason) });
  const limits = { consul: createLimiter(deps.config.gc.readsInFlight), vault: createLimiter(deps.config.gc.readsInFlight) };

  const listers: [OwnedKind, () => Promise<OwnedResource[]>][] = [
    ['nomad-job', () => nomadJobs(deps)],
    ['consul-service', () => consulServices(deps, limits.consul)],
    ['database', () => databases(deps)],
    ['database-role', () => databaseRoles(deps)],
  ];
  const [listed, vaultListed] = await Promise.all([
    Promise.allSettled(listers.map(([, list]) => list())),
    Promise.allSettled(VAULT_KINDS.map((kind) => limits.vault(() => listVaultNames(deps, kind)))),
  ]);
  listed.forEach((result, i) => {
    if (result.status === 'fulfilled') inventory.resources.push(...result.value);
    else failed(listers[i]![0], result.reason);
  });

  const live = options.liveEnvIds ? await options.liveEnvIds() : new Set<string>();
  await Promise.all(
    VAULT_KINDS.map(async (kind, i) => {
      const result = vaultListed[i]!;
      if (result.status === 'rejected') return failed(kind, result.reason);
      // A name no environment ID could have is not previewd's; one of a live environment is left alone unread.
      const toRead = result.value.filter((c) => isEnvironmentId(c.nameEnvId) && !live.has(c.nameEnvId));
      inventory.unread += result.value.filter((c) => live.has(c.nameEnvId)).length;
      try {
        const owners = await Promise.all(toRead.map((c) => limits.vault(async () => ({ name: c.name, envId: await readVaultOwner(deps, kind, c.name) }))));
        for (const { name, envId } of owners) if (envId) inventory.resources.push({ kind, name, envId });
      } catch (err) {
        failed(kind, err);
      }
    }),
  );
  return inventory;
}

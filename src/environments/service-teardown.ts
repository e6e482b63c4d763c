// Teardown of an environment's Consul registrations. Nomad registers every service
// through the Consul agent of the node running the allocation, and that agent's
// anti-entropy puts back whatever is removed from the catalog behind its back while it
// still has the service (hashicorp/consul agent/local/state.go updateSyncState); a
// catalog deregister also needs service:write or node:write (agent/consul/
// catalog_endpoint.go vetDeregisterWithACL). So previewd does not deregister what Nomad
// owns: the jobs are stopped first (stop-job), then this waits, bounded, for Nomad to
// deregister their services. Only true leftovers — registrations whose allocation is
// gone (a crashed Nomad client, a lost node) — are removed by previewd, through the
// agent that owns them (/v1/agent/service/deregister/:id, which needs service:write);
// a registration on a node without an agent (made through the catalog) goes through the
// catalog. Only registrations carrying previewd's service meta are ever touched.
import type { Deps } from '../deps.js';
import { TransientError } from '../errors.js';
import type { ConsulServiceInstance } from '../consul/types.js';
import { ownedBy, ownerOfConsulService } from '../ownership/owners.js';
import type { EnvironmentNames } from './naming.js';

/** Nomad's service IDs: `_nomad-task-<alloc ID>-<task or group-…>-<service>-<port>` (nomad/structs/services.go). */
const NOMAD_SERVICE_ID = /^_nomad-task-([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})-/;
const TERMINAL_CLIENT_STATUS = new Set(['complete', 'failed', 'lost']);
const POLL_MS = 250;

/** The allocation a Nomad-registered service belongs to; null for other registrations. */
export function allocationOfService(serviceId: string): string | null {
  return NOMAD_SERVICE_ID.exec(serviceId)?.[1] ?? null;
}

type TeardownDeps = Pick<Deps, 'config' | 'consul' | 'nomad' | 'clock' | 'log'>;

/** Whether nothing will remove this registration any more: its allocation is gone, or it has none. */
async function isLeftover(deps: TeardownDeps, instance: ConsulServiceInstance): Promise<{ leftover: boolean; allocId: string | null }> {
  const allocId = allocationOfService(instance.serviceId);
  if (!allocId) return { leftover: true, allocId };
  const alloc = await deps.nomad.getAllocation(allocId);
  return { leftover: alloc === null || TERMINAL_CLIENT_STATUS.has(alloc.clientStatus), allocId };
}

async function removeLeftover(deps: TeardownDeps, names: EnvironmentNames, instance: ConsulServiceInstance): Promise<void> {
  if (await deps.consul.nodeRunsAgent(instance.node)) {
    await deps.consul.deregisterFromAgent({ name: instance.node, address: instance.nodeAddress }, instance.serviceId);
  } else {
    await deps.consul.deregisterService(instance.node, instance.serviceId);
  }
  deps.log.info({ env: names.id, service: instance.serviceName, serviceId: instance.serviceId, node: instance.node }, 'removed a consul registration left by a gone allocation');
}

/**
 * Waits (consul.deregisterTimeout) until no registration of ours is left under these
 * service names, removing leftovers of gone allocations meanwhile. Registrations of
 * allocations still running when the time is up → TransientError (retried later).
 */
export async function removeServices(deps: TeardownDeps, names: EnvironmentNames, serviceNames: string[]): Promise<void> {
  const { config } = deps;
  const deadline = deps.clock.now().getTime() + config.consul.deregisterTimeout;
  const warned = new Set<string>();
  for (;;) {
    const instances = (await Promise.all(serviceNames.map((name) => deps.consul.listServiceInstances(name)))).flat();
    const ours: ConsulServiceInstance[] = [];
    for (const instance of instances) {
      if (ownedBy(ownerOfConsulService(instance.meta), config.instance, names.id)) ours.push(instance);
      else if (!warned.has(instance.serviceId)) {
        // A non-previewd job that happens to use one of our service names is someone else's.
        warned.add(instance.serviceId);
        deps.log.warn({ env: names.id, service: instance.serviceName, serviceId: instance.serviceId }, 'left a consul registration without our marker alone');
      }
    }
    const running: string[] = [];
    for (const instance of ours) {
      const { leftover, allocId } = await isLeftover(deps, instance);
      if (leftover) await removeLeftover(deps, names, instance);
      else running.push(`${instance.serviceId} (allocation ${allocId!.slice(0, 8)} on ${instance.node})`);
    }
    if (running.length === 0) return;
    const left = deadline - deps.clock.now().getTime();
    if (left <= 0) {
      throw new TransientError(
        `waiting for Nomad to deregister ${running.length} consul registration(s) of allocations still running after ${Math.round(config.consul.deregisterTimeout / 1000)}s: ${running.slice(0, 5).join(', ')}`,
        { system: 'nomad' },
      );
    }
    await deps.clock.sleep(Math.min(POLL_MS, left));
  }
}

// Consul client agents, one per node, over the shared catalog. What an agent registered
// (through /v1/agent/service/register, as the Nomad client does for every allocation on
// its node) lives in the agent's local state, and the agent's anti-entropy keeps the
// catalog equal to that state: a service missing from the catalog is registered again,
// a catalog service of its node it does not have is removed.
//
// Sources (hashicorp/consul):
// - agent/local/state.go updateSyncState: "Look for local services that do not exist
//   remotely and mark them for syncing"; "Remote services which do not exist locally
//   have been deregistered" (the `consul` service excepted); same for checks, serfHealth
//   excepted. SyncChanges then registers / deletes (deleteService uses the agent token,
//   which holds node:write).
// - agent/ae/ae.go: the full sync runs every `ae_interval` (1 min, scaled up with the
//   cluster size, with jitter); the emulator's period is a cluster option, short in tests.
import type { CheckStatus, ConsulService, ServiceRegistration } from './consul-catalog.js';

/** What the agents need of the catalog (cluster.ts provides it). */
export interface AgentCatalog {
  registerService(node: string, reg: ServiceRegistration): void;
  deregisterService(node: string, serviceId: string): boolean;
  /** The node in the catalog with its serfHealth check (node info sync, leader reconcile). */
  ensureMemberNode(node: string, address: string): void;
  listServices(): ConsulService[];
  checkStatus(node: string, checkId: string): { Status: CheckStatus; Output: string } | undefined;
}

export interface ConsulAgent {
  readonly node: string;
  /** The agent's local state (GET /v1/agent/services answers from it). */
  services(): ServiceRegistration[];
  service(id: string): ServiceRegistration | undefined;
  /** PUT /v1/agent/service/register: local state, then synced to the catalog. */
  register(reg: ServiceRegistration): void;
  /** PUT /v1/agent/service/deregister/:id: false when the agent does not have it. */
  deregister(serviceId: string): boolean;
  /** Remembers a check's latest status (the agent runs the checks and owns their result). */
  noteCheckStatus(checkId: string, status: CheckStatus, output: string): void;
  /** One anti-entropy full sync now. */
  syncFull(): void;
}

export interface ConsulAgents {
  /** The agent of a node (created on first use: every Nomad client node runs one). */
  agent(node: string, address: string): ConsulAgent;
  /** The agent of a node, if one runs there; nodes registered only through the catalog have none. */
  find(node: string): ConsulAgent | undefined;
  list(): ConsulAgent[];
  syncAll(): void;
  close(): void;
}

function sameService(local: ServiceRegistration, remote: ConsulService): boolean {
  return (
    local.Name === remote.Service &&
    local.Port === remote.Port &&
    local.Address === remote.Address &&
    JSON.stringify(local.Tags) === JSON.stringify(remote.Tags) &&
    JSON.stringify(local.Meta) === JSON.stringify(remote.Meta)
  );
}

export function createConsulAgents(catalog: AgentCatalog, options: { antiEntropyIntervalMs: number }): ConsulAgents {
  const agents = new Map<string, ConsulAgent>();

  function createAgent(node: string, address: string): ConsulAgent {
    const local = new Map<string, ServiceRegistration>();
    const checkState = new Map<string, { Status: CheckStatus; Output: string }>();

    /** The registration as the agent would sync it: its checks at their current status. */
    const withCurrentChecks = (reg: ServiceRegistration): ServiceRegistration => ({
      ...reg,
      Checks: reg.Checks.map((c) => ({ ...c, Status: checkState.get(c.CheckID)?.Status ?? c.Status })),
    });

    const agent: ConsulAgent = {
      node,
      services: () => [...local.values()],
      service: (id) => local.get(id),
      register(reg) {
        local.set(reg.ID, { ...reg, Tags: [...reg.Tags], Meta: { ...reg.Meta }, Checks: reg.Checks.map((c) => ({ ...c })) });
        for (const c of reg.Checks) {
          const known = catalog.checkStatus(node, c.CheckID);
          checkState.set(c.CheckID, known ?? { Status: c.Status, Output: '' });
        }
        catalog.registerService(node, reg);
      },
      deregister(serviceId) {
        const reg = local.get(serviceId);
        if (!reg) return false;
        local.delete(serviceId);
        for (const c of reg.Checks) checkState.delete(c.CheckID);
        catalog.deregisterService(node, serviceId);
        return true;
      },
      noteCheckStatus(checkId, status, output) {
        if (checkState.has(checkId)) checkState.set(checkId, { Status: status, Output: output });
      },
      syncFull() {
        // updateSyncState: node info out of sync (gone from the catalog) is pushed again.
        catalog.ensureMemberNode(node, address);
        const remote = new Map(catalog.listServices().filter((s) => s.Node === node).map((s) => [s.ID, s]));
        for (const reg of local.values()) {
          const there = remote.get(reg.ID);
          if (!there || !sameService(reg, there)) catalog.registerService(node, withCurrentChecks(reg));
        }
        for (const id of remote.keys()) {
          if (!local.has(id) && id !== 'consul') catalog.deregisterService(node, id);
        }
      },
    };
    return agent;
  }

  const timer = setInterval(() => {
    for (const a of agents.values()) a.syncFull();
  }, options.antiEntropyIntervalMs);
  timer.unref();

  return {
    agent(node, address) {
      let a = agents.get(node);
      if (!a) {
        a = createAgent(node, address);
        agents.set(node, a);
      }
      return a;
    },
    find: (node) => agents.get(node),
    list: () => [...agents.values()],
    syncAll() {
      for (const a of agents.values()) a.syncFull();
    },
    close() {
      clearInterval(timer);
    },
  };
}

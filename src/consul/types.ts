// previewd's view of Consul. Only src/consul/ knows Consul's wire JSON.

export type CheckStatus = 'passing' | 'warning' | 'critical' | 'maintenance';

export interface ConsulServiceInstance {
  node: string;
  /** The node's own address (where its agent listens), not the service's. */
  nodeAddress: string;
  serviceId: string;
  serviceName: string;
  tags: string[];
  meta: Record<string, string>;
  address: string;
  port: number;
  /** Aggregated like Traefik and the Go client do: maintenance > critical > warning > passing. */
  status: CheckStatus;
}

export interface ConsulClient {
  /** GET /v1/health/service/:name (blocking when index given). Unknown service → []. */
  healthService(
    name: string,
    options?: { passing?: boolean; tags?: string[]; index?: number; waitMs?: number; signal?: AbortSignal | undefined },
  ): Promise<{ instances: ConsulServiceInstance[]; index: number }>;
  /** GET /v1/catalog/services → name → union of tags. */
  listServices(): Promise<Record<string, string[]>>;
  /** GET /v1/catalog/service/:name → instances (status unknown here, reported as 'passing'). */
  listServiceInstances(name: string): Promise<ConsulServiceInstance[]>;
  /** GET /v1/catalog/nodes → every node of the catalog with its address. */
  listNodes(): Promise<{ name: string; address: string }[]>;
  /**
   * GET /v1/catalog/node/:node with an optional bexpr filter on the node's services
   * (structs.NodeService fields: ID, Service, Tags, Meta, Port…) → its instances
   * (status unknown here, reported as 'passing'); [] for a node the catalog lacks.
   */
  listNodeServices(node: string, options?: { filter?: string }): Promise<ConsulServiceInstance[]>;
  /**
   * PUT /v1/catalog/deregister {Node, ServiceID}. Only for nodes without an agent: an
   * agent that has the service registers it again at its next anti-entropy sync.
   */
  deregisterService(node: string, serviceId: string): Promise<void>;
  /**
   * PUT /v1/agent/service/deregister/:id on the node's own agent (consul.agentAddress),
   * which removes it from the agent's state and so for good. 'absent' when the agent
   * does not have it. An unreachable agent → TransientError naming node and URL.
   */
  deregisterFromAgent(node: { name: string; address: string }, serviceId: string): Promise<'deregistered' | 'absent'>;
  /** Whether a Consul agent runs on the node (it has the serfHealth check; catalog-only nodes do not). */
  nodeRunsAgent(node: string): Promise<boolean>;
  /** GET /v1/acl/token/self; null when ACLs are disabled. */
  tokenSelf(): Promise<{ accessorId: string; description: string; policies: string[] } | null>;
  /** GET /v1/status/leader. */
  ping(): Promise<void>;
}

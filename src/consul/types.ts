// previewd's view of Consul. Only src/consul/ knows Consul's wire JSON.

export type CheckStatus = 'passing' | 'warning' | 'critical' | 'maintenance';

export interface ConsulServiceInstance {
  node: string;
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
    options?: { passing?: boolean; tags?: string[]; index?: number; waitMs?: number },
  ): Promise<{ instances: ConsulServiceInstance[]; index: number }>;
  /** GET /v1/catalog/services → name → union of tags. */
  listServices(): Promise<Record<string, string[]>>;
  /** GET /v1/catalog/service/:name → instances (status unknown here, reported as 'passing'). */
  listServiceInstances(name: string): Promise<ConsulServiceInstance[]>;
  /** PUT /v1/catalog/deregister {Node, ServiceID}: removes a registration left behind. */
  deregisterService(node: string, serviceId: string): Promise<void>;
  /** GET /v1/status/leader. */
  ping(): Promise<void>;
}

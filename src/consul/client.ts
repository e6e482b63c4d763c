// ConsulClient over the local agent's HTTP API. Only this folder knows Consul's wire JSON.
// Errors: network/timeouts/5xx/429 → TransientError; 403 → UserError (token never echoed);
// other 4xx → UserError. Unknown services read as [] (that is what Consul answers).
import type { z } from 'zod';
import { TransientError, UserError } from '../errors.js';
import { createTransport, type FetchLike } from '../http-transport.js';
import { ConsulCatalogNodeWire, ConsulCatalogServiceWire, ConsulHealthCheckWire, ConsulHealthEntryWire, ConsulNodeServicesWire, ConsulServicesWire, ConsulTokenSelfWire } from './schema.js';
import type { CheckStatus, ConsulClient, ConsulServiceInstance } from './types.js';

export interface ConsulClientOptions {
  address: string;
  token?: string;
  fetch?: FetchLike;
  /** Per request (blocking reads get their wait on top). Default 10 s. */
  timeoutMs?: number;
  /**
   * URL of a node's own agent, with {address} and {node} placeholders (config
   * consul.agentAddress). Default: this address's scheme and port on {address}.
   */
  agentAddress?: string;
}

/** The URL of a node's agent from the template; IPv6 addresses get their brackets. */
export function agentUrl(template: string, node: { name: string; address: string }): string {
  const host = node.address.includes(':') && !node.address.startsWith('[') ? `[${node.address}]` : node.address;
  return template.replaceAll('{address}', host).replaceAll('{node}', encodeURIComponent(node.name));
}

export function defaultAgentAddress(consulAddress: string): string {
  const url = new URL(consulAddress);
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return `${url.protocol}//{address}:${port}`;
}

const system = 'consul' as const;

/** Aggregated status as Traefik and the Go client compute it (consul.md §4). */
export function aggregateStatus(checks: { CheckID: string; Status: string }[]): CheckStatus {
  if (checks.some((c) => c.CheckID === '_node_maintenance' || c.CheckID.startsWith('_service_maintenance:'))) return 'maintenance';
  if (checks.some((c) => c.Status === 'critical')) return 'critical';
  if (checks.some((c) => c.Status === 'warning')) return 'warning';
  return 'passing';
}

export function consulError(what: string, status: number, body: string): Error {
  const text = body.trim().slice(0, 2000);
  if (status === 403) return new UserError(`consul refused ${what}: permission denied (check the Consul ACL token): ${text}`, { system, status });
  if (status >= 500 || status === 429) return new TransientError(`consul ${what} failed with ${status}: ${text}`, { system, status });
  return new UserError(`consul rejected ${what} (${status}): ${text}`, { system, status });
}

export function createConsulClient(options: ConsulClientOptions): ConsulClient {
  const transport = createTransport({
    system,
    address: options.address,
    headers: options.token ? { 'X-Consul-Token': options.token } : {},
    fetch: options.fetch,
    timeoutMs: options.timeoutMs ?? 10_000,
  });
  const parseWire = <T extends z.ZodType>(schema: T, body: string, what: string): z.infer<T> => transport.parse(schema, body, what);

  async function request(
    method: string,
    path: string,
    what: string,
    init: { query?: [string, string][]; body?: unknown; extraTimeoutMs?: number; signal?: AbortSignal | undefined } = {},
  ) {
    const a = await transport.request(method, path, what, {
      query: new URLSearchParams(init.query ?? []),
      body: init.body,
      extraTimeoutMs: init.extraTimeoutMs,
      signal: init.signal,
    });
    if (a.status < 200 || a.status >= 300) throw consulError(what, a.status, a.body);
    return { body: a.body, index: Number(a.headers.get('x-consul-index') ?? 0) || 0 };
  }

  const enc = encodeURIComponent;
  const agentTemplate = options.agentAddress ?? defaultAgentAddress(options.address);

  return {
    async healthService(name, opts = {}) {
      const what = `health read ${name}`;
      const query: [string, string][] = [];
      if (opts.passing) query.push(['passing', 'true']);
      for (const t of opts.tags ?? []) query.push(['tag', t]);
      const blocking = (opts.index ?? 0) > 0;
      const waitMs = opts.waitMs ?? 60_000;
      if (blocking) query.push(['index', String(opts.index)], ['wait', `${Math.max(1, Math.round(waitMs))}ms`]);
      const a = await request('GET', `/v1/health/service/${enc(name)}`, what, { query, extraTimeoutMs: blocking ? waitMs + waitMs / 16 : 0, signal: opts.signal });
      const entries = parseWire(ConsulHealthEntryWire.array().nullable(), a.body, what) ?? [];
      const instances: ConsulServiceInstance[] = entries.map((e) => ({
        node: e.Node.Node,
        nodeAddress: e.Node.Address,
        serviceId: e.Service.ID,
        serviceName: e.Service.Service,
        tags: e.Service.Tags,
        meta: e.Service.Meta,
        // An empty service address means "the node's address".
        address: e.Service.Address || e.Node.Address,
        port: e.Service.Port,
        status: aggregateStatus(e.Checks),
      }));
      return { instances, index: a.index };
    },

    async listServices() {
      const what = 'catalog services read';
      const a = await request('GET', '/v1/catalog/services', what);
      return parseWire(ConsulServicesWire, a.body, what);
    },

    async listServiceInstances(name) {
      const what = `catalog service read ${name}`;
      const a = await request('GET', `/v1/catalog/service/${enc(name)}`, what);
      return (parseWire(ConsulCatalogServiceWire.array().nullable(), a.body, what) ?? []).map((s) => ({
        node: s.Node,
        nodeAddress: s.Address,
        serviceId: s.ServiceID,
        serviceName: s.ServiceName,
        tags: s.ServiceTags,
        meta: s.ServiceMeta,
        address: s.ServiceAddress || s.Address,
        port: s.ServicePort,
        status: 'passing' as const,
      }));
    },

    async listNodes() {
      const what = 'catalog nodes read';
      const a = await request('GET', '/v1/catalog/nodes', what);
      return (parseWire(ConsulCatalogNodeWire.array().nullable(), a.body, what) ?? []).map((n) => ({ name: n.Node, address: n.Address }));
    },

    async listNodeServices(node, opts = {}) {
      const what = `catalog node read ${node}`;
      const query: [string, string][] = opts.filter ? [['filter', opts.filter]] : [];
      const a = await request('GET', `/v1/catalog/node/${enc(node)}`, what, { query });
      // agent/catalog_endpoint.go CatalogNodeServices: null for a node the catalog does not have.
      const entry = parseWire(ConsulNodeServicesWire.nullable(), a.body, what);
      if (!entry) return [];
      return Object.values(entry.Services).map((s) => ({
        node: entry.Node.Node,
        nodeAddress: entry.Node.Address,
        serviceId: s.ID,
        serviceName: s.Service,
        tags: s.Tags,
        meta: s.Meta,
        address: s.Address || entry.Node.Address,
        port: s.Port,
        status: 'passing' as const,
      }));
    },

    async deregisterService(node, serviceId) {
      await request('PUT', '/v1/catalog/deregister', `catalog deregister ${serviceId}`, { body: { Node: node, ServiceID: serviceId } });
    },

    async deregisterFromAgent(node, serviceId) {
      const url = agentUrl(agentTemplate, node);
      const what = `agent deregister ${serviceId} on node ${node.name}`;
      const agent = createTransport({ system, address: url, headers: options.token ? { 'X-Consul-Token': options.token } : {}, fetch: options.fetch, timeoutMs: options.timeoutMs ?? 10_000 });
      let a;
      try {
        a = await agent.request('PUT', `/v1/agent/service/deregister/${enc(serviceId)}`, what);
      } catch (err) {
        throw new TransientError(
          `consul agent of node ${node.name} is not reachable at ${url} (set consul.agentAddress; the agent's HTTP API must listen on the node's address) to deregister ${serviceId}`,
          { system, cause: err },
        );
      }
      // agent/acl.go vetServiceUpdateWithAuthorizer: an ID the agent does not have is 404.
      if (a.status === 404 && a.body.includes('Unknown service ID')) return 'absent';
      if (a.status < 200 || a.status >= 300) throw consulError(what, a.status, a.body);
      return 'deregistered';
    },

    async nodeRunsAgent(node) {
      const what = `node health read ${node}`;
      const a = await request('GET', `/v1/health/node/${enc(node)}`, what);
      return (parseWire(ConsulHealthCheckWire.array().nullable(), a.body, what) ?? []).some((c) => c.CheckID === 'serfHealth');
    },

    async tokenSelf() {
      const what = 'token self read';
      const a = await transport.request('GET', '/v1/acl/token/self', what);
      // agent/acl_endpoint.go: 401 "ACL support disabled" when ACLs are off.
      if (a.status === 401 && a.body.includes('ACL support disabled')) return null;
      if (a.status < 200 || a.status >= 300) throw consulError(what, a.status, a.body);
      const t = parseWire(ConsulTokenSelfWire, a.body, what);
      return { accessorId: t.AccessorID, description: t.Description ?? '', policies: t.Policies.map((p) => p.Name) };
    },

    async ping() {
      const a = await request('GET', '/v1/status/leader', 'leader check');
      let leader: unknown;
      try {
        leader = JSON.parse(a.body);
      } catch {
        leader = '';
      }
      if (typeof leader !== 'string' || leader === '') throw new TransientError('consul has no cluster leader', { system });
    },
  };
}

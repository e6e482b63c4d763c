// Consul agent HTTP API emulator over the shared cluster (consul.md): agent and catalog
// registration, catalog and health reads with blocking queries and filters. Plain-text
// errors; `X-Consul-Default-Acl-Policy` on every answer. KV and sessions are not emulated.
import { blockingRead, parseBlocking } from './blocking.js';
import { BexprError, compileBexpr } from './bexpr.js';
import { validateServiceMeta, type CheckStatus, type Cluster, type ConsulCheck, type ConsulService, type Json, type ServiceRegistration } from './cluster.js';
import { startEmulator, type Emulator, type EmulatorRequest, type EmulatorResponse } from './harness.js';
import { parseGoDuration } from './nomad-jobspec.js';

export interface ConsulEmulator extends Emulator {
  readonly cluster: Cluster;
  /** Test helper: set a check's status by CheckID or for every check of a service ID. */
  setCheckStatus(checkOrServiceId: string, status: CheckStatus, output?: string): void;
}

const specialKeys: Record<string, string> = { id: 'ID', http: 'HTTP', tcp: 'TCP', ttl: 'TTL', check_id: 'CheckID', service_id: 'ServiceID', tls_skip_verify: 'TLSSkipVerify' };

/** The agent decodes PascalCase and snake_case; Meta keys are data and stay as sent. */
function normalizeKeys(o: Json): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(o)) {
    const pascal = /[a-z]/.test(k[0] ?? '') ? (specialKeys[k] ?? k.split('_').map((p) => (p[0] ?? '').toUpperCase() + p.slice(1)).join('')) : k;
    out[pascal] = v;
  }
  return out;
}

const checkStatuses = new Set(['passing', 'warning', 'critical']);

function aggregate(checks: ConsulCheck[]): string {
  if (checks.some((c) => c.CheckID === '_node_maintenance' || c.CheckID.startsWith('_service_maintenance:'))) return 'maintenance';
  if (checks.some((c) => c.Status === 'critical')) return 'critical';
  if (checks.some((c) => c.Status === 'warning')) return 'warning';
  return 'passing';
}

export function createConsulHandler(cluster: Cluster, token?: string) {
  const policy = token === undefined ? 'allow' : 'deny';
  const base = { 'X-Consul-Default-Acl-Policy': policy };
  const text = (status: number, body: string): EmulatorResponse => ({ status, body, headers: base });
  const json = (body: unknown, extra: Record<string, string> = {}): EmulatorResponse => ({ status: 200, body, headers: { ...base, ...extra } });
  const empty = (): EmulatorResponse => ({ status: 200, headers: base });

  function tokenOf(req: EmulatorRequest): string | undefined {
    const q = req.query.get('token');
    if (q) return q;
    const header = req.headers['x-consul-token'];
    if (typeof header === 'string' && header !== '') return header;
    const auth = req.headers.authorization;
    if (typeof auth === 'string' && auth.startsWith('Bearer ')) return auth.slice(7).trim();
    return undefined;
  }

  /** Decodes agent checks into registrations; returns an error text for 400. */
  function decodeChecks(serviceId: string, serviceName: string, body: Json): ServiceRegistration['Checks'] | string {
    const raw: Json[] = [];
    if (body.Check && typeof body.Check === 'object') raw.push(body.Check as Json);
    if (Array.isArray(body.Checks)) raw.push(...(body.Checks as Json[]));
    const single = raw.length === 1;
    const out: ServiceRegistration['Checks'] = [];
    for (const [i, rc] of raw.entries()) {
      const c = normalizeKeys(rc);
      const interval = typeof c.Interval === 'string' ? parseGoDuration(c.Interval) : typeof c.Interval === 'number' ? c.Interval : 0;
      const hasTtl = c.TTL !== undefined && c.TTL !== '';
      const needsInterval = c.HTTP || c.TCP || c.Args || c.GRPC || c.H2PING || c.UDP;
      if (needsInterval && !(interval > 0)) return 'Invalid check: Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService checks';
      if (hasTtl && interval > 0) return 'Invalid check: Interval and TTL cannot both be set';
      const status = (c.Status as string) || 'critical';
      if (!checkStatuses.has(status)) return `Invalid check: Invalid status: ${status}`;
      const type = c.HTTP ? 'http' : c.TCP ? 'tcp' : hasTtl ? 'ttl' : c.GRPC ? 'grpc' : c.Args ? 'script' : '';
      const definition: Json = {};
      for (const k of ['HTTP', 'TCP', 'Method', 'Header', 'Interval', 'Timeout', 'TTL', 'DeregisterCriticalServiceAfter']) if (c[k] !== undefined) definition[k] = c[k];
      out.push({
        CheckID: (c.CheckID as string) || (single ? `service:${serviceId}` : `service:${serviceId}:${i + 1}`),
        Name: (c.Name as string) || `Service '${serviceName}' check`,
        Status: status as CheckStatus,
        Type: type,
        Definition: definition,
        Notes: (c.Notes as string) ?? '',
      });
    }
    return out;
  }

  function agentRegister(req: EmulatorRequest): EmulatorResponse {
    const parsed = req.json();
    if (parsed instanceof SyntaxError) return text(400, `Request decode failed: ${parsed.message}`);
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return text(400, 'Request decode failed: body must be a JSON object');
    const body = normalizeKeys(parsed as Json);
    const name = typeof body.Name === 'string' ? body.Name : '';
    if (name === '') return text(400, 'Missing service name');
    const id = (typeof body.ID === 'string' && body.ID) || name;
    const meta = (body.Meta as Record<string, string> | null) ?? {};
    const metaProblem = validateServiceMeta(meta);
    if (metaProblem) return text(400, `Invalid Service Meta: ${metaProblem}`);
    const address = typeof body.Address === 'string' ? body.Address : '';
    if (address === '0.0.0.0' || address === '::' || address === '[::]') return text(400, 'Invalid service address');
    const port = body.Port === undefined ? 0 : Number(body.Port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) return text(400, `Request decode failed: invalid port ${String(body.Port)}`);
    const checks = decodeChecks(id, name, body);
    if (typeof checks === 'string') return text(400, checks);
    const replace = req.query.has('replace-existing-checks') && req.query.get('replace-existing-checks') !== 'false';
    if (replace) {
      const keep = new Set(checks.map((c) => c.CheckID));
      for (const c of cluster.listChecks()) if (c.Node === cluster.nodeName && c.ServiceID === id && !keep.has(c.CheckID)) cluster.deregisterCheck(c.Node, c.CheckID);
    }
    cluster.registerService(cluster.nodeName, {
      ID: id,
      Name: name,
      Tags: Array.isArray(body.Tags) ? (body.Tags as string[]).map(String) : [],
      Meta: meta,
      Port: port,
      Address: address,
      EnableTagOverride: body.EnableTagOverride === true,
      Checks: checks,
    });
    return empty();
  }

  function catalogRegister(req: EmulatorRequest): EmulatorResponse {
    const parsed = req.json();
    if (parsed instanceof SyntaxError) return text(400, `Request decode failed: ${parsed.message}`);
    const body = (parsed ?? {}) as Json;
    if (typeof body.Node !== 'string' || body.Node === '' || typeof body.Address !== 'string' || body.Address === '') {
      return text(400, 'Must provide node and address');
    }
    const node = body.Node;
    const svc = body.Service as Json | undefined;
    if (svc) {
      const name = typeof svc.Service === 'string' ? svc.Service : '';
      if (name === '') return text(400, 'Must provide service name with ID');
      const metaProblem = validateServiceMeta((svc.Meta as Record<string, string> | null) ?? {});
      if (metaProblem) return text(400, `Invalid Service Meta: ${metaProblem}`);
    }
    const rawChecks: Json[] = [];
    if (body.Check && typeof body.Check === 'object') rawChecks.push(body.Check as Json);
    if (Array.isArray(body.Checks)) rawChecks.push(...(body.Checks as Json[]));
    for (const c of rawChecks) {
      if (c.Status !== undefined && c.Status !== '' && !checkStatuses.has(String(c.Status))) return text(400, `Invalid check status: "${String(c.Status)}"`);
    }
    cluster.ensureNode(node, body.Address, (body.NodeMeta as Record<string, string> | null) ?? {});
    if (svc) {
      const id = (svc.ID as string) || (svc.Service as string);
      cluster.registerService(node, {
        ID: id,
        Name: svc.Service as string,
        Tags: Array.isArray(svc.Tags) ? (svc.Tags as string[]) : [],
        Meta: (svc.Meta as Record<string, string> | null) ?? {},
        Port: Number(svc.Port ?? 0),
        Address: (svc.Address as string) ?? '',
        Checks: rawChecks
          .filter((c) => !c.ServiceID || c.ServiceID === id)
          .map((c) => ({
            CheckID: (c.CheckID as string) || `service:${id}`,
            Name: (c.Name as string) || `Service '${svc.Service as string}' check`,
            Status: ((c.Status as string) || 'critical') as CheckStatus,
            Type: (c.Definition as Json | undefined)?.HTTP ? 'http' : '',
            Definition: (c.Definition as Json) ?? {},
            Notes: (c.Notes as string) ?? '',
          })),
      });
    }
    return json(true);
  }

  function catalogDeregister(req: EmulatorRequest): EmulatorResponse {
    const parsed = req.json();
    if (parsed instanceof SyntaxError) return text(400, `Request decode failed: ${parsed.message}`);
    const body = (parsed ?? {}) as Json;
    if (typeof body.Node !== 'string' || body.Node === '') return text(400, 'Must provide node');
    if (typeof body.ServiceID === 'string' && body.ServiceID) cluster.deregisterService(body.Node, body.ServiceID);
    else if (typeof body.CheckID === 'string' && body.CheckID) cluster.deregisterCheck(body.Node, body.CheckID);
    else cluster.deregisterNode(body.Node);
    return json(true);
  }

  function serviceWire(s: ConsulService): Json {
    return {
      ID: s.ID,
      Service: s.Service,
      Tags: s.Tags,
      Address: s.Address,
      Port: s.Port,
      Meta: s.Meta,
      Weights: { Passing: 1, Warning: 1 },
      EnableTagOverride: s.EnableTagOverride,
      Namespace: 'default',
      CreateIndex: s.CreateIndex,
      ModifyIndex: s.ModifyIndex,
    };
  }

  function nodeWire(name: string): Json {
    const n = cluster.getNode(name);
    return n ? { ...n } : { Node: name };
  }

  function catalogEntry(s: ConsulService): Json {
    const n = cluster.getNode(s.Node);
    return {
      ID: n?.ID ?? '',
      Node: s.Node,
      Address: n?.Address ?? '',
      Datacenter: n?.Datacenter ?? 'dc1',
      TaggedAddresses: n?.TaggedAddresses ?? {},
      NodeMeta: n?.Meta ?? {},
      ServiceKind: '',
      ServiceID: s.ID,
      ServiceName: s.Service,
      ServiceTags: s.Tags,
      ServiceAddress: s.Address,
      ServicePort: s.Port,
      ServiceMeta: s.Meta,
      ServiceTaggedAddresses: {},
      ServiceWeights: { Passing: 1, Warning: 1 },
      ServiceEnableTagOverride: s.EnableTagOverride,
      ServiceProxy: {},
      ServiceConnect: {},
      Namespace: 'default',
      CreateIndex: s.CreateIndex,
      ModifyIndex: s.ModifyIndex,
    };
  }

  function checkWire(c: ConsulCheck): Json {
    const { Definition, ...rest } = c;
    return { ...rest, Definition, Namespace: 'default' };
  }

  function instancesOf(name: string): ConsulService[] {
    return cluster
      .listServices()
      .filter((s) => s.Service === name)
      .sort((a, b) => a.Node.localeCompare(b.Node) || a.ID.localeCompare(b.ID));
  }

  function compileFilter(req: EmulatorRequest): ((d: unknown) => boolean) | undefined | EmulatorResponse {
    const filter = req.query.get('filter');
    if (!filter) return undefined;
    try {
      return compileBexpr(filter);
    } catch (err) {
      return text(400, `Failed to create boolean expression evaluator: ${(err as Error).message}`);
    }
  }

  async function read(req: EmulatorRequest, compute: () => { index: number; value: unknown }): Promise<EmulatorResponse> {
    const params = parseBlocking(req.query);
    if ('error' in params) return text(400, params.error === 'index' ? 'Invalid index' : 'Invalid wait time');
    try {
      const { index, value } = await blockingRead(cluster, params, compute);
      return json(value, { 'X-Consul-Index': String(Math.max(1, index)), 'X-Consul-KnownLeader': 'true', 'X-Consul-LastContact': '0' });
    } catch (err) {
      if (err instanceof BexprError) return text(500, err.message);
      throw err;
    }
  }

  return async function handle(req: EmulatorRequest): Promise<EmulatorResponse> {
    const { method, path } = req;
    const only = (m: string) => (method === m ? undefined : text(405, `method ${method} not allowed`));

    if (path === '/v1/status/leader') return only('GET') ?? json(JSON.stringify(`${cluster.options.nodeAddress}:8300`), { 'content-type': 'application/json' });
    if (token !== undefined) {
      const given = tokenOf(req);
      if (given === undefined) return text(403, 'Permission denied');
      if (given !== token) return text(403, 'ACL not found');
    }

    if (path === '/v1/agent/service/register') return only('PUT') ?? agentRegister(req);
    const dereg = /^\/v1\/agent\/service\/deregister\/(.+)$/.exec(path);
    if (dereg) {
      const bad = only('PUT');
      if (bad) return bad;
      const id = decodeURIComponent(dereg[1]!);
      if (!cluster.deregisterService(cluster.nodeName, id)) return text(404, `Unknown service ID "${id}". Ensure that the service ID is passed, not the service name.`);
      return empty();
    }
    if (path === '/v1/agent/services') {
      const bad = only('GET');
      if (bad) return bad;
      const predicate = compileFilter(req);
      if (predicate && typeof predicate !== 'function') return predicate;
      const out: Record<string, Json> = {};
      for (const s of cluster.listServices()) {
        if (s.Node !== cluster.nodeName) continue;
        const wire: Json = { ...serviceWire(s), TaggedAddresses: {}, Datacenter: cluster.options.datacenter };
        if (predicate && !predicate(wire)) continue;
        out[s.ID] = wire;
      }
      return json(out);
    }
    if (path === '/v1/catalog/register') return only('PUT') ?? catalogRegister(req);
    if (path === '/v1/catalog/deregister') return only('PUT') ?? catalogDeregister(req);
    if (path === '/v1/catalog/services') {
      const bad = only('GET');
      if (bad) return bad;
      const predicate = compileFilter(req);
      if (predicate && typeof predicate !== 'function') return predicate;
      return read(req, () => {
        const map: Record<string, Set<string>> = {};
        for (const s of cluster.listServices()) {
          if (predicate && !predicate(catalogEntry(s))) continue;
          const tags = (map[s.Service] ??= new Set());
          for (const t of s.Tags) tags.add(t);
        }
        const value = Object.fromEntries(
          Object.keys(map)
            .sort()
            .map((k) => [k, [...map[k]!].sort()]),
        );
        return { index: cluster.serviceIndex(), value };
      });
    }
    const catalogService = /^\/v1\/catalog\/service\/(.+)$/.exec(path);
    if (catalogService) {
      const bad = only('GET');
      if (bad) return bad;
      const name = decodeURIComponent(catalogService[1]!);
      const tags = req.query.getAll('tag');
      const predicate = compileFilter(req);
      if (predicate && typeof predicate !== 'function') return predicate;
      return read(req, () => ({
        index: cluster.serviceIndex(name),
        value: instancesOf(name)
          .filter((s) => tags.every((t) => s.Tags.includes(t)))
          .map(catalogEntry)
          .filter((e) => !predicate || predicate(e)),
      }));
    }
    const health = /^\/v1\/health\/service\/(.+)$/.exec(path);
    if (health) {
      const bad = only('GET');
      if (bad) return bad;
      const name = decodeURIComponent(health[1]!);
      const tags = req.query.getAll('tag');
      const passing = req.query.has('passing') && req.query.get('passing') !== 'false';
      const predicate = compileFilter(req);
      if (predicate && typeof predicate !== 'function') return predicate;
      return read(req, () => {
        const allChecks = cluster.listChecks();
        const entries = instancesOf(name)
          .filter((s) => tags.every((t) => s.Tags.includes(t)))
          .map((s) => {
            const checks = allChecks.filter((c) => c.Node === s.Node && (c.ServiceID === '' || c.ServiceID === s.ID));
            return { checks, entry: { Node: nodeWire(s.Node), Service: serviceWire(s), Checks: checks.map(checkWire) } as Json };
          })
          .filter(({ checks }) => !passing || aggregate(checks) === 'passing')
          .map(({ entry }) => entry)
          .filter((e) => !predicate || predicate(e));
        return { index: cluster.serviceIndex(name), value: entries };
      });
    }
    const healthChecks = /^\/v1\/health\/checks\/(.+)$/.exec(path);
    if (healthChecks) {
      const bad = only('GET');
      if (bad) return bad;
      const name = decodeURIComponent(healthChecks[1]!);
      const predicate = compileFilter(req);
      if (predicate && typeof predicate !== 'function') return predicate;
      return read(req, () => ({
        index: cluster.serviceIndex(name),
        value: cluster
          .listChecks()
          .filter((c) => c.ServiceName === name)
          .map(checkWire)
          .filter((c) => !predicate || predicate(c)),
      }));
    }
    const healthState = /^\/v1\/health\/state\/(any|passing|warning|critical)$/.exec(path);
    if (healthState) {
      const bad = only('GET');
      if (bad) return bad;
      const state = healthState[1]!;
      return read(req, () => ({
        index: cluster.serviceIndex(),
        value: cluster
          .listChecks()
          .filter((c) => state === 'any' || c.Status === state)
          .map(checkWire),
      }));
    }
    return { status: 404, headers: base };
  };
}

/** Starts a Consul agent emulator on a free port. With `token`, ACLs are on (default deny). */
export async function startConsulEmulator(options: { cluster: Cluster; token?: string; port?: number }): Promise<ConsulEmulator> {
  const emulator = await startEmulator({
    name: 'consul',
    handler: createConsulHandler(options.cluster, options.token),
    randomErrorBody: 'No cluster leader',
    port: options.port,
  });
  return Object.assign(emulator, {
    cluster: options.cluster,
    setCheckStatus: (id: string, status: CheckStatus, output?: string) => options.cluster.setCheckStatus(id, status, output),
  });
}

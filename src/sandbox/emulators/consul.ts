// Consul agent HTTP API emulator over the shared cluster (consul.md): agent and catalog
// registration, catalog and health reads with blocking queries and filters. Plain-text
// errors; `X-Consul-Default-Acl-Policy` on every answer. KV and sessions are not emulated.
//
// ACLs (cluster.consulAcl, see consul-acl.ts) are enforced as the real endpoints do:
// writes answer 403 with Consul's permission-denied text, list reads drop what the token
// may not read and say so in X-Consul-Results-Filtered-By-ACLs, an unknown token is 403
// "ACL not found" (agent/http.go maps both to 403). Texts are those of a server agent
// (`consul agent -dev`); a client agent prefixes RPC errors with "rpc error making call: ".
//
// The emulator's URL is the agent of one node (`cluster.nodeName` unless told); the agent
// of any other node is reached under `/_agent/<node>` on the same port, standing in for
// `http://<node address>:8500` in a real cluster.
import { blockingRead, parseBlocking, timeToBlock } from './blocking.js';
import { BexprError, compileBexpr } from './bexpr.js';
import { validateServiceMeta, type CheckStatus, type Cluster, type ConsulCheck, type ConsulService, type Json, type ServiceRegistration } from './cluster.js';
import { startEmulator, type Emulator, type EmulatorRequest, type EmulatorResponse } from './harness.js';
import { ACL_NOT_FOUND, permissionDeniedText, type Authorizer } from './consul-acl.js';
import { aclAuthorize } from './consul-authorize.js';
import { parseGoDuration } from './nomad-jobspec.js';

export interface ConsulEmulator extends Emulator {
  readonly cluster: Cluster;
  /** Test helper: set a check's status by CheckID or for every check of a service ID. */
  setCheckStatus(checkOrServiceId: string, status: CheckStatus, output?: string): void;
  /** Where the agent of `node` answers (a real cluster: http://<node address>:8500). */
  agentUrl(node: string): string;
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

/**
 * hashicorp/go-uuid ParseUUID's error for a node ID, or null: 36 characters, dashes at
 * 8, 13, 18 and 23, hex between (encoding/hex's error for the first bad byte).
 */
function uuidProblem(id: string): string | null {
  if (id.length !== 36) return 'uuid string is wrong length';
  if (id[8] !== '-' || id[13] !== '-' || id[18] !== '-' || id[23] !== '-') return 'uuid is improperly formatted';
  const hex = id.slice(0, 8) + id.slice(9, 13) + id.slice(14, 18) + id.slice(19, 23) + id.slice(24);
  const bad = [...hex].find((c) => !/[0-9a-fA-F]/.test(c));
  if (bad) return `encoding/hex: invalid byte: U+${bad.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')} ${JSON.stringify(bad).replace(/^"|"$/g, "'")}`;
  return null;
}

/** Go's strconv.ParseBool: the values it takes, undefined for the rest. */
function parseGoBool(v: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  return undefined;
}

/** The path prefix under which the emulator answers as another node's agent. */
const AGENT_PATH_PREFIX = '/_agent/';

function createConsulHandler(cluster: Cluster, options: { node?: string } = {}) {
  const acl = cluster.consulAcl;
  const defaultNode = options.node ?? cluster.nodeName;
  const base = () => ({ 'X-Consul-Default-Acl-Policy': acl.defaultPolicy });
  const text = (status: number, body: string): EmulatorResponse => ({ status, body, headers: base() });
  const json = (body: unknown, extra: Record<string, string> = {}): EmulatorResponse => ({ status: 200, body, headers: { ...base(), ...extra } });
  const empty = (): EmulatorResponse => ({ status: 200, headers: base() });
  /** 403 with Consul's text (acl/errors.go PermissionDeniedByACL). */
  const denied = (authz: Authorizer, resource: string, level: string, segment?: string) => text(403, permissionDeniedText(authz, resource, level, segment));

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

  function agentRegister(req: EmulatorRequest, node: string, authz: Authorizer): EmulatorResponse {
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
    // agent/acl.go vetServiceRegisterWithAuthorizer: write on the service, and on the one it replaces.
    if (!authz.serviceWrite(name)) return denied(authz, 'service', 'write', name);
    const agent = cluster.agent(node);
    const existing = agent.service(id);
    if (existing && !authz.serviceWrite(existing.Name)) return denied(authz, 'service', 'write', existing.Name);
    const replace = req.query.has('replace-existing-checks') && req.query.get('replace-existing-checks') !== 'false';
    if (replace) {
      const keep = new Set(checks.map((c) => c.CheckID));
      for (const c of cluster.listChecks()) if (c.Node === node && c.ServiceID === id && !keep.has(c.CheckID)) cluster.deregisterCheck(c.Node, c.CheckID);
    }
    agent.register({
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

  /**
   * PUT /v1/catalog/register: agent/catalog_endpoint.go CatalogRegister decodes the
   * structs.RegisterRequest (400 "Request decode failed: …") and hands it to the
   * Catalog.Register RPC (agent/consul/catalog_endpoint.go), whose errors are untyped, so
   * 500 with their text (agent/http.go), except ACL denials (403). In the RPC's order:
   * nodePreApply, the address, servicePreApply (with service:write), the checks fixed up
   * (checkPreApply, check.CheckType().Type()), vetRegisterWithACL, then the raft apply,
   * where the state store (agent/consul/state/catalog.go ensureServiceTxn) refuses bad
   * service meta. A refused request changes nothing (one transaction).
   */
  function catalogRegister(req: EmulatorRequest, authz: Authorizer): EmulatorResponse {
    const parsed = req.json();
    if (parsed instanceof SyntaxError) return text(400, `Request decode failed: ${parsed.message}`);
    const body = (parsed ?? {}) as Json;
    // nodePreApply: a node name, and a node ID (when given) that hashicorp/go-uuid ParseUUID reads.
    if (typeof body.Node !== 'string' || body.Node === '') return text(500, 'Must provide node');
    if (typeof body.ID === 'string' && body.ID !== '') {
      const problem = uuidProblem(body.ID);
      if (problem) return text(500, `Bad node ID: ${problem}`);
    }
    if ((typeof body.Address !== 'string' || body.Address === '') && body.SkipNodeUpdate !== true) return text(500, 'Must provide address if SkipNodeUpdate is not set');
    const node = body.Node;
    const svc = body.Service as Json | undefined;
    let serviceId = '';
    if (svc) {
      // servicePreApply: the ID defaults to the name; an ID needs a name; no "any" address.
      const name = typeof svc.Service === 'string' ? svc.Service : '';
      serviceId = typeof svc.ID === 'string' && svc.ID !== '' ? svc.ID : name;
      if (serviceId !== '' && name === '') return text(500, 'Must provide service name (Service.Service) when service ID is provided');
      // Neither ID nor name passes servicePreApply, and the state store takes it too:
      // state/catalog_schema.go indexFromServiceNode needs only the Node (ServiceID "" is a
      // key), indexServiceNameFromServiceNode likewise, and ensureServiceTxn checks nothing
      // else of a typical service; it is stored with ID "" under the name "".
      // ipaddr.IsAny: 0.0.0.0, :: and [::].
      if (['0.0.0.0', '::', '[::]'].includes(String(svc.Address ?? ''))) return text(500, 'Invalid service address');
      // agent/consul/catalog_endpoint.go servicePreApply: the ACL check skips the 'consul' service.
      if (name !== 'consul' && !authz.serviceWrite(name)) return denied(authz, 'service', 'write', name);
    }
    // The single Check joins Checks; each check takes the request's node when it names none,
    // its Name as CheckID when it has none (checkPreApply), and a Type from its definition.
    const rawChecks: Json[] = [];
    if (body.Check && typeof body.Check === 'object') rawChecks.push(...(Array.isArray(body.Checks) ? (body.Checks as Json[]) : []), body.Check as Json);
    else if (Array.isArray(body.Checks)) rawChecks.push(...(body.Checks as Json[]));
    const checks = rawChecks.map((c): Json & { Node: string; CheckID: string; ServiceID: string } => ({
      ...c,
      Node: typeof c.Node === 'string' && c.Node !== '' ? c.Node : node,
      CheckID: typeof c.CheckID === 'string' && c.CheckID !== '' ? c.CheckID : typeof c.Name === 'string' ? c.Name : '',
      ServiceID: typeof c.ServiceID === 'string' ? c.ServiceID : '',
    }));
    // A check's Status is not validated anywhere on this path: Catalog.Register and
    // checkPreApply leave it alone, and state/catalog.go ensureCheckTxn only turns "" into
    // critical; any other string is stored as sent (the "Invalid check status" text is the
    // agent's /v1/agent/check/update endpoint, agent/agent_endpoint.go AgentCheckUpdate).
    // vetRegisterWithACL: node:write when the node is new or changes, service:write on the
    // service and on a service it overwrites, then per check: the same node, node:write for
    // a node-level one, a service of this node for a service-level one.
    const known = cluster.getNode(node);
    const nodeServices = cluster.listServices().filter((s) => s.Node === node);
    const changesNode = !known || (typeof body.Address === 'string' && body.Address !== '' && body.Address !== known.Address);
    if (changesNode && !authz.nodeWrite(node)) return denied(authz, 'node', 'write', node);
    if (svc) {
      const name = typeof svc.Service === 'string' ? svc.Service : '';
      if (!authz.serviceWrite(name)) return denied(authz, 'service', 'write', name);
      const overwritten = known ? nodeServices.find((s) => s.ID === serviceId) : undefined;
      if (overwritten && !authz.serviceWrite(overwritten.Service)) return text(403, 'Permission denied');
    }
    for (const c of checks) {
      if (c.Node.toLowerCase() !== node.toLowerCase()) return text(500, `Node '${c.Node}' for check '${c.CheckID}' doesn't match register request node '${node}'`);
      if (c.ServiceID === '') {
        if (!authz.nodeWrite(node)) return denied(authz, 'node', 'write', node);
        continue;
      }
      if (svc && c.ServiceID === serviceId) continue;
      const other = known ? nodeServices.find((s) => s.ID === c.ServiceID) : undefined;
      if (!other) return text(500, `Unknown service ID '${c.ServiceID}' for check ID '${c.CheckID}'`);
      if (!authz.serviceWrite(other.Service)) return denied(authz, 'service', 'write', other.Service);
    }
    // The raft apply: state/catalog.go ensureServiceTxn validates the meta (structs.ValidateServiceMetadata).
    if (svc) {
      const metaProblem = validateServiceMeta((svc.Meta as Record<string, string> | null) ?? {});
      if (metaProblem) return text(500, `Invalid Service Meta for node ${node} and serviceID ${serviceId}: ${metaProblem}`);
    }
    cluster.ensureNode(node, (body.Address as string) || (known?.Address ?? ''), (body.NodeMeta as Record<string, string> | null) ?? {});
    if (svc) {
      cluster.registerService(node, {
        ID: serviceId,
        Name: typeof svc.Service === 'string' ? svc.Service : '',
        Tags: Array.isArray(svc.Tags) ? (svc.Tags as string[]) : [],
        Meta: (svc.Meta as Record<string, string> | null) ?? {},
        Port: Number(svc.Port ?? 0),
        Address: (svc.Address as string) ?? '',
        // Only this service's checks: the cluster has no store for node-level checks or
        // checks added to another service by a catalog register (see the audit report).
        // A check with ServiceID "" is node-level even when the service's ID is "" too.
        Checks: checks
          .filter((c) => c.ServiceID !== '' && c.ServiceID === serviceId)
          .map((c) => ({
            CheckID: c.CheckID,
            Name: typeof c.Name === 'string' ? c.Name : '',
            Status: ((c.Status as string) || 'critical') as CheckStatus,
            Type: typeof c.Type === 'string' && c.Type !== '' ? c.Type : (c.Definition as Json | undefined)?.HTTP ? 'http' : '',
            Definition: (c.Definition as Json) ?? {},
            Notes: (c.Notes as string) ?? '',
          })),
      });
    }
    return json(true);
  }

  // agent/consul/catalog_endpoint.go Deregister + vetDeregisterWithACL. It only changes the
  // catalog: an agent that still has the service puts it back at its next sync.
  function catalogDeregister(req: EmulatorRequest, authz: Authorizer): EmulatorResponse {
    const parsed = req.json();
    if (parsed instanceof SyntaxError) return text(400, `Request decode failed: ${parsed.message}`);
    const body = (parsed ?? {}) as Json;
    if (typeof body.Node !== 'string' || body.Node === '') return text(500, 'Must provide node');
    const node = body.Node;
    const serviceId = typeof body.ServiceID === 'string' ? body.ServiceID : '';
    const checkId = typeof body.CheckID === 'string' ? body.CheckID : '';
    // node:write allows every deregistration on the node.
    if (!authz.nodeWrite(node)) {
      if (serviceId) {
        const svc = cluster.listServices().find((s) => s.Node === node && s.ID === serviceId);
        if (!svc) return text(500, `Unknown service ID '${serviceId}'`);
        if (!authz.serviceWrite(svc.Service)) return denied(authz, 'service', 'write', svc.Service);
      } else if (checkId) {
        const check = cluster.listChecks().find((c) => c.Node === node && c.CheckID === checkId);
        if (!check) return text(500, `Unknown check ID '${checkId}'`);
        if (check.ServiceID ? !authz.serviceWrite(check.ServiceName) : true) {
          return check.ServiceID ? denied(authz, 'service', 'write', check.ServiceName) : denied(authz, 'node', 'write', node);
        }
      } else return denied(authz, 'node', 'write', node);
    }
    if (serviceId) cluster.deregisterService(node, serviceId);
    else if (checkId) cluster.deregisterCheck(node, checkId);
    else cluster.deregisterNode(node);
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
    // The HTTP handler parses ?wait and ?index (agent/http.go parseWait, inside s.parse)
    // before the RPC builds the filter, so a bad wait is the 400, not the filter's 500.
    const blocking = parseBlocking(req.query);
    if ('error' in blocking) return text(400, blocking.error === 'index' ? 'Invalid index' : 'Invalid wait time');
    const filter = req.query.get('filter');
    if (!filter) return undefined;
    try {
      return compileBexpr(filter);
    } catch (err) {
      // agent/consul/catalog_endpoint.go (and the other list RPCs): bexpr.CreateFilter's error
      // is returned as is, and agent/http.go answers an untyped error 500 with its text
      // (hashicorp/consul#7338, #9441: "Unexpected response code: 500 (Failed to create
      // boolean expression evaluator: …)"; a client agent prefixes "rpc error making call: ").
      return text(500, `Failed to create boolean expression evaluator: ${(err as Error).message}`);
    }
  }

  /** A blocking read whose result may have been cut by ACLs (`filtered`). */
  async function read(req: EmulatorRequest, compute: () => { index: number; value: unknown; filtered?: boolean }): Promise<EmulatorResponse> {
    const parsed = parseBlocking(req.query);
    // agent/http.go parseWait: time.ParseDuration / strconv.ParseUint refusals are 400s
    // (compileFilter checks them first where a filter is read).
    if ('error' in parsed) return text(400, parsed.error === 'index' ? 'Invalid index' : 'Invalid wait time');
    // agent/consul/rpc.go rpcQueryTimeout (blockingquery.Query's timeout): a wait above
    // max_query_time (10m) is cut to it, and a wait of 0 or less is default_query_time (5m),
    // not "answer now" (index 0 is the non-blocking path, blockingquery.go Query). The
    // jitter of up to wait/16 (structs.JitterFraction) is left out.
    const blockMs = timeToBlock(parsed.waitMs, { maxMs: 10 * 60_000, defaultMs: 5 * 60_000 });
    try {
      const {
        index,
        value: { value, filtered },
      } = await blockingRead(cluster, { index: parsed.index, blockMs }, () => {
        const r = compute();
        return { index: r.index, value: { value: r.value, filtered: r.filtered === true } };
      });
      const headers: Record<string, string> = { 'X-Consul-Index': String(Math.max(1, index)), 'X-Consul-KnownLeader': 'true', 'X-Consul-LastContact': '0' };
      // agent/http.go setResultsFilteredByACLs: present only when something was dropped.
      if (filtered) headers['X-Consul-Results-Filtered-By-Acls'] = 'true';
      return json(value, headers);
    } catch (err) {
      if (err instanceof BexprError) return text(500, err.message);
      throw err;
    }
  }

  function tokenSelf(authzSecret: string | undefined): EmulatorResponse {
    // agent/acl_endpoint.go ACLTokenSelf: any valid token may read itself; 401 when ACLs are off.
    if (!acl.enabled) return text(401, 'ACL support disabled');
    const token = acl.token(authzSecret);
    if (!token) return text(403, ACL_NOT_FOUND);
    return json(token);
  }

  async function handleAt(node: string, req: EmulatorRequest, path: string): Promise<EmulatorResponse> {
    const { method } = req;
    const only = (m: string) => (method === m ? undefined : text(405, `method ${method} not allowed`));

    // Status endpoints take no token (agent/status_endpoint.go).
    if (path === '/v1/status/leader') return only('GET') ?? json(JSON.stringify(`${cluster.options.nodeAddress}:8300`), { 'content-type': 'application/json' });
    const secret = tokenOf(req);
    if (path === '/v1/acl/token/self') return only('GET') ?? tokenSelf(secret);
    const authorize = path === '/v1/internal/acl/authorize';
    if (authorize && !acl.enabled) return text(401, 'ACL support disabled');
    const authz = acl.authorizer(secret);
    if (!authz) return text(403, ACL_NOT_FOUND);
    if (authorize) return only('POST') ?? aclAuthorize(req.json(), authz, (t) => text(400, t), (b) => json(b));

    if (path === '/v1/agent/service/register') return only('PUT') ?? agentRegister(req, node, authz);
    const dereg = /^\/v1\/agent\/service\/deregister\/(.+)$/.exec(path);
    if (dereg) {
      const bad = only('PUT');
      if (bad) return bad;
      const id = decodeURIComponent(dereg[1]!);
      // agent/acl.go vetServiceUpdateWithAuthorizer: unknown first (404), then service:write.
      const agent = cluster.agent(node);
      const existing = agent.service(id);
      if (!existing) return text(404, `Unknown service ID "${id}". Ensure that the service ID is passed, not the service name.`);
      if (!authz.serviceWrite(existing.Name)) return denied(authz, 'service', 'write', existing.Name);
      agent.deregister(id);
      return empty();
    }
    if (path === '/v1/agent/services') {
      const bad = only('GET');
      if (bad) return bad;
      const predicate = compileFilter(req);
      if (predicate && typeof predicate !== 'function') return predicate;
      const out: Record<string, Json> = {};
      let filtered = false;
      for (const s of cluster.listServices()) {
        if (s.Node !== node || !cluster.agent(node).service(s.ID)) continue;
        const wire: Json = { ...serviceWire(s), TaggedAddresses: {}, Datacenter: cluster.options.datacenter };
        if (predicate && !predicate(wire)) continue;
        if (!authz.serviceRead(s.Service)) {
          filtered = true;
          continue;
        }
        out[s.ID] = wire;
      }
      return json(out, filtered ? { 'X-Consul-Results-Filtered-By-Acls': 'true' } : {});
    }
    if (path === '/v1/catalog/register') return only('PUT') ?? catalogRegister(req, authz);
    if (path === '/v1/catalog/deregister') return only('PUT') ?? catalogDeregister(req, authz);
    // Read filters (agent/consul/aclfilter/filter.go): a service instance needs node:read on
    // its node and service:read on its name; the services map needs service:read only.
    const canRead = (s: { Node: string; ServiceName?: string; Service?: string }) => authz.nodeRead(s.Node) && (!(s.ServiceName ?? s.Service) || authz.serviceRead((s.ServiceName ?? s.Service)!));
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
        let filtered = false;
        for (const name of Object.keys(map)) {
          if (!authz.serviceRead(name)) {
            delete map[name];
            filtered = true;
          }
        }
        const value = Object.fromEntries(
          Object.keys(map)
            .sort()
            .map((k) => [k, [...map[k]!].sort()]),
        );
        return { index: cluster.serviceIndex(), value, filtered };
      });
    }
    // agent/catalog_endpoint.go CatalogNodes, agent/consul/catalog_endpoint.go ListNodes:
    // the bexpr filter runs over structs.Node, then nodes without node:read are dropped.
    if (path === '/v1/catalog/nodes') {
      const bad = only('GET');
      if (bad) return bad;
      const predicate = compileFilter(req);
      if (predicate && typeof predicate !== 'function') return predicate;
      return read(req, () => {
        const matching = cluster
          .listNodes()
          .map((n) => ({ ...n }) as Json)
          .filter((n) => !predicate || predicate(n))
          .sort((a, b) => String(a.Node).localeCompare(String(b.Node)));
        const value = matching.filter((n) => authz.nodeRead(n.Node as string));
        return { index: cluster.serviceIndex(), value, filtered: value.length < matching.length };
      });
    }
    // agent/catalog_endpoint.go CatalogNodeServices, agent/consul/catalog_endpoint.go
    // NodeServices: structs.NodeServices {Node, Services: ID → NodeService}, or null for a
    // node the catalog lacks; the filter runs over the NodeService values (fields ID,
    // Service, Tags, Meta, Port…); aclfilter: no node:read → null, else services without
    // service:read are dropped.
    const catalogNode = /^\/v1\/catalog\/node\/(.+)$/.exec(path);
    if (catalogNode) {
      const bad = only('GET');
      if (bad) return bad;
      const name = decodeURIComponent(catalogNode[1]!);
      const predicate = compileFilter(req);
      if (predicate && typeof predicate !== 'function') return predicate;
      return read(req, () => {
        const node = cluster.getNode(name);
        if (!node) return { index: cluster.serviceIndex(), value: null };
        if (!authz.nodeRead(name)) return { index: cluster.serviceIndex(), value: null, filtered: true };
        const services: Record<string, Json> = {};
        let filtered = false;
        for (const svc of cluster.listServices()) {
          if (svc.Node !== name) continue;
          const wire = serviceWire(svc);
          if (predicate && !predicate(wire)) continue;
          if (!authz.serviceRead(svc.Service)) {
            filtered = true;
            continue;
          }
          services[svc.ID] = wire;
        }
        return { index: cluster.serviceIndex(), value: { Node: nodeWire(name), Services: services }, filtered };
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
      return read(req, () => {
        const matching = instancesOf(name)
          .filter((s) => tags.every((t) => s.Tags.includes(t)))
          .map(catalogEntry)
          .filter((e) => !predicate || predicate(e));
        const value = matching.filter((e) => canRead(e as { Node: string; ServiceName: string }));
        return { index: cluster.serviceIndex(name), value, filtered: value.length < matching.length };
      });
    }
    const health = /^\/v1\/health\/service\/(.+)$/.exec(path);
    if (health) {
      const bad = only('GET');
      if (bad) return bad;
      const name = decodeURIComponent(health[1]!);
      const tags = req.query.getAll('tag');
      // agent/health_endpoint.go HealthServiceNodes getBoolQueryParam: ?passing with no value
      // is true, else strconv.ParseBool, whose refusal is a 400.
      const rawPassing = req.query.get('passing');
      const passing = rawPassing === null ? false : rawPassing === '' ? true : parseGoBool(rawPassing);
      if (passing === undefined) return text(400, 'Invalid value for ?passing');
      const predicate = compileFilter(req);
      if (predicate && typeof predicate !== 'function') return predicate;
      return read(req, () => {
        const allChecks = cluster.listChecks();
        const matching = instancesOf(name)
          .filter((s) => tags.every((t) => s.Tags.includes(t)))
          .map((s) => {
            const checks = allChecks.filter((c) => c.Node === s.Node && (c.ServiceID === '' || c.ServiceID === s.ID));
            return { s, checks, entry: { Node: nodeWire(s.Node), Service: serviceWire(s), Checks: checks.map(checkWire) } as Json };
          })
          // structs.CheckServiceNodes.Filter(onlyPassing): any check not "passing" drops the instance.
          .filter(({ checks }) => !passing || checks.every((c) => c.Status === 'passing'))
          .filter(({ entry }) => !predicate || predicate(entry));
        // structs.CheckServiceNode.CanRead: node:read and service:read.
        const value = matching.filter(({ s }) => canRead(s)).map(({ entry }) => entry);
        return { index: cluster.serviceIndex(name), value, filtered: value.length < matching.length };
      });
    }
    const healthChecks = /^\/v1\/health\/checks\/(.+)$/.exec(path);
    if (healthChecks) {
      const bad = only('GET');
      if (bad) return bad;
      const name = decodeURIComponent(healthChecks[1]!);
      const predicate = compileFilter(req);
      if (predicate && typeof predicate !== 'function') return predicate;
      return read(req, () => {
        // agent/consul/health_endpoint.go ServiceChecks: the bexpr filter first, then the ACL
        // filter, so ResultsFilteredByACLs counts only checks the filter kept.
        const matching = cluster.listChecks().filter((c) => c.ServiceName === name && (!predicate || predicate(checkWire(c))));
        const value = matching.filter((c) => canRead(c)).map(checkWire);
        return { index: cluster.serviceIndex(name), value, filtered: value.length < matching.length };
      });
    }
    const healthNode = /^\/v1\/health\/node\/(.+)$/.exec(path);
    if (healthNode) {
      const bad = only('GET');
      if (bad) return bad;
      const name = decodeURIComponent(healthNode[1]!);
      // health_endpoint.go NodeChecks and ChecksInState take ?filter over HealthCheck as
      // ServiceChecks does (bexpr.CreateFilter before the query, filter then ACL).
      const predicate = compileFilter(req);
      if (predicate && typeof predicate !== 'function') return predicate;
      return read(req, () => {
        const matching = cluster.listChecks().filter((c) => c.Node === name && (!predicate || predicate(checkWire(c))));
        const value = matching.filter((c) => canRead(c)).map(checkWire);
        return { index: cluster.serviceIndex(), value, filtered: value.length < matching.length };
      });
    }
    const healthState = /^\/v1\/health\/state\/(any|passing|warning|critical)$/.exec(path);
    if (healthState) {
      const bad = only('GET');
      if (bad) return bad;
      const state = healthState[1]!;
      const predicate = compileFilter(req);
      if (predicate && typeof predicate !== 'function') return predicate;
      return read(req, () => {
        const matching = cluster.listChecks().filter((c) => (state === 'any' || c.Status === state) && (!predicate || predicate(checkWire(c))));
        const value = matching.filter((c) => canRead(c)).map(checkWire);
        return { index: cluster.serviceIndex(), value, filtered: value.length < matching.length };
      });
    }
    return { status: 404, headers: base() };
  }

  return async function handle(req: EmulatorRequest): Promise<EmulatorResponse> {
    if (req.path.startsWith(AGENT_PATH_PREFIX)) {
      const rest = req.path.slice(AGENT_PATH_PREFIX.length);
      const slash = rest.indexOf('/');
      const node = decodeURIComponent(slash < 0 ? rest : rest.slice(0, slash));
      // A node without an agent: in a real cluster nothing listens at its address.
      if (!cluster.findAgent(node)) return { status: 502, body: `no Consul agent runs on node "${node}"`, headers: base() };
      return handleAt(node, req, slash < 0 ? '/' : rest.slice(slash));
    }
    return handleAt(defaultNode, req, req.path);
  };
}

/**
 * Starts a Consul agent emulator on a free port, as the agent of `node` (default the
 * cluster's first node). `token`: turn ACLs on (default deny) with that secret as a
 * management token; `acl`: turn them on without one (tokens come from cluster.consulAcl).
 */
export async function startConsulEmulator(options: { cluster: Cluster; token?: string; acl?: boolean; node?: string; port?: number }): Promise<ConsulEmulator> {
  const acl = options.cluster.consulAcl;
  if (options.token !== undefined || options.acl) acl.enable();
  if (options.token !== undefined) await acl.createToken({ secretId: options.token, management: true, description: 'emulator management token' });
  const emulator = await startEmulator({
    name: 'consul',
    handler: createConsulHandler(options.cluster, { node: options.node }),
    randomErrorBody: 'No cluster leader',
    port: options.port,
  });
  return Object.assign(emulator, {
    cluster: options.cluster,
    setCheckStatus: (id: string, status: CheckStatus, output?: string) => options.cluster.setCheckStatus(id, status, output),
    agentUrl: (node: string) => `${emulator.url}${AGENT_PATH_PREFIX}${encodeURIComponent(node)}`,
  });
}

// Consul's ACL system as the emulators need it: policies written in Consul's rule
// language, tokens that carry policies (or the built-in management policy, or service
// and node identities), and an authorizer per token that answers exactly as Consul's
// policy authorizer does. Other emulator code (the Consul HTTP emulator, the
// consul-template simulation at allocation start) asks `acl.authorizer(secret)` what a
// token may do; nothing here knows HTTP.
//
// Sources (hashicorp/consul):
// - acl/policy.go: the rule language (resource "segment" { policy = ... }, exact and
//   `_prefix` forms, top-level acl/operator/keyring/mesh/peering), valid levels
//   read/write/deny (+ list for keys), the parse and validation error texts.
// - acl/policy_merger.go (MergePolicies, takesPrecedenceOver): several policies on one
//   token merge per segment, deny > write > list > read.
// - acl/policy_authorizer.go (getPolicy, enforce): an exact rule for the segment wins,
//   else the longest matching prefix; write grants read/list, list grants read, deny
//   stops; no rule → "default", which the chained authorizer then resolves.
// - acl/acl.go, acl/chained_authorizer.go: default policy (`acl.default_policy`,
//   "deny" in every production setup) answers what no rule decides.
// - agent/structs/acl.go, acl_ce.go: the anonymous token (AccessorID ...0002), the
//   global-management policy (ID ...0001), and the synthetic policies of service and
//   node identities.
import { randomUUID } from 'node:crypto';
import { parse as parseHcl } from '@cdktf/hcl2json';

export type AccessLevel = 'deny' | 'read' | 'list' | 'write';
export type Decision = 'allow' | 'deny' | 'default';
/** Resources with per-segment rules (acl/policy.go). */
export type SegmentResource = 'agent' | 'event' | 'key' | 'node' | 'query' | 'service' | 'session';
/** Resources with one global level. */
export type GlobalResource = 'acl' | 'keyring' | 'mesh' | 'operator' | 'peering';

const SEGMENT_RESOURCES: SegmentResource[] = ['agent', 'event', 'key', 'node', 'query', 'service', 'session'];
const GLOBAL_RESOURCES: GlobalResource[] = ['acl', 'keyring', 'mesh', 'operator', 'peering'];

const ANONYMOUS_ACCESSOR_ID = '00000000-0000-0000-0000-000000000002';
const ANONYMOUS_SECRET_ID = 'anonymous';
const GLOBAL_MANAGEMENT_POLICY_ID = '00000000-0000-0000-0000-000000000001';

/** One policy's rules, compiled: per resource, exact and prefix levels by segment. */
export interface PolicyRules {
  segments: Record<SegmentResource, { exact: Map<string, AccessLevel>; prefix: Map<string, AccessLevel> }>;
  global: Partial<Record<GlobalResource, AccessLevel>>;
}

/** A rule text Consul would refuse (PUT /v1/acl/policy answers 400 with this message). */
export class AclRulesError extends Error {}

function emptyRules(): PolicyRules {
  const segments = {} as PolicyRules['segments'];
  for (const r of SEGMENT_RESOURCES) segments[r] = { exact: new Map(), prefix: new Map() };
  return { segments, global: {} };
}

/** takesPrecedenceOver (acl/policy_merger.go): deny > write > list > read. */
const PRECEDENCE: Record<AccessLevel, number> = { deny: 4, write: 3, list: 2, read: 1 };
function stronger(a: AccessLevel, b: AccessLevel | undefined): AccessLevel {
  return b === undefined || PRECEDENCE[a] > PRECEDENCE[b] ? a : b;
}

function levelOf(resource: string, value: unknown, allowList: boolean, segment?: string): AccessLevel {
  const ok = value === 'read' || value === 'write' || value === 'deny' || (allowList && value === 'list');
  if (!ok) {
    // Consul prints the Go struct (%#v); the resource name and the bad value are what matter.
    const where = segment === undefined ? '' : ` for ${JSON.stringify(segment)}`;
    throw new AclRulesError(`Invalid ${resource} policy${where}: ${JSON.stringify(value)}`);
  }
  return value as AccessLevel;
}

/** hcl2json gives `x "seg" { policy = "read" }` as { x: { seg: [ { policy } ] } }. */
function blocksOf(value: unknown, resource: string): [string, Record<string, unknown>][] {
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new AclRulesError(`Failed to parse ACL rules: ${resource} must be a labelled block`);
  const out: [string, Record<string, unknown>][] = [];
  for (const [segment, bodies] of Object.entries(value as Record<string, unknown>)) {
    for (const body of Array.isArray(bodies) ? bodies : [bodies]) {
      if (!body || typeof body !== 'object') throw new AclRulesError(`Failed to parse ACL rules: ${resource} "${segment}" must be a block`);
      out.push([segment, body as Record<string, unknown>]);
    }
  }
  return out;
}

/** Parses Consul ACL rules (HCL). Throws AclRulesError with Consul's wording on bad rules. */
export async function parseAclRules(rules: string): Promise<PolicyRules> {
  const compiled = emptyRules();
  if (rules.trim() === '') return compiled; // acl/policy.go: the hot path for empty rules
  let doc: Record<string, unknown>;
  try {
    doc = (await parseHcl('policy.hcl', rules)) as Record<string, unknown>;
  } catch (err) {
    throw new AclRulesError(`Failed to parse ACL rules: ${(err as Error).message ?? String(err)}`);
  }
  for (const [key, value] of Object.entries(doc)) {
    if ((GLOBAL_RESOURCES as string[]).includes(key)) {
      compiled.global[key as GlobalResource] = levelOf(key, value, false);
      continue;
    }
    const prefix = key.endsWith('_prefix');
    const resource = (prefix ? key.slice(0, -'_prefix'.length) : key) as SegmentResource;
    if (!SEGMENT_RESOURCES.includes(resource)) throw new AclRulesError(`Failed to parse ACL rules: invalid key "${key}"`);
    for (const [segment, body] of blocksOf(value, key)) {
      const level = levelOf(key, body.policy, resource === 'key', segment);
      const table = prefix ? compiled.segments[resource].prefix : compiled.segments[resource].exact;
      table.set(segment, stronger(level, table.get(segment)));
    }
  }
  return compiled;
}

/** MergePolicies: every segment keeps its strongest level across the token's policies. */
export function mergeRules(all: PolicyRules[]): PolicyRules {
  const merged = emptyRules();
  for (const rules of all) {
    for (const r of SEGMENT_RESOURCES) {
      for (const kind of ['exact', 'prefix'] as const) {
        for (const [segment, level] of rules.segments[r][kind]) merged.segments[r][kind].set(segment, stronger(level, merged.segments[r][kind].get(segment)));
      }
    }
    for (const g of GLOBAL_RESOURCES) {
      const level = rules.global[g];
      if (level) merged.global[g] = stronger(level, merged.global[g]);
    }
  }
  return merged;
}

/** enforce (acl/policy_authorizer.go). */
function enforce(rule: AccessLevel | undefined, required: 'read' | 'list' | 'write'): Decision {
  if (rule === undefined) return 'default';
  if (rule === 'write') return 'allow';
  if (rule === 'list') return required === 'write' ? 'deny' : 'allow';
  if (rule === 'read') return required === 'read' ? 'allow' : 'deny';
  return 'deny';
}

/** getPolicy: the exact rule for the segment, else the longest prefix that matches it. */
function ruleFor(table: PolicyRules['segments'][SegmentResource], segment: string): AccessLevel | undefined {
  const exact = table.exact.get(segment);
  if (exact !== undefined) return exact;
  let best: { length: number; level: AccessLevel } | undefined;
  for (const [prefix, level] of table.prefix) {
    if (segment.startsWith(prefix) && (best === undefined || prefix.length > best.length)) best = { length: prefix.length, level };
  }
  return best?.level;
}

export interface Authorizer {
  /** "anonymous" for the anonymous token; used in Consul's permission-denied text. */
  readonly accessorId: string;
  /** The raw decision for one permission (before the default policy). */
  decide(resource: SegmentResource, segment: string, level: 'read' | 'list' | 'write'): Decision;
  allowed(resource: SegmentResource | GlobalResource, segment: string, level: 'read' | 'list' | 'write'): boolean;
  serviceRead(name: string): boolean;
  serviceWrite(name: string): boolean;
  nodeRead(name: string): boolean;
  nodeWrite(name: string): boolean;
  agentRead(node: string): boolean;
  agentWrite(node: string): boolean;
  keyRead(key: string): boolean;
  keyList(key: string): boolean;
  keyWrite(key: string): boolean;
  sessionRead(node: string): boolean;
  sessionWrite(node: string): boolean;
  aclRead(): boolean;
  aclWrite(): boolean;
  operatorRead(): boolean;
  operatorWrite(): boolean;
}

/** A policy authorizer chained with the default policy (acl/chained_authorizer.go). */
export function policyAuthorizer(rules: PolicyRules, defaultPolicy: 'allow' | 'deny', accessorId: string): Authorizer {
  const fallback = defaultPolicy === 'allow';
  const decide = (resource: SegmentResource, segment: string, level: 'read' | 'list' | 'write') => enforce(ruleFor(rules.segments[resource], segment), level);
  const allowed = (resource: SegmentResource | GlobalResource, segment: string, level: 'read' | 'list' | 'write'): boolean => {
    const decision = (GLOBAL_RESOURCES as string[]).includes(resource)
      ? enforce(rules.global[resource as GlobalResource], level)
      : decide(resource as SegmentResource, segment, level);
    return decision === 'default' ? fallback : decision === 'allow';
  };
  return {
    accessorId,
    decide,
    allowed,
    serviceRead: (n) => allowed('service', n, 'read'),
    serviceWrite: (n) => allowed('service', n, 'write'),
    nodeRead: (n) => allowed('node', n, 'read'),
    nodeWrite: (n) => allowed('node', n, 'write'),
    agentRead: (n) => allowed('agent', n, 'read'),
    agentWrite: (n) => allowed('agent', n, 'write'),
    keyRead: (k) => allowed('key', k, 'read'),
    keyList: (k) => allowed('key', k, 'list'),
    keyWrite: (k) => allowed('key', k, 'write'),
    sessionRead: (n) => allowed('session', n, 'read'),
    sessionWrite: (n) => allowed('session', n, 'write'),
    aclRead: () => allowed('acl', '', 'read'),
    aclWrite: () => allowed('acl', '', 'write'),
    operatorRead: () => allowed('operator', '', 'read'),
    operatorWrite: () => allowed('operator', '', 'write'),
  };
}

/** The built-in global-management policy: write on everything. */
const GLOBAL_MANAGEMENT_RULES = `
acl = "write"
keyring = "write"
operator = "write"
mesh = "write"
peering = "write"
agent_prefix "" { policy = "write" }
event_prefix "" { policy = "write" }
key_prefix "" { policy = "write" }
node_prefix "" { policy = "write" }
query_prefix "" { policy = "write" }
service_prefix "" { policy = "write" }
session_prefix "" { policy = "write" }
`;

/** Synthetic policy of a service identity (agent/structs/acl_ce.go aclPolicyTemplateServiceIdentity). */
function serviceIdentityRules(service: string): string {
  return `service ${JSON.stringify(service)} { policy = "write" }
service ${JSON.stringify(`${service}-sidecar-proxy`)} { policy = "write" }
service_prefix "" { policy = "read" }
node_prefix "" { policy = "read" }`;
}

/** Synthetic policy of a node identity (aclPolicyTemplateNodeIdentity). */
function nodeIdentityRules(node: string): string {
  return `node ${JSON.stringify(node)} { policy = "write" }
service_prefix "" { policy = "read" }`;
}

export interface AclPolicy {
  ID: string;
  Name: string;
  Description: string;
  Rules: string;
  CreateIndex: number;
  ModifyIndex: number;
}

/** A token as GET /v1/acl/token/self returns it (agent/structs/acl.go ACLToken). */
export interface AclToken {
  AccessorID: string;
  SecretID: string;
  Description: string;
  Policies: { ID: string; Name: string }[];
  ServiceIdentities?: { ServiceName: string }[];
  NodeIdentities?: { NodeName: string; Datacenter: string }[];
  Local: boolean;
  CreateTime: string;
  CreateIndex: number;
  ModifyIndex: number;
}

export interface TokenSpec {
  secretId?: string;
  accessorId?: string;
  description?: string;
  /** Policy names (created beforehand with createPolicy). */
  policies?: string[];
  serviceIdentities?: string[];
  nodeIdentities?: { node: string; datacenter: string }[];
  /** Attach the built-in global-management policy. */
  management?: boolean;
}

export interface ConsulAcl {
  /** ACLs are off until enabled (then everything is allowed, as with acl.enabled = false). */
  readonly enabled: boolean;
  readonly defaultPolicy: 'allow' | 'deny';
  enable(options?: { defaultPolicy?: 'allow' | 'deny' }): void;
  /** Creates or replaces a named policy; AclRulesError on rules Consul refuses. */
  createPolicy(name: string, rules: string, description?: string): Promise<AclPolicy>;
  createToken(spec: TokenSpec): Promise<AclToken>;
  deleteToken(secretId: string): void;
  /**
   * The token for a request's secret: '' or undefined is the anonymous token; an
   * unknown secret is null (Consul answers 403 "ACL not found").
   */
  token(secret: string | undefined): AclToken | null;
  /**
   * What `secret` may do; null for an unknown secret. With ACLs disabled every token,
   * known or not, may do everything.
   */
  authorizer(secret: string | undefined): Authorizer | null;
}

export function createConsulAcl(options: { now?: () => number; nextIndex?: () => number } = {}): ConsulAcl {
  const now = options.now ?? Date.now;
  let counter = 0;
  const nextIndex = options.nextIndex ?? (() => ++counter);
  let enabled = false;
  let defaultPolicy: 'allow' | 'deny' = 'allow';
  const policies = new Map<string, { policy: AclPolicy; rules: PolicyRules }>(); // by name
  const tokens = new Map<string, { token: AclToken; rules: PolicyRules }>(); // by SecretID
  let managementRules: PolicyRules | undefined;
  const allowAll = policyAuthorizer(emptyRules(), 'allow', ANONYMOUS_ACCESSOR_ID);

  const tokenRecord = (token: AclToken, rules: PolicyRules) => ({ token, rules });
  const anonymous = (): { token: AclToken; rules: PolicyRules } => {
    const existing = tokens.get(ANONYMOUS_SECRET_ID);
    if (existing) return existing;
    const at = nextIndex();
    const record = tokenRecord(
      {
        AccessorID: ANONYMOUS_ACCESSOR_ID,
        SecretID: ANONYMOUS_SECRET_ID,
        Description: 'Anonymous Token',
        Policies: [],
        Local: false,
        CreateTime: new Date(now()).toISOString(),
        CreateIndex: at,
        ModifyIndex: at,
      },
      emptyRules(),
    );
    tokens.set(ANONYMOUS_SECRET_ID, record);
    return record;
  };

  const acl: ConsulAcl = {
    get enabled() {
      return enabled;
    },
    get defaultPolicy() {
      return enabled ? defaultPolicy : 'allow';
    },
    enable(o = {}) {
      enabled = true;
      defaultPolicy = o.defaultPolicy ?? 'deny';
    },
    async createPolicy(name, rules, description = '') {
      const compiled = await parseAclRules(rules);
      const at = nextIndex();
      const previous = policies.get(name)?.policy;
      const policy: AclPolicy = { ID: previous?.ID ?? randomUUID(), Name: name, Description: description, Rules: rules, CreateIndex: previous?.CreateIndex ?? at, ModifyIndex: at };
      policies.set(name, { policy, rules: compiled });
      // Tokens resolve their policies by ID at request time in Consul; recompile those that link it.
      for (const [secret, record] of tokens) {
        if (record.token.Policies.some((p) => p.Name === name)) tokens.set(secret, { token: record.token, rules: await rulesOf(record.token) });
      }
      return policy;
    },
    async createToken(spec) {
      const linked = (spec.policies ?? []).map((name) => {
        const p = policies.get(name);
        if (!p) throw new AclRulesError(`ACL policy with name "${name}" not found`);
        return { ID: p.policy.ID, Name: p.policy.Name };
      });
      if (spec.management) linked.unshift({ ID: GLOBAL_MANAGEMENT_POLICY_ID, Name: 'global-management' });
      const at = nextIndex();
      const token: AclToken = {
        AccessorID: spec.accessorId ?? randomUUID(),
        SecretID: spec.secretId ?? randomUUID(),
        Description: spec.description ?? '',
        Policies: linked,
        ...(spec.serviceIdentities?.length ? { ServiceIdentities: spec.serviceIdentities.map((s) => ({ ServiceName: s })) } : {}),
        ...(spec.nodeIdentities?.length ? { NodeIdentities: spec.nodeIdentities.map((n) => ({ NodeName: n.node, Datacenter: n.datacenter })) } : {}),
        Local: false,
        CreateTime: new Date(now()).toISOString(),
        CreateIndex: at,
        ModifyIndex: at,
      };
      tokens.set(token.SecretID, { token, rules: await rulesOf(token) });
      return token;
    },
    deleteToken(secretId) {
      tokens.delete(secretId);
    },
    token(secret) {
      if (secret === undefined || secret === '' || secret === ANONYMOUS_SECRET_ID) return anonymous().token;
      return tokens.get(secret)?.token ?? null;
    },
    authorizer(secret) {
      if (!enabled) return allowAll;
      const record = secret === undefined || secret === '' ? anonymous() : tokens.get(secret);
      if (!record) return null;
      const accessor = record.token.AccessorID === ANONYMOUS_ACCESSOR_ID ? 'anonymous' : record.token.AccessorID;
      return policyAuthorizer(record.rules, defaultPolicy, accessor);
    },
  };

  async function rulesOf(token: AclToken): Promise<PolicyRules> {
    const all: PolicyRules[] = [];
    for (const link of token.Policies) {
      if (link.ID === GLOBAL_MANAGEMENT_POLICY_ID) all.push((managementRules ??= await parseAclRules(GLOBAL_MANAGEMENT_RULES)));
      else {
        const p = [...policies.values()].find((v) => v.policy.ID === link.ID);
        if (p) all.push(p.rules);
      }
    }
    for (const s of token.ServiceIdentities ?? []) all.push(await parseAclRules(serviceIdentityRules(s.ServiceName)));
    for (const n of token.NodeIdentities ?? []) all.push(await parseAclRules(nodeIdentityRules(n.NodeName)));
    return mergeRules(all);
  }

  return acl;
}

/**
 * Consul's permission-denied text (acl/errors.go PermissionDeniedError.Error, CE
 * ResourceDescriptor in acl/errors_ce.go), e.g.
 * `Permission denied: token with AccessorID '…' lacks permission 'service:write' on "web"`.
 */
export function permissionDeniedText(authz: Pick<Authorizer, 'accessorId'>, resource: string, level: string, segment?: string): string {
  const who = authz.accessorId === 'anonymous' ? 'anonymous token' : `token with AccessorID '${authz.accessorId}'`;
  const on = segment ? ` on "${segment}"` : '';
  const hint = authz.accessorId === 'anonymous' ? '. The anonymous token is used implicitly when a request does not specify a token.' : '';
  return `Permission denied: ${who} lacks permission '${resource}:${level}'${on}${hint}`;
}

/** Consul's answer for a secret it does not know (acl/errors.go errNotFound). */
export const ACL_NOT_FOUND = 'ACL not found';

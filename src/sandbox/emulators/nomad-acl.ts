// Nomad ACLs for the emulator: policies in Nomad's rule language (namespace blocks with
// `policy` or `capabilities`), tokens carrying them, and the capability a route needs.
// From hashicorp/nomad acl/policy.go (expandNamespacePolicy, the namespace capability
// names), acl/acl.go (exact namespace rule first, else the closest matching glob; deny
// wins within a rule; management allows everything), nomad/acl_endpoint.go (GetPolicy:
// a client token reads only the policies attached to it; ResolveToken: an unknown
// secret is "ACL token not found"), command/agent/http.go (403 "Permission denied").
import { randomUUID } from 'node:crypto';
import { parse as parseHcl } from '@cdktf/hcl2json';

// acl/policy.go expandNamespacePolicy (Nomad 1.10).
const READ = ['list-jobs', 'parse-job', 'read-job', 'csi-list-volume', 'csi-read-volume', 'read-job-scaling', 'list-scaling-policies', 'read-scaling-policy', 'host-volume-read'];
const WRITE = [...READ, 'scale-job', 'submit-job', 'dispatch-job', 'read-logs', 'read-fs', 'alloc-exec', 'alloc-lifecycle', 'csi-mount-volume', 'csi-write-volume', 'submit-recommendation', 'host-volume-create'];
const SCALE = ['list-scaling-policies', 'read-scaling-policy', 'read-job-scaling', 'scale-job'];

export interface NomadToken {
  AccessorID: string;
  SecretID: string;
  Name: string;
  Type: 'client' | 'management';
  Policies: string[];
  Roles: never[];
  Global: boolean;
  CreateTime: string;
  ExpirationTime: null;
  CreateIndex: number;
  ModifyIndex: number;
}

interface StoredPolicy {
  name: string;
  rules: string;
  /** namespace pattern → capabilities */
  namespaces: Map<string, Set<string>>;
  /** The `agent { policy = … }` block (acl/policy.go AgentPolicy). */
  agent: 'deny' | 'read' | 'write' | null;
}

export interface NomadAcl {
  createPolicy(name: string, rules: string): Promise<void>;
  createToken(input: { secretId?: string; name?: string; type?: 'client' | 'management'; policies?: string[] }): NomadToken;
  token(secret: string): NomadToken | undefined;
  policy(name: string): { Name: string; Description: string; Rules: string; CreateIndex: number; ModifyIndex: number } | undefined;
  /** Whether the token may use `capability` in `namespace`. */
  allows(token: NomadToken, namespace: string, capability: string): boolean;
  /** agent:read (acl/acl.go AllowAgentRead): management, or an agent policy of read or write and no deny. */
  allowsAgentRead(token: NomadToken): boolean;
}

function expand(block: Record<string, unknown>): Set<string> {
  const caps = new Set<string>();
  const policy = block['policy'];
  if (policy === 'deny') caps.add('deny');
  else if (policy === 'read') READ.forEach((c) => caps.add(c));
  else if (policy === 'write') WRITE.forEach((c) => caps.add(c));
  else if (policy === 'scale') SCALE.forEach((c) => caps.add(c));
  else if (policy !== undefined) throw new Error(`Invalid namespace policy: ${String(policy)}`);
  const list = block['capabilities'];
  if (Array.isArray(list)) for (const c of list) caps.add(String(c));
  return caps;
}

/** acl/acl.go: the glob whose literal part is longest among those matching. */
function matchingRule(namespaces: Map<string, Set<string>>, ns: string): Set<string> | undefined {
  const exact = namespaces.get(ns);
  if (exact) return exact;
  let best: { len: number; caps: Set<string> } | undefined;
  for (const [pattern, caps] of namespaces) {
    if (!pattern.includes('*')) continue;
    const re = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
    if (!re.test(ns)) continue;
    const len = pattern.replace(/\*/g, '').length;
    if (!best || len > best.len) best = { len, caps };
  }
  return best?.caps;
}

export function createNomadAcl(): NomadAcl {
  const policies = new Map<string, StoredPolicy>();
  const tokens = new Map<string, NomadToken>();
  let index = 100;
  return {
    async createPolicy(name, rules) {
      const parsed = (await parseHcl(`${name}.hcl`, rules)) as { namespace?: Record<string, Record<string, unknown>[]>; agent?: Record<string, unknown>[] };
      const agentPolicy = parsed.agent?.[0]?.['policy'];
      if (agentPolicy !== undefined && agentPolicy !== 'deny' && agentPolicy !== 'read' && agentPolicy !== 'write') throw new Error(`Invalid agent policy: ${String(agentPolicy)}`);
      const namespaces = new Map<string, Set<string>>();
      for (const [ns, blocks] of Object.entries(parsed.namespace ?? {})) {
        const caps = new Set<string>();
        for (const b of blocks) expand(b).forEach((c) => caps.add(c));
        namespaces.set(ns, caps);
      }
      policies.set(name, { name, rules, namespaces, agent: (agentPolicy as 'deny' | 'read' | 'write' | undefined) ?? null });
    },
    createToken(input) {
      index += 1;
      const token: NomadToken = {
        AccessorID: randomUUID(),
        SecretID: input.secretId ?? randomUUID(),
        Name: input.name ?? '',
        Type: input.type ?? 'client',
        Policies: input.policies ?? [],
        Roles: [],
        Global: false,
        CreateTime: new Date().toISOString(),
        ExpirationTime: null,
        CreateIndex: index,
        ModifyIndex: index,
      };
      tokens.set(token.SecretID, token);
      return token;
    },
    token: (secret) => tokens.get(secret),
    policy(name) {
      const p = policies.get(name);
      return p ? { Name: p.name, Description: '', Rules: p.rules, CreateIndex: 10, ModifyIndex: 10 } : undefined;
    },
    allowsAgentRead(token) {
      if (token.Type === 'management') return true;
      const levels = token.Policies.map((n) => policies.get(n)?.agent ?? null);
      return !levels.includes('deny') && levels.some((l) => l === 'read' || l === 'write');
    },
    allows(token, namespace, capability) {
      if (token.Type === 'management') return true;
      // acl.go NewACL merges every policy's rules per namespace pattern, then matches once.
      const merged = new Map<string, Set<string>>();
      for (const name of token.Policies) {
        for (const [pattern, caps] of policies.get(name)?.namespaces ?? []) {
          const set = merged.get(pattern) ?? new Set<string>();
          caps.forEach((c) => set.add(c));
          merged.set(pattern, set);
        }
      }
      const grants = (caps: Set<string> | undefined) => !!caps && !caps.has('deny') && caps.has(capability);
      // acl.go AllowNamespaceOperation: the all-namespaces sentinel "*" is allowed when any
      // namespace rule (exact or glob) grants the operation, before the usual match.
      if (namespace === '*' && [...merged.values()].some(grants)) return true;
      return grants(matchingRule(merged, namespace));
    },
  };
}

/** The namespace capability a Nomad HTTP route needs (nomad/job_endpoint.go, command/agent/job_endpoint.go). */
export function routeCapability(method: string, path: string): string | null {
  if (path === '/v1/status/leader' || path.startsWith('/v1/acl/') || path.startsWith('/v1/agent/') || path === '/.well-known/jwks.json') return null;
  // command/agent/job_endpoint.go JobsParseRequest: parse-job (or submit-job).
  if (path === '/v1/jobs/parse') return 'parse-job';
  if (path === '/v1/jobs') return method === 'GET' ? 'list-jobs' : 'submit-job';
  if (/^\/v1\/job\/[^/]+\/plan$/.test(path)) return 'submit-job';
  // command/agent/fs_endpoint.go FsRequest: logs need read-logs (or read-fs, accepted by the caller).
  if (path.startsWith('/v1/client/fs/logs/')) return 'read-logs';
  if (/^\/v1\/job\/[^/]+$/.test(path)) return method === 'GET' ? 'read-job' : 'submit-job';
  return 'read-job';
}

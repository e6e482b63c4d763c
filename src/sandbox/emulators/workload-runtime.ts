// What a Nomad client does for a task's `template` blocks before the task starts, and
// again when consul-template polls: sign the task's workload identities, log in to
// Vault with the vault identity's JWT and the task's `vault { role }`, read the KV
// secrets the template names with that token, look services up in Consul with the
// task's Consul token (none without a Consul identity), render, and turn an `env = true`
// template into the task's environment. A template that cannot render keeps the task
// from starting with the task events the real client writes.
//
// Sources:
// - nomad client/allocrunner/taskrunner/vault_hook.go (deriveVaultToken, its Kill
//   events "Vault: failed to derive vault token: …") and client/vaultclient/vaultclient.go
//   (DeriveTokenWithJWT: PUT auth/<mount>/login {role, jwt} without a token).
// - nomad client/allocrunner/taskrunner/template/template.go (handleFirstRender: the
//   "Missing: …" event of source "Template", Kill with "Template failed: …";
//   onTemplateRendered: change_mode on a re-render that changed the file).
// - nomad nomad/structs/workload_id.go (IdentityClaimsBuilder.Build: the claims).
// - consul-template dependency/vault_read.go (String "vault.read(<path>)", "no secret
//   exists at …" for an absent or deleted KV v2 version), dependency/health_service.go
//   (passing instances only; Address falls back to the node's), renderer/renderer.go
//   (an identical re-render does not touch the file: no change_mode fires).
// - hashicorp/vault api/response.go (the "Error making API request." text).
// This module speaks HTTP to the Vault and Consul emulators exactly as a client would,
// so it sees what their policies and ACLs let that task see.
import { randomUUID } from 'node:crypto';
import type { SigningKey } from './jws.js';
import { consulTemplateIdentity, vaultTemplateIdentity } from './nomad-identities.js';

/** Nomad's wire JSON (the cluster's Json; not imported, so cluster.ts can import this module). */
type Json = Record<string, unknown>;

/** A workload identity as the job carries it (api/tasks.go WorkloadIdentity, wire names). */
export interface WorkloadIdentitySpec {
  Name: string;
  /** null when the jobspec gave none (canonicalized jobs carry null, not []). */
  Audience: string[] | null;
  /** Nanoseconds; 0 = no expiry. */
  TTL?: number;
}

/** Server-side identity defaults (agent config `vault.default_identity`, `consul.task_identity`). */
export interface WorkloadRuntimeOptions {
  /** The cluster's identity signing key (its public half is the JWKS Vault verifies against). */
  signingKey: SigningKey;
  /** `iss` of workload identities (the servers' `oidc_issuer`); none when unset. */
  issuer?: string;
  region?: string;
  now: () => number;
  vault: { address: string; jwtMount: string; defaultRole?: string };
  consul: {
    address: string;
    /** The Consul token a consul_default identity's JWT logs in to (the agent's auth method); null = none. */
    login(jwt: string): Promise<string | null>;
  };
}

export interface TaskEventSpec {
  type: string;
  message: string;
  failsTask?: boolean;
}

export interface TaskRender {
  task: string;
  /** The environment `env = true` templates produced (only tests read it; never served). */
  env: Record<string, string>;
  /** Each template's rendered text by destination, to tell a changed re-render. */
  files: Record<string, string>;
}

export type TaskRenderResult = { ok: true; render: TaskRender } | { ok: false; task: string; events: TaskEventSpec[] };

export interface AllocationContext {
  allocId: string;
  namespace: string;
  job: Json;
  group: Json;
}

class TemplateFailure extends Error {
  constructor(readonly events: TaskEventSpec[]) {
    super(events.at(-1)?.message ?? 'template failed');
  }
}

/** api/response.go ResponseError text of a failed Vault call. */
function vaultApiError(method: string, url: string, status: number, body: unknown): string {
  const errors = Array.isArray((body as { errors?: unknown } | null)?.errors) ? ((body as { errors: unknown[] }).errors as unknown[]).map(String) : [];
  return `Error making API request.\n\nURL: ${method} ${url}\nCode: ${status}. Errors:\n\n${errors.map((e) => `* ${e}`).join('')}`;
}

// ---------------------------------------------------------------------------
// The template language: the subset of consul-template previewd's templates use.

type Node =
  | { kind: 'text'; text: string }
  | { kind: 'field'; path: string[] }
  | { kind: 'with-secret'; path: string; body: Node[] }
  | { kind: 'range-service'; name: string; body: Node[] };

/** Parses text/template actions between the template's delimiters; throws on anything else. */
export function parseTemplate(text: string, left = '{{', right = '}}'): Node[] {
  const root: Node[] = [];
  const stack: Node[][] = [root];
  let rest = text;
  while (rest.length > 0) {
    const open = rest.indexOf(left);
    if (open === -1) {
      stack.at(-1)!.push({ kind: 'text', text: rest });
      break;
    }
    if (open > 0) stack.at(-1)!.push({ kind: 'text', text: rest.slice(0, open) });
    const close = rest.indexOf(right, open + left.length);
    if (close === -1) throw new Error(`template: unclosed action`);
    const action = rest.slice(open + left.length, close).trim();
    rest = rest.slice(close + right.length);
    let m: RegExpExecArray | null;
    if ((m = /^with\s+secret\s+"([^"]+)"$/.exec(action))) {
      const node: Node = { kind: 'with-secret', path: m[1]!, body: [] };
      stack.at(-1)!.push(node);
      stack.push(node.body);
    } else if ((m = /^range\s+service\s+"([^"]+)"$/.exec(action))) {
      const node: Node = { kind: 'range-service', name: m[1]!, body: [] };
      stack.at(-1)!.push(node);
      stack.push(node.body);
    } else if (action === 'end') {
      if (stack.length === 1) throw new Error('template: unexpected {{end}}');
      stack.pop();
    } else if (/^(\.[A-Za-z_][A-Za-z0-9_]*)+$/.test(action)) {
      stack.at(-1)!.push({ kind: 'field', path: action.slice(1).split('.') });
    } else {
      // Not a claim about consul-template: the emulator only knows what previewd renders.
      throw new Error(`workload runtime emulator: unsupported template action ${JSON.stringify(action)}`);
    }
  }
  if (stack.length !== 1) throw new Error('template: unexpected EOF');
  return root;
}

function dependenciesOf(nodes: Node[], out = { secrets: new Set<string>(), services: new Set<string>() }) {
  for (const n of nodes) {
    if (n.kind === 'with-secret') {
      out.secrets.add(n.path);
      dependenciesOf(n.body, out);
    } else if (n.kind === 'range-service') {
      out.services.add(n.name);
      dependenciesOf(n.body, out);
    }
  }
  return out;
}

interface Resolved {
  secrets: Map<string, Json>;
  services: Map<string, Json[]>;
}

function renderNodes(nodes: Node[], dot: unknown, resolved: Resolved): string {
  let out = '';
  for (const n of nodes) {
    if (n.kind === 'text') out += n.text;
    else if (n.kind === 'field') {
      let v: unknown = dot;
      for (const p of n.path) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[p] : undefined;
      // Go text/template prints a missing map key as "<no value>" (Nomad's error_on_missing_key defaults to false).
      out += v === undefined || v === null ? '<no value>' : String(v);
    } else if (n.kind === 'with-secret') {
      const secret = resolved.secrets.get(n.path);
      if (secret) out += renderNodes(n.body, secret, resolved);
    } else {
      for (const instance of resolved.services.get(n.name) ?? []) out += renderNodes(n.body, instance, resolved);
    }
  }
  return out;
}

/**
 * Nomad's template.go parseEnvFile (hashicorp/go-envparse): KEY=value lines, blank lines
 * and # comments skipped, a value in matching single or double quotes unquoted. The live
 * observation reads a real allocation's env file with the same parser.
 */
export function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    let value = line.slice(eq + 1);
    if (value.length >= 2 && ((value.startsWith('"') && value.endsWith('"')) || (value.startsWith("'") && value.endsWith("'")))) value = value.slice(1, -1);
    env[line.slice(0, eq).trim()] = value;
  }
  return env;
}

// ---------------------------------------------------------------------------

export interface WorkloadRuntime {
  /** Renders every template of one task for an allocation starting (or re-rendering). */
  renderTask(alloc: AllocationContext, task: Json): Promise<TaskRenderResult>;
  /** The identity JWT claims a task's identity carries (workload_id.go Build). */
  claimsFor(alloc: AllocationContext, task: Json, identity: WorkloadIdentitySpec): Record<string, unknown>;
}

export function createWorkloadRuntime(options: WorkloadRuntimeOptions): WorkloadRuntime {
  function claimsFor(alloc: AllocationContext, task: Json, identity: WorkloadIdentitySpec): Record<string, unknown> {
    const nowSec = Math.floor(options.now() / 1000);
    const job = alloc.job;
    const jobId = (job.ParentID as string) || (job.ID as string);
    const vault = task.Vault as Json | null | undefined;
    const claims: Record<string, unknown> = {
      nomad_namespace: alloc.namespace,
      nomad_job_id: jobId,
      nomad_allocation_id: alloc.allocId,
      nomad_task: task.Name,
      aud: [...(identity.Audience ?? [])],
      sub: [options.region ?? 'global', alloc.namespace, job.ID, alloc.group.Name, task.Name, identity.Name].join(':'),
      iat: nowSec,
      nbf: nowSec,
      jti: randomUUID(),
    };
    if (identity.Name.startsWith('vault_') && vault) {
      if (vault.Role) claims.vault_role = vault.Role;
      if (vault.Namespace) claims.vault_namespace = vault.Namespace;
    }
    if (identity.TTL && identity.TTL > 0) claims.exp = nowSec + Math.floor(identity.TTL / 1e9);
    if (options.issuer) claims.iss = options.issuer;
    return claims;
  }

  const kill = (message: string): TaskEventSpec => ({ type: 'Killing', message, failsTask: true });

  async function vaultToken(alloc: AllocationContext, task: Json, identity: WorkloadIdentitySpec | undefined): Promise<string> {
    if (!identity) throw new TemplateFailure([kill('Vault: failed to derive vault token: no signed workload identity available')]);
    const jwt = options.signingKey.sign(claimsFor(alloc, task, identity));
    const role = ((task.Vault as Json).Role as string) || options.vault.defaultRole || '';
    const url = `${options.vault.address}/v1/auth/${options.vault.jwtMount}/login`;
    const prefix = `Vault: failed to derive vault token: failed to derive Vault token for identity ${identity.Name}: failed to login with JWT: `;
    let res: Response;
    try {
      res = await fetch(url, { method: 'PUT', body: JSON.stringify({ role, jwt }), signal: AbortSignal.timeout(10_000) });
    } catch (e) {
      throw new TemplateFailure([kill(`${prefix}${(e as Error).message}`)]);
    }
    const body = (await res.json().catch(() => null)) as { auth?: { client_token?: string } } | null;
    if (!res.ok) throw new TemplateFailure([kill(`${prefix}${vaultApiError('PUT', url, res.status, body)}`)]);
    const token = body?.auth?.client_token;
    if (!token) throw new TemplateFailure([kill(`${prefix.replace(/failed to login with JWT: $/, '')}JWT login did not return a token`)]);
    return token;
  }

  async function readSecret(path: string, token: string | null): Promise<Json> {
    const dep = `vault.read(${path})`;
    const url = `${options.vault.address}/v1/${path}`;
    const res = await fetch(url, { headers: token ? { 'X-Vault-Token': token } : {}, signal: AbortSignal.timeout(10_000) });
    const body = (await res.json().catch(() => null)) as Json | null;
    // consul-template waits on a dependency it cannot fetch (the "Missing" event) and,
    // once its retries are spent, fails the template (Kill "Template failed").
    const fail = (why: string) => new TemplateFailure([{ type: 'Template', message: `Missing: ${dep}` }, kill(`Template failed: ${dep}: ${why}`)]);
    if (res.status === 404) {
      // vault api Logical().Read: a 404 with data is a secret (a deleted KV v2 version), without it nil;
      // vault_read.go: both, and a version past its deletion_time, are "no secret exists".
      throw fail(`no secret exists at ${path}`);
    }
    if (!res.ok) throw fail(`${dep}: ${vaultApiError('GET', url, res.status, body)}`);
    const data = body?.data as Json | undefined;
    const deletion = (data?.metadata as Json | undefined)?.deletion_time;
    if (typeof deletion === 'string' && deletion !== '' && Date.parse(deletion) < options.now()) throw fail(`no secret exists at ${path}`);
    return { LeaseID: body?.lease_id ?? '', LeaseDuration: body?.lease_duration ?? 0, Renewable: body?.renewable ?? false, Data: data ?? {}, Warnings: body?.warnings ?? null };
  }

  async function lookupService(name: string, token: string | null): Promise<Json[]> {
    // health_service.go: no filter means "passing", so the query asks Consul for passing instances only.
    const res = await fetch(`${options.consul.address}/v1/health/service/${encodeURIComponent(name)}?passing=1`, {
      headers: token ? { 'X-Consul-Token': token } : {},
      signal: AbortSignal.timeout(10_000),
    });
    if (!res.ok) {
      const dep = `health.service(${name}|passing)`;
      throw new TemplateFailure([{ type: 'Template', message: `Missing: ${dep}` }, kill(`Template failed: ${dep}: Unexpected response code: ${res.status} (${(await res.text()).trim()})`)]);
    }
    const entries = (await res.json()) as Json[];
    return entries
      .filter((e) => ((e.Checks as Json[] | null) ?? []).every((c) => c.Status === 'passing'))
      .map((e) => {
        const svc = e.Service as Json;
        const node = e.Node as Json;
        return { ID: svc.ID, Name: svc.Service, Tags: svc.Tags, Port: svc.Port, Address: (svc.Address as string) || node.Address, Node: node.Node, NodeAddress: node.Address };
      });
  }

  async function renderTask(alloc: AllocationContext, task: Json): Promise<TaskRenderResult> {
    const name = task.Name as string;
    const templates = (task.Templates as Json[] | null) ?? [];
    if (templates.length === 0) return { ok: true, render: { task: name, env: {}, files: {} } };
    try {
      // The job as registered: the servers' implicit-identities hook already ran on it
      // (nomad-identities.ts applyImplicitIdentities), so its identities are the task's own.
      const vaultIdentity = vaultTemplateIdentity(task) as WorkloadIdentitySpec | undefined;
      const consulIdentity = consulTemplateIdentity(alloc.group, task) as WorkloadIdentitySpec | undefined;
      const parsed = templates.map((t) => {
        try {
          return { spec: t, nodes: parseTemplate(String(t.EmbeddedTmpl ?? ''), (t.LeftDelim as string) || '{{', (t.RightDelim as string) || '}}') };
        } catch (e) {
          throw new TemplateFailure([kill(`Template failed: ${(e as Error).message}`)]);
        }
      });
      const deps = { secrets: new Set<string>(), services: new Set<string>() };
      for (const p of parsed) dependenciesOf(p.nodes, deps);
      // The vault hook runs before the template hook: a task with a vault block logs in first.
      const token = task.Vault ? await vaultToken(alloc, task, vaultIdentity) : null;
      const consulToken = consulIdentity ? await options.consul.login(options.signingKey.sign(claimsFor(alloc, task, consulIdentity))) : null;
      const resolved: Resolved = { secrets: new Map(), services: new Map() };
      for (const path of deps.secrets) resolved.secrets.set(path, await readSecret(path, token));
      for (const svc of deps.services) resolved.services.set(svc, await lookupService(svc, consulToken));
      const render: TaskRender = { task: name, env: {}, files: {} };
      for (const p of parsed) {
        const text = renderNodes(p.nodes, undefined, resolved);
        render.files[String(p.spec.DestPath ?? '')] = text;
        if (p.spec.Envvars === true) Object.assign(render.env, parseEnvFile(text));
      }
      return { ok: true, render };
    } catch (e) {
      if (e instanceof TemplateFailure) return { ok: false, task: name, events: e.events };
      throw e;
    }
  }

  return { renderTask, claimsFor };
}

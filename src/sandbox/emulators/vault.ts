// Vault emulator: the parts of the HTTP API previewd uses (KV v2, ACL policies, the
// token store, JWT auth roles, sys/health), built from shared/contracts/vault.md.
// It enforces ACL policies for non-root tokens with Vault's path-matching rules, so
// tests can prove that one PR's policy does not grant another PR's path.
// Listing: node:http cannot receive the LIST verb (its parser knows a fixed method
// set), so clients talk to this emulator with Vault's equivalent `GET ?list=true`
// (node-vault: `noCustomHTTPVerbs: true`); a LIST request never reaches the handler.
import { randomBytes, randomUUID } from 'node:crypto';
import { parse as parseHcl } from '@cdktf/hcl2json';
import { checkJwtLogin, validateJwtConfig, type JwtAuthConfig } from './vault-jwt-auth.js';
import { decodeField, durationSecond, fieldValidationError, goValue, weakInt, weakString, type FieldType } from './vault-fields.js';
import { capabilitiesSelf, hasMountAccess, internalUiMount, sysAuth, sysMounts } from './vault-sys.js';
import { startEmulator, type Emulator, type EmulatorRequest, type EmulatorResponse } from './harness.js';

// ---------------------------------------------------------------------------
// Types and state

// vault/policy.go: the capabilities parsePaths accepts (subscribe: Vault 1.15+, the events API).
export type Capability = 'create' | 'read' | 'update' | 'patch' | 'delete' | 'list' | 'sudo' | 'deny' | 'subscribe';
const CAPABILITIES = new Set<Capability>(['create', 'read', 'update', 'patch', 'delete', 'list', 'sudo', 'deny', 'subscribe']);

interface PolicyRule {
  path: string;
  capabilities: Capability[];
}

interface StoredPolicy {
  name: string;
  text: string;
  rules: PolicyRule[];
}

interface StoredToken {
  id: string;
  accessor: string;
  policies: string[];
  parent: string | null;
  meta: Record<string, string> | null;
  displayName: string;
  createdAt: number; // ms on the emulator clock
  ttlSec: number; // 0 = never expires (root)
  expiresAt: number | null;
  renewable: boolean;
  numUses: number;
}

interface KvVersion {
  data: Record<string, unknown>;
  createdTime: number;
  deletionTime: number | null; // soft delete, or the scheduled delete_version_after
  destroyed: boolean;
}

interface KvEntry {
  versions: Map<number, KvVersion>;
  currentVersion: number;
  oldestVersion: number;
  maxVersions: number;
  casRequired: boolean;
  deleteVersionAfterSec: number;
  customMetadata: Record<string, string> | null;
  createdTime: number;
  updatedTime: number;
}

interface KvMountConfig {
  maxVersions: number;
  casRequired: boolean;
  deleteVersionAfterSec: number;
}

export type Operation = 'create' | 'read' | 'update' | 'patch' | 'delete' | 'list';

export interface VaultSecretView {
  path: string; // below the mount, e.g. "previews/acme-shop-pr-42"
  currentVersion: number;
  customMetadata: Record<string, string> | null;
  deleteVersionAfterSec: number;
  /** Latest live version's data, null when deleted/destroyed or never written. */
  data: Record<string, unknown> | null;
  versions: { version: number; deleted: boolean; destroyed: boolean }[];
}

export interface VaultEmulator extends Emulator {
  readonly rootToken: string;
  readonly kvMount: string;
  /** Seal knob: every path except sys/health answers 503 "Vault is sealed". */
  sealed: boolean;
  /** Emulator clock (ms); tests move it with `advance`. */
  now(): number;
  advance(ms: number): void;
  /** Creates a token directly (no HTTP), e.g. one carrying only PR A's policy. */
  createToken(policies: string[], options?: { ttlSec?: number }): string;
  /** The capabilities a set of policies grants on an API path (without /v1/). */
  capabilities(policyNames: string[], path: string): Capability[];
  /** True when a token may perform `op` on the API path. */
  allowed(policyNames: string[], op: Operation, path: string): boolean;
  secret(path: string): VaultSecretView | null;
  secrets(): VaultSecretView[];
  policy(name: string): string | null;
  policyNames(): string[];
  jwtRole(name: string, mount?: string): Record<string, unknown> | null;
  jwtRoles(mount?: string): Record<string, Record<string, unknown>>;
  /** The JWT auth mount's config (auth/<mount>/config), null until written. */
  jwtConfig(mount?: string): JwtAuthConfig | null;
}

export interface VaultEmulatorOptions {
  rootToken: string;
  kvMount?: string;
  /** Auth mounts of type jwt; others answer "no handler for route". */
  jwtMounts?: string[];
  /** The KV mount's engine version (sys/mounts options.version); "1" emulates a misconfigured v1 mount. */
  kvVersion?: '1' | '2';
  now?: () => number;
  port?: number;
}

// ---------------------------------------------------------------------------
// Small helpers: responses, durations, ACL matching

// sdk/logical/response_util.go RespondError: every error body is {"errors":[...]}, one
// text, or none (a nil error: the 404 of a read or list that found nothing).
const errorBody = (...errors: string[]) => ({ errors });
const err = (status: number, ...errors: string[]): EmulatorResponse => ({ status, body: errorBody(...errors) });
// vault/request_handling.go CheckToken: a missing or unknown token is logical.ErrPermissionDenied
// as is (fetchACLTokenEntryAndEntity), while an ACL refusal appends it to the policy checks'
// multierror; handleRequest answers ErrorResponse(ctErr.Error()), so the texts differ.
const permissionDenied = (): EmulatorResponse => err(403, 'permission denied');
const aclDenied = (): EmulatorResponse => err(403, '1 error occurred:\n\t* permission denied\n\n');

/**
 * sdk/framework/backend.go HandleRequest: when the handler returned a response, request
 * fields outside the path's schema are named, sorted, in a warning. A nil response (204)
 * gets none; raw responses (RespondWithStatusCode) carry theirs outside the body.
 */
function withIgnoredParams(res: EmulatorResponse, body: Record<string, unknown>, schema: Record<string, unknown>): EmulatorResponse {
  const ignored = Object.keys(body).filter((k) => !(k in schema)).sort();
  if (ignored.length === 0 || res.status !== 200 || typeof res.body !== 'object' || res.body === null || !('request_id' in res.body)) return res;
  const envelopeBody = res.body as Record<string, unknown>;
  const warnings = [...((envelopeBody['warnings'] as string[] | null) ?? []), `Endpoint ignored these unrecognized parameters: [${ignored.join(' ')}]`];
  return { ...res, body: { ...envelopeBody, warnings } };
}
const noContent = (): EmulatorResponse => ({ status: 204 });
// vault/request_handling.go handleRequest wraps a backend's routing error with
// multierror.Append, hence the "1 error occurred" text; response_util.go RespondErrorCommon
// maps ErrUnsupportedOperation to 405 and ErrUnsupportedPath to 404
// (sdk/framework/backend.go HandleRequest: no path regex matched, or no callback for the operation).
const unsupported = (): EmulatorResponse => err(405, '1 error occurred:\n\t* unsupported operation\n\n');
const unsupportedPath = (): EmulatorResponse => err(404, '1 error occurred:\n\t* unsupported path\n\n');
// vault/router.go routeCommon: no mount matches the path.
const noHandler = (path: string): EmulatorResponse => err(404, `no handler for route "${path}". route entry not found.`);

function envelope(data: unknown, extra: { warnings?: string[]; auth?: unknown; mountType?: string } = {}): Record<string, unknown> {
  return {
    request_id: randomUUID(),
    lease_id: '',
    renewable: false,
    lease_duration: 0,
    data,
    wrap_info: null,
    warnings: extra.warnings && extra.warnings.length > 0 ? extra.warnings : null,
    auth: extra.auth ?? null,
    ...(extra.mountType ? { mount_type: extra.mountType } : {}),
  };
}

const ok = (data: unknown, extra?: Parameters<typeof envelope>[1]): EmulatorResponse => ({ status: 200, body: envelope(data, extra) });

const iso = (ms: number) => new Date(ms).toISOString();

/** Vault duration: integer seconds, or Go style "1h30m", "168h", "90s". null when invalid. */
export function parseVaultDuration(value: unknown): number | null {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 ? value : null;
  if (typeof value !== 'string') return null;
  const text = value.trim();
  if (text === '') return 0;
  if (/^\d+$/.test(text)) return Number(text);
  const unit: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 0.001 };
  let total = 0;
  let rest = text;
  while (rest.length > 0) {
    const m = /^(\d+(?:\.\d+)?)(ms|h|m|s)/.exec(rest);
    if (!m) return null;
    total += Number(m[1]) * unit[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return Math.floor(total);
}

/** Seconds as Go formats a time.Duration: 0 → "0s", 604800 → "168h0m0s". */
export function goDuration(sec: number): string {
  if (sec === 0) return '0s';
  if (sec < 0) return `-${goDuration(-sec)}`;
  const h = Math.floor(sec / 3600);
  const m = Math.floor((sec % 3600) / 60);
  const s = sec % 60;
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Does an ACL path pattern match the request path? `+` = one segment, trailing `*` = prefix. */
export function pathMatches(pattern: string, path: string): boolean {
  const glob = pattern.endsWith('*');
  const body = glob ? pattern.slice(0, -1) : pattern;
  if (!body.includes('+')) return glob ? path.startsWith(body) : path === body;
  const patternSegs = body.split('/');
  const pathSegs = path.split('/');
  if (glob) {
    // Every full segment before the last must match one-for-one; the last is a prefix.
    if (pathSegs.length < patternSegs.length) return false;
    for (let i = 0; i < patternSegs.length; i++) {
      const p = patternSegs[i]!;
      const s = pathSegs[i]!;
      const last = i === patternSegs.length - 1;
      if (p === '+') continue;
      if (last ? !s.startsWith(p) : p !== s) return false;
    }
    return true;
  }
  if (pathSegs.length !== patternSegs.length) return false;
  return patternSegs.every((p, i) => p === '+' || p === pathSegs[i]);
}

/**
 * Vault's priority between matching patterns (most specific wins), from the
 * policies docs: a later first wildcard, no trailing glob, fewer `+`, longer,
 * then lexicographically larger. Returns > 0 when `a` wins over `b`.
 */
function comparePriority(a: string, b: string): number {
  const firstWild = (p: string) => {
    const idx = [p.indexOf('+'), p.endsWith('*') ? p.length - 1 : -1].filter((i) => i >= 0);
    return idx.length === 0 ? Infinity : Math.min(...idx);
  };
  const fa = firstWild(a);
  const fb = firstWild(b);
  if (fa !== fb) return fa > fb ? 1 : -1;
  const ga = a.endsWith('*');
  const gb = b.endsWith('*');
  if (ga !== gb) return ga ? -1 : 1;
  const pa = a.split('+').length;
  const pb = b.split('+').length;
  if (pa !== pb) return pa < pb ? 1 : -1;
  if (a.length !== b.length) return a.length > b.length ? 1 : -1;
  return a > b ? 1 : a < b ? -1 : 0;
}

const OLD_POLICY_LEVELS: Record<string, Capability[]> = {
  deny: ['deny'],
  read: ['read', 'list'],
  write: ['create', 'read', 'update', 'delete', 'list'],
  sudo: ['create', 'read', 'update', 'delete', 'list', 'sudo'],
};

/** Parses a policy's HCL into rules; throws an Error with Vault-like text on bad input. */
async function parsePolicy(text: string): Promise<PolicyRule[]> {
  let doc: Record<string, unknown>;
  try {
    doc = (await parseHcl('policy.hcl', text)) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`failed to parse policy: ${(e as Error).message}`);
  }
  const rules: PolicyRule[] = [];
  // vault/policy.go ParseACLPolicy: hclutil.CheckHCLKeys against "name" and "path", a
  // go-multierror of `invalid key %q on line %d` (the line is not known here: always 1).
  const invalid = Object.keys(doc).filter((key) => key !== 'path' && key !== 'name');
  if (invalid.length > 0) throw new Error(`failed to parse policy: ${multierrorText(invalid.map((key) => `invalid key "${key}" on line 1`))}`);
  const paths = doc['path'];
  if (paths === undefined) return rules;
  if (!isPlainObject(paths)) throw new Error('failed to parse policy: path must be a block with a label');
  for (const [path, blocks] of Object.entries(paths)) {
    const caps = new Set<Capability>();
    for (const block of Array.isArray(blocks) ? blocks : [blocks]) {
      if (!isPlainObject(block)) throw new Error(`failed to parse policy: path "${path}": invalid block`);
      // policy.go parsePaths: the pre-0.9 `policy = "<level>"` form expands to capabilities.
      const level = block['policy'];
      if (level !== undefined && level !== '') {
        const expanded = OLD_POLICY_LEVELS[String(level)];
        if (!expanded) throw new Error(`failed to parse policy: path "${path}": invalid policy "${String(level)}"`);
        for (const c of expanded) caps.add(c);
      }
      const list = block['capabilities'];
      if (list === undefined) continue;
      if (!Array.isArray(list)) throw new Error(`failed to parse policy: path "${path}": capabilities must be a list`);
      // policy.go parsePaths: capabilities are matched exactly (case-sensitive); deny drops the rest.
      for (const c of list) {
        if (typeof c !== 'string' || !CAPABILITIES.has(c as Capability)) {
          throw new Error(`failed to parse policy: path "${path}": invalid capability "${String(c)}"`);
        }
        caps.add(c as Capability);
      }
    }
    // policy.go parsePaths: a leading "/" is dropped; "+*" is refused.
    const clean = path.replace(/^\//, '');
    if (clean.includes('+*')) throw new Error(`failed to parse policy: path "${clean}": invalid use of wildcards ('+*' is forbidden)`);
    rules.push({ path: clean, capabilities: [...caps] });
  }
  return rules;
}

/** logical_system.go handlePoliciesSet: text that base64.StdEncoding decodes is replaced by its decoding. */
function decodePolicyText(raw: string): string {
  if (/^[A-Za-z0-9+/]*={0,2}$/.test(raw) && raw.length % 4 === 0) return Buffer.from(raw, 'base64').toString('utf8');
  return raw;
}

// vault/policy_store.go: immutablePolicies (never written nor deleted) and
// nonAssignablePolicies (left out of a list).
const IMMUTABLE_POLICIES = new Set(['root', 'response-wrapping', 'control-group']);
const NON_ASSIGNABLE_POLICIES = new Set(['response-wrapping', 'control-group']);

// The default policy real Vault attaches to every token: enough to inspect and
// manage the token itself.
const DEFAULT_POLICY_TEXT = `path "auth/token/lookup-self" { capabilities = ["read"] }
path "auth/token/renew-self" { capabilities = ["update"] }
path "auth/token/revoke-self" { capabilities = ["update"] }
path "sys/capabilities-self" { capabilities = ["update"] }
`;

// vault-plugin-secrets-kv path_metadata.go: the custom_metadata limits, checked per key
// and value in bytes (Go len), every failure one multierror line with this prefix.
const CUSTOM_METADATA_MAX_KEYS = 64;
const CUSTOM_METADATA_MAX_KEY_BYTES = 128;
const CUSTOM_METADATA_MAX_VALUE_BYTES = 512;
const CUSTOM_METADATA_PREFIX = 'custom_metadata validation failed';

/** hashicorp/go-multierror format.go ListFormatFunc. */
function multierrorText(problems: string[]): string {
  if (problems.length === 1) return `1 error occurred:\n\t* ${problems[0]}\n\n`;
  return `${problems.length} errors occurred:\n\t${problems.map((p) => `* ${p}`).join('\n\t')}\n\n`;
}

/** go-secure-stdlib strutil.Printable: every rune unicode.IsPrint (letters, marks, numbers, punctuation, symbols, ASCII space). */
const printable = (text: string) => /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]*$/u.test(text);

/**
 * path_metadata.go parseCustomMetadata: each value weak-decoded to a string (5 → "5",
 * true → "1"); with filterNils (a PATCH) a null is a removal and is skipped. A value that
 * does not decode is "custom_metadata validation failed: <decode error>".
 */
function parseCustomMetadata(raw: Record<string, unknown>, filterNils: boolean): Record<string, string> | string {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (filterNils && v === null) continue;
    const s = weakString(v);
    if (!s.ok) return `${CUSTOM_METADATA_PREFIX}: ${s.reason}`;
    out[k] = s.value;
  }
  return out;
}

/** path_metadata.go validateCustomMetadata; null when valid, else the multierror text. */
function customMetadataError(map: Record<string, string>): string | null {
  const entries = Object.entries(map);
  // More than 64 keys short-circuits: no per-key checks are run.
  if (entries.length > CUSTOM_METADATA_MAX_KEYS) {
    return multierrorText([`${CUSTOM_METADATA_PREFIX}: payload must contain at most ${CUSTOM_METADATA_MAX_KEYS} keys, provided ${entries.length}`]);
  }
  const problems: string[] = [];
  for (const [k, v] of entries) {
    const keyLen = Buffer.byteLength(k);
    if (keyLen === 0 || keyLen > CUSTOM_METADATA_MAX_KEY_BYTES) {
      problems.push(`${CUSTOM_METADATA_PREFIX}: length of key ${JSON.stringify(k)} is ${keyLen} but must be 0 < len(key) <= ${CUSTOM_METADATA_MAX_KEY_BYTES}`);
    }
    const valueLen = Buffer.byteLength(v);
    if (valueLen === 0 || valueLen > CUSTOM_METADATA_MAX_VALUE_BYTES) {
      problems.push(`${CUSTOM_METADATA_PREFIX}: length of value for key ${JSON.stringify(k)} is ${valueLen} but must be 0 < len(value) <= ${CUSTOM_METADATA_MAX_VALUE_BYTES}`);
    }
    if (!printable(k)) problems.push(`${CUSTOM_METADATA_PREFIX}: key ${JSON.stringify(k)} (${k}) contains unprintable characters`);
    if (!printable(v)) problems.push(`${CUSTOM_METADATA_PREFIX}: value for key ${JSON.stringify(k)} contains unprintable characters`);
  }
  return problems.length > 0 ? multierrorText(problems) : null;
}

// The framework field schemas of the KV v2 paths (vault-plugin-secrets-kv path_*.go);
// sdk/framework/backend.go validates a request's fields against them before the handler.
const KV_FIELDS: Record<string, Record<string, FieldType>> = {
  data: { path: 'string', version: 'int', options: 'map', data: 'map' }, // path_data.go
  metadata: { path: 'string', exclude_deleted: 'bool', cas_required: 'bool', max_versions: 'int', delete_version_after: 'durationSecond', custom_metadata: 'map' }, // path_metadata.go
  config: { max_versions: 'int', cas_required: 'bool', delete_version_after: 'signedDurationSecond' }, // path_config.go
  delete: { path: 'string', versions: 'commaIntSlice' }, // path_delete.go
  undelete: { path: 'string', versions: 'commaIntSlice' }, // path_delete.go
  destroy: { path: 'string', versions: 'commaIntSlice' }, // path_destroy.go
};

// path_metadata.go pathMetadataWrite / pathMetadataPatch, path_config.go: the warning when a
// key turns cas_required off that the mount's config requires.
const CAS_REQUIRED_WARNING = '"cas_required" set to false, but is mandated by backend config. This value will be ignored.';

// ---------------------------------------------------------------------------
// The emulator

export async function startVaultEmulator(options: VaultEmulatorOptions): Promise<VaultEmulator> {
  const kvMount = options.kvMount ?? 'secret';
  const jwtMounts = new Set(options.jwtMounts ?? ['jwt-nomad']);
  let offset = 0;
  const baseNow = options.now ?? Date.now;
  const now = () => baseNow() + offset;

  const tokens = new Map<string, StoredToken>();
  const policies = new Map<string, StoredPolicy>();
  const kv = new Map<string, KvEntry>();
  const kvConfig: KvMountConfig = { maxVersions: 0, casRequired: false, deleteVersionAfterSec: 0 };
  const roles = new Map<string, Map<string, Record<string, unknown>>>();
  for (const m of jwtMounts) roles.set(m, new Map());
  const jwtConfigs = new Map<string, JwtAuthConfig>();
  const state = { sealed: false };

  policies.set('default', { name: 'default', text: DEFAULT_POLICY_TEXT, rules: await parsePolicy(DEFAULT_POLICY_TEXT) });
  const rootToken: StoredToken = {
    id: options.rootToken,
    accessor: randomBytes(12).toString('base64url'),
    policies: ['root'],
    parent: null,
    meta: null,
    displayName: 'root',
    createdAt: now(),
    ttlSec: 0,
    expiresAt: null,
    renewable: false,
    numUses: 0,
  };
  tokens.set(rootToken.id, rootToken);

  // --- tokens -------------------------------------------------------------

  function liveToken(id: string | undefined): StoredToken | null {
    if (!id) return null;
    const t = tokens.get(id);
    if (!t) return null;
    if (t.expiresAt !== null && t.expiresAt <= now()) {
      revokeToken(t.id);
      return null;
    }
    return t;
  }

  function revokeToken(id: string): void {
    tokens.delete(id);
    for (const child of [...tokens.values()]) if (child.parent === id) revokeToken(child.id);
  }

  function issueToken(parent: StoredToken | null, input: { policies: string[]; ttlSec: number; meta: Record<string, string> | null; displayName: string; renewable: boolean; numUses: number }): StoredToken {
    const t: StoredToken = {
      id: `hvs.${randomBytes(18).toString('base64url')}`,
      accessor: randomBytes(12).toString('base64url'),
      policies: input.policies,
      parent: parent?.id ?? null,
      meta: input.meta,
      displayName: input.displayName,
      createdAt: now(),
      ttlSec: input.ttlSec,
      expiresAt: input.ttlSec > 0 ? now() + input.ttlSec * 1000 : null,
      renewable: input.renewable,
      numUses: input.numUses,
    };
    tokens.set(t.id, t);
    return t;
  }

  function tokenRequest(req: EmulatorRequest): string | undefined {
    const header = req.headers['x-vault-token'];
    if (typeof header === 'string' && header.length > 0) return header;
    const auth = req.headers['authorization'];
    if (typeof auth === 'string') {
      const m = /^Bearer\s+(.+)$/i.exec(auth);
      if (m) return m[1]!.trim();
    }
    return undefined;
  }

  // --- ACL ----------------------------------------------------------------

  /**
   * vault/acl.go AllowOperation: an exact rule for the path wins; for a LIST (path ending in
   * "/"), an exact rule for the path without the slash comes next (vault PR #5197); then the
   * longest prefix rule and the segment-wildcard rules compete by CheckAllowedFromNonExactPaths'
   * order (comparePriority).
   */
  function capabilitiesFor(policyNames: string[], path: string, list = false): Capability[] {
    if (policyNames.includes('root')) return ['create', 'read', 'update', 'patch', 'delete', 'list', 'sudo'];
    // NewACL: capabilities of the same pattern in different policies are merged (deny wins).
    const merged = new Map<string, Set<Capability>>();
    for (const name of policyNames) {
      const policy = policies.get(name.toLowerCase());
      if (!policy) continue;
      for (const rule of policy.rules) {
        const set = merged.get(rule.path) ?? new Set<Capability>();
        for (const c of rule.capabilities) set.add(c);
        merged.set(rule.path, set);
      }
    }
    // policy.go parsePaths: a path is a segment-wildcard one when it is "+", has "/+" or starts "+/"; a prefix one when it ends in "*".
    const exact = (p: string) => (merged.has(p) && !p.endsWith('*') && !(p === '+' || p.includes('/+') || p.startsWith('+/')) ? p : null);
    let best: string | null = exact(path) ?? (list && path.endsWith('/') ? exact(path.slice(0, -1)) : null);
    if (best !== null) {
      const caps = merged.get(best)!;
      return caps.has('deny') ? ['deny'] : [...caps].sort();
    }
    for (const pattern of merged.keys()) {
      if (!pathMatches(pattern, path)) continue;
      if (best === null || comparePriority(pattern, best) > 0) best = pattern;
    }
    if (best === null) return [];
    const caps = merged.get(best)!;
    if (caps.has('deny')) return ['deny'];
    return [...caps].sort();
  }

  function allowed(policyNames: string[], op: Operation, path: string): boolean {
    // vault http/logical.go (buildLogicalRequestNoAuth): a LIST, or GET ?list=true, gets a
    // trailing "/" on its path before the request is routed and checked against ACLs.
    const aclPath = op === 'list' && !path.endsWith('/') ? `${path}/` : path;
    const caps = capabilitiesFor(policyNames, aclPath, op === 'list');
    return !caps.includes('deny') && caps.includes(op);
  }

  function needsSudo(token: StoredToken, path: string): boolean {
    return !capabilitiesFor(token.policies, path).includes('sudo');
  }

  // --- KV v2 ----------------------------------------------------------------

  // path_data.go KeyMetadata.AddVersion: the larger of the key's and the mount's
  // max_versions, or defaultMaxVersions (10) when both are 0.
  const effectiveMax = (entry: KvEntry) => Math.max(entry.maxVersions, kvConfig.maxVersions) || 10;

  // vault-plugin-secrets-kv path_data.go read: a version whose deletion_time has passed
  // (a soft delete, or created + delete_version_after) is a 404 carrying its metadata;
  // consul-template's vault_read.go deletedKVv2 then reports "no secret exists at …".
  // (Real Vault compares deletionTime.Before(now); `<=` makes a delete at this very
  // millisecond visible at once, which the emulator's shared clock needs.)
  function versionDeleted(v: KvVersion): boolean {
    return v.destroyed || (v.deletionTime !== null && v.deletionTime <= now());
  }

  function versionMeta(entry: KvEntry, n: number, v: KvVersion): Record<string, unknown> {
    return {
      created_time: iso(v.createdTime),
      custom_metadata: entry.customMetadata,
      deletion_time: v.deletionTime !== null ? iso(v.deletionTime) : '',
      destroyed: v.destroyed,
      version: n,
    };
  }

  function metadataBody(entry: KvEntry): Record<string, unknown> {
    const versions: Record<string, unknown> = {};
    for (const [n, v] of entry.versions) {
      versions[String(n)] = { created_time: iso(v.createdTime), deletion_time: v.deletionTime !== null ? iso(v.deletionTime) : '', destroyed: v.destroyed };
    }
    return {
      cas_required: entry.casRequired,
      created_time: iso(entry.createdTime),
      current_version: entry.currentVersion,
      custom_metadata: entry.customMetadata,
      delete_version_after: goDuration(entry.deleteVersionAfterSec),
      max_versions: entry.maxVersions,
      oldest_version: entry.oldestVersion,
      updated_time: iso(entry.updatedTime),
      versions,
    };
  }

  function newEntry(): KvEntry {
    return {
      versions: new Map(),
      currentVersion: 0,
      oldestVersion: 0,
      maxVersions: 0,
      casRequired: false,
      deleteVersionAfterSec: 0,
      customMetadata: null,
      createdTime: now(),
      updatedTime: now(),
    };
  }

  /**
   * vault-plugin-secrets-kv delete_version_after.go deletionTime: the smaller non-zero of
   * the mount's and the key's delete_version_after. Fixed when a version is written
   * (path_data.go); a later metadata write does not move existing versions'
   * deletion_time (path_metadata.go), so only a new version extends a secret's life.
   */
  function deleteAfterSec(entry: KvEntry): number {
    const mount = kvConfig.deleteVersionAfterSec;
    // delete_version_after.go IsDeleteVersionAfterDisabled: a negative mount setting (-1s) turns it off.
    if (mount < 0) return 0;
    const key = entry.deleteVersionAfterSec;
    if (mount > 0 && (key === 0 || key > mount)) return mount;
    return key;
  }

  function addVersion(entry: KvEntry, data: Record<string, unknown>): number {
    const n = entry.currentVersion + 1;
    const after = deleteAfterSec(entry);
    entry.versions.set(n, { data, createdTime: now(), deletionTime: after > 0 ? now() + after * 1000 : null, destroyed: false });
    entry.currentVersion = n;
    entry.updatedTime = now();
    // path_data.go AddVersion: once current - oldest reaches max_versions, every version up
    // to current - max goes and oldest moves past it (oldest_version stays 0 until then).
    const max = effectiveMax(entry);
    if (n - entry.oldestVersion >= max) {
      const toDelete = n - max;
      for (let i = entry.oldestVersion; i <= toDelete; i++) entry.versions.delete(i);
      entry.oldestVersion = toDelete + 1;
    }
    return n;
  }


  function kvList(prefix: string): string[] {
    const base = prefix === '' ? '' : prefix.endsWith('/') ? prefix : `${prefix}/`;
    const keys = new Set<string>();
    for (const path of kv.keys()) {
      if (!path.startsWith(base)) continue;
      const rest = path.slice(base.length);
      const slash = rest.indexOf('/');
      keys.add(slash === -1 ? rest : rest.slice(0, slash + 1));
    }
    return [...keys].filter((k) => k !== '').sort();
  }

  /**
   * path_metadata.go pathMetadataWrite (patch = false) and pathMetadataPatch (patch = true),
   * after field validation. A write naming none of the four settings is a no-op 204 that
   * creates nothing; custom_metadata is checked before anything is stored. A patch checks
   * only its own custom_metadata map (nulls are removals), then JSON-merge-patches it in.
   */
  function writeMetadata(key: string, body: Record<string, unknown>, patch: boolean): EmulatorResponse {
    if (key === '') return err(400, 'missing path');
    const has = (f: string) => f in body;
    let customMetadata: Record<string, string> | null | undefined;
    if (has('custom_metadata')) {
      const raw = decodeField('map', body['custom_metadata']);
      const map = raw.ok ? (raw.value as Record<string, unknown> | null) : null;
      if (map === null) {
        customMetadata = null; // GetOk of a null map: the zero value, an empty map
      } else {
        const parsed = parseCustomMetadata(map, patch);
        if (typeof parsed === 'string') return err(400, parsed);
        const problem = customMetadataError(parsed);
        if (problem) return err(400, problem);
        customMetadata = parsed;
      }
    }
    let entry = kv.get(key);
    if (patch) {
      // RespondWithStatusCode(nil, req, 404): a raw 404 with no body.
      if (!entry) return { status: 404 };
    } else {
      if (!has('max_versions') && !has('cas_required') && !has('delete_version_after') && !has('custom_metadata')) return noContent();
    }
    const warnings: string[] = [];
    const cas = has('cas_required') ? (decodeField('bool', body['cas_required']) as { value: boolean }).value : undefined;
    if (cas === false && kvConfig.casRequired) warnings.push(CAS_REQUIRED_WARNING);
    if (!entry) {
      entry = newEntry();
      kv.set(key, entry);
    }
    // uint32(maxRaw.(int)): a negative number wraps, as Go's conversion does.
    if (has('max_versions')) entry.maxVersions = (decodeField('int', body['max_versions']) as { value: number }).value >>> 0;
    if (cas !== undefined) entry.casRequired = cas;
    if (has('delete_version_after')) entry.deleteVersionAfterSec = (decodeField('durationSecond', body['delete_version_after']) as { value: number }).value;
    if (customMetadata !== undefined) {
      if (patch && customMetadata !== null) {
        const merged: Record<string, string> = { ...(entry.customMetadata ?? {}) };
        const patchMap = body['custom_metadata'] as Record<string, unknown>;
        for (const k of Object.keys(patchMap)) if (patchMap[k] === null) delete merged[k];
        Object.assign(merged, customMetadata);
        entry.customMetadata = Object.keys(merged).length > 0 ? merged : null;
      } else {
        entry.customMetadata = customMetadata && Object.keys(customMetadata).length > 0 ? customMetadata : null;
      }
    }
    return warnings.length > 0 ? ok(null, { warnings }) : noContent();
  }

  function handleKv(op: Operation, rest: string, section: string, key: string, body: Record<string, unknown>): EmulatorResponse {
    const entry = kv.get(key);
    // sdk/framework/backend.go route: the first of backend.go's Paths whose regex matches the
    // path below the mount: "config$", "data/" + `.*?[^/]$`, "metadata/" + `.*`,
    // "destroy/.*", "delete/.*", "undelete/.*" (subkeys/ is not emulated).
    const schema = KV_FIELDS[section];
    const routed = section === 'config' ? rest === 'config' : section === 'data' ? /^data\/.*[^/]$/.test(rest) : schema !== undefined && rest.startsWith(`${section}/`);
    // backend.go pathInvalid (".*", last): everything else, e.g. a v1-style "secret/foo".
    if (!routed) return kvInvalidPath(op, rest);
    const fieldError = fieldValidationError(body, schema!);
    switch (section) {
      case 'config': {
        // path_config.go: read and update (create) only.
        if (op === 'read') {
          if (fieldError) return err(400, fieldError);
          return ok({ cas_required: kvConfig.casRequired, delete_version_after: goDuration(kvConfig.deleteVersionAfterSec), max_versions: kvConfig.maxVersions });
        }
        if (op !== 'create' && op !== 'update') return unsupported();
        if (fieldError) return err(400, fieldError);
        const value = (f: string, t: FieldType) => (decodeField(t, body[f]) as { value: unknown }).value;
        if ('max_versions' in body) kvConfig.maxVersions = (value('max_versions', 'int') as number) >>> 0;
        if ('cas_required' in body) kvConfig.casRequired = value('cas_required', 'bool') as boolean;
        // A negative delete_version_after disables it (stored as -1s), 0 resets it.
        if ('delete_version_after' in body) {
          const dva = value('delete_version_after', 'signedDurationSecond') as number;
          kvConfig.deleteVersionAfterSec = dva < 0 ? -1 : dva;
        }
        return noContent();
      }
      case 'data': {
        // path_data.go: read, create/update (write), delete, patch; no list.
        if (op === 'list') return unsupported();
        if (fieldError) return err(400, fieldError);
        if (op === 'read') {
          // pathDataRead: no metadata, or no version of that number → nil → 404 with empty errors.
          if (!entry) return err(404);
          const wanted = (decodeField('int', body['version']) as { value: number }).value;
          const n = wanted > 0 ? wanted : entry.currentVersion;
          const v = entry.versions.get(n);
          if (!v) return err(404);
          const meta = versionMeta(entry, n, v);
          // A deleted or destroyed version: RespondWithStatusCode(resp, 404), the whole response with data null.
          if (versionDeleted(v)) return { status: 404, body: envelope({ data: null, metadata: meta }) };
          return ok({ data: v.data, metadata: meta }, { mountType: 'kv' });
        }
        if (op === 'delete') {
          // pathDataDelete: soft-deletes the current version unless it is already deleted or destroyed.
          const v = entry?.versions.get(entry.currentVersion);
          if (v && !v.destroyed && !versionDeleted(v)) v.deletionTime = now();
          return noContent();
        }
        if (!('data' in body)) return err(400, 'no data provided');
        const data = ((decodeField('map', body['data']) as { value: Record<string, unknown> | null }).value ?? {}) as Record<string, unknown>;
        if (op === 'patch') {
          // pathDataPatch: no metadata → raw 404 without a body; then CAS; then the current
          // version must be live, else a 404 carrying its version metadata.
          if (!entry) return { status: 404 };
          const casCheck = checkCas(entry, body);
          if (casCheck) return casCheck;
          const latest = entry.versions.get(entry.currentVersion);
          if (!latest) return { status: 404 };
          if (versionDeleted(latest)) return { status: 404, body: envelope(versionMeta(entry, entry.currentVersion, latest)) };
          const merged: Record<string, unknown> = { ...latest.data };
          for (const [k, v] of Object.entries(data)) {
            if (v === null) delete merged[k];
            else merged[k] = v;
          }
          const n = addVersion(entry, merged);
          return ok(versionMeta(entry, n, entry.versions.get(n)!));
        }
        // pathDataWrite (create / update)
        const target = entry ?? newEntry();
        const casCheck = checkCas(target, body);
        if (casCheck) return casCheck;
        if (!entry) kv.set(key, target);
        const n = addVersion(target, data);
        return ok(versionMeta(target, n, target.versions.get(n)!));
      }
      case 'metadata': {
        if (fieldError) return err(400, fieldError);
        if (op === 'list') {
          // pathMetadataList → logical.ListResponse; no keys → response_util.go RespondErrorCommon 404.
          const keys = kvList(key);
          if (keys.length === 0) return err(404);
          return ok({ keys });
        }
        if (op === 'read') {
          // pathMetadataRead: no metadata → nil → 404 with empty errors.
          if (!entry) return err(404);
          return ok(metadataBody(entry));
        }
        if (op === 'delete') {
          // pathMetadataDelete: every version and the metadata; nil either way → 204.
          kv.delete(key);
          return noContent();
        }
        return writeMetadata(key, body, op === 'patch');
      }
      case 'delete':
      case 'undelete':
      case 'destroy': {
        // path_delete.go / path_destroy.go: update (create) only.
        if (op !== 'create' && op !== 'update') return unsupported();
        if (fieldError) return err(400, fieldError);
        const versions = (decodeField('commaIntSlice', body['versions']) as { value: number[] }).value;
        // The texts differ in case between the files.
        if (versions.length === 0) return err(400, section === 'destroy' ? 'no version number provided' : 'No version number provided');
        if (!entry) return noContent();
        for (const n of versions) {
          const v = entry.versions.get(n); // uint64(verNum): a negative number is no version
          if (!v || v.destroyed) continue;
          if (section === 'delete' && !versionDeleted(v)) v.deletionTime = now();
          if (section === 'undelete') {
            // pathUndeleteWrite: deletion_time is cleared, then set again from delete_version_after counted from now.
            const after = deleteAfterSec(entry);
            v.deletionTime = after > 0 ? now() + after * 1000 : null;
          }
          if (section === 'destroy') {
            v.destroyed = true;
            v.data = {};
          }
        }
        return noContent();
      }
      default:
        return unsupported();
    }
  }

  /**
   * backend.go pathInvalid (vault-plugin-secrets-kv): a path no other regex matched, e.g.
   * v1-style "secret/foo" on a v2 mount, answers 404 with the hint as a warning
   * (RespondWithStatusCode on a response that carries the warning).
   */
  function kvInvalidPath(op: Operation, rest: string): EmulatorResponse {
    if (['metadata', 'data', 'delete', 'undelete', 'destroy'].includes(rest)) {
      return { status: 404, body: envelope(null, { warnings: ['Non-listing operations on the root of a K/V v2 mount are not supported.'] }) };
    }
    const sub = op === 'list' ? 'list' : op === 'read' ? 'get' : op === 'delete' ? 'delete' : op === 'patch' ? 'patch' : 'put';
    const warning = `Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate API endpoints to use. If using the Vault CLI, use 'vault kv ${sub}' for this operation.`;
    return { status: 404, body: envelope(null, { warnings: [warning] }) };
  }

  /** path_data.go validateCheckAndSetOption: options.cas weak-decoded to an int; present → must equal current_version. */
  function checkCas(entry: KvEntry, body: Record<string, unknown>): EmulatorResponse | null {
    const opts = (decodeField('map', body['options']) as { value: Record<string, unknown> | null }).value ?? {};
    if ('cas' in opts) {
      // A null cas decodes as 0 (mapstructure leaves the zero value), so it means "must not exist".
      const cas = weakInt(opts['cas']);
      if (!cas.ok) return err(400, 'error parsing check-and-set parameter');
      // uint64(cas) != meta.CurrentVersion: a negative cas never matches.
      if (cas.value !== entry.currentVersion) return err(400, 'check-and-set parameter did not match the current version');
      return null;
    }
    if (entry.casRequired || kvConfig.casRequired) return err(400, 'check-and-set parameter required for this call');
    return null;
  }

  // --- policies -------------------------------------------------------------

  // vault/logical_system.go handlePolicies{List,Read,Set,Delete} over vault/policy_store.go.
  // Errors from the policy store go through logical_system.go handleError: ErrorResponse +
  // ErrInvalidRequest, a 400 with the store's text.
  async function handlePolicy(op: Operation, method: string, legacy: boolean, name: string, body: Record<string, unknown>): Promise<EmulatorResponse> {
    // policy_store.go sanitizeName: strings.ToLower(strings.TrimSpace(name)), on set, get and delete.
    const lower = name.trim().toLowerCase();
    if (op === 'list' || (legacy && name === '' && method === 'GET')) {
      // ListPolicies: the stored names in storage order (sorted), without the non-assignable
      // ones, then handlePoliciesList appends "root" at the end (root namespace).
      const keys = [...[...policies.keys()].filter((k) => !NON_ASSIGNABLE_POLICIES.has(k)).sort(), 'root'];
      if (legacy) return { status: 200, body: { ...envelope({ keys, policies: keys }), keys, policies: keys } };
      return ok({ keys });
    }
    if (name === '') return unsupported();
    if (op === 'read') {
      // policy_store.go GetPolicy special-cases root: a policy with no text.
      if (lower === 'root') {
        const data = legacy ? { name: 'root', rules: '' } : { name: 'root', policy: '' };
        return { status: 200, body: { ...envelope(data), ...data } };
      }
      const p = policies.get(lower);
      if (!p) return err(404);
      const data = legacy ? { name: p.name, rules: p.text } : { name: p.name, policy: p.text };
      return { status: 200, body: { ...envelope(data), ...data } };
    }
    if (op === 'delete') {
      // policy_store.go DeletePolicy: the immutable ones by quoted name, default by its own text.
      if (IMMUTABLE_POLICIES.has(lower)) return err(400, `cannot delete "${lower}" policy`);
      if (lower === 'default') return err(400, 'cannot delete default policy');
      policies.delete(lower);
      return noContent();
    }
    if (op === 'patch') return unsupported();
    // The paths' fields (logical_system_paths.go policyPaths): name, policy, and on the legacy path rules, all TypeString.
    const fieldError = fieldValidationError(body, legacy ? { name: 'string', rules: 'string', policy: 'string' } : { name: 'string', policy: 'string' });
    if (fieldError) return err(400, fieldError);
    const str = (f: string) => (decodeField('string', body[f]) as { value: string }).value;
    const warnings: string[] = [];
    let raw = str('policy');
    // handlePoliciesSet: on sys/policy/ an empty policy falls back to rules, with the warning.
    if (legacy && raw === '') {
      raw = str('rules');
      warnings.push("'rules' is deprecated, please use 'policy' instead");
    }
    if (raw === '') return err(400, "'policy' parameter not supplied or empty");
    const text = decodePolicyText(raw);
    let rules: PolicyRule[];
    try {
      rules = await parsePolicy(text);
    } catch (e) {
      return err(400, (e as Error).message);
    }
    // policy_store.go SetPolicy: the immutable policies cannot be written (checked after parsing).
    if (IMMUTABLE_POLICIES.has(lower)) return err(400, `cannot update "${lower}" policy`);
    policies.set(lower, { name: lower, text, rules });
    if (warnings.length > 0) return ok(null, { warnings });
    return noContent();
  }

  // --- JWT auth roles -------------------------------------------------------

  // vault-plugin-auth-jwt path_role.go pathRole Fields, plus sdk/helper/tokenutil TokenFields.
  const ROLE_FIELDS: Record<string, FieldType> = {
    name: 'lowerCaseString',
    role_type: 'string',
    policies: 'commaStringSlice',
    num_uses: 'int',
    ttl: 'durationSecond',
    max_ttl: 'durationSecond',
    period: 'durationSecond',
    bound_cidrs: 'commaStringSlice',
    expiration_leeway: 'signedDurationSecond',
    not_before_leeway: 'signedDurationSecond',
    clock_skew_leeway: 'signedDurationSecond',
    bound_subject: 'string',
    bound_audiences: 'commaStringSlice',
    bound_claims_type: 'string',
    bound_claims: 'map',
    claim_mappings: 'kvPairs',
    user_claim: 'string',
    user_claim_json_pointer: 'bool',
    groups_claim: 'string',
    oidc_scopes: 'commaStringSlice',
    allowed_redirect_uris: 'commaStringSlice',
    verbose_oidc_logging: 'bool',
    max_age: 'durationSecond',
    token_bound_cidrs: 'commaStringSlice',
    token_explicit_max_ttl: 'durationSecond',
    token_max_ttl: 'durationSecond',
    token_no_default_policy: 'bool',
    token_period: 'durationSecond',
    token_policies: 'commaStringSlice',
    token_type: 'string',
    token_ttl: 'durationSecond',
    token_num_uses: 'int',
  };

  /** A new role as path_role.go's `new(jwtRole)` reads back: Go zero values (nil slices and maps are null). */
  function emptyRole(): Record<string, unknown> {
    return {
      role_type: 'oidc',
      expiration_leeway: 0,
      not_before_leeway: 0,
      clock_skew_leeway: 0,
      bound_audiences: null,
      bound_subject: '',
      bound_claims_type: 'string',
      bound_claims: null,
      claim_mappings: null,
      user_claim: '',
      user_claim_json_pointer: false,
      groups_claim: '',
      allowed_redirect_uris: null,
      oidc_scopes: null,
      verbose_oidc_logging: false,
      max_age: 0,
      // tokenutil PopulateTokenData
      token_bound_cidrs: [],
      token_explicit_max_ttl: 0,
      token_max_ttl: 0,
      token_no_default_policy: false,
      token_period: 0,
      token_policies: [],
      token_type: 'default',
      token_ttl: 0,
      token_num_uses: 0,
    };
  }

  /** sdk/helper/policyutil ParsePolicies: trimmed, lower-cased, de-duplicated, sorted, empties dropped. */
  const parsePolicies = (list: string[]) => [...new Set(list.map((p) => p.trim().toLowerCase()).filter((p) => p !== ''))].sort();

  /**
   * path_role.go pathRoleCreateUpdate on top of the stored role (or a new one): only the
   * fields the request names change, except role_type (absent → "oidc") and
   * bound_claims_type (absent → its default "string"), which data.Get resets on every write.
   * Returns the role to store and the response's warnings, or the 400 text.
   */
  function validateRole(body: Record<string, unknown>, existing: Record<string, unknown> | undefined): { role: Record<string, unknown>; warnings: string[] } | string {
    const fieldError = fieldValidationError(body, ROLE_FIELDS);
    if (fieldError) return fieldError;
    const given = (f: string) => f in body;
    const get = <T>(f: string, fallback: T): T => (given(f) ? ((decodeField(ROLE_FIELDS[f]!, body[f]) as { value: T }).value ?? fallback) : fallback);
    const role: Record<string, unknown> = { ...(existing ? structuredClone(existing) : emptyRole()) };
    delete role['policies'];
    const roleType = get<string>('role_type', '') || 'oidc';
    if (roleType !== 'jwt' && roleType !== 'oidc') return `invalid 'role_type': ${roleType}`;
    role['role_type'] = roleType;
    // tokenutil ParseTokenFields (errors: ErrorResponse + ErrInvalidRequest, a 400).
    for (const f of ['token_bound_cidrs', 'token_explicit_max_ttl', 'token_max_ttl', 'token_no_default_policy', 'token_period', 'token_policies', 'token_num_uses', 'token_ttl']) {
      if (given(f)) role[f] = get(f, null);
    }
    if (given('token_type')) {
      const t = get<string>('token_type', '');
      const types: Record<string, string> = { '': 'default', default: 'default', service: 'service', batch: 'batch' };
      if (!(t in types)) return `invalid 'token_type' value ${JSON.stringify(t)}`;
      role['token_type'] = types[t];
    }
    const n = (f: string) => role[f] as number;
    if (role['token_type'] === 'batch') {
      if (n('token_period') !== 0) return "'token_type' cannot be 'batch' or 'default_batch' when set to generate periodic tokens";
      if (n('token_num_uses') !== 0) return "'token_type' cannot be 'batch' or 'default_batch' when set to generate tokens with limited use count";
    }
    if (n('token_num_uses') < 0) return "'token_num_uses' cannot be negative";
    if (n('token_ttl') > 0 && n('token_max_ttl') > 0 && n('token_ttl') > n('token_max_ttl')) return "'token_ttl' cannot be greater than 'token_max_ttl'";
    // tokenutil UpgradeValue: a legacy field fills its token_ one when that is absent, and is read back.
    const legacy: string[] = [];
    for (const [old, now] of [['policies', 'token_policies'], ['bound_cidrs', 'token_bound_cidrs'], ['num_uses', 'token_num_uses'], ['ttl', 'token_ttl'], ['max_ttl', 'token_max_ttl'], ['period', 'token_period']] as const) {
      if (!given(now) && given(old)) {
        const v = get(old, null);
        role[now] = old === 'policies' ? parsePolicies(v as unknown as string[]) : v;
        legacy.push(old);
      }
    }
    for (const f of ['expiration_leeway', 'not_before_leeway', 'clock_skew_leeway', 'bound_audiences', 'bound_subject', 'verbose_oidc_logging', 'max_age']) {
      if (given(f)) role[f] = get(f, null);
    }
    const boundClaimsType = get<string>('bound_claims_type', '') || 'string';
    if (boundClaimsType !== 'string' && boundClaimsType !== 'glob') return `invalid 'bound_claims_type': ${boundClaimsType}`;
    role['bound_claims_type'] = boundClaimsType;
    if (given('bound_claims')) {
      const claims = get<Record<string, unknown> | null>('bound_claims', null) ?? {};
      role['bound_claims'] = claims;
      // Only a glob role's claims are checked: each a string or a list of strings (claims.go normalizeList).
      if (boundClaimsType === 'glob') {
        for (const v of Object.values(claims)) {
          const list = Array.isArray(v) ? v : typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? [v] : null;
          if (!list) return `claim is not a string or list: ${goValue(v)}`;
          for (const item of list) if (typeof item !== 'string') return `claim is not a string: ${goValue(item)}`;
        }
      }
    }
    if (given('claim_mappings')) {
      const mappings = get<Record<string, string>>('claim_mappings', {});
      // backend.go reservedMetadata = ["role"]
      const targets = new Set<string>();
      for (const target of Object.values(mappings)) {
        if (target === 'role') return `metadata key "role" is reserved and may not be a mapping destination`;
        if (targets.has(target)) return `multiple keys are mapped to metadata key "${target}"`;
        targets.add(target);
      }
      role['claim_mappings'] = mappings;
    }
    if (given('user_claim')) role['user_claim'] = get('user_claim', '');
    if (role['user_claim'] === '') return 'a user claim must be defined on the role';
    for (const f of ['user_claim_json_pointer', 'groups_claim', 'oidc_scopes', 'allowed_redirect_uris']) {
      if (given(f)) role[f] = get(f, null);
    }
    const list = (f: string) => (Array.isArray(role[f]) ? (role[f] as unknown[]) : []);
    if (roleType === 'oidc' && list('allowed_redirect_uris').length === 0) return "'allowed_redirect_uris' must be set if 'role_type' is 'oidc' or unspecified.";
    if (roleType !== 'oidc' && list('bound_audiences').length === 0 && list('token_bound_cidrs').length === 0 && role['bound_subject'] === '' && Object.keys((role['bound_claims'] as object | null) ?? {}).length === 0) {
      return 'must have at least one bound constraint when creating/updating a role';
    }
    // pathRoleRead: the legacy fields are read back only when they were the ones set.
    if (legacy.includes('policies')) role['policies'] = role['token_policies'];
    const warnings: string[] = [];
    if (role['verbose_oidc_logging'] === true) {
      warnings.push('verbose_oidc_logging has been enabled for this role. This is not recommended in production since sensitive information may be present in OIDC responses.');
    }
    return { role, warnings };
  }

  function handleJwtRole(op: Operation, mount: string, rawName: string, body: Record<string, unknown>): EmulatorResponse {
    const store = roles.get(mount)!;
    // path_role.go pathRole: "role/" + framework.GenericNameRegex("name"); pathRoleList: "role/?" (list only).
    if (rawName === '') return op === 'list' ? (store.size === 0 ? err(404) : ok({ keys: [...store.keys()].sort() })) : unsupported();
    if (!/^\w(([\w.-]+)?\w)?$/.test(rawName)) return unsupportedPath();
    const name = rawName.toLowerCase(); // "name" is TypeLowerCaseString
    if (op === 'list') return unsupported();
    if (op === 'read') {
      // pathRoleRead: no role → nil → 404 with empty errors.
      const role = store.get(name);
      return role ? ok(structuredClone(role)) : err(404);
    }
    if (op === 'delete') {
      store.delete(name);
      return noContent();
    }
    if (op === 'patch') return unsupported();
    const result = validateRole(body, store.get(name));
    if (typeof result === 'string') return err(400, result);
    store.set(name, result.role);
    // pathRoleCreateUpdate answers nil (204) unless it has warnings of its own.
    return withIgnoredParams(result.warnings.length > 0 ? ok(null, { warnings: result.warnings }) : noContent(), body, ROLE_FIELDS);
  }

  // --- JWT auth config and login -------------------------------------------

  /** A JWKS (or other JSON) the mount needs, bounded: a hung Nomad must not hang Vault. */
  async function fetchJson(url: string): Promise<unknown> {
    const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
    if (!res.ok) throw new Error(`${res.status}`);
    return res.json();
  }

  async function handleJwtConfig(op: Operation, mount: string, body: unknown): Promise<EmulatorResponse> {
    if (op === 'read') {
      const config = jwtConfigs.get(mount);
      return config ? ok({ ...config }) : err(404);
    }
    if (op !== 'create' && op !== 'update') return unsupported();
    const result = await validateJwtConfig(isPlainObject(body) ? body : {}, fetchJson);
    if (typeof result === 'string') return err(400, result);
    jwtConfigs.set(mount, result);
    return noContent();
  }

  /** path_login.go pathLogin; the token it issues follows the role's token_* fields (tokenutil). */
  async function handleJwtLogin(mount: string, body: Record<string, unknown>): Promise<EmulatorResponse> {
    const config = jwtConfigs.get(mount);
    if (!config) return err(400, 'could not load configuration');
    const roleName = (typeof body['role'] === 'string' && body['role'] !== '' ? body['role'] : config.default_role).toLowerCase();
    if (roleName === '') return err(400, 'missing role');
    const role = roles.get(mount)!.get(roleName);
    if (!role) return err(400, `role "${roleName}" could not be found`);
    const grant = await checkJwtLogin({ config, roleName, role, jwt: body['jwt'], nowMs: now(), fetchJson });
    if (typeof grant === 'string') return err(400, grant);
    const tokenPolicies = (role['token_policies'] as string[]).map((p) => p.toLowerCase());
    const period = role['token_period'] as number;
    const ttl = role['token_ttl'] as number;
    const t = issueToken(null, {
      policies: [...new Set([...(role['token_no_default_policy'] === true ? [] : ['default']), ...tokenPolicies])].sort(),
      // A periodic token lives one period per renewal; otherwise token_ttl, else the mount default (768h).
      ttlSec: period > 0 ? period : ttl > 0 ? ttl : 768 * 3600,
      meta: grant.metadata,
      displayName: `${mount.replace(/\//g, '-')}-${grant.displayName}`,
      renewable: true,
      numUses: (role['token_num_uses'] as number) ?? 0,
    });
    return ok(null, { auth: authBlock(t) });
  }

  // --- token endpoints ------------------------------------------------------

  /**
   * sdk/helper/policyutil SanitizePolicies: trimmed and lower-cased, empties dropped, root
   * alone when present, "default" added when asked (unless root), de-duplicated and sorted.
   */
  function sanitizePolicies(list: string[], addDefault: boolean): string[] {
    let out = list.map((p) => p.trim().toLowerCase()).filter((p) => p !== '');
    if (out.includes('root')) out = ['root'];
    if (addDefault && !out.includes('root') && !out.includes('default')) out.push('default');
    return [...new Set(out)].sort();
  }

  function tokenData(t: StoredToken, forAccessor = false): Record<string, unknown> {
    const ttl = t.expiresAt === null ? 0 : Math.max(0, Math.round((t.expiresAt - now()) / 1000));
    return {
      accessor: t.accessor,
      creation_time: Math.floor(t.createdAt / 1000),
      creation_ttl: t.ttlSec,
      display_name: t.displayName,
      entity_id: '',
      expire_time: t.expiresAt === null ? null : iso(t.expiresAt),
      explicit_max_ttl: 0,
      id: forAccessor ? '' : t.id,
      issue_time: iso(t.createdAt),
      meta: t.meta,
      num_uses: t.numUses,
      orphan: t.parent === null,
      path: 'auth/token/create',
      policies: t.policies,
      renewable: t.renewable,
      ttl,
      type: 'service',
    };
  }

  function authBlock(t: StoredToken): Record<string, unknown> {
    return {
      client_token: t.id,
      accessor: t.accessor,
      policies: t.policies,
      token_policies: t.policies,
      metadata: t.meta,
      lease_duration: t.ttlSec,
      renewable: t.renewable,
      entity_id: '',
      token_type: 'service',
      orphan: t.parent === null,
      mfa_requirement: null,
      num_uses: t.numUses,
    };
  }

  function handleToken(op: Operation, action: string, caller: StoredToken, body: unknown): EmulatorResponse {
    const args = isPlainObject(body) ? body : {};
    if (action === 'lookup-self') {
      if (op !== 'read' && op !== 'update' && op !== 'create') return unsupported();
      return ok(tokenData(caller));
    }
    if (op !== 'create' && op !== 'update') return unsupported();
    switch (action) {
      case 'create':
      case 'create-orphan': {
        // vault/token_store.go handleCreateCommon (no role), request decoded with mapstructure.WeakDecode.
        const isSudo = caller.policies.includes('root') || !needsSudo(caller, `auth/token/${action}`);
        const raw = args['policies'];
        const requested = raw === undefined || raw === null ? [] : Array.isArray(raw) ? raw.map(String) : [String(raw)];
        const noDefault = args['no_default_policy'] === true;
        const parentHasDefault = caller.policies.includes('default');
        let wanted: string[];
        let addDefault = false;
        if (requested.length === 0) {
          // No policies: the parent's (default only if the parent has it).
          wanted = sanitizePolicies(caller.policies, false);
        } else if (!isSudo) {
          wanted = sanitizePolicies(requested, false);
          const parent = sanitizePolicies(caller.policies, false);
          if (!wanted.every((p) => parent.includes(p))) return err(400, 'child policies must be subset of parent');
          addDefault = !noDefault && parentHasDefault;
        } else {
          wanted = requested;
          addDefault = !noDefault;
        }
        let finalPolicies = sanitizePolicies(wanted, addDefault);
        if (noDefault) finalPolicies = finalPolicies.filter((p) => p !== 'default');
        for (const p of finalPolicies) if (NON_ASSIGNABLE_POLICIES.has(p)) return err(400, `cannot assign policy "${p}"`);
        const isRootToken = finalPolicies.includes('root');
        if (isRootToken && !caller.policies.includes('root')) return err(400, 'root tokens may not be created without parent token being root');
        if (action === 'create' && args['no_parent'] === true && !isSudo) return err(400, 'root or sudo privileges required to create orphan token');
        let periodSec = 0;
        if (args['period'] !== undefined && args['period'] !== '') {
          const period = durationSecond(args['period']);
          if (!period.ok) return err(400, period.reason);
          if (period.value < 0) return err(400, 'period must be positive');
          if (period.value > 0 && !isSudo) return err(400, 'root or sudo privileges required to create periodic token');
          periodSec = period.value;
        }
        let ttlSec = 0;
        if (args['ttl'] !== undefined && args['ttl'] !== '') {
          const ttl = durationSecond(args['ttl']);
          if (!ttl.ok) return err(400, ttl.reason);
          if (ttl.value < 0) return err(400, 'ttl must be positive');
          ttlSec = ttl.value;
        }
        const numUses = typeof args['num_uses'] === 'number' ? args['num_uses'] : 0;
        if (numUses < 0) return err(400, 'number of uses cannot be negative');
        // framework.CalculateTTL against the system defaults (768h default and max lease TTL):
        // a periodic token lives one period; a root token without a ttl never expires.
        const MAX_TTL = 768 * 3600;
        if (periodSec > 0) ttlSec = Math.min(periodSec, MAX_TTL);
        else if (ttlSec > 0 || !isRootToken) ttlSec = Math.min(ttlSec || MAX_TTL, MAX_TTL);
        if (ttlSec === 0 && caller.ttlSec !== 0) return err(400, 'expiring root tokens cannot create non-expiring root tokens');
        const meta = isPlainObject(args['meta']) ? (args['meta'] as Record<string, string>) : null;
        const orphan = action === 'create-orphan' || args['no_parent'] === true;
        const t = issueToken(orphan ? null : caller, {
          policies: finalPolicies,
          ttlSec,
          meta,
          displayName: `token${typeof args['display_name'] === 'string' && args['display_name'] !== '' ? `-${args['display_name']}` : ''}`,
          // Non-expiring (root) tokens are not advertised as renewable.
          renewable: ttlSec !== 0 && args['renewable'] !== false,
          numUses,
        });
        const warnings = finalPolicies.filter((p) => p !== 'root' && !policies.has(p)).map((p) => `Policy "${p}" does not exist`);
        return ok(null, { auth: authBlock(t), warnings });
      }
      case 'lookup': {
        // token_store.go handleLookup: no token given → the caller's own; unknown → "bad token"
        // with ErrPermissionDenied (403).
        const id = typeof args['token'] === 'string' && args['token'] !== '' ? args['token'] : caller.id;
        const t = liveToken(id);
        return t ? ok(tokenData(t)) : err(403, 'bad token');
      }
      case 'lookup-accessor': {
        const t = [...tokens.values()].find((x) => x.accessor === args['accessor']);
        return t ? ok(tokenData(t, true)) : err(400, 'invalid accessor');
      }
      case 'renew-self': {
        if (!caller.renewable || caller.ttlSec === 0) return err(400, 'lease is not renewable');
        const inc = parseVaultDuration(args['increment'] ?? caller.ttlSec) ?? caller.ttlSec;
        caller.ttlSec = inc;
        caller.expiresAt = now() + inc * 1000;
        return ok(null, { auth: authBlock(caller) });
      }
      case 'revoke': {
        // token_store.go handleRevokeTree: the token is required; an unknown one is a no-op 204 (revokeCommon).
        if (typeof args['token'] !== 'string' || args['token'] === '') return err(400, 'missing token ID');
        revokeToken(args['token']);
        return noContent();
      }
      case 'revoke-self':
        revokeToken(caller.id);
        return noContent();
      case 'revoke-accessor': {
        const t = [...tokens.values()].find((x) => x.accessor === args['accessor']);
        if (t) revokeToken(t.id);
        return noContent();
      }
      default:
        return noHandler(`auth/token/${action}`);
    }
  }

  // --- health ---------------------------------------------------------------

  /**
   * http/sys_health.go getSysHealth: each *code parameter is strconv.Atoi'd (one that does not
   * parse is a 400 with no body text, as is a standbyok / perfstandbyok that is not a bool);
   * the cluster name and ID are left out while sealed (omitempty). HEAD answers the code only.
   */
  function handleHealth(req: EmulatorRequest): EmulatorResponse {
    for (const flag of ['standbyok', 'perfstandbyok']) {
      const v = req.query.get(flag);
      if (v !== null && !(v in GO_BOOL_WORDS)) return req.method === 'HEAD' ? { status: 400 } : err(400);
    }
    const codes: Record<string, number> = {};
    for (const [param, fallback] of [['uninitcode', 501], ['sealedcode', 503], ['standbycode', 429], ['activecode', 200], ['drsecondarycode', 472], ['performancestandbycode', 473]] as const) {
      const v = req.query.get(param);
      if (v !== null && !/^[+-]?\d+$/.test(v)) return req.method === 'HEAD' ? { status: 400 } : err(400);
      codes[param] = v !== null ? Number(v) : fallback;
    }
    const status = state.sealed ? codes['sealedcode']! : codes['activecode']!;
    const body = {
      initialized: true,
      sealed: state.sealed,
      standby: false,
      performance_standby: false,
      replication_performance_mode: 'disabled',
      replication_dr_mode: 'disabled',
      server_time_utc: Math.floor(now() / 1000),
      version: '1.16.0',
      enterprise: false,
      ...(state.sealed ? {} : { cluster_name: 'vault-cluster-emulated', cluster_id: '995f749a-0000-4000-8000-000000000000' }),
      echo_duration_ms: 0,
      clock_skew_ms: 0,
    };
    return { status, body: req.method === 'HEAD' ? undefined : body };
  }

  // --- routing --------------------------------------------------------------

  type HttpOp = 'read' | 'list' | 'delete' | 'update' | 'patch';
  const GO_BOOL_WORDS: Record<string, boolean> = { '1': true, t: true, T: true, TRUE: true, true: true, True: true, '0': false, f: false, F: false, FALSE: false, false: false, False: false };

  /** http/logical.go parseQuery: each query parameter is a request field, a list when repeated. */
  function queryData(query: URLSearchParams, skip?: string): Record<string, unknown> {
    const data: Record<string, unknown> = {};
    for (const k of new Set(query.keys())) {
      if (k === skip) continue;
      const all = query.getAll(k);
      data[k] = all.length === 1 ? all[0] : all;
    }
    return data;
  }

  /**
   * http/logical.go buildLogicalRequestNoAuth: the operation and the request fields, or
   * the error answer. GET ?list= is strconv.ParseBool (an unknown word is a 400 with no
   * error text) and a list path gains a trailing "/"; GET, DELETE and LIST take their fields
   * from the query; POST/PUT/PATCH from a JSON object ("error parsing JSON" otherwise);
   * PATCH needs Content-Type application/merge-patch+json (415); other methods are a 405.
   */
  function buildRequest(req: EmulatorRequest, apiPath: string): { op: HttpOp; path: string; body: Record<string, unknown> } | EmulatorResponse {
    let op: HttpOp;
    let path = apiPath;
    let body: Record<string, unknown> = {};
    switch (req.method) {
      case 'DELETE':
        op = 'delete';
        body = queryData(req.query);
        break;
      case 'GET':
      case 'HEAD': {
        // HEAD is Vault's HeaderOperation; the emulator answers it as a read.
        op = 'read';
        const list = req.query.get('list');
        if (req.method === 'GET' && list !== null && list !== '') {
          const value = GO_BOOL_WORDS[list];
          if (value === undefined) return err(400);
          if (value) {
            op = 'list';
            if (!path.endsWith('/')) path += '/';
          }
        }
        body = queryData(req.query, op === 'list' ? 'list' : undefined);
        break;
      }
      case 'LIST':
        op = 'list';
        if (!path.endsWith('/')) path += '/';
        body = queryData(req.query);
        break;
      case 'POST':
      case 'PUT':
      case 'PATCH': {
        op = req.method === 'PATCH' ? 'patch' : 'update';
        if (op === 'patch') {
          const header = String(req.headers['content-type'] ?? '');
          const mediaType = header.split(';')[0]!.trim().toLowerCase();
          // mime.ParseMediaType: an empty header is "mime: no media type" (400).
          if (mediaType === '') return err(400, 'mime: no media type');
          if (mediaType !== 'application/merge-patch+json') {
            return err(415, `PATCH requires Content-Type of application/merge-patch+json, provided ${mediaType}`);
          }
        }
        const parsed = req.json();
        // parseJSONRequest decodes into a map: invalid JSON, or JSON that is not an object (null aside), fails.
        if (parsed instanceof SyntaxError || (parsed !== undefined && parsed !== null && !isPlainObject(parsed))) return err(400, 'error parsing JSON');
        body = (parsed as Record<string, unknown> | null | undefined) ?? {};
        break;
      }
      default:
        return err(405);
    }
    return { op, path, body };
  }

  /** The ACL operation: POST/PUT is create or update by the path's existence check (vault/request_handling.go CheckToken). */
  function aclOperation(op: HttpOp, apiPath: string): Operation {
    if (op === 'update') return exists(apiPath) ? 'update' : 'create';
    return op;
  }

  /** `<kvMount>/<section>/<key>` (section: data, metadata, delete, …); rest is the path below the mount. null outside the KV mount. */
  function kvPathOf(apiPath: string): { rest: string; section: string; key: string } | null {
    const kvPrefix = `${kvMount}/`;
    if (!apiPath.startsWith(kvPrefix)) return null;
    const rest = apiPath.slice(kvPrefix.length);
    const slash = rest.indexOf('/');
    return slash === -1 ? { rest, section: rest, key: '' } : { rest, section: rest.slice(0, slash), key: rest.slice(slash + 1) };
  }

  /** Vault's ExistenceCheck: POST on an existing object needs `update`, on a new one `create`. */
  function exists(apiPath: string): boolean {
    const kvPath = kvPathOf(apiPath);
    if (kvPath) {
      const { section, key } = kvPath;
      // path_data.go dataExistenceCheck and path_metadata.go metadataExistenceCheck: both
      // ask whether the key's metadata exists (a metadata-only key makes a data write an update).
      if (section === 'data' || section === 'metadata') return kv.has(key);
      return true;
    }
    // vault/logical_system_paths.go: sys/policies/acl/<name> and sys/policy/<name> declare no
    // ExistenceCheck, so every write is an update, new policy or not.
    const m = /^auth\/(.+)\/role\/([^/]+)$/.exec(apiPath);
    if (m) return roles.get(m[1]!)?.has(m[2]!.toLowerCase()) ?? false;
    return true; // paths without an existence check are "update"
  }

  async function handle(req: EmulatorRequest): Promise<EmulatorResponse> {
    if (!req.path.startsWith('/v1/')) return err(404);
    let apiPath = req.path.slice(4);
    if (apiPath === 'sys/health') {
      // http/sys_health.go handleSysHealth: GET and HEAD only, else a 405 with no text.
      if (req.method !== 'GET' && req.method !== 'HEAD') return err(405);
      return handleHealth(req);
    }
    // vault/request_handling.go switchedLockHandleRequest: consts.ErrSealed ("Vault is sealed"),
    // which sdk/logical/response_util.go AdjustErrorStatusCode turns into a 503.
    if (state.sealed) return err(503, 'Vault is sealed');
    const built = buildRequest(req, apiPath);
    if (!('op' in built)) return built;
    apiPath = built.path;
    const body = built.body;
    // vault/request_handling.go handleCancelableRequest, before the token is looked at:
    // no write (update, create, patch) to a path ending in "/".
    if (apiPath.endsWith('/') && (built.op === 'update' || built.op === 'patch')) return err(400, "cannot write to a path ending in '/'");
    const ns = req.headers['x-vault-namespace'];
    // vault/request_handling.go handleCancelableRequest (OSS): a namespace other than root is
    // logical.CodedError(403, "namespaces feature not enabled").
    if (typeof ns === 'string' && ns !== '' && ns !== 'root' && ns !== 'root/') return err(403, 'namespaces feature not enabled');

    // Logins are unauthenticated paths (the plugin's PathsSpecial.Unauthenticated: "login").
    const login = /^auth\/(.+)\/login$/.exec(apiPath);
    if (login && jwtMounts.has(login[1]!)) {
      if (built.op !== 'update') return unsupported();
      return handleJwtLogin(login[1]!, body);
    }

    const caller = liveToken(tokenRequest(req));
    if (!caller) return permissionDenied();

    // Unauthenticated in the system backend's PathsSpecial; the handler checks the caller's ACL itself.
    const uiMount = /^sys\/internal\/ui\/mounts\/(.+)$/.exec(apiPath);
    if (uiMount) {
      if (req.method !== 'GET') return unsupported();
      const mounts = [{ path: `${kvMount}/`, type: 'kv', options: { version: options.kvVersion ?? '2' } }, ...[...jwtMounts].map((m) => ({ path: `auth/${m}/`, type: 'jwt', options: null }))];
      const rules = caller.policies.flatMap((n) => policies.get(n.toLowerCase())?.rules ?? []);
      return internalUiMount(uiMount[1]!, mounts, (mp) => hasMountAccess(mp, caller.policies, rules, capabilitiesFor), (d) => ok(d), (msg) => err(403, msg));
    }

    const op = aclOperation(built.op, apiPath);

    // ACL: token self-management is granted by the default policy; everything else by policies.
    if (!allowed(caller.policies, op, apiPath)) return aclDenied();

    const kvPath = kvPathOf(apiPath);
    if (kvPath) {
      const res = handleKv(op, kvPath.rest, kvPath.section, kvPath.key, body);
      const schema = KV_FIELDS[kvPath.section];
      return schema ? withIgnoredParams(res, body, schema) : res;
    }
    const sys = { kvMount, kvVersion: options.kvVersion ?? '2', jwtMounts };
    if (apiPath === 'sys/mounts') return op === 'read' ? sysMounts(sys, (d) => ok(d)) : unsupported();
    if (apiPath === 'sys/auth') return op === 'read' ? sysAuth(sys, (d) => ok(d)) : unsupported();
    if (apiPath === 'sys/capabilities-self') {
      return op === 'update' || op === 'create' ? capabilitiesSelf(body, caller.policies, capabilitiesFor, (d) => ok(d), (msg) => err(400, msg)) : unsupported();
    }
    let m = /^sys\/policies\/acl(?:\/(.*))?$/.exec(apiPath);
    if (m) return withIgnoredParams(await handlePolicy(op, req.method, false, m[1] ?? '', body), body, { name: 1, policy: 1 });
    m = /^sys\/policy(?:\/(.*))?$/.exec(apiPath);
    if (m) return withIgnoredParams(await handlePolicy(op, req.method, true, m[1] ?? '', body), body, { name: 1, rules: 1, policy: 1 });
    m = /^auth\/token\/([a-z-]+)$/.exec(apiPath);
    if (m) return handleToken(op, m[1]!, caller, body);
    m = /^auth\/(.+?)\/role(?:\/([^/]*))?\/?$/.exec(apiPath);
    if (m && roles.has(m[1]!)) return handleJwtRole(op, m[1]!, m[2] ?? '', body);
    m = /^auth\/(.+)\/config$/.exec(apiPath);
    if (m && jwtMounts.has(m[1]!)) return handleJwtConfig(op, m[1]!, body);
    // vault/router.go: no mount matches (or a mounted auth path the emulator does not route).
    return noHandler(apiPath);
  }

  const emulator = await startEmulator({
    name: 'vault',
    handler: handle,
    randomErrorBody: errorBody('1 error occurred:\n\t* internal error\n\n'),
    port: options.port,
  });

  function view(path: string, entry: KvEntry): VaultSecretView {
    const latest = entry.versions.get(entry.currentVersion);
    return {
      path,
      currentVersion: entry.currentVersion,
      customMetadata: entry.customMetadata ? { ...entry.customMetadata } : null,
      deleteVersionAfterSec: entry.deleteVersionAfterSec,
      data: latest && !versionDeleted(latest) ? { ...latest.data } : null,
      versions: [...entry.versions].map(([version, v]) => ({ version, deleted: v.deletionTime !== null && v.deletionTime <= now(), destroyed: v.destroyed })),
    };
  }

  // defineProperty, not Object.assign: assign would copy the getter's value once.
  Object.defineProperty(emulator, 'sealed', {
    get: () => state.sealed,
    set: (value: boolean) => {
      state.sealed = value;
    },
    enumerable: true,
  });
  return Object.assign(emulator, {
    rootToken: options.rootToken,
    kvMount,
    now,
    advance(ms: number) {
      offset += ms;
    },
    createToken(policyNames: string[], opts: { ttlSec?: number } = {}) {
      const names = [...new Set(['default', ...policyNames.map((p) => p.toLowerCase())])].sort();
      return issueToken(null, { policies: names, ttlSec: opts.ttlSec ?? 3600, meta: null, displayName: 'token-test', renewable: true, numUses: 0 }).id;
    },
    capabilities: capabilitiesFor,
    allowed,
    secret(path: string) {
      const entry = kv.get(path);
      return entry ? view(path, entry) : null;
    },
    secrets() {
      return [...kv].map(([path, entry]) => view(path, entry));
    },
    policy(name: string) {
      return policies.get(name.toLowerCase())?.text ?? null;
    },
    policyNames() {
      return [...policies.keys()].sort();
    },
    jwtRole(name: string, mount = [...jwtMounts][0] ?? 'jwt-nomad') {
      const role = roles.get(mount)?.get(name);
      return role ? structuredClone(role) : null;
    },
    jwtConfig(mount = [...jwtMounts][0] ?? 'jwt-nomad') {
      const config = jwtConfigs.get(mount);
      return config ? structuredClone(config) : null;
    },
    jwtRoles(mount = [...jwtMounts][0] ?? 'jwt-nomad') {
      return Object.fromEntries([...(roles.get(mount) ?? new Map<string, Record<string, unknown>>())].map(([k, v]) => [k, structuredClone(v)]));
    },
  }) as VaultEmulator;
}

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
import { capabilitiesSelf, hasMountAccess, internalUiMount, sysAuth, sysMounts } from './vault-sys.js';
import { startEmulator, type Emulator, type EmulatorRequest, type EmulatorResponse } from './harness.js';

// ---------------------------------------------------------------------------
// Types and state

export type Capability = 'create' | 'read' | 'update' | 'patch' | 'delete' | 'list' | 'sudo' | 'deny';
const CAPABILITIES = new Set<Capability>(['create', 'read', 'update', 'patch', 'delete', 'list', 'sudo', 'deny']);

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

const errorBody = (...errors: string[]) => ({ errors });
const err = (status: number, ...errors: string[]): EmulatorResponse => ({ status, body: errorBody(...errors) });
const permissionDenied = (): EmulatorResponse => err(403, 'permission denied');
const noContent = (): EmulatorResponse => ({ status: 204 });
const unsupported = (): EmulatorResponse => err(405, '1 error occurred:\n\t* unsupported operation\n\n');
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

/** Parses a policy's HCL into rules; throws an Error with Vault-like text on bad input. */
async function parsePolicy(text: string): Promise<PolicyRule[]> {
  let doc: Record<string, unknown>;
  try {
    doc = (await parseHcl('policy.hcl', text)) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`failed to parse policy: ${(e as Error).message}`);
  }
  const rules: PolicyRule[] = [];
  for (const key of Object.keys(doc)) {
    if (key !== 'path') throw new Error(`failed to parse policy: invalid key "${key}" on line 1`);
  }
  const paths = doc['path'];
  if (paths === undefined) return rules;
  if (!isPlainObject(paths)) throw new Error('failed to parse policy: path must be a block with a label');
  for (const [path, blocks] of Object.entries(paths)) {
    const caps = new Set<Capability>();
    for (const block of Array.isArray(blocks) ? blocks : [blocks]) {
      if (!isPlainObject(block)) throw new Error(`failed to parse policy: path "${path}": invalid block`);
      const list = block['capabilities'];
      if (list === undefined) continue;
      if (!Array.isArray(list)) throw new Error(`failed to parse policy: path "${path}": capabilities must be a list`);
      for (const c of list) {
        if (typeof c !== 'string' || !CAPABILITIES.has(c.toLowerCase() as Capability)) {
          throw new Error(`failed to parse policy: path "${path}": invalid capability "${String(c)}"`);
        }
        caps.add(c.toLowerCase() as Capability);
      }
    }
    rules.push({ path: path.replace(/^\//, ''), capabilities: [...caps] });
  }
  return rules;
}

/** Accepts raw HCL or base64 of it, as Vault does. */
function decodePolicyText(raw: string): string {
  if (/^[A-Za-z0-9+/]+={0,2}$/.test(raw) && raw.length % 4 === 0) {
    const decoded = Buffer.from(raw, 'base64').toString('utf8');
    if (!decoded.includes('\uFFFD')) return decoded;
  }
  return raw;
}

// The default policy real Vault attaches to every token: enough to inspect and
// manage the token itself.
const DEFAULT_POLICY_TEXT = `path "auth/token/lookup-self" { capabilities = ["read"] }
path "auth/token/renew-self" { capabilities = ["update"] }
path "auth/token/revoke-self" { capabilities = ["update"] }
path "sys/capabilities-self" { capabilities = ["update"] }
`;

const CUSTOM_METADATA_MAX_KEYS = 64;
const CUSTOM_METADATA_MAX_KEY_BYTES = 128;
const CUSTOM_METADATA_MAX_VALUE_BYTES = 512;

function validateCustomMetadata(value: unknown): string[] {
  if (!isPlainObject(value)) return ['custom_metadata must be a map of strings'];
  const problems: string[] = [];
  const entries = Object.entries(value);
  if (entries.length > CUSTOM_METADATA_MAX_KEYS) {
    problems.push(`payload must contain at most ${CUSTOM_METADATA_MAX_KEYS} keys, provided ${entries.length}`);
  }
  for (const [k, v] of entries) {
    if (Buffer.byteLength(k) > CUSTOM_METADATA_MAX_KEY_BYTES) {
      problems.push(`length of key "${k}" is ${Buffer.byteLength(k)} which exceeds the limit of ${CUSTOM_METADATA_MAX_KEY_BYTES}`);
    }
    if (typeof v !== 'string') {
      problems.push(`value for key "${k}" is not a string`);
    } else if (Buffer.byteLength(v) > CUSTOM_METADATA_MAX_VALUE_BYTES) {
      problems.push(`length of value for key "${k}" is ${Buffer.byteLength(v)} which exceeds the limit of ${CUSTOM_METADATA_MAX_VALUE_BYTES}`);
    }
    if (k.length === 0) problems.push('key cannot be empty');
  }
  return problems;
}

function customMetadataError(problems: string[]): EmulatorResponse {
  const list = problems.map((p) => `\t* ${p}`).join('\n');
  return err(400, `custom_metadata validation failed: ${problems.length} error${problems.length === 1 ? '' : 's'} occurred:\n${list}\n\n`);
}

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

  function capabilitiesFor(policyNames: string[], path: string): Capability[] {
    if (policyNames.includes('root')) return ['create', 'read', 'update', 'patch', 'delete', 'list', 'sudo'];
    // Capabilities of the same pattern in different policies are merged (deny wins).
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
    let best: string | null = null;
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
    const caps = capabilitiesFor(policyNames, aclPath);
    return !caps.includes('deny') && caps.includes(op);
  }

  function needsSudo(token: StoredToken, path: string): boolean {
    return !capabilitiesFor(token.policies, path).includes('sudo');
  }

  // --- KV v2 ----------------------------------------------------------------

  const effectiveMax = (entry: KvEntry) => entry.maxVersions || kvConfig.maxVersions || 10;

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
    if (entry.oldestVersion === 0) entry.oldestVersion = n;
    const max = effectiveMax(entry);
    while (entry.versions.size > max) {
      const oldest = Math.min(...entry.versions.keys());
      entry.versions.delete(oldest);
      entry.oldestVersion = Math.min(...entry.versions.keys());
    }
    return n;
  }

  /** "Live history": a version exists that is not destroyed (CAS 0 refuses then). */
  const hasVersions = (entry: KvEntry | undefined) => !!entry && entry.currentVersion > 0;

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

  function applyMetadata(entry: KvEntry, body: Record<string, unknown>, patch: boolean): EmulatorResponse | null {
    if ('max_versions' in body) {
      const v = body['max_versions'];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) return err(400, 'max_versions must be a non-negative integer');
      entry.maxVersions = v;
    }
    if ('cas_required' in body) {
      if (typeof body['cas_required'] !== 'boolean') return err(400, 'cas_required must be a boolean');
      entry.casRequired = body['cas_required'];
    }
    if ('delete_version_after' in body) {
      const sec = parseVaultDuration(body['delete_version_after']);
      if (sec === null) return err(400, `error converting input ${JSON.stringify(body['delete_version_after'])} for field "delete_version_after"`);
      entry.deleteVersionAfterSec = sec;
    }
    if ('custom_metadata' in body) {
      const cm = body['custom_metadata'];
      if (patch && isPlainObject(cm)) {
        // merge-patch: null removes a key
        const merged: Record<string, unknown> = { ...(entry.customMetadata ?? {}) };
        for (const [k, v] of Object.entries(cm)) {
          if (v === null) delete merged[k];
          else merged[k] = v;
        }
        const problems = validateCustomMetadata(merged);
        if (problems.length > 0) return customMetadataError(problems);
        entry.customMetadata = merged as Record<string, string>;
      } else if (cm === null) {
        entry.customMetadata = null;
      } else {
        const problems = validateCustomMetadata(cm);
        if (problems.length > 0) return customMetadataError(problems);
        entry.customMetadata = { ...(cm as Record<string, string>) };
      }
    }
    entry.updatedTime = now();
    return null;
  }

  function parseVersions(body: unknown): number[] | EmulatorResponse {
    const versions = isPlainObject(body) ? body['versions'] : undefined;
    if (!Array.isArray(versions) || versions.length === 0) return err(400, 'no version number provided');
    const out: number[] = [];
    for (const v of versions) {
      const n = typeof v === 'string' ? Number(v) : v;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) return err(400, `invalid version "${String(v)}"`);
      out.push(n);
    }
    return out;
  }

  function handleKv(op: Operation, method: string, section: string, key: string, req: EmulatorRequest, body: unknown): EmulatorResponse {
    const entry = kv.get(key);
    switch (section) {
      case 'config': {
        if (key !== '') return noHandler(`${kvMount}/config/${key}`);
        if (method === 'GET') {
          return ok({ cas_required: kvConfig.casRequired, delete_version_after: goDuration(kvConfig.deleteVersionAfterSec), max_versions: kvConfig.maxVersions });
        }
        if (op !== 'create' && op !== 'update') return unsupported();
        if (!isPlainObject(body)) return err(400, 'invalid request body');
        if (typeof body['max_versions'] === 'number') kvConfig.maxVersions = body['max_versions'];
        if (typeof body['cas_required'] === 'boolean') kvConfig.casRequired = body['cas_required'];
        if ('delete_version_after' in body) kvConfig.deleteVersionAfterSec = parseVaultDuration(body['delete_version_after']) ?? 0;
        return noContent();
      }
      case 'data': {
        if (key === '') return noHandler(`${kvMount}/data/`);
        if (op === 'list') return unsupported();
        if (op === 'read') {
          if (!entry || entry.currentVersion === 0) return err(404);
          const wanted = req.query.get('version');
          const n = wanted && wanted !== '0' ? Number(wanted) : entry.currentVersion;
          const v = entry.versions.get(n);
          if (!v) return err(404);
          const meta = versionMeta(entry, n, v);
          // A deleted or destroyed version is a 404 whose body still says which.
          if (versionDeleted(v)) return { status: 404, body: envelope({ data: null, metadata: meta }) };
          return ok({ data: v.data, metadata: meta }, { mountType: 'kv' });
        }
        if (op === 'delete') {
          if (entry) {
            const v = entry.versions.get(entry.currentVersion);
            if (v && !versionDeleted(v)) v.deletionTime = now();
          }
          return noContent();
        }
        if (key.endsWith('/')) return err(400, "cannot write to a path ending in '/'");
        if (!isPlainObject(body)) return err(400, 'no data provided');
        if (op === 'patch') {
          if (!/^application\/merge-patch\+json/i.test(String(req.headers['content-type'] ?? ''))) {
            return err(415, "PATCH requires a content type of 'application/merge-patch+json'");
          }
          const latest = entry?.versions.get(entry.currentVersion);
          if (!entry || !latest || versionDeleted(latest)) return err(404);
          if (!isPlainObject(body['data'])) return err(400, 'no data provided');
          const merged: Record<string, unknown> = { ...latest.data };
          for (const [k, v] of Object.entries(body['data'])) {
            if (v === null) delete merged[k];
            else merged[k] = v;
          }
          const casCheck = checkCas(entry, body);
          if (casCheck) return casCheck;
          const n = addVersion(entry, merged);
          return ok(versionMeta(entry, n, entry.versions.get(n)!));
        }
        // create / update
        if (!('data' in body) || !isPlainObject(body['data'])) return err(400, 'no data provided');
        const target = entry ?? newEntry();
        const casCheck = checkCas(target, body);
        if (casCheck) return casCheck;
        if (!entry) kv.set(key, target);
        const n = addVersion(target, body['data']);
        return ok(versionMeta(target, n, target.versions.get(n)!));
      }
      case 'metadata': {
        if (op === 'list') {
          const keys = kvList(key);
          if (keys.length === 0) return err(404);
          return ok({ keys });
        }
        if (key === '') return noHandler(`${kvMount}/metadata/`);
        if (op === 'read') {
          if (!entry) return err(404);
          return ok(metadataBody(entry));
        }
        if (op === 'delete') {
          kv.delete(key);
          return noContent();
        }
        if (key.endsWith('/')) return err(400, "cannot write to a path ending in '/'");
        if (op === 'patch') {
          if (!entry) return err(404);
          if (!isPlainObject(body)) return err(400, 'no data provided');
          const problem = applyMetadata(entry, body, true);
          return problem ?? noContent();
        }
        if (body !== undefined && !isPlainObject(body)) return err(400, 'invalid request body');
        const target = entry ?? newEntry();
        const problem = applyMetadata(target, (body as Record<string, unknown> | undefined) ?? {}, false);
        if (problem) return problem;
        if (!entry) kv.set(key, target);
        return noContent();
      }
      case 'delete':
      case 'undelete':
      case 'destroy': {
        if (op !== 'create' && op !== 'update') return unsupported();
        const versions = parseVersions(body);
        if (!Array.isArray(versions)) return versions;
        if (!entry) return noContent();
        for (const n of versions) {
          const v = entry.versions.get(n);
          if (!v) continue;
          if (section === 'delete' && !v.destroyed && !versionDeleted(v)) v.deletionTime = now();
          if (section === 'undelete' && !v.destroyed) v.deletionTime = null;
          if (section === 'destroy') {
            v.destroyed = true;
            v.data = {};
          }
        }
        entry.updatedTime = now();
        return noContent();
      }
      default:
        return noHandler(`${kvMount}/${section}/${key}`);
    }
  }

  function checkCas(entry: KvEntry, body: Record<string, unknown>): EmulatorResponse | null {
    const opts = body['options'];
    const cas = isPlainObject(opts) ? opts['cas'] : undefined;
    if (cas === undefined || cas === null) {
      if (entry.casRequired || kvConfig.casRequired) return err(400, 'check-and-set parameter required for this call');
      return null;
    }
    if (typeof cas !== 'number' || !Number.isInteger(cas) || cas < 0) return err(400, 'check-and-set parameter did not match the current version');
    if (cas !== entry.currentVersion) return err(400, 'check-and-set parameter did not match the current version');
    return null;
  }

  // --- policies -------------------------------------------------------------

  async function handlePolicy(op: Operation, method: string, legacy: boolean, name: string, body: unknown): Promise<EmulatorResponse> {
    const lower = name.toLowerCase();
    if (op === 'list' || (legacy && name === '' && method === 'GET')) {
      const keys = [...policies.keys(), 'root'].sort();
      if (legacy) return { status: 200, body: { ...envelope({ keys, policies: keys }), keys, policies: keys } };
      return ok({ keys });
    }
    if (name === '') return unsupported();
    if (op === 'read') {
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
      if (lower === 'root' || lower === 'default') return err(400, `cannot delete "${lower}" policy`);
      policies.delete(lower);
      return noContent();
    }
    if (op === 'patch') return unsupported();
    if (lower === 'root') return err(400, 'cannot update "root" policy');
    const args = isPlainObject(body) ? body : {};
    const warnings: string[] = [];
    let raw = args['policy'];
    if (legacy && (raw === undefined || raw === '') && typeof args['rules'] === 'string' && args['rules'] !== '') {
      raw = args['rules'];
      warnings.push("'rules' is deprecated, please use 'policy' instead");
    }
    if (typeof raw !== 'string' || raw.trim() === '') return err(400, "'policy' parameter not supplied or empty");
    const text = decodePolicyText(raw);
    let rules: PolicyRule[];
    try {
      rules = await parsePolicy(text);
    } catch (e) {
      return err(400, (e as Error).message);
    }
    policies.set(lower, { name: lower, text, rules });
    if (warnings.length > 0) return ok(null, { warnings });
    return noContent();
  }

  // --- JWT auth roles -------------------------------------------------------

  const TOKEN_TYPES = new Set(['service', 'batch', 'default', 'default-service', 'default-batch']);
  const ROLE_FIELDS = new Set([
    'role_type', 'bound_audiences', 'bound_subject', 'bound_claims', 'bound_claims_type', 'bound_cidrs', 'user_claim',
    'user_claim_json_pointer', 'groups_claim', 'claim_mappings', 'expiration_leeway', 'not_before_leeway', 'clock_skew_leeway',
    'allowed_redirect_uris', 'oidc_scopes', 'verbose_oidc_logging', 'max_age', 'token_policies', 'policies', 'token_type',
    'token_ttl', 'token_max_ttl', 'token_period', 'token_explicit_max_ttl', 'token_no_default_policy', 'token_num_uses',
    'token_bound_cidrs', 'ttl', 'max_ttl', 'period', 'num_uses', 'bound_claims_type',
  ]);

  function stringList(value: unknown): string[] | null {
    if (value === undefined || value === null) return [];
    if (typeof value === 'string') return value === '' ? [] : value.split(',').map((s) => s.trim());
    if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value as string[];
    return null;
  }

  function validateRole(body: Record<string, unknown>, existing: Record<string, unknown> | undefined): { role: Record<string, unknown>; warnings: string[] } | string {
    const merged: Record<string, unknown> = { ...(existing ?? {}), ...body };
    const roleType = merged['role_type'] ?? 'oidc';
    if (roleType !== 'jwt' && roleType !== 'oidc') return `invalid 'role_type': ${String(roleType)}`;
    // vault-plugin-auth-jwt path_role.go: bound_claims_type is string or glob; a glob
    // role's bound claims must all be strings; "role" is reserved in claim_mappings.
    const boundClaimsType = merged['bound_claims_type'] ?? 'string';
    if (boundClaimsType !== 'string' && boundClaimsType !== 'glob') return `invalid 'bound_claims_type': ${String(boundClaimsType)}`;
    const audiences = stringList(merged['bound_audiences']);
    if (audiences === null) return 'bound_audiences must be a list of strings';
    const boundClaims = merged['bound_claims'] ?? null;
    if (boundClaims !== null) {
      if (!isPlainObject(boundClaims)) return 'bound_claims must be a map';
      for (const [k, v] of Object.entries(boundClaims)) {
        const scalar = (x: unknown) => typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean';
        if (!(scalar(v) || (Array.isArray(v) && v.every(scalar)))) return `bound claim is not a string or list: ${k}`;
      }
    }
    if (boundClaimsType === 'glob' && isPlainObject(boundClaims)) {
      for (const v of Object.values(boundClaims)) {
        for (const item of Array.isArray(v) ? v : [v]) if (typeof item !== 'string') return `claim is not a string: ${String(item)}`;
      }
    }
    const claimMappings = merged['claim_mappings'] ?? null;
    if (claimMappings !== null && !(isPlainObject(claimMappings) && Object.values(claimMappings).every((v) => typeof v === 'string'))) {
      return 'claim_mappings must be a map of strings';
    }
    if (isPlainObject(claimMappings)) {
      const targets = new Set<string>();
      for (const target of Object.values(claimMappings) as string[]) {
        if (target === 'role') return `metadata key "role" is reserved and may not be a mapping destination`;
        if (targets.has(target)) return `multiple keys are mapped to metadata key "${target}"`;
        targets.add(target);
      }
    }
    // path_role.go: leeways in seconds, defaults 150 (exp, nbf) and 60 (clock skew, go-jose's DefaultLeeway).
    const leeways: Record<string, number> = {};
    for (const [f, fallback] of [['expiration_leeway', 150], ['not_before_leeway', 150], ['clock_skew_leeway', 60]] as const) {
      const v = merged[f] ?? fallback;
      const sec = typeof v === 'number' ? v : parseVaultDuration(v);
      if (sec === null || !Number.isInteger(sec)) return `error converting input ${JSON.stringify(v)} for field "${f}"`;
      leeways[f] = sec;
    }
    const userClaim = merged['user_claim'];
    if (typeof userClaim !== 'string' || userClaim === '') return 'a user claim must be defined on the role';
    const userClaimPointer = merged['user_claim_json_pointer'] ?? false;
    if (typeof userClaimPointer !== 'boolean') return 'user_claim_json_pointer must be a boolean';
    if (roleType === 'oidc') {
      const redirects = stringList(merged['allowed_redirect_uris']);
      if (!redirects || redirects.length === 0) return "'allowed_redirect_uris' must be set if 'role_type' is 'oidc' or unspecified.";
    }
    if (roleType === 'jwt' && audiences.length === 0 && !merged['bound_subject'] && (boundClaims === null || Object.keys(boundClaims).length === 0) && !merged['bound_cidrs']) {
      return 'must have at least one bound constraint when creating/updating a role';
    }
    const tokenPolicies = stringList(merged['token_policies'] ?? merged['policies']);
    if (tokenPolicies === null) return 'token_policies must be a list of strings';
    const tokenType = merged['token_type'] ?? 'default';
    if (typeof tokenType !== 'string' || !TOKEN_TYPES.has(tokenType)) return "invalid 'token_type' value";
    const durations: Record<string, number> = {};
    for (const f of ['token_ttl', 'token_max_ttl', 'token_period', 'token_explicit_max_ttl']) {
      const sec = parseVaultDuration(merged[f] ?? 0);
      if (sec === null) return `error converting input ${JSON.stringify(merged[f])} for field "${f}"`;
      durations[f] = sec;
    }
    if (durations['token_max_ttl']! > 0 && durations['token_ttl']! > durations['token_max_ttl']!) return 'ttl should not be greater than max ttl';
    const unknown = Object.keys(body).filter((k) => !ROLE_FIELDS.has(k));
    const warnings = unknown.length > 0 ? [`Endpoint ignored these unrecognized parameters: [${unknown.sort().join(' ')}]`] : [];
    return {
      warnings,
      role: {
        role_type: roleType,
        bound_audiences: audiences,
        bound_subject: typeof merged['bound_subject'] === 'string' ? merged['bound_subject'] : '',
        bound_claims: boundClaims,
        bound_claims_type: boundClaimsType,
        ...leeways,
        user_claim: userClaim,
        user_claim_json_pointer: userClaimPointer,
        claim_mappings: claimMappings,
        groups_claim: typeof merged['groups_claim'] === 'string' ? merged['groups_claim'] : '',
        token_policies: tokenPolicies,
        policies: tokenPolicies,
        token_type: tokenType,
        ...durations,
        token_no_default_policy: merged['token_no_default_policy'] === true,
        token_num_uses: typeof merged['token_num_uses'] === 'number' ? merged['token_num_uses'] : 0,
      },
    };
  }

  function handleJwtRole(op: Operation, mount: string, rawName: string, body: unknown): EmulatorResponse {
    const store = roles.get(mount)!;
    const name = rawName.toLowerCase(); // path_role.go: "name" is TypeLowerCaseString
    if (op === 'list') {
      if (name !== '') return unsupported();
      const keys = [...store.keys()].sort();
      return keys.length === 0 ? err(404) : ok({ keys });
    }
    if (name === '') return unsupported();
    if (op === 'read') {
      const role = store.get(name);
      return role ? ok(role) : err(404);
    }
    if (op === 'delete') {
      store.delete(name);
      return noContent();
    }
    if (op === 'patch') return unsupported();
    if (!isPlainObject(body)) return err(400, 'invalid request body');
    const result = validateRole(body, store.get(name));
    if (typeof result === 'string') return err(400, result);
    store.set(name, result.role);
    return result.warnings.length > 0 ? ok(null, { warnings: result.warnings }) : noContent();
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
        const requested = stringList(args['policies']);
        if (requested === null) return err(400, 'policies must be a list of strings');
        const callerIsRoot = caller.policies.includes('root');
        const wanted = requested.length > 0 ? requested.map((p) => p.toLowerCase()) : caller.policies.filter((p) => p !== 'default');
        if (!callerIsRoot) {
          const missing = wanted.filter((p) => !caller.policies.includes(p));
          if (missing.length > 0) return err(400, 'child policies must be subset of parent');
          if ((args['no_parent'] === true || (typeof args['period'] === 'string' && args['period'] !== '')) && action === 'create' && needsSudo(caller, 'auth/token/create')) {
            return err(400, 'root or sudo privileges required to create periodic token');
          }
        }
        const ttl = parseVaultDuration(args['ttl'] ?? '768h');
        if (ttl === null) return err(400, 'invalid ttl');
        const warnings = wanted.filter((p) => p !== 'root' && p !== 'default' && !policies.has(p)).map((p) => `Policy "${p}" does not exist`);
        const finalPolicies = [...new Set([...(args['no_default_policy'] === true || wanted.includes('root') ? [] : ['default']), ...wanted])].sort();
        const meta = isPlainObject(args['meta']) ? (args['meta'] as Record<string, string>) : null;
        const orphan = action === 'create-orphan' || args['no_parent'] === true;
        const t = issueToken(orphan ? null : caller, {
          policies: finalPolicies,
          ttlSec: wanted.includes('root') && args['ttl'] === undefined ? 0 : ttl,
          meta,
          displayName: `token${typeof args['display_name'] === 'string' ? `-${args['display_name']}` : ''}`,
          renewable: args['renewable'] !== false,
          numUses: typeof args['num_uses'] === 'number' ? args['num_uses'] : 0,
        });
        return ok(null, { auth: authBlock(t), warnings });
      }
      case 'lookup': {
        const t = liveToken(typeof args['token'] === 'string' ? args['token'] : undefined);
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
        if (typeof args['token'] === 'string') revokeToken(args['token']);
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

  function handleHealth(req: EmulatorRequest): EmulatorResponse {
    const code = (param: string, fallback: number) => {
      const v = req.query.get(param);
      return v && /^\d{3}$/.test(v) ? Number(v) : fallback;
    };
    const status = state.sealed ? code('sealedcode', 503) : code('activecode', 200);
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
      cluster_name: 'vault-cluster-emulated',
      cluster_id: '995f749a-0000-4000-8000-000000000000',
      echo_duration_ms: 0,
      clock_skew_ms: 0,
    };
    return { status, body: req.method === 'HEAD' ? undefined : body };
  }

  // --- routing --------------------------------------------------------------

  function operationOf(req: EmulatorRequest, apiPath: string): Operation | null {
    const list = req.query.get('list');
    if (req.method === 'LIST' || (req.method === 'GET' && (list === 'true' || list === '1'))) return 'list';
    switch (req.method) {
      case 'GET':
      case 'HEAD':
        return 'read';
      case 'DELETE':
        return 'delete';
      case 'PATCH':
        return 'patch';
      case 'POST':
      case 'PUT':
        return exists(apiPath) ? 'update' : 'create';
      default:
        return null;
    }
  }

  /** `<kvMount>/<section>/<key>` (section: data, metadata, delete, …); null outside the KV mount. */
  function kvPathOf(apiPath: string): { section: string; key: string } | null {
    const kvPrefix = `${kvMount}/`;
    if (!apiPath.startsWith(kvPrefix)) return null;
    const rest = apiPath.slice(kvPrefix.length);
    const slash = rest.indexOf('/');
    return slash === -1 ? { section: rest, key: '' } : { section: rest.slice(0, slash), key: rest.slice(slash + 1) };
  }

  /** Vault's ExistenceCheck: POST on an existing object needs `update`, on a new one `create`. */
  function exists(apiPath: string): boolean {
    const kvPath = kvPathOf(apiPath);
    if (kvPath) {
      const { section, key } = kvPath;
      if (section === 'data') return hasVersions(kv.get(key));
      if (section === 'metadata') return kv.has(key);
      return true;
    }
    let m = /^sys\/(?:policies\/acl|policy)\/(.+)$/.exec(apiPath);
    if (m) return policies.has(m[1]!.toLowerCase());
    m = /^auth\/(.+)\/role\/([^/]+)$/.exec(apiPath);
    if (m) return roles.get(m[1]!)?.has(m[2]!.toLowerCase()) ?? false;
    return true; // paths without an existence check are "update"
  }

  async function handle(req: EmulatorRequest): Promise<EmulatorResponse> {
    if (!req.path.startsWith('/v1/')) return err(404);
    const apiPath = req.path.slice(4);
    if (apiPath === 'sys/health') {
      if (req.method !== 'GET' && req.method !== 'HEAD') return unsupported();
      return handleHealth(req);
    }
    if (state.sealed) return err(503, 'Vault is sealed');
    const ns = req.headers['x-vault-namespace'];
    if (typeof ns === 'string' && ns !== '' && ns !== 'root' && ns !== 'root/') return err(403, 'namespaces feature not enabled');

    // Logins are unauthenticated paths (the plugin's PathsSpecial.Unauthenticated: "login").
    const login = /^auth\/(.+)\/login$/.exec(apiPath);
    if (login && jwtMounts.has(login[1]!)) {
      if (req.method !== 'POST' && req.method !== 'PUT') return unsupported();
      const parsedLogin = req.json();
      if (parsedLogin instanceof SyntaxError) return err(400, 'failed to parse JSON input: invalid character');
      return handleJwtLogin(login[1]!, isPlainObject(parsedLogin) ? parsedLogin : {});
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

    const op = operationOf(req, apiPath);
    if (!op) return unsupported();
    const parsed = req.json();
    if (parsed instanceof SyntaxError) return err(400, 'failed to parse JSON input: invalid character');
    const body = parsed;

    // ACL: token self-management is granted by the default policy; everything else by policies.
    const aclOp: Operation = op;
    if (!allowed(caller.policies, aclOp, apiPath)) return permissionDenied();

    const kvPath = kvPathOf(apiPath);
    if (kvPath) return handleKv(op, req.method, kvPath.section, kvPath.key, req, body);
    const sys = { kvMount, kvVersion: options.kvVersion ?? '2', jwtMounts };
    if (apiPath === 'sys/mounts') return op === 'read' ? sysMounts(sys, (d) => ok(d)) : unsupported();
    if (apiPath === 'sys/auth') return op === 'read' ? sysAuth(sys, (d) => ok(d)) : unsupported();
    if (apiPath === 'sys/capabilities-self') {
      return op === 'update' || op === 'create' ? capabilitiesSelf(body, caller.policies, capabilitiesFor, (d) => ok(d), (msg) => err(400, msg)) : unsupported();
    }
    let m = /^sys\/policies\/acl(?:\/(.*))?$/.exec(apiPath);
    if (m) return handlePolicy(op, req.method, false, m[1] ?? '', body);
    m = /^sys\/policy(?:\/(.*))?$/.exec(apiPath);
    if (m) return handlePolicy(op, req.method, true, m[1] ?? '', body);
    m = /^auth\/token\/([a-z-]+)$/.exec(apiPath);
    if (m) return handleToken(op, m[1]!, caller, body);
    m = /^auth\/(.+?)\/role(?:\/([^/]*))?\/?$/.exec(apiPath);
    if (m && roles.has(m[1]!)) return handleJwtRole(op, m[1]!, m[2] ?? '', body);
    m = /^auth\/(.+)\/config$/.exec(apiPath);
    if (m && jwtMounts.has(m[1]!)) return handleJwtConfig(op, m[1]!, body);
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

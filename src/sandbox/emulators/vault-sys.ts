// The Vault emulator's read-only sys endpoints that a preflight asks: which secret
// engines and auth methods are mounted, and what the caller's token may do on given
// paths. Kept apart from vault.ts; that module routes here after its ACL check.
import type { EmulatorResponse } from './harness.js';

export interface VaultSysState {
  kvMount: string;
  /** The KV engine's version option: "2" for KV v2, "1" for a v1 mount (a broken setup). */
  kvVersion: '1' | '2';
  jwtMounts: Iterable<string>;
}

type Envelope = (data: unknown) => EmulatorResponse;

function mountEntry(type: string, options: Record<string, string> | null, description: string): Record<string, unknown> {
  return {
    accessor: `${type}_${Buffer.from(description).toString('hex').slice(0, 8)}`,
    config: { default_lease_ttl: 0, force_no_cache: false, max_lease_ttl: 0 },
    description,
    external_entropy_access: false,
    local: false,
    options,
    plugin_version: '',
    seal_wrap: false,
    type,
  };
}

/**
 * GET sys/mounts (vault/logical_system.go handleMountTable): every secret engine by
 * "<path>/", a KV mount with options.version. Vault's own mounts are listed too.
 */
export function sysMounts(state: VaultSysState, ok: Envelope): EmulatorResponse {
  return ok({
    'cubbyhole/': mountEntry('cubbyhole', null, 'per-token private secret storage'),
    'identity/': mountEntry('identity', null, 'identity store'),
    'sys/': mountEntry('system', null, 'system endpoints used for control, policy and debugging'),
    [`${state.kvMount}/`]: mountEntry('kv', { version: state.kvVersion }, 'key/value secret storage'),
  });
}

/** GET sys/auth (vault/logical_system.go handleAuthTable): every auth method by "<path>/". */
export function sysAuth(state: VaultSysState, ok: Envelope): EmulatorResponse {
  const table: Record<string, unknown> = { 'token/': mountEntry('token', null, 'token based credentials') };
  for (const m of state.jwtMounts) table[`${m}/`] = mountEntry('jwt', null, '');
  return ok(table);
}

/**
 * POST sys/capabilities-self (vault/logical_system.go handleCapabilities, vault/acl.go
 * Capabilities): `paths` (or the older `path`) required, each path's capabilities
 * under its own key, and under "capabilities" too when one path was asked. A root
 * token has ["root"]; a path no policy matches has ["deny"].
 */
export function capabilitiesSelf(
  body: unknown,
  policies: string[],
  capabilitiesFor: (policies: string[], path: string) => readonly string[],
  ok: Envelope,
  badRequest: (message: string) => EmulatorResponse,
): EmulatorResponse {
  const b = (body ?? {}) as Record<string, unknown>;
  const raw = b['paths'] ?? b['path'];
  const paths = typeof raw === 'string' ? raw.split(',').map((p) => p.trim()).filter(Boolean) : Array.isArray(raw) ? raw.filter((p): p is string => typeof p === 'string') : [];
  if (paths.length === 0) return badRequest('paths must be supplied');
  const data: Record<string, string[]> = {};
  for (const path of paths) {
    const clean = path.replace(/^\/+/, '');
    if (policies.includes('root')) data[path] = ['root'];
    else {
      const caps = capabilitiesFor(policies, clean);
      data[path] = caps.length === 0 ? ['deny'] : [...caps];
    }
  }
  if (paths.length === 1) data['capabilities'] = data[paths[0]!]!;
  return ok(data);
}

/**
 * GET sys/internal/ui/mounts/<path> (vault/logical_system.go pathInternalUIMountRead):
 * the mount serving <path> with its type and options — what the vault CLI's KV preflight
 * asks — answered to any token with some capability on or under the mount
 * (hasMountAccess: the mount path itself, or any non-deny rule below it). A missing
 * mount and a mount without access get the same 403, so it cannot be used to probe
 * which mounts exist.
 */
export function internalUiMount(
  path: string,
  mounts: { path: string; type: string; options: Record<string, string> | null }[],
  access: (mountPath: string) => boolean,
  ok: Envelope,
  denied: (message: string) => EmulatorResponse,
): EmulatorResponse {
  const clean = `${path.replace(/^\/+|\/+$/g, '')}/`;
  const refused = denied(`preflight capability check returned 403, please ensure client's policies grant access to path "${clean}"`);
  const mount = mounts.filter((m) => clean.startsWith(m.path)).sort((a, b) => b.path.length - a.path.length)[0];
  if (!mount || !access(mount.path)) return refused;
  const entry = mountEntry(mount.type, mount.options, '');
  return ok({ ...entry, path: mount.path.startsWith('auth/') ? mount.path.slice('auth/'.length) : mount.path });
}

/** hasMountAccess (vault/logical_system.go): any capability but deny on the mount path or a rule below it. */
export function hasMountAccess(mountPath: string, policies: string[], rules: { path: string; capabilities: readonly string[] }[], capabilitiesFor: (policies: string[], path: string) => readonly string[]): boolean {
  if (policies.includes('root')) return true;
  const direct = capabilitiesFor(policies, mountPath);
  if (direct.length > 0 && !direct.includes('deny')) return true;
  return rules.some((r) => r.path.startsWith(mountPath) && r.capabilities.length > 0 && !r.capabilities.includes('deny'));
}

// Vault preconditions: unsealed and active, the KV v2 mount, the JWT auth mount and its
// trust in Nomad's keys, and previewd's token's capabilities on exactly the paths one
// PR's reconcile, teardown and GC call (src/vault/paths.ts). The mounts are read through
// sys/internal/ui/mounts, which answers any token with access under the mount (what the
// vault CLI's KV preflight uses), so a least-privilege token can be checked too.
import type { Config } from '../config/schema.js';
import type { EnvironmentNames } from '../environments/naming.js';
import { requiredCapabilities } from '../vault/paths.js';
import { answerText, createProbe } from './http.js';
import { fail, pass, warn, type CheckResult, type Probe } from './types.js';

const data = (body: unknown): Record<string, unknown> => ((body as { data?: Record<string, unknown> } | null)?.data ?? {}) as Record<string, unknown>;

async function health(http: Probe): Promise<CheckResult> {
  // vault/http/sys_health.go: 200 active, 429 standby, 472/473 DR/perf standby, 501 not initialized, 503 sealed.
  const a = await http('/v1/sys/health');
  const b = (a.body ?? {}) as { version?: string; sealed?: boolean; initialized?: boolean };
  const check = 'vault.health';
  if (a.error !== undefined) return fail(check, answerText(a), 'check VAULT_ADDR and that Vault is running');
  if (a.status === 200) return pass(check, `initialized, unsealed, active${b.version ? `, version ${b.version}` : ''}`);
  if (a.status === 503) return fail(check, 'Vault is sealed', 'vault operator unseal');
  if (a.status === 501) return fail(check, 'Vault is not initialized', 'vault operator init');
  if (a.status === 429 || a.status === 473) return warn(check, 'VAULT_ADDR answers from a standby node', 'point VAULT_ADDR at the active node or the cluster address');
  return fail(check, answerText(a), 'check VAULT_ADDR');
}

async function kvMount(http: Probe, mount: string): Promise<CheckResult> {
  const check = 'vault.kv-mount';
  const a = await http(`/v1/sys/internal/ui/mounts/${mount}`);
  if (a.status !== 200) {
    return fail(check, `mount ${mount}/ missing or not accessible to the token (${answerText(a)})`, `vault secrets enable -path=${mount} kv-v2 (and give the token the policy of \`previewd config vault-policy\`)`);
  }
  const m = data(a.body) as { type?: string; options?: { version?: string } | null };
  if (m.type !== 'kv') return fail(check, `${mount}/ is a ${m.type} engine, not kv`, `set vault.kvMount to a KV v2 mount, or: vault secrets enable -path=<path> kv-v2`);
  if (m.options?.version !== '2') return fail(check, `${mount}/ is KV version ${m.options?.version ?? '1'}; previewd needs KV v2 (versions, custom_metadata, delete_version_after)`, `vault kv enable-versioning ${mount}/`);
  return pass(check, `${mount}/ is KV v2`);
}

async function jwtMount(http: Probe, mount: string, nomadAddr: string): Promise<CheckResult[]> {
  const a = await http(`/v1/sys/internal/ui/mounts/auth/${mount}`);
  const enable = `vault auth enable -path=${mount} jwt`;
  if (a.status !== 200) return [fail('vault.jwt-mount', `auth mount ${mount}/ missing or not accessible to the token (${answerText(a)})`, enable)];
  const m = data(a.body) as { type?: string };
  if (m.type !== 'jwt') return [fail('vault.jwt-mount', `auth/${mount}/ is a ${m.type} method, not jwt`, `set vault.jwtMount to Nomad's JWT mount, or: ${enable}`)];
  const results = [pass('vault.jwt-mount', `auth/${mount}/ is a jwt auth method`)];
  const configure = `vault write auth/${mount}/config jwks_url=${nomadAddr.replace(/\/+$/, '')}/.well-known/jwks.json jwt_supported_algs=RS256,EdDSA`;
  const c = await http(`/v1/auth/${mount}/config`);
  if (c.status === 403) {
    results.push(warn('vault.jwt-config', `the token may not read auth/${mount}/config (previewd does not need to), so the JWKS was not verified`, `check it with a privileged token: vault read auth/${mount}/config; if empty: ${configure}`));
  } else if (c.status !== 200) {
    results.push(fail('vault.jwt-config', `auth/${mount}/config is not written (${answerText(c)})`, configure));
  } else {
    const cfg = data(c.body) as { jwks_url?: string; jwt_validation_pubkeys?: string[]; oidc_discovery_url?: string };
    const source = cfg.jwks_url ? `JWKS ${cfg.jwks_url}` : (cfg.jwt_validation_pubkeys ?? []).length > 0 ? `${cfg.jwt_validation_pubkeys!.length} public key(s)` : cfg.oidc_discovery_url ? `OIDC discovery ${cfg.oidc_discovery_url}` : '';
    results.push(source ? pass('vault.jwt-config', `workload identities are verified against ${source}`) : fail('vault.jwt-config', 'the mount has no JWKS URL, public keys or discovery URL: no workload identity can log in', configure));
  }
  return results;
}

async function capabilities(http: Probe, config: Config, names: EnvironmentNames): Promise<CheckResult> {
  const check = 'vault.capabilities';
  const needed = requiredCapabilities(config.vault, names, config.vault.pathPrefix);
  const a = await http('/v1/sys/capabilities-self', { method: 'POST', body: { paths: needed.map((n) => n.path) } });
  if (a.status !== 200) return fail(check, `sys/capabilities-self: ${answerText(a)}`, 'check VAULT_TOKEN (it needs the default policy, which allows sys/capabilities-self)');
  const body = a.body as Record<string, unknown>;
  const granted = (path: string) => (data(body)[path] ?? body[path] ?? []) as string[];
  const gaps = needed
    .map(({ path, capabilities: caps }) => {
      const have = granted(path);
      if (have.includes('root')) return null;
      const missing = have.includes('deny') ? caps : caps.filter((c) => !have.includes(c));
      return missing.length > 0 ? `${path} lacks ${missing.join(', ')}` : null;
    })
    .filter((g): g is string => g !== null);
  if (gaps.length > 0) return fail(check, gaps.join('; '), 'previewd config vault-policy > previewd.hcl && vault policy write previewd previewd.hcl, and attach it to the token');
  return pass(check, `the token may do all previewd does on ${needed.length} paths (sample PR ${names.id})`);
}

export async function checkVault(config: Config, names: EnvironmentNames): Promise<CheckResult[]> {
  const http = createProbe(config.env.VAULT_ADDR, { 'x-vault-token': config.env.VAULT_TOKEN });
  const h = await health(http);
  if (h.status === 'fail') return [h];
  const [kv, jwt, caps] = await Promise.all([kvMount(http, config.vault.kvMount), jwtMount(http, config.vault.jwtMount, config.env.NOMAD_ADDR), capabilities(http, config, names)]);
  return [h, kv, ...jwt, caps];
}

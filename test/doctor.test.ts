// `previewd doctor` against the emulators and real Postgres: a correctly prepared
// world passes every check and exits 0; each precondition broken in turn is named by
// exactly the check(s) it breaks, with a fix; and doctor never writes anywhere (every
// emulator's request log holds only reads, parse, plan and capability questions).
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDoctorCommand } from '../src/cli/commands/doctor.js';
import { requiredConsulPolicy } from '../src/consul/policy.js';
import { renderDaemonPolicy } from '../src/environments/vault-access.js';
import type { Config } from '../src/config/schema.js';
import { CHECK_NAMES } from '../src/doctor/doctor.js';
import type { CheckResult } from '../src/doctor/types.js';
import { startGitHubEmulator } from '../src/sandbox/emulators/github.js';
import { createNomadAcl } from '../src/sandbox/emulators/nomad-acl.js';
import { startNomadEmulator } from '../src/sandbox/emulators/nomad.js';
import { startVaultEmulator } from '../src/sandbox/emulators/vault.js';
import { createPreviewdRole } from '../src/sandbox/pg-server.js';
import type { World } from '../src/sandbox/world.js';
import { checkPostgres } from '../src/doctor/postgres.js';
import { pgServers, startWorld, withAdminClient, withRoleClient } from './support/pg.js';

interface Run {
  code: number;
  lines: string[];
  checks: CheckResult[];
}

/** The requests doctor may make: reads, and the POSTs that only ask (parse, plan, capabilities, authorize). */
const ASKING = [/^\/v1\/jobs\/parse$/, /^\/v1\/job\/[^/]+\/plan$/, /^\/v1\/sys\/capabilities-self$/, /^\/v1\/internal\/acl\/authorize$/];

describe('previewd doctor', () => {
  let world: World;
  let hookUrl: string;

  beforeAll(async () => {
    world = await startWorld();
    hookUrl = `${world.config.publicUrl}/webhooks/github`;
    world.github.addHook(world.repos[0]!, { url: hookUrl, events: ['pull_request', 'push'] });
    baseline = allFailing(await doctor());
    world.nomad.requests.length = 0;
    world.vault.requests.length = 0;
    world.consul.requests.length = 0;
    world.github.requests.length = 0;
  });
  afterAll(async () => {
    await world?.cleanup();
  });

  async function doctor(config: Config = world.config): Promise<Run> {
    let out = '';
    const io = { out: (t: string) => void (out += t), err: () => undefined };
    const code = await runDoctorCommand(config, {}, io);
    let json = '';
    await runDoctorCommand(config, { json: true }, { out: (t: string) => void (json += t), err: () => undefined });
    const parsed = JSON.parse(json) as { ok: boolean; checks: CheckResult[] };
    expect(parsed.ok).toBe(code === 0);
    return { code, lines: out.trimEnd().split('\n'), checks: parsed.checks };
  }
  const allFailing = (r: Run) => r.checks.filter((c) => c.status === 'fail').map((c) => c.check).sort();
  // What a broken precondition adds to the prepared world's result (which the first test proves empty).
  let baseline: string[] = [];
  const failing = (r: Run) => allFailing(r).filter((c) => !baseline.includes(c));
  const withConfig = (patch: (c: Config) => Partial<Config>): Config => ({ ...world.config, ...patch(world.config) });
  const withEnv = (env: Partial<Config['env']>): Config => ({ ...world.config, env: { ...world.config.env, ...env } });

  function expectOnlyReads(): void {
    for (const e of [world.nomad, world.consul, world.vault, world.github]) {
      for (const r of e.requests) {
        const ok = r.method === 'GET' || (r.method === 'POST' && ASKING.some((p) => p.test(r.path)));
        expect(ok, `${e.name}: ${r.method} ${r.path}`).toBe(true);
      }
    }
  }

  it('passes every check of a prepared world, exits 0, one line per check, and writes nothing anywhere', async () => {
    const r = await doctor();
    expect(allFailing(r), r.lines.join('\n')).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.lines).toHaveLength(r.checks.length);
    for (const line of r.lines) expect(line).toMatch(/^(ok|warn|FAIL) [a-z]+\.[a-z-]+( [^:]+)?: /);
    const names = r.checks.map((c) => c.check);
    for (const n of names) expect(CHECK_NAMES as readonly string[]).toContain(n.split(' ')[0]);
    for (const c of ['nomad.leader', 'nomad.version', 'nomad.token', 'vault.health', 'vault.kv-mount', 'vault.jwt-mount', 'vault.jwt-config', 'vault.capabilities', 'consul.leader', 'consul.token', 'consul.rights', 'postgres.version', 'postgres.role', 'postgres.login-group', `postgres.template ${world.templateDatabase}`, `github.repo ${world.repos[0]}`, `github.webhook ${world.repos[0]}`]) {
      expect(names).toContain(c);
    }
    expect(names.filter((n) => n.startsWith('nomad.job '))).not.toHaveLength(0);
    // Nothing was registered: no job exists, nothing was written.
    expect(world.cluster.listJobs('default')).toEqual([]);
    expect(world.vault.secrets()).toEqual([]);
    expectOnlyReads();
    for (const s of Object.values(world.secrets)) expect(r.lines.join('\n')).not.toContain(s);
  });

  it('Nomad: a token without submit-job fails the token check and every plan', async () => {
    const acl = createNomadAcl();
    await acl.createPolicy('readonly', 'namespace "default" { policy = "read" }');
    const token = acl.createToken({ name: 'previewd', policies: ['readonly'] });
    const nomad = await startNomadEmulator({ cluster: world.cluster, acl });
    try {
      const r = await doctor(withEnv({ NOMAD_ADDR: nomad.url, NOMAD_TOKEN: token.SecretID }));
      expect(r.code).toBe(1);
      const f = failing(r);
      expect(f).toContain('nomad.token');
      expect(f.every((c) => c === 'nomad.token' || c.startsWith('nomad.job '))).toBe(true);
      const line = r.lines.find((l) => l.startsWith('FAIL nomad.token'))!;
      expect(line).toContain('lacks submit-job');
      expect(line).toContain('— fix: nomad acl policy apply');
      expect(line).not.toContain(token.SecretID);
      // The same token with write passes.
      await acl.createPolicy('previewd', 'namespace "default" { policy = "write" }');
      const good = acl.createToken({ policies: ['previewd'] });
      const ok = await doctor(withEnv({ NOMAD_ADDR: nomad.url, NOMAD_TOKEN: good.SecretID }));
      expect(failing(ok)).toEqual([]);
    } finally {
      await nomad.close();
    }
  });

  it('Nomad: a job template Nomad refuses is named by its component', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'doctor-templates-'));
    try {
      await cp('job-templates', dir, { recursive: true });
      const file = join(dir, 'worker.nomad.hcl.hbs');
      await writeFile(file, (await readFile(file, 'utf8')).replace('driver = "docker"', 'driver = "docker"\n      kill_timeout = "soon"'));
      const r = await doctor(withConfig((c) => ({ repos: c.repos.map((repo) => ({ ...repo, templatesDir: dir })) })));
      expect(failing(r)).toEqual(['nomad.job worker']);
      expect(r.lines.find((l) => l.startsWith('FAIL nomad.job worker'))).toMatch(/refuses the rendered job .*invalid duration.* — fix: previewd render/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('Vault: a missing KV mount, a missing JWT mount', async () => {
    const noKv = await doctor(withConfig((c) => ({ vault: { ...c.vault, kvMount: 'nokv' } })));
    expect(failing(noKv)).toEqual(['vault.kv-mount']);
    expect(noKv.lines.find((l) => l.startsWith('FAIL vault.kv-mount'))).toContain('fix: vault secrets enable -path=nokv kv-v2');
    const noJwt = await doctor(withConfig((c) => ({ vault: { ...c.vault, jwtMount: 'nojwt' } })));
    expect(failing(noJwt)).toEqual(['vault.jwt-mount']);
    expect(noJwt.lines.find((l) => l.startsWith('FAIL vault.jwt-mount'))).toContain('fix: vault auth enable -path=nojwt jwt');
  });

  it('Vault: a KV version 1 mount', async () => {
    const rootToken = `root-${randomBytes(6).toString('hex')}`;
    const v1 = await startVaultEmulator({ rootToken, kvVersion: '1' });
    try {
      await fetch(`${v1.url}/v1/auth/${world.config.vault.jwtMount}/config`, { method: 'POST', headers: { 'x-vault-token': rootToken }, body: JSON.stringify({ jwks_url: `${world.nomad.url}/.well-known/jwks.json` }) });
      const r = await doctor(withEnv({ VAULT_ADDR: v1.url, VAULT_TOKEN: rootToken }));
      expect(failing(r)).toEqual(['vault.kv-mount']);
      expect(r.lines.find((l) => l.startsWith('FAIL vault.kv-mount'))).toContain('fix: vault kv enable-versioning secret/');
    } finally {
      await v1.close();
    }
  });

  it('Vault: a token with exactly `previewd config vault-policy` has every capability doctor asks for', async () => {
    const put = await fetch(`${world.vault.url}/v1/sys/policies/acl/${world.config.instance}`, { method: 'PUT', headers: { 'x-vault-token': world.secrets.vaultToken }, body: JSON.stringify({ policy: renderDaemonPolicy(world.config) }) });
    expect(put.status).toBe(204);
    const r = await doctor(withEnv({ VAULT_TOKEN: world.vault.createToken([world.config.instance]) }));
    expect(failing(r)).toEqual([]);
    expect(r.checks.find((c) => c.check === 'vault.capabilities')!.status).toBe('ok');
    expect(r.checks.find((c) => c.check === 'vault.kv-mount')!.status).toBe('ok');
  });

  it('Vault: a token lacking one capability previewd uses is named with the path', async () => {
    const { kvMount, pathPrefix, jwtMount } = world.config.vault;
    const instance = world.config.instance;
    const policy = [
      `path "${kvMount}/data/${pathPrefix}/*" { capabilities = ["create", "read", "update"] }`,
      // no "delete": teardown could not destroy a PR's secret
      `path "${kvMount}/metadata/${pathPrefix}/*" { capabilities = ["create", "read", "update", "list"] }`,
      `path "sys/policies/acl/${instance}-*" { capabilities = ["create", "read", "update", "delete"] }`,
      `path "auth/${jwtMount}/role/${instance}-*" { capabilities = ["create", "read", "update", "delete"] }`,
      `path "sys/policies/acl/" { capabilities = ["list"] }`,
      `path "auth/${jwtMount}/role/" { capabilities = ["list"] }`,
    ].join('\n');
    const put = await fetch(`${world.vault.url}/v1/sys/policies/acl/doctor-partial`, { method: 'PUT', headers: { 'x-vault-token': world.secrets.vaultToken }, body: JSON.stringify({ policy }) });
    expect(put.status).toBe(204);
    const token = world.vault.createToken(['doctor-partial']);
    const r = await doctor(withEnv({ VAULT_TOKEN: token }));
    expect(failing(r)).toEqual(['vault.capabilities']);
    const line = r.lines.find((l) => l.startsWith('FAIL vault.capabilities'))!;
    expect(line).toMatch(new RegExp(`${kvMount}/metadata/${pathPrefix}/[^ ]+ lacks delete`));
    expect(line).not.toContain(token);
    // The mounts are still seen through the token's access below them; the JWT config it may not read is a warning.
    expect(r.checks.find((c) => c.check === 'vault.jwt-config')!.status).toBe('warn');
  });

  it('Consul: the README policy passes; read-only where teardown writes, and a token without rights, are named', async () => {
    const acl = world.cluster.consulAcl;
    const token = async (name: string, rules: string | null) => {
      const secretId = `${name}-${randomBytes(6).toString('hex')}`;
      if (rules !== null) await acl.createPolicy(name, rules);
      await acl.createToken({ secretId, policies: rules === null ? [] : [name], description: name });
      return secretId;
    };
    const readme = await doctor(withEnv({ CONSUL_HTTP_TOKEN: await token('doctor-readme', requiredConsulPolicy(world.repos)) }));
    expect(failing(readme)).toEqual([]);
    const readOnly = await doctor(withEnv({ CONSUL_HTTP_TOKEN: await token('doctor-ro', requiredConsulPolicy(world.repos).replace('policy = "write"', 'policy = "read"')) }));
    expect(failing(readOnly)).toEqual(['consul.rights']);
    expect(readOnly.lines.find((l) => l.startsWith('FAIL consul.rights'))).toMatch(/service:write .* — fix: consul acl policy create -name previewd -rules 'node_prefix "" \{ policy = "read" \} .*service_prefix/);
    const none = await doctor(withEnv({ CONSUL_HTTP_TOKEN: await token('doctor-none', null) }));
    expect(failing(none)).toEqual(['consul.rights']);
    expect(none.lines.find((l) => l.startsWith('FAIL consul.rights'))).toContain('lacks service:read');
    const unknown = await doctor(withEnv({ CONSUL_HTTP_TOKEN: 'not-a-token' }));
    expect(failing(unknown)).toEqual(['consul.token']);
  });

  it('Postgres: a role without CREATEROLE', async () => {
    const role = `doctor_${randomBytes(4).toString('hex')}`;
    const password = randomBytes(12).toString('hex');
    const template = `${role}_tpl`;
    await withAdminClient(async (c) => {
      await c.query(`CREATE ROLE "${role}" LOGIN CREATEDB PASSWORD '${password}'`);
      await c.query(`CREATE DATABASE "${template}" OWNER "${role}"`);
      await c.query(`REVOKE CONNECT, TEMPORARY ON DATABASE "${template}" FROM PUBLIC`);
    }, undefined, world.server);
    try {
      const url = new URL(world.server.superuserUrl);
      url.username = role;
      url.password = password;
      const config = withConfig((c) => ({
        env: { ...c.env, DATABASE_URL: url.toString() },
        database: { ...c.database, loginGroup: `${role}_group` },
        repos: c.repos.map((r) => ({ ...r, database: { ...r.database, template } })),
      }));
      const r = await doctor(config);
      expect(failing(r)).toEqual(['postgres.role']);
      expect(r.lines.find((l) => l.startsWith('FAIL postgres.role'))).toContain(`lacks CREATEROLE — fix: as a superuser: ALTER ROLE "${role}" CREATEROLE;`);
      expect(r.lines.join('\n')).not.toContain(password);
    } finally {
      await withAdminClient(async (c) => {
        await c.query(`DROP DATABASE IF EXISTS "${template}" WITH (FORCE)`);
        await c.query(`DROP ROLE IF EXISTS "${role}"`);
      }, undefined, world.server);
    }
  });

  it('Postgres: a missing template, and a template PUBLIC may connect to', async () => {
    const missing = await doctor(withConfig((c) => ({ repos: c.repos.map((r) => ({ ...r, database: { ...r.database, template: 'no_such_template' } })) })));
    expect(failing(missing)).toEqual(['postgres.template no_such_template']);
    expect(missing.lines.find((l) => l.startsWith('FAIL postgres.template'))).toContain('does not exist — fix: as a superuser: CREATE DATABASE "no_such_template"');

    await withAdminClient((c) => c.query(`GRANT CONNECT ON DATABASE "${world.templateDatabase}" TO PUBLIC`), undefined, world.server);
    try {
      const open = await doctor();
      expect(failing(open)).toEqual([`postgres.template ${world.templateDatabase}`]);
      expect(open.lines.find((l) => l.startsWith('FAIL postgres.template'))).toContain(`fix: REVOKE CONNECT, TEMPORARY ON DATABASE "${world.templateDatabase}" FROM PUBLIC;`);
    } finally {
      await withAdminClient((c) => c.query(`REVOKE CONNECT, TEMPORARY ON DATABASE "${world.templateDatabase}" FROM PUBLIC`), undefined, world.server);
    }
  });

  it('GitHub: a token without write access, a classic token without the repo scope, and no webhook', async () => {
    const repo = world.repos[0]!;
    world.github.setRole(repo, { push: false, admin: false, maintain: false });
    try {
      const r = await doctor();
      expect(failing(r)).toEqual([`github.repo ${repo}`]);
      expect(r.lines.find((l) => l.startsWith('FAIL github.repo'))).toContain('cannot write');
      // Without admin the hooks are hidden (404): a warning naming the permission, not a failure.
      const hook = r.checks.find((c) => c.check === `github.webhook ${repo}`)!;
      expect(hook.status).toBe('warn');
      expect(hook.fix).toContain('admin:repo_hook');
    } finally {
      world.github.setRole(repo, { push: true, admin: true, maintain: true });
    }
    world.github.setScopes(['public_repo']);
    try {
      const r = await doctor();
      expect(failing(r)).toEqual([`github.repo ${repo}`]);
      expect(r.lines.find((l) => l.startsWith('FAIL github.repo'))).toContain('lack repo');
    } finally {
      world.github.setScopes(['repo']);
    }
    const elsewhere = await doctor(withConfig(() => ({ publicUrl: 'https://previewd.elsewhere.test' })));
    expect(failing(elsewhere)).toEqual([`github.webhook ${repo}`]);
    expect(elsewhere.lines.find((l) => l.startsWith('FAIL github.webhook'))).toContain('no webhook points at https://previewd.elsewhere.test/webhooks/github');
  });

  it('GitHub App: the installation\'s permissions and the App\'s webhook, with the App JWT only', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const app = await startGitHubEmulator({ app: { appId: 4242, slug: 'previewd', installationId: 7, privateKeyPem: pem, webhookUrl: hookUrl } });
    try {
      app.addRepo(world.repos[0]!);
      app.appPermissions['contents'] = 'read';
      const config = withEnv({ GITHUB_TOKEN: undefined, GITHUB_APP_ID: '4242', GITHUB_APP_PRIVATE_KEY: pem, GITHUB_API_URL: app.url });
      const good = await doctor(config);
      expect(failing(good)).toEqual([]);
      expect(good.checks.filter((c) => c.check.startsWith('github.')).map((c) => c.check)).toEqual(['github.app', 'github.webhook app', `github.repo ${world.repos[0]}`]);
      delete app.appPermissions['statuses'];
      const r = await doctor(config);
      expect(failing(r)).toEqual([`github.repo ${world.repos[0]}`]);
      expect(r.lines.find((l) => l.startsWith('FAIL github.repo'))).toContain('installation lacks statuses:write');
      // A repo that waits for build checks reads them: checks:read too.
      app.appPermissions['statuses'] = 'write';
      delete app.appPermissions['checks'];
      expect(failing(await doctor(config))).toEqual([]);
      const gated = await doctor({ ...config, repos: config.repos.map((repo) => ({ ...repo, build: { checks: ['build-images'], waitForImages: false, timeout: 1_800_000, pollInterval: 30_000 } })) });
      expect(gated.lines.find((l) => l.startsWith('FAIL github.repo'))).toContain('installation lacks checks:read');
      // With an e2e gate the App writes check runs: checks:write, and read is not enough.
      app.appPermissions['checks'] = 'read';
      expect(failing(await doctor(config))).toEqual([]);
      const withE2e = { ...config, repos: config.repos.map((repo) => ({ ...repo, e2e: { template: 'e2e.nomad.hcl.hbs', timeout: 900_000, context: 'previewd/e2e' } })) };
      const e2e = await doctor(withE2e);
      expect(e2e.lines.find((l) => l.startsWith('FAIL github.repo'))).toContain('installation lacks checks:write');
      app.appPermissions['checks'] = 'write';
      expect(failing(await doctor(withE2e)).filter((c) => c.startsWith('github.'))).toEqual([]);
      expect(app.requests.every((q) => q.method === 'GET')).toBe(true);
      expect(r.lines.join('\n')).not.toContain('PRIVATE KEY');
    } finally {
      await app.close();
    }
  });
});

describe.each(pgServers())('doctor postgres checks on $label', (server) => {
  // A role of this file's own (as the README makes it), so breaking it touches no other test.
  let role: Awaited<ReturnType<typeof createPreviewdRole>>;
  let world: World;
  beforeAll(async () => {
    role = await createPreviewdRole(server.superuserUrl);
    world = await startWorld({ server: role.server });
  });
  afterAll(async () => {
    await world?.cleanup();
    await role?.remove();
  });

  it("pass for the README's role and template, and name a role without CREATEDB", async () => {
    // The README's template carries its version marker (the warm pool needs it).
    await withRoleClient((c) => c.query(`COMMENT ON DATABASE "${world.templateDatabase}" IS 'schema v1'`), undefined, role.server);
    const healthy = await checkPostgres(world.config);
    expect(healthy.find((r) => r.check === `postgres.pool ${world.templateDatabase}`)).toMatchObject({ status: 'ok', detail: expect.stringContaining('0 of 2 spare(s) ready') });
    expect(healthy.filter((r) => r.status !== 'ok'), JSON.stringify(healthy)).toEqual([]);
    if (server.label !== 'pg15') expect(healthy.find((r) => r.check === 'postgres.version')!.detail).toContain('createrole_self_grant');
    await withAdminClient((c) => c.query(`ALTER ROLE "${role.server.role}" NOCREATEDB`), undefined, server);
    const broken = await checkPostgres(world.config);
    await withAdminClient((c) => c.query(`ALTER ROLE "${role.server.role}" CREATEDB`), undefined, server);
    expect(broken.filter((r) => r.status === 'fail').map((r) => r.check)).toEqual(['postgres.role']);
    expect(broken.find((r) => r.check === 'postgres.role')!.fix).toContain(`ALTER ROLE "${role.server.role}" CREATEDB;`);
  });

  it("warn when the template has no version marker or the versionQuery fails: no warm pool, PRs clone", async () => {
    await withRoleClient((c) => c.query(`COMMENT ON DATABASE "${world.templateDatabase}" IS NULL`), undefined, role.server);
    const pool = (results: Awaited<ReturnType<typeof checkPostgres>>) => results.find((r) => r.check === `postgres.pool ${world.templateDatabase}`);
    expect(pool(await checkPostgres(world.config))).toMatchObject({ status: 'warn', detail: expect.stringContaining('no version marker (no COMMENT)') });
    const withQuery = (versionQuery: string) => ({
      ...world.config,
      repos: world.config.repos.map((r) => ({ ...r, database: { ...r.database, pool: { ...r.database.pool, versionQuery } } })),
    });
    expect(pool(await checkPostgres(withQuery('SELECT max(id) FROM public.items')))).toMatchObject({ status: 'ok' });
    expect(pool(await checkPostgres(withQuery('SELECT version FROM schema_migrations')))).toMatchObject({ status: 'warn', detail: expect.stringContaining('versionQuery failed') });
  });

  it('say whether clones are constant-time, from what the server reports, and fail a cloneMethod it cannot apply', async () => {
    const pg18 = server.label !== 'pg15';
    const clone = (results: Awaited<ReturnType<typeof checkPostgres>>) => results.find((r) => r.check === 'postgres.clone');
    const auto = clone(await checkPostgres(world.config));
    expect(auto?.status).toBe('ok');
    expect(auto?.detail).toMatch(pg18 ? /^constant-time on a reflink filesystem: PostgreSQL 18\.[^:]*: STRATEGY FILE_COPY with file_copy_method = clone .*server default copy/ : /^not constant-time: PostgreSQL 15\.[^:]*: STRATEGY FILE_COPY copies every file/);
    const forced = clone(await checkPostgres({ ...world.config, database: { ...world.config.database, cloneMethod: 'clone' } }));
    if (pg18) expect(forced?.status).toBe('ok');
    else expect(forced).toMatchObject({ status: 'fail', fix: 'upgrade to PostgreSQL 18, or set database.cloneMethod: auto or copy' });
  });
});

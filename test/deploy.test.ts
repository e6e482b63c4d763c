// What operators deploy (deploy/): the Nomad job parses and registers in the Nomad
// emulator; previewd's own Vault policy is exactly what the daemon uses (a full PR
// lifecycle plus a GC sweep run with a token carrying only that policy, and every rule
// of it exercised); the JWT role is one Vault accepts; the systemd unit passes
// systemd-analyze's checks.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse as parseHcl } from '@cdktf/hcl2json';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileConfigSchema, SECRET_ENV_KEYS } from '../src/config/schema.js';
import { reconcileEnvironment } from '../src/environments/reconcile.js';
import { daemonSecretPath, renderDaemonPolicy } from '../src/environments/vault-access.js';
import { vaultPolicyMarker } from '../src/ownership/markers.js';
import { sweepGc } from '../src/gc/sweep.js';
import { createCluster } from '../src/sandbox/emulators/cluster.js';
import { startNomadEmulator } from '../src/sandbox/emulators/nomad.js';
import { pathMatches, startVaultEmulator } from '../src/sandbox/emulators/vault.js';
import { randomSha, type World } from '../src/sandbox/world.js';
import { checkTraefikTags } from '../src/templates/traefik.js';
import { createVaultClient } from '../src/vault/client.js';
import { startWorld } from './support/pg.js';

const deployFile = (name: string) => readFileSync(new URL(`../deploy/${name}`, import.meta.url), 'utf8');
type Json = Record<string, any>;

describe('deploy/previewd.nomad.hcl', () => {
  const hcl = deployFile('previewd.nomad.hcl');
  let job: Json;
  const cluster = createCluster({ startDelayMs: 5, healthyDelayMs: 10 });
  let nomad: Awaited<ReturnType<typeof startNomadEmulator>>;

  beforeAll(async () => {
    nomad = await startNomadEmulator({ cluster });
    const res = await fetch(`${nomad.url}/v1/jobs/parse`, { method: 'POST', body: JSON.stringify({ JobHCL: hcl, Canonicalize: true }) });
    expect(res.status, await res.clone().text()).toBe(200);
    job = (await res.json()) as Json;
  });
  afterAll(async () => {
    await nomad?.close();
    cluster.close();
  });

  it('when parsed then it runs two replicas, rolled out with a canary that reverts on failure', () => {
    expect(job.ID).toBe('previewd');
    expect(job.TaskGroups).toHaveLength(1);
    const group = job.TaskGroups[0];
    expect(group.Count).toBe(2);
    expect(group.Update).toMatchObject({ Canary: 1, AutoRevert: true, AutoPromote: true, MaxParallel: 1, HealthCheck: 'checks' });
  });

  it('when parsed then its Consul service checks /healthz and /readyz and its Traefik tags route the webhook and the UI only', () => {
    const [service, ...others] = job.TaskGroups[0].Services as Json[];
    expect(others).toEqual([]);
    expect(service!.Name).toBe('previewd');
    expect(service!.Meta).toEqual({ component: 'previewd' });
    const checks = (service!.Checks as Json[]).map((c) => ({ type: c.Type, path: c.Path }));
    expect(checks).toEqual([
      { type: 'http', path: '/healthz' },
      { type: 'http', path: '/readyz' },
    ]);
    const defaults = fileConfigSchema.parse({});
    const tags = service!.Tags as string[];
    expect(checkTraefikTags(tags, { serviceName: 'previewd', envId: 'previewd', entrypoints: [defaults.traefik.entrypoint], certResolvers: [defaults.traefik.certResolver] })).toEqual([]);
    const rules = tags.filter((t) => /\.rule=/.test(t)).map((t) => t.slice(t.indexOf('=') + 1));
    expect(rules.map((r) => /PathPrefix\(`([^`]+)`\)/.exec(r)?.[1])).toEqual(['/webhooks/', '/ui']);
    // Canaries carry no Traefik tag: no traffic before promotion.
    expect((service!.CanaryTags as string[]).some((t) => t.startsWith('traefik.'))).toBe(false);
  });

  it('when parsed then its secrets come from Vault through a template, none is inline, and the token from the workload identity', () => {
    const task = job.TaskGroups[0].Tasks[0] as Json;
    expect(task.Vault).toMatchObject({ Role: 'previewd', ChangeMode: 'restart', Env: true });
    const env = task.Env as Record<string, string>;
    for (const key of SECRET_ENV_KEYS) expect(env, key).not.toHaveProperty(key);
    const secretTemplates = (task.Templates as Json[]).filter((t) => String(t.EmbeddedTmpl).includes('with secret'));
    expect(secretTemplates).toHaveLength(1);
    expect(secretTemplates[0]).toMatchObject({ DestPath: 'secrets/previewd.env', Envvars: true });
    // Nothing that looks like a credential anywhere in the file.
    expect(hcl).not.toMatch(/(hvs\.|ghp_|github_pat_|postgres:\/\/[^@\s]+:[^@\s]+@|BEGIN [A-Z ]*PRIVATE KEY)/);
    // …at the path the policy grants for it (default configuration).
    expect(String(secretTemplates[0]!.EmbeddedTmpl)).toContain(`with secret "${daemonSecretPath(fileConfigSchema.parse({}))}"`);
    expect(task.Config.args).toEqual(['--config', '/local/previewd.yaml', 'serve']);
    expect(task.KillTimeout).toBeGreaterThan(25e9);
  });

  it("when parsed then it carries none of the PR jobs' ownership markers, so previewd's GC never takes it for its own", () => {
    const metas = [job.Meta, job.TaskGroups[0].Meta, ...job.TaskGroups[0].Tasks.map((t: Json) => t.Meta), ...job.TaskGroups[0].Services.map((s: Json) => s.Meta)];
    for (const meta of metas) for (const key of Object.keys(meta ?? {})) expect(key).not.toMatch(/^previewd[._]/);
  });

  it('when registered then Nomad accepts it and places both replicas', async () => {
    const res = await fetch(`${nomad.url}/v1/jobs`, { method: 'POST', body: JSON.stringify({ Job: job }) });
    expect(res.status, await res.clone().text()).toBe(200);
    const stored = (await (await fetch(`${nomad.url}/v1/job/previewd`)).json()) as Json;
    expect(stored.TaskGroups[0].Count).toBe(2);
  });

  it('when its non-secret config template is read then it is a configuration previewd accepts', async () => {
    const task = job.TaskGroups[0].Tasks[0] as Json;
    const template = (task.Templates as Json[]).find((t) => t.DestPath === 'local/previewd.yaml')!;
    const { parse } = await import('yaml');
    expect(fileConfigSchema.safeParse(parse(String(template.EmbeddedTmpl))).success).toBe(true);
  });
});

// A Vault ACL rule, as parsed from the policy file.
interface Rule {
  path: string;
  capabilities: string[];
}

async function policyRules(text: string): Promise<Rule[]> {
  const doc = (await parseHcl('policy.hcl', text)) as { path: Record<string, Array<{ capabilities: string[] }>> };
  return Object.entries(doc.path).map(([path, blocks]) => ({ path, capabilities: blocks[0]!.capabilities }));
}

describe('deploy/previewd-vault-policy.hcl', () => {
  it('when compared with the policy previewd generates for the default configuration then they are the same', () => {
    expect(deployFile('previewd-vault-policy.hcl')).toBe(renderDaemonPolicy(fileConfigSchema.parse({})));
  });

  describe('when the daemon runs a whole lifecycle and a GC sweep with a token carrying only that policy', () => {
    let world: World;
    let rules: Rule[];
    const PR = 7;
    const requests: { method: string; path: string; list: boolean; status: number }[] = [];

    beforeAll(async () => {
      world = await startWorld();
      const policy = renderDaemonPolicy(world.config);
      rules = await policyRules(policy);
      const root = world.secrets.vaultToken;
      const put = await fetch(`${world.vault.url}/v1/sys/policies/acl/${world.config.instance}`, {
        method: 'PUT',
        headers: { 'X-Vault-Token': root },
        body: JSON.stringify({ policy }),
      });
      expect(put.status).toBe(204);
      const token = world.vault.createToken([world.config.instance]);
      const { kvMount, jwtMount } = world.config.vault;
      const deps = { ...world.deps, vault: createVaultClient({ address: world.vault.url, token, kvMount, jwtMount }) };
      const from = world.vault.requests.length;

      await world.open(PR, randomSha());
      expect((await reconcileEnvironment(deps, world.key(PR))).status).toBe('ready');
      await world.open(PR, randomSha());
      expect((await reconcileEnvironment(deps, world.key(PR))).status).toBe('ready');
      // GC's inventory lists secrets, policies and roles; an orphan (a PR policy whose
      // environment is gone) makes it delete one too.
      const orphan = world.names(PR + 1);
      await world.deps.vault.putPolicy(orphan.vaultPolicy, `${vaultPolicyMarker(world.config.instance, orphan.id)}\npath "x" { capabilities = ["read"] }\n`);
      await sweepGc(deps, { dryRun: false, requestTeardown: async () => undefined });
      await world.close(PR);
      expect((await reconcileEnvironment(deps, world.key(PR))).status).toBe('removed');
      await deps.vault.ping();

      for (const r of world.vault.requests.slice(from)) {
        const list = /[?&]list=(true|1)\b/.test(r.query);
        requests.push({ method: r.method, path: r.path.replace(/^\/v1\//, ''), list, status: r.status });
      }
    }, 120_000);
    afterAll(async () => {
      await world?.cleanup();
    });

    it('then Vault denied none of its requests', () => {
      expect(requests.length).toBeGreaterThan(10);
      expect(requests.filter((r) => r.status === 403)).toEqual([]);
      expect(world.vault.policyNames()).not.toContain(world.names(PR + 1).vaultPolicy);
    });

    it('then every rule and every capability of the policy was used by some request', () => {
      // The Nomad job's secret template reads with this token too (consul-template's GET).
      const job = deployFile('previewd.nomad.hcl').replaceAll(`"secret/data/previewd/config"`, `"${daemonSecretPath(world.config)}"`);
      for (const m of job.matchAll(/with secret "([^"]+)"/g)) {
        expect(world.vault.allowed([world.config.instance], 'read', m[1]!), m[1]).toBe(true);
        requests.push({ method: 'GET', path: m[1]!, list: false, status: 200 });
      }
      // create and update are both writes (POST/PUT); which one Vault checks depends on
      // whether the path exists, so they count as one here.
      const capabilityOf = (r: (typeof requests)[number]) => (r.list ? 'list' : r.method === 'GET' ? 'read' : r.method === 'DELETE' ? 'delete' : 'write');
      const unused: string[] = [];
      for (const rule of rules) {
        const matching = requests.filter((r) => pathMatches(rule.path, r.list && !r.path.endsWith('/') ? `${r.path}/` : r.path));
        const used = new Set<string>(matching.map(capabilityOf));
        for (const capability of rule.capabilities) {
          const as = capability === 'create' || capability === 'update' ? 'write' : capability;
          if (!used.has(as)) unused.push(`${rule.path}: ${capability}`);
        }
      }
      expect(unused).toEqual([]);
    });
  });
});

describe('deploy/previewd-vault-role.json', () => {
  it('when written to a JWT auth mount then Vault accepts it and it grants only the previewd policy', async () => {
    const vault = await startVaultEmulator({ rootToken: 'root-for-role-test' });
    try {
      const role = JSON.parse(deployFile('previewd-vault-role.json')) as Json;
      const res = await fetch(`${vault.url}/v1/auth/jwt-nomad/role/previewd`, { method: 'POST', headers: { 'X-Vault-Token': 'root-for-role-test' }, body: JSON.stringify(role) });
      expect(res.status, await res.clone().text()).toBe(204);
      expect(vault.jwtRole('previewd', 'jwt-nomad')).toMatchObject({ token_policies: ['previewd'], bound_audiences: ['vault.io'] });
      // The daemon's own role and policy are outside the `<instance>-*` names it may write.
      expect(renderDaemonPolicy(fileConfigSchema.parse({}))).not.toMatch(/path "[^"]*\/previewd"/);
    } finally {
      await vault.close();
    }
  });
});

describe('deploy/previewd.service', () => {
  const run = promisify(execFile);
  const unit = deployFile('previewd.service');
  // systemd-analyze checks that ExecStart's binary exists: point it at node for the check.
  const dir = mkdtempSync(join(tmpdir(), 'previewd-unit-'));
  const file = join(dir, 'previewd.service');
  writeFileSync(file, unit.replace(/^ExecStart=\S+/m, `ExecStart=${process.execPath}`));

  it('when verified by systemd-analyze then it has no error and no unknown setting', async () => {
    const { stdout, stderr } = await run('systemd-analyze', ['verify', file]);
    expect(stdout + stderr).toBe('');
  });

  it('when its exposure is scored offline then it is at most 2.0 of 10', async () => {
    await run('systemd-analyze', ['security', '--offline=yes', '--threshold=20', '--no-pager', file]);
  });

  it('when read then it runs previewd serve as a non-root user with its secrets from an environment file and restarts on failure', () => {
    const settings = new Map(
      unit
        .split('\n')
        .filter((l) => /^[A-Za-z]+=/.test(l))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const),
    );
    expect(settings.get('User')).toBe('previewd');
    expect(settings.get('EnvironmentFile')).toBe('/etc/previewd/previewd.env');
    expect(settings.get('Restart')).toBe('on-failure');
    expect(settings.get('ExecStart')).toMatch(/\/previewd serve\b/);
    expect(settings.get('NoNewPrivileges')).toBe('yes');
    expect(settings.get('ProtectSystem')).toBe('strict');
    // V8 needs writable+executable memory for its JIT.
    expect(settings.has('MemoryDenyWriteExecute')).toBe(false);
  });
});

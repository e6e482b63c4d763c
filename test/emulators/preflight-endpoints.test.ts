// The emulator endpoints a preflight reads, as the real systems answer them (sources in
// vault-sys.ts, github-admin.ts, nomad-acl.ts): what they allow, and what they refuse
// with the real status and text.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCluster, type Cluster } from '../../src/sandbox/emulators/cluster.js';
import { startConsulEmulator, type ConsulEmulator } from '../../src/sandbox/emulators/consul.js';
import { startGitHubEmulator, type GitHubEmulator } from '../../src/sandbox/emulators/github.js';
import { createNomadAcl } from '../../src/sandbox/emulators/nomad-acl.js';
import { startNomadEmulator, type NomadEmulator } from '../../src/sandbox/emulators/nomad.js';
import { startVaultEmulator, type VaultEmulator } from '../../src/sandbox/emulators/vault.js';

describe('Vault sys endpoints', () => {
  let vault: VaultEmulator;
  const root = 'root-token';
  const call = (path: string, init: { method?: string; token?: string; body?: unknown } = {}) =>
    fetch(`${vault.url}/v1/${path}`, { method: init.method ?? 'GET', headers: { 'x-vault-token': init.token ?? root }, body: init.body === undefined ? undefined : JSON.stringify(init.body) });
  beforeAll(async () => {
    vault = await startVaultEmulator({ rootToken: root });
    const put = await call('sys/policies/acl/kv-only', { method: 'PUT', body: { policy: 'path "secret/data/previews/*" { capabilities = ["read"] }' } });
    expect(put.status).toBe(204);
  });
  afterAll(() => vault.close());

  it('sys/mounts and sys/auth list the KV v2 and JWT mounts', async () => {
    const mounts = (await (await call('sys/mounts')).json()) as { data: Record<string, { type: string; options: { version?: string } | null }> };
    expect(mounts.data['secret/']).toMatchObject({ type: 'kv', options: { version: '2' } });
    const auth = (await (await call('sys/auth')).json()) as { data: Record<string, { type: string }> };
    expect(auth.data['jwt-nomad/']!.type).toBe('jwt');
    expect((await call('sys/mounts', { token: vault.createToken(['kv-only']) })).status).toBe(403);
  });

  it('sys/internal/ui/mounts answers a token with access below the mount, and the same 403 for a missing mount', async () => {
    const token = vault.createToken(['kv-only']);
    const kv = await call('sys/internal/ui/mounts/secret', { token });
    expect(kv.status).toBe(200);
    expect(((await kv.json()) as { data: { type: string; options: { version: string } } }).data).toMatchObject({ type: 'kv', options: { version: '2' }, path: 'secret/' });
    for (const path of ['nokv', 'auth/jwt-nomad']) {
      const denied = await call(`sys/internal/ui/mounts/${path}`, { token });
      expect(denied.status).toBe(403);
      expect(await denied.json()).toEqual({ errors: [`preflight capability check returned 403, please ensure client's policies grant access to path "${path}/"`] });
    }
    expect((await call('sys/internal/ui/mounts/auth/jwt-nomad')).status).toBe(200);
  });

  it('sys/capabilities-self answers per path (root, granted, deny) and needs paths', async () => {
    const token = vault.createToken(['kv-only']);
    const res = await call('sys/capabilities-self', { method: 'POST', token, body: { paths: ['secret/data/previews/a', 'sys/policies/acl/x'] } });
    expect(((await res.json()) as { data: Record<string, string[]> }).data).toEqual({ 'secret/data/previews/a': ['read'], 'sys/policies/acl/x': ['deny'] });
    const rootRes = (await (await call('sys/capabilities-self', { method: 'POST', body: { paths: ['anything'] } })).json()) as { data: Record<string, string[]> };
    expect(rootRes.data).toEqual({ anything: ['root'], capabilities: ['root'] });
    const empty = await call('sys/capabilities-self', { method: 'POST', body: {} });
    expect(empty.status).toBe(400);
    expect(await empty.json()).toEqual({ errors: ['paths must be supplied'] });
  });

  it('a v1 KV mount says so', async () => {
    const v1 = await startVaultEmulator({ rootToken: root, kvVersion: '1' });
    try {
      const res = await fetch(`${v1.url}/v1/sys/internal/ui/mounts/secret`, { headers: { 'x-vault-token': root } });
      expect(((await res.json()) as { data: { options: { version: string } } }).data.options.version).toBe('1');
    } finally {
      await v1.close();
    }
  });
});

describe('GitHub repository permissions, scopes and hooks', () => {
  let github: GitHubEmulator;
  const token = 'ghp_preflight';
  const get = (path: string) => fetch(`${github.url}${path}`, { headers: { authorization: `token ${token}`, 'user-agent': 'test' } });
  beforeAll(async () => {
    github = await startGitHubEmulator({ token });
    github.addRepo('acme/shop');
    github.addHook('acme/shop', { url: 'https://p.example/webhooks/github', events: ['pull_request'] });
  });
  afterAll(() => github.close());

  it('a classic PAT sees its scopes and permissions; hooks need admin and a hook scope, else 404', async () => {
    const repo = await get('/repos/acme/shop');
    expect(repo.headers.get('x-oauth-scopes')).toBe('repo');
    expect(((await repo.json()) as { permissions: Record<string, boolean> }).permissions).toMatchObject({ admin: true, push: true });
    const hooks = (await (await get('/repos/acme/shop/hooks')).json()) as { config: { url: string }; events: string[]; active: boolean }[];
    expect(hooks).toMatchObject([{ active: true, events: ['pull_request'], config: { url: 'https://p.example/webhooks/github', content_type: 'json' } }]);
    github.setScopes(['public_repo']);
    expect((await get('/repos/acme/shop/hooks')).status).toBe(404);
    github.setScopes(['repo']);
    github.setRole('acme/shop', { admin: false });
    expect((await get('/repos/acme/shop/hooks')).status).toBe(404);
    github.setRole('acme/shop', { admin: true });
    github.setScopes(null);
    expect((await get('/repos/acme/shop')).headers.get('x-oauth-scopes')).toBeNull();
  });
});

describe('Nomad ACLs', () => {
  let cluster: Cluster;
  let nomad: NomadEmulator;
  let open: NomadEmulator;
  const acl = createNomadAcl();
  beforeAll(async () => {
    cluster = createCluster({ startDelayMs: 5, healthyDelayMs: 10 });
    await acl.createPolicy('readonly', 'namespace "default" { policy = "read" }');
    await acl.createPolicy('other', 'namespace "default" { policy = "write" }');
    nomad = await startNomadEmulator({ cluster, acl });
    open = await startNomadEmulator({ cluster });
  });
  afterAll(async () => {
    await nomad.close();
    await open.close();
    cluster.close();
  });
  const call = (base: string, path: string, token?: string, method = 'GET', body?: unknown) =>
    fetch(`${base}${path}`, { method, headers: token ? { 'x-nomad-token': token } : {}, body: body === undefined ? undefined : JSON.stringify(body) });

  it('token/self and the own policies are readable; others, unknown tokens and missing capabilities are refused', async () => {
    const t = acl.createToken({ name: 'previewd', policies: ['readonly'] });
    const self = (await (await call(nomad.url, '/v1/acl/token/self', t.SecretID)).json()) as { Name: string; Type: string; Policies: string[] };
    expect(self).toMatchObject({ Name: 'previewd', Type: 'client', Policies: ['readonly'] });
    expect((await call(nomad.url, '/v1/acl/policy/readonly', t.SecretID)).status).toBe(200);
    const other = await call(nomad.url, '/v1/acl/policy/other', t.SecretID);
    expect([other.status, await other.text()]).toEqual([403, 'Permission denied']);
    const unknown = await call(nomad.url, '/v1/jobs', 'not-a-token');
    expect([unknown.status, await unknown.text()]).toEqual([403, 'ACL token not found']);
    expect((await call(nomad.url, '/v1/jobs', t.SecretID)).status).toBe(200);
    const register = await call(nomad.url, '/v1/jobs', t.SecretID, 'POST', { Job: { ID: 'x' } });
    expect([register.status, await register.text()]).toEqual([403, 'Permission denied']);
    expect(cluster.listJobs('default')).toEqual([]);
  });

  it('agent/self gives the version to agent:read only', async () => {
    await acl.createPolicy('agent-read', 'agent { policy = "read" }');
    const reader = acl.createToken({ policies: ['agent-read'] });
    const self = (await (await call(nomad.url, '/v1/agent/self', reader.SecretID)).json()) as { config: { Version: { Version: string } } };
    expect(self.config.Version.Version).toMatch(/^1\.10\./);
    const plain = acl.createToken({ policies: ['readonly'] });
    expect((await call(nomad.url, '/v1/agent/self', plain.SecretID)).status).toBe(403);
  });

  it('with ACLs off the ACL endpoints say so', async () => {
    const res = await call(open.url, '/v1/acl/token/self');
    expect([res.status, await res.text()]).toEqual([400, 'ACL support disabled']);
  });
});

describe('Consul /v1/internal/acl/authorize', () => {
  let cluster: Cluster;
  let consul: ConsulEmulator;
  beforeAll(async () => {
    cluster = createCluster({ startDelayMs: 5, healthyDelayMs: 10 });
    consul = await startConsulEmulator({ cluster, acl: true });
    await cluster.consulAcl.createPolicy('ro', 'service_prefix "shop-" { policy = "read" }');
    await cluster.consulAcl.createToken({ secretId: 'ro-token', policies: ['ro'] });
  });
  afterAll(async () => {
    await consul.close();
    cluster.close();
  });
  const ask = (body: unknown, token = 'ro-token') => fetch(`${consul.url}/v1/internal/acl/authorize`, { method: 'POST', headers: { 'x-consul-token': token }, body: JSON.stringify(body) });

  it('answers each question as the authorizer decides, changing nothing', async () => {
    const res = await ask([{ Resource: 'service', Segment: 'shop-pr-1-api', Access: 'read' }, { Resource: 'service', Segment: 'shop-pr-1-api', Access: 'write' }, { Resource: 'node', Segment: 'n1', Access: 'read' }]);
    expect(((await res.json()) as { Allow: boolean }[]).map((a) => a.Allow)).toEqual([true, false, false]);
    expect(await (await ask([])).json()).toEqual([]);
  });

  it('refuses an unknown resource or access, too many questions, and an unknown token, with Consul\'s texts', async () => {
    const bad = await ask([{ Resource: 'bogus', Segment: '', Access: 'read' }]);
    expect([bad.status, await bad.text()]).toEqual([400, 'Bad request: Invalid ACL resource requested: "bogus"']);
    const level = await ask([{ Resource: 'service', Segment: 'x', Access: 'list' }]);
    expect([level.status, await level.text()]).toEqual([400, 'Bad request: Invalid access level for service resource: list']);
    const many = await ask(Array.from({ length: 65 }, () => ({ Resource: 'service', Segment: 'x', Access: 'read' })));
    expect(many.status).toBe(400);
    expect((await ask([], 'nope')).status).toBe(403);
  });
});

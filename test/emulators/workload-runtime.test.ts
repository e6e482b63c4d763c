// The template runner at allocation start (workload-runtime.ts), against the Nomad,
// Consul and Vault emulators: what a task's template can read with its identities, and
// the task events a template that cannot render leaves (nomad template.go, vault_hook.go).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCluster, type Cluster, type Json } from '../../src/sandbox/emulators/cluster.js';
import { startConsulEmulator, type ConsulEmulator } from '../../src/sandbox/emulators/consul.js';
import { canonicalizeJob } from '../../src/sandbox/emulators/nomad-jobspec.js';
import { startNomadEmulator, type NomadEmulator } from '../../src/sandbox/emulators/nomad.js';
import { startVaultEmulator, type VaultEmulator } from '../../src/sandbox/emulators/vault.js';
import { applyImplicitIdentities, type IdentityDefaults } from '../../src/sandbox/emulators/nomad-identities.js';
import { createWorkloadRuntime, parseTemplate } from '../../src/sandbox/emulators/workload-runtime.js';
import { waitFor } from '../support/wait.js';

const ROOT = 'root-for-runtime-tests';
const AUD = 'vault.io';
let cluster: Cluster;
let nomad: NomadEmulator;
let consul: ConsulEmulator;
let vault: VaultEmulator;
/** The servers' default identities, applied at register as Nomad's admission hook does. */
let serverDefaults: IdentityDefaults;
let seq = 0;

async function vaultCall(method: string, path: string, body?: unknown) {
  const res = await fetch(`${vault.url}/v1/${path}`, { method, headers: { 'X-Vault-Token': ROOT }, body: body === undefined ? undefined : JSON.stringify(body) });
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
}

beforeAll(async () => {
  cluster = createCluster({ startDelayMs: 5, healthyDelayMs: 10 });
  nomad = await startNomadEmulator({ cluster });
  consul = await startConsulEmulator({ cluster });
  vault = await startVaultEmulator({ rootToken: ROOT });
  await vaultCall('POST', 'auth/jwt-nomad/config', { jwks_url: `${nomad.url}/.well-known/jwks.json` });
  serverDefaults = { vault: { Audience: [AUD], TTL: 3600e9 } };
  cluster.attachTemplateRuntime(
    createWorkloadRuntime({
      signingKey: cluster.identityKey,
      now: () => vault.now(), // one clock for the cluster and Vault, as NTP gives a real one
      vault: { address: vault.url, jwtMount: 'jwt-nomad' },
      consul: { address: consul.url, login: async () => null },
    }),
  );
});
afterAll(async () => {
  cluster.close();
  await nomad.close();
  await consul.close();
  await vault.close();
});

const ENV_TEMPLATE = (path: string, service: string) =>
  `[[ with secret "${path}" ]]DATABASE_URL=[[ .Data.data.DATABASE_URL ]]\n[[ end ]][[ range service "${service}" ]]REDIS_URL=redis://[[ .Address ]]:[[ .Port ]][[ end ]]\n`;

/** One PR-like setup: a secret, a policy reading only it, a JWT role bound to `boundJobs`. */
async function prSetup(name: string, boundJobs: string[], data: Record<string, string> = { DATABASE_URL: `postgres://u:p@db/${name}` }) {
  const path = `previews/${name}`;
  await vaultCall('POST', `secret/data/${path}`, { data });
  await vaultCall('PUT', `sys/policies/acl/${name}`, { policy: `path "secret/data/${path}" { capabilities = ["read"] }` });
  await vaultCall('POST', `auth/jwt-nomad/role/${name}`, {
    role_type: 'jwt',
    bound_audiences: [AUD],
    bound_claims: { nomad_namespace: 'default', nomad_job_id: boundJobs },
    user_claim: '/nomad_job_id',
    user_claim_json_pointer: true,
    token_policies: [name],
    token_period: '30m',
  });
  return { secretPath: `secret/data/${path}`, role: name };
}

function job(id: string, options: { role?: string; template: string; changeMode?: string; groupConsul?: boolean; withService?: string }): Json {
  const task: Json = {
    Name: 'app',
    Driver: 'docker',
    Config: { image: 'busybox:1' },
    Templates: [{ DestPath: 'secrets/app.env', Envvars: true, ChangeMode: options.changeMode ?? 'restart', LeftDelim: '[[', RightDelim: ']]', EmbeddedTmpl: options.template }],
  };
  if (options.role !== undefined) task.Vault = { Role: options.role };
  const group: Json = { Name: 'g', Count: 1, Tasks: [task] };
  if (options.groupConsul) group.Consul = { Namespace: '' };
  if (options.withService) {
    group.Networks = [{ Mode: 'host', DynamicPorts: [{ Label: 'db', To: 6379 }] }];
    group.Services = [{ Name: options.withService, PortLabel: 'db', Provider: 'consul' }];
  }
  return canonicalizeJob({ ID: id, Datacenters: ['dc1'], TaskGroups: [group] }, 'default');
}

async function runJob(spec: Json) {
  cluster.registerJob('default', applyImplicitIdentities(structuredClone(spec), serverDefaults));
  const alloc = await waitFor(`an allocation of ${String(spec.ID)} past pending`, () => cluster.listAllocations('default', spec.ID as string).find((a) => a.ClientStatus !== 'pending'), 10_000);
  return alloc;
}

const eventsOf = (alloc: Json) => (((alloc.TaskStates as Record<string, Json>).app!.Events as Json[]) ?? []).map((e) => `${String(e.Type)}: ${String(e.DisplayMessage)}`);

describe('workload runtime: templates at allocation start', () => {
  it('when the role is bound to the job then the task env has the secret and the service address', async () => {
    const name = `ok${++seq}`;
    const { secretPath, role } = await prSetup(name, [`${name}-app`]);
    await runJob(job(`${name}-cache`, { template: '', withService: `${name}-cache` }));
    await waitFor('the cache instance', () => cluster.listServices().some((s) => s.Service === `${name}-cache`));
    const alloc = await runJob(job(`${name}-app`, { role, template: ENV_TEMPLATE(secretPath, `${name}-cache`) }));
    expect(alloc.ClientStatus).toBe('running');
    const env = cluster.renderedEnv(alloc.ID as string, 'app');
    expect(env).toEqual({ DATABASE_URL: `postgres://u:p@db/${name}`, REDIS_URL: expect.stringMatching(/^redis:\/\/10\.0\.0\.12:\d+$/) });
  });

  it("when the JWT role is bound to other jobs then the task is killed with the login refusal and never starts", async () => {
    const name = `other${++seq}`;
    const { secretPath, role } = await prSetup(name, [`${name}-someone-else`]);
    const alloc = await runJob(job(`${name}-app`, { role, template: ENV_TEMPLATE(secretPath, 'none') }));
    expect(alloc.ClientStatus).toBe('failed');
    const events = eventsOf(alloc);
    expect(events.at(-1)).toBe(
      `Killing: Vault: failed to derive vault token: failed to derive Vault token for identity vault_default: failed to login with JWT: Error making API request.\n\nURL: PUT ${vault.url}/v1/auth/jwt-nomad/login\nCode: 400. Errors:\n\n* error validating claims: claim "nomad_job_id" does not match any associated bound claim values`,
    );
    expect(events.some((e) => e.startsWith('Started'))).toBe(false);
    expect(cluster.renderedEnv(alloc.ID as string, 'app')).toBeNull();
  });

  it('when the policy does not grant the path then the template reports it missing and fails with the permission denial', async () => {
    const name = `deny${++seq}`;
    const { role } = await prSetup(name, [`${name}-app`]);
    await prSetup(`${name}b`, [`${name}b-app`]);
    const foreign = `secret/data/previews/${name}b`;
    const alloc = await runJob(job(`${name}-app`, { role, template: ENV_TEMPLATE(foreign, 'none') }));
    expect(alloc.ClientStatus).toBe('failed');
    expect(eventsOf(alloc).slice(-2)).toEqual([
      `Template: Missing: vault.read(${foreign})`,
      `Killing: Template failed: vault.read(${foreign}): vault.read(${foreign}): Error making API request.\n\nURL: GET ${vault.url}/v1/${foreign}\nCode: 403. Errors:\n\n* 1 error occurred:\n\t* permission denied\n\n`,
    ]);
  });

  it('when the secret version is past its delete_version_after then the template fails with no secret', async () => {
    const name = `old${++seq}`;
    await vaultCall('POST', `secret/metadata/previews/${name}`, { delete_version_after: '1h' });
    const { secretPath, role } = await prSetup(name, [`${name}-app`]);
    vault.advance(2 * 3_600_000);
    try {
      const alloc = await runJob(job(`${name}-app`, { role, template: ENV_TEMPLATE(secretPath, 'none') }));
      expect(alloc.ClientStatus).toBe('failed');
      expect(eventsOf(alloc).at(-1)).toBe(`Killing: Template failed: vault.read(${secretPath}): no secret exists at ${secretPath}`);
    } finally {
      vault.advance(-2 * 3_600_000);
    }
  });

  it('when the servers give no vault identity then the task is killed: no signed workload identity available', async () => {
    const name = `noid${++seq}`;
    const { secretPath, role } = await prSetup(name, [`${name}-app`]);
    const saved = serverDefaults;
    serverDefaults = {};
    try {
      const alloc = await runJob(job(`${name}-app`, { role, template: ENV_TEMPLATE(secretPath, 'none') }));
      expect(eventsOf(alloc).at(-1)).toBe('Killing: Vault: failed to derive vault token: no signed workload identity available');
    } finally {
      serverDefaults = saved;
    }
  });

  it('when the secret is rewritten identically then a re-render restarts nothing; changed data restarts a restart-mode task only', async () => {
    const name = `re${++seq}`;
    const { secretPath, role } = await prSetup(name, [`${name}-app`, `${name}-noop`]);
    const restart = await runJob(job(`${name}-app`, { role, template: ENV_TEMPLATE(secretPath, 'none') }));
    const noop = await runJob(job(`${name}-noop`, { role, template: ENV_TEMPLATE(secretPath, 'none'), changeMode: 'noop' }));
    const restarts = (id: string) => ((cluster.getAllocation(id)!.TaskStates as Record<string, Json>).app!.Restarts as number);
    await vaultCall('POST', `secret/data/previews/${name}`, { data: { DATABASE_URL: `postgres://u:p@db/${name}` } });
    await cluster.rerenderTemplates();
    expect([restarts(restart.ID as string), restarts(noop.ID as string)]).toEqual([0, 0]);
    await vaultCall('POST', `secret/data/previews/${name}`, { data: { DATABASE_URL: `postgres://u:NEW@db/${name}` } });
    await cluster.rerenderTemplates();
    expect([restarts(restart.ID as string), restarts(noop.ID as string)]).toEqual([1, 0]);
    expect(eventsOf(cluster.getAllocation(restart.ID as string)!).at(-1)).toBe('Restart Signaled: Template with change_mode restart re-rendered');
    expect(cluster.renderedEnv(noop.ID as string, 'app')!.DATABASE_URL).toBe(`postgres://u:NEW@db/${name}`);
  });

  it('when a template uses an action previewd never renders then the emulator says so instead of guessing', () => {
    expect(() => parseTemplate('[[ key "x" ]]', '[[', ']]')).toThrow(/unsupported template action/);
    expect(() => parseTemplate('[[ with secret "a" ]]', '[[', ']]')).toThrow(/unexpected EOF/);
  });
});

describe('workload runtime: identity claims (nomad/structs/workload_id.go)', () => {
  it('when a vault identity is signed then it carries the namespace, job, allocation, task, role and audience claims and verifies against the JWKS', async () => {
    const runtime = createWorkloadRuntime({
      signingKey: cluster.identityKey,
      now: () => 1_700_000_000_000,
      vault: { address: vault.url, jwtMount: 'jwt-nomad' },
      consul: { address: consul.url, login: async () => null },
    });
    const group = { Name: 'api' };
    const claims = runtime.claimsFor({ allocId: 'a-1', namespace: 'default', job: { ID: 'pr-1-api' }, group }, { Name: 'api', Vault: { Role: 'r1' } }, { Name: 'vault_default', Audience: [AUD], TTL: 3600e9 });
    expect(claims).toMatchObject({
      nomad_namespace: 'default',
      nomad_job_id: 'pr-1-api',
      nomad_allocation_id: 'a-1',
      nomad_task: 'api',
      vault_role: 'r1',
      aud: [AUD],
      sub: 'global:default:pr-1-api:api:api:vault_default',
      iat: 1_700_000_000,
      nbf: 1_700_000_000,
      exp: 1_700_003_600,
    });
    const jwks = (await (await fetch(`${nomad.url}/.well-known/jwks.json`)).json()) as { keys: Json[] };
    expect(jwks.keys).toEqual([expect.objectContaining({ kty: 'RSA', alg: 'RS256', use: 'sig', kid: cluster.identityKey.kid })]);
  });
});

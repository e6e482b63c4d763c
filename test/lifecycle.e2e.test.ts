// One PR's whole life against the emulators and real Postgres/Redis, through the real
// clients: open → ready, push → ready at the new SHA, close → nothing left anywhere.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OwnershipError, UserError } from '../src/errors.js';
import { reconcileEnvironment } from '../src/environments/reconcile.js';
import { classifyFailure } from '../src/queue/retry-policy.js';
import { randomSha } from '../src/sandbox/world.js';
import { liveCluster, startTestWorld, type TestWorld } from './support/live.js';
import { pgServers, withAdminClient, type PgServer } from './support/pg.js';

const PR = 42;
// Live mode (README "Live mode") runs this file against real agents; the cases that
// inject faults into the emulated cluster or register as one of its node agents need it.
const emulated = liveCluster() === undefined;

async function databaseExists(server: PgServer, name: string): Promise<boolean> {
  return withAdminClient(async (c) => (await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1, undefined, server);
}
async function roleExists(server: PgServer, name: string): Promise<boolean> {
  return withAdminClient(async (c) => (await c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name])).rowCount === 1, undefined, server);
}

describe.each(pgServers())('environment lifecycle (emulators + real Postgres $label/Redis, previewd as the README role)', (server: PgServer) => {
  let world: TestWorld;
  const sha1 = randomSha();
  const sha2 = randomSha();
  const seen = { passwords: new Set<string>(), jobSpecs: [] as string[] };

  beforeAll(async () => {
    world = await startTestWorld({ server });
  });
  afterAll(async () => {
    await world?.cleanup();
  });

  const repo = () => world.repos[0]!;
  const names = () => world.names(PR);
  const prDeployments = () => world.github.deployments(repo()).filter((d) => d.environment === names().githubEnvironment);
  const ourComments = () => world.github.comments(repo(), PR).filter((c) => c.body.includes(names().commentMarker));
  const latestCommitState = (sha: string) => world.github.commitStatuses(repo(), sha).filter((s) => s.context === world.config.github.statusContext).at(-1)?.state;
  const rememberPassword = async () => {
    const url = (await world.observe.secret(names().vaultPath))?.data?.DATABASE_URL;
    if (typeof url === 'string') seen.passwords.add(decodeURIComponent(new URL(url).password));
    // The job specs as Nomad stored them, while they exist.
    seen.jobSpecs.push(...(await world.observe.jobs()).map((j) => JSON.stringify(j)));
  };

  it('when a PR opens then it becomes ready in every layer and GitHub shows one success', async () => {
    await world.open(PR, sha1);
    const result = await reconcileEnvironment(world.deps, world.key(PR));
    expect(result.status).toBe('ready');
    await rememberPassword();

    const record = await world.deps.store.get(world.key(PR));
    expect(record).toMatchObject({ status: 'ready', observedSha: sha1, lastError: null });
    expect(Object.values(record!.components).every((s) => s === 'healthy')).toBe(true);

    const n = names();
    for (const component of ['api', 'worker', 'frontend']) {
      const job = await world.deps.nomad.getJob(n.jobId(component));
      expect(job?.meta['previewd.sha']).toBe(sha1);
    }
    // The cache is a stock image, not built from the PR: its tag is its own, its meta has no SHA.
    const cache = (await world.observe.job(n.jobId('cache')))!;
    expect((cache.Meta as Record<string, string>)['previewd.sha']).toBeUndefined();
    expect(JSON.stringify(cache)).not.toContain(sha1);
    for (const component of ['api', 'frontend']) {
      const { instances } = await world.deps.consul.healthService(n.serviceName(component), { passing: true });
      expect(instances.length).toBeGreaterThan(0);
      expect(instances[0]!.tags).toContain('traefik.enable=true');
      expect(instances[0]!.tags.some((t) => t.endsWith(`.rule=Host(\`${n.host(component)}\`)`))).toBe(true);
    }
    expect(await databaseExists(server, n.database)).toBe(true);
    expect(await roleExists(server, n.role)).toBe(true);
    expect((await world.observe.secret(n.vaultPath))?.customMetadata).toMatchObject({ previewd_managed_by: world.config.instance, previewd_env: n.id });
    expect(await world.observe.policy(n.vaultPolicy)).toContain(`${world.config.vault.kvMount}/data/${n.vaultPath}`);
    expect(await world.observe.jwtRole(n.vaultRole)).toMatchObject({ token_policies: [n.vaultPolicy] });

    // What the tasks actually got: the template runner logged in with each task's
    // workload identity and rendered the PR's secret, and found the PR's cache through
    // Consul with the task's Consul identity (under ACLs it needs the group's `consul {}`).
    const secretData = (await world.observe.secret(n.vaultPath))!.data!;
    const cacheService = (await world.observe.services(n.serviceName('cache')))[0]!;
    for (const [component, task] of [['api', 'migrate'], ['api', 'api'], ['worker', 'worker'], ['frontend', 'frontend']] as const) {
      const alloc = (await world.observe.allocations(n.jobId(component))).find((a) => a.DesiredStatus === 'run')!;
      const env = await world.observe.renderedEnv(alloc.ID as string, task);
      expect(env?.DATABASE_URL, `${component}/${task}`).toBe(secretData.DATABASE_URL);
      expect(env?.REDIS_URL, `${component}/${task}`).toBe(`redis://${cacheService.Address}:${cacheService.Port}`);
    }

    expect(prDeployments()).toHaveLength(1);
    expect(prDeployments()[0]!.statuses.map((s) => s.state)).toEqual(['queued', 'in_progress', 'success']);
    expect(prDeployments()[0]!.statuses.at(-1)!.environmentUrl).toBe(n.url('frontend'));
    expect(ourComments()).toHaveLength(1);
    expect(ourComments()[0]!.body).toContain(n.url('frontend'));
    expect(latestCommitState(sha1)).toBe('success');
  });

  it('when the PR role connects with the password from Vault then it reaches its own database', async () => {
    const url = (await world.observe.secret(names().vaultPath))!.data!.DATABASE_URL as string;
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const rows = await client.query('SELECT name FROM items ORDER BY id');
      expect(rows.rows.map((r) => r.name)).toEqual(['apple', 'pear']);
      await client.query("INSERT INTO items (name) VALUES ('written-before-push')");
    } finally {
      await client.end();
    }
  });

  it('when a new commit is pushed then it is ready at the new SHA with the same database and one comment', async () => {
    const firstDeployment = prDeployments()[0]!.id;
    const cacheAllocs = () => world.observe.allocations(names().jobId('cache'));
    const cacheBefore = (await cacheAllocs()).map((a) => [a.ID, a.ModifyIndex, a.ClientStatus]);
    await world.open(PR, sha2, { reason: 'synchronize' });
    await reconcileEnvironment(world.deps, world.key(PR));
    await rememberPassword();

    const record = await world.deps.store.get(world.key(PR));
    expect(record).toMatchObject({ status: 'ready', observedSha: sha2 });
    expect((await world.deps.nomad.getJob(names().jobId('api')))?.meta['previewd.sha']).toBe(sha2);
    // A push must not restart the PR's cache (its queue and data live there): same allocation, untouched.
    expect((await cacheAllocs()).map((a) => [a.ID, a.ModifyIndex, a.ClientStatus])).toEqual(cacheBefore);
    const deployments = prDeployments();
    expect(deployments).toHaveLength(2);
    expect(deployments.find((d) => d.id === firstDeployment)!.statuses.at(-1)!.state).toBe('inactive');
    expect(deployments.find((d) => d.sha === sha2)!.statuses.at(-1)!.state).toBe('success');
    expect(ourComments()).toHaveLength(1);
    expect(ourComments()[0]!.body).toContain(sha2.slice(0, 7));
    expect(latestCommitState(sha2)).toBe('success');
    // Same database: the row written before the push is still there.
    const rows = await withAdminClient((c) => c.query("SELECT 1 FROM items WHERE name = 'written-before-push'"), names().database, server);
    expect(rows.rowCount).toBe(1);
  });

  it('when the PR closes then nothing is left in Nomad, Consul, Vault or Postgres and GitHub shows it removed', async () => {
    await world.close(PR);
    const result = await reconcileEnvironment(world.deps, world.key(PR));
    expect(result.status).toBe('removed');
    const n = names();

    expect(await world.deps.nomad.listJobs({ prefix: `${n.id}-` })).toEqual([]);
    for (const component of ['cache', 'api', 'worker', 'frontend']) {
      expect(await world.deps.consul.listServiceInstances(n.serviceName(component))).toEqual([]);
    }
    expect(await world.observe.secret(n.vaultPath)).toBeNull();
    expect(await world.observe.policy(n.vaultPolicy)).toBeNull();
    expect(await world.observe.jwtRole(n.vaultRole)).toBeNull();
    expect(await databaseExists(server, n.database)).toBe(false);
    expect(await roleExists(server, n.role)).toBe(false);

    expect(prDeployments().every((d) => d.statuses.at(-1)!.state === 'inactive')).toBe(true);
    // The per-PR GitHub environment goes with the preview (the world's token administers the repo).
    expect(world.github.environments(repo())).not.toContain(n.githubEnvironment);
    expect(ourComments()).toHaveLength(1);
    expect(ourComments()[0]!.body).toContain('removed');
    expect((await world.deps.store.get(world.key(PR)))!.status).toBe('removed');
    expect((await reconcileEnvironment(world.deps, world.key(PR))).plan).toEqual([]);
  });

  it.runIf(emulated)('when a PR closes with registrations left under its service names then ours go and a foreign one stays', async () => {
    const pr = PR + 10;
    await world.open(pr, randomSha());
    await reconcileEnvironment(world.deps, world.key(pr));
    const service = world.names(pr).serviceName('api');
    // Registered through the node's agent, as a Nomad client does, by allocations Nomad no longer knows.
    const agent = world.cluster!.agent('client-1');
    const leftover = (id: string, meta: Record<string, string>) => agent.register({ ID: id, Name: service, Tags: [], Meta: meta, Port: 1234, Address: '10.0.0.9', Checks: [] });
    const ours = `_nomad-task-${randomUUID()}-api-${service}-http`;
    const theirs = `_nomad-task-${randomUUID()}-api-${service}-http`;
    leftover(ours, { 'external-source': 'nomad', previewd_managed_by: world.config.instance, previewd_env: world.names(pr).id });
    leftover(theirs, { 'external-source': 'nomad' });

    await world.close(pr);
    await reconcileEnvironment(world.deps, world.key(pr));
    const remaining = (await world.deps.consul.listServiceInstances(service)).map((i) => i.serviceId);
    expect(remaining).toEqual([theirs]);
    agent.deregister(theirs);
  });

  it.runIf(emulated)('when a task fails to start then the environment is failed with the task event, reported, and a fixed push recovers', async () => {
    const pr = 43;
    const n = world.names(pr);
    const bad = randomSha();
    world.cluster!.behaviour.set(n.jobId('api'), { fail: { task: 'api', event: 'Driver Failure', message: 'Failed to pull `ghcr.io/acme/shop-api`: manifest unknown' } });
    await world.open(pr, bad);
    await expect(reconcileEnvironment(world.deps, world.key(pr))).rejects.toThrow(UserError);
    const failed = await world.deps.store.get(world.key(pr));
    expect(failed?.status).toBe('failed');
    expect(failed?.lastError).toContain('task api');
    expect(failed?.lastError).toContain('manifest unknown');
    const deployment = world.github.deployments(repo()).find((d) => d.environment === n.githubEnvironment && d.sha === bad)!;
    expect(deployment.statuses.at(-1)).toMatchObject({ state: 'failure' });
    // The PR's readers get the signed read-only page, never an admin-token route.
    expect(deployment.statuses.at(-1)!.logUrl).toMatch(new RegExp(`^http://previewd\\.test:8080/ui/pr/${repo()}/${pr}\\?t=\\d+\\.[A-Za-z0-9_-]{43}$`));
    expect(world.github.commitStatuses(repo(), bad).at(-1)?.state).toBe('failure');
    expect(world.github.comments(repo(), pr).find((c) => c.body.includes(n.commentMarker))?.body).toContain('manifest unknown');
    // Delivered again at the same SHA: nothing is retried.
    expect((await reconcileEnvironment(world.deps, world.key(pr))).plan).toEqual([]);

    world.cluster!.behaviour.delete(n.jobId('api'));
    const fixed = randomSha();
    await world.open(pr, fixed, { reason: 'synchronize' });
    await reconcileEnvironment(world.deps, world.key(pr));
    expect(await world.deps.store.get(world.key(pr))).toMatchObject({ status: 'ready', observedSha: fixed, lastError: null });
    expect(world.github.comments(repo(), pr).filter((c) => c.body.includes(n.commentMarker))).toHaveLength(1);
    await rememberPassword();
    await world.close(pr);
    await reconcileEnvironment(world.deps, world.key(pr));
  });

  it('when the PR’s code tries to make its environment untearable then Postgres refuses, and closing it removes everything although its sessions stay open', async () => {
    const pr = 45;
    const n = world.names(pr);
    await world.open(pr, randomSha());
    expect((await reconcileEnvironment(world.deps, world.key(pr))).status).toBe('ready');
    await rememberPassword();
    const url = (await world.observe.secret(n.vaultPath))!.data!.DATABASE_URL as string;
    const sessions = [new pg.Client({ connectionString: url }), new pg.Client({ connectionString: url })];
    for (const c of sessions) {
      c.on('error', () => undefined);
      await c.connect();
    }
    try {
      const [code] = sessions;
      for (const sql of [
        `COMMENT ON DATABASE "${n.database}" IS NULL`,
        `ALTER DATABASE "${n.database}" IS_TEMPLATE true`,
        `ALTER DATABASE "${n.database}" ALLOW_CONNECTIONS false`,
        `ALTER DATABASE "${n.database}" CONNECTION LIMIT 0`,
        `COMMENT ON ROLE "${n.role}" IS NULL`,
      ]) {
        await expect(code!.query(sql), sql).rejects.toMatchObject({ code: '42501' });
      }
      await code!.query('CREATE TABLE mine (id int); CREATE FUNCTION mine_f() RETURNS int LANGUAGE sql AS $$SELECT 1$$');
      await sessions[1]!.query('BEGIN; LOCK TABLE items IN ACCESS EXCLUSIVE MODE');

      await world.close(pr);
      expect((await reconcileEnvironment(world.deps, world.key(pr))).status).toBe('removed');
      expect(await databaseExists(server, n.database)).toBe(false);
      expect(await roleExists(server, n.role)).toBe(false);
      expect(await world.observe.secret(n.vaultPath)).toBeNull();
      expect(await world.observe.policy(n.vaultPolicy)).toBeNull();
      expect(await world.observe.jwtRole(n.vaultRole)).toBeNull();
    } finally {
      for (const c of sessions) await c.end().catch(() => undefined);
    }
  });

  it('when Postgres refuses previewd’s role a privilege then the deploy fails at once with the reason on the PR, and a fixed cluster recovers', async () => {
    const pr = 44;
    const n = world.names(pr);
    // An operator step missed (README "Postgres"): a template table belonging to another role.
    await withAdminClient((c) => c.query('CREATE TABLE not_previewds (id int)'), world.templateDatabase, server);
    try {
      const sha = randomSha();
      await world.open(pr, sha);
      const err = await reconcileEnvironment(world.deps, world.key(pr)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UserError);
      expect(classifyFailure(err)).toBe('permanent');
      const failed = await world.deps.store.get(world.key(pr));
      expect(failed?.status).toBe('failed');
      expect(failed?.lastError).toMatch(/must be owner of table not_previewds.*SQLSTATE 42501/);
      expect(world.github.commitStatuses(repo(), sha).at(-1)?.state).toBe('failure');
      expect(world.github.comments(repo(), pr).find((c) => c.body.includes(n.commentMarker))?.body).toContain('must be owner of table not_previewds');
    } finally {
      await withAdminClient((c) => c.query('DROP TABLE not_previewds'), world.templateDatabase, server);
    }
    // The half-made database still holds the foreign table: teardown takes it all the same.
    await world.close(pr);
    await reconcileEnvironment(world.deps, world.key(pr)).catch(() => undefined);
    const fixed = randomSha();
    await world.open(pr, fixed, { reason: 'synchronize' });
    await reconcileEnvironment(world.deps, world.key(pr));
    expect(await world.deps.store.get(world.key(pr))).toMatchObject({ status: 'ready', observedSha: fixed, lastError: null });
    await rememberPassword();
    await world.close(pr);
    await reconcileEnvironment(world.deps, world.key(pr));
    expect(await databaseExists(server, n.database)).toBe(false);
    expect(await roleExists(server, n.role)).toBe(false);
  });

  it.runIf(emulated)('when a failed deploy is redeployed at the same SHA after the cause is fixed then Nomad gets a new version and the environment becomes ready', async () => {
    const pr = 46;
    const n = world.names(pr);
    const sha = randomSha();
    world.cluster!.behaviour.set(n.jobId('api'), { fail: { task: 'api', event: 'Driver Failure', message: 'registry unreachable' } });
    await world.open(pr, sha);
    await expect(reconcileEnvironment(world.deps, world.key(pr))).rejects.toThrow(UserError);
    const failedVersion = (await world.deps.nomad.getJob(n.jobId('api')))!.version;
    // The registry is back; the operator asks for a redeploy of the same SHA (same spec).
    world.cluster!.behaviour.delete(n.jobId('api'));
    expect(await world.deps.store.requestReconcile(world.key(pr), 'test: redeploy')).not.toBeNull();
    await reconcileEnvironment(world.deps, world.key(pr));
    expect(await world.deps.store.get(world.key(pr))).toMatchObject({ status: 'ready', observedSha: sha, lastError: null });
    const api = (await world.deps.nomad.getJob(n.jobId('api')))!;
    expect(api.version).toBeGreaterThan(failedVersion);
    expect((await world.observe.deployments(n.jobId('api')))[0]).toMatchObject({ JobVersion: api.version, Status: 'successful' });
    await world.close(pr);
    await reconcileEnvironment(world.deps, world.key(pr));
  });

  it.runIf(emulated)('when a push fails and Nomad auto-reverts it then the PR is told the push failed, naming the version rolled back to', async () => {
    const pr = 47;
    const n = world.names(pr);
    await world.open(pr, randomSha());
    await reconcileEnvironment(world.deps, world.key(pr));
    const good = (await world.deps.nomad.getJob(n.jobId('api')))!.version;
    world.cluster!.behaviour.set(n.jobId('api'), { fail: { task: 'api', message: 'exec format error' }, failVersions: [good + 1] });
    const bad = randomSha();
    await world.open(pr, bad, { reason: 'synchronize' });
    await expect(reconcileEnvironment(world.deps, world.key(pr))).rejects.toThrow(UserError);
    const record = await world.deps.store.get(world.key(pr));
    expect(record?.status).toBe('failed');
    expect(record?.lastError).toContain(`version ${good + 1} failed and Nomad rolled it back to version ${good}`);
    expect(world.github.commitStatuses(repo(), bad).at(-1)?.state).toBe('failure');
    world.cluster!.behaviour.delete(n.jobId('api'));
    await world.close(pr);
    await reconcileEnvironment(world.deps, world.key(pr));
  });

  it('when a job with the PR’s ID exists without our marker then the deploy is refused and the job left as it was', async () => {
    const pr = 44;
    const n = world.names(pr);
    const foreignHcl = `job "${n.jobId('cache')}" {\n  datacenters = ["dc1"]\n  group "g" {\n    task "t" {\n      driver = "docker"\n      config {\n        image = "busybox:1"\n      }\n    }\n  }\n}\n`;
    await world.deps.nomad.registerJob(await world.deps.nomad.parseJob(foreignHcl));
    const before = await world.deps.nomad.getJob(n.jobId('cache'));
    await world.open(pr, randomSha());
    await expect(reconcileEnvironment(world.deps, world.key(pr))).rejects.toThrow(OwnershipError);
    const after = await world.deps.nomad.getJob(n.jobId('cache'));
    expect(after?.jobModifyIndex).toBe(before?.jobModifyIndex);
    expect(after?.meta['previewd.managed-by']).toBeUndefined();
    expect(await world.deps.nomad.getJob(n.jobId('api'))).toBeNull();
    expect((await world.deps.store.get(world.key(pr)))?.status).toBe('failed');
    // Closing leaves it alone too.
    await world.close(pr);
    await reconcileEnvironment(world.deps, world.key(pr));
    expect((await world.deps.nomad.getJob(n.jobId('cache')))?.jobModifyIndex).toBe(before?.jobModifyIndex);
    await world.deps.nomad.stopJob(n.jobId('cache'), { purge: true });
  });

  it('when everything that left previewd is scanned then no secret value appears in it', async () => {
    expect(seen.passwords.size).toBeGreaterThan(0);
    const events = await world.deps.store.listEvents(world.key(PR), 500);
    const record = await world.deps.store.get(world.key(PR));
    expect(seen.jobSpecs.length).toBeGreaterThanOrEqual(8);
    const haystack = [
      ...world.logLines,
      ...seen.jobSpecs,
      ...world.github.comments(repo(), PR).map((c) => c.body),
      ...world.github.deployments(repo()).flatMap((d) => d.statuses.map((s) => s.description)),
      JSON.stringify(events),
      JSON.stringify(record),
    ].join('\n');
    expect(events.length).toBeGreaterThan(5);
    for (const secret of [...seen.passwords, world.secrets.vaultToken, world.secrets.webhookSecret, world.secrets.githubToken, world.secrets.adminToken]) {
      expect(haystack).not.toContain(secret);
    }
  });
});

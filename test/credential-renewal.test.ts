// Issue 11 §3: a PR nobody pushes to keeps its database login and its Vault secret.
// Both last credentialTtl (72 h) from the last reconcile; the daemon's periodic sweep
// renews them once half of that has passed, without touching the PR's jobs. The clock
// is injected (Vault's KV deletion follows it); Postgres's VALID UNTIL is checked
// against the same clock, since the server's own clock cannot be moved.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon } from '../src/daemon.js';
import { systemClock, type Clock } from '../src/deps.js';
import { planCredentialRenewals } from '../src/environments/credential-renewal.js';
import { reconcileEnvironment } from '../src/environments/reconcile.js';
import { sweepCredentialRenewals } from '../src/environments/renewal-sweep.js';
import { createMetrics } from '../src/metrics.js';
import type { RepoConfig } from '../src/config/schema.js';
import { randomSha, type World } from '../src/sandbox/world.js';
import { startWorld, withAdminClient } from './support/pg.js';
import { waitFor } from './support/wait.js';

const HOUR = 3_600_000;

function movableClock() {
  let offsetMs = 0;
  const clock: Clock = { now: () => new Date(Date.now() + offsetMs), sleep: systemClock.sleep };
  return { clock, set: (ms: number) => void (offsetMs = ms) };
}

async function validUntil(role: string): Promise<Date | null> {
  return withAdminClient(async (c) => (await c.query<{ rolvaliduntil: Date | null }>('SELECT rolvaliduntil FROM pg_roles WHERE rolname = $1', [role])).rows[0]?.rolvaliduntil ?? null);
}

/** Reads the PR's secret the way its jobs do: with a token holding only the PR's policy. */
async function readAsPr(world: World, pr: number): Promise<{ status: number; body: { data?: { data?: Record<string, string> | null; metadata?: Record<string, unknown> } } }> {
  const n = world.names(pr);
  const token = world.vault.createToken([n.vaultPolicy], { ttlSec: 400 * 3600 });
  const res = await fetch(`${world.vault.url}/v1/${world.config.vault.kvMount}/data/${n.vaultPath}`, { headers: { 'X-Vault-Token': token } });
  return { status: res.status, body: (await res.json()) as never };
}

function jobsAndAllocations(world: World) {
  const restarts = (a: Record<string, unknown>) => Object.values(a.TaskStates as Record<string, { Restarts: number }>).reduce((n, t) => n + t.Restarts, 0);
  return {
    jobs: world.cluster.listJobs().map((j) => `${String(j.ID)}@v${String(j.Version)}`).sort(),
    allocations: world.cluster
      .listAllocations()
      .filter((a) => a.DesiredStatus === 'run')
      .map((a) => `${String(a.ID)}:${String(a.ClientStatus)}:restarts=${restarts(a)}`)
      .sort(),
  };
}

/** The environment every running task of the PR rendered, by job/task. */
function renderedEnvs(world: World, pr: number) {
  const out: Record<string, Record<string, string> | null> = {};
  const jobIds = new Set(['cache', 'api', 'worker', 'frontend'].map((c) => world.names(pr).jobId(c)));
  for (const a of world.cluster.listAllocations()) {
    if (a.DesiredStatus !== 'run' || !jobIds.has(String(a.JobID))) continue;
    for (const task of Object.keys(a.TaskStates as object)) out[`${String(a.JobID)}/${task}`] = world.cluster.renderedEnv(a.ID as string, task);
  }
  return out;
}

describe('credential renewal of a quiet PR (emulators + real Postgres)', () => {
  const PR = 7;
  const time = movableClock();
  let world: World;
  let sha: string;

  beforeAll(async () => {
    world = await startWorld({ clock: time.clock });
    sha = randomSha();
    await world.open(PR, sha);
    const result = await reconcileEnvironment(world.deps, world.key(PR));
    expect(result.status).toBe('ready');
  });
  afterAll(async () => {
    await world?.cleanup();
  });

  it('when nothing is due then the sweep asks for nothing', async () => {
    time.set(HOUR);
    const metrics = createMetrics();
    const result = await sweepCredentialRenewals({ ...world.deps, metrics }, { requestReconcile: () => Promise.reject(new Error('nothing is due')) });
    expect(result).toEqual({ requested: [], failed: [] });
  });

  it('when a PR has had no push for 72 h then its login and secret still work and its jobs were not restarted', async () => {
    const n = world.names(PR);
    const before = jobsAndAllocations(world);
    const firstRead = await readAsPr(world, PR);
    expect(firstRead.status).toBe(200);
    const databaseUrl = firstRead.body.data!.data!.DATABASE_URL!;
    const versionBefore = world.vault.secret(n.vaultPath)!.currentVersion;

    // Past half of the TTL: the sweep finds the PR due and hands it to the reconciler.
    time.set(37 * HOUR);
    const metrics = createMetrics();
    const requested: string[] = [];
    const result = await sweepCredentialRenewals(
      { ...world.deps, metrics },
      {
        requestReconcile: async (key, reason) => {
          requested.push(`${key.pr}:${reason}`);
          await reconcileEnvironment(world.deps, key);
        },
      },
    );
    expect(result.failed).toEqual([]);
    expect(requested).toEqual([`${PR}:renew credentials`]);
    expect((await metrics.registry.getSingleMetricAsString('previewd_credential_renewals_total'))).toContain('previewd_credential_renewals_total{outcome="requested"} 1');
    const events = await world.deps.store.listEvents(world.key(PR));
    expect(events.some((e) => e.type === 'renew' && e.message.startsWith('credentials renewal requested'))).toBe(true);

    const envsBefore = renderedEnvs(world, PR);
    expect(Object.values(envsBefore).filter((e) => e?.DATABASE_URL === databaseUrl).length).toBeGreaterThanOrEqual(3);

    // 73 h after the last push: without the renewal both would be gone by now.
    time.set(73 * HOUR);
    // consul-template polls the secret again: the same file, so no change_mode fires.
    await world.cluster.rerenderTemplates();
    expect(renderedEnvs(world, PR)).toEqual(envsBefore);
    const now = time.clock.now();
    const until = await validUntil(n.role);
    expect(until).not.toBeNull();
    expect(until!.getTime()).toBeGreaterThan(now.getTime() + 24 * HOUR);
    const read = await readAsPr(world, PR);
    expect(read.status).toBe(200);
    // The same login (the running jobs hold it): a new version with identical data.
    expect(read.body.data!.data!.DATABASE_URL).toBe(databaseUrl);
    expect(world.vault.secret(n.vaultPath)!.currentVersion).toBe(versionBefore + 1);
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      expect((await client.query('SELECT current_user AS u')).rows[0].u).toBe(n.role);
    } finally {
      await client.end();
    }
    expect(jobsAndAllocations(world)).toEqual(before);
    const record = await world.deps.store.get(world.key(PR));
    expect(record).toMatchObject({ status: 'ready', observedSha: sha, lastError: null });
  });

  it('when the renewal just ran then the PR is not due again until half the TTL has passed once more', async () => {
    const records = await world.deps.store.list({ desiredPresent: true });
    const ttl = world.config.credentialTtl;
    const until = Date.parse((records[0]!.resources as { credentialsValidUntil: string }).credentialsValidUntil);
    const renewedAt = until - ttl;
    expect(planCredentialRenewals(records, new Date(renewedAt + HOUR), ttl)).toEqual([]);
    expect(planCredentialRenewals(records, new Date(renewedAt + ttl / 2 - 60_000), ttl)).toEqual([]);
    expect(planCredentialRenewals(records, new Date(renewedAt + ttl / 2 + 60_000), ttl).map((r) => r.key.pr)).toEqual([PR]);
  });

  it('when the daemon runs then its periodic sweep renews a due PR by itself', async () => {
    await world.cluster.rerenderTemplates();
    const n = world.names(PR);
    const versionBefore = world.vault.secret(n.vaultPath)!.currentVersion;
    const before = jobsAndAllocations(world);
    time.set(80 * HOUR); // past half the TTL of the renewal at 37 h, before its end at 109 h
    const config = { ...world.config, gc: { ...world.config.gc, interval: 300 } };
    const daemon = await startDaemon({ ...world.deps, config }, { port: 0, host: '127.0.0.1', redisPrefix: world.redisPrefix, queue: { lockDurationMs: 5_000 } });
    try {
      await waitFor('the renewed secret version', () => (world.vault.secret(n.vaultPath)?.currentVersion ?? 0) > versionBefore, 20_000);
      await waitFor('the record to be ready again', async () => (await world.deps.store.get(world.key(PR)))?.status === 'ready', 20_000);
    } finally {
      await daemon.stop({ graceMs: 5_000 });
    }
    expect((await readAsPr(world, PR)).status).toBe(200);
    expect((await validUntil(n.role))!.getTime()).toBeGreaterThan(time.clock.now().getTime() + 24 * HOUR);
    await world.cluster.rerenderTemplates();
    expect(jobsAndAllocations(world)).toEqual(before);
  });
});

describe('without renewal (what issue 11 §3 is about)', () => {
  const PR = 8;
  const time = movableClock();
  let world: World;

  beforeAll(async () => {
    world = await startWorld({ clock: time.clock });
    await world.open(PR, randomSha());
    expect((await reconcileEnvironment(world.deps, world.key(PR))).status).toBe('ready');
  });
  afterAll(async () => {
    await world?.cleanup();
  });

  it('when nothing renews a quiet PR for 72 h then its secret is gone, its tasks fail to re-render and its login has expired', async () => {
    const n = world.names(PR);
    time.set(73 * HOUR);
    expect((await readAsPr(world, PR)).status).toBe(404);
    expect((await validUntil(n.role))!.getTime()).toBeLessThan(time.clock.now().getTime());
    await world.cluster.rerenderTemplates();
    const path = `${world.config.vault.kvMount}/data/${n.vaultPath}`;
    const api = world.cluster.listAllocations(undefined, n.jobId('api')).find((a) => a.DesiredStatus === 'run')!;
    expect(api.ClientStatus).toBe('failed');
    const events = (api.TaskStates as Record<string, { Events: { DisplayMessage: string }[] }>).api!.Events.map((e) => e.DisplayMessage);
    expect(events.at(-1)).toBe(`Template failed: vault.read(${path}): no secret exists at ${path}`);
  });
});

describe('credential renewal behind a held build (issue 13 §1: the previous SHA keeps running)', () => {
  const IMAGES = { api: 'ghcr.io/acme/shop-api', frontend: 'ghcr.io/acme/shop-web', worker: 'ghcr.io/acme/shop-worker' };
  const FAILED = 11;
  const WAITING = 12;
  const time = movableClock();
  let world: World;
  const repo = () => world.repos[0]!;
  const running: Record<number, { a: string; b: string; data: Record<string, string>; version: number; jobs: string[] }> = {};
  const jobsOf = (pr: number) => world.cluster.listJobs().filter((j) => String(j.ID).startsWith(world.names(pr).id));

  beforeAll(async () => {
    world = await startWorld({
      clock: time.clock,
      registry: { auth: 'bearer' },
      // A timeout past the clock's jumps: the waiting head stays waiting (not failed by the timeout).
      repos: [{ images: IMAGES, build: { checks: ['build-images'], waitForImages: true, timeout: '200h', pollInterval: '1s' } as unknown as NonNullable<RepoConfig['build']> }],
    });
    for (const [pr, next] of [[FAILED, { status: 'completed', conclusion: 'failure' }], [WAITING, { status: 'in_progress' }]] as const) {
      const a = randomSha();
      world.github.setCheckRun(repo(), a, { name: 'build-images', status: 'completed', conclusion: 'success' });
      for (const image of Object.values(IMAGES)) world.registry!.push(image.replace(/^ghcr\.io\//, ''), a);
      await world.open(pr, a);
      expect((await reconcileEnvironment(world.deps, world.key(pr))).status).toBe('ready');
      const read = await readAsPr(world, pr);
      expect(read.status).toBe(200);
      const b = randomSha();
      world.github.setCheckRun(repo(), b, { name: 'build-images', ...next });
      await world.open(pr, b, { reason: 'synchronize' });
      expect((await reconcileEnvironment(world.deps, world.key(pr))).status).toBe(pr === FAILED ? 'failed' : 'waiting_for_build');
      running[pr] = {
        a,
        b,
        data: read.body.data!.data!,
        version: world.vault.secret(world.names(pr).vaultPath)!.currentVersion,
        jobs: jobsOf(pr).map((j) => `${String(j.ID)}@v${String(j.Version)}`).sort(),
      };
    }
  });
  afterAll(async () => {
    await world?.cleanup();
  });

  it('when half the TTL has passed behind a failed or waiting build then the sweep renews the running SHA\'s login and secret and creates nothing of the new head', async () => {
    time.set(37 * HOUR);
    const requested: number[] = [];
    const result = await sweepCredentialRenewals(
      { ...world.deps, metrics: createMetrics() },
      {
        requestReconcile: async (key) => {
          requested.push(key.pr);
          await reconcileEnvironment(world.deps, key);
        },
      },
    );
    expect(result.failed).toEqual([]);
    expect(requested.sort()).toEqual([FAILED, WAITING]);

    // 73 h after the last deploy: without the renewal both would be gone by now.
    time.set(73 * HOUR);
    for (const pr of [FAILED, WAITING]) {
      const n = world.names(pr);
      const { a, b, data, version, jobs } = running[pr]!;
      expect((await validUntil(n.role))!.getTime()).toBeGreaterThan(time.clock.now().getTime() + 24 * HOUR);
      const read = await readAsPr(world, pr);
      expect(read.status).toBe(200);
      // The running SHA's secret, identical (rendered at A, not at the held head B).
      expect(read.body.data!.data).toEqual(data);
      expect(world.vault.secret(n.vaultPath)!.currentVersion).toBe(version + 1);
      // Nothing of B: the same jobs at the same versions, all at A; B's images never asked for.
      expect(jobsOf(pr).map((j) => `${String(j.ID)}@v${String(j.Version)}`).sort()).toEqual(jobs);
      expect(new Set(jobsOf(pr).map((j) => (j.Meta as Record<string, string>)['previewd.sha']).filter(Boolean))).toEqual(new Set([a]));
      expect(world.registry!.manifestLog.some((e) => e.by === 'docker' && e.tag === b)).toBe(false);
      const record = await world.deps.store.get(world.key(pr));
      expect(record).toMatchObject({ status: pr === FAILED ? 'failed' : 'waiting_for_build', observedSha: a, desiredSha: b });
      if (pr === FAILED) expect(record!.lastError).toBe('build failed: build-images failure');
    }
    // The PR's one database (per PR, not per SHA) and no other.
    const owned = (await world.deps.databases.listOwnedDatabases()).map((d) => d.name).sort();
    expect(owned).toEqual([world.names(FAILED).database, world.names(WAITING).database].sort());
  });

  it('when the renewal behind the build just ran (at 37 h) then the PRs are due again only after half the TTL once more', async () => {
    const records = await world.deps.store.list({ desiredPresent: true });
    const ttl = world.config.credentialTtl;
    expect(planCredentialRenewals(records, new Date(Date.now() + 38 * HOUR), ttl)).toEqual([]);
    expect(planCredentialRenewals(records, new Date(Date.now() + 74 * HOUR), ttl).map((r) => r.key.pr).sort()).toEqual([FAILED, WAITING]);
  });

  it('when Vault fails the renewal behind the build then the hold is still recorded, the run is retried, and the retry renews', async () => {
    time.set(74 * HOUR);
    const n = world.names(FAILED);
    const version = world.vault.secret(n.vaultPath)!.currentVersion;
    world.vault.faults.failures.push({ path: new RegExp(`/data/${n.vaultPath}$`), status: 503, body: { errors: ['Vault is sealed'] }, times: 1 });
    await expect(reconcileEnvironment(world.deps, world.key(FAILED))).rejects.toMatchObject({ name: 'TransientError' });
    expect(await world.deps.store.get(world.key(FAILED))).toMatchObject({ status: 'failed', observedSha: running[FAILED]!.a, lastError: 'build failed: build-images failure' });
    expect(world.vault.secret(n.vaultPath)!.currentVersion).toBe(version);

    expect((await reconcileEnvironment(world.deps, world.key(FAILED))).status).toBe('failed');
    expect(world.vault.secret(n.vaultPath)!.currentVersion).toBe(version + 1);
    expect((await validUntil(n.role))!.getTime()).toBeGreaterThan(time.clock.now().getTime() + 48 * HOUR);
    expect((await readAsPr(world, FAILED)).body.data!.data).toEqual(running[FAILED]!.data);
  });
});

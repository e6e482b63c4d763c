// GC against the emulators and real Postgres, through the real clients and the real
// reconciler: orphans of every kind go, look-alikes stay, a dry run changes nothing,
// and stale environments (missed close webhook, idle) are torn down unless kept.
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Deps } from '../src/deps.js';
import { reconcileEnvironment } from '../src/environments/reconcile.js';
import { keyString } from '../src/environments/naming.js';
import { vaultPolicyMarker } from '../src/ownership/markers.js';
import { sweepGc } from '../src/gc/sweep.js';
import { runGc } from '../src/cli/commands/gc.js';
import { randomSha, type World } from '../src/sandbox/world.js';
import { startWorld, withAdminClient } from './support/pg.js';
import { waitFor } from './support/wait.js';

const DAY = 86_400_000;

async function snapshot(world: World) {
  const prefix = world.config.database.namePrefix;
  const pgState = await withAdminClient(async (c) => ({
    databases: (
      await c.query<{ datname: string; comment: string | null }>(
        `SELECT datname, shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname LIKE $1 ORDER BY datname`,
        [`${prefix}%`],
      )
    ).rows,
    roles: (await c.query<{ rolname: string }>(`SELECT rolname FROM pg_roles WHERE rolname LIKE $1 ORDER BY rolname`, [`${prefix}%`])).rows,
  }));
  return {
    jobs: world.cluster
      .listJobs()
      .map((j) => `${String(j.ID)}:${String(j.Stop)}:${String(j.Version)}`)
      .sort(),
    services: world.cluster
      .listServices()
      .map((s) => JSON.stringify(s))
      .sort(),
    secrets: world.vault.secrets().map((s) => `${s.path}:${s.currentVersion}:${JSON.stringify(s.versions)}`).sort(),
    policies: world.vault.policyNames().sort(),
    jwtRoles: Object.keys(world.vault.jwtRoles()).sort(),
    pg: pgState,
  };
}

async function registerBareJob(deps: Deps, id: string, meta: Record<string, string> | null) {
  const metaBlock = meta ? `meta = {\n${Object.entries(meta).map(([k, v]) => `    "${k}" = "${v}"`).join('\n')}\n  }\n` : '';
  const hcl = `job "${id}" {\n  datacenters = ["dc1"]\n  ${metaBlock}  group "g" {\n    task "t" {\n      driver = "docker"\n      config {\n        image = "busybox:1"\n      }\n    }\n  }\n}\n`;
  const job = await deps.nomad.parseJob(hcl);
  await deps.nomad.registerJob(job);
}

const noTeardownExpected = async () => {
  throw new Error('no teardown expected in this test');
};

describe('GC orphans (emulators + real Postgres)', () => {
  let world: World;
  const LIVE = 900;
  const ORPHAN = 901;

  beforeAll(async () => {
    world = await startWorld();
    const deps = world.deps;
    const instance = world.config.instance;
    // A live environment, and one that is complete but whose row is gone (a crash, a restore).
    await world.open(LIVE, randomSha());
    expect((await reconcileEnvironment(deps, world.key(LIVE))).status).toBe('ready');
    await world.open(ORPHAN, randomSha());
    expect((await reconcileEnvironment(deps, world.key(ORPHAN))).status).toBe('ready');
    const state = new pg.Client({ connectionString: world.config.env.DATABASE_URL });
    await state.connect();
    await state.query('DELETE FROM previewd.environment_events WHERE pr = $1', [ORPHAN]).catch(() => undefined);
    await state.query('DELETE FROM previewd.environments WHERE pr = $1', [ORPHAN]);
    await state.end();

    // Look-alikes that must survive: similar names without the marker, another instance's marker.
    const orphanId = world.names(ORPHAN).id;
    const twin = world.names(902);
    await withAdminClient(async (c) => {
      await c.query(`CREATE DATABASE "${twin.database}"`);
      await c.query(`CREATE ROLE "${twin.role}" NOLOGIN`);
    });
    await registerBareJob(deps, `${orphanId}-lookalike`, null);
    await registerBareJob(deps, `${world.names(903).id}-api`, { 'previewd.managed-by': `${instance}x`, 'previewd.env': world.names(903).id });
    const customMetadata = { previewd_managed_by: instance, previewd_env: orphanId };
    await deps.vault.writeSecret(`elsewhere/${orphanId}`, { k: 'v' }, { customMetadata, deleteVersionAfterMs: DAY });
    await deps.vault.writeSecret(`${world.config.vault.pathPrefix}/${world.names(904).id}`, { k: 'v' }, { customMetadata: { owner: 'someone' }, deleteVersionAfterMs: DAY });
    await deps.vault.putPolicy(`${instance}-${world.names(905).id}`, 'path "secret/data/x" { capabilities = ["read"] }\n');
    await deps.vault.putPolicy(`${instance}-${world.names(906).id}`, `${vaultPolicyMarker(`${instance}x`, world.names(906).id)}\npath "x" { capabilities = ["read"] }\n`);
  });

  afterAll(async () => {
    const twin = world?.names(902);
    if (twin) {
      await withAdminClient(async (c) => {
        await c.query(`DROP DATABASE IF EXISTS "${twin.database}"`);
        await c.query(`DROP ROLE IF EXISTS "${twin.role}"`);
      });
    }
    await world?.cleanup();
  });

  it('when GC runs as a dry run then it plans exactly the orphan and every system is unchanged', async () => {
    const before = await snapshot(world);
    const out: string[] = [];
    const code = await runGc(world.deps, { dryRun: true, json: true, exitCode: true }, { out: (t) => out.push(t), err: () => undefined }, async () => false, { redisUrl: world.deps.config.env.REDIS_URL, prefix: world.redisPrefix });
    const after = await snapshot(world);
    expect(after).toEqual(before);
    expect(code).toBe(3);
    const { plan } = JSON.parse(out.join('')) as { plan: { actions: { kind: string; envId: string; resources: { kind: string }[] }[] } };
    expect(plan.actions.map((a) => `${a.kind}:${a.envId}`)).toEqual([`remove-orphan:${world.names(ORPHAN).id}`]);
    const kinds = new Set(plan.actions[0]!.resources.map((r) => r.kind));
    expect([...kinds].sort()).toEqual(['consul-service', 'database', 'database-role', 'nomad-job', 'vault-jwt-role', 'vault-policy', 'vault-secret']);
  });

  it('when GC applies then every part of the orphan is gone and the live environment and look-alikes survive', async () => {
    const before = await snapshot(world);
    const progress: string[] = [];
    const result = await sweepGc(world.deps, { dryRun: false, requestTeardown: noTeardownExpected, onProgress: (e) => progress.push(e.type) });
    expect(result.failed).toEqual([]);
    expect(progress.filter((p) => p === 'step').length).toBeGreaterThanOrEqual(7);

    const after = await snapshot(world);
    const orphan = world.names(ORPHAN);
    const live = world.names(LIVE);
    const gone = (list: string[], needle: string) => list.filter((x) => x.includes(needle));
    // The orphan: nothing left anywhere.
    expect(gone(after.jobs, `${orphan.id}-`).filter((j) => !j.startsWith(`${orphan.id}-lookalike`))).toEqual([]);
    expect(after.services.filter((s) => s.includes(`"previewd_env":"${orphan.id}"`))).toEqual([]);
    expect(after.secrets.filter((s) => s.startsWith(`${orphan.vaultPath}:`))).toEqual([]);
    expect(after.policies).not.toContain(orphan.vaultPolicy);
    expect(after.jwtRoles).not.toContain(orphan.vaultRole);
    expect(after.pg.databases.map((d) => d.datname)).not.toContain(orphan.database);
    expect(after.pg.roles.map((r) => r.rolname)).not.toContain(orphan.role);
    // Everything else is exactly as it was.
    const without = (list: string[], removed: (x: string) => boolean) => list.filter((x) => !removed(x));
    expect(after.jobs).toEqual(without(before.jobs, (j) => j.startsWith(`${orphan.id}-`) && !j.startsWith(`${orphan.id}-lookalike`)));
    expect(after.policies).toEqual(without(before.policies, (p) => p === orphan.vaultPolicy));
    expect(after.secrets).toEqual(without(before.secrets, (s) => s.startsWith(`${orphan.vaultPath}:`)));
    expect(after.pg.databases).toEqual(before.pg.databases.filter((d) => d.datname !== orphan.database));
    expect(after.pg.roles).toEqual(before.pg.roles.filter((r) => r.rolname !== orphan.role));
    expect(gone(after.jobs, `${live.id}-`).length).toBe(4);
    expect(after.pg.databases.map((d) => d.datname)).toContain(live.database);
    expect(after.pg.databases.map((d) => d.datname)).toContain(world.names(902).database);
    expect((await world.deps.store.get(world.key(LIVE)))?.status).toBe('ready');
  });

  it('when GC runs again then it finds nothing (idempotent)', async () => {
    const result = await sweepGc(world.deps, { dryRun: false, requestTeardown: noTeardownExpected });
    expect(result.plan.actions).toEqual([]);
  });
});

describe('GC stale environments (emulators + real Postgres)', () => {
  let world: World;
  const CLOSED = 910;
  const IDLE = 911;
  const KEPT = 912;
  const FRESH = 913;

  beforeAll(async () => {
    // The world passes repo input to the config schema as written, where durations are text.
    world = await startWorld({ repos: [{ idleTtl: '3d' as unknown as number }] });
    for (const pr of [CLOSED, IDLE, KEPT, FRESH]) {
      await world.open(pr, randomSha());
      expect((await reconcileEnvironment(world.deps, world.key(pr))).status).toBe('ready');
    }
    // The close webhook is never delivered: only GitHub knows.
    world.github.closePull(world.repos[0]!, CLOSED);
    world.github.updatePull(world.repos[0]!, KEPT, { labels: ['preview-keep'] });
  });
  afterAll(async () => {
    await world?.cleanup();
  });

  it('when the sweep runs with time moved past the TTL then the closed and idle PRs are torn down, the kept one stays', async () => {
    const real = world.deps.clock;
    // FRESH gets a push "now" in the shifted time, so only it is not idle.
    const shifted = new Date(Date.now() + 4 * DAY);
    const deps: Deps = { ...world.deps, clock: { now: () => shifted, sleep: real.sleep } };
    const state = new pg.Client({ connectionString: world.config.env.DATABASE_URL });
    await state.connect();
    await state.query('UPDATE previewd.environments SET last_push_at = $1 WHERE pr = $2', [new Date(shifted.getTime() - DAY), FRESH]);
    await state.end();

    const torn: string[] = [];
    const result = await sweepGc(deps, {
      dryRun: false,
      requestTeardown: async (key) => {
        torn.push(keyString(key));
        await reconcileEnvironment(world.deps, key);
      },
    });
    expect(result.failed).toEqual([]);
    const reasons = Object.fromEntries(result.done.map((a) => [a.kind === 'teardown' ? a.key.pr : a.envId, a.kind === 'teardown' ? a.reason : 'orphan']));
    expect(reasons).toEqual({ [CLOSED]: 'closed', [IDLE]: 'idle' });

    for (const pr of [CLOSED, IDLE]) {
      const record = await world.deps.store.get(world.key(pr));
      expect(record).toMatchObject({ desiredPresent: false, status: 'removed' });
      expect(await world.deps.nomad.getJob(world.names(pr).jobId('api'))).toBeNull();
      expect(await world.deps.databases.getDatabase(world.names(pr).database)).toBeNull();
    }
    for (const pr of [KEPT, FRESH]) {
      expect((await world.deps.store.get(world.key(pr)))?.status).toBe('ready');
      expect((await world.deps.nomad.getJob(world.names(pr).jobId('api')))?.stop).toBe(false);
    }

    // That sweep ran on a clock 4 days ahead of GitHub's. A real push a minute later (by
    // GitHub's clock) must still bring the idle PR back: no local time was written as GitHub's.
    const sha = randomSha();
    // (world.open throws unless the store accepts it.)
    await world.open(IDLE, sha, { reason: 'pull_request.synchronize', at: new Date(Date.now() + 60_000) });
    expect((await reconcileEnvironment(world.deps, world.key(IDLE))).status).toBe('ready');
    expect(await world.deps.store.get(world.key(IDLE))).toMatchObject({ desiredPresent: true, observedSha: sha });
  });

  it('when GitHub cannot list the repo then nothing of it is touched even far past the TTL', async () => {
    world.github.faults.failures.push({ method: 'GET', path: new RegExp(`/repos/${world.repos[0]}/pulls$`), status: 502, body: { message: 'Bad Gateway' } });
    const far = new Date(Date.now() + 400 * DAY);
    const deps: Deps = { ...world.deps, clock: { now: () => far, sleep: world.deps.clock.sleep } };
    const result = await sweepGc(deps, { dryRun: false, requestTeardown: noTeardownExpected });
    world.github.resetFaults();
    expect(result.plan.actions).toEqual([]);
    expect(result.plan.skipped.map((s) => s.subject)).toContain(world.repos[0]);
    expect((await world.deps.store.get(world.key(FRESH)))?.status).toBe('ready');
  });
});

describe('GC lock (real Redis)', () => {
  it('when two replicas race then one sweeps; after its lease lapses the next holder gets a higher token and the old one knows it lost', async () => {
    const { createTestRedis } = await import('./support/services.js');
    const { createGcLock } = await import('../src/gc/schedule.js');
    const redis = await createTestRedis();
    try {
      const a = createGcLock(redis.redis, redis.prefix);
      const b = createGcLock(redis.redis, redis.prefix);
      const [leaseA, leaseB] = await Promise.all([a.tryAcquire(150), b.tryAcquire(150)]);
      expect([leaseA, leaseB].filter(Boolean)).toHaveLength(1);
      const first = (leaseA ?? leaseB)!;
      expect(await first.stillHolds()).toBe(true);
      const deadline = Date.now() + 2000;
      let second = null;
      while (!second && Date.now() < deadline) {
        second = await b.tryAcquire(5000);
        if (!second) await new Promise((r) => setTimeout(r, 25));
      }
      expect(second!.fencingToken).toBeGreaterThan(first.fencingToken);
      expect(await first.stillHolds()).toBe(false);
      expect(await a.extend(first, 5000)).toBe(false);
      expect(await second!.stillHolds()).toBe(true);
    } finally {
      await redis.cleanup();
    }
  });
});

describe('sweep schedule (real Redis)', () => {
  it('when one replica holds the lock after its sweep then its own next tick sweeps again: once per interval, not every other one', async () => {
    const { createTestRedis } = await import('./support/services.js');
    const { createSweepLock, startSweepSchedule } = await import('../src/gc/schedule.js');
    const redis = await createTestRedis();
    const INTERVAL_MS = 1000;
    const starts: number[] = [];
    const log = pino({ level: 'silent' });
    const schedule = startSweepSchedule({ name: 'test', lock: createSweepLock(redis.redis, redis.prefix, 'test'), intervalMs: INTERVAL_MS, immediate: true, log, sweep: async () => void starts.push(Date.now()) });
    // A second replica ticking meanwhile must not sweep while the first holds the lock.
    const other: number[] = [];
    const rival = startSweepSchedule({ name: 'test', lock: createSweepLock(redis.redis, redis.prefix, 'test'), intervalMs: INTERVAL_MS, log, sweep: async () => void other.push(Date.now()) });
    try {
      await waitFor('three sweeps', () => (starts.length >= 3 ? true : null), 20_000);
      // Ticks come 0.9–1.0 interval apart; the old schedule found its own lock held at every
      // other tick (gaps ≥ 1.8 intervals). 1.6 intervals leaves 0.6 s for a loaded machine.
      const gaps = starts.slice(1).map((t, i) => t - starts[i]!);
      for (const gap of gaps) expect(gap, `gaps ${gaps.join(', ')} ms`).toBeLessThan(1.6 * INTERVAL_MS);
      expect(other).toEqual([]);
    } finally {
      await Promise.all([schedule.stop(), rival.stop()]);
      await redis.cleanup();
    }
  }, 30_000);
});

describe('stopping a sweep schedule (real Redis)', () => {
  it('when stopped during a sweep then the sweep sees its signal and its lease as lost, and a sweep hung in a call is left behind after the grace', async () => {
    const { createTestRedis } = await import('./support/services.js');
    const { createSweepLock, startSweepSchedule } = await import('../src/gc/schedule.js');
    const redis = await createTestRedis();
    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    const seen: { aborted: boolean; holds: boolean }[] = [];
    let entered = 0;
    // A careful sweep: it checks its lease between changes, as GC and resync do.
    const careful = startSweepSchedule({
      name: 'careful',
      lock: createSweepLock(redis.redis, redis.prefix, 'careful'),
      intervalMs: 60_000,
      immediate: true,
      log,
      sweep: async (lease, signal) => {
        entered++;
        while (!signal.aborted) await new Promise((r) => setTimeout(r, 10));
        seen.push({ aborted: signal.aborted, holds: await lease.stillHolds() });
      },
    });
    // A sweep stuck inside one call that ignores every signal (a hung Postgres clone).
    const hung = startSweepSchedule({
      name: 'hung',
      lock: createSweepLock(redis.redis, redis.prefix, 'hung'),
      intervalMs: 60_000,
      immediate: true,
      log,
      sweep: () => new Promise<void>(() => undefined),
    });
    try {
      await waitFor('the careful sweep to be running', () => entered === 1, 10_000);
      await careful.stop(5_000);
      expect(seen).toEqual([{ aborted: true, holds: false }]);
      const started = performance.now();
      await hung.stop(200);
      // The grace plus a loaded machine's timer lateness; the old stop() never returned.
      expect(performance.now() - started).toBeLessThan(200 + 2_000);
      const text = lines.join('');
      expect(text.match(/sweep still running at shutdown/g)).toHaveLength(1);
      expect(text).not.toContain('sweep failed');
    } finally {
      await redis.cleanup();
    }
  }, 30_000);
});

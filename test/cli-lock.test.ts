// The CLI's own reconciles (redeploy, teardown, gc's teardowns) take the PR lock the
// daemon's workers take, against real Postgres and Redis with the emulators: while a
// worker holds it the command waits and then gives up with a clear line, changing
// nothing; with the lock free it runs fenced (the store's fence moves to its token, so a
// worker that lost its lock meanwhile cannot overwrite it) and releases the lock.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runRedeploy } from '../src/cli/commands/redeploy.js';
import { runTeardown } from '../src/cli/commands/teardown.js';
import { EXIT } from '../src/cli/exit-codes.js';
import { reconcileEnvironment } from '../src/environments/reconcile.js';
import type { LockedReconcileOptions } from '../src/queue/locked-reconcile.js';
import { createPrLocks, type PrLocks } from '../src/queue/pr-lock.js';
import { randomSha, type World } from '../src/sandbox/world.js';
import { startWorld } from './support/pg.js';

let world: World;
let redis: Redis;
let locks: PrLocks;

beforeAll(async () => {
  world = await startWorld({ cluster: { startDelayMs: 1, healthyDelayMs: 1 } });
  redis = new Redis(world.config.env.REDIS_URL, { maxRetriesPerRequest: 2 });
  locks = createPrLocks({ redis, prefix: world.redisPrefix, ttlMs: 30_000, log: world.deps.log });
});
afterAll(async () => {
  redis?.disconnect();
  await world?.cleanup();
}, 60_000);

function io() {
  const err: string[] = [];
  const out: string[] = [];
  return { err, out, io: { out: (t: string) => out.push(t), err: (t: string) => err.push(t) } };
}

const lockOptions = (extra: Partial<LockedReconcileOptions> = {}): LockedReconcileOptions => ({
  redisUrl: world.config.env.REDIS_URL,
  prefix: world.redisPrefix,
  pollMs: 50,
  ...extra,
});

describe('CLI reconciles under the PR lock', () => {
  it('when a worker holds the PR lock then redeploy waits, gives up with a clear line and changes nothing', async () => {
    const pr = 301;
    await world.open(pr, randomSha());
    await reconcileEnvironment(world.deps, world.key(pr));
    const before = await world.deps.store.get(world.key(pr));
    const fenceBefore = await world.deps.store.fenceOf(world.key(pr));
    const held = await locks.acquire(world.key(pr));
    expect(held).not.toBeNull();
    try {
      const { err, io: cliIo } = io();
      let busy = 0;
      const code = await runRedeploy(world.deps, world.key(pr), cliIo, lockOptions({ waitMs: 300, onBusy: () => busy++ }));
      expect(code).toBe(EXIT.failed);
      expect(busy).toBe(1);
      expect(err.join('')).toMatch(/is being reconciled by another holder of its lock/);
      const after = await world.deps.store.get(world.key(pr));
      expect(after?.observedGeneration).toBe(before?.observedGeneration);
      expect(await world.deps.store.fenceOf(world.key(pr))).toBe(fenceBefore);
    } finally {
      await held!.release();
    }
  }, 120_000);

  it('when the PR lock is free then redeploy runs fenced above the recorded fence and releases the lock', async () => {
    const pr = 302;
    await world.open(pr, randomSha());
    await reconcileEnvironment(world.deps, world.key(pr));
    const fenceBefore = await world.deps.store.fenceOf(world.key(pr));
    const { out, io: cliIo } = io();
    const code = await runRedeploy(world.deps, world.key(pr), cliIo, lockOptions());
    expect(code).toBe(EXIT.ok);
    expect(out.join('')).toContain(': ready');
    // Its observed writes carried its token and moved the fence past every earlier one.
    expect(await world.deps.store.fenceOf(world.key(pr))).toBeGreaterThan(fenceBefore);
    const after = await locks.acquire(world.key(pr));
    expect(after).not.toBeNull();
    await after!.release();
  }, 120_000);

  it('when teardown runs while the lock is free then it removes the environment under the lock', async () => {
    const pr = 303;
    await world.open(pr, randomSha());
    await reconcileEnvironment(world.deps, world.key(pr));
    const { out, io: cliIo } = io();
    const code = await runTeardown(world.deps, world.key(pr), cliIo, lockOptions());
    expect(code).toBe(EXIT.ok);
    expect(out.join('')).toContain(': removed');
    expect(await world.deps.nomad.listJobs({ prefix: `${world.names(pr).id}-` })).toEqual([]);
    expect(await world.deps.store.fenceOf(world.key(pr))).toBeGreaterThan(0);
  }, 120_000);
});

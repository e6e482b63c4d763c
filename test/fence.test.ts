// The PR lock's fencing token, checked where it matters: the state store. Against real
// Postgres and Redis with the emulators: a holder that lost its lock (stalled past its
// TTL) while a newer holder took over cannot overwrite the newer one's record or its
// PR report, its run stops without a retry and is counted; a Redis counter reset below
// the recorded fence does not lock the PR out; the newest holder re-running converges.
// Lock loss is made explicit (the lock key deleted, as its TTL running out would), so
// nothing here depends on timing; the TTLs are far longer than any test step.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyString, type EnvironmentKey } from '../src/environments/naming.js';
import { fencedStore } from '../src/environments/fenced-store.js';
import type { EnvironmentStore } from '../src/environments/types.js';
import { fencedReconcile } from '../src/queue/fenced-reconcile.js';
import { createPrLocks, type HeldLock, type PrLocks } from '../src/queue/pr-lock.js';
import { createReconcileQueue } from '../src/queue/reconcile-queue.js';
import type { ReconcileContext } from '../src/queue/reconcile-queue.js';
import { randomSha, type World } from '../src/sandbox/world.js';
import { startWorld } from './support/pg.js';
import { waitFor } from './support/wait.js';

const LOCK_TTL_MS = 30_000;

let world: World;
let redis: Redis;
let locks: PrLocks;

beforeAll(async () => {
  world = await startWorld({ cluster: { startDelayMs: 1, healthyDelayMs: 1 } });
  redis = new Redis(world.config.env.REDIS_URL, { maxRetriesPerRequest: 2 });
  locks = createPrLocks({ redis, prefix: world.redisPrefix, ttlMs: LOCK_TTL_MS, log: world.deps.log });
});
afterAll(async () => {
  redis?.disconnect();
  await world?.cleanup();
}, 60_000);

const lockKey = (key: EnvironmentKey) => `${world.redisPrefix}:lock:${keyString(key)}`;
const fenceKey = (key: EnvironmentKey) => `${world.redisPrefix}:fence:${keyString(key)}`;
const lockLostCount = async () => (await world.deps.metrics.lockLost.get()).values[0]?.value ?? 0;

/** Takes the PR lock as the queue does: acquired, then raised above the store's fence. */
async function take(key: EnvironmentKey): Promise<HeldLock> {
  const lock = await locks.acquire(key);
  expect(lock).not.toBeNull();
  expect(await lock!.raiseAbove(await world.deps.store.fenceOf(key))).toBe(true);
  return lock!;
}

function runOf(lock: HeldLock, jobId: string, signal = lock.signal): ReconcileContext {
  return { fencingToken: lock.fencingToken, signal, attempt: 1, reason: 'test', jobId };
}

/** What a PR has in every system, to compare before and after a run. */
async function footprint(pr: number) {
  const n = world.names(pr);
  const repo = world.repos[0]!;
  const deployments = world.github.deployments(repo).filter((d) => d.environment === n.githubEnvironment);
  const comments = world.github.comments(repo, pr).filter((c) => c.body.includes(n.commentMarker));
  const jobs = await world.deps.nomad.listJobs({ prefix: `${n.id}-` });
  return {
    jobs: jobs.map((j) => j.id).sort(),
    deploymentShas: deployments.map((d) => d.sha),
    active: deployments.filter((d) => d.statuses.at(-1)!.state !== 'inactive').map((d) => [d.sha, d.statuses.at(-1)!.state]),
    comments: comments.map((c) => c.body.split('\n').find((line) => line.includes('Preview environment:'))),
  };
}

describe('fencing token', () => {
  it.each([
    { pr: 1, notices: false, how: 'has not noticed (a stalled worker)' },
    { pr: 3, notices: true, how: 'notices through its signal (renewal refused)' },
  ])('when holder A loses the lock mid-run and B takes over and writes, and A $how, then A is refused, stops without a retry, and the record and PR show B', async ({ pr, notices }) => {
    const key = world.key(pr);
    const sha = randomSha();
    await world.open(pr, sha);
    const lostBefore = await lockLostCount();

    const a = await take(key);
    let bToken = 0;
    // A's store: A stalls (its lock expires: the key is deleted) and B runs the PR to the
    // end. A that has not noticed stalls after its first step, and its onStep write comes
    // next; A that notices stalls after writing its plan and finds its signal fired before
    // the first step (then its failure handling writes, and would report to GitHub).
    let stalled = false;
    const aSignal = new AbortController();
    const takeOver = async () => {
      stalled = true;
      await redis.del(lockKey(key));
      const b = await take(key);
      bToken = b.fencingToken;
      await fencedReconcile(world.deps)(key, runOf(b, 'job-b'));
      await b.release();
      if (notices) aSignal.abort(new Error('per-PR lock lost'));
    };
    let planned = false;
    const stallingStore: EnvironmentStore = {
      ...world.deps.store,
      async appendEvent(k, event, token) {
        await world.deps.store.appendEvent(k, event, token);
        if (event.type !== 'plan' || token !== a.fencingToken) return;
        planned = true;
        if (notices) await takeOver();
      },
      async updateObserved(k, patch, token) {
        if (planned && !stalled) await takeOver();
        await world.deps.store.updateObserved(k, patch, token);
      },
    };
    // A's own signal is the test's: fired once B is done, or never (not noticed yet).
    await expect(fencedReconcile({ ...world.deps, store: stallingStore })(key, runOf(a, 'job-a', aSignal.signal))).resolves.toBeUndefined();
    await a.release();

    expect(stalled).toBe(true);
    expect(bToken).toBeGreaterThan(a.fencingToken);
    const record = await world.deps.store.get(key);
    expect(record).toMatchObject({ status: 'ready', observedSha: sha, lastError: null, observedGeneration: record!.desiredGeneration });
    expect(await world.deps.store.fenceOf(key)).toBe(bToken);

    const events = await world.deps.store.listEvents(key, 200);
    const lost = events.filter((e) => e.type === 'lock-lost');
    expect(lost.map((e) => e.data)).toEqual([{ token: a.fencingToken, fence: bToken, write: 'update observed state' }]);
    // Nothing of A landed after B's ready: no step, no failure.
    const newestFirst = events.filter((e) => e.type !== 'lock-lost').map((e) => e.type);
    expect(newestFirst[0]).toBe('ready');
    expect(events.filter((e) => e.type === 'step-failed')).toEqual([]);
    expect(await lockLostCount()).toBe(lostBefore + 1);

    // The PR was told once, by B: ready, one comment, one deployment for the SHA.
    const seen = await footprint(pr);
    expect(seen.comments).toEqual(['### ✅ Preview environment: ready']);
    expect(seen.deploymentShas).toEqual([sha]);
    expect(seen.active).toEqual([[sha, 'success']]);
    expect(seen.jobs.length).toBeGreaterThan(0);

    // (c) The newest holder running again (a retry, a redeploy) converges to the same state.
    await world.deps.store.requestReconcile(key, 'admin: redeploy');
    const again = await take(key);
    await fencedReconcile(world.deps)(key, runOf(again, 'job-again'));
    await again.release();
    const after = await world.deps.store.get(key);
    expect(after).toMatchObject({ status: 'ready', observedSha: sha, lastError: null, observedGeneration: after!.desiredGeneration });
    expect(await footprint(pr)).toEqual(seen);
    expect((await world.deps.store.listEvents(key, 200)).filter((e) => e.type === 'lock-lost')).toHaveLength(1);
    expect(await lockLostCount()).toBe(lostBefore + 1);
  }, 60_000);

  it('when Redis lost the token counter below the recorded fence then the queue still runs the PR, with a token above it', async () => {
    const pr = 2;
    const key = world.key(pr);
    await world.open(pr, randomSha());
    // A long-lived PR: some holder wrote with a high token, then Redis was flushed.
    await fencedStore(world.deps.store, 1_000).appendEvent(key, { type: 'note', message: 'written by token 1000' });
    await redis.del(fenceKey(key));
    const lostBefore = await lockLostCount();
    const tokens: number[] = [];
    const process = fencedReconcile(world.deps);
    const queue = createReconcileQueue({
      redisUrl: world.config.env.REDIS_URL,
      prefix: world.redisPrefix,
      concurrency: 1,
      metrics: world.deps.metrics,
      log: world.deps.log,
      lockDurationMs: LOCK_TTL_MS,
      attempts: 1,
      process: async (k, run) => {
        tokens.push(run.fencingToken);
        await process(k, run);
      },
      fenceFloor: (k) => world.deps.store.fenceOf(k),
    });
    try {
      queue.start();
      await queue.enqueue(key, 'opened');
      const record = await waitFor(
        'the PR to be ready',
        async () => {
          const r = await world.deps.store.get(key);
          const c = await queue.counts();
          return r?.status === 'ready' && c.waiting + c.active + c.delayed === 0 && r;
        },
        30_000,
      );
      expect(record.observedGeneration).toBe(record.desiredGeneration);
    } finally {
      await queue.close({ graceMs: 5_000 });
    }
    expect(tokens).toHaveLength(1);
    expect(tokens[0]!).toBeGreaterThan(1_000);
    expect(await world.deps.store.fenceOf(key)).toBe(tokens[0]);
    expect((await world.deps.store.listEvents(key, 200)).filter((e) => e.type === 'lock-lost')).toEqual([]);
    expect(await lockLostCount()).toBe(lostBefore);
    // The counter moved up with it: the next holder's token is higher still.
    const next = await locks.acquire(key);
    expect(next!.fencingToken).toBeGreaterThan(tokens[0]!);
    await next!.release();
  }, 60_000);
});

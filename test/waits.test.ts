// Issue 14 §2: waiting costs no worker. The daemon with one work slot (concurrency 1), real
// Postgres and Redis, the emulators: PR A's cache deployment is held (its allocation never
// turns healthy), so A's run waits until deployTimeout fails it. With wait slots, PR B,
// opened while A waits, is deployed meanwhile; with waitConcurrency 0 (the design before)
// B runs only after A's run ends; with one wait slot, B queues for it and watches only
// once A has stopped waiting (and a third PR is not started meanwhile). The assertions are
// orderings of recorded events that the design alone decides (A's wait against B's and C's
// progress), so a slow machine makes a test slower, never wrong. Each daemon has its own
// queue (a Redis prefix under the world's), so a run left waiting at a stop stays there.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../src/daemon.js';
import { randomSha, type World } from '../src/sandbox/world.js';
import { startWorld } from './support/pg.js';
import { waitFor } from './support/wait.js';

/** How long A waits before it fails, where the test needs A to end. */
const DEPLOY_TIMEOUT_MS = 12_000;

let world: World;
beforeAll(async () => {
  world = await startWorld({ cluster: { startDelayMs: 1, healthyDelayMs: 1 } });
}, 30_000);
afterAll(async () => {
  await world?.cleanup();
}, 30_000);

async function daemonWith(name: string, slots: { concurrency: number; waitConcurrency: number }, deployTimeout = DEPLOY_TIMEOUT_MS): Promise<Daemon> {
  return startDaemon({ ...world.deps, config: { ...world.deps.config, deployTimeout } }, {
    port: 0,
    host: '127.0.0.1',
    redisPrefix: `${world.redisPrefix}-${name}`,
    gc: false,
    resume: false,
    resync: false,
    queue: slots,
  });
}

/** The time of the PR's first event of `type` (null when none yet). */
async function eventAt(pr: number, type: string, kind?: string): Promise<number | null> {
  const events = await world.deps.store.listEvents(world.key(pr), 200);
  const hits = events.filter((e) => e.type === type && (kind === undefined || (e.data as { kind?: string }).kind === kind));
  return hits.length === 0 ? null : Math.min(...hits.map((e) => e.at.getTime()));
}

/** Opens PR `held` with its cache deployment held, and waits until its run waits on it. */
async function openHeld(daemon: Daemon, held: number): Promise<void> {
  world.cluster.behaviour.set(world.names(held).jobId('cache'), { healthyDelayMs: 600_000 });
  await world.open(held, randomSha());
  await daemon.queue.enqueue(world.key(held), 'opened');
  await waitFor('A to wait on its cache deployment', async () => (await eventAt(held, 'step', 'register-job')) !== null, 30_000);
}

async function open(daemon: Daemon, pr: number): Promise<void> {
  await world.open(pr, randomSha());
  await daemon.queue.enqueue(world.key(pr), 'opened');
}

const failedAt = (pr: number) => waitFor(`PR ${pr} to fail its deploy`, () => eventAt(pr, 'step-failed'), DEPLOY_TIMEOUT_MS + 60_000);
const readyAt = (pr: number) => waitFor(`PR ${pr} to be ready`, () => eventAt(pr, 'ready'), DEPLOY_TIMEOUT_MS + 60_000);

describe('waiting costs no worker', () => {
  it('when PR A waits on a held deployment with the only work slot then PR B still reaches ready before A gives up', async () => {
    // A waits far longer than B can take; the daemon stops with A still waiting.
    const daemon = await daemonWith('free', { concurrency: 1, waitConcurrency: 4 }, 600_000);
    try {
      await openHeld(daemon, 1);
      await open(daemon, 2);
      const bReady = await readyAt(2);
      expect(await eventAt(1, 'step-failed'), 'A is still waiting when B is ready').toBeNull();
      expect(bReady).toBeGreaterThan((await eventAt(1, 'step', 'register-job'))!);
      expect((await world.deps.store.get(world.key(1)))?.status).toBe('provisioning');
    } finally {
      await daemon.stop({ graceMs: 500 });
    }
  }, 120_000);

  it('when waits keep their slot (waitConcurrency 0) then PR B runs only after A has given up', async () => {
    const daemon = await daemonWith('held', { concurrency: 1, waitConcurrency: 0 });
    try {
      await openHeld(daemon, 11);
      await open(daemon, 12);
      const aFailed = await failedAt(11);
      const bReady = await readyAt(12);
      expect(bReady).toBeGreaterThan(aFailed);
      expect((await eventAt(12, 'plan'))!, 'B did not even start while A waited').toBeGreaterThanOrEqual(aFailed);
    } finally {
      await daemon.stop({ graceMs: 2_000 });
    }
  }, 120_000);

  it('when the one wait slot is taken then B queues for it and watches only after A has stopped waiting, and C (beyond concurrency + waitConcurrency runs) is not started before', async () => {
    // Long enough for B's work up to its first wait on a loaded machine.
    const deployTimeout = 20_000;
    const daemon = await daemonWith('one-wait', { concurrency: 1, waitConcurrency: 1 }, deployTimeout);
    try {
      await openHeld(daemon, 21);
      await open(daemon, 22);
      await open(daemon, 23);
      const bRegistered = await waitFor('B to register its first job', () => eventAt(22, 'step', 'register-job'), 60_000);
      // A's wait began after its register was recorded and lasts deployTimeout: it ends no sooner than this.
      const aWaitEndsNoSoonerThan = (await eventAt(21, 'step', 'register-job'))! + deployTimeout;
      await failedAt(21);
      await readyAt(22);
      await readyAt(23);
      expect(bRegistered, 'B worked while A waited').toBeLessThan(aWaitEndsNoSoonerThan);
      // A watched deployment is recorded when it succeeds (at once here): B's did not before
      // A's wait ended, though B had registered long before.
      expect((await eventAt(22, 'step', 'watch-deployment'))!).toBeGreaterThan(aWaitEndsNoSoonerThan);
      // The worker takes concurrency + waitConcurrency = 2 runs: A waiting and B in line for
      // the wait slot fill it, so C is not even started (it could only add to the line).
      expect((await eventAt(23, 'plan'))!).toBeGreaterThan(aWaitEndsNoSoonerThan);
    } finally {
      await daemon.stop({ graceMs: 2_000 });
    }
  }, 150_000);
});

// Issue 14 §2: waiting costs no worker. The daemon with one work slot (concurrency 1), real
// Postgres and Redis, the emulators: PR A's cache deployment is held (its allocation never
// turns healthy), so A's run waits until deployTimeout fails it. With wait slots, PR B,
// opened while A waits, is deployed meanwhile; with waitConcurrency 0 (the design before)
// B runs only after A's run ends; with one wait slot, B queues for it without keeping the
// work slot, so PR C still gets its jobs registered while A waits. The assertions are
// orderings of recorded events (A's failure against B's and C's progress), not durations.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../src/daemon.js';
import { randomSha, type World } from '../src/sandbox/world.js';
import { startWorld } from './support/pg.js';
import { waitFor } from './support/wait.js';

/** How long A waits before it fails: far longer than B's whole deploy on a loaded machine. */
const DEPLOY_TIMEOUT_S = 12;

let world: World;
beforeAll(async () => {
  world = await startWorld({ config: { deployTimeout: `${DEPLOY_TIMEOUT_S}s` }, cluster: { startDelayMs: 1, healthyDelayMs: 1 } });
}, 30_000);
afterAll(async () => {
  await world?.cleanup();
}, 30_000);

async function daemonWith(concurrency: number, waitConcurrency: number): Promise<Daemon> {
  return startDaemon(world.deps, {
    port: 0,
    host: '127.0.0.1',
    redisPrefix: world.redisPrefix,
    gc: false,
    resume: false,
    resync: false,
    queue: { concurrency, waitConcurrency },
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

const failedAt = (pr: number) => waitFor(`PR ${pr} to fail its deploy`, () => eventAt(pr, 'step-failed'), (DEPLOY_TIMEOUT_S + 30) * 1000);
const readyAt = (pr: number, timeoutMs = (DEPLOY_TIMEOUT_S + 30) * 1000) => waitFor(`PR ${pr} to be ready`, () => eventAt(pr, 'ready'), timeoutMs);

describe('waiting costs no worker', () => {
  it('when PR A waits on a held deployment with the only work slot then PR B still reaches ready before A gives up', async () => {
    const daemon = await daemonWith(1, 4);
    try {
      await openHeld(daemon, 1);
      await open(daemon, 2);
      const bReady = await readyAt(2);
      expect(await eventAt(1, 'step-failed'), 'A is still waiting when B is ready').toBeNull();
      expect(bReady).toBeGreaterThan((await eventAt(1, 'step', 'register-job'))!);
      await failedAt(1);
    } finally {
      await daemon.stop({ graceMs: 2_000 });
    }
  }, 90_000);

  it('when waits keep their slot (waitConcurrency 0) then PR B runs only after A has given up', async () => {
    const daemon = await daemonWith(1, 0);
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
  }, 90_000);

  it('when the one wait slot is taken then B queues for it without its work slot: C deploys its first job, and neither waits before A ends', async () => {
    const daemon = await daemonWith(1, 1);
    try {
      await openHeld(daemon, 21);
      await open(daemon, 22);
      await open(daemon, 23);
      // Both get through their work up to the first wait while A holds the wait slot.
      await waitFor('B and C to register their first job', async () => (await eventAt(22, 'step', 'register-job')) !== null && (await eventAt(23, 'step', 'register-job')) !== null, 30_000);
      await failedAt(21);
      const [bReady, cReady] = [await readyAt(22), await readyAt(23)];
      // A watched deployment is recorded when it succeeds: neither B's nor C's did while A
      // waited. A's wait began after its register-job was recorded and lasts the deploy
      // timeout; A records its failure only after giving the slot back, so B may record its
      // watch a few ms before A's step-failed, never before A's wait could have ended.
      const aWaitFrom = (await eventAt(21, 'step', 'register-job'))!;
      const watched = await Promise.all([22, 23].map((pr) => eventAt(pr, 'step', 'watch-deployment')));
      for (const at of watched) expect(at!).toBeGreaterThanOrEqual(aWaitFrom + DEPLOY_TIMEOUT_S * 1000);
      expect(Math.min(bReady, cReady)).toBeGreaterThanOrEqual(aWaitFrom + DEPLOY_TIMEOUT_S * 1000);
    } finally {
      await daemon.stop({ graceMs: 2_000 });
    }
  }, 120_000);
});

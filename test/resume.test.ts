// Desired state is the truth, the queue only a hint (issue 10, item 5), against real
// Redis and Postgres with the emulators: a running daemon whose Redis loses every
// queue key still converges its lagging environments, and a parked job is retried on
// its slow schedule and stops at the ceiling, failed with its reason.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../src/daemon.js';
import { PARKED_RETRY_EVENT } from '../src/environments/types.js';
import { randomSha, type World } from '../src/sandbox/world.js';
import { startWorld } from './support/pg.js';
import { sleep, waitFor } from './support/wait.js';

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const RETRY_INTERVAL_MS = 1_000;
const RETRY_LIMIT = 2;

let world: World;
let daemon: Daemon;
let redis: Redis;

beforeAll(async () => {
  world = await startWorld({
    config: { resume: { interval: '1s', parkedRetryInterval: `${RETRY_INTERVAL_MS / 1000}s`, parkedRetryLimit: RETRY_LIMIT } },
  });
  redis = new Redis(world.config.env.REDIS_URL, { maxRetriesPerRequest: 1 });
  daemon = await startDaemon(world.deps, {
    port: 0,
    host: '127.0.0.1',
    redisPrefix: world.redisPrefix,
    gc: false,
    // Two tries, then parked: the ceiling test sees several parkings quickly.
    queue: { backoff: { baseMs: 50, maxMs: 200, jitter: 0.2 }, attempts: 2, lockDurationMs: 2_000, stalledIntervalMs: 1_000 },
  });
}, 30_000);

afterAll(async () => {
  await daemon?.stop({ graceMs: 2_000 });
  redis?.disconnect();
  await world?.cleanup();
}, 30_000);

/** Every key the daemon keeps in Redis (queue, locks, dedupe): what a restart without persistence loses. */
async function flushDaemonKeys(): Promise<number> {
  let removed = 0;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${world.redisPrefix}*`, 'COUNT', 500);
    if (keys.length > 0) removed += await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
  return removed;
}

describe('resume: Postgres is the truth, the queue a hint', () => {
  it('when Redis loses every queue key while environments lag then they still converge', async () => {
    const prs = [31, 32, 33];
    world.nomad.down();
    for (const pr of prs) {
      await world.open(pr, randomSha());
      await daemon.queue.enqueue(world.key(pr), 'opened');
    }
    // Each has been tried (and failed on Nomad), so its job sits in the queue, backing off or parked.
    await waitFor('every PR to be tried against the broken Nomad', async () => {
      const records = await Promise.all(prs.map((pr) => world.deps.store.get(world.key(pr))));
      return records.every((r) => r?.status === 'degraded');
    }, 30_000);
    // Every queue key goes; whatever is queued after this can only be the resume sweep's
    // (this test enqueues nothing more). The sweep runs every second and may already have
    // enqueued again by the time the queue could be counted, so it is not counted.
    expect(await flushDaemonKeys()).toBeGreaterThan(0);
    world.nomad.up();

    await waitFor('every lagging PR to converge after the flush', async () => {
      const records = await Promise.all(prs.map((pr) => world.deps.store.get(world.key(pr))));
      return records.every((r) => r?.status === 'ready' && r.observedGeneration === r.desiredGeneration);
    }, 45_000);
  }, 90_000);

  it('when a job keeps failing then its parked work is retried on schedule and stops at the ceiling, failed with its reason', async () => {
    const pr = 40;
    const jobs = new RegExp(`^/v1/job/${escape(world.names(pr).id)}-`);
    world.nomad.faults.failures.push({ path: jobs, status: 500, body: 'rpc error: No cluster leader', times: 100_000 });
    try {
      await world.open(pr, randomSha());
      await daemon.queue.enqueue(world.key(pr), 'opened');

      const failed = await waitFor('the environment to be given up on', async () => {
        const r = await world.deps.store.get(world.key(pr));
        return r?.status === 'failed' ? r : null;
      }, 60_000);
      expect(failed.lastError).toMatch(new RegExp(`^gave up after ${RETRY_LIMIT} retries of parked work: .*500`));
      expect(failed.observedGeneration).toBe(failed.desiredGeneration);

      const retries = async () => (await world.deps.store.listEvents(world.key(pr), 1000)).filter((e) => e.type === PARKED_RETRY_EVENT).reverse();
      const seen = await retries();
      expect(seen).toHaveLength(RETRY_LIMIT);
      // On schedule: each retry comes at least the retry interval after the parking before it.
      const parkings = (await world.deps.store.listEvents(world.key(pr), 1000)).filter((e) => e.type === 'step-failed').map((e) => e.at.getTime());
      for (const retry of seen) {
        const parkedBefore = Math.max(...parkings.filter((at) => at < retry.at.getTime()));
        expect(retry.at.getTime() - parkedBefore).toBeGreaterThanOrEqual(RETRY_INTERVAL_MS - 50);
      }

      // At the ceiling it stays: several more sweeps retry nothing.
      await sleep(4 * RETRY_INTERVAL_MS);
      expect(await retries()).toHaveLength(RETRY_LIMIT);
      expect((await world.deps.store.get(world.key(pr)))?.status).toBe('failed');
      expect((await daemon.queue.listParked()).some((p) => p.key.pr === pr)).toBe(true);
    } finally {
      world.nomad.faults.failures.length = 0;
    }
  }, 90_000);
});

// The queue's work and wait slots against the real Redis (issue 14 §2): a run inside
// ctx.whileWaiting holds no work slot, at most `concurrency` runs work and at most
// `waitConcurrency` wait at once, and where the time went is observed per run.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../src/log.js';
import { createMetrics } from '../src/metrics.js';
import { createReconcileQueue, type ReconcileProcessor, type ReconcileQueue } from '../src/queue/reconcile-queue.js';
import { createTestRedis } from './support/services.js';
import { sleep, waitFor } from './support/wait.js';

let redis: Awaited<ReturnType<typeof createTestRedis>>;
let queue: ReconcileQueue | null = null;

beforeEach(async () => {
  redis = await createTestRedis();
});
afterEach(async () => {
  await queue?.close({ graceMs: 500 });
  await redis.cleanup();
});

describe('work and wait slots', () => {
  it('when runs wait then other runs work meanwhile, within both bounds, and the time split is observed', async () => {
    const metrics = createMetrics();
    let working = 0;
    let waiting = 0;
    const peak = { working: 0, waiting: 0, workWhileOthersWait: 0 };
    const done = new Set<number>();
    const work = async (ms: number) => {
      working += 1;
      peak.working = Math.max(peak.working, working);
      if (waiting > 0) peak.workWhileOthersWait += 1;
      await sleep(ms);
      working -= 1;
    };
    const process: ReconcileProcessor = async (key, ctx) => {
      expect(ctx.whileWaiting).toBeDefined();
      await work(30);
      await ctx.whileWaiting!(async () => {
        waiting += 1;
        peak.waiting = Math.max(peak.waiting, waiting);
        await sleep(400);
        waiting -= 1;
      });
      await work(30);
      done.add(key.pr);
    };
    queue = createReconcileQueue({
      redisUrl: redis.url,
      prefix: redis.prefix,
      concurrency: 1,
      waitConcurrency: 2,
      process,
      log: createLogger({ level: 'silent' }),
      metrics,
      lockDurationMs: 10_000,
      stalledIntervalMs: 5_000,
    });
    for (let pr = 1; pr <= 6; pr++) await queue.enqueue({ repo: 'acme/shop', pr }, 'test');
    queue.start();
    await waitFor('all six runs', () => done.size === 6, 30_000);
    expect(peak.working).toBe(1);
    expect(peak.waiting).toBeLessThanOrEqual(2);
    // With waits holding their slot no run could work while another waits.
    expect(peak.workWhileOthersWait).toBeGreaterThan(0);
    const observed = (await metrics.reconcileSlotSeconds.get()).values;
    const sum = (use: string) => observed.find((v) => v.labels.use === use && v.metricName === 'previewd_reconcile_slot_seconds_sum')?.value ?? 0;
    const count = observed.find((v) => v.labels.use === 'wait' && v.metricName === 'previewd_reconcile_slot_seconds_count')?.value;
    expect(count).toBe(6);
    // Six waits of 400 ms each, six runs' work of 2 × 30 ms each (generous bounds: timers run late, never early).
    expect(sum('wait')).toBeGreaterThanOrEqual(6 * 0.39);
    expect(sum('work')).toBeGreaterThanOrEqual(6 * 0.055);
  }, 40_000);
});

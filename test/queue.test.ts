// The reconcile queue against the real Redis: per-PR serial work, coalescing,
// retries, parking, graceful stop and crash recovery. Each test has its own key prefix.
import { spawn } from 'node:child_process';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { TransientError, UserError } from '../src/errors.js';
import { keyString, type EnvironmentKey } from '../src/environments/naming.js';
import { createTransport } from '../src/http-transport.js';
import { createLogger } from '../src/log.js';
import { createMetrics } from '../src/metrics.js';
import { createPrLocks } from '../src/queue/pr-lock.js';
import { createReconcileQueue, type ReconcileProcessor, type ReconcileQueue, type ReconcileQueueOptions } from '../src/queue/reconcile-queue.js';
import { createTestRedis } from './support/services.js';
import { sleep, waitFor } from './support/wait.js';

const log = createLogger({ level: 'silent' });


let redis: Awaited<ReturnType<typeof createTestRedis>>;
let queues: ReconcileQueue[];

beforeEach(async () => {
  redis = await createTestRedis();
  queues = [];
});

afterEach(async () => {
  await Promise.all(queues.map((q) => q.close({ graceMs: 500 })));
  await redis.cleanup();
});

function makeQueue(process: ReconcileProcessor, overrides: Partial<ReconcileQueueOptions> = {}): ReconcileQueue {
  const queue = createReconcileQueue({
    redisUrl: redis.url,
    prefix: redis.prefix,
    concurrency: 4,
    process,
    log,
    metrics: createMetrics(),
    backoff: { baseMs: 40, maxMs: 200, jitter: 0.5 },
    // Far above any stall of a loaded 2-core machine: no test here waits for this lock to
    // expire (the crash test's child holds its own 1 s lock), and "never twice at once" rests on it.
    lockDurationMs: 10_000,
    stalledIntervalMs: 500,
    lockBusyDelayMs: 100,
    ...overrides,
  });
  queues.push(queue);
  return queue;
}

async function idle(queue: ReconcileQueue, timeoutMs = 10_000): Promise<void> {
  await waitFor(
    'the queue to drain',
    async () => {
      const c = await queue.counts();
      return c.waiting + c.active + c.delayed === 0;
    },
    timeoutMs,
  );
}

const pr = (n: number): EnvironmentKey => ({ repo: 'acme/shop', pr: n });

describe('reconcile queue', () => {
  it('when enqueues for several PRs arrive in one turn then they reach Redis as one addBulk and still coalesce per PR', async () => {
    const bulks = vi.spyOn(Queue.prototype, 'addBulk');
    try {
      const queue = makeQueue(async () => undefined);
      await Promise.all([1, 2, 3, 1, 2, 1].map((n, i) => queue.enqueue(pr(n), `push ${i}`)));
      expect(bulks).toHaveBeenCalledTimes(1);
      const pending = await queue.listPending();
      // One waiting job per PR, the first one, as sequential adds leave it (the run reads the latest desired state).
      expect(pending.map((j) => [j.key.pr, j.reason]).sort()).toEqual([[1, 'push 0'], [2, 'push 1'], [3, 'push 2']]);
    } finally {
      bulks.mockRestore();
    }
  });

  it('when work waits and runs then listPending shows running first, then waiting, each with its PR and reason, bounded by the limit', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const queue = makeQueue(async () => gate, { concurrency: 1 });
    await queue.enqueue(pr(1), 'opened');
    queue.start();
    await waitFor('PR 1 to run', async () => (await queue.counts()).active === 1, 10_000);
    await queue.enqueue(pr(2), 'synchronize');
    await queue.enqueue(pr(3), 'admin: redeploy');
    const pending = await queue.listPending();
    expect(pending.map((j) => [j.key.pr, j.state, j.reason])).toEqual([
      [1, 'active', 'opened'],
      [2, 'waiting', 'synchronize'],
      [3, 'waiting', 'admin: redeploy'],
    ]);
    expect(pending.every((j) => j.enqueuedAt instanceof Date && j.jobId.length > 0)).toBe(true);
    expect(await queue.listPending(2)).toHaveLength(2);
    release();
    await idle(queue);
    expect(await queue.listPending()).toEqual([]);
  });

  it('when many enqueues for 5 PRs hit two 4-way workers then no PR ever runs twice at once, yet PRs run in parallel', async () => {
    const running = new Map<string, number>();
    let overlaps = 0;
    let concurrent = 0;
    let maxConcurrent = 0;
    let runs = 0;
    const process: ReconcileProcessor = async (key) => {
      const id = keyString(key);
      running.set(id, (running.get(id) ?? 0) + 1);
      if (running.get(id)! > 1) overlaps++;
      concurrent++;
      maxConcurrent = Math.max(maxConcurrent, concurrent);
      await sleep(15 + Math.random() * 30);
      concurrent--;
      running.set(id, running.get(id)! - 1);
      runs++;
    };
    // Two workers with their own connections: the same as two daemon replicas.
    const a = makeQueue(process);
    const b = makeQueue(process);
    a.start();
    b.start();
    for (let round = 0; round < 12; round++) {
      await Promise.all([1, 2, 3, 4, 5].map((n) => (round % 2 ? a : b).enqueue(pr(n), `round ${round}`)));
      await sleep(10);
    }
    await idle(a);
    expect(overlaps).toBe(0);
    expect(maxConcurrent).toBeGreaterThanOrEqual(2);
    expect(runs).toBeGreaterThanOrEqual(5);
  });

  it('when 50 enqueues for one PR arrive while it runs then it runs at most 3 times and last after the last enqueue', async () => {
    const starts: number[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const queue = makeQueue(async () => {
      starts.push(Date.now());
      if (starts.length === 1) await gate;
    });
    queue.start();
    await queue.enqueue(pr(1), 'first');
    await waitFor('the first run', () => starts.length === 1, 5_000);
    let lastEnqueue = 0;
    for (let i = 0; i < 50; i++) {
      await queue.enqueue(pr(1), `push ${i}`);
      lastEnqueue = Date.now();
    }
    const during = await queue.counts();
    release();
    await waitFor('the follow-up run', () => starts.length >= 2, 5_000);
    await idle(queue);
    await sleep(200); // room for a wrongly queued extra run to show up
    expect(during.waiting + during.delayed).toBeLessThanOrEqual(1);
    expect(starts.length).toBeGreaterThanOrEqual(2);
    expect(starts.length).toBeLessThanOrEqual(3);
    expect(starts.at(-1)!).toBeGreaterThanOrEqual(lastEnqueue);
  });

  it('when work waits with no worker then the oldest wait is reported, and 0 once none wait', async () => {
    const queue = makeQueue(async () => undefined);
    expect((await queue.counts()).oldestWaitingAgeMs).toBe(0);
    await queue.enqueue(pr(7), 'opened');
    await new Promise((r) => setTimeout(r, 120));
    await queue.enqueue(pr(8), 'opened');
    const age = (await queue.counts()).oldestWaitingAgeMs;
    expect(age).toBeGreaterThanOrEqual(100);
    expect(age).toBeLessThan(5_000);
  });

  it('when a burst arrives before the worker starts then it coalesces to one run', async () => {
    let runs = 0;
    const queue = makeQueue(async () => {
      runs++;
    });
    await Promise.all(Array.from({ length: 30 }, (_, i) => queue.enqueue(pr(2), `push ${i}`)));
    expect((await queue.counts()).waiting).toBe(1);
    queue.start();
    await waitFor('the run', () => runs === 1, 5_000);
    await idle(queue);
    expect(runs).toBe(1);
  });

  it('when a run fails transiently twice then it is retried with backoff and succeeds', async () => {
    const attempts: number[] = [];
    const times: number[] = [];
    const queue = makeQueue(async (_key, ctx) => {
      attempts.push(ctx.attempt);
      times.push(Date.now());
      if (attempts.length <= 2) throw new TransientError('nomad answered 503', { system: 'nomad' });
    });
    queue.start();
    await queue.enqueue(pr(3), 'opened');
    await waitFor('three attempts', () => attempts.length === 3, 5_000);
    await idle(queue);
    const counts = await queue.counts();
    expect(attempts).toEqual([1, 2, 3]);
    expect(counts.parked).toBe(0);
    expect(counts.completed).toBe(1);
    // Backoff: the second gap is drawn from a larger range than the first (base 40 ms, doubling, jitter 50%).
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(15);
    expect(times[2]! - times[1]!).toBeGreaterThanOrEqual(35);
  });

  it('when a run fails permanently then it is parked at once, with its error and no retry', async () => {
    let runs = 0;
    const queue = makeQueue(async () => {
      runs++;
      throw new UserError('template api.nomad.hcl.hbs: unknown helper "hcl"', { system: 'templates' });
    });
    queue.start();
    await queue.enqueue(pr(4), 'opened');
    await waitFor('the job to park', async () => (await queue.counts()).parked === 1, 5_000);
    await sleep(300);
    const parked = await queue.listParked();
    expect(runs).toBe(1);
    expect(parked).toHaveLength(1);
    expect(parked[0]).toMatchObject({ key: pr(4), reason: 'opened', attemptsMade: 1 });
    expect(parked[0]!.lastError).toContain('unknown helper "hcl"');
  });

  it('when a run throws an error previewd has no class for then it is a bug: parked at once with its stack, logged at error level, counted, not retried', async () => {
    let runs = 0;
    const lines: string[] = [];
    const capture = createLogger({ level: 'warn', destination: new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) }) });
    const metrics = createMetrics();
    function renderComponent(): never {
      // The kind of slip a bug is: reading a field of something that is not there.
      throw new TypeError("Cannot read properties of undefined (reading 'jobId') near postgres://preview_acme:pa55w0rd-x@db:5432/x");
    }
    const queue = makeQueue(
      async () => {
        runs++;
        renderComponent();
      },
      { log: capture, metrics },
    );
    queue.start();
    await queue.enqueue(pr(6), 'opened');
    await waitFor('the job to park', async () => (await queue.counts()).parked === 1, 5_000);
    // Longer than a few backoffs (base 40 ms): a retry would have run by now.
    await sleep(500);
    expect(runs).toBe(1);
    const [parked] = await queue.listParked();
    expect(parked).toMatchObject({ key: pr(6), attemptsMade: 1 });
    expect(parked!.lastError).toMatch(/^bug: TypeError: Cannot read properties of undefined/);
    expect(parked!.stack).toContain('renderComponent');
    expect(parked!.stack).not.toContain('pa55w0rd-x');
    const counter = await metrics.registry.getSingleMetricAsString('previewd_reconcile_bugs_total');
    expect(counter).toMatch(/^previewd_reconcile_bugs_total 1$/m);
    const logged = lines.map((l) => JSON.parse(l) as { level: number; msg: string; stack?: string; kind?: string });
    const bug = logged.find((l) => l.kind === 'bug');
    expect(bug?.level).toBe(50);
    expect(bug?.stack).toContain('renderComponent');
    expect(lines.join('')).not.toContain('pa55w0rd-x');
  });

  it('when a remote answers in a shape previewd does not know then the run is parked at once with what was expected, not retried and not counted as a bug', async () => {
    let runs = 0;
    const metrics = createMetrics();
    const nomad = createTransport({
      system: 'nomad',
      address: 'http://nomad.test',
      headers: {},
      timeoutMs: 1_000,
      fetch: async () => ({ status: 200, headers: { get: () => null }, text: async () => JSON.stringify({ ID: 'web-1', Version: '3' }) }),
    });
    const queue = makeQueue(
      async () => {
        runs++;
        const answer = await nomad.request('GET', '/v1/job/web-1', 'job read web-1');
        nomad.parse(z.object({ ID: z.string(), Version: z.number() }), answer.body, 'job read web-1');
      },
      { metrics },
    );
    queue.start();
    await queue.enqueue(pr(9), 'opened');
    await waitFor('the job to park', async () => (await queue.counts()).parked === 1, 5_000);
    await sleep(500);
    expect(runs).toBe(1);
    const [parked] = await queue.listParked();
    expect(parked!.lastError).toMatch(/^UserError: Nomad answered job read web-1 with an unexpected shape: Version: .*expected number/);
    expect(parked!.stack).toBeUndefined();
    expect(await metrics.registry.getSingleMetricAsString('previewd_reconcile_bugs_total')).toMatch(/^previewd_reconcile_bugs_total 0$/m);
  });

  it('when a run fails permanently or transiently then no bug is counted and no parked job carries a stack', async () => {
    const metrics = createMetrics();
    const queue = makeQueue(
      async (key) => {
        if (key.pr === 7) throw new UserError('bad template', { system: 'templates' });
        throw new TransientError('nomad: 500', { system: 'nomad' });
      },
      { metrics, attempts: 2 },
    );
    queue.start();
    await queue.enqueue(pr(7), 'opened');
    await queue.enqueue(pr(8), 'opened');
    await waitFor('both jobs to park', async () => (await queue.counts()).parked === 2, 5_000);
    const parked = await queue.listParked();
    expect(parked.map((p) => p.stack)).toEqual([undefined, undefined]);
    expect(await metrics.registry.getSingleMetricAsString('previewd_reconcile_bugs_total')).toMatch(/^previewd_reconcile_bugs_total 0$/m);
  });

  it('when PRs wait, back off or are parked then only the waiting and backing-off ones are listed pending (what the resume sweep skips)', async () => {
    const queue = makeQueue(
      async (key) => {
        if (key.pr === 11) throw new TransientError('nomad: 500', { system: 'nomad' });
        if (key.pr === 12) throw new UserError('bad template', { system: 'templates' });
      },
      { backoff: { baseMs: 60_000, maxMs: 60_000, jitter: 0 } },
    );
    await queue.enqueue(pr(10), 'opened');
    const pendingKeys = async () => new Set((await queue.listPending(100)).map((job) => keyString(job.key)));
    expect(await pendingKeys()).toEqual(new Set(['acme/shop#10']));
    queue.start();
    await queue.enqueue(pr(11), 'opened');
    await queue.enqueue(pr(12), 'opened');
    await waitFor('PR 11 to back off and PR 12 to park', async () => {
      const c = await queue.counts();
      return c.delayed === 1 && c.parked === 1 && c.waiting + c.active === 0;
    }, 10_000);
    expect(await pendingKeys()).toEqual(new Set(['acme/shop#11']));
  });

  it('when transient failures exhaust the attempts then the job is parked with a scrubbed error', async () => {
    let runs = 0;
    const queue = makeQueue(
      async () => {
        runs++;
        throw new TransientError('cannot reach postgres://preview_acme:pa55w0rd-x@db:5432/preview_acme', { system: 'postgres' });
      },
      { attempts: 3 },
    );
    queue.start();
    await queue.enqueue(pr(5), 'synchronize');
    await waitFor('the job to park', async () => (await queue.counts()).parked === 1, 5_000);
    const [parked] = await queue.listParked();
    expect(runs).toBe(3);
    expect(parked!.lastError).toContain('cannot reach postgres://preview_acme:[redacted]@db');
    expect(parked!.lastError).not.toContain('pa55w0rd-x');
    const stored = await redis.redis.hgetall(`${redis.prefix}:reconcile:${parked!.jobId}`);
    expect(JSON.stringify(stored)).not.toContain('pa55w0rd-x');
  });

  it('when a parked job is retried then its PR runs again and the parked entry is gone', async () => {
    let fail = true;
    let runs = 0;
    const queue = makeQueue(async () => {
      runs++;
      if (fail) throw new UserError('bad template');
    });
    queue.start();
    await queue.enqueue(pr(6), 'opened');
    await waitFor('the job to park', async () => (await queue.counts()).parked === 1, 5_000);
    const [parked] = await queue.listParked();
    fail = false;
    expect(await queue.retryParked(parked!.jobId)).toBe(true);
    await waitFor('the retried run', () => runs === 2, 5_000);
    await idle(queue);
    expect(await queue.listParked()).toEqual([]);
    expect((await queue.counts()).completed).toBe(1);
    expect(await queue.retryParked(parked!.jobId)).toBe(false);
  });

  it('when a parked job is removed then it is no longer listed', async () => {
    const queue = makeQueue(async () => {
      throw new UserError('bad');
    });
    queue.start();
    await queue.enqueue(pr(7), 'opened');
    await waitFor('the job to park', async () => (await queue.counts()).parked === 1, 5_000);
    const [parked] = await queue.listParked();
    expect(await queue.removeParked(parked!.jobId)).toBe(true);
    expect(await queue.listParked()).toEqual([]);
    expect(await queue.removeParked('../../etc')).toBe(false);
  });

  it('when another worker holds the PR lock then the job waits for it without spending an attempt', async () => {
    let runs = 0;
    const queue = makeQueue(async (_key, ctx) => {
      runs++;
      expect(ctx.attempt).toBe(1);
    });
    const locks = createPrLocks({ redis: redis.redis, prefix: redis.prefix, ttlMs: 5_000, log });
    const held = await locks.acquire(pr(8));
    expect(held).not.toBeNull();
    queue.start();
    await queue.enqueue(pr(8), 'opened');
    await sleep(400);
    expect(runs).toBe(0);
    await held!.release();
    await waitFor('the run after release', () => runs === 1, 5_000);
    await idle(queue);
    expect((await queue.counts()).completed).toBe(1);
  });

  it('when the worker stops gracefully then a running job finishes first', async () => {
    let finished = 0;
    const queue = makeQueue(async () => {
      await sleep(300);
      finished++;
    });
    queue.start();
    await queue.enqueue(pr(9), 'opened');
    await waitFor('the job to start', async () => (await queue.counts()).active === 1, 5_000);
    await queue.stop({ graceMs: 5_000 });
    expect(finished).toBe(1);
    expect((await queue.counts()).completed).toBe(1);
  });

  it('when a running job outlasts the stop bound then it is handed back and another worker finishes it', async () => {
    let aborted = 0;
    const slow = makeQueue(async (_key, ctx) => {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(resolve, 60_000);
        ctx.signal.addEventListener('abort', () => {
          clearTimeout(timer);
          aborted++;
          reject(new Error('aborted'));
        });
      });
    });
    slow.start();
    await slow.enqueue(pr(10), 'opened');
    await waitFor('the job to start', async () => (await slow.counts()).active === 1, 5_000);
    await slow.stop({ graceMs: 100 });
    expect(aborted).toBe(1);
    const after = await slow.counts();
    expect(after.parked).toBe(0);
    expect(after.completed).toBe(0);
    let finished = 0;
    const next = makeQueue(async (_key, ctx) => {
      expect(ctx.attempt).toBe(1);
      finished++;
    });
    next.start();
    await waitFor('the other worker to finish it', () => finished === 1, 5_000);
    await idle(next);
  });

  it('when the worker process is SIGKILLed mid-job then a new worker runs the job to completion exactly once', async () => {
    // The child's job lock and PR lock (both lockDurationMs) and both workers' stalled checks.
    const LOCK_MS = 1_000;
    const STALLED_MS = 500;
    const BUSY_MS = 100; // makeQueue's lockBusyDelayMs: the put-back when the PR lock is still held
    // What the design promises after a crash: the dead worker's locks lapse at most LOCK_MS
    // after their last renewal; BullMQ (moveStalledJobsToWait-9.lua) marks active jobs on one
    // check and moves those whose lock is gone on the next, so two intervals, plus one more
    // when the dead worker's check had just taken the shared stalled-check key; a run that
    // still finds the PR lock held is put back for BUSY_MS. 2.6 s in all.
    const designMs = LOCK_MS + 3 * STALLED_MS + BUSY_MS;
    // On a starved 2-core machine (load ~16) each of those timers and Redis round trips runs
    // late, and the recovery worker's connections open inside the window: 4 s on top. The
    // bound still tells the configured intervals from the defaults (15 s check, 30 s lock).
    const boundMs = designMs + 4_000;
    const script = fileURLToPath(new URL('./queue-crash-worker.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', script], {
      env: { ...process.env, REDIS_URL: redis.url, PREFIX: redis.prefix, LOCK_MS: String(LOCK_MS), STALLED_MS: String(STALLED_MS) },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    let killedAt = 0;
    try {
      const producer = makeQueue(async () => undefined);
      await producer.enqueue(pr(11), 'opened');
      // Starting a tsx child is compile-bound: slow under load, and not what is tested.
      await waitFor(`the child to start the job (${stderr})`, async () => (await redis.redis.llen(`${redis.prefix}:test:events`)) === 1, 40_000);
    } finally {
      killedAt = Date.now();
      child.kill('SIGKILL');
    }
    expect(await exited).toBe('SIGKILL');
    const [started] = await redis.redis.lrange(`${redis.prefix}:test:events`, 0, -1);
    const childToken = Number(/token=(\d+)/.exec(started!)![1]);

    const runs: { token: number; at: number }[] = [];
    const recovery = makeQueue(async (_key, ctx) => {
      runs.push({ token: ctx.fencingToken, at: Date.now() });
    });
    recovery.start();
    await waitFor('the stalled job to be retaken', () => runs.length === 1, 2 * boundMs);
    await idle(recovery);
    await sleep(300);
    expect(runs).toHaveLength(1);
    expect(runs[0]!.token).toBeGreaterThan(childToken);
    // Measured from the kill to the retaken run itself (not the drain and settle waits after it).
    expect(runs[0]!.at - killedAt).toBeLessThan(boundMs);
    const counts = await recovery.counts();
    expect(counts).toMatchObject({ completed: 1, parked: 0, active: 0, waiting: 0 });
  }, 90_000);
});

// The durable per-PR work queue, on BullMQ. What it guarantees and how:
// - one PR never runs twice at once: BullMQ deduplication on the PR key keeps one job
//   per PR, and a per-PR Redis lock (pr-lock.ts) covers stalled-job takeover and retries
//   of parked jobs; a job that finds the lock held is put back (delayed) without
//   spending an attempt. A run that loses the lock anyway (stalled past its TTL) may
//   overlap the next holder for a step: its store writes carry its fencing token and
//   are refused once the newer holder has written (fencedReconcile, store.fenced);
// - bursts coalesce: `keepLastIfActive` keeps at most one waiting job per PR, and an
//   enqueue while the PR's job runs leaves exactly one more run after it (the processor
//   reads the latest desired state when it starts, so nothing is lost);
// - different PRs run in parallel up to `concurrency`; with `waitConcurrency` > 0 a run gives
//   its slot back while it waits for Nomad or Consul (ctx.whileWaiting, slots.ts), so up to
//   `concurrency` runs work and up to `waitConcurrency` more wait. BullMQ's worker takes
//   `concurrency + waitConcurrency` jobs; the work slots, in this process, decide which run.
//   A run in line for a slot keeps its job, so full waits hold new work back in Redis;
// - TransientError/ConflictError/network errors retry with exponential backoff and
//   jitter; UserError/OwnershipError park at once (UnrecoverableError); any other error
//   is a bug: parked at once with its (redacted) stack, logged at error level, counted;
// - a crashed worker's job is found stalled (lock expired) and run again.
import { DelayedError, Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { TransientError } from '../errors.js';
import { isValidKey, keyString, type EnvironmentKey } from '../environments/naming.js';
import { createPrLocks, DEFAULT_PR_LOCK_TTL_MS, type PrLocks } from './pr-lock.js';
import type { PreviewdMetrics } from '../metrics.js';
import { backoffDelay, bugStack, classifyFailure, DEFAULT_BACKOFF, type BackoffOptions } from './retry-policy.js';
import { safeErrorLine } from '../secrets.js';
import { createSlots, runSlots, type Slots } from './slots.js';
import { createGroupCommit } from '../group-commit.js';
import { settledWithin, withTimeout } from '../timeout.js';

export const QUEUE_NAME = 'reconcile';
const JOB_NAME = 'reconcile';
const BACKOFF_TYPE = 'previewd';
/** Starts the parked reason of a bug: the admin view and listParked tell it from a permanent failure by it. */
const BUG_PREFIX = 'bug: ';

export interface ReconcileJobData {
  repo: string;
  pr: number;
  reason: string;
  enqueuedAt: number;
}

export interface ReconcileContext {
  /** Increases on every run of this PR; a write carrying an older one is stale. */
  fencingToken: number;
  /** Aborted when the per-PR lock is lost or the worker shuts down: stop soon, state is re-read next run. */
  signal: AbortSignal;
  /** 1 on the first try. */
  attempt: number;
  reason: string;
  jobId: string;
  /**
   * Runs a wait (a blocking query for a deployment or routing) without the run's work
   * slot, so another PR can work meanwhile; the slot is taken back before it returns.
   * Absent (the CLI, a queue with waitConcurrency 0): the wait keeps its slot.
   */
  whileWaiting?<T>(wait: () => Promise<T>): Promise<T>;
}

export type ReconcileProcessor = (key: EnvironmentKey, ctx: ReconcileContext) => Promise<void>;

export interface ReconcileQueueOptions {
  redisUrl: string;
  /** Key prefix of this deployment (or test) in Redis. */
  prefix: string;
  concurrency: number;
  /** Runs that may wait (ctx.whileWaiting) without a work slot, beside `concurrency` working ones; 0: a wait keeps its slot. */
  waitConcurrency?: number;
  process: ReconcileProcessor;
  log: Logger;
  /** Where bugs (errors no previewd class describes) are counted. */
  metrics: Pick<PreviewdMetrics, 'reconcileBugs'> & Partial<Pick<PreviewdMetrics, 'reconcileSlotSeconds'>>;
  backoff?: Partial<BackoffOptions>;
  /** Tries before a job is parked (default 8). */
  attempts?: number;
  /** BullMQ job lock and per-PR lock lifetime; a crashed worker's job is retaken after about this long (default 30 s). */
  lockDurationMs?: number;
  /** How often stalled jobs are looked for (default 15 s). */
  stalledIntervalMs?: number;
  /** Times a job may stall (crash mid-run) before it is parked (default 3). */
  maxStalledCount?: number;
  /** Wait before retrying a job whose PR lock another worker holds (default 1 s). */
  lockBusyDelayMs?: number;
  /** Bound on an enqueue, so a Redis outage fails the webhook fast instead of hanging it (default 3 s). */
  enqueueTimeoutMs?: number;
  /** Finished jobs kept for inspection (default 1000). */
  keepCompleted?: number;
  /**
   * The highest fencing token recorded for the PR (the store's fence). A run's token is
   * raised above it, so a reset Redis counter cannot hand out tokens the store refuses.
   */
  fenceFloor?: (key: EnvironmentKey) => Promise<number>;
}

export interface QueueCounts {
  /** How long the oldest waiting job has waited, in ms (0 when none wait). */
  oldestWaitingAgeMs: number;
  waiting: number;
  active: number;
  delayed: number;
  parked: number;
  completed: number;
}

export interface ParkedJob {
  jobId: string;
  key: EnvironmentKey;
  reason: string;
  /** The last error, scrubbed of secrets. */
  lastError: string;
  /** Only for a bug: its redacted stack, so an operator can find the code that threw. */
  stack?: string;
  attemptsMade: number;
  failedAt: Date | null;
}

/** A job not finished yet: waiting its turn, running, or delayed (backoff, or its PR's lock was busy). */
export interface PendingJob {
  jobId: string;
  key: EnvironmentKey;
  state: 'waiting' | 'active' | 'delayed';
  reason: string;
  attemptsMade: number;
  enqueuedAt: Date;
}

export interface ReconcileQueue {
  /** Asks for a reconcile of `key`; coalesces with work already waiting for it. */
  enqueue(key: EnvironmentKey, reason: string): Promise<void>;
  /** Starts the worker in this process (intake-only processes never call it). A stopped queue does not start again. */
  start(): void;
  /** Stops taking work, lets running jobs finish for up to graceMs, then lets go of the rest (they resume elsewhere). */
  stop(options?: { graceMs?: number }): Promise<void>;
  counts(): Promise<QueueCounts>;
  listParked(limit?: number): Promise<ParkedJob[]>;
  /** Running jobs first, then waiting and delayed ones, oldest first within each. */
  listPending(limit?: number): Promise<PendingJob[]>;
  /** Enqueues a fresh run for a parked job's PR and removes the parked entry. False when not parked. */
  retryParked(jobId: string): Promise<boolean>;
  removeParked(jobId: string): Promise<boolean>;
  /** Stops the worker (if started) and closes every connection. */
  close(options?: { graceMs?: number }): Promise<void>;
}

class RetryableFailure extends Error {
  constructor(
    message: string,
    readonly retryAfterMs: number | undefined,
  ) {
    super(message);
    this.name = 'RetryableFailure';
    // BullMQ stores the stack next to the reason; ours carries no input values.
    this.stack = `${this.name}: ${message}`;
  }
}

export function createReconcileQueue(options: ReconcileQueueOptions): ReconcileQueue {
  const log = options.log.child({ component: 'queue' });
  const lockDurationMs = options.lockDurationMs ?? DEFAULT_PR_LOCK_TTL_MS;
  const backoff: BackoffOptions = { ...DEFAULT_BACKOFF, ...options.backoff };
  const lockBusyDelayMs = options.lockBusyDelayMs ?? 1_000;
  const enqueueTimeoutMs = options.enqueueTimeoutMs ?? 3_000;

  const onRedisError = (which: string) => (err: Error) => log.warn({ err: { message: err.message }, connection: which }, 'redis connection error');
  // The producer fails fast (webhooks must answer in time); the worker waits out outages.
  const queueRedis = new Redis(options.redisUrl, { maxRetriesPerRequest: 1 });
  queueRedis.on('error', onRedisError('queue'));
  const lockRedis = new Redis(options.redisUrl, { maxRetriesPerRequest: 2 });
  lockRedis.on('error', onRedisError('locks'));
  let workerRedis: Redis | null = null;

  const queue = new Queue<ReconcileJobData>(QUEUE_NAME, { connection: queueRedis, prefix: options.prefix });
  queue.on('error', (err) => log.warn({ err: { message: err.message } }, 'queue error'));
  const locks: PrLocks = createPrLocks({ redis: lockRedis, prefix: options.prefix, ttlMs: lockDurationMs, log });

  let worker: Worker<ReconcileJobData> | null = null;
  const shutdown = new AbortController();
  const waitConcurrency = options.waitConcurrency ?? 0;
  const slots: { work: Slots; waits: Slots } | null =
    waitConcurrency > 0 ? { work: createSlots(options.concurrency), waits: createSlots(waitConcurrency) } : null;
  const stoppedWaiting = () => new TransientError('stopped waiting for a worker slot: the PR lock was lost or previewd is stopping', { system: 'redis' });
  let closed = false;

  async function runJob(job: Job<ReconcileJobData>, token?: string): Promise<void> {
    const key: EnvironmentKey = { repo: job.data.repo, pr: job.data.pr };
    if (!isValidKey(key)) throw new UnrecoverableError('invalid environment key in job data');
    const lock = await locks.acquire(key);
    if (lock === null) {
      // Another worker is still on this PR (a stalled job being retaken): try again shortly.
      log.info({ env: keyString(key), jobId: job.id }, 'PR busy on another worker; job put back');
      await job.moveToDelayed(Date.now() + lockBusyDelayMs, token);
      throw new DelayedError();
    }
    const signal = AbortSignal.any([lock.signal, shutdown.signal]);
    const attempt = job.attemptsMade + 1;
    const started = Date.now();
    const held = slots ? runSlots(slots, signal, stoppedWaiting) : null;
    try {
      await held?.start();
      if (options.fenceFloor && !(await lock.raiseAbove(await options.fenceFloor(key)))) {
        throw new TransientError('per-PR lock lost before the run started', { system: 'redis' });
      }
      await options.process(key, {
        fencingToken: lock.fencingToken,
        signal,
        attempt,
        reason: job.data.reason,
        jobId: job.id ?? '',
        ...(held ? { whileWaiting: <T>(wait: () => Promise<T>) => held.whileWaiting(wait) } : {}),
      });
      // workMs is what `concurrency` bounds; waitMs what waitConcurrency does; queuedMs the time spent in line for a slot.
      log.debug({ env: keyString(key), jobId: job.id, ms: Date.now() - started, ...held?.times() }, 'reconcile finished');
    } catch (err) {
      if (shutdown.signal.aborted && token !== undefined) {
        // Cut short by shutdown, not a failure: hand it back without spending an attempt.
        await job.moveToDelayed(Date.now(), token);
        throw new DelayedError();
      }
      const message = safeErrorLine(err);
      const kind = classifyFailure(err);
      if (kind === 'bug') {
        const stack = bugStack(err);
        options.metrics.reconcileBugs.inc();
        log.error({ env: keyString(key), jobId: job.id, attempt, kind, error: message, stack }, 'reconcile hit a bug in previewd; parked, not retried');
        // BullMQ keeps the thrown error's stack in job.stacktrace; listParked reads it back.
        const parked = new UnrecoverableError(`${BUG_PREFIX}${message}`);
        parked.stack = stack;
        throw parked;
      }
      log.warn({ env: keyString(key), jobId: job.id, attempt, kind, error: message }, 'reconcile failed');
      if (kind === 'permanent') throw new UnrecoverableError(message);
      const retryAfterMs = (err as { retryAfterMs?: unknown } | null)?.retryAfterMs;
      throw new RetryableFailure(message, typeof retryAfterMs === 'number' ? retryAfterMs : undefined);
    } finally {
      held?.end();
      if (held && options.metrics.reconcileSlotSeconds) {
        const times = held.times();
        for (const use of ['work', 'wait', 'queued'] as const) options.metrics.reconcileSlotSeconds.observe({ use }, times[`${use}Ms`] / 1000);
      }
      await lock.release();
    }
  }

  const jobOptions = {
    // `reschedule` with no delay: new desired state cuts a running backoff short.
    delay: 0,
    attempts: options.attempts ?? 8,
    backoff: { type: BACKOFF_TYPE },
    removeOnComplete: { count: options.keepCompleted ?? 1000 },
    removeOnFail: false,
    stackTraceLimit: 1,
  };
  // The enqueues made together (the webhooks a group commit resumes all reach their
  // enqueue in one run of microtasks) go to Redis as one addBulk: one pipeline of
  // BullMQ's add script, one round trip. Gathered by a microtask, not a loop turn, so
  // a lone enqueue is sent at once. A failed pipeline fails each of its enqueues;
  // every one of them is safe to repeat.
  const adds = createGroupCommit<ReconcileJobData, void>({
    maxConcurrent: 8,
    defer: queueMicrotask,
    commit: async (items) => {
      await queue.addBulk(items.map((data) => ({ name: JOB_NAME, data, opts: { ...jobOptions, deduplication: { id: keyString(data), keepLastIfActive: true, reschedule: true } } })));
      return items.map(() => ({ ok: true, value: undefined }));
    },
  });

  async function enqueue(key: EnvironmentKey, reason: string): Promise<void> {
    if (!isValidKey(key)) throw new Error(`invalid environment key ${JSON.stringify(key)}`);
    const data: ReconcileJobData = { repo: key.repo, pr: key.pr, reason: reason.slice(0, 200), enqueuedAt: Date.now() };
    try {
      await withTimeout(adds.submit(data), enqueueTimeoutMs, () => new TransientError(`enqueue timed out after ${enqueueTimeoutMs} ms`, { system: 'redis' }));
    } catch (err) {
      if (err instanceof TransientError) throw err;
      throw new TransientError('enqueue failed', { system: 'redis', cause: err });
    }
  }

  function start(): void {
    if (worker || closed) return;
    workerRedis = new Redis(options.redisUrl, { maxRetriesPerRequest: null });
    workerRedis.on('error', onRedisError('worker'));
    worker = new Worker<ReconcileJobData>(QUEUE_NAME, (job, token) => runJob(job, token), {
      connection: workerRedis,
      prefix: options.prefix,
      concurrency: options.concurrency + waitConcurrency,
      lockDuration: lockDurationMs,
      stalledInterval: options.stalledIntervalMs ?? 15_000,
      maxStalledCount: options.maxStalledCount ?? 3,
      settings: {
        backoffStrategy: (attemptsMade, _type, err) =>
          backoffDelay(attemptsMade, backoff, Math.random, err instanceof RetryableFailure ? err.retryAfterMs : undefined),
      },
    });
    worker.on('error', (err) => log.warn({ err: { message: err.message } }, 'worker error'));
    worker.on('failed', (job, err) => {
      if (!job) return;
      const parked = err instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1);
      if (parked) log.error({ env: `${job.data.repo}#${job.data.pr}`, jobId: job.id, error: err.message }, 'reconcile parked');
    });
    worker.on('stalled', (jobId) => log.warn({ jobId }, 'reconcile job stalled; retaking it'));
  }

  async function stop(stopOptions: { graceMs?: number } = {}): Promise<void> {
    const current = worker;
    if (!current) return;
    const graceMs = stopOptions.graceMs ?? 30_000;
    const closing = current.close(false);
    if (await settledWithin(closing, graceMs)) return;
    log.warn({ graceMs }, 'reconciles still running at shutdown; asking them to stop');
    shutdown.abort(new Error('shutting down'));
    if (await settledWithin(closing, 2_000)) return;
    // A processor ignoring its signal: drop the connection. The job keeps its place in
    // Redis, its lock expires and the next worker retakes it as stalled.
    log.warn('reconciles ignored the stop signal; leaving them to stalled-job recovery');
    workerRedis?.disconnect();
  }

  async function close(closeOptions: { graceMs?: number } = {}): Promise<void> {
    if (closed) return;
    closed = true;
    await stop(closeOptions);
    await queue.close().catch(() => undefined);
    queueRedis.disconnect();
    lockRedis.disconnect();
    workerRedis?.disconnect();
  }

  async function counts(): Promise<QueueCounts> {
    const c = await queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'failed', 'completed');
    return {
      waiting: (c.waiting ?? 0) + (c.prioritized ?? 0),
      active: c.active ?? 0,
      delayed: c.delayed ?? 0,
      parked: c.failed ?? 0,
      completed: c.completed ?? 0,
      oldestWaitingAgeMs: await oldestWaitingAgeMs(),
    };
  }

  /** Age of the job that has waited longest (0 when none wait): the queue's lag. */
  async function oldestWaitingAgeMs(): Promise<number> {
    const [oldest] = await queue.getJobs(['waiting', 'prioritized'], 0, 0, true);
    return oldest ? Math.max(0, Date.now() - oldest.timestamp) : 0;
  }

  async function getParked(jobId: string): Promise<Job<ReconcileJobData> | null> {
    if (!/^[A-Za-z0-9:_-]{1,100}$/.test(jobId)) return null;
    const job = (await queue.getJob(jobId)) as Job<ReconcileJobData> | undefined;
    if (!job || !(await job.isFailed())) return null;
    return job;
  }

  return {
    enqueue,
    start,
    stop,
    close,
    counts,
    async listParked(limit = 100) {
      const jobs = (await queue.getFailed(0, Math.max(0, limit - 1))) as Job<ReconcileJobData>[];
      return jobs.map((job) => {
        const stack = job.failedReason?.startsWith(BUG_PREFIX) ? job.stacktrace?.at(-1) : undefined;
        return {
          jobId: job.id ?? '',
          key: { repo: job.data.repo, pr: job.data.pr },
          reason: job.data.reason,
          lastError: job.failedReason ?? '',
          ...(stack ? { stack } : {}),
          attemptsMade: job.attemptsMade,
          failedAt: job.finishedOn ? new Date(job.finishedOn) : null,
        };
      });
    },
    async listPending(limit = 100) {
      const out: PendingJob[] = [];
      for (const state of ['active', 'waiting', 'delayed'] as const) {
        if (out.length >= limit) break;
        const types = state === 'waiting' ? (['waiting', 'prioritized'] as const) : ([state] as const);
        const jobs = (await queue.getJobs([...types], 0, limit - out.length - 1, true)) as Job<ReconcileJobData>[];
        for (const job of jobs) {
          out.push({
            jobId: job.id ?? '',
            key: { repo: job.data.repo, pr: job.data.pr },
            state,
            reason: job.data.reason,
            attemptsMade: job.attemptsMade,
            enqueuedAt: new Date(job.data.enqueuedAt ?? job.timestamp),
          });
        }
      }
      return out;
    },
    async retryParked(jobId) {
      const job = await getParked(jobId);
      if (!job) return false;
      // A fresh job through enqueue, not job.retry(): it joins the PR's deduplication,
      // so it can never run beside newer work for the same PR.
      await enqueue({ repo: job.data.repo, pr: job.data.pr }, `retry of parked job ${jobId}`);
      await job.remove();
      return true;
    },
    async removeParked(jobId) {
      const job = await getParked(jobId);
      if (!job) return false;
      await job.remove();
      return true;
    },
  };
}

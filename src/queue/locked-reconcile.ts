// One reconcile run outside the queue's worker (the CLI's redeploy, teardown and gc), taken
// the way a worker takes it: under the PR's Redis lock, its token raised above the store's
// fence, the store seen through that token (fenced-reconcile.ts). Without the lock, an
// operator's command and a daemon worker could run the same PR at once and interleave
// their Nomad, Vault and store writes; with it, one waits for the other, and a run whose
// lock is lost is refused like a worker's.
import { Redis } from 'ioredis';
import type { Deps } from '../deps.js';
import { keyString, type EnvironmentKey } from '../environments/naming.js';
import { reconcileEnvironment, type ReconcileResult } from '../environments/reconcile.js';
import { TransientError, UserError } from '../errors.js';
import { fencedReconcile } from './fenced-reconcile.js';
import { createPrLocks, DEFAULT_PR_LOCK_TTL_MS, type HeldLock, type PrLocks } from './pr-lock.js';

export interface LockedReconcileOptions {
  redisUrl: string;
  /** The daemon's Redis prefix (redis-prefix.ts), so both take the same lock. */
  prefix: string;
  /** How long to wait for a lock another holder has (default 60 s), then give up. */
  waitMs?: number;
  /** Called once when the lock is busy, before waiting. */
  onBusy?: () => void;
  ttlMs?: number;
  pollMs?: number;
}

/**
 * The run's result, or null when the lock was lost mid-run to a newer holder, which then
 * owns the PR (fencedReconcile has logged it). Throws UserError when the lock stayed busy.
 */
export async function reconcileUnderLock(deps: Deps, key: EnvironmentKey, reason: string, options: LockedReconcileOptions): Promise<ReconcileResult | null> {
  const redis = new Redis(options.redisUrl, { maxRetriesPerRequest: 2, lazyConnect: true });
  redis.on('error', (err) => deps.log.warn({ err: { message: err.message }, connection: 'cli-lock' }, 'redis connection error'));
  try {
    await redis.connect().catch((err: unknown) => {
      throw new TransientError(`cannot reach Redis for the PR lock of ${keyString(key)}`, { system: 'redis', cause: err });
    });
    const locks = createPrLocks({ redis, prefix: options.prefix, ttlMs: options.ttlMs ?? DEFAULT_PR_LOCK_TTL_MS, log: deps.log });
    const lock = await acquireWaiting(locks, key, options);
    try {
      if (!(await lock.raiseAbove(await deps.store.fenceOf(key)))) {
        throw new TransientError(`the PR lock of ${keyString(key)} was lost before the run started`, { system: 'redis' });
      }
      let result: ReconcileResult | null = null;
      const capture: typeof reconcileEnvironment = async (...args) => (result = await reconcileEnvironment(...args));
      await fencedReconcile(deps, capture)(key, { fencingToken: lock.fencingToken, signal: lock.signal, attempt: 1, reason, jobId: 'cli' });
      // A newer holder's fence above this run's token: its writes were refused, and what
      // it returned (if anything) is not the PR's state to report.
      return (await deps.store.fenceOf(key)) > lock.fencingToken ? null : result;
    } finally {
      await lock.release();
    }
  } finally {
    redis.disconnect();
  }
}

async function acquireWaiting(locks: PrLocks, key: EnvironmentKey, options: LockedReconcileOptions): Promise<HeldLock> {
  const deadline = Date.now() + (options.waitMs ?? 60_000);
  const pollMs = options.pollMs ?? 500;
  let lock = await locks.acquire(key);
  if (lock === null) options.onBusy?.();
  while (lock === null) {
    if (Date.now() >= deadline) {
      throw new UserError(`${keyString(key)} is being reconciled by another holder of its lock (a daemon worker?); try again when it is done`);
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
    lock = await locks.acquire(key);
  }
  return lock;
}

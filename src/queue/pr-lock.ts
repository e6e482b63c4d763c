// A per-PR mutex in Redis with a fencing token. BullMQ's deduplication already keeps
// one job per PR; this lock covers what deduplication cannot: a worker that lost its
// job lock (stalled: long GC pause, partition) but is still running while another
// worker picks the same job up, and a parked job retried next to a fresh one.
// The token increases on every acquisition, so a write carrying an older token can
// be refused by whoever checks it: the state store does (environments/store.ts fenced()).
// Redis's counter can be reset (a flush, or its key expiring after a quiet week) while
// the store still holds a higher fence; raiseAbove lifts the token over that floor.
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { keyString, type EnvironmentKey } from '../environments/naming.js';
import { createFencedLock } from './fenced-lock.js';

/** How long a PR lock lives unrenewed: a crashed holder's PR is free again after about this long. */
export const DEFAULT_PR_LOCK_TTL_MS = 30_000;

export interface HeldLock {
  /** This holder's token; raiseAbove may replace it with a higher one. */
  readonly fencingToken: number;
  /**
   * Makes fencingToken greater than `floor` (the highest token recorded elsewhere), moving
   * the shared counter too, so later holders stay above it. False when the lock was lost.
   */
  raiseAbove(floor: number): Promise<boolean>;
  /** Aborted when the lock is lost (not renewed in time, or taken over). */
  readonly signal: AbortSignal;
  release(): Promise<void>;
}

export interface PrLocks {
  /** The lock, or null when another worker holds it. */
  acquire(key: EnvironmentKey): Promise<HeldLock | null>;
  /** Who holds it now (its fencing token), for tests and the admin view. */
  holder(key: EnvironmentKey): Promise<number | null>;
}

export function createPrLocks(options: { redis: Redis; prefix: string; ttlMs: number; log: Logger }): PrLocks {
  const { redis, prefix, ttlMs, log } = options;
  const lockOf = (key: EnvironmentKey) => createFencedLock(redis, `${prefix}:lock:${keyString(key)}`, `${prefix}:fence:${keyString(key)}`);

  return {
    async acquire(key) {
      const lock = lockOf(key);
      const acquired = await lock.tryAcquire(ttlMs);
      if (acquired === null) return null;
      let token = acquired;
      const controller = new AbortController();
      let lastRenewed = Date.now();
      // Renew at a third of the TTL so one missed renewal still leaves time for the next.
      const timer = setInterval(() => {
        const renewing = token;
        lock
          .extend(renewing, ttlMs)
          .then((ok) => {
            if (ok) lastRenewed = Date.now();
            // Refused for a token raiseAbove has replaced meanwhile: still ours.
            else if (renewing === token) controller.abort(new Error('per-PR lock lost'));
          })
          .catch((err: unknown) => {
            log.warn({ env: keyString(key), err }, 'per-PR lock renewal failed');
            if (Date.now() - lastRenewed >= ttlMs) controller.abort(new Error('per-PR lock expired'));
          });
      }, Math.max(50, Math.floor(ttlMs / 3)));
      timer.unref();
      return {
        get fencingToken() {
          return token;
        },
        async raiseAbove(floor) {
          if (token > floor) return true;
          const raised = await lock.raise(token, floor, ttlMs);
          if (raised === null) {
            controller.abort(new Error('per-PR lock lost'));
            return false;
          }
          log.warn({ env: keyString(key), token, floor, raised }, 'per-PR lock token was below the recorded fence (Redis counter reset); raised it');
          token = raised;
          return true;
        },
        signal: controller.signal,
        release: async () => {
          clearInterval(timer);
          await lock.release(token).catch((err: unknown) => {
            // It expires on its own; the next worker only waits for the TTL.
            log.warn({ env: keyString(key), err }, 'per-PR lock release failed');
          });
        },
      };
    },
    holder: (key) => lockOf(key).holder(),
  };
}

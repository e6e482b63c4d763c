// A per-PR mutex in Redis with a fencing token. BullMQ's deduplication already keeps
// one job per PR; this lock covers what deduplication cannot: a worker that lost its
// job lock (stalled: long GC pause, partition) but is still running while another
// worker picks the same job up, and a parked job retried next to a fresh one.
// The token increases on every acquisition, so a write carrying an older token can
// be refused by whoever checks it.
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { keyString, type EnvironmentKey } from '../environments/naming.js';
import { createFencedLock } from './fenced-lock.js';

export interface HeldLock {
  readonly fencingToken: number;
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
      const token = await lock.tryAcquire(ttlMs);
      if (token === null) return null;
      const controller = new AbortController();
      let lastRenewed = Date.now();
      // Renew at a third of the TTL so one missed renewal still leaves time for the next.
      const timer = setInterval(() => {
        lock
          .extend(token, ttlMs)
          .then((ok) => {
            if (ok) lastRenewed = Date.now();
            else controller.abort(new Error('per-PR lock lost'));
          })
          .catch((err: unknown) => {
            log.warn({ env: keyString(key), err }, 'per-PR lock renewal failed');
            if (Date.now() - lastRenewed >= ttlMs) controller.abort(new Error('per-PR lock expired'));
          });
      }, Math.max(50, Math.floor(ttlMs / 3)));
      timer.unref();
      return {
        fencingToken: token,
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

// The periodic sweep, one replica at a time. Why a Redis lock and not a BullMQ
// repeatable job: the lock needs no extra worker or queue, and its fencing token lets
// the sweep check *before every change* that it is still the holder (a replica that
// paused past the lock's lifetime stops instead of racing the new holder).
// The winner keeps the lock for a whole interval after its sweep, so N replicas
// together sweep once per interval, not N times.
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { createFencedLock } from '../queue/fenced-lock.js';

export interface GcLease {
  fencingToken: number;
  /** True while this replica still holds the GC lock with this token. */
  stillHolds(): Promise<boolean>;
}

export interface GcLock {
  /** The lease, or null when another replica holds the lock. */
  tryAcquire(ttlMs: number): Promise<GcLease | null>;
  /** Extends the lease (false when it was lost). */
  extend(lease: GcLease, ttlMs: number): Promise<boolean>;
}

export function createGcLock(redis: Redis, prefix: string): GcLock {
  const lock = createFencedLock(redis, `${prefix}:gc:lock`, `${prefix}:gc:fence`);
  return {
    async tryAcquire(ttlMs) {
      const token = await lock.tryAcquire(ttlMs);
      if (token === null) return null;
      return { fencingToken: token, stillHolds: async () => (await lock.holder()) === token };
    },
    extend: (lease, ttlMs) => lock.extend(lease.fencingToken, ttlMs),
  };
}

export interface GcSchedule {
  /** Stops the timer and waits for a running sweep to finish. */
  stop(): Promise<void>;
}

/**
 * Every `intervalMs` (with up to 10% jitter so replicas do not collide), tries to take
 * the lock; the holder runs `sweep` with its lease, renewing the lock while it runs.
 */
export function startGcSchedule(options: {
  lock: GcLock;
  intervalMs: number;
  log: Logger;
  sweep: (lease: GcLease) => Promise<void>;
  random?: () => number;
}): GcSchedule {
  const { lock, intervalMs, log } = options;
  const random = options.random ?? Math.random;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | null = null;

  const tick = async () => {
    const renewMs = Math.max(1000, Math.min(intervalMs, 60_000));
    const lease = await lock.tryAcquire(renewMs * 3).catch((err: unknown) => {
      log.warn({ err }, 'gc lock unavailable; skipping this sweep');
      return null;
    });
    if (!lease) return;
    const renewal = setInterval(() => {
      lock.extend(lease, renewMs * 3).catch((err: unknown) => log.warn({ err }, 'gc lock renewal failed'));
    }, renewMs);
    try {
      await options.sweep(lease);
    } catch (err) {
      log.error({ err }, 'gc sweep failed');
    } finally {
      clearInterval(renewal);
      // Hold the lock for the rest of the interval: no other replica sweeps again before it.
      await lock.extend(lease, intervalMs).catch(() => false);
    }
  };

  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = tick().finally(() => {
        running = null;
        schedule();
      });
    }, intervalMs * (0.9 + random() * 0.1));
    timer.unref?.();
  };
  schedule();

  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}

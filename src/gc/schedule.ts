// A periodic sweep (GC, resume), one replica at a time. Why a Redis lock and not a BullMQ
// repeatable job: the lock needs no extra worker or queue, and its fencing token lets
// the sweep check *before every change* that it is still the holder (a replica that
// paused past the lock's lifetime stops instead of racing the new holder).
// The winner keeps the lock for a whole interval after its sweep, so N replicas
// together sweep once per interval, not N times; at its own next tick it sweeps again
// under the lease it still holds (were it to ask the lock anew it would find it held,
// by itself, and skip: one sweep every two intervals).
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { createFencedLock } from '../queue/fenced-lock.js';
import { settledWithin } from '../timeout.js';

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
  return createSweepLock(redis, prefix, 'gc');
}

/** The lock of one periodic sweep (`gc`, `resume`): its own key and fence under the prefix. */
export function createSweepLock(redis: Redis, prefix: string, name: string): GcLock {
  const lock = createFencedLock(redis, `${prefix}:${name}:lock`, `${prefix}:${name}:fence`);
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
  /**
   * Stops the timer and asks a running sweep to stop at its next check (its signal fires,
   * its lease says it no longer holds), then waits for it up to `graceMs` (default: as
   * long as it takes). A sweep hung inside one call is left behind after that: a shutdown
   * must not hang on it, and every sweep is safe to cut short and run again.
   */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Every `intervalMs` (with up to 10% jitter so replicas do not collide), and right
 * away when `immediate`, tries to take the lock; the holder runs `sweep` with its
 * lease, renewing the lock while it runs.
 */
export function startSweepSchedule(options: {
  /** Names the sweep in log lines ("gc", "resume"). */
  name: string;
  lock: GcLock;
  intervalMs: number;
  log: Logger;
  /** `signal` fires when the daemon stops; `lease.stillHolds()` turns false then too. */
  sweep: (lease: GcLease, signal: AbortSignal) => Promise<void>;
  random?: () => number;
  immediate?: boolean;
}): GcSchedule {
  const { lock, intervalMs, name } = options;
  const log = options.log.child({ sweep: name });
  const random = options.random ?? Math.random;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | null = null;
  const stopping = new AbortController();

  // The lease this replica kept after its last sweep (held until a whole interval after it).
  let kept: GcLease | null = null;

  const tick = async () => {
    const renewMs = Math.max(1000, Math.min(intervalMs, 60_000));
    const lease = await keptOrAcquired(renewMs * 3).catch((err: unknown) => {
      log.warn({ err }, 'sweep lock unavailable; skipping this sweep');
      return null;
    });
    kept = null;
    if (!lease) return;
    const renewal = setInterval(() => {
      lock.extend(lease, renewMs * 3).catch((err: unknown) => log.warn({ err }, 'sweep lock renewal failed'));
    }, renewMs);
    // A stopping daemon's sweep sees its lease as lost: it stops before its next change.
    const stoppable: GcLease = { fencingToken: lease.fencingToken, stillHolds: async () => !stopping.signal.aborted && (await lease.stillHolds()) };
    try {
      await options.sweep(stoppable, stopping.signal);
    } catch (err) {
      if (stopping.signal.aborted) log.info({ err: { message: (err as Error).message } }, 'sweep stopped by shutdown');
      else log.error({ err }, 'sweep failed');
    } finally {
      clearInterval(renewal);
      // Hold the lock for the rest of the interval: no other replica sweeps again before it.
      // Not when stopping: the lock then lapses soon and another replica takes the turn.
      if (!stopping.signal.aborted && (await lock.extend(lease, intervalMs).catch(() => false))) kept = lease;
    }
  };

  /** The kept lease while it still holds (extended), else a new one, else null (another replica's turn). */
  const keptOrAcquired = async (ttlMs: number): Promise<GcLease | null> => {
    if (kept && (await lock.extend(kept, ttlMs))) return kept;
    return lock.tryAcquire(ttlMs);
  };

  const schedule = (delayMs: number) => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = tick().finally(() => {
        running = null;
        schedule(intervalMs * (0.9 + random() * 0.1));
      });
    }, delayMs);
    timer.unref?.();
  };
  schedule(options.immediate ? 0 : intervalMs * (0.9 + random() * 0.1));

  return {
    async stop(graceMs) {
      stopped = true;
      clearTimeout(timer);
      stopping.abort(new Error('previewd is stopping'));
      const current = running;
      if (current === null) return;
      if (graceMs === undefined) return current;
      if (await settledWithin(current, graceMs)) return;
      log.warn({ graceMs }, 'sweep still running at shutdown; leaving it (it is safe to cut short and runs again at the next start)');
    },
  };
}

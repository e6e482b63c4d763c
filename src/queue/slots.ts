// Counting semaphores for the worker: `concurrency` work slots for the steps that use CPU
// and the systems' APIs, `waitConcurrency` wait slots for the blocking queries that only
// wait for Nomad or Consul. A reconcile gives its work slot back while it waits (whileWaiting),
// so a PR whose deployment takes minutes no longer keeps the next PR from starting.
// In-process only: the per-PR lock, not these, keeps one PR to one run.

export interface Slots {
  /**
   * Resolves with the function that gives the slot back, once one is free. `resuming`
   * goes ahead of those not started yet: finishing begun work first keeps few half-done
   * environments in flight. Rejects with the signal's reason if it fires first.
   */
  acquire(signal?: AbortSignal, options?: { resuming?: boolean }): Promise<() => void>;
  readonly size: number;
  readonly inUse: number;
  readonly queued: number;
}

interface Waiter {
  grant(release: () => void): void;
}

export function createSlots(size: number): Slots {
  if (!Number.isInteger(size) || size < 1) throw new Error(`slots need a positive size, got ${size}`);
  let inUse = 0;
  const resuming: Waiter[] = [];
  const fresh: Waiter[] = [];

  function releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = resuming.shift() ?? fresh.shift();
      // Handed on without becoming free: a newcomer cannot overtake those already queued.
      if (next) next.grant(releaser());
      else inUse -= 1;
    };
  }

  return {
    size,
    get inUse() {
      return inUse;
    },
    get queued() {
      return resuming.length + fresh.length;
    },
    acquire(signal, options = {}) {
      if (signal?.aborted) return Promise.reject(signal.reason as Error);
      if (inUse < size && resuming.length + fresh.length === 0) {
        inUse += 1;
        return Promise.resolve(releaser());
      }
      return new Promise((resolve, reject) => {
        const line = options.resuming ? resuming : fresh;
        const onAbort = () => {
          const at = line.indexOf(waiter);
          if (at >= 0) line.splice(at, 1);
          reject(signal!.reason as Error);
        };
        const waiter: Waiter = {
          grant(release) {
            signal?.removeEventListener('abort', onAbort);
            resolve(release);
          },
        };
        line.push(waiter);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    },
  };
}

/** One run's hold on the slots: a work slot from start to end, given back while it waits. */
export interface RunSlots {
  /** Takes the run's work slot (behind runs already waiting for one). */
  start(): Promise<void>;
  /**
   * Runs `wait` without the work slot: gives it back, waits within a wait slot, then takes
   * a work slot again, ahead of runs not started yet. Never holds both, so no run waits
   * for a slot while keeping one another run needs.
   */
  whileWaiting<T>(wait: () => Promise<T>): Promise<T>;
  /** Gives back whatever is held; idempotent. */
  end(): void;
  /** Where the run's time went so far, in ms: holding a work slot, in waits, queued for either slot. */
  times(): { workMs: number; waitMs: number; queuedMs: number };
}

/**
 * `stopped` makes the error a slot acquisition fails with once `signal` fires (the run is
 * stopping: the lock was lost or the worker shuts down).
 */
export function runSlots(slots: { work: Slots; waits: Slots }, signal: AbortSignal, stopped: () => Error): RunSlots {
  let releaseWork: (() => void) | null = null;
  const spent = { workMs: 0, waitMs: 0, queuedMs: 0 };
  let workSince = 0;
  const take = async (from: Slots, resuming: boolean) => {
    const queued = performance.now();
    try {
      return await from.acquire(signal, { resuming });
    } catch (err) {
      if (signal.aborted) throw stopped();
      throw err;
    } finally {
      spent.queuedMs += performance.now() - queued;
    }
  };
  const takeWork = async (resuming: boolean) => {
    releaseWork = await take(slots.work, resuming);
    workSince = performance.now();
  };
  const giveWork = () => {
    if (releaseWork === null) return;
    spent.workMs += performance.now() - workSince;
    releaseWork();
    releaseWork = null;
  };
  return {
    async start() {
      if (releaseWork === null) await takeWork(false);
    },
    async whileWaiting(wait) {
      giveWork();
      let result: Awaited<ReturnType<typeof wait>>;
      const releaseWait = await take(slots.waits, false);
      const waitSince = performance.now();
      try {
        result = await wait();
      } catch (err) {
        releaseWait();
        spent.waitMs += performance.now() - waitSince;
        // Back with a work slot even after a failed wait: the run records its failure then.
        // A stopped run takes none and fails with the wait's own error; end() has nothing to give.
        if (!signal.aborted) await takeWork(true);
        throw err;
      }
      releaseWait();
      spent.waitMs += performance.now() - waitSince;
      await takeWork(true);
      return result;
    },
    end() {
      giveWork();
    },
    times() {
      const holding = releaseWork === null ? 0 : performance.now() - workSince;
      return { workMs: Math.round(spent.workMs + holding), waitMs: Math.round(spent.waitMs), queuedMs: Math.round(spent.queuedMs) };
    },
  };
}

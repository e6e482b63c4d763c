// Retrying while the template database is busy. CREATE DATABASE … TEMPLATE fails
// with SQLSTATE 55006 while any other session is connected to the template, so a
// clone is attempted again with exponential backoff until a time budget is spent.
// Clock and sleep are passed in so the policy is tested without waiting.

export const BUSY = Symbol('busy');
export type Busy = typeof BUSY;

export interface BusyRetryOptions {
  /** Total time to keep trying; 0 means exactly one attempt. */
  budgetMs: number;
  initialDelayMs?: number;
  maxDelayMs?: number;
  now(): number;
  sleep(ms: number): Promise<void>;
}

/** Runs `attempt` until it returns something other than BUSY or the budget is spent; returns the last result. */
export async function retryWhileBusy<T>(attempt: () => Promise<T | Busy>, options: BusyRetryOptions): Promise<T | Busy> {
  const start = options.now();
  let delay = options.initialDelayMs ?? 100;
  const maxDelay = options.maxDelayMs ?? 2_000;
  for (;;) {
    const result = await attempt();
    if (result !== BUSY) return result;
    const remaining = options.budgetMs - (options.now() - start);
    if (remaining <= 0) return BUSY;
    await options.sleep(Math.min(delay, remaining));
    delay = Math.min(delay * 2, maxDelay);
  }
}

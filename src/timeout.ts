// One bound on a promise, for the places that must answer within a budget (a webhook
// inside GitHub's 10 s, an enqueue that must not hang on Redis): the promise keeps
// running, the caller stops waiting for it.

/**
 * Resolves or rejects as `promise` does, or rejects with `onTimeout()` (default: an Error
 * "timed out after <ms> ms") once `ms` have passed; the timer never outlives the race.
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => Error = () => new Error(`timed out after ${ms} ms`)): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Whether `promise` settled (either way) within `ms`: for a shutdown that waits for work
 * up to a grace and then goes on without it.
 */
export function settledWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  return withTimeout(
    promise.then(
      () => true,
      () => true,
    ),
    ms,
  ).catch(() => false);
}

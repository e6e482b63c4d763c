// Pure: how the queue treats a failed reconcile. Transient failures retry with
// exponential backoff and jitter; permanent ones (bad config or template, ownership)
// are parked at once; error text is scrubbed before BullMQ stores it in Redis,
// where operators (and the admin API) read it.
import { ConflictError, isNetworkError, OwnershipError, TransientError, UserError } from '../errors.js';

export type FailureKind = 'transient' | 'permanent';

/**
 * UserError (and OwnershipError, a subclass) will fail the same way next time: park.
 * Everything else retries up to the attempt bound: TransientError, ConflictError and
 * network errors by design, unknown errors because a bug met under load may be a
 * race that clears, and the bound still parks it where an operator sees it.
 */
export function classifyFailure(err: unknown): FailureKind {
  if (err instanceof OwnershipError || err instanceof UserError) return 'permanent';
  if (err instanceof TransientError || err instanceof ConflictError || isNetworkError(err)) return 'transient';
  return 'transient';
}

export interface BackoffOptions {
  /** Delay before the first retry, in ms. */
  baseMs: number;
  /** Cap on any single delay, in ms. */
  maxMs: number;
  /** 0..1: the fraction of the delay that is randomised ("equal jitter" at 0.5). */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 2_000, maxMs: 5 * 60_000, jitter: 0.5 };

/**
 * Delay before retry number `attempt` (1 = first retry): base·2^(attempt-1), capped,
 * minus up to `jitter` of itself so that many PRs failing together spread out.
 * A Retry-After the remote asked for is honoured as a floor.
 */
export function backoffDelay(attempt: number, options: BackoffOptions, random: () => number = Math.random, retryAfterMs?: number): number {
  const exponent = Math.min(Math.max(attempt - 1, 0), 30);
  const ceiling = Math.min(options.maxMs, options.baseMs * 2 ** exponent);
  const jitter = Math.min(Math.max(options.jitter, 0), 1);
  const delay = Math.round(ceiling * (1 - jitter * random()));
  return Math.max(delay, retryAfterMs ?? 0, 0);
}


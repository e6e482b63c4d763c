// Pure: how the queue treats a failed reconcile. Transient failures retry with
// exponential backoff and jitter; permanent ones (bad config or template, ownership,
// an incompatible remote) are parked at once; anything else is a bug in previewd and
// is parked at once too, with its stack for the operator. Error text is scrubbed
// before BullMQ stores it in Redis, where operators (and the admin API) read it.
import { ConflictError, isNetworkError, StaleFenceError, TransientError, UserError } from '../errors.js';
import { redactPatterns } from '../secrets.js';

/**
 * - transient: the same run may succeed later (an outage, a race with another writer):
 *   retry with backoff up to the attempt bound;
 * - permanent: previewd understood the failure and it will fail the same way until a
 *   person changes something (the PR, the config, a grant, a server version): park,
 *   the environment shows the message;
 * - bug: an error none of previewd's classes describes (a plain Error, a TypeError)
 *   means previewd did something it did not plan for. Retrying hides it behind eight
 *   slow attempts and may repeat a half-done change, so it is parked at once, logged
 *   with its stack and counted, where an operator sees it.
 */
export type FailureKind = 'transient' | 'permanent' | 'bug';

export function classifyFailure(err: unknown): FailureKind {
  // OwnershipError is a UserError.
  if (err instanceof UserError) return 'permanent';
  // Raw network errors are outages an adapter let through unmapped: still an outage.
  if (err instanceof TransientError || err instanceof ConflictError || isNetworkError(err)) return 'transient';
  // A run whose lock a newer holder took: fencedReconcile stops such a run itself, but
  // one that reaches the queue is no bug; its retry takes the lock and a fresh token.
  if (err instanceof StaleFenceError) return 'transient';
  return 'bug';
}

/**
 * The stack of a bug as operators read it (log and parked job): secret-looking
 * values redacted, bounded, and never the text a PR shows. Frames name previewd's
 * own files, not inputs; the first line carries the message, which is redacted.
 */
export function bugStack(err: unknown, maxChars = 4_000): string {
  const raw = err instanceof Error ? (err.stack ?? `${err.name}: ${err.message}`) : `thrown non-Error: ${typeof err}`;
  const text = redactPatterns(raw);
  return text.length > maxChars ? `${text.slice(0, maxChars - 3)}...` : text;
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


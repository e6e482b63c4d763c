// Desired state is the truth, the queue only a hint. Redis can lose its data (a
// restart without persistence, a failover) and with it every waiting job; a job can
// also run out of retries and be parked. Either way Postgres still says which
// environments lag (observed generation < desired generation). This sweep, run at
// start and periodically, puts them back in the queue:
// - a lagging environment without a job is enqueued at once;
// - one whose job is parked is retried on a slow schedule (parkedRetryInterval after
//   it was parked), at most parkedRetryLimit times per desired change; then it is
//   marked failed with the last error and left for a push or an operator;
// - one whose job was parked as a bug (an error previewd has no class for) is marked
//   failed at once: the same code meets the same input on every retry, so a retry
//   schedule would only repeat it, and the status would keep claiming "retrying".
// planResume is pure; sweepResume observes and applies.
import type { Logger } from 'pino';
import { keyString, type EnvironmentKey } from '../environments/naming.js';
import { PARKED_RETRY_EVENT, type EnvironmentStore, type LaggingEnvironment } from '../environments/types.js';
import { safeErrorLine } from '../secrets.js';
import type { ParkedJob, ReconcileQueue } from './reconcile-queue.js';

export interface ResumeOptions {
  parkedRetryIntervalMs: number;
  parkedRetryLimit: number;
}

export interface ResumeInput {
  lagging: LaggingEnvironment[];
  /** keyString of every PR the queue already holds a waiting, delayed or running job for. */
  pending: Set<string>;
  parked: ParkedJob[];
  now: Date;
}

export type ResumeAction =
  | { kind: 'enqueue'; key: EnvironmentKey; generation: number; reason: string }
  | { kind: 'retry-parked'; key: EnvironmentKey; generation: number; jobId: string; retry: number }
  | { kind: 'give-up'; key: EnvironmentKey; generation: number; jobId: string; retries: number; lastError: string; bug?: true };

/** Most recently parked job per PR. */
function latestParked(parked: ParkedJob[]): Map<string, ParkedJob> {
  const byKey = new Map<string, ParkedJob>();
  for (const job of parked) {
    const id = keyString(job.key);
    const seen = byKey.get(id);
    if (!seen || (job.failedAt?.getTime() ?? 0) > (seen.failedAt?.getTime() ?? 0)) byKey.set(id, job);
  }
  return byKey;
}

export function planResume(input: ResumeInput, options: ResumeOptions): ResumeAction[] {
  const parkedByKey = latestParked(input.parked);
  const actions: ResumeAction[] = [];
  for (const { record, parkedRetries } of input.lagging) {
    const id = keyString(record.key);
    // A job is on its way (or backing off): adding another would cut its backoff short.
    if (input.pending.has(id)) continue;
    const generation = record.desiredGeneration;
    const parked = parkedByKey.get(id);
    if (!parked) {
      actions.push({ kind: 'enqueue', key: record.key, generation, reason: `resume: generation ${generation} not reconciled (observed ${record.observedGeneration})` });
      continue;
    }
    // Only a bug's parked job carries a stack (reconcile-queue.ts).
    const bug = parked.stack !== undefined ? (true as const) : undefined;
    if (bug || parkedRetries >= options.parkedRetryLimit) {
      actions.push({ kind: 'give-up', key: record.key, generation, jobId: parked.jobId, retries: parkedRetries, lastError: parked.lastError, ...(bug ? { bug } : {}) });
      continue;
    }
    const parkedForMs = input.now.getTime() - (parked.failedAt?.getTime() ?? 0);
    if (parkedForMs >= options.parkedRetryIntervalMs) {
      actions.push({ kind: 'retry-parked', key: record.key, generation, jobId: parked.jobId, retry: parkedRetries + 1 });
    }
  }
  return actions;
}

export interface ResumeDeps {
  store: Pick<EnvironmentStore, 'listLagging' | 'appendEvent' | 'updateObserved'>;
  queue: Pick<ReconcileQueue, 'enqueue' | 'listPending' | 'listParked' | 'retryParked'>;
  clock: { now(): Date };
  log: Logger;
}

export interface ResumeResult {
  actions: ResumeAction[];
  failed: { action: ResumeAction; error: string }[];
}

/** Pending and parked jobs read per sweep; far above the environments one deployment serves. */
const SCAN_LIMIT = 5_000;

export async function sweepResume(deps: ResumeDeps, options: ResumeOptions & { stillHoldsLock?: () => Promise<boolean> }): Promise<ResumeResult> {
  const lagging = await deps.store.listLagging();
  const result: ResumeResult = { actions: [], failed: [] };
  if (lagging.length === 0) return result;
  const [pending, parked] = await Promise.all([deps.queue.listPending(SCAN_LIMIT), deps.queue.listParked(SCAN_LIMIT)]);
  result.actions = planResume({ lagging, pending: new Set(pending.map((job) => keyString(job.key))), parked, now: deps.clock.now() }, options);
  for (const action of result.actions) {
    if (options.stillHoldsLock && !(await options.stillHoldsLock())) break;
    try {
      await applyResumeAction(deps, action, options);
      deps.log.info({ env: keyString(action.key), action: action.kind, generation: action.generation }, 'resume: lagging environment handled');
    } catch (err) {
      // One failure never stops the sweep; the next one tries again.
      const error = safeErrorLine(err, 200);
      result.failed.push({ action, error });
      deps.log.warn({ env: keyString(action.key), action: action.kind, error }, 'resume action failed');
    }
  }
  return result;
}

async function applyResumeAction(deps: ResumeDeps, action: ResumeAction, options: ResumeOptions): Promise<void> {
  switch (action.kind) {
    case 'enqueue':
      await deps.queue.enqueue(action.key, action.reason);
      return;
    case 'retry-parked':
      // Counted before the retry: a crash in between spends a retry rather than granting an extra one.
      await deps.store.appendEvent(action.key, {
        type: PARKED_RETRY_EVENT,
        message: `retry ${action.retry} of ${options.parkedRetryLimit} of parked work`,
        data: { generation: action.generation, jobId: action.jobId },
      });
      await deps.queue.retryParked(action.jobId);
      return;
    case 'give-up': {
      const reason = action.bug
        ? `not retried: previewd hit an internal error (operators: the parked job ${action.jobId} has its stack): ${action.lastError}`
        : `gave up after ${action.retries} retries of parked work: ${action.lastError}`;
      // observedGeneration = desired: nothing lags any more, so no sweep picks it up again; a push does.
      await deps.store.updateObserved(action.key, { status: 'failed', lastError: reason, observedGeneration: action.generation });
      await deps.store.appendEvent(action.key, { type: 'gave-up', message: reason, data: { generation: action.generation, jobId: action.jobId } });
      return;
    }
  }
}

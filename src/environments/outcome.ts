// What one reconcile records: the record patch and events written when it starts, after
// each step and when it ends (done, failed, or done with GitHub lagging). Pure, so every
// status transition is table-tested (outcome.test.ts) apart from the loop that writes them.
import { classifyFailure } from '../queue/retry-policy.js';
import type { DesiredEnvironment, Plan, RecordedResources, Step } from './model.js';
import { describeStep } from './plan.js';
import type { EnvironmentRecord, EnvironmentStatus, ObservedPatch } from './types.js';

/** The record fields the outcome reads. */
export type OutcomeRecord = Pick<EnvironmentRecord, 'status' | 'observedSha' | 'observedGeneration' | 'lastError' | 'lastPushAt'>;

/** What the steps left: components, resources and the GitHub refs, as they are now. */
export type Progress = Required<Pick<ObservedPatch, 'components' | 'resources' | 'githubDeploymentId' | 'githubCommentId'>>;

export interface OutcomeEvent {
  type: string;
  message: string;
  data: Record<string, unknown>;
}

export interface Decision {
  /** null: nothing to write. */
  patch: ObservedPatch | null;
  events: OutcomeEvent[];
}

/** How a reconcile ended: every step applied, or an error (before any step: `step` null). */
export type RunResult =
  | { ok: true }
  | {
      ok: false;
      step: Step | null;
      error: unknown;
      /** The error's message, scrubbed of every secret. */
      message: string;
    };

export interface Outcome extends Decision {
  /** The environment's status after the reconcile (the record's, when nothing changed it). */
  status: EnvironmentStatus | null;
  /** Torn down: its hosts may be routed to another environment now. */
  releaseHosts: boolean;
  /** A new head became ready: seconds since its push (the provisioning-duration metric). */
  provisioningSeconds: number | null;
}

/** Desired present at a SHA: a deploy; anything else is a teardown. */
export function isPresent(desired: DesiredEnvironment | null): desired is DesiredEnvironment & { sha: string } {
  return desired?.present === true && desired.sha !== null;
}

/** The SHA this reconcile is about: the desired head, or (tearing down) the last one deployed. */
export function shaOf(record: Pick<EnvironmentRecord, 'observedSha'> | null, desired: DesiredEnvironment | null): string | null {
  return isPresent(desired) ? desired.sha : (record?.observedSha ?? null);
}

/** A plan that changes the cluster, the database or Vault (not only skips what is not ours). */
export function changesSystems(plan: Plan): boolean {
  return plan.some((s) => s.kind !== 'refuse');
}

/**
 * What the queue will retry (an outage, a conflict) is degraded, retrying. What it will
 * not is failed, until a push or an operator: a UserError, which fails the same way next
 * time, and a bug (an error previewd has no class for), which the queue parks at once.
 */
export function failureStatus(err: unknown): EnvironmentStatus {
  return classifyFailure(err) === 'transient' ? 'degraded' : 'failed';
}

/** Written before the first step: the record says it is being worked on, and what the plan is. */
export function decideStart(record: OutcomeRecord | null, desired: DesiredEnvironment | null, plan: Plan, lines: string[]): Decision {
  if (!record || !changesSystems(plan)) return { patch: null, events: [] };
  const present = isPresent(desired);
  return {
    patch: { status: present ? 'provisioning' : 'tearing_down' },
    events: [
      {
        type: 'plan',
        message: present ? `deploying ${desired.sha.slice(0, 12)}` : 'tearing down',
        data: { reason: desired?.reason ?? null, steps: lines },
      },
    ],
  };
}

/** Written after each step: what exists now, so a crash leaves a record of it. */
export function decideStep(record: OutcomeRecord | null, step: Step, progress: Progress): Decision {
  if (!record) return { patch: null, events: [] };
  return { patch: { ...progress }, events: [{ type: 'step', message: describeStep(step), data: { kind: step.kind } }] };
}

/** The status a reconcile ends in: what projection.ts shows the PR, before the outcome is written. */
export function outcomeStatus(record: OutcomeRecord | null, desired: DesiredEnvironment | null, plan: Plan, result: RunResult): EnvironmentStatus | null {
  if (!result.ok) return failureStatus(result.error);
  if (plan.length === 0) return decideNothingDone(record, desired, null).status;
  return isPresent(desired) ? 'ready' : 'removed';
}

/** Written when the reconcile ends. `progress` is taken after GitHub was told (projection.ts). */
export function decideOutcome(
  record: OutcomeRecord | null,
  desired: DesiredEnvironment | null,
  plan: Plan,
  result: RunResult,
  progress: Progress,
  now: Date,
  /** GitHub was brought to a new state this run: its refs in `progress` are recorded even when nothing else changed. */
  githubTold = false,
): Outcome {
  if (!result.ok) return decideFailure(record, desired, result, progress);
  const present = isPresent(desired);
  if (plan.length === 0) return decideNothingDone(record, desired, githubTold ? progress : null);

  const deploys = changesSystems(plan);
  const status: EnvironmentStatus = present ? 'ready' : 'removed';
  if (!record) return { patch: null, events: [], status, releaseHosts: false, provisioningSeconds: null };
  const patch: ObservedPatch = {
    ...progress,
    status,
    lastError: null,
    observedGeneration: desired?.generation ?? record.observedGeneration,
  };
  let provisioningSeconds: number | null = null;
  if (present) {
    patch.observedSha = desired.sha;
    if (deploys || record.status !== 'ready') patch.readyAt = now;
    if (deploys && record.observedSha !== desired.sha) provisioningSeconds = Math.max(0, now.getTime() - record.lastPushAt.getTime()) / 1000;
    // Ready at this SHA: a permanent failure recorded for it (before a redeploy) no longer holds.
    const { failedSha: _cleared, ...resources } = progress.resources as RecordedResources;
    patch.resources = resources as Record<string, unknown>;
  } else {
    patch.components = Object.fromEntries(Object.keys(progress.components).map((c) => [c, 'stopped']));
  }
  const events: OutcomeEvent[] = deploys
    ? [{ type: present ? 'ready' : 'removed', message: present ? `ready at ${desired.sha.slice(0, 12)}` : 'environment removed', data: {} }]
    : [];
  // Nothing routes them any more: another environment may have them now.
  return { patch, events, status, releaseHosts: !present, provisioningSeconds };
}

/**
 * Nothing to do, but the record must still say so: a PR closed before anything of it
 * existed is removed, not pending forever.
 */
function decideNothingDone(record: OutcomeRecord | null, desired: DesiredEnvironment | null, told: Progress | null): Outcome {
  if (!record || !desired) return { patch: null, events: [], status: record?.status ?? null, releaseHosts: false, provisioningSeconds: null };
  const present = isPresent(desired);
  const patch: ObservedPatch = told ? { resources: told.resources, githubDeploymentId: told.githubDeploymentId, githubCommentId: told.githubCommentId } : {};
  if (record.observedGeneration < desired.generation) patch.observedGeneration = desired.generation;
  if (!present && record.status !== 'removed') patch.status = 'removed';
  // Nothing left to do means nothing is failing: drop a reason a finished retry left.
  if (record.lastError !== null && record.status === 'ready') patch.lastError = null;
  return {
    patch: Object.keys(patch).length > 0 ? patch : null,
    events: [],
    status: patch.status ?? record.status,
    releaseHosts: !present,
    provisioningSeconds: null,
  };
}

function decideFailure(record: OutcomeRecord | null, desired: DesiredEnvironment | null, result: Extract<RunResult, { ok: false }>, progress: Progress): Outcome {
  const status = failureStatus(result.error);
  const none = { status, releaseHosts: false, provisioningSeconds: null };
  if (!record) return { patch: null, events: [], ...none };
  const patch: ObservedPatch = { ...progress, status, lastError: result.message };
  if (status === 'failed' && desired) patch.observedGeneration = desired.generation;
  // Permanent for this SHA: the plan holds it back until a push or a redeploy (a new generation).
  if (status === 'failed' && isPresent(desired)) patch.resources = { ...progress.resources, failedSha: desired.sha };
  const { step } = result;
  return {
    patch,
    events: [
      {
        type: 'step-failed',
        message: step ? `${describeStep(step)}: ${result.message}` : result.message,
        data: { step: step?.kind ?? 'prepare', error: (result.error as Error | undefined)?.name ?? 'Error', status },
      },
    ],
    ...none,
  };
}

/** A GitHub call that failed: scrubbed message, and whether a retry fails the same way. */
export interface ReportFailure {
  message: string;
  permanent: boolean;
}

export interface ReportLag extends Decision {
  /** What the queue is told: permanent (parked where an operator sees it) or retried. */
  error: { message: string; permanent: boolean };
}

/**
 * The environment is fine but GitHub was not brought up to date: still "ready" (it is
 * served); lastError says why GitHub lags until the next full success. Retrying only
 * repeats answers that will not change (a SHA GitHub does not have), so the error is
 * permanent when every failure is.
 */
export function decideReportLag(record: OutcomeRecord | null, failures: ReportFailure[]): ReportLag | null {
  if (failures.length === 0) return null;
  const message = `GitHub not up to date: ${failures[0]!.message}`;
  const error = { message, permanent: failures.every((f) => f.permanent) };
  if (!record) return { patch: null, events: [], error };
  return { patch: { lastError: message }, events: [{ type: 'report-failed', message, data: { failures: failures.length } }], error };
}

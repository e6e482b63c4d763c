// What a reconcile held back by the build gate records and shows. Pure, like
// outcome.ts and projection.ts (whose vocabulary it uses): the record's patch and
// events, and the PR's view. Nothing is deployed, so nothing of a previous SHA changes:
// its jobs keep running, observedSha stays.
import type { DesiredEnvironment } from '../environments/model.js';
import type { Decision, Progress } from '../environments/outcome.js';
import { withNotice, type GitHubProjection, type NoticeStamp, type ProjectionRecord } from '../environments/projection.js';
import type { EnvironmentRecord, EnvironmentStatus, ObservedPatch } from '../environments/types.js';
import { describeBuildGate, type BuildGate } from './gate.js';
import { recordedBuildWait, type RecordedBuildWait } from './recorded-wait.js';

export type HeldGate = Exclude<BuildGate, { kind: 'ready' }>;

export interface BuildHoldOutcome extends Decision {
  status: EnvironmentStatus;
  line: string;
}

export function heldStatus(gate: HeldGate): EnvironmentStatus {
  return gate.kind === 'waiting' ? 'waiting_for_build' : 'failed';
}

/**
 * The record after a held-back reconcile: waiting_for_build (the poll looks again) or
 * failed, at the desired generation (it is not lagging: the poll, a build webhook or a
 * push moves it on). An event only when what it waits for (or why it failed) changed.
 */
export function decideBuildHold(
  record: Pick<EnvironmentRecord, 'status' | 'resources'> | null,
  desired: DesiredEnvironment & { sha: string },
  gate: HeldGate,
  progress: Progress,
  now: Date,
): BuildHoldOutcome {
  const line = describeBuildGate(gate);
  const status = heldStatus(gate);
  if (!record) return { patch: null, events: [], status, line };
  const previous = recordedBuildWait(record);
  const build: RecordedBuildWait = { sha: desired.sha, checkedAt: now.toISOString(), line };
  const patch: ObservedPatch = {
    ...progress,
    resources: { ...progress.resources, build },
    status,
    lastError: status === 'failed' ? line : null,
    observedGeneration: desired.generation,
  };
  const changed = record.status !== status || previous?.sha !== desired.sha || previous.line !== line;
  const events = changed ? [{ type: status === 'failed' ? 'build-failed' : 'build-wait', message: line, data: { sha: desired.sha } }] : [];
  return { patch, events, status, line };
}

/**
 * What the PR shows while the build holds the deploy back: a pending commit status
 * naming what it waits for, or a failure naming the check; the comment says the same.
 * Null when GitHub already shows exactly that.
 */
export function projectBuildHold(
  record: (ProjectionRecord & Pick<EnvironmentRecord, 'observedSha' | 'components'>) | null,
  desired: DesiredEnvironment & { sha: string },
  gate: HeldGate,
  notice: NoticeStamp | null = null,
): GitHubProjection | null {
  const line = describeBuildGate(gate);
  const state = gate.kind === 'waiting' ? 'waiting' : 'build-failed';
  const reported = withNotice(`${state}:${desired.sha}:${line}`, notice);
  if ((record?.resources['githubReported'] as string | undefined) === reported) return null;
  // A previous SHA that was deployed keeps running: the comment says so rather than "not yet".
  const serving = Object.values(record?.components ?? {}).some((c) => c === 'healthy' || c === 'running');
  const runningSha = serving && record?.observedSha && record.observedSha !== desired.sha ? record.observedSha : null;
  return { state, sha: desired.sha, error: line, reported, runningSha };
}

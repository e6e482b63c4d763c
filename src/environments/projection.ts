// What the PR shows (deployment status, commit status, sticky comment) as a projection
// of the environment: deploying while a deploy runs, then ready, failed (for good) or
// degraded (retrying), and removed once torn down. Pure; github-report.ts's
// ensureGitHubReport brings GitHub to it. Which GitHub objects exist (deployment and
// comment ids) is not part of it: those are the report's own refs.
import { errorSystem } from '../errors.js';
import { recordedResources, type DesiredEnvironment } from './model.js';
import { changesSystems, failureStatus, isPresent } from './outcome.js';
import type { Plan } from './model.js';
import type { ReportState } from './report.js';
import type { EnvironmentRecord, EnvironmentStatus } from './types.js';

export interface GitHubProjection {
  state: ReportState;
  sha: string | null;
  /** The public reason (scrubbed, infrastructure redacted) for failed and degraded. */
  error: string | null;
  /**
   * Recorded as resources.githubReported once GitHub shows all of it, so a later run
   * knows not to tell it again: "ready:<sha>", "failed:<sha>", "removed"; null for the
   * passing states (deploying, degraded), which every run that is in them tells again.
   */
  reported: string | null;
  /** Held back by the build gate: the earlier SHA that keeps running meanwhile, if any. */
  runningSha?: string | null;
}

export type ProjectionRecord = Pick<EnvironmentRecord, 'status' | 'githubDeploymentId' | 'resources'>;

/** When the PR's fork-trust notice (trust/approvals.ts) was decided: part of what GitHub was told. */
export interface NoticeStamp {
  at: Date;
}

/**
 * The notice's part of a report key: a new notice makes a resting state be told again, so
 * the sticky comment carries it (the reconcile after recording it, or the next one after a crash).
 */
export function withNotice(key: string, notice: NoticeStamp | null): string {
  return notice ? `${key};notice:${notice.at.getTime()}` : key;
}

/** Shown a PR that never had an environment: the key is not-deployed[;notice:…]. */
const NOT_DEPLOYED = 'not-deployed';

/** Told when a deploy starts to change systems: the PR shows it deploying. */
export function projectStart(record: ProjectionRecord | null, desired: DesiredEnvironment | null, plan: Plan): GitHubProjection | null {
  if (!isPresent(desired) || !changesSystems(plan)) return null;
  return { state: 'deploying', sha: desired.sha, error: null, reported: null };
}

/** How the reconcile ended, as the loop saw it. */
export type Ending =
  | { ok: true; status: EnvironmentStatus | null; startTold: boolean }
  | { ok: false; error: unknown; publicReason: string };

/**
 * The PR state after a reconcile, or null when GitHub already shows it (or must not be
 * told: a teardown failing, or GitHub itself being what failed).
 */
export function projectOutcome(record: ProjectionRecord | null, desired: DesiredEnvironment | null, sha: string | null, ending: Ending, notice: NoticeStamp | null = null): GitHubProjection | null {
  const reported = recordedResources(record).githubReported;
  if (!ending.ok) {
    if (!isPresent(desired)) return null;
    if (failureStatus(ending.error) === 'failed') return { state: 'failed', sha: desired.sha, error: ending.publicReason, reported: withNotice(`failed:${desired.sha}`, notice) };
    // Retrying: the comment says why; GitHub itself being the problem, it cannot.
    if (errorSystem(ending.error) === 'github') return null;
    return { state: 'degraded', sha: desired.sha, error: ending.publicReason, reported: null };
  }
  if (isPresent(desired)) {
    if (ending.status !== 'ready') return null; // held back at a failed SHA: the PR was told
    const key = withNotice(`ready:${desired.sha}`, notice);
    // Told "deploying" this run, or GitHub missed the news of an earlier one.
    return ending.startTold || reported !== key ? { state: 'ready', sha: desired.sha, error: null, reported: key } : null;
  }
  if (ending.status !== 'removed') return null;
  if (!mayHaveReported(record)) {
    // Never deployed (a fork nobody approved): told only when there is a notice to tell.
    const key = withNotice(NOT_DEPLOYED, notice);
    return notice && reported !== key ? { state: 'not-deployed', sha, error: null, reported: key } : null;
  }
  const key = withNotice('removed', notice);
  return reported === key ? null : { state: 'removed', sha, error: null, reported: key };
}

/**
 * Whether GitHub may show this environment. A crash can land between telling GitHub and
 * recording that we did: any status past "pending" means a deployment may exist (the
 * removal finds it by environment name).
 */
function mayHaveReported(record: ProjectionRecord | null): boolean {
  if (!record) return false;
  const pastPending = record.status !== 'pending' && record.status !== 'removed';
  const reported = recordedResources(record).githubReported;
  const deployedOnce = reported !== undefined && reported.split(';')[0] !== NOT_DEPLOYED;
  return record.githubDeploymentId !== null || deployedOnce || pastPending;
}

// The end-to-end test gate's own state: one run per PR at a time (the e2e_runs table),
// what the pure planner decides from it, and what the judge makes of a test job.
import type { EnvironmentKey } from '../environments/naming.js';

export type E2eState = 'queued' | 'running' | 'passed' | 'failed' | 'cancelled';

export const ACTIVE_STATES: readonly E2eState[] = ['queued', 'running'];

export interface E2eRun {
  key: EnvironmentKey;
  sha: string;
  state: E2eState;
  /** Bumped by a rerun: a new test job, a new check run, told to GitHub again. */
  attempt: number;
  jobId: string | null;
  evalId: string | null;
  /** Why it failed or was cancelled (placement failure, task events, timeout); public, scrubbed. */
  reason: string | null;
  /** The last lines of the test's output, scrubbed. */
  output: string | null;
  queuedAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  checkRunId: number | null;
  /** reportKey() of what GitHub was last told; null: nothing yet. */
  reported: string | null;
  /** The finished test job is gone from Nomad (purged, or never submitted). */
  jobPurged: boolean;
}

/** The environment as the planner needs it (from the environments table). */
export interface E2eEnvironment {
  present: boolean;
  desiredSha: string | null;
  /** Ready and serving this SHA: tests may run against it. */
  readySha: string | null;
}

export type E2eAction =
  | { kind: 'queue'; sha: string }
  | { kind: 'cancel'; reason: string }
  | { kind: 'start' }
  | { kind: 'observe' }
  | { kind: 'report' }
  | { kind: 'purge' };

/** What the judge decided about a submitted test job. */
export type E2eVerdict =
  | { kind: 'running' }
  | { kind: 'passed' }
  | { kind: 'failed'; reason: string; allocId: string | null; task: string | null };

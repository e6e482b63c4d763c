// The shapes one reconcile's steps share: what apply.ts runs with, what github-report.ts
// reads and what a renderer produces. Types only, in a module of their own so apply.ts,
// github-report.ts, reconcile.ts and render.ts all import downwards, never each other.
import type { Deps } from '../deps.js';
import type { GrowingScrubber } from './credentials.js';
import type { RecordedResources, Step } from './model.js';
import type { EnvironmentNames } from './naming.js';
import type { RenderedJob } from './renderer.js';

export interface GitHubState {
  deploymentId: number | null;
  deploymentSha: string | null;
  commentId: number | null;
  /**
   * The GitHub calls that failed during this reconcile: scrubbed message, and whether
   * it will fail the same way on a retry (a UserError: 422 "No ref found", 404, 403).
   */
  failures: { message: string; permanent: boolean }[];
}

/** What the sticky comment's "expires" line is computed from. */
export interface ReportTiming {
  lastPushAt: Date | null;
  idleTtlMs: number;
}

/** Mutable state threaded through one reconcile's steps (and read back by the caller). */
export interface ApplyState {
  components: Record<string, string>;
  resources: RecordedResources;
  github: GitHubState;
  /** Job ID → the version this run registered: the one deployment the watch accepts. */
  registeredVersions: Record<string, number>;
}

export interface ApplyContext {
  deps: Deps;
  names: EnvironmentNames;
  sha: string | null;
  jobs: RenderedJob[];
  /** The canonical environment for the PR secret, given its DATABASE_URL. */
  secretData(databaseUrl: string): Promise<Record<string, string>>;
  /** Grows as secrets become known (the new password); used for every stored/logged text. */
  scrubber: GrowingScrubber;
  state: ApplyState;
  /** For the comment's "expires" line. */
  timing: ReportTiming;
  onStep?(step: Step): Promise<void>;
  /** Aborted when this run must stop (lost the PR lock, daemon stopping): no further step starts. */
  signal?: AbortSignal;
}

// The shapes one reconcile's steps share: what apply.ts runs with and reconcile.ts reads
// back. Types only, in a module of their own so apply.ts, reconcile.ts and gc/sweep.ts
// import downwards, never each other. GitHub is no step: its refs live in reconcile.ts's
// reporter (github-report.ts), apart from this state.
import type { Deps } from '../deps.js';
import type { GrowingScrubber } from './credentials.js';
import type { RecordedResources, Step } from './model.js';
import type { EnvironmentNames } from './naming.js';
import type { RenderedJob } from './renderer.js';

/** Mutable state threaded through one reconcile's steps (and read back by the caller). */
export interface ApplyState {
  components: Record<string, string>;
  resources: RecordedResources;
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
  onStep?(step: Step): Promise<void>;
  /** Aborted when this run must stop (lost the PR lock, daemon stopping): no further step starts. */
  signal?: AbortSignal;
  /**
   * Runs a batch of wait steps (waitsOnly in apply.ts) without the queue's work slot, so a
   * deployment that takes minutes keeps no other PR from working; absent: waits in place.
   */
  whileWaiting?<T>(wait: () => Promise<T>): Promise<T>;
}

// previewd's own state: one row per environment (desired + observed) and an
// append-only event history, kept in Postgres (see store.ts and migrations/).
import type { StaleFenceError } from '../errors.js';
import type { EnvironmentKey } from './naming.js';
import type { GitHubChange } from './ordering.js';

export type EnvironmentStatus =
  | 'pending' // desired recorded, not yet worked on
  | 'waiting_for_build' // the head SHA's CI build (checks, images) is not done: nothing of it deployed yet
  | 'provisioning'
  | 'ready'
  | 'degraded' // a step keeps failing transiently; retrying
  | 'failed' // a permanent failure (bad template, validation); needs a push or an operator
  | 'tearing_down'
  | 'removed'; // torn down; the row stays for history

/** A fact from GitHub (a webhook, or GitHub's answer to GC) about what the PR needs. */
export interface DesiredInput {
  present: boolean;
  /** Head SHA to deploy; required when present. */
  sha: string | null;
  /** Why (webhook action, "gc: closed"...): shown in events. */
  reason: string;
  /** GitHub's pull_request.updated_at, never a local time: orders facts that arrive out of order. */
  prUpdatedAt: Date;
  /** synchronize's `before`: a push whose `before` is the SHA we hold is newer even at an equal timestamp. */
  beforeSha?: string | null;
  /** What the event changed, to break ties of equal updated_at (ordering.ts); default: "head" when present, else "close". */
  change?: GitHubChange;
  labels?: string[];
  /** The PR's title and head branch, shown by the dashboard only (attacker-controlled; never in a name). Omitted: kept as stored. */
  title?: string;
  branch?: string;
  /**
   * Read from GitHub's REST listing (resync), not sent as an event: it never brings back
   * a head previewd removed itself (ordering.ts), and a refusal is routine, not an event.
   */
  fromListing?: boolean;
}

/** previewd's own decision to remove an environment (admin, CLI, GC): ordered by generation, not by a clock. */
export interface TeardownInput {
  /** Why ("admin: teardown", "gc: idle (…)"): shown in events. */
  reason: string;
  /** The desired generation the decision was taken on; a change recorded since then wins. */
  expectedGeneration: number;
}

export interface EnvironmentRecord {
  key: EnvironmentKey;
  envId: string;
  desiredPresent: boolean;
  desiredSha: string | null;
  desiredReason: string;
  /** Bumped on every accepted desired change or reconcile request; the queue coalesces on it. */
  desiredGeneration: number;
  /** The generation the last finished reconcile worked from. */
  observedGeneration: number;
  /** GitHub's updated_at of the newest GitHub fact accepted (previewd's own decisions never change it). */
  prUpdatedAt: Date;
  labels: string[];
  /** Display only, attacker-controlled; null until a webhook carrying them was recorded. */
  title: string | null;
  branch: string | null;
  status: EnvironmentStatus;
  observedSha: string | null;
  lastError: string | null;
  /** Per component: "pending" | "running" | "healthy" | "failed" | "stopped". */
  components: Record<string, string>;
  /** What exists, by kind (database, role, vaultSecret, vaultPolicy, vaultRole, jobs[]...). */
  resources: Record<string, unknown>;
  githubDeploymentId: number | null;
  githubCommentId: number | null;
  lastPushAt: Date;
  readyAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

/** Event type of one retry of parked work (counted by listLagging against the retry ceiling). */
export const PARKED_RETRY_EVENT = 'parked-retry';

/** Event type of a reconcile write refused because a newer PR lock holder had written. */
export const LOCK_LOST_EVENT = 'lock-lost';

export interface HostHeld {
  host: string;
  holder: EnvironmentKey;
}

export interface LaggingEnvironment {
  record: EnvironmentRecord;
  /** "parked-retry" events recorded for the record's current desired generation. */
  parkedRetries: number;
}

export interface EnvironmentEvent {
  id: number;
  at: Date;
  type: string; // "desired", "step", "step-failed", "ready", "removed", ...
  message: string;
  data: Record<string, unknown>;
}

export type ObservedPatch = Partial<
  Pick<EnvironmentRecord, 'status' | 'observedSha' | 'lastError' | 'components' | 'resources' | 'githubDeploymentId' | 'githubCommentId' | 'readyAt' | 'observedGeneration'>
>;

export interface EnvironmentStore {
  /** Applies the state migrations (idempotent, safe with several replicas). */
  migrate(): Promise<void>;
  /**
   * Records a GitHub fact as the desired state unless it is older than what is stored
   * (GitHub's updated_at, then the facts: ordering.ts). Returns whether it was accepted and the generation.
   */
  recordDesired(key: EnvironmentKey, input: DesiredInput): Promise<{ accepted: boolean; generation: number }>;
  /**
   * Records previewd's own decision "absent" if nothing was recorded since `expectedGeneration`
   * (false: a newer change won, or there is no row). A strictly newer GitHub fact supersedes it.
   */
  recordTeardown(key: EnvironmentKey, input: TeardownInput): Promise<{ accepted: boolean; generation: number }>;
  /**
   * Claims `hosts` for `key` (and lets go of its other hosts), all or nothing. Returns the
   * hosts another live environment holds; when there are any, nothing was claimed.
   */
  claimHosts(key: EnvironmentKey, hosts: string[], token?: number): Promise<HostHeld[]>;
  /** Lets go of every host `key` holds (its environment is removed). */
  releaseHosts(key: EnvironmentKey, token?: number): Promise<void>;
  /** Asks for another reconcile without changing what is desired (admin redeploy, retry). */
  requestReconcile(key: EnvironmentKey, reason: string): Promise<number | null>;
  get(key: EnvironmentKey): Promise<EnvironmentRecord | null>;
  list(filter?: { repo?: string; status?: EnvironmentStatus; desiredPresent?: boolean }): Promise<EnvironmentRecord[]>;
  /** Environments wanting head `sha` of `repo` whose build held them back (waiting, or failed): a build webhook's PRs. */
  listAwaitingBuild(repo: string, sha: string): Promise<EnvironmentKey[]>;
  /**
   * Environments whose last finished reconcile worked from an older desired generation,
   * each with the parked-work retries already spent on its current generation.
   */
  listLagging(): Promise<LaggingEnvironment[]>;
  /** Environments per status, counted in the database (cheap enough for every metrics scrape). */
  countByStatus(): Promise<Partial<Record<EnvironmentStatus, number>>>;
  /**
   * The observed-state writes (this one, appendEvent, claimHosts, releaseHosts) take the
   * writer's PR lock fencing token, if it holds the lock (fenced-store.ts): the write then
   * moves the environment's fence to it, and is refused with StaleFenceError (recorded as
   * a lock-lost event) when a newer token has written. Without a token it neither checks nor moves it.
   */
  updateObserved(key: EnvironmentKey, patch: ObservedPatch, token?: number): Promise<void>;
  appendEvent(key: EnvironmentKey, event: { type: string; message: string; data?: Record<string, unknown> }, token?: number): Promise<void>;
  listEvents(key: EnvironmentKey, limit?: number): Promise<EnvironmentEvent[]>;
  /** Deletes events recorded before `before` (the retention); returns how many. */
  pruneEvents(before: Date): Promise<number>;
  /**
   * The highest fencing token that wrote this environment (0 when none did, or there is
   * no row): the next lock holder's token must be above it (the Redis counter may have been reset).
   */
  fenceOf(key: EnvironmentKey): Promise<number>;
  close(): Promise<void>;
}

/** The store as the holder of a PR lock sees it (fenced-store.ts). */
export interface FencedEnvironmentStore extends EnvironmentStore {
  readonly token: number;
  /** The refusal once one write was refused; every later write of this view is refused too. */
  readonly refusal: StaleFenceError | null;
}

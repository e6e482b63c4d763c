// What GC observes and what it decides. A plan is data: printed by --dry-run,
// returned by POST /admin/gc, and handed to the reconciler by sweep.ts.
import type { EnvironmentKey } from '../environments/naming.js';

export type OwnedKind = 'nomad-job' | 'consul-service' | 'vault-secret' | 'vault-policy' | 'vault-jwt-role' | 'database' | 'database-role';

/** One resource that carries this instance's ownership marker. */
export interface OwnedResource {
  kind: OwnedKind;
  /** Job ID, Consul service ID, KV path (under the mount), policy/role/database name. */
  name: string;
  envId: string;
  /** Consul only: the node the service is registered on, and the service name. */
  node?: string;
  serviceName?: string;
}

/** Everything carrying the marker, and the systems that could not be listed (never guessed at). */
export interface OwnedInventory {
  resources: OwnedResource[];
  /** A system that failed to list: its orphans are left for the next sweep. */
  failed: { kind: OwnedKind; error: string }[];
  /** Vault objects named for a live environment, whose markers were not read (GC leaves them alone). */
  unread?: number;
}

export type StaleReason = 'closed' | 'merged' | 'gone' | 'idle' | 'over-limit';

export type GcAction =
  | {
      kind: 'teardown';
      key: EnvironmentKey;
      envId: string;
      reason: StaleReason;
      detail: string;
      /** The desired generation the decision was taken on: a change recorded since then wins. */
      generation: number;
      /** closed/merged: GitHub's updated_at of the closed PR, recorded as GitHub's fact (not previewd's). */
      closedAt?: string;
    }
  | { kind: 'remove-orphan'; envId: string; resources: OwnedResource[]; detail: string };

export interface GcPlan {
  actions: GcAction[];
  /** Environments or repos left alone on purpose, with why (keep label, listing failed...). */
  skipped: { subject: string; reason: string }[];
}

/** What GitHub said about one repo: the open PRs, or why it could not be listed. */
export type RepoPulls =
  | { ok: true; open: { number: number; labels: string[] }[] }
  | { ok: false; error: string };

/** GitHub's answer for a PR missing from the open list (null = 404, the PR or repo is gone). */
export type ClosedPull = { state: 'open' | 'closed'; merged: boolean; labels: string[]; updatedAt: string } | null;

export interface GcFilter {
  repo?: string | undefined;
  pr?: number | undefined;
  /** Replaces each repo's idleTtl, and limits the plan to environments idle at least this long. */
  olderThanMs?: number | undefined;
}

// When a PR's credentials must be renewed: the one rule, and which environments are due.
// The login role's VALID UNTIL and the Vault secret's delete_version_after both last
// credentialTtl from the last reconcile; a PR nobody pushes to would lose both after
// that long, so the daemon renews every present environment on its own (issue 11 §3).
// The renewal itself is the reconciler's (plan.ts: the same login, a new identical
// secret version); the sweep that asks for it is renewal-sweep.ts. Pure.
import { recordedBuildWait } from '../build/recorded-wait.js';
import { recordedResources } from './model.js';
import type { EnvironmentKey } from './naming.js';
import type { EnvironmentRecord } from './types.js';

/** Renew once less than this share of the credentials' lifetime is left. */
export const CREDENTIAL_RENEW_FRACTION = 0.5;

/**
 * The one rule: credentials valid until `validUntil` are due for renewal at `now` when
 * less than CREDENTIAL_RENEW_FRACTION of `ttlMs` is left (or the time is unknown).
 */
export function credentialRenewalDue(validUntil: string | undefined, now: Date, ttlMs: number): boolean {
  const until = validUntil ? Date.parse(validUntil) : NaN;
  return !(until - now.getTime() > ttlMs * CREDENTIAL_RENEW_FRACTION);
}

export interface DueRenewal {
  key: EnvironmentKey;
  /** ISO time the current login and secret version stop working (null when unknown). */
  validUntil: string | null;
}

/**
 * At most this many renewals are asked for per sweep, soonest expiry first: a sweep
 * stays short, and with sweeps every gc.interval and half the TTL of margin, the rest
 * follow at the next ones.
 */
const RENEWALS_PER_SWEEP = 100;

/** Serving its desired SHA: ready, or degraded after a transient failure whose retries may have been parked. */
function servesDesiredSha(r: EnvironmentRecord): boolean {
  return (r.status === 'ready' || r.status === 'degraded') && r.observedSha === r.desiredSha;
}

/**
 * An earlier SHA still running while the build gate holds the desired head back (waiting,
 * or failed by the gate itself, not by a deploy: build/hold.ts records the gate's line as
 * the error). Its reconcile stops at the gate, which renews the credentials only.
 */
function servesEarlierShaBehindBuild(r: EnvironmentRecord): boolean {
  const build = recordedBuildWait(r);
  if (r.observedSha === null || r.observedSha === r.desiredSha || build?.sha !== r.desiredSha) return false;
  return r.status === 'waiting_for_build' || (r.status === 'failed' && r.lastError === build.line);
}

/**
 * Environments whose credentials are due, soonest expiry first: those serving their
 * desired SHA, or an earlier one behind a held build. One still deploying is being
 * reconciled anyway; a failed or torn-down one has nothing worth keeping alive.
 */
export function planCredentialRenewals(records: EnvironmentRecord[], now: Date, ttlMs: number, limit = RENEWALS_PER_SWEEP): DueRenewal[] {
  return records
    .filter((r) => r.desiredPresent && r.desiredSha !== null && (servesDesiredSha(r) || servesEarlierShaBehindBuild(r)))
    .map((r) => ({ key: r.key, validUntil: recordedResources(r).credentialsValidUntil ?? null }))
    .filter((r) => credentialRenewalDue(r.validUntil ?? undefined, now, ttlMs))
    .sort((a, b) => (a.validUntil ?? '').localeCompare(b.validUntil ?? ''))
    .slice(0, limit);
}

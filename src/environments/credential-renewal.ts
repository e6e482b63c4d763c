// When a PR's credentials must be renewed: the one rule, and which environments are due.
// The login role's VALID UNTIL and the Vault secret's delete_version_after both last
// credentialTtl from the last reconcile; a PR nobody pushes to would lose both after
// that long, so the daemon renews every present environment on its own (issue 11 §3).
// The renewal itself is the reconciler's (plan.ts: the same login, a new identical
// secret version); the sweep that asks for it is renewal-sweep.ts. Pure.
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

/**
 * Environments whose credentials are due, soonest expiry first: those serving their
 * desired SHA (ready, or degraded after a transient failure whose retries may have been
 * parked). One still deploying is being reconciled anyway; a failed or torn-down one has
 * nothing worth keeping alive.
 */
export function planCredentialRenewals(records: EnvironmentRecord[], now: Date, ttlMs: number, limit = RENEWALS_PER_SWEEP): DueRenewal[] {
  return records
    .filter((r) => r.desiredPresent && r.desiredSha !== null && (r.status === 'ready' || r.status === 'degraded') && r.observedSha === r.desiredSha)
    .map((r) => ({ key: r.key, validUntil: recordedResources(r).credentialsValidUntil ?? null }))
    .filter((r) => credentialRenewalDue(r.validUntil ?? undefined, now, ttlMs))
    .sort((a, b) => (a.validUntil ?? '').localeCompare(b.validUntil ?? ''))
    .slice(0, limit);
}

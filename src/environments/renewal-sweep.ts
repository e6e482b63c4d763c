// The periodic credential renewal: every environment due (credential-renewal.ts) gets
// an event, a metric and a reconcile request. Run by the daemon inside the GC schedule
// (one replica at a time, under the GC lock), so it needs no scheduler of its own.
import type { Deps } from '../deps.js';
import { safeErrorLine } from '../secrets.js';
import { planCredentialRenewals, type DueRenewal } from './credential-renewal.js';
import { keyString, type EnvironmentKey } from './naming.js';

export interface RenewalSweepOptions {
  /** Hands the PR to the reconciler: enqueue (daemon) or reconcile now (tests, CLI). */
  requestReconcile(key: EnvironmentKey, reason: string): Promise<void>;
  /** Checked before each request; false (lost the lock to another replica) stops the sweep. */
  stillHoldsLock?(): Promise<boolean>;
}

export interface RenewalSweepResult {
  requested: DueRenewal[];
  failed: { key: EnvironmentKey; error: string }[];
}

const RENEWAL_REASON = 'renew credentials';

/** Asks for a reconcile of every environment whose credentials are due; one failure never stops the rest. */
export async function sweepCredentialRenewals(deps: Pick<Deps, 'config' | 'clock' | 'store' | 'log' | 'metrics'>, options: RenewalSweepOptions): Promise<RenewalSweepResult> {
  const due = planCredentialRenewals(await deps.store.list({ desiredPresent: true }), deps.clock.now(), deps.config.credentialTtl);
  const result: RenewalSweepResult = { requested: [], failed: [] };
  for (const renewal of due) {
    if (options.stillHoldsLock && !(await options.stillHoldsLock())) break;
    try {
      await deps.store.appendEvent(renewal.key, {
        type: 'renew',
        message: `credentials renewal requested (valid until ${renewal.validUntil ?? 'unknown'})`,
        data: { validUntil: renewal.validUntil },
      });
      await options.requestReconcile(renewal.key, RENEWAL_REASON);
      deps.metrics.credentialRenewals.inc({ outcome: 'requested' });
      result.requested.push(renewal);
    } catch (err) {
      const error = safeErrorLine(err, 200);
      deps.metrics.credentialRenewals.inc({ outcome: 'failed' });
      result.failed.push({ key: renewal.key, error });
      deps.log.warn({ env: keyString(renewal.key), error }, 'credential renewal request failed');
    }
  }
  if (due.length > 0) deps.log.info({ due: due.length, requested: result.requested.length, failed: result.failed.length }, 'credential renewal sweep');
  return result;
}

// Prometheus metrics, built once by the composition root and handed around in `Deps`, so
// the reconciler, intake and GC record into the same registry and a test gets its own.
// Gauges that mirror state (environments by state, queue depth and age) are read at
// scrape time through collectors the daemon binds, so a scrape always reports the truth
// rather than a counter that drifted. http/metrics.ts serves the registry.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface MetricSources {
  /** Environment count per status (store). */
  environmentsByState?: () => Promise<Record<string, number>>;
  /** Queue counts per state and the age of the oldest waiting job in seconds. */
  queueStats?: () => Promise<{ counts: Record<string, number>; oldestWaitingAgeSeconds: number | null }>;
}

// Label values must come from a closed set: a webhook's event name is attacker-chosen,
// and an open label would let anyone grow the registry without bound.
const KNOWN_EVENTS = new Set(['pull_request', 'issue_comment', 'push', 'ping', 'installation', 'label', 'pull_request_review']);
const KNOWN_OUTCOMES = new Set(['accepted', 'ignored', 'duplicate', 'in_progress', 'pong', 'stale', 'bad_signature', 'invalid', 'error', 'rejected']);

export function createMetrics(registry = new Registry()) {
  const sources: MetricSources = {};
  const environments = new Gauge({
    name: 'previewd_environments',
    help: 'Environments by state',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      if (!sources.environmentsByState) return;
      this.reset();
      try {
        for (const [state, count] of Object.entries(await sources.environmentsByState())) this.set({ state }, count);
      } catch {
        // A scrape must not fail because the store is briefly unreachable; /readyz reports that.
      }
    },
  });
  const provisioningDuration = new Histogram({
    name: 'previewd_provisioning_duration_seconds',
    help: 'Time from desired state recorded to environment ready',
    buckets: [5, 15, 30, 60, 120, 300, 600, 1200, 1800],
    registers: [registry],
  });
  const stepFailures = new Counter({
    name: 'previewd_step_failures_total',
    help: 'Reconcile steps that failed, by external system',
    labelNames: ['system'] as const,
    registers: [registry],
  });
  // No labels: a bug has no closed set of kinds, and the log line carries its stack.
  const reconcileBugs = new Counter({
    name: 'previewd_reconcile_bugs_total',
    help: 'Reconciles that failed with an error previewd has no class for (a bug in previewd): parked at once, not retried',
    registers: [registry],
  });
  // Where a reconcile's time goes with waitConcurrency > 0: the work that `concurrency`
  // bounds, the waits beside it, and the time in line for either slot.
  const reconcileSlotSeconds = new Histogram({
    name: 'previewd_reconcile_slot_seconds',
    help: 'Per reconcile run: seconds holding a work slot (use=work), waiting for Nomad or Consul (use=wait), in line for a slot (use=queued)',
    labelNames: ['use'] as const,
    buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600],
    registers: [registry],
  });
  const queueDepth = new Gauge({
    name: 'previewd_queue_depth',
    help: 'Reconcile jobs by queue state',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      if (!sources.queueStats) return;
      this.reset();
      try {
        const stats = await sources.queueStats();
        for (const [state, count] of Object.entries(stats.counts)) this.set({ state }, count);
        queueAge.set(stats.oldestWaitingAgeSeconds ?? 0);
      } catch {
        // see above
      }
    },
  });
  const queueAge = new Gauge({
    name: 'previewd_queue_oldest_age_seconds',
    help: 'Age of the oldest waiting reconcile job (0 when none)',
    registers: [registry],
  });
  const webhooks = new Counter({
    name: 'previewd_webhooks_total',
    help: 'Webhook deliveries by event and outcome',
    labelNames: ['event', 'outcome'] as const,
    registers: [registry],
  });
  const gcRemovals = new Counter({
    name: 'previewd_gc_removals_total',
    help: 'What GC removed, by kind (stale reason or orphan resource kind)',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  const credentialRenewals = new Counter({
    name: 'previewd_credential_renewals_total',
    help: 'Credential renewals the periodic sweep asked for (outcome: requested, failed)',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const lockLost = new Counter({
    name: 'previewd_lock_lost_total',
    help: 'Reconcile runs stopped because a newer holder of the PR lock had written (their stale writes were refused)',
    registers: [registry],
  });
  const resyncRuns = new Counter({
    name: 'previewd_resync_runs_total',
    help: 'Listings of a repo\'s open PRs by resync (result: changed, not_modified, rate_limited, failed)',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const driftRepaired = new Counter({
    name: 'previewd_resync_drift_repaired_total',
    help: 'Desired states resync recorded because a webhook was missed (kind: opened, head, labels, state, closed)',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  const githubRateLimitRemaining = new Gauge({
    name: 'previewd_github_rate_limit_remaining',
    help: "GitHub's x-ratelimit-remaining on its most recent answer to previewd",
    registers: [registry],
  });
  return {
    registry,
    resyncRuns,
    driftRepaired,
    githubRateLimitRemaining,
    environments,
    provisioningDuration,
    stepFailures,
    reconcileBugs,
    reconcileSlotSeconds,
    queueDepth,
    queueAge,
    webhooks,
    gcRemovals,
    credentialRenewals,
    lockLost,
    /** Binds the scrape-time sources (the app does this once it has a store and a queue). */
    bindSources(next: MetricSources) {
      Object.assign(sources, next);
    },
    recordWebhook(event: string, outcome: string) {
      webhooks.inc({ event: KNOWN_EVENTS.has(event) ? event : 'other', outcome: KNOWN_OUTCOMES.has(outcome) ? outcome : 'other' });
    },
  };
}

export type PreviewdMetrics = ReturnType<typeof createMetrics>;

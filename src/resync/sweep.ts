// Resync: every interval (and at start) list each configured repo's open PRs and
// record whatever webhooks missed (resync/plan.ts decides, through the intake's own
// policy and the store's own ordering), then enqueue a reconcile for what was recorded.
// Listings are conditional: the ETags and pages live in ResyncState, in this daemon's
// memory only (a restart or another replica lists in full once, which is only cost).
// A rate limit skips every listing until GitHub's reset; a failed listing changes
// nothing, and forgets the repo's ETags so the next run decides on a full listing.
import type { Deps } from '../deps.js';
import { keyString } from '../environments/naming.js';
import type { EnvironmentRecord } from '../environments/types.js';
import { TransientError } from '../errors.js';
import { pullFactsFromListing, type PullFacts } from '../github/pull-facts.js';
import type { ListingCache } from '../github/types.js';
import type { ReconcileQueue } from '../queue/reconcile-queue.js';
import { safeErrorLine } from '../secrets.js';
import { actionFor, planResync, type ResyncAction } from './plan.js';

/** PRs held present but not listed, read one by one per repo and run (each GET costs rate limit). */
const MAX_CONFIRMS_PER_REPO = 20;

export interface ResyncState {
  /** Per repo: the conditional-request cache of its open-PR listing. */
  caches: Map<string, ListingCache>;
  /** Epoch ms before which no listing is sent (GitHub's rate-limit reset). */
  backoffUntil: number;
}

export function createResyncState(): ResyncState {
  return { caches: new Map(), backoffUntil: 0 };
}

export type ResyncDeps = Pick<Deps, 'github' | 'store' | 'log' | 'metrics' | 'clock' | 'approvals'> & {
  config: Pick<Deps['config'], 'repos'>;
  queue: Pick<ReconcileQueue, 'enqueue'>;
};

export type RepoResult = 'changed' | 'not_modified' | 'rate_limited' | 'failed';

export interface ResyncReport {
  /** Per configured repo, what its run came to (the metric's `result`). */
  repos: Record<string, RepoResult>;
}

function isRateLimit(err: unknown): err is TransientError {
  return err instanceof TransientError && (err.status === 403 || err.status === 429);
}

export async function sweepResync(deps: ResyncDeps, state: ResyncState, options: { stillHoldsLock?: () => Promise<boolean> } = {}): Promise<ResyncReport> {
  const log = deps.log.child({ component: 'resync' });
  const report: ResyncReport = { repos: {} };

  const backOff = (err: TransientError) => {
    state.backoffUntil = Math.max(state.backoffUntil, deps.clock.now().getTime() + (err.retryAfterMs ?? 60_000));
    log.warn({ until: new Date(state.backoffUntil).toISOString(), error: safeErrorLine(err) }, 'github rate limit: resync paused until the reset');
  };

  /** Records one action, and queues a reconcile when the store took it. */
  const apply = async (action: ResyncAction): Promise<void> => {
    const { accepted } = await deps.store.recordDesired(action.key, action.input);
    if (!accepted) return;
    await deps.queue.enqueue(action.key, action.input.reason);
    deps.metrics.driftRepaired.inc({ kind: action.kind });
    log.info({ env: keyString(action.key), drift: action.kind, present: action.input.present, sha: action.input.sha }, 'resync recorded what a webhook missed');
  };

  for (const repo of deps.config.repos) {
    if (options.stillHoldsLock && !(await options.stillHoldsLock())) break;
    const result = await (async (): Promise<RepoResult> => {
      if (deps.clock.now().getTime() < state.backoffUntil) return 'rate_limited';
      const cache = state.caches.get(repo.name) ?? new Map();
      state.caches.set(repo.name, cache);
      try {
        const listing = await deps.github.listOpenPulls(repo.name, cache);
        if (listing.notModified) return 'not_modified';
        const listed: PullFacts[] = [];
        for (const pull of listing.pulls) {
          const facts = pullFactsFromListing(repo.name, pull);
          if (facts) listed.push(facts);
          else log.warn({ repo: repo.name, pr: pull.number }, 'listed PR not usable (head SHA or updated_at); left as it is');
        }
        const records = await deps.store.list({ repo: repo.name });
        // Without an approval store no fork is approved: resync then deploys none under `forks: label`.
        const approvals = deps.approvals ? await deps.approvals.listForRepo(repo.name) : new Map();
        const approved = new Map([...approvals].map(([pr, a]) => [pr, a.sha]));
        const plan = planResync(repo, listed, records, approved);
        const byPr = new Map<number, EnvironmentRecord>(records.map((r) => [r.key.pr, r]));
        for (const key of plan.unlisted.slice(0, MAX_CONFIRMS_PER_REPO)) {
          const pull = await deps.github.getPull(key.repo, key.pr);
          // Gone (404) is not "closed": GC's own checks handle a PR that vanished.
          const facts = pull && pullFactsFromListing(repo.name, pull);
          const action = facts ? actionFor(repo, byPr.get(key.pr) ?? null, facts, approved) : null;
          if (action) plan.actions.push(action);
        }
        for (const action of plan.actions) {
          if (options.stillHoldsLock && !(await options.stillHoldsLock())) throw new Error('lost the resync lock to another replica');
          await apply(action);
        }
        return 'changed';
      } catch (err) {
        // Forget the ETags: what this run did not finish must not look unchanged next time.
        state.caches.delete(repo.name);
        if (isRateLimit(err)) {
          backOff(err);
          return 'rate_limited';
        }
        log.warn({ repo: repo.name, error: safeErrorLine(err) }, 'resync of a repo failed; the next run lists it in full');
        return 'failed';
      }
    })();
    report.repos[repo.name] = result;
    deps.metrics.resyncRuns.inc({ result });
  }
  return report;
}

// Build webhooks (check_run, check_suite, workflow_run, status) as hints: they name a
// commit; the environments waiting at that head SHA (or failed there: a re-run may
// turn it green) get a reconcile, and the build gate decides from GitHub's REST API,
// never from the payload. Idempotent and coalesced by the queue, so a redelivery only
// asks again: no delivery dedupe. Called by webhooks.ts once the signature checked out.
import type { Logger } from 'pino';
import type { RepoConfig } from '../config/schema.js';
import { gatesDeploys } from '../build/gate.js';
import type { EnvironmentStore } from '../environments/types.js';
import { keyString } from '../environments/naming.js';
import { parseBuildHint, type BuildHintEvent } from '../github/webhook-payload.js';
import type { ReconcileQueue } from '../queue/reconcile-queue.js';
import { safeErrorLine } from '../secrets.js';
import { withTimeout } from '../timeout.js';

export interface BuildHintDeps {
  reposByName: Map<string, RepoConfig>;
  store: Pick<EnvironmentStore, 'listAwaitingBuild'>;
  queue: Pick<ReconcileQueue, 'enqueue'>;
  log: Logger;
  recordTimeoutMs: number;
}

export interface HintAnswer {
  status: number;
  outcome: 'accepted' | 'ignored' | 'rejected' | 'error';
  body: Record<string, unknown>;
}

/** Most PRs one hint reconciles (one head SHA is the head of a handful of PRs at most). */
const MAX_HINTED = 50;

export async function handleBuildHint(deps: BuildHintDeps, event: BuildHintEvent, data: unknown): Promise<HintAnswer> {
  const hint = parseBuildHint(event, data);
  if (!hint.ok) return { status: 400, outcome: 'rejected', body: { reason: hint.reason } };
  const repo = deps.reposByName.get(hint.repo.toLowerCase());
  if (!repo) return { status: 202, outcome: 'ignored', body: { reason: 'repository not configured' } };
  if (!gatesDeploys(repo.build)) return { status: 202, outcome: 'ignored', body: { reason: 'repository does not wait for builds' } };

  try {
    const work = (async () => {
      const keys = (await deps.store.listAwaitingBuild(repo.name, hint.sha)).slice(0, MAX_HINTED);
      for (const key of keys) await deps.queue.enqueue(key, `${event} hint`);
      return keys;
    })();
    const keys = await withTimeout(work, deps.recordTimeoutMs);
    if (keys.length === 0) return { status: 202, outcome: 'ignored', body: { reason: 'no environment waits for this commit' } };
    deps.log.info({ event, sha: hint.sha, envs: keys.map(keyString) }, 'build hint: reconcile requested');
    return { status: 202, outcome: 'accepted', body: { reconciles: keys.length } };
  } catch (err) {
    // GitHub redelivers on a 5xx only when asked to; the poll finds the PR anyway.
    deps.log.warn({ event, error: safeErrorLine(err) }, 'build hint could not be handled');
    return { status: 503, outcome: 'error', body: { reason: 'cannot handle the hint now; the build poll will look again' } };
  }
}

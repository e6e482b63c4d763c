// Pure: one validated pull_request event plus the repo's config → the desired state
// of the PR's environment, or why the event changes nothing. A PR that must not be
// deployed (draft skipped, fork without opt-in, opted out, wrong base, closed) gets
// desired = absent rather than "ignored", so an environment that exists is torn down.
import type { RepoConfig } from '../config/schema.js';
import type { GitHubChange } from '../environments/ordering.js';
import type { DesiredInput } from '../environments/types.js';
import type { PullRequestEvent } from './webhook-payload.js';

export type RepoPolicy = Pick<RepoConfig, 'drafts' | 'forks' | 'optInLabel' | 'optOutLabel' | 'keepLabel' | 'baseBranches'>;

export type PolicyDecision = { kind: 'desired'; input: DesiredInput } | { kind: 'ignore'; reason: string };

/** Actions that can change whether or where an environment should exist. */
const HANDLED_ACTIONS: ReadonlySet<string> = new Set([
  'opened',
  'reopened',
  'synchronize',
  'closed',
  'labeled',
  'unlabeled',
  'ready_for_review',
  'converted_to_draft',
  'edited',
]);

export function isHandledAction(action: string): boolean {
  return HANDLED_ACTIONS.has(action);
}

/** A fork PR, including one whose fork was deleted (head.repo null). */
export function isForkPullRequest(event: PullRequestEvent): boolean {
  const head = event.pull_request.head.repo;
  return head === null || head.full_name.toLowerCase() !== event.pull_request.base.repo.full_name.toLowerCase();
}

/** Why the PR must not have an environment, or null when it should have one. */
function absenceReason(event: PullRequestEvent, policy: RepoPolicy, labels: string[]): string | null {
  const pr = event.pull_request;
  if (event.action === 'closed' || pr.state === 'closed') return pr.merged ? 'closed: merged' : 'closed: not merged';
  if (policy.baseBranches.length > 0 && !policy.baseBranches.includes(pr.base.ref)) return 'base branch not configured';
  if (labels.includes(policy.optOutLabel)) return `opted out by label "${policy.optOutLabel}"`;
  if (pr.draft && policy.drafts === 'skip') return 'draft skipped';
  if (isForkPullRequest(event)) {
    if (policy.forks === 'never') return 'fork: forks are never deployed';
    if (policy.forks === 'label' && !labels.includes(policy.optInLabel)) return `fork: waiting for label "${policy.optInLabel}"`;
  }
  return null;
}

/** What the event changed, for the store's tie-break of equal updated_at (environments/ordering.ts). */
function changeOf(event: PullRequestEvent): GitHubChange {
  if (event.action === 'closed' || event.pull_request.state === 'closed') return 'close';
  if (event.action === 'opened' || event.action === 'reopened' || event.action === 'synchronize') return 'head';
  return 'facts';
}

export function decideDesired(event: PullRequestEvent, policy: RepoPolicy): PolicyDecision {
  const { action } = event;
  if (!isHandledAction(action)) {
    // The action text is attacker-controlled: keep it short and plain before it goes anywhere.
    const shown = action.replace(/[^a-z_]/g, '?').slice(0, 40);
    return { kind: 'ignore', reason: `action "${shown}" not handled` };
  }
  if (action === 'edited' && event.changes?.base === undefined) {
    return { kind: 'ignore', reason: 'edited without a base change' };
  }
  if ((action === 'labeled' || action === 'unlabeled') && event.label !== undefined) {
    // Other labels cannot change the decision; the payload's label list is the full,
    // current set either way, so skipping them loses nothing.
    const relevant = [policy.optInLabel, policy.optOutLabel, policy.keepLabel];
    if (!relevant.includes(event.label.name)) return { kind: 'ignore', reason: 'label not relevant to previews' };
  }
  const pr = event.pull_request;
  const labels = [...new Set(pr.labels.map((l) => l.name))];
  const absent = absenceReason(event, policy, labels);
  const input: DesiredInput = {
    present: absent === null,
    sha: pr.head.sha,
    reason: absent === null ? `pull_request.${action}` : `pull_request.${action}: ${absent}`,
    prUpdatedAt: new Date(pr.updated_at),
    change: changeOf(event),
    labels,
  };
  if (pr.title !== undefined) input.title = pr.title;
  if (pr.head.ref !== undefined) input.branch = pr.head.ref;
  if (action === 'synchronize' && event.before !== undefined) input.beforeSha = event.before;
  return { kind: 'desired', input };
}

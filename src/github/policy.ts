// Pure: a PR's facts (pull-facts.ts: from a webhook or the REST listing) plus the
// repo's config → the desired state of the PR's environment, or why a webhook changes
// nothing. The intake and resync both decide here, so they cannot disagree. A PR that
// must not be deployed (draft skipped, fork without opt-in, opted out, wrong base,
// closed) gets desired = absent rather than "ignored", so an environment that exists
// is torn down. Under `forks: label` a fork is deployed only at the head SHA a writer
// approved (issue 13 §3; trust/): the label alone is a request, the approval is what
// previewd holds, and a later push stays at the approved SHA until approved again.
import type { RepoConfig } from '../config/schema.js';
import type { GitHubChange } from '../environments/ordering.js';
import type { DesiredInput } from '../environments/types.js';
import { isFork, type PullFacts } from './pull-facts.js';
import type { PullRequestEvent } from './webhook-payload.js';

export type RepoPolicy = Pick<RepoConfig, 'drafts' | 'forks' | 'optInLabel' | 'optOutLabel' | 'keepLabel' | 'baseBranches'>;

export type PolicyDecision = { kind: 'desired'; input: DesiredInput } | { kind: 'ignore'; reason: string };

/** What previewd holds about the PR's fork trust: the head SHA a writer approved, if any. */
export interface ForkTrust {
  approvedSha: string | null;
}

/** No approval: the default, so a caller that knows none never deploys a fork under `forks: label`. */
export const NOT_APPROVED: ForkTrust = { approvedSha: null };

const short = (sha: string) => sha.slice(0, 7);

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

/**
 * What made previewd look at the PR: a webhook (its action and the fields of the
 * payload that qualify it) or resync (the REST listing, which says how the PR is, not
 * what changed).
 */
export type PullTrigger =
  | { kind: 'webhook'; action: string; label?: string; baseChanged: boolean; before?: string }
  | { kind: 'resync' }
  | { kind: 'command'; command: string };

/** The trigger of a validated `pull_request` event. */
export function webhookTrigger(event: PullRequestEvent): PullTrigger {
  const trigger: PullTrigger = { kind: 'webhook', action: event.action, baseChanged: event.changes?.base !== undefined };
  if (event.label !== undefined) trigger.label = event.label.name;
  if (event.before !== undefined) trigger.before = event.before;
  return trigger;
}

const isClosed = (facts: PullFacts, trigger: PullTrigger) => facts.state === 'closed' || (trigger.kind === 'webhook' && trigger.action === 'closed');

/** A fork PR whose deploy waits on a writer's approval (forks: label). */
export function needsApproval(facts: PullFacts, policy: Pick<RepoPolicy, 'forks'>): boolean {
  return policy.forks === 'label' && isFork(facts);
}

/** Why the PR must not have an environment, or null when it should have one. */
function absenceReason(facts: PullFacts, trigger: PullTrigger, policy: RepoPolicy, trust: ForkTrust): string | null {
  if (isClosed(facts, trigger)) return facts.merged ? 'closed: merged' : 'closed: not merged';
  if (policy.baseBranches.length > 0 && !policy.baseBranches.includes(facts.baseRef)) return 'base branch not configured';
  if (facts.labels.includes(policy.optOutLabel)) return `opted out by label "${policy.optOutLabel}"`;
  if (facts.draft && policy.drafts === 'skip') return 'draft skipped';
  if (isFork(facts)) {
    if (policy.forks === 'never') return 'fork: forks are never deployed';
    if (policy.forks === 'label' && trust.approvedSha === null) return `fork: waiting for approval (label "${policy.optInLabel}" by a user with write access, or /preview approve)`;
  }
  return null;
}

/**
 * What the fact changed, for the store's tie-break of equal updated_at (environments/ordering.ts).
 * A listing says how the PR is, not what changed: as "facts" it replaces a same-second
 * fact only about the head already held, so it never moves a head on a tie.
 */
function changeOf(facts: PullFacts, trigger: PullTrigger): GitHubChange {
  if (isClosed(facts, trigger)) return 'close';
  if (trigger.kind === 'webhook' && (trigger.action === 'opened' || trigger.action === 'reopened' || trigger.action === 'synchronize')) return 'head';
  // An approval by command moves the head previewd holds, like a push.
  if (trigger.kind === 'command') return 'head';
  return 'facts';
}

/** Why a webhook cannot change the decision (ignored cheaply), or null. */
function ignoreReason(trigger: PullTrigger, policy: RepoPolicy): string | null {
  if (trigger.kind !== 'webhook') return null;
  const { action } = trigger;
  if (!isHandledAction(action)) {
    // The action text is attacker-controlled: keep it short and plain before it goes anywhere.
    const shown = action.replace(/[^a-z_]/g, '?').slice(0, 40);
    return `action "${shown}" not handled`;
  }
  if (action === 'edited' && !trigger.baseChanged) return 'edited without a base change';
  if ((action === 'labeled' || action === 'unlabeled') && trigger.label !== undefined) {
    // Other labels cannot change the decision; the payload's label list is the full,
    // current set either way, so skipping them loses nothing.
    const relevant = [policy.optInLabel, policy.optOutLabel, policy.keepLabel];
    if (!relevant.includes(trigger.label)) return 'label not relevant to previews';
  }
  return null;
}

/**
 * The one policy: the PR's facts, the repo's config and the fork's approval → its
 * desired state, whatever brought the facts.
 */
export function decidePull(facts: PullFacts, policy: RepoPolicy, trigger: PullTrigger, trust: ForkTrust = NOT_APPROVED): PolicyDecision {
  const ignored = ignoreReason(trigger, policy);
  if (ignored !== null) return { kind: 'ignore', reason: ignored };
  const absent = absenceReason(facts, trigger, policy, trust);
  const source = trigger.kind === 'webhook' ? `pull_request.${trigger.action}` : trigger.kind === 'command' ? `command: ${trigger.command}` : 'resync';
  // An approved fork stays at the approved SHA: a newer head is not what was vouched for.
  const pinned = absent === null && needsApproval(facts, policy) && trust.approvedSha !== null ? trust.approvedSha : null;
  const awaiting = pinned !== null && pinned !== facts.headSha;
  const input: DesiredInput = {
    present: absent === null,
    sha: pinned ?? facts.headSha,
    reason: absent !== null ? `${source}: ${absent}` : awaiting ? `${source}: fork: commit ${short(facts.headSha)} awaits approval; staying at ${short(pinned)}` : source,
    prUpdatedAt: facts.updatedAt,
    change: changeOf(facts, trigger),
    labels: facts.labels,
  };
  if (facts.title !== undefined) input.title = facts.title;
  if (facts.headRef !== undefined) input.branch = facts.headRef;
  if (trigger.kind === 'webhook' && trigger.action === 'synchronize' && trigger.before !== undefined) input.beforeSha = trigger.before;
  if (trigger.kind === 'resync') input.fromListing = true;
  return { kind: 'desired', input };
}

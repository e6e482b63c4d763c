// What a `pull_request` webhook means for a fork's trust under `forks: label` (issue
// 13 §3), before the policy decides: the opt-in label applied by a user with write
// access approves the head SHA of that moment; applied by anyone else it approves
// nothing (and the PR is told); removed, it withdraws the approval; any other event is
// decided with the approval held, and a new head it does not cover is said to await
// approval. Every notice is recorded in the same statement as the decision, before the
// webhook answers; the reconcile it leads to shows it in the sticky comment. The
// permission is GitHub's answer for the event's `sender`, never a field of the payload
// that claims it.
import type { EnvironmentKey } from '../environments/naming.js';
import { decidePull, needsApproval, NOT_APPROVED, type ForkTrust, type PullTrigger, type RepoPolicy } from '../github/policy.js';
import type { PullFacts } from '../github/pull-facts.js';
import type { GitHubClient } from '../github/types.js';
import type { ApprovalStore } from './approvals.js';
import { approvedNotice, awaitsApprovalNotice, labelApprovesNothingNotice, withdrawnNotice } from './notice.js';
import { mayApprove } from './permission.js';

export interface TrustDeps {
  approvals: ApprovalStore;
  github: Pick<GitHubClient, 'getPermission'>;
}

export interface TrustResolution {
  trust: ForkTrust;
  /** The trust notice recorded with this decision (the sticky comment shows it), or null when it was left as it was. */
  notice: string | null;
}

/** Events that bring a head the fork's approval does not cover: the PR is told it waits. */
const NEW_HEAD: ReadonlySet<string> = new Set(['opened', 'reopened', 'synchronize']);

export async function resolveForkTrust(
  deps: TrustDeps,
  repo: RepoPolicy,
  key: EnvironmentKey,
  facts: PullFacts,
  trigger: PullTrigger,
  sender: string | null,
): Promise<TrustResolution> {
  if (!needsApproval(facts, repo) || facts.state === 'closed') return { trust: NOT_APPROVED, notice: null };
  const label = trigger.kind === 'webhook' && trigger.label === repo.optInLabel ? trigger.action : null;
  if (label === 'labeled') {
    const permission = sender === null ? 'none' : await deps.github.getPermission(key.repo, sender);
    if (mayApprove(permission)) {
      const notice = approvedNotice(facts.headSha, sender!, { kind: 'label', label: repo.optInLabel });
      await deps.approvals.approve(key, facts.headSha, sender!, notice);
      return { trust: { approvedSha: facts.headSha }, notice };
    }
    const held = await deps.approvals.get(key);
    const notice = labelApprovesNothingNotice(repo.optInLabel, sender);
    await deps.approvals.recordNotice(key, notice);
    return { trust: { approvedSha: held?.sha ?? null }, notice };
  }
  if (label === 'unlabeled') {
    const held = await deps.approvals.get(key);
    const notice = held ? withdrawnNotice(repo.optInLabel) : null;
    await deps.approvals.revoke(key, notice);
    return { trust: NOT_APPROVED, notice };
  }
  const held = await deps.approvals.get(key);
  const newHead = trigger.kind === 'webhook' && NEW_HEAD.has(trigger.action);
  const trust = { approvedSha: held?.sha ?? null };
  if (!newHead || held?.sha === facts.headSha || !onlyApprovalMissing(facts, repo, trigger)) return { trust, notice: null };
  const notice = awaitsApprovalNotice(facts.headSha, held?.sha ?? null, repo.optInLabel);
  await deps.approvals.recordNotice(key, notice);
  return { trust, notice };
}

/** Whether an approval of the head is all the PR lacks to be deployed (a skipped draft, say, is not told it awaits one). */
function onlyApprovalMissing(facts: PullFacts, repo: RepoPolicy, trigger: PullTrigger): boolean {
  const approved = decidePull(facts, repo, trigger, { approvedSha: facts.headSha });
  return approved.kind === 'desired' && approved.input.present;
}

// What a `pull_request` webhook means for a fork's trust under `forks: label` (issue
// 13 §3), before the policy decides: the opt-in label applied by a user with write
// access approves the head SHA of that moment; applied by anyone else it approves
// nothing (and the PR is told); removed, it withdraws the approval; any other event is
// decided with the approval held. The permission is GitHub's answer for the event's
// `sender`, never a field of the payload that claims it.
import type { RepoConfig } from '../config/schema.js';
import type { EnvironmentKey } from '../environments/naming.js';
import { needsApproval, NOT_APPROVED, type ForkTrust, type PullTrigger } from '../github/policy.js';
import type { PullFacts } from '../github/pull-facts.js';
import type { GitHubClient } from '../github/types.js';
import type { ApprovalStore } from './approvals.js';
import type { NoticeGitHub } from './notice.js';
import { shownLogin } from './notice.js';
import { mayApprove } from './permission.js';

export interface TrustDeps {
  approvals: ApprovalStore;
  github: Pick<GitHubClient, 'getPermission'> & NoticeGitHub;
}

export interface TrustResolution {
  trust: ForkTrust;
  /** What the PR's trust notice should say now, or null to leave it. */
  notice: string | null;
}

const short = (sha: string) => `\`${sha.slice(0, 7)}\``;

export async function resolveForkTrust(
  deps: TrustDeps,
  repo: Pick<RepoConfig, 'forks' | 'optInLabel'>,
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
      await deps.approvals.approve(key, facts.headSha, sender!);
      return { trust: { approvedSha: facts.headSha }, notice: `commit ${short(facts.headSha)} approved by ${shownLogin(sender!)} (label "${repo.optInLabel}"); later pushes wait for a new approval.` };
    }
    const held = await deps.approvals.get(key);
    const who = sender === null ? 'an unknown user' : shownLogin(sender);
    return {
      trust: { approvedSha: held?.sha ?? null },
      notice: `the label "${repo.optInLabel}" applied by ${who} approves nothing: only users with write access to the repository can approve a fork's commits.`,
    };
  }
  if (label === 'unlabeled') {
    const held = await deps.approvals.get(key);
    await deps.approvals.revoke(key);
    return { trust: NOT_APPROVED, notice: held ? `approval withdrawn (label "${repo.optInLabel}" removed); the preview is removed.` : null };
  }
  const held = await deps.approvals.get(key);
  const pushed = trigger.kind === 'webhook' && trigger.action === 'synchronize';
  const notice = pushed && held && held.sha !== facts.headSha ? `commit ${short(facts.headSha)} awaits approval; the preview stays at the approved ${short(held.sha)}. A user with write access approves it with the label "${repo.optInLabel}" or a \`/preview approve\` comment.` : null;
  return { trust: { approvedSha: held?.sha ?? null }, notice };
}

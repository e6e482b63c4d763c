// `issue_comment` deliveries: previewd commands in PR comments (issue 13 §4). A
// command (commands/parse.ts) from a user whose role on the repository is write,
// maintain or admin (GitHub's answer for the comment's author) is carried out and
// answered with a reaction on the comment: +1 done, confused not understood, -1 not
// permitted; from anyone else nothing else happens. Each comment is handled once
// (deduplicated by comment ID like deliveries by delivery ID, so GitHub's redelivery
// and an edit-free replay do nothing twice); a failure lets the claim go and answers
// 503, so a redelivery can finish it (every step is idempotent).
import type { Logger } from 'pino';
import type { RepoConfig } from '../config/schema.js';
import { keyString, type EnvironmentKey } from '../environments/naming.js';
import { recordTeardownDecision } from '../environments/teardown-request.js';
import type { EnvironmentStore } from '../environments/types.js';
import { parseIssueCommentEvent } from '../github/comment-payload.js';
import { decidePull, needsApproval } from '../github/policy.js';
import { pullFactsFromListing } from '../github/pull-facts.js';
import type { GitHubClient, ReactionContent } from '../github/types.js';
import type { DeliveryDedupe } from '../queue/deliveries.js';
import type { ReconcileQueue } from '../queue/reconcile-queue.js';
import { safeErrorLine } from '../secrets.js';
import type { E2eRerunResult } from '../deps.js';
import type { ApprovalStore } from '../trust/approvals.js';
import { approvedNotice, shownLogin } from '../trust/notice.js';
import { mayApprove } from '../trust/permission.js';
import { helpText, parseCommand, type CommandName } from './parse.js';
import { withTimeout } from '../timeout.js';

/**
 * Asks the e2e runner to test the PR's preview again (`/preview retest`): the daemon wires
 * the runner's requestE2eRerun (e2e/rerun.ts) here; without one, the writer is told that
 * nothing is configured.
 */
export type E2eRerunHook = (key: EnvironmentKey, request: { requestedBy: string }) => Promise<E2eRerunResult>;

export interface CommandDeps {
  repos: RepoConfig[];
  github: Pick<GitHubClient, 'getPermission' | 'createReaction' | 'getPull' | 'addLabels' | 'createComment'>;
  store: Pick<EnvironmentStore, 'get' | 'recordDesired' | 'requestReconcile' | 'recordTeardown'>;
  queue: Pick<ReconcileQueue, 'enqueue'>;
  approvals: ApprovalStore;
  /** The delivery dedupe, keyed here by comment ID. */
  deliveries: DeliveryDedupe;
  log: Logger;
  requestE2eRerun?: E2eRerunHook;
  /** Bound on one command, inside GitHub's 10 s (default 8 s). */
  timeoutMs?: number;
}

/** The webhook's answer to an issue_comment delivery: HTTP status, the outcome it is counted as, and the rest of the body. */
export interface CommentAnswer {
  status: number;
  outcome: 'accepted' | 'ignored' | 'duplicate' | 'in_progress' | 'rejected' | 'error';
  body: Record<string, unknown>;
}

/** How a command came out: the reaction, and a reply comment when it has one. */
interface Outcome {
  reaction: ReactionContent;
  reply?: string;
  detail: string;
}

const E2E_RERUN_QUEUED = 'previewd: end-to-end tests queued to run again against this preview.';
const E2E_NOT_CONFIGURED = 'previewd: `/preview retest` has nothing to run: end-to-end tests are not configured for this repository.';

export function createCommentHandler(deps: CommandDeps): (input: { delivery: string; data: unknown }) => Promise<CommentAnswer> {
  const log = deps.log.child({ component: 'commands' });
  const reposByName = new Map(deps.repos.map((r) => [r.name.toLowerCase(), r]));
  const timeoutMs = deps.timeoutMs ?? 8_000;

  async function run(name: CommandName, repo: RepoConfig, key: EnvironmentKey, login: string): Promise<Outcome> {
    const by = `by ${shownLogin(login)}`;
    switch (name) {
      case 'approve': {
        const pull = await deps.github.getPull(key.repo, key.pr);
        const facts = pull && pullFactsFromListing(repo.name, pull);
        if (!facts) return { reaction: 'confused', detail: 'pull request not readable' };
        if (!needsApproval(facts, repo) || facts.state === 'closed') return { reaction: '+1', detail: 'nothing to approve' };
        // The notice is recorded with the approval; the reconcile queued below shows it in the sticky comment.
        await deps.approvals.approve(key, facts.headSha, login, approvedNotice(facts.headSha, login, { kind: 'command' }));
        const decision = decidePull(facts, repo, { kind: 'command', command: 'approve' }, { approvedSha: facts.headSha });
        if (decision.kind === 'desired') {
          const held = await deps.store.get(key);
          // The approval moves previewd's head from the one it holds, like a push continuing the chain.
          await deps.store.recordDesired(key, { ...decision.input, reason: `${decision.input.reason} ${by}`, beforeSha: held?.desiredSha ?? null });
        }
        await deps.queue.enqueue(key, `command: approve ${by}`);
        return { reaction: '+1', detail: `approved ${facts.headSha}` };
      }
      case 'redeploy': {
        const generation = await deps.store.requestReconcile(key, `command: redeploy ${by}`);
        if (generation === null) return { reaction: 'confused', detail: 'no environment' };
        await deps.queue.enqueue(key, `command: redeploy ${by}`);
        return { reaction: '+1', detail: 'redeploy requested' };
      }
      case 'destroy': {
        const recorded = await recordTeardownDecision(deps.store, key, `command: destroy ${by}`);
        if (recorded.kind === 'missing') return { reaction: '+1', detail: 'no environment' };
        await deps.queue.enqueue(key, `command: destroy ${by}`);
        return { reaction: '+1', detail: recorded.kind };
      }
      case 'keep':
        // The keep label is the one fact GC reads (gc/plan.ts); its `labeled` webhook records it.
        await deps.github.addLabels(key.repo, key.pr, [repo.keepLabel]);
        return { reaction: '+1', detail: `labelled ${repo.keepLabel}` };
      case 'help':
        return { reaction: '+1', reply: helpText(repo.optInLabel), detail: 'help' };
      case 'retest': {
        if (!deps.requestE2eRerun) return { reaction: 'confused', reply: E2E_NOT_CONFIGURED, detail: 'e2e not configured' };
        const result = await deps.requestE2eRerun(key, { requestedBy: login });
        // A refusal (no run yet, PR has no tests) is a reason the writer can act on: confused, said why.
        return result.ok
          ? { reaction: '+1', reply: E2E_RERUN_QUEUED, detail: 'e2e rerun requested' }
          : { reaction: 'confused', reply: `previewd: \`/preview retest\` did not queue a run: ${result.reason}.`, detail: `e2e rerun refused: ${result.reason}` };
      }
    }
  }

  return async ({ data }) => {
    const parsed = parseIssueCommentEvent(data);
    if (!parsed.ok) return { status: 400, outcome: 'rejected', body: { reason: parsed.reason } };
    const event = parsed.event;
    if (event.action !== 'created') return { status: 202, outcome: 'ignored', body: { reason: 'only new comments carry commands' } };
    if (!event.issue.pull_request) return { status: 202, outcome: 'ignored', body: { reason: 'not a pull request' } };
    const repo = reposByName.get(event.repository.full_name.toLowerCase());
    if (!repo) return { status: 202, outcome: 'ignored', body: { reason: 'repository not configured' } };
    const command = parseCommand(event.comment.body ?? '');
    if (command.kind === 'none') return { status: 202, outcome: 'ignored', body: { reason: 'no command' } };
    // Bots (previewd itself included) do not command previewd: no loops, no automation by proxy.
    if (event.comment.user.type === 'Bot') return { status: 202, outcome: 'ignored', body: { reason: 'comment by a bot' } };

    const key: EnvironmentKey = { repo: repo.name, pr: event.issue.number };
    const commentId = event.comment.id;
    const dedupeId = `comment-${commentId}`;
    const login = event.comment.user.login;
    const claim = await deps.deliveries.claim(dedupeId).catch((err: unknown) => {
      log.error({ env: keyString(key), comment: commentId, error: safeErrorLine(err) }, 'comment dedupe unavailable');
      return null;
    });
    if (claim === null) return { status: 503, outcome: 'error', body: { reason: 'cannot record the command now; redeliver it later' } };
    if (!claim.claimed && claim.reason === 'done') return { status: 200, outcome: 'duplicate', body: { comment: commentId } };
    if (!claim.claimed) return { status: 409, outcome: 'in_progress', body: { comment: commentId } };

    try {
      const outcome = await withTimeout(
        (async (): Promise<Outcome> => {
          const permission = await deps.github.getPermission(repo.name, login);
          if (!mayApprove(permission)) return { reaction: '-1', detail: `not permitted (${permission})` };
          if (command.kind === 'unknown') return { reaction: 'confused', detail: 'not understood' };
          return run(command.name, repo, key, login);
        })(),
        timeoutMs,
      );
      if (outcome.reply) await deps.github.createComment(repo.name, key.pr, outcome.reply);
      await deps.github.createReaction(repo.name, commentId, outcome.reaction);
      await deps.deliveries.confirm(dedupeId, claim.token).catch((err: unknown) => log.warn({ comment: commentId, error: safeErrorLine(err) }, 'command could not be marked seen'));
      const name = command.kind === 'command' ? command.name : 'unknown';
      log.info({ env: keyString(key), comment: commentId, command: name, reaction: outcome.reaction, detail: outcome.detail }, 'command handled');
      return { status: 202, outcome: 'accepted', body: { command: name, reaction: outcome.reaction } };
    } catch (err) {
      await deps.deliveries.release(dedupeId, claim.token).catch(() => undefined);
      log.error({ env: keyString(key), comment: commentId, error: safeErrorLine(err) }, 'command failed');
      return { status: 503, outcome: 'error', body: { reason: 'cannot carry out the command now; redeliver it later' } };
    }
  };
}

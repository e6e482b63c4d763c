// Pure: what resync records, from GitHub's listing of a repo's open PRs and the rows
// previewd holds. Webhooks are hints: a lost one leaves a row behind what GitHub says,
// and this finds where (a PR never seen, another head, other labels, a draft or base
// change), decided by the same policy as the intake (github/policy.ts decidePull).
// What it finds is still recorded through the store's ordering (environments/ordering.ts),
// so a listing older than a webhook changes nothing, and it never brings back a head
// previewd removed itself (GC, admin, CLI). A fork is decided with the approval previewd
// holds (trust/approvals.ts): a listing shows labels, not who applied them, so resync
// never approves a fork head itself.
import { decidePull, type RepoPolicy } from '../github/policy.js';
import type { PullFacts } from '../github/pull-facts.js';
import type { EnvironmentKey } from '../environments/naming.js';
import type { DesiredInput, EnvironmentRecord } from '../environments/types.js';

/** What a missed webhook left behind (the metric's `kind`). */
export type DriftKind = 'opened' | 'head' | 'labels' | 'state' | 'closed';

export interface ResyncAction {
  key: EnvironmentKey;
  kind: DriftKind;
  input: DesiredInput;
}

export interface ResyncPlan {
  actions: ResyncAction[];
  /**
   * Rows held present whose PR the listing does not show. Not torn down on that alone
   * (a listing is a page walk and may lag): each is read on its own (GET /pulls/{n})
   * and only GitHub saying "closed" removes it.
   */
  unlisted: EnvironmentKey[];
}

const sameLabels = (a: string[], b: string[]) => a.length === b.length && new Set([...a, ...b]).size === new Set(a).size;

/** How the row differs from what the listing decides, or null when nothing that matters does. */
export function driftOf(record: EnvironmentRecord | null, input: DesiredInput): DriftKind | null {
  if (record === null) return input.present ? 'opened' : null;
  // Absent either way: labels or a head of a PR without a preview change nothing.
  if (!record.desiredPresent && !input.present) return null;
  if (input.change === 'close') return 'closed';
  if (record.desiredSha !== input.sha) return 'head';
  if (!sameLabels(record.labels, input.labels ?? [])) return 'labels';
  if (record.desiredPresent !== input.present) return 'state';
  return null;
}

/** The head SHA approved per PR number (fork PRs under `forks: label`). */
export type ApprovedShas = ReadonlyMap<number, string>;

/** The action for one PR's facts against its row (listed, or confirmed one by one). */
export function actionFor(policy: RepoPolicy, record: EnvironmentRecord | null, facts: PullFacts, approved: ApprovedShas = new Map()): ResyncAction | null {
  const decision = decidePull(facts, policy, { kind: 'resync' }, { approvedSha: approved.get(facts.number) ?? null });
  if (decision.kind !== 'desired') return null;
  const kind = driftOf(record, decision.input);
  return kind === null ? null : { key: { repo: facts.repo, pr: facts.number }, kind, input: decision.input };
}

/** `records` are the rows of this repo; `listed` what GitHub lists as open in it. */
export function planResync(policy: RepoPolicy, listed: PullFacts[], records: EnvironmentRecord[], approved: ApprovedShas = new Map()): ResyncPlan {
  const byPr = new Map(records.map((r) => [r.key.pr, r]));
  const actions: ResyncAction[] = [];
  for (const facts of listed) {
    const action = actionFor(policy, byPr.get(facts.number) ?? null, facts, approved);
    if (action) actions.push(action);
  }
  const open = new Set(listed.map((f) => f.number));
  const unlisted = records.filter((r) => r.desiredPresent && !open.has(r.key.pr)).map((r) => r.key);
  return { actions, unlisted };
}

import { describe, expect, it } from 'vitest';
import { repoSchema } from '../config/schema.js';
import { decidePull, webhookTrigger, type PolicyDecision, type RepoPolicy } from './policy.js';
import { isFork, pullFactsFromEvent, pullFactsFromListing } from './pull-facts.js';
import { parsePullRequestEvent, type PullRequestEvent } from './webhook-payload.js';

const HEAD = 'a'.repeat(40);
const BEFORE = 'b'.repeat(40);

interface EventOptions {
  action?: string;
  draft?: boolean;
  state?: 'open' | 'closed';
  merged?: boolean;
  labels?: string[];
  headRepo?: string | null;
  baseRef?: string;
  label?: string;
  changes?: Record<string, unknown>;
}

function event(options: EventOptions = {}): PullRequestEvent {
  const payload = {
    action: options.action ?? 'opened',
    number: 7,
    ...(options.action === 'synchronize' ? { before: BEFORE, after: HEAD } : {}),
    ...(options.label !== undefined ? { label: { name: options.label } } : {}),
    ...(options.changes !== undefined ? { changes: options.changes } : {}),
    pull_request: {
      number: 7,
      state: options.state ?? 'open',
      draft: options.draft ?? false,
      merged: options.merged ?? false,
      updated_at: '2026-01-02T03:04:05Z',
      labels: (options.labels ?? []).map((name) => ({ name })),
      head: { sha: HEAD, repo: options.headRepo === null ? null : { full_name: options.headRepo ?? 'acme/shop' } },
      base: { ref: options.baseRef ?? 'main', repo: { full_name: 'acme/shop' } },
    },
    repository: { full_name: 'acme/shop' },
  };
  const parsed = parsePullRequestEvent(payload);
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.event;
}

function policy(overrides: Partial<RepoPolicy> = {}): RepoPolicy {
  return { ...repoSchema.parse({ name: 'acme/shop' }), ...overrides };
}

type Expect = 'present' | 'absent' | 'ignore';

/** The intake's path: facts and trigger from the payload, one policy. */
const decideDesired = (ev: PullRequestEvent, pol: RepoPolicy): PolicyDecision => decidePull(pullFactsFromEvent(ev), pol, webhookTrigger(ev));
const isForkPullRequest = (ev: PullRequestEvent) => isFork(pullFactsFromEvent(ev));

function outcome(ev: PullRequestEvent, pol: RepoPolicy): Expect {
  const decision = decideDesired(ev, pol);
  if (decision.kind === 'ignore') return 'ignore';
  return decision.input.present ? 'present' : 'absent';
}

describe('decideDesired', () => {
  const cases: [string, EventOptions, Partial<RepoPolicy>, Expect][] = [
    ['when a PR is opened then it is present', {}, {}, 'present'],
    ['when a PR is reopened then it is present', { action: 'reopened' }, {}, 'present'],
    ['when a PR gets a push then it is present', { action: 'synchronize' }, {}, 'present'],
    ['when a draft is opened and drafts are skipped then it is absent', { draft: true }, { drafts: 'skip' }, 'absent'],
    ['when a draft is opened and drafts deploy then it is present', { draft: true }, { drafts: 'deploy' }, 'present'],
    ['when a draft becomes ready then it is present', { action: 'ready_for_review' }, {}, 'present'],
    ['when a PR is converted to draft and drafts are skipped then it is absent', { action: 'converted_to_draft', draft: true }, {}, 'absent'],
    ['when a PR is converted to draft and drafts deploy then it stays present', { action: 'converted_to_draft', draft: true }, { drafts: 'deploy' }, 'present'],
    ['when a fork PR has no label under forks=label then it is absent', { headRepo: 'mallory/shop' }, { forks: 'label' }, 'absent'],
    ['when a fork PR carries the opt-in label but nobody with write access approved it then it is absent', { headRepo: 'mallory/shop', labels: ['preview'] }, { forks: 'label' }, 'absent'],
    ['when a fork PR is labelled without an approval then it stays absent', { action: 'labeled', label: 'preview', headRepo: 'mallory/shop', labels: ['preview'] }, {}, 'absent'],
    ['when the opt-in label is removed from a fork PR then it is absent', { action: 'unlabeled', label: 'preview', headRepo: 'mallory/shop', labels: [] }, {}, 'absent'],
    ['when a fork PR carries the opt-in label under forks=never then it is absent', { headRepo: 'mallory/shop', labels: ['preview'] }, { forks: 'never' }, 'absent'],
    ['when a fork PR has no label under forks=always then it is present', { headRepo: 'mallory/shop' }, { forks: 'always' }, 'present'],
    ['when the fork was deleted (head.repo null) then it counts as a fork', { headRepo: null }, { forks: 'label' }, 'absent'],
    ['when the opt-out label is on the PR then it is absent', { labels: ['no-preview'] }, {}, 'absent'],
    ['when the opt-out label is on a labelled fork PR then it is absent', { headRepo: 'x/shop', labels: ['preview', 'no-preview'] }, {}, 'absent'],
    ['when the opt-out label is removed then it is present again', { action: 'unlabeled', label: 'no-preview', labels: [] }, {}, 'present'],
    ['when a custom opt-in label is applied to a fork then it is handled (not ignored), absent until approved', { action: 'labeled', label: 'deploy-me', headRepo: 'x/shop', labels: ['deploy-me'] }, { optInLabel: 'deploy-me' }, 'absent'],
    ['when the base branch is not configured then it is absent', { baseRef: 'feature' }, { baseBranches: ['main', 'release'] }, 'absent'],
    ['when the base branch is configured then it is present', { baseRef: 'release' }, { baseBranches: ['main', 'release'] }, 'present'],
    ['when the base changes to an unconfigured branch then it is absent', { action: 'edited', baseRef: 'dev', changes: { base: { ref: { from: 'main' } } } }, { baseBranches: ['main'] }, 'absent'],
    ['when the base changes to a configured branch then it is present', { action: 'edited', changes: { base: { ref: { from: 'dev' } } } }, { baseBranches: ['main'] }, 'present'],
    ['when only the title is edited then it is ignored', { action: 'edited', changes: { title: { from: 'x' } } }, {}, 'ignore'],
    ['when a PR is merged then it is absent', { action: 'closed', state: 'closed', merged: true }, {}, 'absent'],
    ['when a PR is closed unmerged then it is absent', { action: 'closed', state: 'closed', merged: false }, {}, 'absent'],
    ['when a closed PR is labelled with the opt-in label then it stays absent', { action: 'labeled', label: 'preview', state: 'closed', labels: ['preview'] }, {}, 'absent'],
    ['when an unrelated label is added then it is ignored', { action: 'labeled', label: 'bug', labels: ['bug'] }, {}, 'ignore'],
    ['when the keep label is added then it is recorded', { action: 'labeled', label: 'preview-keep', labels: ['preview-keep'] }, {}, 'present'],
    ['when a review is requested then it is ignored', { action: 'review_requested' }, {}, 'ignore'],
    ['when the action is unknown then it is ignored', { action: 'exploded' }, {}, 'ignore'],
  ];

  it.each(cases)('%s', (_name, options, overrides, expected) => {
    expect(outcome(event(options), policy(overrides))).toBe(expected);
  });

  it('when a push arrives then the input carries head sha, before sha, updated_at and labels', () => {
    const decision = decideDesired(event({ action: 'synchronize', labels: ['preview-keep', 'preview-keep'] }), policy());
    expect(decision).toEqual({
      kind: 'desired',
      input: {
        present: true,
        sha: HEAD,
        reason: 'pull_request.synchronize',
        prUpdatedAt: new Date('2026-01-02T03:04:05Z'),
        beforeSha: BEFORE,
        change: 'head',
        labels: ['preview-keep'],
      },
    });
  });

  it('when events are decided then each says what it changed, for ties of equal updated_at', () => {
    const changeOf = (over: Parameters<typeof event>[0]) => {
      const d = decideDesired(event(over), policy());
      return d.kind === 'desired' ? d.input.change : d.reason;
    };
    expect(changeOf({ action: 'synchronize' })).toBe('head');
    expect(changeOf({ action: 'reopened' })).toBe('head');
    expect(changeOf({ action: 'closed', state: 'closed' })).toBe('close');
    expect(changeOf({ action: 'unlabeled', label: 'no-preview' })).toBe('facts');
    expect(changeOf({ action: 'labeled', label: 'preview-keep', state: 'closed' })).toBe('close');
    expect(changeOf({ action: 'ready_for_review' })).toBe('facts');
  });

  it('when a merged PR is decided then the reason says it was merged', () => {
    const decision = decideDesired(event({ action: 'closed', state: 'closed', merged: true }), policy());
    expect(decision.kind === 'desired' && decision.input.reason).toBe('pull_request.closed: closed: merged');
  });

  it('when the action text is hostile then the ignore reason does not echo it', () => {
    const decision = decideDesired(event({ action: '<script>{{x}}' }), policy());
    expect(decision.kind).toBe('ignore');
    expect(decision.kind === 'ignore' && decision.reason).not.toMatch(/[<>{}]/);
  });
});

describe('isForkPullRequest', () => {
  it('when head and base repo differ only in case then it is not a fork', () => {
    expect(isForkPullRequest(event({ headRepo: 'ACME/Shop' }))).toBe(false);
  });
  it('when head repo is another owner then it is a fork', () => {
    expect(isForkPullRequest(event({ headRepo: 'acme-fork/shop' }))).toBe(true);
  });
});

describe('display fields', () => {
  it('when the payload has a title and head branch then the desired state carries them for the dashboard, and none without', () => {
    const parsed = parsePullRequestEvent({
      action: 'opened',
      number: 7,
      pull_request: {
        number: 7,
        state: 'open',
        updated_at: '2026-01-02T03:04:05Z',
        title: '<script>alert(1)</script>',
        head: { sha: HEAD, ref: 'feat/x', repo: { full_name: 'acme/shop' } },
        base: { ref: 'main', repo: { full_name: 'acme/shop' } },
      },
      repository: { full_name: 'acme/shop' },
    });
    if (!parsed.ok) throw new Error(parsed.reason);
    expect(decideDesired(parsed.event, policy())).toMatchObject({ kind: 'desired', input: { title: '<script>alert(1)</script>', branch: 'feat/x' } });
    const without = decideDesired(event(), policy());
    expect(without.kind === 'desired' && 'title' in without.input).toBe(false);
  });
});

describe('decidePull from the REST listing (resync)', () => {
  const listed = (over: Partial<Parameters<typeof pullFactsFromListing>[1]> = {}) => {
    const facts = pullFactsFromListing('acme/shop', {
      number: 7,
      state: 'open',
      draft: false,
      headSha: HEAD,
      baseRef: 'main',
      headRepoFullName: 'acme/shop',
      labels: [],
      updatedAt: '2026-01-02T03:04:05Z',
      merged: false,
      ...over,
    });
    if (facts === null) throw new Error('listing item refused');
    return facts;
  };
  const resync = (over: Parameters<typeof listed>[0], pol: Partial<RepoPolicy> = {}) => decidePull(listed(over), policy(pol), { kind: 'resync' });

  it('when the listing and the webhook describe the same PR then both lead to the same desired state', () => {
    const cases: [EventOptions, Parameters<typeof listed>[0], Partial<RepoPolicy>][] = [
      [{}, {}, {}],
      [{ draft: true }, { draft: true }, { drafts: 'skip' }],
      [{ labels: ['no-preview'] }, { labels: ['no-preview'] }, {}],
      [{ headRepo: 'mallory/shop' }, { headRepoFullName: 'mallory/shop' }, { forks: 'label' }],
      [{ headRepo: null }, { headRepoFullName: null }, { forks: 'always' }],
      [{ baseRef: 'dev' }, { baseRef: 'dev' }, { baseBranches: ['main'] }],
    ];
    for (const [ev, item, pol] of cases) {
      const fromWebhook = decideDesired(event({ action: 'reopened', ...ev }), policy(pol));
      const fromListing = resync(item, pol);
      expect(fromListing.kind === 'desired' && fromListing.input.present).toBe(fromWebhook.kind === 'desired' && fromWebhook.input.present);
    }
  });

  it('when a fork head is not approved under forks=label then resync does not deploy it, labelled or not', () => {
    const waiting = { kind: 'desired', input: { present: false, reason: 'resync: fork: waiting for approval (label "preview" by a user with write access, or /preview approve)' } };
    expect(resync({ headRepoFullName: 'mallory/shop' }, { forks: 'label' })).toMatchObject(waiting);
    expect(resync({ headRepoFullName: 'mallory/shop', labels: ['preview'] }, { forks: 'label' })).toMatchObject(waiting);
  });

  it('when a fork was approved at an older head then resync keeps the approved SHA and says the new head awaits approval', () => {
    const approved = decidePull(listed({ headRepoFullName: 'mallory/shop' }), policy({ forks: 'label' }), { kind: 'resync' }, { approvedSha: BEFORE });
    expect(approved).toMatchObject({ kind: 'desired', input: { present: true, sha: BEFORE, reason: `resync: fork: commit ${HEAD.slice(0, 7)} awaits approval; staying at ${BEFORE.slice(0, 7)}` } });
  });

  it('when resync decides then nothing is ignored, the change is "facts" (or "close") and no before SHA is claimed', () => {
    const open = resync({ labels: ['bug', 'bug'], title: 't', headRef: 'feat/x' });
    expect(open).toEqual({
      kind: 'desired',
      input: { present: true, sha: HEAD, reason: 'resync', prUpdatedAt: new Date('2026-01-02T03:04:05Z'), change: 'facts', labels: ['bug'], title: 't', branch: 'feat/x', fromListing: true },
    });
    expect(resync({ state: 'closed', merged: true })).toMatchObject({ kind: 'desired', input: { present: false, change: 'close', reason: 'resync: closed: merged' } });
  });

  it('when a listing item has a head SHA or timestamp a webhook could not carry then it is refused', () => {
    const base = { number: 7, state: 'open' as const, draft: false, baseRef: 'main', headRepoFullName: 'acme/shop', labels: [], merged: false };
    expect(pullFactsFromListing('acme/shop', { ...base, headSha: 'not-a-sha', updatedAt: '2026-01-02T03:04:05Z' })).toBeNull();
    expect(pullFactsFromListing('acme/shop', { ...base, headSha: HEAD, updatedAt: 'yesterday' })).toBeNull();
    expect(pullFactsFromListing('acme/shop', { ...base, headSha: HEAD.toUpperCase(), updatedAt: '2026-01-02T03:04:05Z' })?.headSha).toBe(HEAD);
  });
});

describe('fork trust pinned to a commit (issue 13 §3)', () => {
  const fork = { headRepo: 'mallory/shop', labels: ['preview'] };
  const decide = (ev: PullRequestEvent, approvedSha: string | null, pol: Partial<RepoPolicy> = {}) => decidePull(pullFactsFromEvent(ev), policy(pol), webhookTrigger(ev), { approvedSha });

  it('when the head itself was approved then the fork deploys at its head', () => {
    expect(decide(event({ action: 'labeled', label: 'preview', ...fork }), HEAD)).toMatchObject({ kind: 'desired', input: { present: true, sha: HEAD, reason: 'pull_request.labeled' } });
  });

  it('when a push follows the approval then the environment stays at the approved SHA and the reason names the waiting commit', () => {
    const push = decide(event({ action: 'synchronize', ...fork }), BEFORE);
    expect(push).toMatchObject({ kind: 'desired', input: { present: true, sha: BEFORE, beforeSha: BEFORE, change: 'head' } });
    expect(push.kind === 'desired' && push.input.reason).toBe(`pull_request.synchronize: fork: commit ${HEAD.slice(0, 7)} awaits approval; staying at ${BEFORE.slice(0, 7)}`);
  });

  it('when an approval exists but the PR is closed, opted out or the repo forbids forks then it is absent anyway', () => {
    expect(decide(event({ action: 'closed', state: 'closed', ...fork }), HEAD)).toMatchObject({ input: { present: false } });
    expect(decide(event({ ...fork, labels: ['preview', 'no-preview'] }), HEAD)).toMatchObject({ input: { present: false } });
    expect(decide(event(fork), HEAD, { forks: 'never' })).toMatchObject({ input: { present: false } });
  });

  it('when the PR is not a fork or forks always deploy then an approval pins nothing', () => {
    expect(decide(event({ action: 'synchronize' }), BEFORE)).toMatchObject({ input: { present: true, sha: HEAD } });
    expect(decide(event({ action: 'synchronize', headRepo: 'mallory/shop' }), BEFORE, { forks: 'always' })).toMatchObject({ input: { present: true, sha: HEAD } });
  });

  it('when a command approves then the change is a head move, like a push', () => {
    expect(decidePull(pullFactsFromEvent(event(fork)), policy(), { kind: 'command', command: 'approve' }, { approvedSha: HEAD })).toMatchObject({
      kind: 'desired',
      input: { present: true, sha: HEAD, change: 'head', reason: 'command: approve' },
    });
  });
});

import { describe, expect, it } from 'vitest';
import { repoSchema } from '../config/schema.js';
import type { PullFacts } from '../github/pull-facts.js';
import type { EnvironmentRecord } from '../environments/types.js';
import { planResync } from './plan.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const T = new Date('2026-03-01T10:00:00Z');
const policy = repoSchema.parse({ name: 'acme/shop' });

const facts = (number: number, over: Partial<PullFacts> = {}): PullFacts => ({
  repo: 'acme/shop',
  number,
  state: 'open',
  draft: false,
  merged: false,
  headSha: A,
  headRepoFullName: 'acme/shop',
  baseRef: 'main',
  labels: [],
  updatedAt: T,
  ...over,
});

const record = (pr: number, over: Partial<EnvironmentRecord> = {}): EnvironmentRecord => ({
  key: { repo: 'acme/shop', pr },
  envId: `acme-shop-pr-${pr}`,
  desiredPresent: true,
  desiredSha: A,
  desiredReason: 'pull_request.opened',
  desiredGeneration: 1,
  observedGeneration: 1,
  prUpdatedAt: T,
  labels: [],
  title: null,
  branch: null,
  status: 'ready',
  observedSha: A,
  lastError: null,
  components: {},
  resources: {},
  githubDeploymentId: null,
  githubCommentId: null,
  lastPushAt: T,
  readyAt: T,
  createdAt: T,
  updatedAt: T,
  ...over,
});

const kinds = (listed: PullFacts[], records: EnvironmentRecord[]) => planResync(policy, listed, records).actions.map((a) => [a.key.pr, a.kind, a.input.present]);

describe('planResync', () => {
  it('when the rows already say what the listing says then there is nothing to record', () => {
    expect(kinds([facts(1), facts(2, { labels: ['bug', 'preview-keep'] })], [record(1), record(2, { labels: ['preview-keep', 'bug'] })])).toEqual([]);
  });

  it('when a PR was never seen then it is adopted if policy deploys it, and ignored if not', () => {
    expect(kinds([facts(1), facts(2, { draft: true }), facts(3, { headRepoFullName: 'mallory/shop' })], [])).toEqual([[1, 'opened', true]]);
  });

  it('when the head, the labels or the draft state differ then each is named', () => {
    expect(
      kinds(
        [facts(1, { headSha: B }), facts(2, { labels: ['no-preview'] }), facts(3, { draft: true }), facts(4)],
        [record(1), record(2), record(3), record(4, { desiredPresent: false, desiredReason: 'pull_request.closed: closed: not merged' })],
      ),
    ).toEqual([
      [1, 'head', true],
      [2, 'labels', false],
      [3, 'state', false],
      [4, 'state', true],
    ]);
  });

  it('when both sides say absent then other labels or heads are not worth a write', () => {
    expect(kinds([facts(1, { draft: true, headSha: B, labels: ['x'] })], [record(1, { desiredPresent: false })])).toEqual([]);
  });

  it('when a held PR is not listed then it is only to be confirmed, never planned away', () => {
    const plan = planResync(policy, [facts(1)], [record(1), record(2), record(3, { desiredPresent: false })]);
    expect(plan.actions).toEqual([]);
    expect(plan.unlisted).toEqual([{ repo: 'acme/shop', pr: 2 }]);
  });

  it('when the confirmed PR is closed then it is planned absent as a close', () => {
    const plan = planResync(policy, [facts(2, { state: 'closed', merged: true })], [record(2)]);
    expect(plan.actions.map((a) => [a.kind, a.input.present, a.input.change, a.input.fromListing])).toEqual([['closed', false, 'close', true]]);
  });
});

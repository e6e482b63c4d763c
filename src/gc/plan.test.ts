import { describe, expect, it } from 'vitest';
import { repoSchema } from '../config/schema.js';
import { environmentId } from '../environments/naming.js';
import type { EnvironmentRecord } from '../environments/types.js';
import { planGc, type GcPlanInput } from './plan.js';
import type { ClosedPull, OwnedResource, RepoPulls } from './types.js';

const HOUR = 3_600_000;
const NOW = new Date('2026-05-10T12:00:00Z');
const ago = (ms: number) => new Date(NOW.getTime() - ms);
const repo = (name: string, extra: Record<string, unknown> = {}) => repoSchema.parse({ name, idleTtl: '72h', maxEnvironments: 3, ...extra });

function record(repoName: string, pr: number, over: Partial<EnvironmentRecord> = {}): EnvironmentRecord {
  const key = { repo: repoName, pr };
  return {
    key,
    envId: environmentId(key),
    desiredPresent: true,
    desiredSha: 'a'.repeat(40),
    desiredReason: 'opened',
    desiredGeneration: 1,
    observedGeneration: 1,
    prUpdatedAt: ago(10 * HOUR),
    labels: [],
    title: null,
    branch: null,
    status: 'ready',
    observedSha: 'a'.repeat(40),
    lastError: null,
    components: {},
    resources: {},
    githubDeploymentId: null,
    githubCommentId: null,
    lastPushAt: ago(HOUR),
    readyAt: ago(HOUR),
    createdAt: ago(20 * HOUR),
    updatedAt: ago(HOUR),
    ...over,
  };
}

const openList = (...prs: (number | [number, string[]])[]): RepoPulls => ({
  ok: true,
  open: prs.map((p) => (Array.isArray(p) ? { number: p[0], labels: p[1] } : { number: p, labels: [] })),
});

function input(over: Partial<GcPlanInput>): GcPlanInput {
  return {
    repos: [repo('acme/shop')],
    now: NOW,
    records: [],
    pulls: new Map(),
    closedPulls: new Map(),
    inventory: { resources: [], failed: [] },
    ...over,
  };
}

const summary = (plan: ReturnType<typeof planGc>) =>
  plan.actions.map((a) => (a.kind === 'teardown' ? `${a.key.repo}#${a.key.pr}:${a.reason}` : `orphan:${a.envId}`));

describe('planGc', () => {
  it('when a PR is missing from the open list and GitHub says closed, merged or gone then it is torn down with that reason', () => {
    const closed = new Map<string, ClosedPull>([
      ['acme/shop#1', { state: 'closed', merged: false, labels: [], updatedAt: NOW.toISOString() }],
      ['acme/shop#2', { state: 'closed', merged: true, labels: [], updatedAt: NOW.toISOString() }],
      ['acme/shop#3', null],
    ]);
    const plan = planGc(input({ records: [record('acme/shop', 1), record('acme/shop', 2), record('acme/shop', 3), record('acme/shop', 4)], pulls: new Map([['acme/shop', openList(4)]]), closedPulls: closed }));
    expect(summary(plan)).toEqual(['acme/shop#1:closed', 'acme/shop#2:merged', 'acme/shop#3:gone']);
  });

  it('when listing a repo failed then nothing of that repo is touched, and other repos still are', () => {
    const plan = planGc(
      input({
        repos: [repo('acme/shop'), repo('acme/blog')],
        records: [record('acme/shop', 1, { lastPushAt: ago(500 * HOUR) }), record('acme/blog', 9)],
        pulls: new Map<string, RepoPulls>([
          ['acme/shop', { ok: false, error: 'HTTP 502' }],
          ['acme/blog', openList()],
        ]),
        closedPulls: new Map([['acme/blog#9', { state: 'closed' as const, merged: false, labels: [], updatedAt: NOW.toISOString() }]]),
      }),
    );
    expect(summary(plan)).toEqual(['acme/blog#9:closed']);
    expect(plan.skipped.map((s) => s.subject)).toContain('acme/shop');
  });

  it('when a closed PR could not be confirmed, or GitHub says it is open again, then it is not torn down', () => {
    const plan = planGc(
      input({
        records: [record('acme/shop', 1), record('acme/shop', 2), record('acme/shop', 3)],
        pulls: new Map([['acme/shop', openList()]]),
        closedPulls: new Map<string, ClosedPull | { error: string }>([
          ['acme/shop#1', { error: 'timeout' }],
          ['acme/shop#2', { state: 'open', merged: false, labels: [], updatedAt: NOW.toISOString() }],
        ]),
      }),
    );
    expect(summary(plan)).toEqual([]);
  });

  it('when GitHub\'s closed answer is older than the fact recorded (a reopen) then it is not treated as closed', () => {
    const plan = planGc(
      input({
        records: [record('acme/shop', 5, { prUpdatedAt: new Date(NOW.getTime() + 1000) })],
        pulls: new Map([['acme/shop', openList()]]),
        closedPulls: new Map([['acme/shop#5', { state: 'closed' as const, merged: false, labels: [], updatedAt: NOW.toISOString() }]]),
      }),
    );
    expect(summary(plan)).toEqual([]);
  });

  it('when a PR was closed then the teardown carries GitHub\'s close time and the generation it was decided on', () => {
    const plan = planGc(
      input({
        records: [record('acme/shop', 5, { desiredGeneration: 7 }), record('acme/shop', 6, { desiredGeneration: 3, lastPushAt: ago(73 * HOUR) })],
        pulls: new Map([['acme/shop', openList(6)]]),
        closedPulls: new Map([['acme/shop#5', { state: 'closed' as const, merged: true, labels: [], updatedAt: NOW.toISOString() }]]),
      }),
    );
    expect(plan.actions).toMatchObject([
      { kind: 'teardown', key: { pr: 5 }, reason: 'merged', generation: 7, closedAt: NOW.toISOString() },
      { kind: 'teardown', key: { pr: 6 }, reason: 'idle', generation: 3 },
    ]);
    expect(plan.actions[1]).not.toHaveProperty('closedAt');
  });

  it('when an open PR is idle past the TTL then it goes, unless the keep label is on the record or on GitHub', () => {
    const plan = planGc(
      input({
        records: [
          record('acme/shop', 1, { lastPushAt: ago(73 * HOUR) }),
          record('acme/shop', 2, { lastPushAt: ago(73 * HOUR), labels: ['preview-keep'] }),
          record('acme/shop', 3, { lastPushAt: ago(73 * HOUR) }),
          record('acme/shop', 4, { lastPushAt: ago(71 * HOUR) }),
        ],
        pulls: new Map([['acme/shop', openList(1, 2, [3, ['preview-keep']], 4)]]),
      }),
    );
    expect(summary(plan)).toEqual(['acme/shop#1:idle']);
  });

  it('when a repo has more environments than its cap then the oldest idle non-kept ones go until it fits', () => {
    const plan = planGc(
      input({
        records: [
          record('acme/shop', 1, { lastPushAt: ago(10 * HOUR), labels: ['preview-keep'] }),
          record('acme/shop', 2, { lastPushAt: ago(9 * HOUR) }),
          record('acme/shop', 3, { lastPushAt: ago(2 * HOUR) }),
          record('acme/shop', 4, { lastPushAt: ago(8 * HOUR) }),
          record('acme/shop', 5, { lastPushAt: ago(1 * HOUR) }),
        ],
        pulls: new Map([['acme/shop', openList(1, 2, 3, 4, 5)]]),
      }),
    );
    expect(summary(plan)).toEqual(['acme/shop#2:over-limit', 'acme/shop#4:over-limit']);
  });

  it('when environments are already removed or not wanted then they are neither stale nor counted', () => {
    const plan = planGc(
      input({
        records: [
          record('acme/shop', 1, { desiredPresent: false, status: 'removed', lastPushAt: ago(900 * HOUR) }),
          record('acme/shop', 2, { desiredPresent: false, status: 'tearing_down' }),
        ],
        pulls: new Map([['acme/shop', openList()]]),
      }),
    );
    expect(summary(plan)).toEqual([]);
  });

  it('when marked resources have no live environment then they form one orphan action per env, in teardown order', () => {
    const liveId = environmentId({ repo: 'acme/shop', pr: 1 });
    const removedId = environmentId({ repo: 'acme/shop', pr: 2 });
    const resources: OwnedResource[] = [
      { kind: 'database', name: 'preview_acme_shop_pr_9', envId: 'acme-shop-pr-9' },
      { kind: 'nomad-job', name: 'acme-shop-pr-9-api', envId: 'acme-shop-pr-9' },
      { kind: 'vault-secret', name: 'previews/acme-shop-pr-9', envId: 'acme-shop-pr-9' },
      { kind: 'nomad-job', name: `${liveId}-api`, envId: liveId },
      { kind: 'vault-policy', name: `previewd-${removedId}`, envId: removedId },
    ];
    const plan = planGc(
      input({
        records: [record('acme/shop', 1), record('acme/shop', 2, { desiredPresent: false, status: 'removed' })],
        pulls: new Map([['acme/shop', openList(1)]]),
        inventory: { resources, failed: [{ kind: 'consul-service', error: 'down' }] },
      }),
    );
    expect(summary(plan)).toEqual(['orphan:acme-shop-pr-2', 'orphan:acme-shop-pr-9']);
    const nine = plan.actions.find((a) => a.envId === 'acme-shop-pr-9');
    expect(nine?.kind === 'remove-orphan' && nine.resources.map((r) => r.kind)).toEqual(['nomad-job', 'vault-secret', 'database']);
    expect(plan.skipped.map((s) => s.subject)).toContain('consul-service');
  });

  it('when filtered by repo and PR then only that environment and its orphans are planned', () => {
    const resources: OwnedResource[] = [
      { kind: 'nomad-job', name: 'acme-shop-pr-9-api', envId: 'acme-shop-pr-9' },
      { kind: 'nomad-job', name: 'acme-shop-pr-8-api', envId: 'acme-shop-pr-8' },
      { kind: 'nomad-job', name: 'other-pr-9-api', envId: 'other-pr-9' },
    ];
    const plan = planGc(
      input({
        records: [record('acme/shop', 1, { lastPushAt: ago(100 * HOUR) }), record('acme/shop', 2, { lastPushAt: ago(100 * HOUR) })],
        pulls: new Map([['acme/shop', openList(1, 2)]]),
        inventory: { resources, failed: [] },
        filter: { repo: 'acme/shop', pr: 9 },
      }),
    );
    expect(summary(plan)).toEqual(['orphan:acme-shop-pr-9']);
    const byRepo = planGc(input({ records: [], pulls: new Map([['acme/shop', openList()]]), inventory: { resources, failed: [] }, filter: { repo: 'acme/shop' } }));
    expect(summary(byRepo)).toEqual(['orphan:acme-shop-pr-8', 'orphan:acme-shop-pr-9']);
  });

  it('when --older-than is given then it replaces the TTL and spares recently pushed environments', () => {
    const plan = planGc(
      input({
        records: [record('acme/shop', 1, { lastPushAt: ago(30 * HOUR) }), record('acme/shop', 2, { lastPushAt: ago(5 * HOUR) }), record('acme/shop', 3, { lastPushAt: ago(2 * HOUR) })],
        pulls: new Map([['acme/shop', openList(1, 2)]]),
        closedPulls: new Map([['acme/shop#3', { state: 'closed' as const, merged: false, labels: [], updatedAt: NOW.toISOString() }]]),
        filter: { olderThanMs: 24 * HOUR },
      }),
    );
    expect(summary(plan)).toEqual(['acme/shop#1:idle']);
  });
});

// Resync end to end: the GitHub emulator's listing, the real client with conditional
// requests, the real Postgres store (through the webhook intake, for what a webhook did
// deliver) and the real Redis queue. Each missed webhook is repaired by one run; what
// previewd removed itself stays removed; a 304, a failed listing and a rate limit change nothing.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { EnvironmentKey } from '../src/environments/naming.js';
import { recordTeardownDecision } from '../src/environments/teardown-request.js';
import { createGitHubClient } from '../src/github/client.js';
import { createLogger } from '../src/log.js';
import { createMetrics } from '../src/metrics.js';
import { createResyncState, sweepResync, type ResyncState } from '../src/resync/sweep.js';
import { startGitHubEmulator, type GitHubEmulator } from '../src/sandbox/emulators/github.js';
import type { RepoConfig } from '../src/config/schema.js';
import { createStateDatabase, pullRequestPayload, repoConfig, send, startIntake, type IntakeHarness } from './intake-support.js';

const PAT = 'ghp_resync_test_token';
const REPO = 'acme/shop';
const A = 'a'.repeat(40);
const B = 'b'.repeat(40);

let db: { url: string; drop(): Promise<void> };
let h: IntakeHarness;
let gh: GitHubEmulator;
let clock: number;
let metrics: ReturnType<typeof createMetrics>;
let state: ResyncState;
let enqueued: string[];
let repos: RepoConfig[];

beforeAll(async () => {
  db = await createStateDatabase();
});
afterAll(async () => {
  await db.drop();
});
beforeEach(async () => {
  // GitHub's clock, whole seconds: updated_at has one-second resolution.
  clock = Date.UTC(2026, 2, 1, 10, 0, 0);
  gh = await startGitHubEmulator({ token: PAT, now: () => clock });
  gh.addRepo(REPO);
  repos = [repoConfig(REPO)];
  h = await startIntake({ databaseUrl: db.url, repos });
  metrics = createMetrics();
  state = createResyncState();
  enqueued = [];
});
afterEach(async () => {
  await h.close();
  await gh.close();
});

const store = () => h.store.inner;
const key = (pr: number): EnvironmentKey => ({ repo: REPO, pr });
const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');
const tick = (seconds = 5) => {
  clock += seconds * 1000;
};

function resync() {
  return sweepResync(
    {
      config: { repos },
      github: createGitHubClient({ apiUrl: gh.url, auth: { token: PAT }, userAgent: 'previewd-test', now: () => clock, onRateLimit: (n) => metrics.githubRateLimitRemaining.set(n) }),
      store: store(),
      approvals: h.approvals,
      log: createLogger({ level: 'silent' }),
      metrics,
      clock: { now: () => new Date(clock), sleep: async () => undefined },
      queue: {
        enqueue: async (k, reason) => {
          enqueued.push(`${k.repo}#${k.pr}`);
          await h.queue.enqueue(k, reason);
        },
      },
    },
    state,
  );
}

/** The webhook GitHub did deliver: the emulator's PR as a `pull_request` event. */
async function delivered(action: string, pr: number, sha: string, labels: string[] = []) {
  const res = await send(h.url, JSON.stringify(pullRequestPayload({ action, number: pr, sha, labels, updatedAt: iso(clock) })));
  expect(res.status).toBe(202);
}

const desired = async (pr: number) => {
  const r = await store().get(key(pr));
  return r && { present: r.desiredPresent, sha: r.desiredSha, labels: r.labels };
};
const counter = async (name: string, labels: Record<string, string>) =>
  (await metrics.registry.getSingleMetric(name)!.get()).values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value ?? 0;

describe('resync repairs what a webhook missed', () => {
  it('when an opened webhook was lost then one run provisions the PR at its head, and a second run is a 304 that changes nothing', async () => {
    gh.openPull(REPO, { number: 1, headSha: A });
    const report = await resync();
    expect(report.repos[REPO]).toBe('changed');
    expect(await desired(1)).toEqual({ present: true, sha: A, labels: [] });
    expect(enqueued).toEqual([`${REPO}#1`]);
    expect(await counter('previewd_resync_drift_repaired_total', { kind: 'opened' })).toBe(1);

    const generation = (await store().get(key(1)))!.desiredGeneration;
    const remaining = gh.rateLimit.remaining;
    expect((await resync()).repos[REPO]).toBe('not_modified');
    expect((await store().get(key(1)))!.desiredGeneration).toBe(generation);
    expect(enqueued).toHaveLength(1);
    expect(gh.rateLimit.remaining).toBe(remaining);
    expect(await counter('previewd_resync_runs_total', { result: 'not_modified' })).toBe(1);
    expect(await counter('previewd_github_rate_limit_remaining', {})).toBe(remaining);
  });

  it('when a synchronize webhook was lost then one run moves the environment to the new head', async () => {
    gh.openPull(REPO, { number: 2, headSha: A });
    await delivered('opened', 2, A);
    tick();
    gh.updatePull(REPO, 2, { headSha: B });
    await resync();
    expect(await desired(2)).toEqual({ present: true, sha: B, labels: [] });
    expect(await counter('previewd_resync_drift_repaired_total', { kind: 'head' })).toBe(1);
  });

  it('when the opt-out label webhook was lost then one run records the PR absent, and its removal later too', async () => {
    gh.openPull(REPO, { number: 3, headSha: A });
    await delivered('opened', 3, A);
    tick();
    gh.updatePull(REPO, 3, { labels: ['no-preview'] });
    await resync();
    expect(await desired(3)).toEqual({ present: false, sha: A, labels: ['no-preview'] });
    tick();
    gh.updatePull(REPO, 3, { labels: [] });
    await resync();
    expect(await desired(3)).toEqual({ present: true, sha: A, labels: [] });
    expect(await counter('previewd_resync_drift_repaired_total', { kind: 'labels' })).toBe(2);
  });

  it('when a ready_for_review webhook was lost under drafts=skip then one run provisions it', async () => {
    gh.openPull(REPO, { number: 4, headSha: A, draft: true });
    await resync();
    expect(await desired(4)).toBeNull(); // a skipped draft never seen gets no row
    tick();
    gh.updatePull(REPO, 4, { draft: false });
    await resync();
    expect(await desired(4)).toMatchObject({ present: true, sha: A });
  });

  it('when the listing is older than a webhook already recorded then it changes nothing', async () => {
    gh.openPull(REPO, { number: 5, headSha: A });
    tick();
    // A push GitHub delivered, newer than what the emulator lists (its listing lags).
    await delivered('synchronize', 5, B);
    await resync();
    expect(await desired(5)).toMatchObject({ present: true, sha: B });
  });

  it('when a held PR is no longer listed then only GitHub saying closed tears it down', async () => {
    gh.openPull(REPO, { number: 6, headSha: A });
    await delivered('opened', 6, A);
    tick();
    gh.closePull(REPO, 6, { merged: true });
    await resync();
    expect(await desired(6)).toMatchObject({ present: false, sha: A });
    expect(await counter('previewd_resync_drift_repaired_total', { kind: 'closed' })).toBe(1);
    expect(gh.requests.some((r) => r.method === 'GET' && r.path === `/repos/${REPO}/pulls/6`)).toBe(true);
  });

  it('when there are more than 100 open PRs then every page is followed and each PR is adopted', async () => {
    for (let n = 1; n <= 130; n++) gh.openPull(REPO, { number: 100 + n, headSha: A });
    await resync();
    expect((await store().list({ repo: REPO, desiredPresent: true })).length).toBe(130);
    expect(gh.requests.filter((r) => r.path === `/repos/${REPO}/pulls`).length).toBe(2);
    // Both pages are conditional the next time, and both unchanged.
    expect((await resync()).repos[REPO]).toBe('not_modified');
    expect(gh.notModifiedAnswers).toBe(2);
  });
});

describe('resync is conservative', () => {
  it('when a listing fails then nothing is recorded, and the next run lists in full and repairs', async () => {
    for (let n = 1; n <= 130; n++) gh.openPull(REPO, { number: 200 + n, headSha: A });
    gh.faults.failures.push({ method: 'GET', path: `/repos/${REPO}/pulls`, status: 502, body: { message: 'Server Error' }, times: 1 });
    await resync();
    expect(await store().list({ repo: REPO })).toHaveLength(0);
    expect(await counter('previewd_resync_runs_total', { result: 'failed' })).toBe(1);
    await resync();
    expect(await store().list({ repo: REPO })).toHaveLength(130);
  });

  it('when GitHub answers with a rate limit then no listing is sent until its reset', async () => {
    gh.openPull(REPO, { number: 7, headSha: A });
    gh.rateLimit.remaining = 0;
    gh.rateLimit.reset = Math.floor(clock / 1000) + 600;
    expect((await resync()).repos[REPO]).toBe('rate_limited');
    const sent = gh.requests.length;
    gh.rateLimit.remaining = 5000;
    tick(60);
    expect((await resync()).repos[REPO]).toBe('rate_limited');
    expect(gh.requests.length).toBe(sent);
    expect(await desired(7)).toBeNull();
    tick(600);
    await resync();
    expect(await desired(7)).toMatchObject({ present: true, sha: A });
    expect(await counter('previewd_resync_runs_total', { result: 'rate_limited' })).toBe(2);
  });

  it('when GC or an operator removed an environment then resync does not bring the same head back, but a new push does', async () => {
    for (const [pr, why] of [
      [8, 'gc: idle (no push for 7d)'],
      [9, 'admin: teardown'],
    ] as const) {
      gh.openPull(REPO, { number: pr, headSha: A });
      await delivered('opened', pr, A);
      expect((await recordTeardownDecision(store(), key(pr), why)).kind).toBe('accepted');
      tick();
      gh.updatePull(REPO, pr, {}); // a comment or review: updated_at moves, the head does not
    }
    await resync();
    expect(await desired(8)).toMatchObject({ present: false, sha: A });
    expect(await desired(9)).toMatchObject({ present: false, sha: A });
    expect(enqueued).toEqual([]);
    const events = await store().listEvents(key(8));
    expect(events.filter((e) => e.type === 'desired-ignored')).toHaveLength(0);
    tick();
    gh.updatePull(REPO, 8, { headSha: B });
    await resync();
    expect(await desired(8)).toMatchObject({ present: true, sha: B });
    expect(await desired(9)).toMatchObject({ present: false, sha: A });
  });

  it('when a fork PR is not approved under forks=label then resync does not deploy it, not even once labelled (a listing does not say who labelled)', async () => {
    repos = [repoConfig(REPO, { forks: 'label' })];
    gh.openPull(REPO, { number: 10, headSha: A, headRepo: 'mallory/shop' });
    await resync();
    expect(await desired(10)).toBeNull();
    tick();
    gh.updatePull(REPO, 10, { labels: ['preview'] });
    await resync();
    expect(await desired(10)).toBeNull();
  });

  it('when an approved fork gets a push that no webhook delivered then resync keeps the approved SHA: the new head waits (issue 13 §3)', async () => {
    repos = [repoConfig(REPO, { forks: 'label' })];
    gh.openPull(REPO, { number: 11, headSha: A, headRepo: 'mallory/shop', labels: ['preview'] });
    await h.approvals.approve(key(11), A, 'maya', 'approved A');
    await resync();
    expect(await desired(11)).toMatchObject({ present: true, sha: A });
    tick();
    gh.updatePull(REPO, 11, { headSha: B });
    await resync();
    expect(await desired(11)).toMatchObject({ present: true, sha: A });
    // Once B is approved, the next resync moves to it.
    await h.approvals.approve(key(11), B, 'maya', 'approved B');
    tick();
    gh.updatePull(REPO, 11, { title: 'touched' });
    await resync();
    expect(await desired(11)).toMatchObject({ present: true, sha: B });
  });
});

// Fork trust pinned to a commit (issue 13 §3), through the real intake: the opt-in label
// approves a fork's head only when GitHub says its sender has write access; the approval
// is for that SHA, so a later push stays undeployed until approved again; the PR is told.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createGitHubClient } from '../src/github/client.js';
import { startGitHubEmulator, type GitHubEmulator } from '../src/sandbox/emulators/github.js';
import { trustMarker } from '../src/trust/notice.js';
import { createStateDatabase, pullRequestPayload, repoConfig, send, startIntake, type IntakeHarness, type PullRequestOptions } from './intake-support.js';

const REPO = 'acme/shop';
const FORK = 'mallory/shop';
const PAT = 'ghp_fork_trust_test';
const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const C = 'c'.repeat(40);

let db: Awaited<ReturnType<typeof createStateDatabase>>;
let gh: GitHubEmulator;
let h: IntakeHarness;
let pr = 100;

beforeAll(async () => {
  db = await createStateDatabase();
});
afterAll(async () => {
  await db?.drop();
});
beforeEach(async () => {
  gh = await startGitHubEmulator({ token: PAT, login: 'previewd-bot' });
  gh.addRepo(REPO);
  gh.setCollaborator(REPO, 'maya', 'maintain');
  gh.setCollaborator(REPO, 'tom', 'triage');
  const github = createGitHubClient({ apiUrl: gh.url, auth: { token: PAT }, userAgent: 'previewd-test' });
  h = await startIntake({ databaseUrl: db.url, repos: [repoConfig(REPO, { forks: 'label' })], trustGitHub: github });
  pr += 1;
  gh.openPull(REPO, { number: pr, headSha: A, headRepo: FORK, author: 'mallory' });
});
afterEach(async () => {
  await h?.close();
  await gh?.close();
});

let second = 0;
const at = () => new Date(Date.UTC(2026, 2, 1, 10, 0, second++)).toISOString().replace('.000Z', 'Z');
const deliver = async (o: PullRequestOptions) => {
  const res = await send(h.url, JSON.stringify(pullRequestPayload({ number: pr, headRepo: FORK, updatedAt: at(), sender: 'mallory', ...o })));
  expect(res.status, JSON.stringify(res.json)).toBe(202);
  return res.json;
};
const desired = () => h.store.desired(REPO, pr);
/** The trust notice as GitHub shows it, once posted (it is told after the webhook's answer). */
async function notice(containing: string): Promise<string> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const body = gh.comments(REPO, pr).find((c) => c.body.includes(trustMarker({ repo: REPO, pr })))?.body;
    if (body?.includes(containing)) return body;
    if (Date.now() > deadline) throw new Error(`no trust notice containing ${JSON.stringify(containing)}; last: ${String(body)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('fork trust under forks: label (issue 13 §3)', () => {
  it('when the fork author applies the opt-in label to their own PR then nothing is approved or deployed, and the PR is told', async () => {
    await deliver({ action: 'opened', sha: A });
    expect(await deliver({ action: 'labeled', sha: A, label: 'preview', labels: ['preview'], sender: 'mallory' })).toMatchObject({ present: false });
    expect(await desired()).toEqual({ present: false, sha: A });
    expect(await h.approvals.get({ repo: REPO, pr })).toBeNull();
    expect(await notice('approves nothing')).toContain('@mallory');
  });

  it('when a triager applies the label then it approves nothing either: triage is not write access', async () => {
    await deliver({ action: 'labeled', sha: A, label: 'preview', labels: ['preview'], sender: 'tom' });
    expect(await desired()).toEqual({ present: false, sha: A });
    expect(await notice('approves nothing')).toContain('@tom');
  });

  it('when a maintainer applies the label then that head deploys, and a later push to the fork stays at the approved SHA until approved again', async () => {
    await deliver({ action: 'opened', sha: A });
    expect(await deliver({ action: 'labeled', sha: A, label: 'preview', labels: ['preview'], sender: 'maya' })).toMatchObject({ present: true });
    expect(await desired()).toEqual({ present: true, sha: A });
    expect(await h.approvals.get({ repo: REPO, pr })).toMatchObject({ sha: A, by: 'maya' });
    await notice('approved by @maya');

    // The fork pushes B: the environment stays at A and the PR says B waits.
    expect(await deliver({ action: 'synchronize', sha: B, before: A, labels: ['preview'] })).toMatchObject({ present: true });
    expect(await desired()).toEqual({ present: true, sha: A });
    await notice(`commit \`${B.slice(0, 7)}\` awaits approval`);
    // A redelivered label event by someone without write access changes nothing.
    await deliver({ action: 'labeled', sha: C, label: 'preview', labels: ['preview'], sender: 'mallory' });
    expect(await desired()).toEqual({ present: true, sha: A });

    // Removing the label withdraws the approval: the preview goes, and a push does not bring it back.
    await deliver({ action: 'unlabeled', sha: B, label: 'preview', labels: [], sender: 'maya' });
    expect(await desired()).toEqual({ present: false, sha: B });
    expect(await h.approvals.get({ repo: REPO, pr })).toBeNull();
    await deliver({ action: 'synchronize', sha: C, before: B, labels: [] });
    expect(await desired()).toEqual({ present: false, sha: C });
  });

  it('when the event names no sender or a malformed one then the label approves nothing', async () => {
    const payload = pullRequestPayload({ number: pr, headRepo: FORK, updatedAt: at(), action: 'labeled', sha: A, label: 'preview', labels: ['preview'] });
    delete (payload as { sender?: unknown }).sender;
    expect((await send(h.url, JSON.stringify(payload))).json).toMatchObject({ present: false });
    const spoofed = { ...pullRequestPayload({ number: pr, headRepo: FORK, updatedAt: at(), action: 'labeled', sha: A, label: 'preview', labels: ['preview'] }), sender: { login: '../collaborators/maya' } };
    expect((await send(h.url, JSON.stringify(spoofed))).json).toMatchObject({ present: false });
    expect(await h.approvals.get({ repo: REPO, pr })).toBeNull();
  });

  it('when GitHub cannot say what the sender may do then the delivery is refused with 503 and nothing is approved', async () => {
    gh.rateLimit.remaining = 0;
    const res = await send(h.url, JSON.stringify(pullRequestPayload({ number: pr, headRepo: FORK, updatedAt: at(), action: 'labeled', sha: A, label: 'preview', labels: ['preview'], sender: 'maya' })));
    expect(res.status).toBe(503);
    expect(await h.approvals.get({ repo: REPO, pr })).toBeNull();
    expect(await desired()).toBeNull();
  });

  it('when a PR from the repository itself is labelled by anyone then no permission is asked: only forks need approval', async () => {
    const own = pr + 1000;
    gh.openPull(REPO, { number: own, headSha: A });
    const res = await send(h.url, JSON.stringify(pullRequestPayload({ number: own, updatedAt: at(), action: 'opened', sha: A, sender: 'mallory' })));
    expect(res.json).toMatchObject({ present: true });
  });
});

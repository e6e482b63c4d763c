// Commands in PR comments (issue 13 §4), through the real intake: each command from a
// user with write access is carried out and answered +1; from a reader it is answered
// -1 and nothing else happens; what is not understood is answered confused; a comment
// is handled once however often GitHub delivers it.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createCommentHandler, type E2eRerunHook } from '../src/commands/run.js';
import { createGitHubClient } from '../src/github/client.js';
import type { GitHubClient } from '../src/github/types.js';
import { startGitHubEmulator, type GitHubEmulator } from '../src/sandbox/emulators/github.js';
import { createStateDatabase, newDeliveryId, pullRequestPayload, repoConfig, send, startIntake, type IntakeHarness } from './intake-support.js';
import { prng } from './support/wait.js';

const REPO = 'acme/shop';
const FORK = 'mallory/shop';
const PAT = 'ghp_commands_test';
const A = 'a'.repeat(40);
const B = 'b'.repeat(40);

let db: Awaited<ReturnType<typeof createStateDatabase>>;
let gh: GitHubEmulator;
let github: GitHubClient;
let h: IntakeHarness;
let rerun: { calls: { pr: number; by: string }[]; hook: E2eRerunHook | undefined };
let pr = 200;
let second = 0;
const at = () => new Date(Date.UTC(2026, 2, 2, 10, 0, second++)).toISOString().replace('.000Z', 'Z');

beforeAll(async () => {
  db = await createStateDatabase();
});
afterAll(async () => {
  await db?.drop();
});

async function start(options: { withRerun: boolean }): Promise<void> {
  rerun = { calls: [], hook: undefined };
  if (options.withRerun) {
    rerun.hook = async (key, request) => {
      rerun.calls.push({ pr: key.pr, by: request.requestedBy });
      return rerun.calls.length === 1 ? { ok: true } : { ok: false, reason: 'the tests of this PR are already running' };
    };
  }
  h = await startIntake({
    databaseUrl: db.url,
    repos: [repoConfig(REPO, { forks: 'label' })],
    trustGitHub: github,
    comments: (parts) => createCommentHandler({ repos: [repoConfig(REPO, { forks: 'label' })], github, ...parts, ...(rerun.hook ? { requestE2eRerun: rerun.hook } : {}) }),
  });
}

beforeEach(async () => {
  gh = await startGitHubEmulator({ token: PAT, login: 'previewd-bot' });
  gh.addRepo(REPO);
  gh.setCollaborator(REPO, 'maya', 'write');
  gh.setCollaborator(REPO, 'rita', 'read');
  github = createGitHubClient({ apiUrl: gh.url, auth: { token: PAT }, userAgent: 'previewd-test' });
  pr += 1;
});
afterEach(async () => {
  await h?.close();
  await gh?.close();
});

/** A PR from the repo itself, with its desired state recorded by its `opened` webhook. */
async function openOwnPull(): Promise<void> {
  gh.openPull(REPO, { number: pr, headSha: A });
  const res = await send(h.url, JSON.stringify(pullRequestPayload({ number: pr, sha: A, updatedAt: at() })));
  expect(res.json).toMatchObject({ status: 'accepted', present: true });
}

function commentPayload(commentId: number, login: string, body: string, o: { action?: string; type?: string; onIssue?: boolean } = {}) {
  return {
    action: o.action ?? 'created',
    issue: { number: pr, title: 'x', ...(o.onIssue ? {} : { pull_request: { url: `https://api.github.com/repos/${REPO}/pulls/${pr}` } }) },
    comment: { id: commentId, body, user: { login, id: 1, type: o.type ?? 'User' } },
    repository: { full_name: REPO },
    sender: { login },
  };
}

/** Posts `body` as `login` on GitHub and delivers its issue_comment webhook. */
async function comment(login: string, body: string, o: { delivery?: string; action?: string; type?: string; onIssue?: boolean } = {}) {
  const id = gh.addComment(REPO, pr, { body, login });
  const res = await send(h.url, JSON.stringify(commentPayload(id, login, body, o)), { event: 'issue_comment', delivery: o.delivery ?? newDeliveryId() });
  return { id, ...res };
}
const reactions = (id: number) => gh.reactions(REPO, id).map((r) => r.content);
const replies = () => gh.comments(REPO, pr).filter((c) => c.user.login === 'previewd-bot').map((c) => c.body);
const record = () => h.store.inner.get({ repo: REPO, pr });

describe('commands in comments (issue 13 §4)', () => {
  beforeEach(async () => {
    await start({ withRerun: false });
  });

  it('when a writer comments /preview approve on a fork PR then its head is approved and deployed, +1; a reader gets -1 and nothing', async () => {
    gh.openPull(REPO, { number: pr, headSha: A, headRepo: FORK });
    await send(h.url, JSON.stringify(pullRequestPayload({ number: pr, sha: A, headRepo: FORK, updatedAt: at() })));
    expect(await h.store.desired(REPO, pr)).toEqual({ present: false, sha: A });

    const denied = await comment('rita', '/preview approve');
    expect(denied.json).toMatchObject({ status: 'accepted', reaction: '-1' });
    expect(reactions(denied.id)).toEqual(['-1']);
    expect(await h.approvals.get({ repo: REPO, pr })).toBeNull();
    expect(await h.store.desired(REPO, pr)).toEqual({ present: false, sha: A });

    const approved = await comment('maya', '/preview approve');
    expect(reactions(approved.id)).toEqual(['+1']);
    expect(await h.approvals.get({ repo: REPO, pr })).toMatchObject({ sha: A, by: 'maya' });
    expect(await h.store.desired(REPO, pr)).toEqual({ present: true, sha: A });
    // The PR is told in the environment's sticky comment (fork-trust.test.ts): the notice is
    // recorded with the approval, and the command posts no comment of its own.
    expect((await h.approvals.getNotice({ repo: REPO, pr }))?.text).toBe(`commit \`${A.slice(0, 7)}\` approved by @maya (\`/preview approve\`); later pushes wait for a new approval.`);
    expect(replies()).toEqual([]);

    // The fork pushes B: it waits; a second approval by comment deploys B.
    gh.updatePull(REPO, pr, { headSha: B });
    await send(h.url, JSON.stringify(pullRequestPayload({ action: 'synchronize', number: pr, sha: B, before: A, headRepo: FORK, updatedAt: at() })));
    expect(await h.store.desired(REPO, pr)).toEqual({ present: true, sha: A });
    await comment('maya', '/preview approve');
    expect(await h.store.desired(REPO, pr)).toEqual({ present: true, sha: B });
    expect((await h.approvals.getNotice({ repo: REPO, pr }))?.text).toContain(`commit \`${B.slice(0, 7)}\` approved by @maya`);
    expect(replies()).toEqual([]);
  });

  it('when a writer comments /preview redeploy then a reconcile is requested, +1; a reader changes nothing', async () => {
    await openOwnPull();
    const generation = (await record())!.desiredGeneration;
    expect(reactions((await comment('rita', '/preview redeploy')).id)).toEqual(['-1']);
    expect((await record())!.desiredGeneration).toBe(generation);
    expect(reactions((await comment('maya', '/preview redeploy')).id)).toEqual(['+1']);
    expect((await record())!.desiredGeneration).toBe(generation + 1);
  });

  it('when a writer comments /preview destroy then the environment is to be removed, +1; a reader changes nothing', async () => {
    await openOwnPull();
    expect(reactions((await comment('rita', '/preview destroy')).id)).toEqual(['-1']);
    expect(await h.store.desired(REPO, pr)).toEqual({ present: true, sha: A });
    expect(reactions((await comment('maya', '/preview destroy')).id)).toEqual(['+1']);
    expect((await record())).toMatchObject({ desiredPresent: false, desiredReason: 'command: destroy by @maya' });
  });

  it('when a writer comments /preview keep then the PR gets the keep label GC honours, +1; a reader adds nothing', async () => {
    await openOwnPull();
    const labels = () => (gh.pull(REPO, pr)!['labels'] as { name: string }[]).map((l) => l.name);
    expect(reactions((await comment('rita', '/preview keep')).id)).toEqual(['-1']);
    expect(labels()).toEqual([]);
    expect(reactions((await comment('maya', '/preview keep')).id)).toEqual(['+1']);
    expect(labels()).toEqual(['preview-keep']);
  });

  it('when a writer comments /preview help then previewd replies with the commands, +1; a reader gets no reply', async () => {
    await openOwnPull();
    expect(reactions((await comment('rita', '/preview help')).id)).toEqual(['-1']);
    expect(replies()).toEqual([]);
    expect(reactions((await comment('maya', '/preview help')).id)).toEqual(['+1']);
    expect(replies()).toHaveLength(1);
    expect(replies()[0]).toContain('`/preview approve`');
  });

  it('when /preview retest has no e2e runner wired then the writer is told so (confused); a reader gets -1 only', async () => {
    await openOwnPull();
    expect(reactions((await comment('rita', '/preview retest')).id)).toEqual(['-1']);
    expect(replies()).toEqual([]);
    expect(reactions((await comment('maya', '/preview retest')).id)).toEqual(['confused']);
    expect(replies()).toEqual([expect.stringContaining('end-to-end tests are not configured')]);
  });

  it('when a writer writes something previewd does not understand then it answers confused and does nothing', async () => {
    await openOwnPull();
    const generation = (await record())!.desiredGeneration;
    for (const body of ['/preview deploy-all', '/preview', '/preview appr\u200bove', '/preview destroy everything']) {
      expect(reactions((await comment('maya', body)).id)).toEqual(['confused']);
    }
    expect(await record()).toMatchObject({ desiredPresent: true, desiredGeneration: generation });
  });

  it('when the same comment is delivered again (a redelivery, a new delivery id) then it is handled once', async () => {
    await openOwnPull();
    const generation = (await record())!.desiredGeneration;
    const first = await comment('maya', '/preview redeploy');
    const again = await send(h.url, JSON.stringify(commentPayload(first.id, 'maya', '/preview redeploy')), { event: 'issue_comment', delivery: newDeliveryId() });
    expect(again).toMatchObject({ status: 200, json: { status: 'duplicate' } });
    expect((await record())!.desiredGeneration).toBe(generation + 1);
    expect(reactions(first.id)).toEqual(['+1']);
  });

  it('when comments are hostile, edited, on an issue, by a bot or not commands then nothing is done and nothing crashes', async () => {
    await openOwnPull();
    const before = await record();
    const cases: [string, Parameters<typeof comment>[2]][] = [
      [`/preview destroy\n${'x'.repeat(60_000)}`, { action: 'edited' }],
      ['/preview destroy', { onIssue: true }],
      ['/preview destroy', { type: 'Bot' }],
      [`${'🙂'.repeat(20_000)}\n/preview destroy`, {}],
      ['\u202e/preview destroy', {}],
      [`/preview destroy${'\n'.repeat(10_000)}`, { action: 'deleted' }],
    ];
    for (const [body, o] of cases) {
      const res = await comment('maya', body, o);
      expect(res.status, body.slice(0, 40)).toBe(202);
      expect(res.json['status']).toBe('ignored');
    }
    // Malformed payloads are refused with a 400 naming the field, not the value.
    const bad = await send(h.url, JSON.stringify({ action: 'created', issue: { number: -1 }, comment: { id: 'x' }, repository: { full_name: REPO } }), { event: 'issue_comment' });
    expect(bad.status).toBe(400);
    expect(await record()).toMatchObject({ desiredPresent: true, desiredGeneration: before!.desiredGeneration });
  });
});

describe('/preview retest with the e2e runner wired', () => {
  beforeEach(async () => {
    await start({ withRerun: true });
  });

  it('when a writer asks then the rerun hook runs (+1, queued), a refusal is said with its reason (confused); a reader does not reach it', async () => {
    await openOwnPull();
    expect(reactions((await comment('rita', '/preview retest')).id)).toEqual(['-1']);
    expect(rerun.calls).toEqual([]);
    expect(reactions((await comment('maya', '/preview retest')).id)).toEqual(['+1']);
    expect(rerun.calls).toEqual([{ pr, by: 'maya' }]);
    expect(replies()).toEqual(['previewd: end-to-end tests queued to run again against this preview.']);
    // The runner refuses the second one: the writer is told why, confused.
    expect(reactions((await comment('maya', '/preview retest')).id)).toEqual(['confused']);
    expect(replies()[1]).toBe('previewd: `/preview retest` did not queue a run: the tests of this PR are already running.');
  });
});

describe('hostile comments, seeded', () => {
  const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
  const CASES = 120;
  beforeEach(async () => {
    await start({ withRerun: false });
  });

  it(`when ${CASES} random comments by readers, outsiders and bots arrive then every answer is 2xx/4xx, none is obeyed and the environment is untouched (seed ${SEED})`, async () => {
    const random = prng(SEED);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const pieces = ['/preview', '/PREVIEW', ' ', '\t', '\n', '\r\n', 'approve', 'destroy', 'keep', 'redeploy', 'help', 'retest', '\u200b', '\u202e', '\u00a0', 'а', '🙂', '\0', '`', '> ', 'x'.repeat(300), '\n'.repeat(50)];
    await openOwnPull();
    const before = await record();
    for (let i = 0; i < CASES; i++) {
      const body = Array.from({ length: 1 + Math.floor(random() * 6) }, () => pick(pieces)).join('');
      const login = pick(['rita', 'mallory', 'ghost-user', 'maya']);
      const type = login === 'maya' ? 'Bot' : pick(['User', 'User', 'Bot']);
      const res = await comment(login, body, { type, action: pick(['created', 'created', 'edited']) });
      expect([200, 202, 400, 409], `case ${i} (seed ${SEED}): ${JSON.stringify(body.slice(0, 60))} → ${res.status}`).toContain(res.status);
      // A writer's comment arrives here only as a bot's (ignored): nobody in this run may command.
      for (const reaction of reactions(res.id)) expect(reaction).toBe('-1');
    }
    expect(await record()).toMatchObject({ desiredPresent: true, desiredGeneration: before!.desiredGeneration });
    expect(replies()).toEqual([]);
    expect((gh.pull(REPO, pr)!['labels'] as unknown[]).length).toBe(0);
  });
});

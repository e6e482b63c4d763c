// Fork trust pinned to a commit (issue 13 §3), through the real intake: the opt-in label
// approves a fork's head only when GitHub says its sender has write access; the approval
// is for that SHA, so a later push stays undeployed until approved again; the PR is told,
// in the one sticky comment previewd keeps on it (the notice is recorded with the
// decision, before the webhook answers, and every reconcile renders it).
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../src/daemon.js';
import { reconcileEnvironment } from '../src/environments/reconcile.js';
import { createGitHubClient } from '../src/github/client.js';
import { createApp } from '../src/http/app.js';
import { createWebhookRouter, WEBHOOK_PATH } from '../src/http/webhooks.js';
import { createMetrics } from '../src/metrics.js';
import type { DeliveryDedupe } from '../src/queue/deliveries.js';
import { startGitHubEmulator, type GitHubEmulator } from '../src/sandbox/emulators/github.js';
import { sendPullRequestEvent, sendWebhook, type PullRequestEventInput } from '../src/sandbox/emulators/webhook-sender.js';
import type { World } from '../src/sandbox/world.js';
import { createStateDatabase, pullRequestPayload, repoConfig, send, startIntake, type IntakeHarness, type PullRequestOptions } from './intake-support.js';
import { startWorld } from './support/pg.js';
import { waitFor } from './support/wait.js';

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

let second = 0;
const at = () => new Date(Date.UTC(2026, 2, 1, 10, 0, second++)).toISOString().replace('.000Z', 'Z');
const deliver = async (o: PullRequestOptions) => {
  const res = await send(h.url, JSON.stringify(pullRequestPayload({ number: pr, headRepo: FORK, updatedAt: at(), sender: 'mallory', ...o })));
  expect(res.status, JSON.stringify(res.json)).toBe(202);
  return res.json;
};
const desired = () => h.store.desired(REPO, pr);
/** The trust notice as recorded when the webhook answered (the reconcile renders it; see below). */
async function notice(containing: string): Promise<string> {
  const text = (await h.approvals.getNotice({ repo: REPO, pr }))?.text;
  expect(text, `recorded notice ${String(text)}`).toContain(containing);
  return text!;
}

describe('fork trust under forks: label (issue 13 §3)', () => {
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

  it('when the fork author applies the opt-in label to their own PR then nothing is approved or deployed, and the PR is told', async () => {
    await deliver({ action: 'opened', sha: A });
    expect(await notice('awaits approval by a maintainer')).toContain(`commit \`${A.slice(0, 7)}\``);
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
    await notice('approval withdrawn');
    await deliver({ action: 'synchronize', sha: C, before: B, labels: [] });
    expect(await desired()).toEqual({ present: false, sha: C });
    expect(await notice('awaits approval')).not.toContain('stays at');
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

  it('when a fork PR would not be deployed even if approved (a skipped draft, opted out) then it is not told it awaits approval', async () => {
    await deliver({ action: 'opened', sha: A, draft: true });
    expect(await desired()).toEqual({ present: false, sha: A });
    expect(await h.approvals.getNotice({ repo: REPO, pr })).toBeNull();
    await deliver({ action: 'ready_for_review', sha: A, labels: ['no-preview'] });
    await deliver({ action: 'synchronize', sha: B, before: A, labels: ['no-preview'] });
    expect(await h.approvals.getNotice({ repo: REPO, pr })).toBeNull();
  });

  it('when notices are recorded then each decision keeps one row: the same text keeps its time, a withdrawal keeps the notice and drops the approval', async () => {
    const key = { repo: REPO, pr };
    await h.approvals.recordNotice(key, 'waits');
    const first = await h.approvals.getNotice(key);
    expect(first?.text).toBe('waits');
    expect(await h.approvals.get(key)).toBeNull();
    // A redelivery records the same text: nothing new to tell, so its time (the report key) stays.
    await h.approvals.recordNotice(key, 'waits');
    expect((await h.approvals.getNotice(key))?.at.getTime()).toBe(first!.at.getTime());

    await h.approvals.approve(key, A, 'maya', 'approved A');
    expect(await h.approvals.get(key)).toMatchObject({ sha: A, by: 'maya' });
    const approved = await h.approvals.getNotice(key);
    expect(approved?.text).toBe('approved A');
    expect(approved!.at.getTime()).toBeGreaterThan(first!.at.getTime());
    // A notice beside an approval leaves the approval as it is.
    await h.approvals.recordNotice(key, 'B waits');
    expect(await h.approvals.get(key)).toMatchObject({ sha: A });
    expect((await h.approvals.listForRepo(REPO)).get(pr)).toMatchObject({ sha: A });

    await h.approvals.revoke(key, 'withdrawn');
    expect(await h.approvals.get(key)).toBeNull();
    expect((await h.approvals.listForRepo(REPO)).has(pr)).toBe(false);
    expect((await h.approvals.getNotice(key))?.text).toBe('withdrawn');
    // Withdrawn with nothing to tell: the notice spoke of the approval and goes with it.
    await h.approvals.revoke(key);
    expect(await h.approvals.getNotice(key)).toBeNull();
    // Hostile text cannot break the row: NUL is dropped, length bounded.
    await h.approvals.recordNotice(key, `x\0${'y'.repeat(5000)}`);
    expect((await h.approvals.getNotice(key))?.text).toMatch(/^xy{999}$/);
  });

  it('when a PR from the repository itself is labelled by anyone then no permission is asked: only forks need approval', async () => {
    const own = pr + 1000;
    gh.openPull(REPO, { number: own, headSha: A });
    const res = await send(h.url, JSON.stringify(pullRequestPayload({ number: own, updatedAt: at(), action: 'opened', sha: A, sender: 'mallory' })));
    expect(res.json).toMatchObject({ present: true });
  });
});

/**
 * A dedupe of deliveries in memory (Redis holds the real one; this suite's subject is what
 * the webhook records before answering, not the dedupe).
 */
function memoryDedupe(): DeliveryDedupe {
  const done = new Set<string>();
  return {
    claim: async (id) => (done.has(id) ? { claimed: false, reason: 'done' } : { claimed: true, token: id }),
    confirm: async (id) => void done.add(id),
    release: async () => undefined,
    wasSeen: async (id) => done.has(id),
  };
}

describe('the fork-trust notice in the one sticky comment, through the daemon (emulators + real Postgres/Redis)', () => {
  let world: World;
  let daemon: Daemon;
  let number = 300;
  let tick = 0;
  const repo = () => world.repos[0]!;
  // GitHub's updated_at of each event, a second apart, in the past: a command reads the PR
  // from the emulator (updated_at = now), and must be newer than every event delivered.
  const base = Math.floor(Date.now() / 1000) * 1000 - 3_600_000;
  /** Every comment previewd made on the PR: its marker is "<!-- previewd" whatever it was for. */
  const previewdComments = (n: number) => world.github.comments(repo(), n).filter((c) => c.body.includes('<!-- previewd'));
  const deliverTo = async (url: string, n: number, o: Omit<PullRequestEventInput, 'repo' | 'number' | 'headRepo'>) => {
    const sent = await sendPullRequestEvent(url, world.secrets.webhookSecret, { repo: repo(), number: n, headRepo: FORK, sender: 'mallory', updatedAt: new Date(base + 1000 * tick++).toISOString().replace(/\.\d{3}Z$/, 'Z'), ...o });
    expect(sent.status, JSON.stringify(sent.body)).toBe(202);
  };
  /** The PR's one previewd comment, once it contains every text given. */
  const sticky = (n: number, ...texts: string[]) =>
    waitFor(
      `PR ${n}'s comment to say ${texts.join(' & ')}`,
      () => {
        const ours = previewdComments(n);
        return ours.length === 1 && ours[0]!.body.includes(world.names(n).commentMarker) && texts.every((t) => ours[0]!.body.includes(t)) ? ours[0]!.body : null;
      },
      60_000,
    );

  beforeAll(async () => {
    world = await startWorld({ repos: [{ forks: 'label' }] });
    world.github.setCollaborator(world.repos[0]!, 'maya', 'maintain');
    daemon = await startDaemon(world.deps, { port: 0, host: '127.0.0.1', redisPrefix: world.redisPrefix, gc: false, resume: false, resync: false });
  }, 60_000);
  afterAll(async () => {
    await daemon?.stop({ graceMs: 2_000 });
    await world?.cleanup();
  }, 30_000);

  it('when a fork opens, is labelled by its author, approved by a maintainer, pushed to and withdrawn then the PR has exactly one previewd comment, carrying each notice in turn', async () => {
    const n = ++number;
    const hook = `${daemon.url}${WEBHOOK_PATH}`;
    world.github.openPull(repo(), { number: n, headSha: A, headRepo: FORK, author: 'mallory' });
    await deliverTo(hook, n, { action: 'opened', headSha: A });
    // Never deployed: the comment still tells the PR what it waits for.
    const waiting = await sticky(n, 'not deployed', `**Fork pull request:** commit \`${A.slice(0, 7)}\` awaits approval by a maintainer`);
    expect(waiting).not.toContain('| commit |');

    await deliverTo(hook, n, { action: 'labeled', headSha: A, label: 'preview', labels: ['preview'] });
    await sticky(n, 'not deployed', 'applied by @mallory approves nothing');
    expect((await world.deps.store.get(world.key(n)))?.desiredPresent).toBe(false);

    await deliverTo(hook, n, { action: 'labeled', headSha: A, label: 'preview', labels: ['preview'], sender: 'maya' });
    await sticky(n, 'ready', `commit \`${A.slice(0, 7)}\` approved by @maya`);

    world.github.updatePull(repo(), n, { headSha: B });
    await deliverTo(hook, n, { action: 'synchronize', headSha: B, before: A, labels: ['preview'] });
    await sticky(n, 'ready', `commit \`${B.slice(0, 7)}\` awaits approval`, `stays at the approved \`${A.slice(0, 7)}\``);
    expect((await world.deps.store.get(world.key(n)))?.observedSha).toBe(A);

    await deliverTo(hook, n, { action: 'unlabeled', headSha: B, label: 'preview', labels: [], sender: 'maya' });
    await sticky(n, 'removed', 'approval withdrawn');
    expect(previewdComments(n)).toHaveLength(1);
  }, 120_000);

  it('when a maintainer approves by a /preview approve comment then the same one comment says so: the command posts none of its own', async () => {
    const n = ++number;
    const hook = `${daemon.url}${WEBHOOK_PATH}`;
    world.github.openPull(repo(), { number: n, headSha: A, headRepo: FORK, author: 'mallory' });
    await deliverTo(hook, n, { action: 'opened', headSha: A });
    await sticky(n, 'not deployed', 'awaits approval');
    const id = world.github.addComment(repo(), n, { body: '/preview approve', login: 'maya' });
    const payload = {
      action: 'created',
      issue: { number: n, title: 'x', pull_request: { url: `https://api.github.com/repos/${repo()}/pulls/${n}` } },
      comment: { id, body: '/preview approve', user: { login: 'maya', id: 1, type: 'User' } },
      repository: { full_name: repo() },
      sender: { login: 'maya' },
    };
    const sent = await sendWebhook({ url: hook, event: 'issue_comment', secret: world.secrets.webhookSecret, payload });
    expect(sent.status, sent.body).toBe(202);
    await sticky(n, 'ready', `commit \`${A.slice(0, 7)}\` approved by @maya (\`/preview approve\`)`);
    expect(world.github.reactions(repo(), id).map((r) => r.content)).toEqual(['+1']);
  }, 120_000);

  it('when previewd stops right after the webhook answered, before any reconcile, then the next reconcile shows the notice: it was recorded before the answer', async () => {
    const n = ++number;
    world.github.openPull(repo(), { number: n, headSha: A, headRepo: FORK, author: 'mallory' });
    // The same intake as the daemon's, whose queued work is lost (the process died after answering).
    const lost: string[] = [];
    const app = createApp({
      log: world.deps.log,
      routers: [
        createWebhookRouter({
          secret: world.secrets.webhookSecret,
          repos: world.config.repos,
          store: world.deps.store,
          queue: { enqueue: async (_key, reason) => void lost.push(reason) },
          deliveries: memoryDedupe(),
          log: world.deps.log,
          metrics: createMetrics(),
          trust: { approvals: world.deps.approvals!, github: world.deps.github },
        }),
      ],
    });
    const server: Server = await new Promise((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${WEBHOOK_PATH}`;
      await deliverTo(url, n, { action: 'opened', headSha: A });
      await deliverTo(url, n, { action: 'labeled', headSha: A, label: 'preview', labels: ['preview'] });
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
    expect(lost).toHaveLength(2);
    expect(previewdComments(n)).toEqual([]);

    // Restarted: whatever reconciles the PR next (resume, resync, a webhook) tells it, once.
    await reconcileEnvironment(world.deps, world.key(n));
    await sticky(n, 'not deployed', 'applied by @mallory approves nothing');
    await reconcileEnvironment(world.deps, world.key(n));
    const again = previewdComments(n);
    expect(again).toHaveLength(1);
    expect(again[0]!.body).toContain('approves nothing');
  }, 60_000);
});

import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { generateAppKeyPair, startGitHubEmulator, type GitHubEmulator } from '../sandbox/emulators/github.js';
import { ConflictError, TransientError, UserError } from '../errors.js';
import { createGitHubClient, nextLink, truncateDescription } from './client.js';
import type { GitHubClient } from './types.js';

const PAT = 'ghp_client_test_token';
const REPO = 'acme/shop';
const SHA = 'ec26c3e57ca3a959ca5aad62de7213c562f8c821';
const MARKER = '<!-- previewd:previewd:acme-shop-pr-42 -->';
let keys: { privateKeyPem: string };
let clock = 0;
let gh: GitHubEmulator;

beforeAll(() => {
  keys = generateAppKeyPair();
});
beforeEach(async () => {
  clock = Date.now();
  gh = await startGitHubEmulator({ token: PAT, login: 'previewd-bot', app: { appId: 31337, slug: 'previewd', installationId: 5, privateKeyPem: keys.privateKeyPem }, now: () => clock });
  gh.addRepo(REPO);
  gh.openPull(REPO, { number: 42, headSha: SHA, labels: ['preview'] });
});
afterEach(async () => {
  await gh.close();
});

const patClient = () => createGitHubClient({ apiUrl: gh.url, auth: { token: PAT }, userAgent: 'previewd/test', now: () => clock });
const appClient = (installationId?: number) =>
  createGitHubClient({ apiUrl: gh.url, auth: { appId: 31337, privateKey: keys.privateKeyPem, installationId }, userAgent: 'previewd/test', now: () => clock });

async function captureError(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

describe('github client: deployments and statuses', () => {
  it('when a deployment is created then it is transient, non-production, without auto-merge or required contexts', async () => {
    const client = patClient();
    // A failing context would make GitHub refuse a deployment that requires all contexts.
    await client.createCommitStatus(REPO, SHA, { state: 'failure', description: 'ci', context: 'ci' });
    const dep = await client.createDeployment(REPO, { ref: SHA, environment: 'pr-42', description: 'previewd pr-42', payload: { previewd: 'acme-shop-pr-42' } });
    expect(dep).toMatchObject({ sha: SHA, environment: 'pr-42' });
    const [stored] = gh.deployments(REPO);
    expect(stored).toMatchObject({ id: dep.id, transient: true, production: false, payload: { previewd: 'acme-shop-pr-42' }, creator: 'previewd-bot' });
  });

  it('when statuses are added then the latest state is read back, and listDeployments filters by environment newest first', async () => {
    const client = patClient();
    const first = await client.createDeployment(REPO, { ref: SHA, environment: 'pr-42', description: 'd', payload: {} });
    const second = await client.createDeployment(REPO, { ref: SHA, environment: 'pr-42', description: 'd', payload: {} });
    await client.createDeployment(REPO, { ref: SHA, environment: 'pr-7', description: 'd', payload: {} });
    expect(await client.getLatestDeploymentState(REPO, second.id)).toBeNull();
    await client.createDeploymentStatus(REPO, second.id, { state: 'in_progress', description: 'deploying' });
    await client.createDeploymentStatus(REPO, second.id, { state: 'success', description: 'ready', environmentUrl: 'https://pr-42.example.com', logUrl: 'https://previewd.example.com/x' });
    expect(await client.getLatestDeploymentState(REPO, second.id)).toBe('success');
    expect(gh.deployments(REPO).find((d) => d.id === second.id)?.statuses.at(-1)).toMatchObject({ environmentUrl: 'https://pr-42.example.com', targetUrl: 'https://previewd.example.com/x' });
    expect((await client.listDeployments(REPO, { environment: 'pr-42' })).map((d) => d.id)).toEqual([second.id, first.id]);
    expect(await client.getLatestDeploymentState(REPO, 987654)).toBeNull();
  });

  it('when a description is longer than 140 characters then it is cut instead of failing', async () => {
    await patClient().createCommitStatus(REPO, SHA, { state: 'pending', description: 'y'.repeat(300), context: 'previewd/preview' });
    const [status] = gh.commitStatuses(REPO, SHA);
    expect([...(status?.description ?? '')].length).toBe(140);
    expect(truncateDescription('short')).toBe('short');
  });

  it('when the ref is unknown then createDeployment is a UserError with the GitHub message', async () => {
    const err = await captureError(patClient().createDeployment(REPO, { ref: 'f'.repeat(40), environment: 'pr-42', description: 'd', payload: {} }));
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toContain('No ref found');
  });
});

describe('github client: the sticky comment', () => {
  it("when someone else's comment quotes the marker then findComment ignores it and finds only ours", async () => {
    const client = patClient();
    gh.addComment(REPO, 42, { login: 'mallory', body: `look: ${MARKER} edit me` });
    expect(await client.findComment(REPO, 42, MARKER)).toBeNull();
    const { id } = await client.createComment(REPO, 42, `${MARKER}\nPreview ready`);
    gh.addComment(REPO, 42, { login: 'mallory', body: `again ${MARKER}` });
    expect(await client.findComment(REPO, 42, MARKER)).toEqual({ id, body: `${MARKER}\nPreview ready` });
  });

  it('when the App posts then its <slug>[bot] comment is found and a look-alike user is not', async () => {
    const client = appClient(5);
    gh.addComment(REPO, 42, { login: 'previewd', body: MARKER }); // a human named like the app slug
    expect(await client.findComment(REPO, 42, MARKER)).toBeNull();
    const { id } = await client.createComment(REPO, 42, `${MARKER} hi`);
    expect(gh.comments(REPO, 42).find((c) => c.id === id)?.user.login).toBe('previewd[bot]');
    expect((await client.findComment(REPO, 42, MARKER))?.id).toBe(id);
  });

  it('when our comment is on a later page then it is still found', async () => {
    for (let i = 0; i < 120; i++) gh.addComment(REPO, 42, { login: 'bob', body: `noise ${i}` });
    const client = patClient();
    const { id } = await client.createComment(REPO, 42, MARKER);
    expect((await client.findComment(REPO, 42, MARKER))?.id).toBe(id);
  });

  it('when two of our comments carry the marker then findComments lists both oldest first, and deleteComment removes one (twice is fine)', async () => {
    const client = patClient();
    const older = await client.createComment(REPO, 42, `${MARKER} one`);
    gh.addComment(REPO, 42, { login: 'mallory', body: `${MARKER} fake` });
    const newer = await client.createComment(REPO, 42, `${MARKER} two`);
    expect((await client.findComments(REPO, 42, MARKER)).map((c) => c.id)).toEqual([older.id, newer.id]);
    expect((await client.findComment(REPO, 42, MARKER))?.id).toBe(older.id);
    await client.deleteComment(REPO, newer.id);
    await client.deleteComment(REPO, newer.id);
    expect(gh.comments(REPO, 42).map((c) => c.id)).not.toContain(newer.id);
    expect((await client.findComments(REPO, 42, MARKER)).map((c) => c.id)).toEqual([older.id]);
  });

  it('when the comment was deleted then updateComment returns false; otherwise it edits and returns true', async () => {
    const client = patClient();
    const { id } = await client.createComment(REPO, 42, `${MARKER} v1`);
    expect(await client.updateComment(REPO, id, `${MARKER} v2`)).toBe(true);
    expect(gh.comments(REPO, 42)[0]?.body).toBe(`${MARKER} v2`);
    expect(await client.updateComment(REPO, 123456789, 'x')).toBe(false);
  });
});

describe('github client: pulls', () => {
  it('when there are more open pulls than one page then every open one is listed, closed ones not', async () => {
    for (let n = 1; n <= 130; n++) if (n !== 42) gh.openPull(REPO, { number: n, headSha: SHA });
    gh.closePull(REPO, 7, { merged: true });
    const { pulls } = await patClient().listOpenPulls(REPO);
    expect(pulls).toHaveLength(129);
    expect(pulls.some((p) => p.number === 7)).toBe(false);
    expect(gh.requests.filter((r) => r.path === `/repos/${REPO}/pulls`).length).toBe(2);
  });

  it('when a listing is repeated with a cache then every page is conditional: unchanged is notModified from the kept pages, and a change on one page is seen', async () => {
    for (let n = 1; n <= 130; n++) if (n !== 42) gh.openPull(REPO, { number: n, headSha: SHA });
    const seen: number[] = [];
    const client = createGitHubClient({ apiUrl: gh.url, auth: { token: PAT }, userAgent: 'previewd/test', now: () => clock, onRateLimit: (n) => seen.push(n) });
    const cache = new Map();
    const first = await client.listOpenPulls(REPO, cache);
    expect(first).toMatchObject({ notModified: false });
    expect(first.pulls).toHaveLength(130);
    expect(cache.size).toBe(2);
    const remaining = gh.rateLimit.remaining;
    const second = await client.listOpenPulls(REPO, cache);
    expect(second.notModified).toBe(true);
    expect(second.pulls.map((p) => p.number)).toEqual(first.pulls.map((p) => p.number));
    expect(gh.rateLimit.remaining).toBe(remaining);
    expect(gh.notModifiedAnswers).toBe(2);
    expect(seen.at(-1)).toBe(remaining);
    // PR 1 is the oldest: on the last page under the default sort (created, newest first).
    gh.updatePull(REPO, 1, { labels: ['no-preview'] });
    const third = await client.listOpenPulls(REPO, cache);
    expect(third.notModified).toBe(false);
    expect(third.pulls.find((p) => p.number === 1)?.labels).toEqual(['no-preview']);
    // Without a cache nothing is conditional.
    expect((await client.listOpenPulls(REPO)).notModified).toBe(false);
  });

  it('when a pull is read then fork, labels and merged are mapped, and an absent one is null', async () => {
    gh.openPull(REPO, { number: 50, headSha: SHA, headRepo: null, draft: true });
    gh.closePull(REPO, 42, { merged: true });
    const client = patClient();
    expect(await client.getPull(REPO, 42)).toMatchObject({ number: 42, state: 'closed', merged: true, labels: ['preview'], headRepoFullName: REPO, baseRef: 'main' });
    expect(await client.getPull(REPO, 50)).toMatchObject({ draft: true, headRepoFullName: null, merged: false });
    expect(await client.getPull(REPO, 999)).toBeNull();
  });

  it('when a link header points to another host then the client stops instead of sending the token there', async () => {
    gh.faults.failures.push({ method: 'GET', path: `/repos/${REPO}/pulls`, status: 200, body: [], headers: { link: '<http://evil.example/steal?page=2>; rel="next"' }, times: 1 });
    await expect(patClient().listOpenPulls(REPO)).rejects.toBeInstanceOf(UserError);
  });

  it('when a link header is parsed then only rel="next" is taken', () => {
    expect(nextLink('<https://a/x?page=1>; rel="prev", <https://a/x?page=3>; rel="next", <https://a/x?page=9>; rel="last"')).toBe('https://a/x?page=3');
    expect(nextLink('<https://a/x?page=9>; rel="last"')).toBeNull();
    expect(nextLink(null)).toBeNull();
  });
});

describe('github client: App authentication', () => {
  it('when many calls are made then one installation token is fetched, and a new one only near expiry', async () => {
    const client = appClient(); // installation id discovered from the repo
    for (let i = 0; i < 5; i++) await client.getPull(REPO, 42);
    expect(gh.installationTokensIssued).toBe(1);
    expect(gh.requests.filter((r) => r.path === `/repos/${REPO}/installation`).length).toBe(1);
    clock += 54 * 60_000; // 6 min left: still used
    await client.getPull(REPO, 42);
    expect(gh.installationTokensIssued).toBe(1);
    clock += 2 * 60_000; // 4 min left: refreshed
    await client.getPull(REPO, 42);
    expect(gh.installationTokensIssued).toBe(2);
  });

  it('when concurrent calls start cold then they share one token request', async () => {
    const client = appClient(5);
    await Promise.all(Array.from({ length: 8 }, () => client.getPull(REPO, 42)));
    expect(gh.installationTokensIssued).toBe(1);
  });
});

describe('github client: errors', () => {
  it('when GitHub answers 5xx or is down then calls are TransientErrors', async () => {
    const client = patClient();
    gh.faults.failures.push({ path: `/repos/${REPO}/pulls/42`, status: 502, body: { message: 'Server Error' }, times: 1 });
    await expect(client.getPull(REPO, 42)).rejects.toBeInstanceOf(TransientError);
    await gh.down();
    await expect(client.getPull(REPO, 42)).rejects.toBeInstanceOf(TransientError);
    await gh.up();
    expect(await client.getPull(REPO, 42)).not.toBeNull();
  });

  it('when a secondary or primary rate limit hits then a TransientError carries the wait', async () => {
    const client = patClient();
    gh.secondaryLimit({ status: 403, retryAfterSec: 7 });
    const secondary = await captureError(client.getPull(REPO, 42));
    expect(secondary).toBeInstanceOf(TransientError);
    expect((secondary as TransientError).retryAfterMs).toBe(7000);
    gh.rateLimit.remaining = 0;
    gh.rateLimit.reset = Math.floor(clock / 1000) + 120;
    const primary = await captureError(client.getPull(REPO, 42));
    expect(primary).toBeInstanceOf(TransientError);
    expect((primary as TransientError).retryAfterMs).toBeGreaterThan(100_000);
    expect((primary as TransientError).retryAfterMs).toBeLessThanOrEqual(120_000);
  });

  it('when the token is wrong then a UserError says bad credentials and never contains the token', async () => {
    const client = createGitHubClient({ apiUrl: gh.url, auth: { token: 'ghp_definitely_secret' }, userAgent: 'previewd/test' });
    const err = await captureError(client.listOpenPulls(REPO));
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toContain('Bad credentials');
    expect(`${err.message}${err.stack}${JSON.stringify(err)}`).not.toContain('ghp_definitely_secret');
  });

  it('when auto-merge would move the ref (202) then it is a ConflictError', async () => {
    gh.faults.failures.push({ method: 'POST', path: `/repos/${REPO}/deployments`, status: 202, body: { message: 'Auto-merged main into topic on deployment.' }, times: 1 });
    await expect(patClient().createDeployment(REPO, { ref: SHA, environment: 'pr-42', description: 'd', payload: {} })).rejects.toBeInstanceOf(ConflictError);
  });

  it('when the repo name or sha is hostile then nothing is sent', async () => {
    const client = patClient();
    const before = gh.requests.length;
    await expect(client.getPull('acme/shop/../../user', 1)).rejects.toBeInstanceOf(UserError);
    await expect(client.createCommitStatus(REPO, '../x', { state: 'success', description: 'd', context: 'c' })).rejects.toBeInstanceOf(UserError);
    expect(gh.requests.length).toBe(before);
  });
});

describe('github client: check runs and combined status of a ref', () => {
  it('when a ref has more check runs than a page then every page is read and re-runs count by their latest run', async () => {
    const client = patClient();
    for (let i = 0; i < 130; i++) gh.setCheckRun(REPO, SHA, { name: `job-${i}`, status: 'completed', conclusion: 'success' });
    const first = gh.setCheckRun(REPO, SHA, { name: 'build-images', status: 'completed', conclusion: 'failure' });
    const rerun = gh.setCheckRun(REPO, SHA, { name: 'build-images', status: 'in_progress' });
    const runs = await client.listCheckRuns(REPO, SHA);
    expect(runs).toHaveLength(131);
    expect(runs.filter((r) => r.name === 'build-images')).toEqual([{ id: rerun, name: 'build-images', status: 'in_progress', conclusion: null }]);
    expect(first).toBeLessThan(rerun);
  });

  it('when other integrations set commit statuses then the latest of each context is read', async () => {
    const client = patClient();
    gh.addCommitStatus(REPO, SHA, { context: 'ci/build', state: 'pending' });
    gh.addCommitStatus(REPO, SHA, { context: 'ci/build', state: 'success' });
    gh.addCommitStatus(REPO, SHA, { context: 'lint', state: 'failure' });
    const statuses = await client.listCommitStatuses(REPO, SHA);
    expect(statuses.sort((a, b) => a.context.localeCompare(b.context))).toEqual([
      { context: 'ci/build', state: 'success' },
      { context: 'lint', state: 'failure' },
    ]);
  });

  it('when a waiting SHA is read again unchanged then GitHub answers 304 (no rate limit spent) with the same result, and a change is read in full', async () => {
    const client = patClient();
    gh.setCheckRun(REPO, SHA, { name: 'build-images', status: 'in_progress' });
    gh.addCommitStatus(REPO, SHA, { context: 'ci/build', state: 'pending' });
    const first = [await client.listCheckRuns(REPO, SHA), await client.listCommitStatuses(REPO, SHA)];
    const before = gh.notModifiedAnswers;
    expect([await client.listCheckRuns(REPO, SHA), await client.listCommitStatuses(REPO, SHA)]).toEqual(first);
    expect(gh.notModifiedAnswers).toBe(before + 2);
    gh.setCheckRun(REPO, SHA, { name: 'build-images', status: 'completed', conclusion: 'success' });
    const runs = await client.listCheckRuns(REPO, SHA);
    expect(runs.find((r) => r.name === 'build-images')).toMatchObject({ status: 'completed', conclusion: 'success' });
    expect(gh.notModifiedAnswers).toBe(before + 2);
  });

  it('when the App lacks the checks permission then listing check runs is refused (403), not read as "no checks"', async () => {
    delete gh.appPermissions['checks'];
    const err = await captureError(appClient(5).listCheckRuns(REPO, SHA));
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toMatch(/Resource not accessible by integration/);
  });
});

describe('github client: permissions, reactions, labels and environments', () => {
  it('when users hold roles then getPermission reads role_name, maintain and triage included, and an unknown or malformed login has none', async () => {
    const client = patClient();
    gh.setCollaborator(REPO, 'maya', 'maintain');
    gh.setCollaborator(REPO, 'tri', 'triage');
    gh.setCollaborator(REPO, 'wendy', 'write');
    expect(await client.getPermission(REPO, 'maya')).toBe('maintain');
    expect(await client.getPermission(REPO, 'tri')).toBe('triage');
    expect(await client.getPermission(REPO, 'wendy')).toBe('write');
    expect(await client.getPermission(REPO, 'mallory')).toBe('none');
    expect(await client.getPermission(REPO, '../../user')).toBe('none');
    expect(await client.getPermission(REPO, 'previewd-bot')).toBe('admin');
  });

  it('when the same reaction is added twice then GitHub keeps one (201, then 200) and an unknown comment is a UserError', async () => {
    const client = patClient();
    const comment = gh.addComment(REPO, 42, { body: '/preview help', login: 'maya' });
    await client.createReaction(REPO, comment, '+1');
    await client.createReaction(REPO, comment, '+1');
    await client.createReaction(REPO, comment, 'confused');
    expect(gh.reactions(REPO, comment).map((r) => r.content)).toEqual(['+1', 'confused']);
    expect(await captureError(client.createReaction(REPO, 999_999, '+1'))).toBeInstanceOf(UserError);
  });

  it('when labels are added then the PR carries them once', async () => {
    const client = patClient();
    await client.addLabels(REPO, 42, ['preview-keep', 'preview']);
    expect(gh.pull(REPO, 42)!['labels']).toEqual([{ name: 'preview' }, { name: 'preview-keep' }].map((l) => expect.objectContaining(l)));
  });

  it('when an environment is deleted then 204 deletes it, a second delete finds it absent, and a token without admin rights is told once then skipped', async () => {
    const client = patClient();
    await client.createDeployment(REPO, { ref: SHA, environment: 'pr-42', description: 'd', payload: {} });
    expect(gh.environments(REPO)).toEqual(['pr-42']);
    expect(await client.deleteEnvironment(REPO, 'pr-42')).toBe('deleted');
    expect(gh.environments(REPO)).toEqual([]);
    expect(await client.deleteEnvironment(REPO, 'pr-42')).toBe('absent');

    // An App without "administration: write" (previewd's default permissions).
    const app = appClient(5);
    await app.createDeployment(REPO, { ref: SHA, environment: 'pr-43', description: 'd', payload: {} });
    expect(await app.deleteEnvironment(REPO, 'pr-43')).toBe('forbidden');
    expect(await app.deleteEnvironment(REPO, 'pr-43')).toBe('skipped');
    expect(gh.environments(REPO)).toEqual(['pr-43']);

    // A user who does not administer the repo: GitHub's 403 "Must have admin rights".
    gh.setRole(REPO, { admin: false });
    expect(await patClient().deleteEnvironment(REPO, 'pr-43')).toBe('forbidden');
    await expect(client.deleteEnvironment(REPO, 'pr 43/..')).rejects.toBeInstanceOf(UserError);
  });
});

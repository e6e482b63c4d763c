import { createServer, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createAppJwt } from '../../src/github/app-auth.js';
import { generateAppKeyPair, startGitHubEmulator, type GitHubEmulator } from '../../src/sandbox/emulators/github.js';
import { buildPullRequestPayload, buildWebhookHeaders, sendWebhook, signBody } from '../../src/sandbox/emulators/webhook-sender.js';

const PAT = 'ghp_test_token_value';
const REPO = 'acme/shop';
const SHA = 'ec26c3e57ca3a959ca5aad62de7213c562f8c821';
let keys: { privateKeyPem: string; publicKeyPem: string };
let clock = Date.now();
let gh: GitHubEmulator;

beforeAll(() => {
  keys = generateAppKeyPair();
});
beforeEach(async () => {
  clock = Date.now();
  gh = await startGitHubEmulator({ token: PAT, app: { appId: 4242, slug: 'previewd-test', installationId: 77, privateKeyPem: keys.privateKeyPem }, now: () => clock });
  gh.addRepo(REPO);
  gh.openPull(REPO, { number: 42, headSha: SHA });
});
afterEach(async () => {
  await gh.close();
});

async function api(method: string, path: string, options: { token?: string | null; body?: unknown; ua?: string; ifNoneMatch?: string } = {}) {
  const token = options.token === undefined ? PAT : options.token;
  const res = await fetch(`${gh.url}${path}`, {
    method,
    headers: {
      'User-Agent': options.ua ?? 'previewd-test',
      Accept: 'application/vnd.github+json',
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
      ...(options.ifNoneMatch !== undefined ? { 'If-None-Match': options.ifNoneMatch } : {}),
    },
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await res.text();
  let body: any = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* plain text */
  }
  return { status: res.status, headers: res.headers, body };
}

describe('github emulator: auth and errors', () => {
  it('when the User-Agent header is missing then the answer is 403', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const url = new URL(`${gh.url}/user`);
      const req = httpRequest({ host: url.hostname, port: url.port, path: url.pathname, headers: { Authorization: `Bearer ${PAT}` } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(403);
  });

  it('when the token is unknown then 401 Bad credentials with the JSON error shape, and rate-limit headers are present', async () => {
    const res = await api('GET', '/user', { token: 'ghp_wrong' });
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({ message: 'Bad credentials', status: '401' });
    expect(res.body.documentation_url).toMatch(/^https:\/\/docs\.github\.com/);
    const ok = await api('GET', '/user');
    expect(ok.body.login).toBe('previewd-bot');
    for (const h of ['x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-used', 'x-ratelimit-reset', 'x-ratelimit-resource']) expect(ok.headers.get(h), h).not.toBeNull();
  });

  it('when an App JWT is valid then it gets a 1 h installation token that works on the repo, and the JWT itself does not', async () => {
    const jwt = createAppJwt(4242, keys.privateKeyPem, clock);
    expect((await api('GET', '/app', { token: jwt })).body.slug).toBe('previewd-test');
    expect((await api('GET', `/repos/${REPO}/installation`, { token: jwt })).body.id).toBe(77);
    const created = await api('POST', '/app/installations/77/access_tokens', { token: jwt });
    expect(created.status).toBe(201);
    expect(Date.parse(created.body.expires_at) - clock).toBeGreaterThan(3_590_000);
    expect((await api('GET', `/repos/${REPO}/pulls/42`, { token: created.body.token })).status).toBe(200);
    expect((await api('GET', `/repos/${REPO}/pulls/42`, { token: jwt })).status).toBe(403);
    clock += 3_600_001;
    expect((await api('GET', `/repos/${REPO}/pulls/42`, { token: created.body.token })).status).toBe(401);
  });

  it('when a JWT is expired, too long-lived, from another key or for another app then it is 401', async () => {
    const other = generateAppKeyPair();
    const bad = [
      createAppJwt(4242, keys.privateKeyPem, clock - 20 * 60_000), // expired
      createAppJwt(4242, other.privateKeyPem, clock), // wrong key
      createAppJwt(9999, keys.privateKeyPem, clock), // wrong iss
      createAppJwt(4242, keys.privateKeyPem, clock + 5 * 60_000), // iat in the future
    ];
    for (const token of bad) expect((await api('POST', '/app/installations/77/access_tokens', { token })).status).toBe(401);
    expect(gh.installationTokensIssued).toBe(0);
  });

  it('when the primary limit is exhausted or a secondary limit hits then 403/429 come back with the right headers', async () => {
    gh.secondaryLimit({ status: 429, retryAfterSec: 7, times: 1 });
    const second = await api('GET', `/repos/${REPO}/pulls`);
    expect(second.status).toBe(429);
    expect(second.headers.get('retry-after')).toBe('7');
    expect(second.body.message).toMatch(/secondary rate limit/);
    expect((await api('GET', `/repos/${REPO}/pulls`)).status).toBe(200);
    gh.rateLimit.remaining = 0;
    const primary = await api('GET', `/repos/${REPO}/pulls`);
    expect(primary.status).toBe(403);
    expect(primary.headers.get('x-ratelimit-remaining')).toBe('0');
  });

  it('when a GET is repeated with If-None-Match of its ETag then 304 without a body, and it costs no rate limit until the listing changes', async () => {
    const first = await api('GET', `/repos/${REPO}/pulls?state=open&per_page=100`);
    const etag = first.headers.get('etag');
    expect(etag).toMatch(/^W\/"[0-9a-f]+"$/);
    const remaining = Number(first.headers.get('x-ratelimit-remaining'));
    const again = await api('GET', `/repos/${REPO}/pulls?state=open&per_page=100`, { ifNoneMatch: etag! });
    expect(again.status).toBe(304);
    expect(again.body).toBe('');
    expect(again.headers.get('etag')).toBe(etag);
    expect(Number(again.headers.get('x-ratelimit-remaining'))).toBe(remaining);
    expect(gh.notModifiedAnswers).toBe(1);
    gh.updatePull(REPO, 42, { labels: ['no-preview'] });
    const changed = await api('GET', `/repos/${REPO}/pulls?state=open&per_page=100`, { ifNoneMatch: etag! });
    expect(changed.status).toBe(200);
    expect(changed.headers.get('etag')).not.toBe(etag);
    expect(Number(changed.headers.get('x-ratelimit-remaining'))).toBe(remaining - 1);
  });

  it('when a repo is unknown or a PR absent then 404 Not Found', async () => {
    expect((await api('GET', '/repos/acme/nope/pulls')).body).toMatchObject({ message: 'Not Found', status: '404' });
    expect((await api('GET', `/repos/${REPO}/pulls/9`)).status).toBe(404);
  });
});

describe('github emulator: pulls, deployments, statuses, comments', () => {
  it('when there are more pulls than per_page then link headers page through all of them', async () => {
    for (let n = 100; n < 105; n++) gh.openPull(REPO, { number: n, headSha: SHA });
    const seen: number[] = [];
    let url: string | null = `/repos/${REPO}/pulls?state=open&per_page=2`;
    let pages = 0;
    while (url) {
      const res = await api('GET', url.replace(gh.url, ''));
      seen.push(...res.body.map((p: { number: number }) => p.number));
      const next = /<([^>]+)>; rel="next"/.exec(res.headers.get('link') ?? '');
      url = next ? next[1]! : null;
      pages++;
    }
    expect(pages).toBe(3);
    expect(seen.sort((a, b) => a - b)).toEqual([42, 100, 101, 102, 103, 104]);
  });

  it('when a deployment is created then statuses list newest first and delete needs inactive', async () => {
    const dep = await api('POST', `/repos/${REPO}/deployments`, { body: { ref: SHA, environment: 'pr-42', auto_merge: false, required_contexts: [], transient_environment: true, payload: { k: 'v' } } });
    expect(dep.status).toBe(201);
    await api('POST', `/repos/${REPO}/deployments`, { body: { ref: SHA, environment: 'pr-43', auto_merge: false, required_contexts: [] } });
    await api('POST', `/repos/${REPO}/deployments/${dep.body.id}/statuses`, { body: { state: 'in_progress' } });
    await api('POST', `/repos/${REPO}/deployments/${dep.body.id}/statuses`, { body: { state: 'success', environment_url: 'https://pr-42.example.com' } });
    const statuses = await api('GET', `/repos/${REPO}/deployments/${dep.body.id}/statuses`);
    expect(statuses.body.map((s: { state: string }) => s.state)).toEqual(['success', 'in_progress']);
    expect((await api('DELETE', `/repos/${REPO}/deployments/${dep.body.id}`)).status).toBe(422);
    await api('POST', `/repos/${REPO}/deployments/${dep.body.id}/statuses`, { body: { state: 'inactive' } });
    expect((await api('DELETE', `/repos/${REPO}/deployments/${dep.body.id}`)).status).toBe(204);
    expect(gh.deployments(REPO).map((d) => d.environment)).toEqual(['pr-43']);
  });

  it('when a deployment has no ref, an unknown ref, a failing check or a branch behind main then 422, 409 and 202 come back', async () => {
    expect((await api('POST', `/repos/${REPO}/deployments`, { body: {} })).status).toBe(422);
    expect((await api('POST', `/repos/${REPO}/deployments`, { body: { ref: 'f'.repeat(40) } })).status).toBe(422);
    await api('POST', `/repos/${REPO}/statuses/${SHA}`, { body: { state: 'failure', context: 'ci' } });
    const conflict = await api('POST', `/repos/${REPO}/deployments`, { body: { ref: SHA, auto_merge: false } });
    expect(conflict.status).toBe(409);
    expect(conflict.body.message).toBe(`Conflict: Commit status checks failed for ${SHA}.`);
    gh.addBranch(REPO, 'topic', 'a'.repeat(40), { behindDefault: true });
    const merged = await api('POST', `/repos/${REPO}/deployments`, { body: { ref: 'topic', required_contexts: [] } });
    expect(merged.status).toBe(202);
    expect(gh.deployments(REPO)).toEqual([]);
  });

  it('when a deployment status has a bad state or a long description then 422 Validation Failed with errors', async () => {
    const dep = await api('POST', `/repos/${REPO}/deployments`, { body: { ref: SHA, required_contexts: [] } });
    const bad = await api('POST', `/repos/${REPO}/deployments/${dep.body.id}/statuses`, { body: { state: 'done' } });
    expect(bad.status).toBe(422);
    expect(bad.body).toMatchObject({ message: 'Validation Failed', errors: [{ field: 'state', code: 'invalid' }] });
    expect((await api('POST', `/repos/${REPO}/deployments/${dep.body.id}/statuses`, { body: { state: 'success', description: 'x'.repeat(141) } })).status).toBe(422);
    expect((await api('POST', `/repos/${REPO}/deployments/999999/statuses`, { body: { state: 'success' } })).status).toBe(404);
  });

  it('when commit statuses are posted then the combined status reflects the latest per context', async () => {
    await api('POST', `/repos/${REPO}/statuses/${SHA}`, { body: { state: 'pending', context: 'previewd/preview' } });
    await api('POST', `/repos/${REPO}/statuses/${SHA}`, { body: { state: 'success', context: 'previewd/preview' } });
    const combined = await api('GET', `/repos/${REPO}/commits/${SHA}/status`);
    expect(combined.body).toMatchObject({ state: 'success', total_count: 1 });
    expect(gh.commitStatuses(REPO, SHA).map((s) => s.state)).toEqual(['pending', 'success']);
    expect((await api('POST', `/repos/${REPO}/statuses/${'0'.repeat(40)}`, { body: { state: 'success' } })).status).toBe(422);
  });

  it('when comments are posted by the PAT and the App then user.login is the caller', async () => {
    const jwt = createAppJwt(4242, keys.privateKeyPem, clock);
    const token = (await api('POST', '/app/installations/77/access_tokens', { token: jwt })).body.token as string;
    const byPat = await api('POST', `/repos/${REPO}/issues/42/comments`, { body: { body: 'hi' } });
    const byApp = await api('POST', `/repos/${REPO}/issues/42/comments`, { token, body: { body: 'hello' } });
    expect(byPat.body.user.login).toBe('previewd-bot');
    expect(byApp.body.user).toMatchObject({ login: 'previewd-test[bot]', type: 'Bot' });
    expect((await api('POST', `/repos/${REPO}/issues/42/comments`, { body: {} })).status).toBe(422);
    expect((await api('PATCH', `/repos/${REPO}/issues/comments/${byPat.body.id}`, { body: { body: 'edited' } })).status).toBe(200);
    expect((await api('PATCH', `/repos/${REPO}/issues/comments/1`, { body: { body: 'x' } })).status).toBe(404);
    expect(gh.comments(REPO, 42).map((c) => c.body)).toEqual(['edited', 'hello']);
  });

  it('when the App installation lacks a permission then the route answers 403 Resource not accessible by integration', async () => {
    delete gh.appPermissions['deployments'];
    const jwt = createAppJwt(4242, keys.privateKeyPem, clock);
    const token = (await api('POST', '/app/installations/77/access_tokens', { token: jwt })).body.token as string;
    const res = await api('POST', `/repos/${REPO}/deployments`, { token, body: { ref: SHA } });
    expect(res.status).toBe(403);
    expect(res.body.message).toBe('Resource not accessible by integration');
  });
});

describe('webhook sender', () => {
  let received: { headers: IncomingHttpHeaders; body: string }[] = [];
  let server: ReturnType<typeof createServer>;
  let url = '';
  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(202).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/github`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
  });
  beforeEach(() => {
    received = [];
  });

  it("when signing GitHub's test vector then the documented signature comes out", () => {
    expect(signBody("It's a Secret to Everybody", 'Hello, World!')).toBe('sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17');
  });

  it('when a synchronize event is built then it carries before/after, fork detection fields and no label', () => {
    const p = buildPullRequestPayload({ action: 'synchronize', repo: REPO, number: 42, headSha: SHA, headRepo: 'alice/shop', labels: ['preview'] }) as any;
    expect(p.after).toBe(SHA);
    expect(p.before).toMatch(/^[0-9a-f]{40}$/);
    expect(p.pull_request.head.repo).toMatchObject({ full_name: 'alice/shop', fork: true });
    expect(p.pull_request.base.repo.full_name).toBe(REPO);
    expect(p.pull_request.labels.map((l: { name: string }) => l.name)).toEqual(['preview']);
    expect(p.label).toBeUndefined();
    const deleted = buildPullRequestPayload({ action: 'labeled', repo: REPO, number: 1, headSha: SHA, headRepo: null, label: 'preview' }) as any;
    expect(deleted.pull_request.head.repo).toBeNull();
    expect(deleted.label.name).toBe('preview');
    expect(deleted.before).toBeUndefined();
  });

  it('when sent then the receiver gets every header and a signature over the exact bytes; a redelivery reuses the GUID', async () => {
    const payload = buildPullRequestPayload({ action: 'opened', repo: REPO, number: 42, headSha: SHA });
    const first = await sendWebhook({ url, event: 'pull_request', payload, secret: 'whsec' });
    const again = await sendWebhook({ url, event: 'pull_request', payload, secret: 'whsec', delivery: first.delivery });
    expect(first.status).toBe(202);
    expect(first.withinBudget).toBe(true);
    const [a, b] = received;
    expect(a!.headers['x-hub-signature-256']).toBe(signBody('whsec', a!.body));
    expect(a!.headers['x-github-event']).toBe('pull_request');
    expect(a!.headers['user-agent']).toMatch(/^GitHub-Hookshot\//);
    expect(a!.headers['content-type']).toBe('application/json');
    expect(a!.headers['x-github-delivery']).toMatch(/^[0-9a-f-]{36}$/);
    expect(b!.headers['x-github-delivery']).toBe(a!.headers['x-github-delivery']);
    expect(again.delivery).toBe(first.delivery);
  });

  it('when the secret is null then no signature header is set', () => {
    const headers = buildWebhookHeaders({ event: 'ping', body: '{}', secret: null });
    expect(headers['x-hub-signature-256']).toBeUndefined();
    expect(headers['x-github-event']).toBe('ping');
  });
});

// The dashboard's access rules over plain HTTP (no browser): sessions, CSRF, signed
// reader links, strict routes, headers, escaping and secret scrubbing. The store,
// queue and Nomad are in-memory fakes; sessions live in the real Redis.
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import Koa from 'koa';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildConfig } from '../src/config/load.js';
import type { Config } from '../src/config/schema.js';
import type { Clock } from '../src/deps.js';
import { environmentId, environmentNames, keyString, type EnvironmentKey } from '../src/environments/naming.js';
import type { EnvironmentEvent, EnvironmentRecord } from '../src/environments/types.js';
import type { NomadAllocation } from '../src/nomad/types.js';
import type { ParkedJob } from '../src/queue/reconcile-queue.js';
import { linkKey, readerPath, readerUrl, signLinkToken } from '../src/ui/links.js';
import { SESSION_COOKIE, SIGN_IN_COOKIE, uiRouter } from '../src/ui/router.js';
import { createRedisSessions } from '../src/ui/sessions.js';
import { createTestRedis } from './support/services.js';
import { waitFor } from './support/wait.js';

const ADMIN_TOKEN = 'ui-admin-token-0123456789abcdef';
const DB_PASSWORD = 'pg-password-Qw7eR9tY';
const HOSTILE = `<script>window.__pwned=1</script><img src=x onerror="alert(1)">"'&`;
const env = {
  VAULT_TOKEN: 'hvs.ui-vault-token-secret',
  DATABASE_URL: `postgres://previewd:${DB_PASSWORD}@pg.internal:5432/previewd`,
  GITHUB_WEBHOOK_SECRET: 'webhook-secret-0123456789',
  GITHUB_TOKEN: 'ghp_uigithubtokensecretvalue',
  PREVIEWD_ADMIN_TOKEN: ADMIN_TOKEN,
};
const SECRETS = [ADMIN_TOKEN, DB_PASSWORD, env.VAULT_TOKEN, env.GITHUB_TOKEN, env.GITHUB_WEBHOOK_SECRET];

let nowMs = Date.parse('2026-05-01T10:00:00Z');
const clock: Clock = { now: () => new Date(nowMs), sleep: async () => undefined };

function record(key: EnvironmentKey, over: Partial<EnvironmentRecord> = {}): EnvironmentRecord {
  const at = new Date(nowMs - 3_600_000);
  return {
    key,
    envId: environmentId(key),
    desiredPresent: true,
    desiredSha: 'c'.repeat(40),
    desiredReason: 'synchronize',
    desiredGeneration: 2,
    observedGeneration: 2,
    prUpdatedAt: at,
    labels: [HOSTILE.slice(0, 40)],
    title: `Fix checkout ${HOSTILE}`,
    branch: `feat/${HOSTILE}`,
    status: 'failed',
    observedSha: 'c'.repeat(40),
    lastError: `task api: ${HOSTILE} (while connecting to postgres://previewd:${DB_PASSWORD}@db)`,
    components: { api: 'failed', frontend: 'healthy' },
    resources: {},
    githubDeploymentId: 1,
    githubCommentId: 2,
    lastPushAt: at,
    readyAt: null,
    createdAt: at,
    updatedAt: at,
    ...over,
  };
}

const PR7 = { repo: 'acme/shop', pr: 7 };
const PR8 = { repo: 'acme/shop', pr: 8 };
const records = new Map<string, EnvironmentRecord>([
  [keyString(PR7), record(PR7)],
  [keyString(PR8), record(PR8, { status: 'ready', lastError: null, labels: [] })],
]);
const events: EnvironmentEvent[] = [{ id: 1, at: new Date(nowMs - 60_000), type: 'step-failed', message: `register failed: ${HOSTILE}`, data: {} }];
const parked: ParkedJob[] = [{ jobId: 'reconcile-acme-shop-7', key: PR7, reason: 'opened', lastError: `UserError: ${HOSTILE}`, attemptsMade: 1, failedAt: new Date(nowMs - 1000) }];
const retried: string[] = [];
const gcRuns: boolean[] = [];
const allocation: NomadAllocation = {
  id: 'a1b2c3d4-0000-0000-0000-000000000000',
  taskGroup: 'api',
  jobVersion: 1,
  clientStatus: 'failed',
  desiredStatus: 'run',
  healthy: false,
  tasks: { api: { state: 'dead', failed: true, events: [{ type: 'Driver Failure', message: HOSTILE, time: (nowMs - 30_000) * 1e6 }] } },
};

function makeConfig(file: Record<string, unknown> = {}): Config {
  return buildConfig({ repos: [{ name: 'acme/shop' }], publicUrl: 'http://previewd.test:8080', ...file }, env);
}

interface Running {
  base: string;
  close(): Promise<void>;
}

let redis: Awaited<ReturnType<typeof createTestRedis>>;

async function serve(config: Config, sessionTtlMs = 60_000, options: { storeDown?: boolean } = {}): Promise<Running> {
  const app = new Koa();
  const router = uiRouter({
    config,
    clock,
    log: pino({ level: 'silent' }),
    store: {
      list: async () => {
        if (options.storeDown) throw new Error(`connect ECONNREFUSED postgres://previewd:${DB_PASSWORD}@db:5432`);
        return [...records.values()];
      },
      get: async (key) => records.get(keyString(key)) ?? null,
      listEvents: async () => events,
    },
    queue: {
      counts: async () => ({ waiting: 1, active: 0, delayed: 0, parked: parked.length, completed: 3, oldestWaitingAgeMs: 0 }),
      listPending: async () => [{ jobId: 'reconcile-acme-shop-8', key: PR8, state: 'waiting', reason: 'synchronize', attemptsMade: 0, enqueuedAt: new Date(nowMs - 5000) }],
      listParked: async () => parked,
      retryParked: async (id) => {
        retried.push(id);
        return parked.some((p) => p.jobId === id);
      },
    },
    nomad: {
      getLatestDeployment: async (jobId) => ({ deployment: { id: 'd1', jobId, jobVersion: 1, status: 'failed', statusDescription: HOSTILE, modifyIndex: 5 }, index: 5 }),
      listAllocations: async () => [allocation],
    },
    sessions: createRedisSessions({ redis: redis.redis, prefix: redis.prefix, ttlMs: sessionTtlMs }),
    runGc: async ({ dryRun }) => {
      gcRuns.push(dryRun);
      return { plan: { actions: [{ kind: 'teardown', key: PR8, envId: environmentId(PR8), reason: 'idle', detail: `idle 9d ${HOSTILE}`, generation: 1 }], skipped: [] }, done: dryRun ? [] : [1], failed: [] };
    },
  });
  app.use(router.routes());
  app.use(router.allowedMethods());
  const server: Server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

interface Answer {
  status: number;
  location: string | null;
  cookies: string[];
  text: string;
  headers: Headers;
}

async function request(base: string, method: string, path: string, options: { cookie?: string; form?: Record<string, string>; headers?: Record<string, string> } = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.cookie) headers.cookie = options.cookie;
  let body: string | undefined;
  if (options.form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(options.form).toString();
  }
  const res = await fetch(`${base}${path}`, { method, headers, body, redirect: 'manual' });
  return { status: res.status, location: res.headers.get('location'), cookies: res.headers.getSetCookie(), text: await res.text(), headers: res.headers };
}

const cookieValue = (cookies: string[], name: string) => cookies.find((c) => c.startsWith(`${name}=`))?.split(';')[0]!.slice(name.length + 1);

/** Signs in through the form; returns the session cookie header. */
async function signInCookie(base: string): Promise<string> {
  const form = await request(base, 'GET', '/ui/sign-in');
  const pre = cookieValue(form.cookies, SIGN_IN_COOKIE)!;
  const csrf = /name="csrf" value="([^"]+)"/.exec(form.text)![1]!;
  const res = await request(base, 'POST', '/ui/sign-in', { cookie: `${SIGN_IN_COOKIE}=${pre}`, form: { csrf, token: ADMIN_TOKEN } });
  expect(res.status).toBe(303);
  return `${SESSION_COOKIE}=${cookieValue(res.cookies, SESSION_COOKIE)}`;
}

/** Signs in; returns the session cookie header and the session's CSRF token (read from a page). */
async function signIn(base: string): Promise<{ cookie: string; csrf: string }> {
  const cookie = await signInCookie(base);
  const page = await request(base, 'GET', '/ui/queue', { cookie });
  return { cookie, csrf: /name="csrf" value="([^"]+)"/.exec(page.text)![1]! };
}

const expectNoSecret = (text: string) => {
  for (const secret of SECRETS) expect(text).not.toContain(secret);
};

describe('dashboard access rules (HTTP)', () => {
  let app: Running;
  const config = makeConfig();

  beforeAll(async () => {
    redis = await createTestRedis();
    app = await serve(config);
  });
  afterAll(async () => {
    await app?.close();
    await redis?.cleanup();
  });

  it('when there is no session then every operator page redirects to sign-in and no POST acts', async () => {
    for (const path of ['/ui', '/ui/queue', '/ui/gc', '/ui/environments/acme/shop/7']) {
      const res = await request(app.base, 'GET', path);
      expect([path, res.status, res.location]).toEqual([path, 303, '/ui/sign-in']);
    }
    const forged = await request(app.base, 'GET', '/ui', { cookie: `${SESSION_COOKIE}=${'A'.repeat(43)}` });
    expect(forged.location).toBe('/ui/sign-in');
    const before = { retried: retried.length, gc: gcRuns.length };
    for (const path of ['/ui/gc', '/ui/queue/parked/reconcile-acme-shop-7/retry', '/ui/sign-out']) {
      const res = await request(app.base, 'POST', path, { form: { csrf: 'x' } });
      expect([path, res.status, res.location]).toEqual([path, 303, '/ui/sign-in']);
    }
    expect({ retried: retried.length, gc: gcRuns.length }).toEqual(before);
  });

  it('when signing in then the form needs its pre-session token and the admin token, and the session cookie is HttpOnly, SameSite=Strict, /ui only', async () => {
    const form = await request(app.base, 'GET', '/ui/sign-in');
    expect(form.status).toBe(200);
    const preCookie = form.cookies.find((c) => c.startsWith(`${SIGN_IN_COOKIE}=`))!;
    expect(preCookie).toMatch(/; Path=\/ui; Max-Age=3600; HttpOnly; SameSite=Strict$/);
    const pre = cookieValue(form.cookies, SIGN_IN_COOKIE)!;
    const csrf = /name="csrf" value="([^"]+)"/.exec(form.text)![1]!;

    // The CSRF value of the sign-in form must match the cookie set with it.
    expect((await request(app.base, 'POST', '/ui/sign-in', { form: { csrf, token: ADMIN_TOKEN } })).status).toBe(403);
    expect((await request(app.base, 'POST', '/ui/sign-in', { cookie: `${SIGN_IN_COOKIE}=${pre}`, form: { csrf: `${csrf}x`, token: ADMIN_TOKEN } })).status).toBe(403);
    expect((await request(app.base, 'POST', '/ui/sign-in', { cookie: `${SIGN_IN_COOKIE}=${pre}`, form: { token: ADMIN_TOKEN } })).status).toBe(403);
    const wrong = await request(app.base, 'POST', '/ui/sign-in', { cookie: `${SIGN_IN_COOKIE}=${pre}`, form: { csrf, token: `${ADMIN_TOKEN}x` } });
    expect(wrong.status).toBe(403);
    expect(wrong.text).toContain('That is not the admin token.');
    expect(wrong.cookies.some((c) => c.startsWith(`${SESSION_COOKIE}=`))).toBe(false);
    expectNoSecret(wrong.text);

    const ok = await request(app.base, 'POST', '/ui/sign-in', { cookie: `${SIGN_IN_COOKIE}=${pre}`, form: { csrf, token: ADMIN_TOKEN } });
    expect([ok.status, ok.location]).toEqual([303, '/ui']);
    const session = ok.cookies.find((c) => c.startsWith(`${SESSION_COOKIE}=`))!;
    expect(session).toMatch(/^previewd_session=[A-Za-z0-9_-]{43}; Path=\/ui; Max-Age=43200; HttpOnly; SameSite=Strict$/);
    expect(session).not.toContain(ADMIN_TOKEN);
    // Redis holds the session under a hash of its ID, never the ID itself.
    const keys = await redis.redis.keys(`${redis.prefix}:ui-session:*`);
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.join(' ')).not.toContain(cookieValue(ok.cookies, SESSION_COOKIE)!);
  });

  it('when signed in then a POST without the CSRF token, or with a wrong one, is a 403 that changes nothing; the right one acts', async () => {
    const { cookie, csrf } = await signIn(app.base);
    const before = retried.length;
    const path = '/ui/queue/parked/reconcile-acme-shop-7/retry';
    expect((await request(app.base, 'POST', path, { cookie, form: {} })).status).toBe(403);
    expect((await request(app.base, 'POST', path, { cookie, form: { csrf: `${csrf.slice(0, -1)}${csrf.endsWith('A') ? 'B' : 'A'}` } })).status).toBe(403);
    expect((await request(app.base, 'POST', path, { cookie })).status).toBe(415);
    expect((await request(app.base, 'POST', '/ui/gc', { cookie, form: { csrf: 'nope' } })).status).toBe(403);
    expect(retried.length).toBe(before);
    expect(gcRuns.filter((d) => !d)).toEqual([]);

    const ok = await request(app.base, 'POST', path, { cookie, form: { csrf } });
    expect([ok.status, ok.location]).toEqual([303, '/ui/queue?notice=retried']);
    expect(retried.at(-1)).toBe('reconcile-acme-shop-7');
    const applied = await request(app.base, 'POST', '/ui/gc', { cookie, form: { csrf } });
    expect(applied.status).toBe(200);
    expect(applied.text).toContain('Applied: 1 queued for removal');
    expect(gcRuns.at(-1)).toBe(false);
  });

  it('when signing out then the session ends everywhere: the old cookie is sent to sign-in again', async () => {
    const { cookie, csrf } = await signIn(app.base);
    expect((await request(app.base, 'GET', '/ui', { cookie })).status).toBe(200);
    const out = await request(app.base, 'POST', '/ui/sign-out', { cookie, form: { csrf } });
    expect([out.status, out.location]).toEqual([303, '/ui/sign-in']);
    expect(out.cookies.find((c) => c.startsWith(`${SESSION_COOKIE}=`))).toMatch(/^previewd_session=; Path=\/ui; Max-Age=0;/);
    expect((await request(app.base, 'GET', '/ui', { cookie })).location).toBe('/ui/sign-in');
  });

  it('when pages render hostile PR data then it arrives escaped, secrets scrubbed, under a self-only CSP with no Referer', async () => {
    const { cookie } = await signIn(app.base);
    for (const path of ['/ui', '/ui/environments/acme/shop/7', '/ui/queue', '/ui/gc']) {
      const res = await request(app.base, 'GET', path, { cookie });
      expect([path, res.status]).toEqual([path, 200]);
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(res.headers.get('content-security-policy')).toBe("default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'");
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('cache-control')).toBe('no-store');
      // Text may say "onerror=", escaped; markup may not: no tag, no quoted handler, no inline style.
      expect(res.text).not.toMatch(/<script|<img|onerror="|style=/i);
      expect(res.text).toContain('&lt;script&gt;window.__pwned=1&lt;/script&gt;');
      expectNoSecret(res.text);
    }
  });

  it('when an operator opens an environment then it shows resource names, never values, and links to the Nomad and Consul UIs when configured', async () => {
    const linked = await serve(makeConfig({ ui: { nomadUrl: 'https://nomad.example.com/ui', consulUrl: 'https://consul.example.com/ui/dc1/' } }));
    try {
      const { cookie } = await signIn(linked.base);
      const res = await request(linked.base, 'GET', '/ui/environments/acme/shop/7', { cookie });
      const names = environmentNames(config, PR7);
      expect(res.text).toContain(names.database);
      expect(res.text).toContain(`secret/data/${names.vaultPath}`);
      expect(res.text).toContain(`href="https://nomad.example.com/ui/jobs/${names.jobId('api')}%40default"`);
      expect(res.text).toContain(`href="https://consul.example.com/ui/dc1/services/${names.serviceName('frontend')}/instances"`);
      expect(res.text).toContain('Driver Failure');
      expectNoSecret(res.text);
    } finally {
      await linked.close();
    }
    const plain = await request(app.base, 'GET', '/ui/environments/acme/shop/7', { cookie: (await signIn(app.base)).cookie });
    expect(plain.text).not.toContain('Nomad ↗');
    expect((await request(app.base, 'GET', '/ui/environments/acme/shop/999', { cookie: (await signIn(app.base)).cookie })).status).toBe(404);
  });

  it('when a PR reader follows the signed link then that one environment shows, without resource names or operator pages', async () => {
    const url = new URL(readerUrl(config, PR7, clock.now()));
    const res = await request(app.base, 'GET', `${url.pathname}${url.search}`);
    expect(res.status).toBe(200);
    expect(res.text).toContain('Read-only view of acme/shop#7');
    expect(res.text).toContain('Driver Failure');
    expect(res.text).not.toContain(environmentNames(config, PR7).database);
    expect(res.text).not.toMatch(/href="\/ui(\/queue|\/gc|\/environments)?"|sign-out/);
    expect(res.cookies).toEqual([]);
    expectNoSecret(res.text);
    // The link opens no operator page.
    expect((await request(app.base, 'GET', `/ui/queue${url.search}`)).location).toBe('/ui/sign-in');
  });

  it('when a reader link is tampered with, expired, for another PR or repo, or missing then it is a 403', async () => {
    const key = linkKey(config.env);
    const good = signLinkToken(key, PR7, new Date(nowMs + 86_400_000));
    const [expiry, mac] = good.split('.') as [string, string];
    const cases: [string, string][] = [
      ['tampered signature', `${readerPath(PR7)}?t=${expiry}.${mac.slice(0, -2)}${mac.endsWith('AA') ? 'BB' : 'AA'}`],
      ['stretched expiry', `${readerPath(PR7)}?t=${Number(expiry) + 3600}.${mac}`],
      ['expired', `${readerPath(PR7)}?t=${signLinkToken(key, PR7, new Date(nowMs - 1000))}`],
      ['another PR', `${readerPath(PR8)}?t=${good}`],
      ['another repo', `/ui/pr/acme/other/7?t=${signLinkToken(key, { repo: 'acme/other', pr: 7 }, new Date(nowMs + 86_400_000))}`],
      ['another key', `${readerPath(PR7)}?t=${signLinkToken(Buffer.from('x'.repeat(32)), PR7, new Date(nowMs + 86_400_000))}`],
      ['missing', readerPath(PR7)],
      ['two tokens', `${readerPath(PR7)}?t=${good}&t=${good}`],
    ];
    for (const [what, path] of cases) {
      const res = await request(app.base, 'GET', path);
      expect([what, res.status]).toEqual([what, 403]);
      expect(res.text).not.toContain('Driver Failure');
    }
    expect((await request(app.base, 'GET', `${readerPath(PR7)}?t=${good}`)).status).toBe(200);
  });

  it('when a route differs in case or by a trailing slash then it is not found', async () => {
    const { cookie } = await signIn(app.base);
    const token = signLinkToken(linkKey(config.env), PR7, new Date(nowMs + 86_400_000));
    for (const path of ['/UI', '/ui/', '/Ui/queue', '/ui/queue/', '/ui/QUEUE', '/ui/environments/acme/shop/7/', '/ui/Environments/acme/shop/7', `/ui/pr/acme/shop/7/?t=${token}`, `/UI/pr/acme/shop/7?t=${token}`, '/ui/sign-in/', '/ui/assets/APP.css']) {
      const res = await request(app.base, 'GET', path, { cookie });
      expect([path, res.status]).toEqual([path, 404]);
    }
  });

  it('when publicUrl is https, or a trusted proxy says https, then cookies are Secure; an untrusted X-Forwarded-Proto is ignored', async () => {
    const secureCookie = async (file: Record<string, unknown>, headers: Record<string, string> = {}) => {
      const running = await serve(makeConfig(file));
      try {
        const res = await request(running.base, 'GET', '/ui/sign-in', { headers });
        return res.cookies.find((c) => c.startsWith(`${SIGN_IN_COOKIE}=`))!.endsWith('; Secure');
      } finally {
        await running.close();
      }
    };
    expect(await secureCookie({ publicUrl: 'https://previewd.example.com' })).toBe(true);
    expect(await secureCookie({ ui: { trustProxy: true } }, { 'x-forwarded-proto': 'https' })).toBe(true);
    expect(await secureCookie({ ui: { trustProxy: true } }, { 'x-forwarded-proto': 'http' })).toBe(false);
    expect(await secureCookie({}, { 'x-forwarded-proto': 'https' })).toBe(false);
  });

  it('when building a page fails then the answer is an HTML 500 that names nothing of the error', async () => {
    const broken = await serve(config, 60_000, { storeDown: true });
    try {
      const { cookie } = await signIn(broken.base);
      const res = await request(broken.base, 'GET', '/ui', { cookie });
      expect(res.status).toBe(500);
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(res.text).toContain('the error is in the daemon log');
      expect(res.text).not.toMatch(/ECONNREFUSED|postgres:/);
      expectNoSecret(res.text);
    } finally {
      await broken.close();
    }
  });

  it('when a session outlives its TTL then it is gone and the cookie leads to sign-in again', async () => {
    const short = await serve(config, 1_000);
    try {
      const cookie = await signInCookie(short.base);
      // Redis holds it with the session lifetime as TTL (read, not raced: a loaded machine may take a second).
      const key = `${redis.prefix}:ui-session:${createHash('sha256').update(cookie.slice(SESSION_COOKIE.length + 1)).digest('hex')}`;
      const ttl = await redis.redis.pttl(key);
      expect(ttl === -2 || (ttl > 0 && ttl <= 1_000)).toBe(true);
      await waitFor('the session to expire', async () => (await request(short.base, 'GET', '/ui', { cookie })).location === '/ui/sign-in', 10_000);
    } finally {
      await short.close();
    }
  });
});

// The routing attack from issue 10: a path spelled differently from the route
// (case, percent-encoding, doubled or trailing slashes, dot segments, a `;` parameter)
// must never reach an admin handler without the token. Requests go out raw through
// node:http, because fetch() would normalise the very paths under test. Every admin
// route is taken from the router itself, so a route added later is covered too.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Router } from '@koa/router';
import { buildConfig } from '../src/config/load.js';
import { environmentId, type EnvironmentKey } from '../src/environments/naming.js';
import type { EnvironmentRecord } from '../src/environments/types.js';
import { adminRouter } from '../src/http/admin.js';
import { createApp } from '../src/http/app.js';
import { readinessRouter } from '../src/http/health.js';
import { metricsRouter } from '../src/http/metrics.js';
import { createMetrics } from '../src/metrics.js';
import { createWebhookRouter } from '../src/http/webhooks.js';

const ADMIN_TOKEN = 'admin-token-0123456789abcdef';
const config = buildConfig(
  { repos: [{ name: 'acme/shop' }] },
  {
    VAULT_TOKEN: 'hvs.vault',
    DATABASE_URL: 'postgres://previewd:pw@pg.internal:5432/previewd',
    GITHUB_WEBHOOK_SECRET: 'webhook-secret-0123456789',
    GITHUB_TOKEN: 'ghp_token',
    PREVIEWD_ADMIN_TOKEN: ADMIN_TOKEN,
  },
);

/** Every call any admin dependency received; without a token it must stay empty. */
const calls: string[] = [];
const now = new Date('2026-05-01T10:00:00Z');
const record = (key: EnvironmentKey): EnvironmentRecord => ({
  key,
  envId: environmentId(key),
  desiredPresent: true,
  desiredSha: 'b'.repeat(40),
  desiredReason: 'opened',
  desiredGeneration: 1,
  observedGeneration: 1,
  prUpdatedAt: now,
  labels: [],
  title: null,
  branch: null,
  status: 'ready',
  observedSha: null,
  lastError: null,
  components: {},
  resources: {},
  githubDeploymentId: null,
  githubCommentId: null,
  lastPushAt: now,
  readyAt: null,
  createdAt: now,
  updatedAt: now,
});
const store = {
  list: async () => (calls.push('store.list'), []),
  get: async (key: EnvironmentKey) => (calls.push('store.get'), record(key)),
  listEvents: async () => (calls.push('store.listEvents'), []),
  requestReconcile: async () => (calls.push('store.requestReconcile'), 2),
  recordDesired: async () => (calls.push('store.recordDesired'), { accepted: true, generation: 2 }),
  recordTeardown: async () => (calls.push('store.recordTeardown'), { accepted: true, generation: 2 }),
  appendEvent: async () => void calls.push('store.appendEvent'),
};
const queue = {
  enqueue: async () => void calls.push('queue.enqueue'),
  counts: async () => (calls.push('queue.counts'), { waiting: 0, active: 0, delayed: 0, parked: 0, completed: 0, oldestWaitingAgeMs: 0 }),
  listParked: async () => (calls.push('queue.listParked'), []),
  retryParked: async () => (calls.push('queue.retryParked'), true),
};

let admin: Router;
let server: http.Server;
let port: number;

beforeAll(async () => {
  admin = adminRouter({
    config,
    store,
    queue,
    runGc: async () => (calls.push('runGc'), { plan: { actions: [], skipped: [] }, done: [], failed: [] }),
    // The e2e gate, so its rerun route has a handler that can be reached (or must not be).
    e2e: {
      notify: () => void calls.push('e2e.notify'),
      commentSection: async () => (calls.push('e2e.commentSection'), null),
      requestRerun: async () => (calls.push('e2e.requestRerun'), { ok: true }),
      start: () => undefined,
      stop: async () => undefined,
    },
  });
  const log = pino({ level: 'silent' });
  const app = createApp({
    log,
    routers: [
      createWebhookRouter({
        secret: 'webhook-secret-0123456789',
        repos: config.repos,
        store: { recordDesired: store.recordDesired, listAwaitingBuild: async () => [] },
        queue: { enqueue: queue.enqueue },
        deliveries: { claim: async () => ({ claimed: true, token: 't' }), confirm: async () => undefined, release: async () => undefined, wasSeen: async () => false },
        log,
        metrics: createMetrics(),
      }),
      admin,
      readinessRouter([{ name: 'postgres', check: async () => undefined }]),
      metricsRouter(createMetrics()),
    ],
  });
  server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

/** One request with the path sent byte for byte as given. */
function raw(method: string, path: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers: { connection: 'close', ...headers } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    req.end();
  });
}

const SAMPLE_PARAMS: Record<string, string> = { owner: 'acme', repo: 'shop', pr: '7', id: 'job-1' };

/** The admin routes as the router knows them, with sample parameters filled in. */
function adminRoutes(): { method: string; path: string }[] {
  const routes: { method: string; path: string }[] = [];
  for (const layer of admin.stack) {
    const path = String(layer.path).replace(/:(\w+)/g, (_, name: string) => SAMPLE_PARAMS[name] ?? 'x');
    for (const method of layer.methods.filter((m) => m !== 'HEAD')) routes.push({ method, path });
  }
  return routes;
}

/** Spellings of `path` a router or proxy may treat as the same resource. */
function variants(path: string): string[] {
  const rest = path.slice('/admin'.length);
  const [first, ...others] = rest.slice(1).split('/');
  return [
    `/Admin${rest}`,
    `/ADMIN${rest}`,
    `/admin/${first!.toUpperCase()}${others.map((s) => `/${s}`).join('')}`,
    `/%61dmin${rest}`,
    `/%41dmin${rest}`,
    `/admin%2F${rest.slice(1)}`,
    `/admin%2f${rest.slice(1)}`,
    `//admin${rest}`,
    `/admin/${rest}`,
    `${path}/`,
    `${path}//`,
    `/x/../admin${rest}`,
    `/x/%2e%2e/admin${rest}`,
    `/./admin${rest}`,
    `/admin/.${rest}`,
    `${path}/.`,
    `/admin;x=1${rest}`,
    `${path};jsessionid=1`,
  ];
}

describe('admin routes spelled another way', () => {
  it('when any admin route is called without a token, however its path is spelled, then no handler runs', async () => {
    const routes = adminRoutes();
    expect(routes.length).toBeGreaterThanOrEqual(7);
    const reached: string[] = [];
    for (const { method, path } of routes) {
      for (const spelling of [path, ...variants(path)]) {
        const before = calls.length;
        const status = await raw(method, spelling);
        if (![401, 404].includes(status) || calls.length !== before) reached.push(`${method} ${spelling} → ${status} ${calls.slice(before).join(',')}`);
      }
    }
    expect(reached).toEqual([]);
  });

  it('when a wrong token is sent to any spelling then no handler runs either', async () => {
    const reached: string[] = [];
    for (const { method, path } of adminRoutes()) {
      for (const spelling of [path, ...variants(path)]) {
        const before = calls.length;
        const status = await raw(method, spelling, { authorization: 'Bearer not-the-token' });
        if (![403, 404].includes(status) || calls.length !== before) reached.push(`${method} ${spelling} → ${status}`);
      }
    }
    expect(reached).toEqual([]);
  });

  it('when the right token is sent then only the exact spelling is served (the router is strict and case-sensitive)', async () => {
    const routed: string[] = [];
    for (const { method, path } of adminRoutes()) {
      const exact = await raw(method, path, { authorization: `Bearer ${ADMIN_TOKEN}` });
      expect(exact, `${method} ${path}`).toBeLessThan(300);
      for (const spelling of variants(path)) {
        const before = calls.length;
        const status = await raw(method, spelling, { authorization: `Bearer ${ADMIN_TOKEN}` });
        // 404 (not routed) or 400 (a `;x` glued to the last parameter fails its validation).
        if (![400, 404].includes(status) || calls.length !== before) routed.push(`${method} ${spelling} → ${status}`);
      }
    }
    expect(routed).toEqual([]);
  });
});

describe('the other routes spelled another way', () => {
  it.each([
    ['GET', '/healthz', 200],
    ['GET', '/readyz', 200],
    ['GET', '/metrics', 200],
    ['POST', '/webhooks/github', 401],
  ])('when %s %s is spelled differently then it is not routed', async (method, path, expected) => {
    expect(await raw(method, path)).toBe(expected);
    for (const spelling of [path.toUpperCase(), `${path}/`, `/${path}`, `/x/..${path}`, `${path};x`, path.replace(/^\/(.)/, (_, c: string) => `/%${c.charCodeAt(0).toString(16)}`)]) {
      expect(await raw(method, spelling), `${method} ${spelling}`).toBe(404);
    }
  });
});

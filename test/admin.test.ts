// The admin API against an in-memory store and queue: auth, validation, the routes'
// effects, and that no response ever carries a secret.
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildConfig } from '../src/config/load.js';
import { environmentId, keyString, type EnvironmentKey } from '../src/environments/naming.js';
import type { EnvironmentEvent, EnvironmentRecord, TeardownInput } from '../src/environments/types.js';
import type { GcFilter } from '../src/gc/types.js';
import { Writable } from 'node:stream';
import Koa from 'koa';
import pino from 'pino';
import { adminRouter, tokenMatches } from '../src/http/admin.js';
import { readinessRouter } from '../src/http/health.js';
import type { ParkedJob, QueueCounts } from '../src/queue/reconcile-queue.js';

const ADMIN_TOKEN = 'admin-token-0123456789abcdef';
const DB_PASSWORD = 'pg-password-Zq8xW2vN';
const VAULT_TOKEN = 'hvs.vault-token-secret-value';
const env = {
  VAULT_TOKEN,
  DATABASE_URL: `postgres://previewd:${DB_PASSWORD}@pg.internal:5432/previewd`,
  GITHUB_WEBHOOK_SECRET: 'webhook-secret-0123456789',
  GITHUB_TOKEN: 'ghp_githubtokensecretvalue',
  PREVIEWD_ADMIN_TOKEN: ADMIN_TOKEN,
};
const config = buildConfig({ repos: [{ name: 'acme/shop' }] }, env);

function record(key: EnvironmentKey, over: Partial<EnvironmentRecord> = {}): EnvironmentRecord {
  const now = new Date('2026-05-01T10:00:00Z');
  return {
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
    status: 'failed',
    observedSha: null,
    // A reconciler bug that leaked a secret into lastError must still not reach a response.
    lastError: `connect to postgres://previewd:${DB_PASSWORD}@db failed; token ${VAULT_TOKEN}`,
    components: { api: 'failed' },
    resources: { database: 'preview_acme_shop_pr_7' },
    githubDeploymentId: 11,
    githubCommentId: 12,
    lastPushAt: now,
    readyAt: null,
    createdAt: now,
    updatedAt: now,
    ...over,
  };
}

const records = new Map<string, EnvironmentRecord>();
const events = new Map<string, EnvironmentEvent[]>();
const enqueued: string[] = [];
const retried: string[] = [];
const gcCalls: { dryRun: boolean; filter: GcFilter }[] = [];
let server: Server;
const readinessLines: string[] = [];
const readinessLog = pino({ level: 'info' }, new Writable({ write: (c, _e, done) => (readinessLines.push(String(c)), done()) }));
let base: string;

const store = {
  async list(filter?: { repo?: string; status?: string }) {
    return [...records.values()].filter((r) => (!filter?.repo || r.key.repo === filter.repo) && (!filter?.status || r.status === filter.status));
  },
  async get(key: EnvironmentKey) {
    return records.get(keyString(key)) ?? null;
  },
  async listEvents(key: EnvironmentKey) {
    return events.get(keyString(key)) ?? [];
  },
  async requestReconcile(key: EnvironmentKey) {
    const r = records.get(keyString(key));
    if (!r) return null;
    r.desiredGeneration += 1;
    return r.desiredGeneration;
  },
  async recordTeardown(key: EnvironmentKey, input: TeardownInput) {
    const r = records.get(keyString(key))!;
    if (input.expectedGeneration !== r.desiredGeneration) return { accepted: false, generation: r.desiredGeneration };
    Object.assign(r, { desiredPresent: false, desiredReason: input.reason });
    r.desiredGeneration += 1;
    return { accepted: true, generation: r.desiredGeneration };
  },
  async appendEvent() {},
};
const parked: ParkedJob[] = [
  { jobId: 'reconcile:acme/shop#7', key: { repo: 'acme/shop', pr: 7 }, reason: 'opened', lastError: 'UserError: bad template', attemptsMade: 1, failedAt: new Date() },
];
const queue = {
  async enqueue(key: EnvironmentKey) {
    enqueued.push(keyString(key));
  },
  async counts(): Promise<QueueCounts> {
    return { waiting: 2, active: 1, delayed: 0, parked: parked.length, completed: 5, oldestWaitingAgeMs: 0 };
  },
  async listParked() {
    return parked;
  },
  async retryParked(id: string) {
    if (!parked.some((p) => p.jobId === id)) return false;
    retried.push(id);
    return true;
  },
};

beforeAll(async () => {
  records.set('acme/shop#7', record({ repo: 'acme/shop', pr: 7 }));
  records.set('acme/shop#8', record({ repo: 'acme/shop', pr: 8 }, { status: 'ready', lastError: null }));
  events.set('acme/shop#7', [{ id: 1, at: new Date(), type: 'step-failed', message: `register failed (password ${DB_PASSWORD})`, data: {} }]);
  const checks = [
    { name: 'postgres', check: async () => undefined },
    { name: 'vault', check: () => Promise.reject(new Error(`connect failed to https://u:${DB_PASSWORD}@vault:8200`)) },
    { name: 'nomad', check: () => new Promise(() => undefined) },
  ];
  const app = new Koa();
  for (const router of [
      adminRouter({
        readiness: checks,
        config,
        store,
        queue,
        runGc: async (options) => {
          gcCalls.push(options);
          return { plan: { actions: [], skipped: [{ subject: 'acme/shop', reason: `token ${VAULT_TOKEN}` }] }, done: [], failed: [] };
        },
      }),
      readinessRouter(checks, { timeoutMs: 100, log: readinessLog }),
  ]) {
    app.use(router.routes());
    app.use(router.allowedMethods());
  }
  server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
const call = async (method: string, path: string, headers: Record<string, string> = auth) => {
  const res = await fetch(`${base}${path}`, { method, headers });
  const text = await res.text();
  return { status: res.status, text, json: text ? JSON.parse(text) : null };
};
const SECRETS = [ADMIN_TOKEN, DB_PASSWORD, VAULT_TOKEN, env.GITHUB_TOKEN, env.GITHUB_WEBHOOK_SECRET];
const expectNoSecret = (text: string) => {
  for (const secret of SECRETS) expect(text).not.toContain(secret);
};

describe('admin API auth', () => {
  it('when no token is sent then every admin route answers 401 with a Bearer challenge', async () => {
    for (const [method, path] of [
      ['GET', '/admin/environments'],
      ['GET', '/admin/environments/acme/shop/7'],
      ['POST', '/admin/environments/acme/shop/7/teardown'],
      ['POST', '/admin/gc'],
      ['GET', '/admin/queue'],
    ] as const) {
      const res = await fetch(`${base}${path}`, { method });
      expect(res.status, `${method} ${path}`).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    }
    expect(records.get('acme/shop#7')!.desiredPresent).toBe(true);
  });

  it('when a wrong token (or a prefix of the right one) is sent then the answer is 403 and nothing changes', async () => {
    for (const token of ['wrong-token-0123456789', ADMIN_TOKEN.slice(0, -1), `${ADMIN_TOKEN}x`]) {
      const res = await call('POST', '/admin/environments/acme/shop/7/teardown', { authorization: `Bearer ${token}` });
      expect(res.status).toBe(403);
    }
    expect(records.get('acme/shop#7')!.desiredPresent).toBe(true);
    expect(enqueued).toEqual([]);
  });

  it('when tokens are compared then only the exact token matches', () => {
    expect(tokenMatches(ADMIN_TOKEN, ADMIN_TOKEN)).toBe(true);
    expect(tokenMatches('', ADMIN_TOKEN)).toBe(false);
    expect(tokenMatches(ADMIN_TOKEN.toUpperCase(), ADMIN_TOKEN)).toBe(false);
  });
});

describe('admin API validation', () => {
  it.each([
    ['GET', '/admin/environments?status=exploded'],
    ['GET', '/admin/environments?repo=not-a-repo'],
    ['GET', '/admin/environments/acme/shop/0'],
    ['GET', '/admin/environments/acme/shop/12abc'],
    ['GET', "/admin/environments/acme/sh'op;drop/7"],
    ['POST', '/admin/gc?dryRun=maybe'],
    ['POST', '/admin/gc?olderThan=yesterday'],
    ['POST', '/admin/queue/parked/%00evil/retry'],
    // Array and unknown parameters are refused, not ignored (ignoring status[] listed everything).
    ['GET', '/admin/environments?status[]=failed'],
    ['GET', '/admin/environments?status=failed&status=ready'],
    ['GET', '/admin/environments?repo[]=acme/shop'],
    ['GET', '/admin/environments?stauts=failed'],
    ['POST', '/admin/gc?dryRun[]=false'],
    ['POST', '/admin/gc?dryRun=false&dryRun=true'],
    ['POST', '/admin/gc?repo=acme/shop&repo=acme/other'],
    ['GET', '/admin/environments/acme/shop/7?events[]=all'],
    ['POST', '/admin/environments/acme/shop/7/teardown?force=true'],
    ['GET', '/admin/queue?limit[]=5'],
  ])('when %s %s has an invalid parameter then the answer is 400 naming the field', async (method, path) => {
    const res = await call(method, path);
    expect(res.status).toBe(400);
    expect(res.json.problems.length).toBeGreaterThan(0);
  });
});

describe('admin API routes', () => {
  it('when environments are listed with a status filter then only those come back, without secrets', async () => {
    const res = await call('GET', '/admin/environments?status=failed');
    expect(res.status).toBe(200);
    expect(res.json.environments.map((e: { pr: number }) => e.pr)).toEqual([7]);
    expectNoSecret(res.text);
  });

  it('when one environment is read then it has resources, events and last error, scrubbed', async () => {
    const res = await call('GET', '/admin/environments/acme/shop/7');
    expect(res.status).toBe(200);
    expect(res.json.resources).toEqual({ database: 'preview_acme_shop_pr_7' });
    expect(res.json.events).toHaveLength(1);
    expect(res.json.lastError).toContain('[redacted]');
    expectNoSecret(res.text);
    expect((await call('GET', '/admin/environments/acme/shop/999')).status).toBe(404);
  });

  it('when a redeploy is asked then the generation moves and the PR is enqueued', async () => {
    const before = records.get('acme/shop#8')!.desiredGeneration;
    const res = await call('POST', '/admin/environments/acme/shop/8/redeploy');
    expect(res.status).toBe(202);
    expect(records.get('acme/shop#8')!.desiredGeneration).toBe(before + 1);
    expect(enqueued).toContain('acme/shop#8');
  });

  it('when a teardown is asked then desired becomes absent and the PR is enqueued', async () => {
    const res = await call('POST', '/admin/environments/acme/shop/7/teardown');
    expect(res.status).toBe(202);
    expect(records.get('acme/shop#7')!.desiredPresent).toBe(false);
    expect(records.get('acme/shop#7')!.desiredReason).toBe('admin: teardown');
    expect(enqueued).toContain('acme/shop#7');
  });

  it('when GC is posted without dryRun then it is a dry run; dryRun=false applies with the filter', async () => {
    gcCalls.length = 0;
    const dry = await call('POST', '/admin/gc');
    expect(dry.status).toBe(200);
    expect(dry.json.dryRun).toBe(true);
    expectNoSecret(dry.text);
    await call('POST', '/admin/gc?dryRun=false&repo=acme/shop&olderThan=3d');
    expect(gcCalls).toEqual([
      { dryRun: true, filter: { repo: undefined, pr: undefined, olderThanMs: undefined } },
      { dryRun: false, filter: { repo: 'acme/shop', pr: undefined, olderThanMs: 3 * 86_400_000 } },
    ]);
  });

  it('when the queue is read and a parked job retried then counts, parked work and the retry come through', async () => {
    const res = await call('GET', '/admin/queue');
    expect(res.json.counts.parked).toBe(1);
    expect(res.json.parked[0].lastError).toBe('UserError: bad template');
    const retry = await call('POST', `/admin/queue/parked/${encodeURIComponent('reconcile:acme/shop#7')}/retry`);
    expect(retry.status).toBe(202);
    expect(retried).toEqual(['reconcile:acme/shop#7']);
    expect((await call('POST', '/admin/queue/parked/nope/retry')).status).toBe(404);
  });
});

describe('readiness', () => {
  it('when a dependency fails or hangs then /readyz is 503, lists each check, and shows no credentials', async () => {
    const res = await call('GET', '/readyz', {});
    expect(res.status).toBe(503);
    const byName = Object.fromEntries(res.json.checks.map((c: { name: string; ok: boolean }) => [c.name, c.ok]));
    expect(byName).toEqual({ postgres: true, vault: false, nomad: false });
    expectNoSecret(res.text);
    // Unauthenticated: which system fails, never the upstream's words (hosts, addresses).
    expect(res.text).not.toMatch(/vault:8200|connect failed|no answer within/);
  });

  it('when an operator reads /admin/readiness then each failing check has its reason, scrubbed', async () => {
    const res = await call('GET', '/admin/readiness');
    expect(res.status).toBe(200);
    const vault = res.json.checks.find((c: { name: string }) => c.name === 'vault');
    expect(vault).toMatchObject({ ok: false });
    expect(vault.error).toContain('connect failed');
    expectNoSecret(res.text);
    expect((await call('GET', '/admin/readiness', {})).status).toBe(401);
  }, 10_000);

  it('when a check keeps failing then its reason goes to the log once, not on every probe', async () => {
    await call('GET', '/readyz', {});
    await call('GET', '/readyz', {});
    // Three probes in this file so far: one line per failing check, with its (scrubbed) reason.
    const vault = readinessLines.filter((l) => l.includes('readiness check failing') && l.includes('"check":"vault"'));
    expect(vault).toHaveLength(1);
    expect(vault[0]).toContain('connect failed');
    expectNoSecret(readinessLines.join('\n'));
  });
});

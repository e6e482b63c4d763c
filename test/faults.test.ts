// Fault injection: each external system down, answering errors, or slow while a PR is
// provisioned by the running daemon. Expected every time: the work is retried, the
// environment is `degraded` with a reason naming the system (store, admin API, and the
// PR comment while GitHub is up), another PR keeps being served where the failing
// system is not shared, everything converges to `ready` once the system is back, and
// a GC dry run afterwards finds nothing to remove.
// Two deliberate exceptions, by design: GitHub failing never stops provisioning (the
// environment is ready and the report is retried; the admin detail shows why), and a
// slow Postgres has no client timeout to trip, so it only makes that PR later. Redis
// is shared by every PR: it is shown by the intake answering a clear 503 meanwhile.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConsulClient } from '../src/consul/client.js';
import { startDaemon, type Daemon } from '../src/daemon.js';
import type { Deps } from '../src/deps.js';
import type { EnvironmentNames } from '../src/environments/naming.js';
import { sweepGc } from '../src/gc/sweep.js';
import { createGitHubClient } from '../src/github/client.js';
import { createNomadClient } from '../src/nomad/client.js';
import { createVaultClient } from '../src/vault/client.js';
import { sendPullRequestEvent } from '../src/sandbox/emulators/webhook-sender.js';
import { closedPort, withDatabaseFaults, type FaultyDatabases } from './helpers/faults-databases.js';
import { randomSha, type World } from '../src/sandbox/world.js';
import { startWorld } from './support/pg.js';
import { waitFor } from './support/wait.js';

/** Client timeout of the daemon under test: "slow" means slower than this. */
const CLIENT_TIMEOUT_MS = 600;
const SLOW_MS = 1_000;
const QUEUE = { backoff: { baseMs: 50, maxMs: 250, jitter: 0.2 }, attempts: 60, lockDurationMs: 2_000, stalledIntervalMs: 1_000 };

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');


type Shared = 'per-pr' | 'shared';
interface FaultCase {
  name: string;
  /** Text the recorded reason must contain. */
  reason: RegExp;
  /** per-pr: the fault hits PR A only, so PR B provisions meanwhile; shared: it hits every PR. */
  scope: Shared;
  /** What /readyz reports as failing during a shared outage (when its check sees it). */
  readyz?: string;
  breaks(a: EnvironmentNames): void | Promise<void>;
  heals(): void | Promise<void>;
}

let world: World;
let daemon: Daemon;
let deps: Deps;
let pg: FaultyDatabases;
let nextPr = 11;

beforeAll(async () => {
  // Every case leaves its PRs ready; keep them all under the repo's cap, or the GC plans to trim.
  world = await startWorld({ repos: [{ maxEnvironments: 200 }] });
  pg = await withDatabaseFaults(world.deps.databases, {
    adminUrl: world.config.env.DATABASE_URL,
    instance: world.config.instance,
    loginGroup: world.config.database.loginGroup,
    log: world.deps.log,
  });
  // The world's clients, but with a short timeout so that "slow" turns into a timeout quickly.
  deps = {
    ...world.deps,
    nomad: createNomadClient({ address: world.nomad.url, namespace: world.config.env.NOMAD_NAMESPACE, timeoutMs: CLIENT_TIMEOUT_MS }),
    consul: createConsulClient({ address: world.consul.url, token: world.secrets.consulToken, agentAddress: world.config.consul.agentAddress, timeoutMs: CLIENT_TIMEOUT_MS }),
    vault: createVaultClient({
      address: world.vault.url,
      token: world.secrets.vaultToken,
      kvMount: world.config.vault.kvMount,
      jwtMount: world.config.vault.jwtMount,
      timeoutMs: CLIENT_TIMEOUT_MS,
    }),
    github: createGitHubClient({ apiUrl: world.github.url, auth: { token: world.secrets.githubToken }, userAgent: 'previewd-test', timeoutMs: CLIENT_TIMEOUT_MS }),
    databases: pg.databases,
  };
  daemon = await startDaemon(deps, { port: 0, host: '127.0.0.1', redisPrefix: world.redisPrefix, gc: false, queue: QUEUE });
}, 30_000);

afterAll(async () => {
  await daemon?.stop({ graceMs: 2_000 });
  await pg?.close();
  await world?.cleanup();
}, 30_000);

const repo = () => world.repos[0]!;
const record = (pr: number) => world.deps.store.get(world.key(pr));
const ourComment = (pr: number) => world.github.comments(repo(), pr).find((c) => c.body.includes(world.names(pr).commentMarker));

/** The head SHA last delivered for each PR. */
const heads = new Map<number, string>();

async function openViaWebhook(url: string, pr: number): Promise<number> {
  const sha = randomSha();
  heads.set(pr, sha);
  world.github.openPull(repo(), { number: pr, headSha: sha });
  const res = await sendPullRequestEvent(`${url}/webhooks/github`, world.secrets.webhookSecret, { action: 'opened', repo: repo(), number: pr, headSha: sha });
  return res.status;
}

/** A push to an open PR (synchronize), as GitHub delivers it. */
async function pushViaWebhook(url: string, pr: number): Promise<number> {
  const sha = randomSha();
  const before = heads.get(pr)!;
  heads.set(pr, sha);
  world.github.updatePull(repo(), pr, { headSha: sha });
  const res = await sendPullRequestEvent(`${url}/webhooks/github`, world.secrets.webhookSecret, { action: 'synchronize', repo: repo(), number: pr, headSha: sha, before });
  return res.status;
}

async function admin(url: string, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${world.secrets.adminToken}` } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const readyRecord = (pr: number) => async () => {
  const r = await record(pr);
  return r?.status === 'ready' && r.observedSha === r.desiredSha ? r : null;
};

/** What a PR's record, events and the queue looked like, for a failure message. */
async function whereIs(pr: number, queue = daemon.queue): Promise<string> {
  const r = await record(pr);
  const events = await world.deps.store.listEvents(world.key(pr), 8);
  return JSON.stringify({ status: r?.status, lastError: r?.lastError, events: events.map((e) => `${e.type}: ${e.message}`), queue: await queue.counts() });
}

async function waitReady(pr: number, what: string, queue = daemon.queue, timeoutMs = 20_000) {
  try {
    return await waitFor(what, readyRecord(pr), timeoutMs);
  } catch (err) {
    throw new Error(`${(err as Error).message}; PR ${pr}: ${await whereIs(pr, queue)}`);
  }
}

async function expectNothingLeaked(): Promise<void> {
  const gc = await sweepGc(world.deps, { dryRun: true, requestTeardown: async () => undefined });
  expect(gc.plan.actions.map((x) => JSON.stringify(x))).toEqual([]);
}

// Paths of one PR only (its jobs, services, secret, policy, role all carry its env ID).
const onlyPr = (a: EnvironmentNames) => new RegExp(`${escape(a.id)}(?![0-9])`);
const nomadJobsOf = (a: EnvironmentNames) => new RegExp(`^/v1/job/${escape(a.id)}-`);

const cases: FaultCase[] = [
  {
    name: 'Nomad is down',
    reason: /nomad/i,
    scope: 'shared',
    readyz: 'nomad',
    breaks: () => world.nomad.down(),
    heals: () => world.nomad.up(),
  },
  {
    name: 'Nomad answers 500 for the PR’s jobs',
    reason: /nomad .*500/i,
    scope: 'per-pr',
    breaks: (a) => void world.nomad.faults.failures.push({ path: nomadJobsOf(a), status: 500, body: 'rpc error: No cluster leader', times: 1_000 }),
    heals: () => void (world.nomad.faults.failures.length = 0),
  },
  {
    name: 'Nomad is slow for the PR’s jobs',
    reason: /nomad/i,
    scope: 'per-pr',
    breaks: (a) => void world.nomad.faults.routeLatency.push({ path: nomadJobsOf(a), ms: SLOW_MS }),
    heals: () => void (world.nomad.faults.routeLatency.length = 0),
  },
  {
    name: 'Consul is down',
    reason: /consul/i,
    scope: 'shared',
    readyz: 'consul',
    breaks: () => world.consul.down(),
    heals: () => world.consul.up(),
  },
  {
    name: 'Consul answers 500 for the PR’s services',
    reason: /consul .*500/i,
    scope: 'per-pr',
    breaks: (a) => void world.consul.faults.failures.push({ path: onlyPr(a), status: 500, body: 'rpc error making call: i/o timeout', times: 1_000 }),
    heals: () => void (world.consul.faults.failures.length = 0),
  },
  {
    name: 'Consul is slow for the PR’s services',
    reason: /consul/i,
    scope: 'per-pr',
    breaks: (a) => void world.consul.faults.routeLatency.push({ path: onlyPr(a), ms: SLOW_MS }),
    heals: () => void (world.consul.faults.routeLatency.length = 0),
  },
  {
    name: 'Vault is down',
    reason: /vault/i,
    scope: 'shared',
    readyz: 'vault',
    breaks: () => world.vault.down(),
    heals: () => world.vault.up(),
  },
  {
    name: 'Vault answers 503 for the PR’s paths',
    reason: /vault .*503/i,
    scope: 'per-pr',
    breaks: (a) => void world.vault.faults.failures.push({ path: onlyPr(a), status: 503, body: { errors: ['Vault is sealed'] }, times: 1_000 }),
    heals: () => void (world.vault.faults.failures.length = 0),
  },
  {
    name: 'Vault is slow for the PR’s paths',
    reason: /vault/i,
    scope: 'per-pr',
    breaks: (a) => void world.vault.faults.routeLatency.push({ path: onlyPr(a), ms: SLOW_MS }),
    heals: () => void (world.vault.faults.routeLatency.length = 0),
  },
  {
    name: 'Postgres is down',
    reason: /postgres unavailable/i,
    scope: 'shared',
    readyz: 'postgres',
    breaks: () => void (pg.faults.down = true),
    heals: () => void (pg.faults.down = false),
  },
  {
    name: 'Postgres refuses the PR’s database (57P03)',
    reason: /postgres unavailable.*57P03/i,
    scope: 'per-pr',
    breaks: (a) => void pg.faults.failures.push({ name: a.database, code: '57P03', message: 'the database system is starting up', times: 1_000 }),
    heals: () => void (pg.faults.failures.length = 0),
  },
];

describe('fault injection: a system fails while a PR is provisioned', () => {
  it.each(cases)('when $name then the PR is degraded naming it, others are served, and it converges once back', async (c) => {
    const a = nextPr++;
    const b = nextPr++;
    await c.breaks(world.names(a));
    try {
      expect(await openViaWebhook(daemon.url, a)).toBe(202);

      const degraded = await waitFor('PR A degraded', async () => {
        const r = await record(a);
        return r?.status === 'degraded' && r.lastError ? r : null;
      });
      expect(degraded.lastError).toMatch(c.reason);
      const detail = await admin(daemon.url, `/admin/environments/${repo()}/${a}`);
      expect(detail.status).toBe(200);
      expect(detail.body).toMatchObject({ status: 'degraded' });
      expect(String(detail.body.lastError)).toMatch(c.reason);
      // GitHub is up: the PR says what is being retried.
      const comment = await waitFor('the degraded comment', async () => {
        const body = ourComment(a)?.body;
        return body?.includes('degraded') ? body : null;
      });
      expect(comment).toMatch(c.reason);
      expect(world.github.deployments(repo()).some((d) => d.environment === world.names(a).githubEnvironment && d.statuses.at(-1)?.state === 'failure')).toBe(false);

      if (c.scope === 'per-pr') {
        // Another PR provisions meanwhile; A is still not ready.
        expect(await openViaWebhook(daemon.url, b)).toBe(202);
        await waitReady(b, 'PR B ready');
        expect((await record(a))?.status).not.toBe('ready');
      } else {
        // Every PR needs this system: the daemon stays up, the intake still records work,
        // and readiness names the system.
        expect((await fetch(`${daemon.url}/healthz`)).status).toBe(200);
        const readyz = await fetch(`${daemon.url}/readyz`);
        expect(readyz.status).toBe(503);
        const checks = ((await readyz.json()) as { checks: { name: string; ok: boolean }[] }).checks;
        expect(checks.filter((x) => !x.ok).map((x) => x.name)).toContain(c.readyz);
        expect(await pushViaWebhook(daemon.url, a)).toBe(202);
      }
    } finally {
      await c.heals();
    }

    const readyA = await waitReady(a, 'PR A ready after the system is back');
    expect(readyA.lastError).toBeNull();
    if (c.scope === 'shared') expect(readyA.observedSha).toBe(heads.get(a));
    else await waitReady(b, 'PR B ready');
    const comment = await waitFor('the ready comment', async () => {
      const body = ourComment(a)?.body;
      return body?.includes('ready') && !body.includes('degraded') ? body : null;
    });
    expect(comment).not.toMatch(/Retrying after/);
    expect(world.github.comments(repo(), a).filter((x) => x.body.includes(world.names(a).commentMarker))).toHaveLength(1);
    const events = await world.deps.store.listEvents(world.key(a), 200);
    expect(events.some((e) => e.type === 'step-failed' && c.reason.test(e.message))).toBe(true);
    await expectNothingLeaked();
  });

  it('when Postgres is slow for a PR’s database then it is provisioned, just later, and the other PR is not held up', async () => {
    const a = nextPr++;
    const b = nextPr++;
    pg.faults.latency.set(world.names(a).database, 400);
    try {
      const started = Date.now();
      expect(await openViaWebhook(daemon.url, a)).toBe(202);
      expect(await openViaWebhook(daemon.url, b)).toBe(202);
      await waitReady(b, 'PR B ready');
      const bReadyAfter = Date.now() - started;
      await waitReady(a, 'PR A ready');
      const aReadyAfter = Date.now() - started;
      expect(aReadyAfter).toBeGreaterThan(800);
      expect(aReadyAfter).toBeGreaterThanOrEqual(bReadyAfter);
    } finally {
      pg.faults.latency.clear();
    }
    await expectNothingLeaked();
  });
});

describe('fault injection: GitHub fails while a PR is provisioned', () => {
  const githubCases = [
    { name: 'GitHub is down', breaks: (_pr: number) => world.github.down(), heals: () => world.github.up() },
    {
      name: 'GitHub answers 502',
      breaks: (_pr: number) => void world.github.faults.failures.push({ path: /^\/repos\//, status: 502, body: { message: 'Server Error' }, times: 1_000 }),
      heals: () => void (world.github.faults.failures.length = 0),
    },
    {
      // Slow where it hurts most: the PR's comment and the deployments (every call would only repeat the same timeouts).
      name: 'GitHub is slow',
      breaks: (pr: number) =>
        void world.github.faults.routeLatency.push(
          { path: `/repos/${repo()}/issues/${pr}/comments`, ms: SLOW_MS },
          { path: `/repos/${repo()}/deployments`, ms: SLOW_MS },
        ),
      heals: () => void (world.github.faults.routeLatency.length = 0),
    },
  ];

  it.each(githubCases)('when $name then the environment is still provisioned, the report is retried and lands once it is back', async (c) => {
    const a = nextPr++;
    const names = world.names(a);
    await c.breaks(a);
    try {
      // The webhook comes from GitHub's side; the intake needs nothing from GitHub's API.
      expect(await openViaWebhook(daemon.url, a)).toBe(202);
      // GitHub only hears about the environment: it is served regardless.
      await waitReady(a, 'PR ready without GitHub');
      const detail = await waitFor('the report failure in the admin detail', async () => {
        const d = await admin(daemon.url, `/admin/environments/${repo()}/${a}`);
        const events = d.body.events as { type: string; message: string }[];
        return events.some((e) => e.type === 'report-failed') ? d : null;
      });
      expect(detail.body).toMatchObject({ status: 'ready' });
      expect(String((detail.body as { lastError?: unknown }).lastError)).toMatch(/GitHub not up to date/);
      const failed = (detail.body.events as { type: string; message: string }[]).find((e) => e.type === 'report-failed')!;
      expect(failed.message).toMatch(/GitHub not up to date/);
      expect(ourComment(a)).toBeUndefined();
    } finally {
      await c.heals();
    }
    const comment = await waitFor('the ready comment', async () => ourComment(a)?.body, 10_000);
    expect(comment).toContain(names.url('frontend'));
    const deployments = world.github.deployments(repo()).filter((d) => d.environment === names.githubEnvironment);
    expect(deployments).toHaveLength(1);
    await waitFor('the success deployment status', async () => deployments[0]!.statuses.at(-1)?.state === 'success' || (world.github.deployments(repo()).find((d) => d.id === deployments[0]!.id)?.statuses.at(-1)?.state === 'success'));
    expect(world.github.comments(repo(), a).filter((x) => x.body.includes(names.commentMarker))).toHaveLength(1);
    await expectNothingLeaked();
  });
});

describe('fault injection: Redis (the queue and delivery dedupe) fails', () => {
  let dir: string;
  let port: number;
  let redisDaemon: Daemon | null = null;
  const pidOf = () => Number(readFileSync(join(dir, 'redis.pid'), 'utf8').trim());
  const startRedis = () =>
    execFileSync('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'yes', '--pidfile', join(dir, 'redis.pid'), '--dir', dir]);
  const redisUp = async () => waitFor('redis up', async () => spawnSync('redis-cli', ['-p', String(port), 'ping']).stdout?.toString().trim() === 'PONG', 5_000);
  // A crash, not a polite shutdown: no chance to tell the clients anything.
  const stopRedis = async () => {
    const pid = pidOf();
    process.kill(pid, 'SIGKILL');
    await waitFor('redis gone', async () => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    }, 5_000);
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'previewd-faults-redis-'));
    port = await closedPort();
    startRedis();
    await redisUp();
    const redisDeps: Deps = { ...deps, config: { ...deps.config, env: { ...deps.config.env, REDIS_URL: `redis://127.0.0.1:${port}` } } };
    redisDaemon = await startDaemon(redisDeps, { port: 0, host: '127.0.0.1', gc: false, queue: QUEUE });
  }, 20_000);

  afterAll(async () => {
    await redisDaemon?.stop({ graceMs: 2_000 });
    try {
      process.kill(pidOf(), 'SIGTERM');
    } catch {
      // already gone
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('when Redis is down then the daemon stays up, the intake answers a clear 503, and a redelivery once it is back is provisioned', async () => {
    const url = redisDaemon!.url;
    const pr = nextPr++;
    await stopRedis();
    const sha = randomSha();
    world.github.openPull(repo(), { number: pr, headSha: sha });
    const event = { action: 'opened' as const, repo: repo(), number: pr, headSha: sha };
    const refused = await sendPullRequestEvent(`${url}/webhooks/github`, world.secrets.webhookSecret, event);
    expect(refused.status).toBe(503);
    expect(refused.body).toContain('redeliver it later');
    expect(refused.withinBudget).toBe(false);
    expect(refused.elapsedMs).toBeLessThan(6_000);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);

    startRedis();
    await redisUp();
    // GitHub redelivers the same delivery; it was not marked seen, so it is taken now.
    const accepted = await sendPullRequestEvent(`${url}/webhooks/github`, world.secrets.webhookSecret, event, { delivery: refused.delivery });
    expect(accepted.status).toBe(202);
    await waitReady(pr, 'PR ready after Redis is back', redisDaemon!.queue);
    await expectNothingLeaked();
  }, 30_000);

  it('when Redis stalls briefly then the intake answers late but within GitHub’s budget and the PR is provisioned', async () => {
    const url = redisDaemon!.url;
    const pr = nextPr++;
    const pid = pidOf();
    process.kill(pid, 'SIGSTOP');
    const resume = setTimeout(() => process.kill(pid, 'SIGCONT'), 700);
    try {
      const started = Date.now();
      expect(await openViaWebhook(url, pr)).toBe(202);
      expect(Date.now() - started).toBeGreaterThanOrEqual(500);
    } finally {
      clearTimeout(resume);
      process.kill(pid, 'SIGCONT');
    }
    await waitReady(pr, 'PR ready after the stall', redisDaemon!.queue);
    await expectNothingLeaked();
  }, 30_000);
});

describe('fault injection: what left previewd meanwhile', () => {
  it('when the logs, comments and admin answers of every faulted PR are scanned then no secret appears', async () => {
    const prs = [...heads.keys()];
    expect(prs.length).toBeGreaterThan(10);
    const details = await Promise.all(prs.map((pr) => admin(daemon.url, `/admin/environments/${repo()}/${pr}`)));
    const haystack = [
      ...world.logLines,
      ...prs.flatMap((pr) => world.github.comments(repo(), pr).map((c) => c.body)),
      ...world.github.deployments(repo()).flatMap((d) => d.statuses.map((s) => s.description)),
      JSON.stringify(details.map((d) => d.body)),
    ].join('\n');
    expect(haystack).toContain('degraded');
    const passwords = prs
      .map((pr) => world.vault.secret(world.names(pr).vaultPath)?.data?.DATABASE_URL)
      .filter((u): u is string => typeof u === 'string')
      .map((u) => decodeURIComponent(new URL(u).password));
    expect(passwords.length).toBeGreaterThan(10);
    for (const secret of [...passwords, world.secrets.vaultToken, world.secrets.webhookSecret, world.secrets.githubToken, world.secrets.adminToken, world.secrets.consulToken]) {
      expect(haystack).not.toContain(secret);
    }
  });
});

// Webhook intake (issue 14 §4): requests/s and p50/p99 of signed pull_request webhooks
// at the highest rate 10 connections reach, then at a fixed 200 requests/s, for the
// intake as it is and for a baseline commit of it (default: the one before issue 14
// §4's change) in the same run, interleaved (baseline, new, new, baseline) so a drift
// of the machine hits both alike; beside them the bare no-op route of the same koa app
// and the router with in-memory dedupe/store/queue. Each server runs in a child process
// (this file with --serve <tree>) so the load generator does not share its event loop;
// it uses that tree's webhook router, Postgres store (own database) and BullMQ queue on
// Redis (own prefix), with the worker not started. Every request has its own delivery
// id and PR number, so dedupe and coalescing never short-circuit the work.
//
//   node --import tsx bench/intake.ts [--quick] [--no-append] [--baseline <git ref>]
//
// Targets: p99 < 25 ms at 200 req/s, ≥ 1000 req/s at the highest rate, with every
// delivery durably recorded before its 202. Figures from a machine that is otherwise
// loaded say nothing: a run that starts with a 1-minute load average above 1.5 prints
// its figures marked unpublishable and does not append them to RESULTS.md.
import { execFileSync, fork } from 'node:child_process';
import { createHmac, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import autocannon from 'autocannon';
import pg from 'pg';
import { Router } from '@koa/router';
import { Redis } from 'ioredis';
import { buildPullRequestPayload } from '../src/sandbox/emulators/webhook-sender.js';
import { createTestDatabase, localSuperuserServer } from '../src/sandbox/services.js';
import { appendResults, argFlag, argValue, benchLogger, LOCAL_SERVICES, percentile, table } from './report.js';

const REPO = 'acme/shop';
const SECRET = `bench-secret-${randomUUID()}`;
const NOOP_PATH = '/bench/noop';
/** The intake before issue 14 §4 (one group commit at a time, four round trips each). */
const DEFAULT_BASELINE = '2c83d2d';
const MAX_LOAD = 1.5;
const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Serves the webhook router of the tree at `root` (this repository, or a baseline's checkout). */
async function serve(root: string, secret: string): Promise<void> {
  const from = async <T>(path: string): Promise<T> => (await import(pathToFileURL(join(root, path)).href)) as T;
  const { repoSchema } = await from<typeof import('../src/config/schema.js')>('src/config/schema.ts');
  const { createEnvironmentStore } = await from<typeof import('../src/environments/store.js')>('src/environments/store.ts');
  const { createApp } = await from<typeof import('../src/http/app.js')>('src/http/app.ts');
  const { createWebhookRouter } = await from<typeof import('../src/http/webhooks.js')>('src/http/webhooks.ts');
  const { createMetrics } = await from<typeof import('../src/metrics.js')>('src/metrics.ts');
  const { createDeliveryDedupe } = await from<typeof import('../src/queue/deliveries.js')>('src/queue/deliveries.ts');
  const { createReconcileQueue } = await from<typeof import('../src/queue/reconcile-queue.js')>('src/queue/reconcile-queue.ts');
  const { createTestRedis } = await from<typeof import('../src/sandbox/services.js')>('src/sandbox/services.ts');
  const { WEBHOOK_PATH } = await from<typeof import('../src/http/webhooks.js')>('src/http/webhooks.ts');

  const log = benchLogger('info');
  const db = await createTestDatabase(localSuperuserServer(LOCAL_SERVICES.postgresAdminUrl), 'previewd_bench_intake');
  const redis = await createTestRedis(LOCAL_SERVICES.redisUrl);
  const store = createEnvironmentStore({ databaseUrl: db.url, log });
  await store.migrate();
  const queue = createReconcileQueue({ redisUrl: redis.url, prefix: redis.prefix, concurrency: 1, process: async () => undefined, log, metrics: createMetrics() });
  const dedupeRedis = new Redis(redis.url, { maxRetriesPerRequest: 2 });
  const deliveries = createDeliveryDedupe({ redis: dedupeRedis, prefix: redis.prefix });
  // Every dedupe/store/queue call timed, so the fixed-rate p50/p99 can be split by step.
  const timings = new Map<string, number[]>();
  const timed = <T extends object>(label: string, target: T): T =>
    new Proxy(target, {
      get(t, prop, receiver) {
        const value = Reflect.get(t, prop, receiver) as unknown;
        if (typeof value !== 'function') return value;
        return async (...args: unknown[]) => {
          const start = performance.now();
          try {
            return await (value as (...a: unknown[]) => Promise<unknown>).apply(t, args);
          } finally {
            const name = `${label}.${String(prop)}`;
            (timings.get(name) ?? timings.set(name, []).get(name)!).push(performance.now() - start);
          }
        };
      },
    });
  const noop = new Router();
  noop.post(NOOP_PATH, (ctx) => {
    ctx.status = 202;
    ctx.body = { status: 'accepted' };
  });
  const app = createApp({
    log,
    routers: [
      createWebhookRouter({
        secret,
        repos: [repoSchema.parse({ name: REPO })],
        store: timed('store', store),
        queue: timed('queue', queue),
        deliveries: timed('dedupe', deliveries),
        log,
        metrics: createMetrics(),
      }),
      noop,
    ],
  });
  // The same router with in-memory dedupe/store/queue: what the HTTP, HMAC, parsing and
  // logging cost without any I/O (splits the gap to the bare route into CPU and I/O).
  const stubApp = createApp({
    log,
    routers: [
      createWebhookRouter({
        secret,
        repos: [repoSchema.parse({ name: REPO })],
        store: { recordDesired: async () => ({ accepted: true, generation: 1 }), listAwaitingBuild: async () => [] },
        queue: { enqueue: async () => undefined },
        deliveries: { claim: async () => ({ claimed: true, token: 't' }), confirm: async () => undefined, release: async () => undefined } as never,
        log,
        metrics: createMetrics(),
      }),
    ],
  });
  const listen = (a: typeof app) =>
    new Promise<Server>((resolve) => {
      const s = a.listen(0, '127.0.0.1', () => resolve(s));
    });
  const server = await listen(app);
  const stubServer = await listen(stubApp);
  const { port } = server.address() as AddressInfo;
  const stubPort = (stubServer.address() as AddressInfo).port;
  let cpuMark = process.cpuUsage();
  process.on('message', async (msg: { type: string }) => {
    if (msg.type === 'cpu-mark') {
      cpuMark = process.cpuUsage();
      timings.clear();
      process.send!({ type: 'ok' });
    } else if (msg.type === 'cpu') {
      const u = process.cpuUsage(cpuMark);
      const steps = [...timings.entries()].map(([name, ms]) => ({ name, calls: ms.length, p50: percentile(ms, 50), p99: percentile(ms, 99) }));
      process.send!({ type: 'cpu', userMs: u.user / 1000, systemMs: u.system / 1000, rss: process.memoryUsage().rss, rows: (await store.list()).length, steps });
    } else if (msg.type === 'stop') {
      for (const srv of [server, stubServer]) {
        srv.closeAllConnections();
        await new Promise((r) => srv.close(r));
      }
      await queue.close({ graceMs: 100 });
      dedupeRedis.disconnect();
      await store.close();
      await redis.cleanup();
      await db.drop();
      process.send!({ type: 'stopped' });
      process.exit(0);
    }
  });
  process.send!({ type: 'ready', url: `http://127.0.0.1:${port}`, stubUrl: `http://127.0.0.1:${stubPort}`, webhookPath: WEBHOOK_PATH });
}

if (argFlag('serve')) {
  await serve(argValue('serve')!, process.env.BENCH_WEBHOOK_SECRET!);
} else {
  await main();
}

/** Latency of one durable commit on the same server: the part of each delivery no code change removes. */
async function commitLatency(): Promise<{ p50: number; p99: number }> {
  const db = await createTestDatabase(localSuperuserServer(LOCAL_SERVICES.postgresAdminUrl), 'previewd_bench_commit');
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  const times: number[] = [];
  try {
    await client.query('CREATE TABLE t (id serial PRIMARY KEY, v text)');
    for (let i = 0; i < 200; i++) {
      const start = performance.now();
      await client.query('INSERT INTO t (v) VALUES ($1)', [String(i)]);
      times.push(performance.now() - start);
    }
  } finally {
    await client.end();
    await db.drop();
  }
  return { p50: percentile(times, 50), p99: percentile(times, 99) };
}

/** The baseline's src/ and migrations/ at `ref`, beside this repository's node_modules. */
function checkoutBaseline(ref: string): { root: string; commit: string; remove(): void } {
  const commit = execFileSync('git', ['-C', REPO_ROOT, 'rev-parse', '--short', `${ref}^{commit}`], { encoding: 'utf8' }).trim();
  const root = mkdtempSync(join(tmpdir(), 'previewd-bench-baseline-'));
  const archive = execFileSync('git', ['-C', REPO_ROOT, 'archive', commit, 'src', 'migrations', 'package.json'], { maxBuffer: 256 * 1024 ** 2 });
  execFileSync('tar', ['-x', '-C', root], { input: archive });
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(root, 'node_modules'));
  return { root, commit, remove: () => rmSync(root, { recursive: true, force: true }) };
}

type Step = { name: string; calls: number; p50: number; p99: number };
type Cpu = { userMs: number; systemMs: number; steps: Step[]; rss: number; rows: number };

/** One server child: its URLs and a request/answer channel over IPC. */
async function startServer(root: string) {
  const child = fork(fileURLToPath(import.meta.url), ['--serve', root], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, BENCH_WEBHOOK_SECRET: SECRET },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let exited: Error | null = null;
  const waiting = new Set<(err: Error) => void>();
  child.once('exit', (code) => {
    exited = new Error(`server of ${root} exited (${code})`);
    for (const fail of waiting) fail(exited);
  });
  const next = <T>(type: string) =>
    new Promise<T>((resolve, reject) => {
      if (exited) return reject(exited);
      const onMsg = (m: { type: string }) => {
        if (m.type === type) {
          child.off('message', onMsg);
          waiting.delete(reject);
          resolve(m as T);
        }
      };
      waiting.add(reject);
      child.on('message', onMsg);
    });
  const ready = await next<{ url: string; stubUrl: string; webhookPath: string }>('ready');
  return {
    ...ready,
    async mark() {
      child.send({ type: 'cpu-mark' });
      await next('ok');
    },
    async cpu() {
      child.send({ type: 'cpu' });
      return next<Cpu>('cpu');
    },
    async stop() {
      child.send({ type: 'stop' });
      await next('stopped').catch(() => undefined);
    },
  };
}

async function main(): Promise<void> {
  const quick = argFlag('quick');
  const duration = quick ? 5 : 10;
  const connections = 10;
  const loadBefore = loadavg()[0]!;
  const baseline = checkoutBaseline(argValue('baseline') ?? DEFAULT_BASELINE);
  const servers = { baseline: await startServer(baseline.root), new: await startServer(REPO_ROOT) };

  // Signed deliveries, built before the runs so the load generator only picks them.
  const template = JSON.stringify(buildPullRequestPayload({ action: 'opened', repo: REPO, number: 999_999_999, headSha: 'f'.repeat(40) }));
  let pr = 0;
  const nextWebhook = () => {
    pr++;
    const sha = createHmac('sha1', String(pr)).digest('hex');
    const body = template.replaceAll('999999999', String(pr)).replaceAll('f'.repeat(40), sha);
    return {
      method: 'POST' as const,
      path: servers.new.webhookPath,
      body,
      headers: {
        'content-type': 'application/json',
        'user-agent': 'GitHub-Hookshot/bench',
        'x-github-event': 'pull_request',
        'x-github-delivery': randomUUID(),
        'x-hub-signature-256': `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`,
      },
    };
  };
  const pool: ReturnType<typeof nextWebhook>[] = [];
  const poolSize = quick ? 60_000 : 150_000;
  for (let i = 0; i < poolSize; i++) pool.push(nextWebhook());
  let taken = 0;
  const takeWebhook = () => pool[taken++] ?? nextWebhook();
  // The in-memory router keeps nothing, so its run cycles through a few deliveries
  // instead of using up the distinct ones the real runs need.
  let cycled = 0;
  const cycleWebhook = () => pool[cycled++ % 1000]!;
  const noopBody = pool[0]!.body;

  type Run = { name: string; result: autocannon.Result; cpu: Cpu };
  async function run(which: 'baseline' | 'new', name: string, opts: { webhook: boolean; seconds: number; overallRate?: number; stub?: boolean }): Promise<Run> {
    const server = servers[which];
    await server.mark();
    const result = await autocannon({
      url: opts.stub ? server.stubUrl : server.url,
      connections,
      duration: opts.seconds,
      ...(opts.overallRate ? { overallRate: opts.overallRate } : {}),
      requests: [
        opts.webhook
          ? { setupRequest: (req: autocannon.Request) => ({ ...req, ...(opts.stub ? cycleWebhook() : takeWebhook()) }) }
          : { method: 'POST', path: NOOP_PATH, body: noopBody, headers: { 'content-type': 'application/json' } },
      ],
    });
    const cpu = await server.cpu();
    const bad = result.non2xx + result.errors + result.timeouts;
    console.error(`${name}: ${result.requests.average.toFixed(0)} req/s, p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, ${result.requests.total} requests, ${bad} not 2xx/errors`);
    return { name, result, cpu };
  }

  const label = { baseline: `baseline ${baseline.commit}`, new: 'this tree' };
  try {
    for (const which of ['baseline', 'new'] as const) await run(which, `warm-up (${label[which]})`, { webhook: true, seconds: 2 });
    await run('new', 'warm-up (no-op)', { webhook: false, seconds: 1 });
    const noop = await run('new', `bare no-op route, ${connections} connections, max rate`, { webhook: false, seconds: duration });
    const stub = await run('new', 'signed webhook, in-memory dedupe/store/queue, max rate', { webhook: true, seconds: duration, stub: true });
    const noopFixed = await run('new', 'bare no-op route at 200 req/s', { webhook: false, seconds: duration, overallRate: 200 });
    // Interleaved, baseline-new-new-baseline: a machine drifting during the run hits both alike.
    const order = ['baseline', 'new', 'new', 'baseline'] as const;
    const max: Record<'baseline' | 'new', Run[]> = { baseline: [], new: [] };
    const fixed: Record<'baseline' | 'new', Run[]> = { baseline: [], new: [] };
    const inOrder: Run[] = [];
    for (const which of order) {
      const r = await run(which, `signed webhook, ${connections} connections, max rate (${label[which]})`, { webhook: true, seconds: duration });
      max[which].push(r);
      inOrder.push(r);
    }
    for (const which of order) {
      const r = await run(which, `signed webhook at 200 req/s (${label[which]})`, { webhook: true, seconds: duration, overallRate: 200 });
      fixed[which].push(r);
      inOrder.push(r);
    }
    const final = { baseline: await servers.baseline.cpu(), new: await servers.new.cpu() };
    const commit = await commitLatency();
    const loadAfter = loadavg()[0]!;

    const cpuPerRequest = (r: Run) => (r.cpu.userMs + r.cpu.systemMs) / Math.max(1, r.result.requests.total);
    const row = (r: Run) => [
      r.name,
      r.result.requests.average.toFixed(0),
      `${r.result.latency.p50} ms`,
      `${r.result.latency.p99} ms`,
      `${r.result.latency.max} ms`,
      r.result.requests.total,
      r.result.non2xx + r.result.errors + r.result.timeouts,
      `${(((r.cpu.userMs + r.cpu.systemMs) / (r.result.duration * 1000)) * 100).toFixed(0)} %`,
      `${cpuPerRequest(r).toFixed(2)} ms`,
    ];
    const mean = (runs: Run[], f: (r: Run) => number) => runs.reduce((s, r) => s + f(r), 0) / runs.length;
    const rate = (w: 'baseline' | 'new') => mean(max[w], (r) => r.result.requests.average);
    const p99 = (w: 'baseline' | 'new') => Math.max(...fixed[w].map((r) => r.result.latency.p99));
    const quiet = loadBefore <= MAX_LOAD;
    const steps = (w: 'baseline' | 'new') =>
      fixed[w]
        .at(-1)!
        .cpu.steps.map((st) => `${st.name} ${st.p50.toFixed(1)} / ${st.p99.toFixed(1)}`)
        .join('; ');
    const body = [
      quiet
        ? `Load average (1 min) before the run ${loadBefore.toFixed(2)} (≤ ${MAX_LOAD}: publishable), after it ${loadAfter.toFixed(2)} (the run's own load).`
        : `**UNPUBLISHABLE: the 1-minute load average was ${loadBefore.toFixed(2)} before the run (> ${MAX_LOAD}); the machine was busy with other work and these figures say nothing about the intake.**`,
      '',
      table(
        ['run', 'req/s', 'p50', 'p99', 'max', 'requests', 'not 2xx', 'server CPU', 'server CPU/request'],
        [noop, stub, noopFixed, ...inOrder].map(row),
      ),
      '',
      `| figure | ${label.baseline} | this tree | ratio | target |`,
      '| --- | --- | --- | --- | --- |',
      `| requests/s at the highest rate (mean of 2) | ${rate('baseline').toFixed(0)} | ${rate('new').toFixed(0)} | ${(rate('new') / rate('baseline')).toFixed(2)} × | ≥ 1000: ${rate('new') >= 1000 ? 'met' : 'missed'} (${(rate('new') / 1000).toFixed(2)} × target) |`,
      `| p99 at 200 req/s (worse of 2) | ${p99('baseline')} ms | ${p99('new')} ms | ${(p99('new') / Math.max(1, p99('baseline'))).toFixed(2)} × | < 25 ms: ${p99('new') < 25 ? 'met' : 'missed'} (${(p99('new') / 25).toFixed(2)} × target) |`,
      `| server CPU per request at the highest rate | ${mean(max.baseline, cpuPerRequest).toFixed(2)} ms | ${mean(max.new, cpuPerRequest).toFixed(2)} ms | ${(mean(max.new, cpuPerRequest) / mean(max.baseline, cpuPerRequest)).toFixed(2)} × | |`,
      '',
      `Inside the server at 200 req/s, per step of a delivery (ms, p50 / p99): ${label.baseline}: ${steps('baseline')}. This tree: ${steps('new')}.`,
      '',
      `Without I/O (in-memory dedupe/store/queue) the same router does ${stub.result.requests.average.toFixed(0)} req/s at ${cpuPerRequest(stub).toFixed(2)} ms CPU per request; the bare route ${noop.result.requests.average.toFixed(0)} req/s.`,
      '',
      `Floor on this machine: one durable single-row INSERT commit on the same Postgres takes p50 ${commit.p50.toFixed(1)} ms, p99 ${commit.p99.toFixed(1)} ms (200 sequential, fsync=on); ` +
        `the no-op route's own p99 at 200 req/s (above) is the load generator's and the machine's noise.`,
      '',
      `Servers: one koa app per tree in its own child process with the webhook router (HMAC verify, Redis dedupe claim and confirm, Postgres desired-state write, BullMQ enqueue, info logging to /dev/null) and a no-op POST route; ` +
        `load from autocannon ${connections} connections in the parent process on the same machine; every webhook a distinct delivery and PR ` +
        `(${final.baseline.rows} and ${final.new.rows} environment rows at the end, server RSS ${(final.baseline.rss / 1024 ** 2).toFixed(0)} and ${(final.new.rss / 1024 ** 2).toFixed(0)} MB). ` +
        `Server CPU is the child's process.cpuUsage over the run (100 % = one core). Baseline: src/ and migrations/ of ${baseline.commit} (--baseline <ref> to choose another).`,
    ].join('\n');
    console.log(body);
    if (quiet) await appendResults(`Webhook intake${quick ? ' (quick)' : ''}`, `npm run bench -- intake${quick ? ' --quick' : ''}`, body);
    else console.error(`not appended to RESULTS.md: load average ${loadBefore.toFixed(2)} > ${MAX_LOAD} before the run`);
  } finally {
    await Promise.all([servers.baseline.stop(), servers.new.stop()]);
    baseline.remove();
  }
}

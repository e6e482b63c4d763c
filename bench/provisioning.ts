// Provisioning: time from webhook to ready for 1, 10, 50 and 200 PRs opened at once, with
// the emulators at zero API latency and at realistic latency (30 ms per API call on
// every emulator, 2 s for a Nomad allocation to become healthy), in two designs from the
// same run: "old", where a run waiting for a deployment or for routing keeps its worker
// slot (waitConcurrency 0: N PRs take ceil(N/c) waves of one environment's waits), and
// "new", where a waiting run gives its slot back (waitConcurrency, default 256). Targets
// (issue 14 §2, realistic profile, concurrency 4): 50 PRs all ready within 1.5 × t1 and
// 200 within 3 × t1, t1 being one PR alone; daemon CPU per PR no higher than before.
//
// The daemon (startDaemon over buildDeps, queue concurrency from config, GC off) runs in
// a child process (this file with --daemon) so its CPU time and peak RSS are its own;
// the emulators, Postgres and Redis of a test world run in this process. Finally 500
// environment rows are recorded in the store and the daemon's RSS is taken after it
// lists them (see the section text).
//
//   node --import tsx bench/provisioning.ts [--quick] [--sizes 1,10,50,200] [--profiles zero,realistic] [--designs old,new] [--no-append]
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Config } from '../src/config/schema.js';
import { buildDeps } from '../src/cli/compose.js';
import { startDaemon } from '../src/daemon.js';
import { WEBHOOK_PATH } from '../src/http/webhooks.js';
import { buildPullRequestPayload, sendWebhook } from '../src/sandbox/emulators/webhook-sender.js';
import { randomSha, startLocalWorld, type World } from '../src/sandbox/world.js';
import { appendResults, argFlag, argValue, benchLogger, LOCAL_SERVICES, mb, percentile, rssSampler, secs, table } from './report.js';

interface DaemonStats {
  type: 'stats';
  userMs: number;
  systemMs: number;
  peakRss: number;
  rss: number;
  heapUsed: number;
}

async function daemonChild(): Promise<void> {
  const config = JSON.parse(process.env.BENCH_CONFIG!) as Config;
  const deps = buildDeps(config, { log: benchLogger('info') });
  const daemon = await startDaemon(deps, { port: 0, host: '127.0.0.1', gc: false, redisPrefix: process.env.BENCH_REDIS_PREFIX! });
  let sampler = rssSampler(20);
  let cpuMark = process.cpuUsage();
  process.on('message', async (msg: { type: string }) => {
    if (msg.type === 'mark') {
      sampler.stop();
      sampler = rssSampler(20);
      cpuMark = process.cpuUsage();
      process.send!({ type: 'marked' });
    } else if (msg.type === 'stats') {
      global.gc?.();
      const u = process.cpuUsage(cpuMark);
      const m = process.memoryUsage();
      const stats: DaemonStats = { type: 'stats', userMs: u.user / 1000, systemMs: u.system / 1000, peakRss: sampler.peak(), rss: m.rss, heapUsed: m.heapUsed };
      process.send!(stats);
    } else if (msg.type === 'stop') {
      await daemon.stop({ graceMs: 2_000 });
      await deps.close();
      process.send!({ type: 'stopped' });
      process.exit(0);
    }
  });
  process.send!({ type: 'ready', url: daemon.url });
}

interface Daemon {
  url: string;
  request<T>(type: string, reply: string): Promise<T>;
  stop(): Promise<void>;
}

async function spawnDaemon(world: World, config: Config): Promise<Daemon> {
  const child = fork(fileURLToPath(import.meta.url), ['--daemon'], {
    execArgv: ['--import', 'tsx', '--expose-gc'],
    env: { ...process.env, BENCH_CONFIG: JSON.stringify(config), BENCH_REDIS_PREFIX: world.redisPrefix },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let exited: Error | null = null;
  const waiting = new Set<(e: Error) => void>();
  child.once('exit', (code) => {
    exited = new Error(`daemon exited (${code})`);
    for (const fail of waiting) fail(exited);
  });
  const next = <T>(type: string) =>
    new Promise<T>((resolve, reject) => {
      if (exited) return reject(exited);
      const onMsg = (m: { type: string }) => {
        if (m.type !== type) return;
        child.off('message', onMsg);
        waiting.delete(reject);
        resolve(m as T);
      };
      waiting.add(reject);
      child.on('message', onMsg);
    });
  const { url } = await next<{ url: string }>('ready');
  return {
    url,
    request<T>(type: string, reply: string) {
      const answer = next<T>(reply);
      child.send({ type });
      return answer;
    },
    async stop() {
      const done = next('stopped').catch(() => undefined);
      child.send({ type: 'stop' });
      await done;
    },
  };
}

interface Profile {
  id: 'zero' | 'realistic';
  name: string;
  apiLatencyMs: number;
  startDelayMs: number;
  healthyDelayMs: number;
}

/** old: a waiting run keeps its worker slot (waitConcurrency 0); new: the configured default. */
type Design = 'old' | 'new';

interface Outcome {
  profile: string;
  design: Design;
  n: number;
  wallMs: number;
  perPrMs: number[];
  failed: number;
  stats: DaemonStats;
  /** Mean seconds per reconcile run holding a work slot, waiting, in line for a slot (new design only). */
  slots: SlotSeconds | null;
}

type SlotSeconds = Record<'work' | 'wait' | 'queued', number> & { runs: number };

/** The daemon's previewd_reconcile_slot_seconds sums and run count (0s when the design has no slots). */
async function slotTotals(daemon: Daemon): Promise<SlotSeconds> {
  const text = await (await fetch(`${daemon.url}/metrics`)).text();
  const value = (series: string) => Number(new RegExp(`^previewd_reconcile_slot_seconds_${series.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  return { work: value('sum{use="work"}'), wait: value('sum{use="wait"}'), queued: value('sum{use="queued"}'), runs: value('count{use="work"}') };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Opens `prs` at once through signed webhooks and waits until every one is ready (or failed). */
async function openBatch(world: World, daemon: Daemon, profile: Profile, design: Design, prs: number[]): Promise<Outcome> {
  const repo = world.repos[0]!;
  const shas = new Map(prs.map((pr) => [pr, randomSha()]));
  for (const pr of prs) world.github.openPull(repo, { number: pr, headSha: shas.get(pr)! });
  const slotsBefore = await slotTotals(daemon);
  await daemon.request('mark', 'marked');
  const started = performance.now();
  const responses = await Promise.all(
    prs.map((pr) =>
      sendWebhook({
        url: `${daemon.url}${WEBHOOK_PATH}`,
        event: 'pull_request',
        payload: buildPullRequestPayload({ action: 'opened', repo, number: pr, headSha: shas.get(pr)! }),
        secret: world.secrets.webhookSecret,
      }),
    ),
  );
  const refused = responses.filter((r) => r.status !== 202);
  if (refused.length > 0) throw new Error(`webhook refused: ${refused[0]!.status} ${refused[0]!.body.slice(0, 200)}`);
  const doneAt = new Map<number, number>();
  let failed = 0;
  const deadline = started + 1_200_000;
  while (doneAt.size < prs.length && performance.now() < deadline) {
    const now = performance.now();
    for (const record of await world.deps.store.list({ repo })) {
      if (!shas.has(record.key.pr) || doneAt.has(record.key.pr)) continue;
      if (record.status === 'ready' && record.observedSha === shas.get(record.key.pr)) doneAt.set(record.key.pr, now - started);
      else if (record.status === 'failed') {
        doneAt.set(record.key.pr, now - started);
        failed++;
        console.error(`PR ${record.key.pr} failed: ${record.lastError ?? '?'}`);
      }
    }
    await sleep(20);
  }
  const wallMs = Math.max(...doneAt.values());
  const stats = await daemon.request<DaemonStats>('stats', 'stats');
  const slotsAfter = await slotTotals(daemon);
  const runs = slotsAfter.runs - slotsBefore.runs;
  const slots = runs > 0 ? { runs, work: (slotsAfter.work - slotsBefore.work) / runs, wait: (slotsAfter.wait - slotsBefore.wait) / runs, queued: (slotsAfter.queued - slotsBefore.queued) / runs } : null;
  if (doneAt.size < prs.length) throw new Error(`${prs.length - doneAt.size} PRs not ready after 20 min`);
  console.error(`${profile.name}, ${design}, ${prs.length} PRs: ${secs(wallMs)} wall, daemon CPU ${((stats.userMs + stats.systemMs) / 1000).toFixed(2)} s, peak RSS ${mb(stats.peakRss)}`);
  return { profile: profile.name, design, n: prs.length, wallMs, perPrMs: [...doneAt.values()], failed, stats, slots };
}

async function runProfile(
  profile: Profile,
  design: Design,
  sizes: number[],
  strategy: 'WAL_LOG' | 'FILE_COPY',
): Promise<{ outcomes: Outcome[]; concurrency: number; waitConcurrency: number; world?: World; daemon?: Daemon }> {
  const world = await startLocalWorld({
    services: LOCAL_SERVICES,
    repos: [{ maxEnvironments: 1000, database: { strategy } }],
    config: { deployTimeout: '60s' },
    cluster: { startDelayMs: profile.startDelayMs, healthyDelayMs: profile.healthyDelayMs },
  });
  for (const emulator of [world.nomad, world.consul, world.vault, world.github]) emulator.faults.latencyMs = profile.apiLatencyMs;
  const waitConcurrency = design === 'old' ? 0 : world.config.waitConcurrency;
  const daemon = await spawnDaemon(world, { ...world.config, waitConcurrency });
  const outcomes: Outcome[] = [];
  let pr = 1;
  try {
    // One PR first, not counted: module loading, JIT and pool connections of a fresh process.
    await openBatch(world, daemon, { ...profile, name: `${profile.name} (warm-up)` }, design, [pr++]);
    for (const n of sizes) {
      const prs = Array.from({ length: n }, () => pr++);
      outcomes.push(await openBatch(world, daemon, profile, design, prs));
    }
  } catch (err) {
    await daemon.stop();
    await world.cleanup();
    throw err;
  }
  return { outcomes, concurrency: world.config.concurrency, waitConcurrency, world, daemon };
}

/** 500 environment rows recorded in the store while the daemon runs; its RSS after it lists them. */
async function trackedRss(world: World, daemon: Daemon): Promise<{ before: DaemonStats; after: DaemonStats; rows: number }> {
  const before = await daemon.request<DaemonStats>('stats', 'stats');
  const repo = world.repos[0]!;
  const existing = (await world.deps.store.list({ repo })).length;
  const base = 100_000;
  for (let i = 0; i < 500 - existing; i++) {
    await world.deps.store.recordDesired({ repo, pr: base + i }, { present: true, sha: randomSha(), reason: 'opened', prUpdatedAt: new Date() });
  }
  await daemon.request('mark', 'marked');
  // The daemon lists every row at each scrape (environment gauges) and on GET /admin/environments.
  for (let i = 0; i < 5; i++) {
    const metrics = await fetch(`${daemon.url}/metrics`);
    await metrics.text();
    const list = await fetch(`${daemon.url}/admin/environments`, { headers: { authorization: `Bearer ${world.secrets.adminToken}` } });
    if (!list.ok) throw new Error(`admin list: ${list.status}`);
    await list.text();
  }
  const after = await daemon.request<DaemonStats>('stats', 'stats');
  return { before, after, rows: (await world.deps.store.list({ repo })).length };
}

/** Issue 14 §2's targets, realistic profile: N PRs at once all ready within this many × t1. */
const TARGETS: Record<number, number> = { 50: 1.5, 200: 3 };

const PROFILES: Profile[] = [
  { id: 'zero', name: 'zero latency', apiLatencyMs: 0, startDelayMs: 5, healthyDelayMs: 10 },
  { id: 'realistic', name: 'realistic (30 ms/API call, 2 s to healthy)', apiLatencyMs: 30, startDelayMs: 1_000, healthyDelayMs: 1_000 },
];

function listArg(name: string, fallback: string): string[] {
  return (argValue(name) ?? fallback).split(',').filter((v) => v !== '');
}

/** "1.21× (target 1.5×: met)" or "4.02× (target 1.5×: 2.7× over)". */
function againstTarget(ratio: number, target: number | undefined): string {
  if (target === undefined) return `${ratio.toFixed(2)}×`;
  return `${ratio.toFixed(2)}× (target ${target}×: ${ratio <= target ? 'met' : `${(ratio / target).toFixed(1)}× over`})`;
}

async function main(): Promise<void> {
  const quick = argFlag('quick');
  const sizes = [...new Set([1, ...listArg('sizes', quick ? '1,10' : '1,10,50,200').map(Number)])].filter((n) => Number.isInteger(n) && n > 0);
  const profiles = PROFILES.filter((p) => listArg('profiles', 'zero,realistic').includes(p.id));
  const designs = (['old', 'new'] as const).filter((d) => listArg('designs', 'old,new').includes(d));
  // The world's template is a few kB: WAL_LOG avoids FILE_COPY's two checkpoints (see the database benchmark).
  const strategy = argFlag('file-copy') ? 'FILE_COPY' : 'WAL_LOG';
  const results = new Map<string, Outcome[]>();
  let concurrency = 4;
  let waitConcurrency = 0;
  let tracked: Awaited<ReturnType<typeof trackedRss>> | null = null;
  for (const profile of profiles) {
    for (const design of designs) {
      const run = await runProfile(profile, design, sizes, strategy);
      concurrency = run.concurrency;
      if (design === 'new') waitConcurrency = run.waitConcurrency;
      try {
        if (tracked === null && profile === profiles[0] && design === designs.at(-1)) tracked = await trackedRss(run.world!, run.daemon!);
      } finally {
        await run.daemon!.stop();
        await run.world!.cleanup();
      }
      results.set(`${profile.id}/${design}`, run.outcomes);
    }
  }

  const rows: (string | number)[][] = [];
  for (const profile of profiles) {
    for (const n of sizes) {
      for (const design of designs) {
        const outcomes = results.get(`${profile.id}/${design}`)!;
        const o = outcomes.find((x) => x.n === n)!;
        const t1 = outcomes.find((x) => x.n === 1)!.wallMs;
        const old = results.get(`${profile.id}/old`)?.find((x) => x.n === n);
        const cpuMs = o.stats.userMs + o.stats.systemMs;
        rows.push([
          profile.name,
          n,
          design,
          secs(o.wallMs),
          secs(percentile(o.perPrMs, 50)),
          secs(t1),
          againstTarget(o.wallMs / t1, profile.id === 'realistic' ? TARGETS[n] : undefined),
          design === 'new' && old ? `${(old.wallMs / o.wallMs).toFixed(2)}×` : '',
          o.slots ? `${secs(o.slots.work * 1000)} · ${secs(o.slots.wait * 1000)} · ${secs(o.slots.queued * 1000)}` : '',
          // One run's work is not shared among slots: below `concurrency` PRs the floor is one run.
          o.slots ? secs((Math.max(n / concurrency, 1) * o.slots.work + o.slots.wait) * 1000) : '',
          `${(cpuMs / 1000).toFixed(2)} s`,
          `${(cpuMs / n).toFixed(0)} ms`,
          mb(o.stats.peakRss),
          o.failed,
        ]);
      }
    }
  }
  const body = [
    table(['emulators', 'PRs at once', 'design', 'all ready', 'median PR ready', 't1', 'all ready / t1', 'old ÷ new', 'per run: work · wait · in line', `work floor max(N / ${concurrency}, 1) × work + wait`, 'daemon CPU', 'CPU per PR', 'daemon peak RSS', 'failed'], rows),
    '',
    `Designs: old = a run waiting for a Nomad deployment or Consul routing keeps its worker slot (waitConcurrency 0, today's behaviour before issue 14 §2: N PRs take ceil(N/${concurrency}) waves of one environment's waits); ` +
      `new = a waiting run gives its slot back (waitConcurrency ${waitConcurrency}, the config default): ${concurrency} runs work at once, up to ${waitConcurrency} more wait. ` +
      `Each profile × design starts a fresh world and daemon and opens one warm-up PR first (not counted). t1 = the 1-PR run of the same profile and design (one environment alone: database clone, Vault writes, 4 Nomad jobs in 3 dependency waves deployed and healthy, Consul routing, GitHub calls). ` +
      `"per run" (new design): mean seconds a reconcile run held a work slot, spent in waits, and stood in line for a slot (previewd_reconcile_slot_seconds); the work floor is what the work alone allows: N runs' work through ${concurrency} slots (one run's at least), plus one run's waits. ` +
      `Targets (issue 14 §2) apply to the realistic profile. Queue concurrency ${concurrency} (config default). PR databases cloned with STRATEGY ${strategy} from the world's tiny template. ` +
      `"all ready" is from the first webhook sent to the last PR seen ready in the store (polled every 20 ms). Daemon = startDaemon over buildDeps in its own process, GC off, logging at info to /dev/null; ` +
      `emulators, Postgres and Redis outside it.`,
    '',
    tracked
      ? `With ${tracked.rows} environments tracked (rows in the store: the provisioned ones plus rows recorded through store.recordDesired, not provisioned; worker idle because nothing was enqueued), ` +
        `after 5 × (GET /metrics, which lists every row for the state gauges, and GET /admin/environments): daemon RSS ${mb(tracked.after.rss)} (heap ${mb(tracked.after.heapUsed)}), ` +
        `peak ${mb(tracked.after.peakRss)} while listing; before the extra rows: RSS ${mb(tracked.before.rss)} (heap ${mb(tracked.before.heapUsed)}). Measured after a forced GC in the daemon process.`
      : '',
  ].join('\n');
  console.log(body);
  const args = process.argv.slice(2).filter((a) => a !== '--no-append');
  await appendResults(`Provisioning${quick ? ' (quick)' : ''}`, `npm run bench -- provisioning${args.length > 0 ? ` ${args.join(' ')}` : ''}`, body);
}

if (argFlag('daemon')) await daemonChild();
else await main();

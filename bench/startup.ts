// Start-up and memory of `previewd serve`, compiled (bin/previewd.js → dist/) against the
// old way (the sources through tsx), in the same run, alternating: cold start to the
// first /healthz 200 and to /readyz 200, then RSS with 500 tracked environments after
// the admin list, /metrics and a GC dry run have each gone over all of them and one
// environment was reconciled (rendering parses HCL, which instantiates hcl2json's Go
// WebAssembly). A third mode runs the compiled build with a smaller V8 young generation
// (--max-semi-space-size=2), the setting deploy/ could use.
//
//   node --import tsx bench/startup.ts [--runs 5] [--no-build] [--no-append]
//
// The daemon runs in a child process (its RSS is its own) against the emulators and the
// real Postgres and Redis, set up by this process. Target: RSS under 120 MB.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { randomSha, startLocalWorld, type World } from '../src/sandbox/world.js';
import { appendResults, argFlag, argValue, LOCAL_SERVICES, mb, percentile, table } from './report.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ENVIRONMENTS = 500;
const TARGET_RSS = 120 * 1024 ** 2;
const SMALL_HEAP = '--max-semi-space-size=2';
const MODES = {
  compiled: ['bin/previewd.js'],
  tsx: ['--import', 'tsx', 'src/cli/main.ts'],
  'compiled-small-heap': [SMALL_HEAP, 'bin/previewd.js'],
} as const;
type Mode = keyof typeof MODES;

interface Sample {
  healthzMs: number;
  readyzMs: number;
  rssIdle: number;
  rssLoaded: number;
  rssPeak: number;
  rssReconciled: number;
}

function procStatus(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${field}:`));
  return Number(/(\d+)/.exec(line ?? '')?.[1] ?? NaN) * 1024;
}

async function seed(world: World, n: number): Promise<void> {
  const repo = world.repos[0]!;
  for (let start = 1; start <= n; start += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, n - start + 1) }, async (_, i) => {
        const pr = start + i;
        const key = { repo, pr };
        const sha = randomSha();
        world.github.openPull(repo, { number: pr, headSha: sha });
        const { generation } = await world.deps.store.recordDesired(key, { present: true, sha, reason: 'opened', prUpdatedAt: new Date() });
        // Ready as of its generation: nothing for the daemon to reconcile at start.
        await world.deps.store.updateObserved(key, {
          status: 'ready',
          observedSha: sha,
          observedGeneration: generation,
          readyAt: new Date(),
          components: { cache: 'healthy', api: 'healthy', worker: 'healthy', frontend: 'healthy' },
        });
      }),
    );
  }
}

async function poll(url: string, headers: Record<string, string> = {}, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await fetch(url, { headers }).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${url}: no 200 within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function measure(mode: Mode, env: Record<string, string>, world: World): Promise<Sample> {
  const adminToken = world.secrets.adminToken;
  const started = performance.now();
  const child = spawn(process.execPath, [...MODES[mode], 'serve', '--port', '0', '--grace', '2'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setInterval(() => {
        const m = /"url":"(http:[^"]+)"[^\n]*previewd serving/.exec(output);
        if (m) {
          clearInterval(timer);
          resolve(m[1]!);
        }
      }, 2);
      void exited.then((code) => {
        clearInterval(timer);
        reject(new Error(`${mode}: exited ${code} before serving:\n${output.slice(-2000)}`));
      });
    });
    await poll(`${url}/healthz`);
    const healthzMs = performance.now() - started;
    await poll(`${url}/readyz`);
    const readyzMs = performance.now() - started;
    const rssIdle = procStatus(child.pid!, 'VmRSS');
    const auth = { Authorization: `Bearer ${adminToken}` };
    for (let i = 0; i < 3; i++) {
      const list = await fetch(`${url}/admin/environments`, { headers: auth });
      const body = (await list.json()) as unknown;
      const count = Array.isArray(body) ? body.length : ((body as { environments?: unknown[] }).environments?.length ?? 0);
      if (count < ENVIRONMENTS) throw new Error(`${mode}: admin list returned ${count} environments`);
      await (await fetch(`${url}/metrics`)).text();
    }
    const gc = await fetch(`${url}/admin/gc?dryRun=true`, { method: 'POST', headers: auth });
    if (gc.status !== 200) throw new Error(`${mode}: gc dry run answered ${gc.status}`);
    await gc.text();
    const rssLoaded = procStatus(child.pid!, 'VmRSS');
    // One reconcile of an existing environment: render (HCL parse), register, watch.
    const key = world.key(1);
    const redeploy = await fetch(`${url}/admin/environments/${key.repo}/${key.pr}/redeploy`, { method: 'POST', headers: auth });
    const { generation } = (await redeploy.json()) as { generation: number };
    const deadline = Date.now() + 60_000;
    for (;;) {
      const record = await world.deps.store.get(key);
      if (record && record.observedGeneration >= generation && record.status === 'ready') break;
      if (Date.now() > deadline) throw new Error(`${mode}: redeploy did not finish: ${record?.status} ${record?.lastError ?? ''}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const rssReconciled = procStatus(child.pid!, 'VmRSS');
    const rssPeak = procStatus(child.pid!, 'VmHWM');
    child.kill('SIGTERM');
    const code = await exited;
    if (code !== 0) throw new Error(`${mode}: exit ${code} after SIGTERM:\n${output.slice(-2000)}`);
    return { healthzMs, readyzMs, rssIdle, rssLoaded, rssReconciled, rssPeak };
  } finally {
    child.kill('SIGKILL');
  }
}

async function main(): Promise<void> {
  const runs = Number(argValue('runs') ?? 5);
  let buildSeconds: number | null = null;
  if (!argFlag('no-build')) {
    const t = performance.now();
    const built = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
    if (built.status !== 0) throw new Error('npm run build failed');
    buildSeconds = (performance.now() - t) / 1000;
  }

  const world = await startLocalWorld({ services: LOCAL_SERVICES, config: { gc: { interval: '24h' } } });
  const dir = mkdtempSync(join(tmpdir(), 'previewd-bench-startup-'));
  const redisPrefix = `previewd:${world.config.instance}`;
  try {
    console.error(`seeding ${ENVIRONMENTS} tracked environments`);
    await seed(world, ENVIRONMENTS);
    const configFile = join(dir, 'previewd.yaml');
    writeFileSync(
      configFile,
      JSON.stringify({
        instance: world.config.instance,
        gc: { interval: '24h' },
        database: { namePrefix: world.config.database.namePrefix },
        repos: [{ name: world.repos[0], images: world.config.repos[0]!.images, database: { template: world.templateDatabase } }],
      }),
    );
    const e = world.config.env;
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? dir,
      PREVIEWD_CONFIG: configFile,
      NOMAD_ADDR: world.nomad.url,
      CONSUL_HTTP_ADDR: world.consul.url,
      VAULT_ADDR: world.vault.url,
      VAULT_TOKEN: world.secrets.vaultToken,
      DATABASE_URL: e.DATABASE_URL,
      REDIS_URL: e.REDIS_URL,
      GITHUB_WEBHOOK_SECRET: world.secrets.webhookSecret,
      GITHUB_TOKEN: world.secrets.githubToken,
      GITHUB_API_URL: world.github.url,
      PREVIEWD_ADMIN_TOKEN: world.secrets.adminToken,
      LOG_LEVEL: 'info',
    };

    const samples: Record<Mode, Sample[]> = { compiled: [], tsx: [], 'compiled-small-heap': [] };
    const modes = Object.keys(MODES) as Mode[];
    for (let run = 0; run < runs; run++) {
      // Rotate which goes first, so none always meets a warmer page cache.
      const order = [...modes.slice(run % modes.length), ...modes.slice(0, run % modes.length)];
      for (const mode of order) {
        const s = await measure(mode, env, world);
        samples[mode].push(s);
        console.error(
          `run ${run + 1}/${runs} ${mode}: /healthz ${s.healthzMs.toFixed(0)} ms, /readyz ${s.readyzMs.toFixed(0)} ms, RSS ${mb(s.rssIdle)} idle, ${mb(s.rssLoaded)} at ${ENVIRONMENTS}, ${mb(s.rssReconciled)} after a reconcile, peak ${mb(s.rssPeak)}`,
        );
      }
    }

    const med = (mode: Mode, f: keyof Sample) => percentile(samples[mode].map((s) => s[f]), 50);
    const range = (mode: Mode, f: keyof Sample, fmt: (n: number) => string) => {
      const values = samples[mode].map((s) => s[f]);
      return `${fmt(Math.min(...values))}–${fmt(Math.max(...values))}`;
    };
    const ms = (n: number) => `${n.toFixed(0)} ms`;
    const ratio = (mode: Mode, f: keyof Sample) => `${(med(mode, f) / med('tsx', f)).toFixed(2)}×`;
    const row = (label: string, f: keyof Sample, fmt: (n: number) => string) => [
      label,
      `**${fmt(med('compiled', f))}** (${range('compiled', f, fmt)})`,
      `${fmt(med('tsx', f))} (${range('tsx', f, fmt)})`,
      ratio('compiled', f),
      `${fmt(med('compiled-small-heap', f))} (${ratio('compiled-small-heap', f)})`,
    ];
    const body = [
      `Median of ${runs} starts per mode (min–max), alternating; the daemon in its own process against the emulators (in the bench process) and the real Postgres and Redis, with ${ENVIRONMENTS} tracked environments in its state database. "at ${ENVIRONMENTS}" is RSS after three admin lists of all of them, three /metrics scrapes and a GC dry run (POST /admin/gc?dryRun=true); then one environment is redeployed through the admin API and reconciled to ready; peak is the kernel's VmHWM at the end.${buildSeconds === null ? '' : ` \`npm run build\` took ${buildSeconds.toFixed(1)} s.`}`,
      '',
      table(
        ['measure', 'compiled (node bin/previewd.js)', 'tsx (node --import tsx src/cli/main.ts)', 'compiled ÷ tsx', `compiled, node ${SMALL_HEAP} (÷ tsx)`],
        [
          row('cold start to /healthz 200', 'healthzMs', ms),
          row('cold start to /readyz 200', 'readyzMs', ms),
          row('RSS after start', 'rssIdle', mb),
          row(`RSS at ${ENVIRONMENTS} environments`, 'rssLoaded', mb),
          row('RSS after one reconcile too', 'rssReconciled', mb),
          row('peak RSS (VmHWM)', 'rssPeak', mb),
        ],
      ),
      '',
      `Target: RSS under 120 MB at ${ENVIRONMENTS} environments — ${med('compiled', 'rssLoaded') < TARGET_RSS ? 'met' : 'missed'} compiled (${mb(med('compiled', 'rssLoaded'))}, peak ${mb(med('compiled', 'rssPeak'))}).`,
    ].join('\n');
    console.log(body);
    await appendResults('Compiled start-up and memory', `npm run bench -- startup --runs ${runs}`, body);
  } finally {
    const redis = new Redis(world.config.env.REDIS_URL, { maxRetriesPerRequest: 1 });
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${redisPrefix}*`, 'COUNT', 500);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
    redis.disconnect();
    rmSync(dir, { recursive: true, force: true });
    await world.cleanup();
  }
}

await main();

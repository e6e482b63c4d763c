// GC: a dry-run sweep (observe every system + plan, nothing changed) over 100, 500 and
// 2000 environments. Each size gets a fresh world, seeded directly rather than by
// provisioning: store rows through store.recordDesired, PRs in the GitHub emulator,
// and per environment the resources previewd marks — 4 Nomad jobs (registered through
// the Nomad API), 2 Consul services (api, frontend; registered in the shared cluster),
// a Vault KV secret with custom_metadata, a policy and a JWT role (through the Vault
// API), a Postgres login role with the COMMENT marker, and Postgres databases for the
// first 100 environments only (CREATE DATABASE costs ~0.1-1 s each; the database lister
// is a single catalog query either way). One environment in 20 is an orphan (resources,
// no row), one in 20 has its PR closed (a missed close webhook: stale).
//
// Each world is swept twice in one run: "old" takes the inventory the way it was before
// issue 14 §3 (bench/gc-per-resource-inventory.ts: a read per Consul service name and per
// Vault object), "new" is sweepGc as previewd runs it (src/gc/inventory.ts: list calls, Vault
// reads only for names of environments that are not live). Both must reach the same plan.
//
//   node --import tsx bench/gc.ts [--quick] [--no-append]
//
// Target: 2000 environments swept (dry run) in under 10 s, time per environment flat from 100 to 2000.
import type { Deps } from '../src/deps.js';
import { quoteIdent, quoteLiteral } from '../src/database/sql.js';
import { environmentNames } from '../src/environments/naming.js';
import { renderJwtRole, renderPolicy } from '../src/environments/vault-access.js';
import { planGc } from '../src/gc/plan.js';
import { observeGc, sweepGc } from '../src/gc/sweep.js';
import type { GcPlan } from '../src/gc/types.js';
import { listOwnedResourcesPerResource } from './gc-per-resource-inventory.js';
import { CONSUL_META, NOMAD_META, postgresComment, vaultSecretMetadata } from '../src/ownership/markers.js';
import { randomSha, startLocalWorld, type World } from '../src/sandbox/world.js';
import { withAdminClient } from '../src/sandbox/services.js';
import { appendResults, argFlag, benchLogger, LOCAL_SERVICES, rssSampler, secs, table } from './report.js';

const COMPONENTS = ['cache', 'api', 'worker', 'frontend'];
const DATABASES_SEEDED = 100;
const DAY = 86_400_000;

async function mapLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

async function seed(world: World, n: number): Promise<{ orphans: number; closed: number; databases: number }> {
  const { deps, config } = world;
  const repo = world.repos[0]!;
  const instance = config.instance;
  const template = await deps.nomad.parseJob(
    `job "tpl" {\n  datacenters = ["dc1"]\n  group "g" {\n    task "t" {\n      driver = "docker"\n      config {\n        image = "busybox:1"\n      }\n    }\n  }\n}\n`,
  );
  world.cluster.ensureNode('bench-node-1', '10.0.0.11');
  const prs = Array.from({ length: n }, (_, i) => i + 1);
  const orphan = (pr: number) => pr % 20 === 0;
  const closed = (pr: number) => pr % 20 === 1;
  let databases = 0;

  await mapLimit(prs, 16, async (pr) => {
    const key = { repo, pr };
    const names = environmentNames(config, key);
    const sha = randomSha();
    if (!orphan(pr)) {
      world.github.openPull(repo, { number: pr, headSha: sha });
      if (closed(pr)) world.github.closePull(repo, pr);
      await deps.store.recordDesired(key, { present: true, sha, reason: 'opened', prUpdatedAt: new Date(Date.now() - DAY) });
    }
    for (const component of COMPONENTS) {
      const id = names.jobId(component);
      await deps.nomad.registerJob({ ...structuredClone(template), ID: id, Name: id, Meta: { [NOMAD_META.managedBy]: instance, [NOMAD_META.env]: names.id } } as typeof template);
    }
    for (const component of ['api', 'frontend']) {
      world.cluster.registerService('bench-node-1', {
        ID: `_nomad-task-${names.id}-${component}`,
        Name: names.serviceName(component),
        Tags: ['traefik.enable=true'],
        Meta: { [CONSUL_META.managedBy]: instance, [CONSUL_META.env]: names.id },
        Port: 20_000 + (pr % 10_000),
        Address: '10.0.0.11',
        Checks: [],
      });
    }
    await deps.vault.writeSecret(names.vaultPath, { DATABASE_URL: 'postgres://seeded' }, { customMetadata: vaultSecretMetadata(instance, names.id), deleteVersionAfterMs: DAY });
    await deps.vault.putPolicy(names.vaultPolicy, renderPolicy(config, names));
    await deps.vault.putJwtRole(names.vaultRole, renderJwtRole(config, names, COMPONENTS.map((c) => names.jobId(c))));
    await withAdminClient(world.server, async (c) => {
      await c.query(`CREATE ROLE ${quoteIdent(names.role)} NOLOGIN`);
      await c.query(`COMMENT ON ROLE ${quoteIdent(names.role)} IS ${quoteLiteral(postgresComment(instance, names.id))}`);
      if (pr <= DATABASES_SEEDED) {
        await c.query(`CREATE DATABASE ${quoteIdent(names.database)} STRATEGY WAL_LOG`);
        await c.query(`COMMENT ON DATABASE ${quoteIdent(names.database)} IS ${quoteLiteral(postgresComment(instance, names.id))}`);
        databases++;
      }
    });
  });
  return { orphans: prs.filter(orphan).length, closed: prs.filter(closed).length, databases };
}

interface Span {
  calls: number;
  first: number;
  last: number;
  busy: number;
}

/** Wraps each client so every call is timed: calls per system and when its last call ended. */
function instrument(deps: Deps, spans: Map<string, Span>, t0: number): Deps {
  const wrap = <T extends object>(system: string, client: T): T =>
    new Proxy(client, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver) as unknown;
        if (typeof value !== 'function') return value;
        return async (...args: unknown[]) => {
          const start = performance.now();
          try {
            return await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          } finally {
            const end = performance.now();
            const span = spans.get(system) ?? { calls: 0, first: start - t0, last: 0, busy: 0 };
            span.calls++;
            span.last = Math.max(span.last, end - t0);
            span.busy += end - start;
            spans.set(system, span);
          }
        };
      },
    });
  return {
    ...deps,
    nomad: wrap('nomad', deps.nomad),
    consul: wrap('consul', deps.consul),
    vault: wrap('vault', deps.vault),
    github: wrap('github', deps.github),
    databases: wrap('postgres (databases, roles)', deps.databases),
    store: wrap('store', deps.store),
  };
}

interface Run {
  ms: number;
  cpuMs: number;
  resources: number;
  plan: GcPlan;
  spans: Map<string, Span>;
}

/** One dry-run sweep of the world, through instrumented clients. */
async function timeSweep(world: World, how: 'old' | 'new'): Promise<Run> {
  const spans = new Map<string, Span>();
  const t0 = performance.now();
  // Production-like logging (info, serialized, discarded) instead of the world's in-memory debug log.
  const deps = instrument({ ...world.deps, log: benchLogger('info') }, spans, t0);
  const cpuMark = process.cpuUsage();
  const start = performance.now();
  let plan: GcPlan;
  let resources = 0;
  if (how === 'old') {
    const input = await observeGc(deps, undefined, listOwnedResourcesPerResource);
    resources = input.inventory.resources.length;
    plan = planGc(input);
  } else {
    const result = await sweepGc(deps, {
      dryRun: true,
      requestTeardown: async () => {
        throw new Error('a dry run requests no teardown');
      },
      onProgress: (event) => {
        if (event.type === 'observed') resources = event.resources;
      },
    });
    plan = result.plan;
  }
  const ms = performance.now() - start;
  const cpu = process.cpuUsage(cpuMark);
  return { ms, cpuMs: (cpu.user + cpu.system) / 1000, resources, plan, spans };
}

const calls = (run: Run, system: string) => run.spans.get(system)?.calls ?? 0;
const SYSTEMS = ['nomad', 'consul', 'vault', 'postgres (databases, roles)', 'github', 'store'];

async function main(): Promise<void> {
  const quick = argFlag('quick');
  const sizes = quick ? [100, 500] : [100, 500, 2000];
  const rows: (string | number)[][] = [];
  const perEnvNew = new Map<number, number>();
  const perEnvOld = new Map<number, number>();
  const cpuPerEnvNew = new Map<number, number>();
  let largest = { n: 0, ms: 0 };
  let breakdown = '';
  let breakdownSize = 0;
  let plansDiffer = 0;
  for (const n of sizes) {
    const world = await startLocalWorld({ services: LOCAL_SERVICES, repos: [{ maxEnvironments: 100_000 }], cluster: { startDelayMs: 5, healthyDelayMs: 10 } });
    try {
      const seedStart = performance.now();
      const seeded = await seed(world, n);
      const seedMs = performance.now() - seedStart;
      const sampler = rssSampler(20);
      const rssBefore = process.memoryUsage().rss;
      // Old, new, new, old; each the faster of its two: the first sweep of a process pays for
      // warm-up (JIT, connections), and the order cancels drift on a loaded machine.
      const runs = [await timeSweep(world, 'old'), await timeSweep(world, 'new'), await timeSweep(world, 'new'), await timeSweep(world, 'old')];
      const best = (a: Run, b: Run) => (a.ms <= b.ms ? a : b);
      const old = best(runs[0]!, runs[3]!);
      const fresh = best(runs[1]!, runs[2]!);
      const peak = sampler.stop();
      const samePlan = JSON.stringify(old.plan) === JSON.stringify(fresh.plan);
      if (!samePlan) plansDiffer++;
      perEnvNew.set(n, fresh.ms / n);
      perEnvOld.set(n, old.ms / n);
      cpuPerEnvNew.set(n, fresh.cpuMs / n);
      if (n >= largest.n) largest = { n, ms: fresh.ms };
      breakdown = table(
        ['system', 'calls old → new', 'last call ended at, old → new', 'sum of call times, old → new'],
        SYSTEMS.map((system) => {
          const [o, f] = [old.spans.get(system), fresh.spans.get(system)];
          return [system, `${calls(old, system)} → ${calls(fresh, system)}`, `${secs(o?.last ?? 0)} → ${secs(f?.last ?? 0)}`, `${secs(o?.busy ?? 0)} → ${secs(f?.busy ?? 0)}`];
        }),
      );
      breakdownSize = n;
      const byKind: Record<string, number> = {};
      for (const action of fresh.plan.actions) byKind[action.kind] = (byKind[action.kind] ?? 0) + 1;
      const planned = Object.entries(byKind)
        .map(([k, v]) => `${v} ${k}`)
        .join(', ');
      const callsOf = (run: Run) => SYSTEMS.reduce((sum, system) => sum + calls(run, system), 0);
      console.error(`${n} environments: old ${secs(old.ms)}, new ${secs(fresh.ms)}; ${callsOf(old)} → ${callsOf(fresh)} calls; plan ${planned}${samePlan ? '' : ' (PLANS DIFFER)'}; seeding took ${secs(seedMs)}`);
      rows.push([
        n,
        `${seeded.orphans} orphans, ${seeded.closed} closed, ${seeded.databases} databases`,
        secs(old.ms),
        `**${secs(fresh.ms)}**`,
        `${(old.ms / fresh.ms).toFixed(1)}×`,
        `${(old.ms / n).toFixed(2)} ms → ${(fresh.ms / n).toFixed(2)} ms`,
        `${callsOf(old)} → ${callsOf(fresh)}`,
        `${(old.cpuMs / 1000).toFixed(2)} s → ${(fresh.cpuMs / 1000).toFixed(2)} s`,
        `+${((peak - rssBefore) / 1024 ** 2).toFixed(0)} MB`,
        `${old.resources} → ${fresh.resources}`,
        `${planned || 'none'}${samePlan ? ' (same)' : ' (**differs**)'}`,
      ]);
    } finally {
      await world.cleanup();
    }
  }
  const smallest = sizes[0]!;
  const flat = (m: Map<number, number>) => (m.get(largest.n)! / m.get(smallest)!).toFixed(2);
  const body = [
    table(
      ['environments', 'seeded', 'old sweep', 'new sweep', 'speed-up', 'per environment old → new', 'calls old → new', 'CPU old → new', 'peak RSS growth', 'marked resources read old → new', 'plan (new vs old)'],
      rows,
    ),
    '',
    sizes.includes(2000)
      ? `Target: 2000 environments under 10 s — ${largest.ms < 10_000 ? 'met' : 'missed'} (${secs(largest.ms)}, ${(largest.ms / 10_000).toFixed(2)} of the target).`
      : 'Quick run: 2000 not measured.',
    `Time per environment, ${largest.n} against ${smallest}: new ${flat(perEnvNew)}×, old ${flat(perEnvOld)}× (1.00 = flat, below 1 = a fixed cost spread over more environments); ` +
      `each environment past the first ${smallest} added ${(((perEnvNew.get(largest.n)! * largest.n) - perEnvNew.get(smallest)! * smallest) / (largest.n - smallest)).toFixed(2)} ms new, ` +
      `${(((perEnvOld.get(largest.n)! * largest.n) - perEnvOld.get(smallest)! * smallest) / (largest.n - smallest)).toFixed(2)} ms old.`,
    `CPU per environment (new), ${largest.n} against ${smallest}: ${flat(cpuPerEnvNew)}× (${cpuPerEnvNew.get(smallest)!.toFixed(2)} ms → ${cpuPerEnvNew.get(largest.n)!.toFixed(2)} ms; steadier than wall time on a shared machine).`,
    plansDiffer === 0 ? 'Old and new inventories led to the same plan at every size.' : `**Plans differed at ${plansDiffer} size(s).**`,
    '',
    `Calls per system in the ${breakdownSize}-environment sweeps (systems run in parallel):`,
    '',
    breakdown,
    '',
    `Seeded per environment: 4 Nomad jobs, 2 Consul services (on one node), a Vault secret, policy and JWT role, a Postgres role (databases only for the first ${DATABASES_SEEDED}), a store row and a GitHub PR ` +
      `(1 in 20 orphaned: no row; 1 in 20 with its PR closed). Both sweeps are dry runs (observe + plan) through the real clients against the emulators (no added latency) and real Postgres, each run twice on the same world (old, new, new, old) and the faster of the two shown; ` +
      `emulators run in the same process, so CPU and RSS include theirs. "marked resources read": resources whose marker the inventory read (new skips the Vault objects of live environments; GC never acts on them).`,
  ].join('\n');
  console.log(body);
  await appendResults(`GC dry-run sweep, per-resource reads against list calls${quick ? ' (quick)' : ''}`, `npm run bench -- gc${quick ? ' --quick' : ''}`, body);
}

await main();

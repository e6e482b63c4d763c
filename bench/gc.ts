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
//   node --import tsx bench/gc.ts [--quick] [--no-append]
//
// Target: 2000 environments swept (dry run) in under 10 s.
import type { Deps } from '../src/deps.js';
import { quoteIdent, quoteLiteral } from '../src/database/sql.js';
import { environmentNames } from '../src/environments/naming.js';
import { renderJwtRole, renderPolicy } from '../src/environments/vault-access.js';
import { sweepGc } from '../src/gc/sweep.js';
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

async function main(): Promise<void> {
  const quick = argFlag('quick');
  const sizes = quick ? [100, 500] : [100, 500, 2000];
  const rows: (string | number)[][] = [];
  let worst = 0;
  let breakdown = '';
  let breakdownSize = 0;
  for (const n of sizes) {
    const world = await startLocalWorld({ services: LOCAL_SERVICES, repos: [{ maxEnvironments: 100_000 }], cluster: { startDelayMs: 5, healthyDelayMs: 10 } });
    try {
      const seedStart = performance.now();
      const seeded = await seed(world, n);
      const seedMs = performance.now() - seedStart;
      // Production-like logging (info, serialized, discarded) instead of the world's in-memory debug log.
      const spans = new Map<string, Span>();
      const t0 = performance.now();
      const deps = instrument({ ...world.deps, log: benchLogger('info') }, spans, t0);
      const sampler = rssSampler(20);
      const rssBefore = process.memoryUsage().rss;
      const cpuMark = process.cpuUsage();
      const start = performance.now();
      let observedAt = 0;
      let resources = 0;
      const result = await sweepGc(deps, {
        dryRun: true,
        requestTeardown: async () => {
          throw new Error('a dry run requests no teardown');
        },
        onProgress: (event) => {
          if (event.type === 'observed') {
            observedAt = performance.now();
            resources = event.resources;
          }
        },
      });
      const ms = performance.now() - start;
      breakdown = table(
        ['system', 'calls', 'last call ended at', 'sum of call times'],
        [...spans.entries()].sort((a, b) => b[1].last - a[1].last).map(([system, sp]) => [system, sp.calls, secs(sp.last), secs(sp.busy)]),
      );
      breakdownSize = n;
      const cpu = process.cpuUsage(cpuMark);
      const peak = sampler.stop();
      worst = Math.max(worst, n === 2000 ? ms : 0);
      const byKind: Record<string, number> = {};
      for (const action of result.plan.actions) byKind[action.kind] = (byKind[action.kind] ?? 0) + 1;
      const planned = Object.entries(byKind)
        .map(([k, v]) => `${v} ${k}`)
        .join(', ');
      console.error(`${n} environments: sweep ${secs(ms)} (observe ${secs(observedAt - start)}), ${resources} resources, plan: ${planned}; seeding took ${secs(seedMs)}`);
      rows.push([
        n,
        resources,
        seeded.databases,
        secs(observedAt - start),
        secs(ms - (observedAt - start)),
        `**${secs(ms)}**`,
        `${((cpu.user + cpu.system) / 1e6).toFixed(2)} s`,
        `+${((peak - rssBefore) / 1024 ** 2).toFixed(0)} MB`,
        planned || 'none',
        `${seeded.orphans} orphans, ${seeded.closed} closed`,
      ]);
    } finally {
      await world.cleanup();
    }
  }
  const body = [
    table(['environments', 'owned resources listed', 'of which databases', 'observe', 'plan', 'dry-run sweep', 'CPU (whole process)', 'peak RSS growth', 'plan', 'seeded'], rows),
    '',
    sizes.includes(2000)
      ? `Target: 2000 environments under 10 s — ${worst < 10_000 ? 'met' : 'missed'} (${secs(worst)}).`
      : 'Quick run: 2000 not measured.',
    '',
    `Where the ${breakdownSize}-environment sweep spent its time (calls through each client, in parallel across systems):`,
    '',
    breakdown,
    '',
    `Seeded per environment: 4 Nomad jobs, 2 Consul services, a Vault secret, policy and JWT role, a Postgres role (databases only for the first ${DATABASES_SEEDED}), a store row and a GitHub PR ` +
      `(1 in 20 orphaned: no row; 1 in 20 with its PR closed). sweepGc(deps, { dryRun: true }) through the real clients against the emulators (no added latency) and real Postgres; ` +
      `emulators run in the same process, so CPU and RSS include theirs. "observe" ends at the sweep's \`observed\` event (inventory of 7 kinds, open PR listing, rows).`,
  ].join('\n');
  console.log(body);
  await appendResults(`GC dry-run sweep${quick ? ' (quick)' : ''}`, `npm run bench -- gc${quick ? ' --quick' : ''}`, body);
}

await main();

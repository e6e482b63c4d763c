// The running daemon: HTTP (webhooks, admin API, dashboard, health, metrics), the reconcile worker,
// the periodic GC with credential renewal and resync from GitHub, all over one `Deps`. `serve` and the sandbox both start it.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import type { Deps } from './deps.js';
import { sweepCredentialRenewals } from './environments/renewal-sweep.js';
import type { EnvironmentKey } from './environments/naming.js';
import { pruneOldEvents } from './environments/retention.js';
import { createGcLock, createSweepLock, startSweepSchedule } from './gc/schedule.js';
import { sweepGc } from './gc/sweep.js';
import { warmPoolSettings } from './database/warm-pool-settings.js';
import { adminRouter } from './http/admin.js';
import { createApp } from './http/app.js';
import { readinessRouter, standardChecks } from './http/health.js';
import { metricsRouter } from './http/metrics.js';
import { createHttpServer } from './http/server.js';
import { createWebhookRouter } from './http/webhooks.js';
import { createCommentHandler } from './commands/run.js';
import { requestE2eRerun } from './e2e/rerun.js';
import { createDeliveryDedupe } from './queue/deliveries.js';
import { fencedReconcile } from './queue/fenced-reconcile.js';
import { createReconcileQueue, type ReconcileQueue, type ReconcileQueueOptions } from './queue/reconcile-queue.js';
import { sweepResume } from './queue/resume.js';
import { createResyncState, sweepResync } from './resync/sweep.js';
import { buildPollTickMs, planBuildPolls } from './build/poll.js';
import { uiRouter } from './ui/router.js';
import { redisPrefix } from './queue/redis-prefix.js';
import { settledWithin } from './timeout.js';
import { createRedisSessions } from './ui/sessions.js';

export interface DaemonOptions {
  /** Port to listen on (0 = a free one); default config PORT. */
  port?: number;
  host?: string;
  /** Redis key prefix; default "previewd:<instance>". */
  redisPrefix?: string;
  /** Queue tuning (tests and the sandbox use short lock durations). */
  queue?: Partial<Pick<ReconcileQueueOptions, 'lockDurationMs' | 'stalledIntervalMs' | 'backoff' | 'attempts' | 'concurrency' | 'waitConcurrency'>>;
  /** Run the periodic GC and, with it, credential renewal (default true). */
  gc?: boolean;
  /**
   * Run the resume sweep (default true). Off only where several daemons with separate
   * Redis prefixes share one state database (tests): each would take the others' PRs.
   */
  resume?: boolean;
  /** Run resync from GitHub's listings, at start and every resync.interval (default true). */
  resync?: boolean;
  /** Refill the warm pools of the templates, at start and every database.poolInterval (default true). */
  warmPool?: boolean;
  /** Look again at PRs waiting for their build, every repos[].build.pollInterval (default true). */
  buildPoll?: boolean;
}

export interface Daemon {
  url: string;
  queue: ReconcileQueue;
  /** Stops taking webhooks and work, lets running steps finish (bounded), closes connections. */
  stop(options?: { graceMs?: number }): Promise<void>;
}

export async function startDaemon(deps: Deps, options: DaemonOptions = {}): Promise<Daemon> {
  const { config, log } = deps;
  const prefix = options.redisPrefix ?? redisPrefix(config.instance);
  await deps.store.migrate();

  const queue = createReconcileQueue({
    redisUrl: config.env.REDIS_URL,
    prefix,
    concurrency: config.concurrency,
    waitConcurrency: config.waitConcurrency,
    log,
    metrics: deps.metrics,
    process: fencedReconcile(deps),
    fenceFloor: (key) => deps.store.fenceOf(key),
    ...options.queue,
  });
  // Gauges read at scrape time, so /metrics reports the store and queue as they are.
  deps.metrics.bindSources({
    environmentsByState: async () => (await deps.store.countByStatus()) as Record<string, number>,
    queueStats: async () => {
      const { waiting, active, delayed, parked, oldestWaitingAgeMs } = await queue.counts();
      return { counts: { waiting, active, delayed, parked }, oldestWaitingAgeSeconds: oldestWaitingAgeMs / 1000 };
    },
  });
  const redis = new Redis(config.env.REDIS_URL, { maxRetriesPerRequest: 2 });
  redis.on('error', (err) => log.warn({ err: { message: err.message } }, 'redis connection error'));
  const deliveries = createDeliveryDedupe({ redis, prefix });

  const requestTeardown = (key: EnvironmentKey, reason: string) => queue.enqueue(key, reason);
  const runGc = (gc: { dryRun: boolean; filter: Parameters<typeof sweepGc>[1]['filter'] }) =>
    sweepGc(deps, { dryRun: gc.dryRun, filter: gc.filter, requestTeardown });

  const readiness = standardChecks(deps, redis);
  const app = createApp({
    log,
    routers: [
      createWebhookRouter({
        secret: config.env.GITHUB_WEBHOOK_SECRET,
        repos: config.repos,
        store: deps.store,
        queue,
        deliveries,
        log,
        metrics: deps.metrics,
        ...(deps.approvals
          ? {
              trust: { approvals: deps.approvals, github: deps.github },
              comments: createCommentHandler({ repos: config.repos, github: deps.github, store: deps.store, queue, approvals: deps.approvals, deliveries, log, requestE2eRerun: (key) => requestE2eRerun(deps, key) }),
            }
          : {}),
      }),
      adminRouter({ config, store: deps.store, queue, runGc, readiness, e2e: deps.e2e }),
      uiRouter({
        config,
        clock: deps.clock,
        log,
        store: deps.store,
        queue,
        nomad: deps.nomad,
        runGc,
        sessions: createRedisSessions({ redis, prefix, ttlMs: config.ui.sessionTtl }),
      }),
      readinessRouter(readiness, { log }),
      metricsRouter(deps.metrics),
    ],
  });

  queue.start();
  // At start and then periodically: whatever Postgres says lags goes back in the queue
  // (Redis may have lost it), and parked work is retried slowly, up to a ceiling.
  const resumeSchedule =
    options.resume === false
      ? null
      : startSweepSchedule({
          name: 'resume',
          lock: createSweepLock(redis, prefix, 'resume'),
          intervalMs: config.resume.interval,
          immediate: true,
          log,
          sweep: async (lease) => {
            await sweepResume(
              { store: deps.store, queue, clock: deps.clock, log },
              {
                parkedRetryIntervalMs: config.resume.parkedRetryInterval,
                parkedRetryLimit: config.resume.parkedRetryLimit,
                stillHoldsLock: () => lease.stillHolds(),
              },
            );
          },
        });
  // Webhooks are hints: at start and then periodically, what GitHub lists as open is
  // compared with what is recorded, and what a lost webhook left behind is recorded.
  const resyncState = createResyncState();
  const resyncSchedule =
    options.resync === false
      ? null
      : startSweepSchedule({
          name: 'resync',
          lock: createSweepLock(redis, prefix, 'resync'),
          intervalMs: config.resync.interval,
          immediate: true,
          log,
          sweep: async (lease) => {
            await sweepResync({ ...deps, queue }, resyncState, { stillHoldsLock: () => lease.stillHolds() });
          },
        });
  // Spares cloned in the background, one replica at a time (the lock), so that a PR
  // database is a rename; at start too, so the first PRs after a deploy find spares.
  const pools = warmPoolSettings(config);
  const warmPoolSchedule =
    options.warmPool === false || pools.length === 0
      ? null
      : startSweepSchedule({
          name: 'warm-pool',
          lock: createSweepLock(redis, prefix, 'warm-pool'),
          intervalMs: config.database.poolInterval,
          immediate: true,
          log,
          sweep: async (_lease, stopping) => {
            await deps.databases.refillWarmPools(pools, stopping);
          },
        });
  // PRs waiting for their CI build are looked at again without a webhook: a lost
  // check_run or status event only delays the deploy (build/poll.ts says which are due).
  const buildTick = buildPollTickMs(config);
  const buildSchedule =
    options.buildPoll === false || buildTick === null
      ? null
      : startSweepSchedule({
          name: 'build',
          lock: createSweepLock(redis, prefix, 'build'),
          intervalMs: buildTick,
          immediate: true,
          log,
          sweep: async (lease) => {
            const due = planBuildPolls(await deps.store.list({ status: 'waiting_for_build' }), config, deps.clock.now());
            for (const key of due) {
              if (!(await lease.stillHolds())) return;
              await queue.enqueue(key, 'build poll');
            }
          },
        });
  const gcSchedule =
    options.gc === false
      ? null
      : startSweepSchedule({
          name: 'gc',
          lock: createGcLock(redis, prefix),
          intervalMs: config.gc.interval,
          log,
          sweep: async (lease) => {
            await pruneOldEvents(deps, config.eventRetention);
            await sweepGc(deps, { dryRun: false, requestTeardown, stillHoldsLock: () => lease.stillHolds() });
            // Same tick, same lock: a quiet PR's login and secret are renewed long before
            // they expire (gc.interval is far below half of credentialTtl), jobs untouched.
            await sweepCredentialRenewals(deps, { requestReconcile: (key, reason) => queue.enqueue(key, reason), stillHoldsLock: () => lease.stillHolds() });
          },
        });

  const server: Server = createHttpServer(app, {
    headersTimeoutMs: config.http.headersTimeout,
    requestTimeoutMs: config.http.requestTimeout,
    maxConnections: config.http.maxConnections,
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? config.env.PORT, options.host ?? '0.0.0.0', resolve));
  const address = server.address() as AddressInfo;
  const url = `http://${address.address === '0.0.0.0' || address.address === '::' ? '127.0.0.1' : address.address}:${address.port}`;
  log.info({ url, instance: config.instance, repos: config.repos.map((r) => r.name) }, 'previewd serving');
  // The e2e gate's loop: tests run beside the queue, never inside a reconcile.
  deps.e2e?.start();

  let stopping: Promise<void> | null = null;
  return {
    url,
    queue,
    stop(stopOptions = {}) {
      stopping ??= (async () => {
        // Order: no new webhooks, no new sweeps, then let running reconciles finish.
        // The grace bounds the whole stop: a sweep hung inside one call (a Postgres clone
        // on a partitioned network) is left behind after it, as a reconcile is, instead of
        // keeping the queue's job locks renewed forever. What the sweeps did not use of
        // it is the reconciles'.
        const graceMs = stopOptions.graceMs ?? 25_000;
        const started = Date.now();
        const left = () => Math.max(0, graceMs - (Date.now() - started));
        // Requests under way (a webhook being recorded) may finish; idle keep-alive
        // connections close now, and whatever still runs when the grace is up is cut.
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        if (!(await settledWithin(closed, graceMs))) server.closeAllConnections();
        const e2eStop = deps.e2e?.stop();
        await Promise.all([
          ...[warmPoolSchedule, gcSchedule, resyncSchedule, buildSchedule, resumeSchedule].map((schedule) => schedule?.stop(left())),
          e2eStop && settledWithin(e2eStop, left()),
        ]);
        await queue.close({ graceMs: left() });
        redis.disconnect();
        log.info('previewd stopped');
      })();
      return stopping;
    },
  };
}

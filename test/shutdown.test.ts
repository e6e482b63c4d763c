// Issue 10 item 10: SIGTERM with a short grace while a deploy waits. `previewd serve`
// closes the Postgres pools as soon as daemon.stop() returns; a reconcile still inside
// a blocking Nomad query (or a sleep) that did not take the stop signal woke up later
// and hit "Cannot use a pool after calling end". Here the store and the PR-database
// client behave exactly so once stop() has returned, and every call after that is a
// failure of the test.
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon } from '../src/daemon.js';
import { createReconcileQueue } from '../src/queue/reconcile-queue.js';
import type { Deps } from '../src/deps.js';
import { randomSha, type World } from '../src/sandbox/world.js';
import { startWorld } from './support/pg.js';
import { sleep, waitFor } from './support/wait.js';

/** Deploy timeout of this world: the unfixed wait would end (and touch the store) within it. */
const DEPLOY_TIMEOUT_MS = 4_000;

let world: World;
beforeAll(async () => {
  // Allocations never become healthy: every deploy waits until it is stopped.
  world = await startWorld({ config: { deployTimeout: `${DEPLOY_TIMEOUT_MS / 1000}s` }, cluster: { startDelayMs: 1, healthyDelayMs: 600_000 } });
}, 30_000);
afterAll(async () => {
  await world?.cleanup();
}, 30_000);

/** `target`, failing every call made after end() as an ended pg pool does; those calls are kept. */
function endable<T extends object>(target: T, name: string): { proxy: T; end(): void; lateCalls: string[] } {
  let ended = false;
  const lateCalls: string[] = [];
  const proxy = new Proxy(target, {
    get(t, prop, receiver) {
      const value = Reflect.get(t, prop, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (ended) {
          lateCalls.push(`${name}.${String(prop)}`);
          return Promise.reject(new Error('Cannot use a pool after calling end on the pool'));
        }
        return (value as (...a: unknown[]) => unknown).apply(t, args);
      };
    },
  });
  return { proxy, end: () => void (ended = true), lateCalls };
}

describe('stopping while a deploy waits', () => {
  it('when the daemon stops with a short grace while a deployment is awaited then the wait ends at once and nothing uses the pools afterwards', async () => {
    const store = endable(world.deps.store, 'store');
    const databases = endable(world.deps.databases, 'databases');
    const deps: Deps = { ...world.deps, store: store.proxy, databases: databases.proxy };
    const daemon = await startDaemon(deps, { port: 0, host: '127.0.0.1', redisPrefix: world.redisPrefix, gc: false, queue: { lockDurationMs: 5_000, stalledIntervalMs: 2_000 } });
    const pr = 1;
    await world.open(pr, randomSha());
    await daemon.queue.enqueue(world.key(pr), 'opened');
    // Inside the deployment wait: a job is registered and its step recorded.
    await waitFor('a deploy to be waiting', async () => {
      const events = await world.deps.store.listEvents(world.key(pr), 50);
      return events.some((e) => e.type === 'step' && (e.data as { kind?: string }).kind === 'register-job');
    }, 20_000);
    await sleep(300);

    const linesBefore = world.logLines.length;
    const started = performance.now();
    await daemon.stop({ graceMs: 200 });
    const stopMs = performance.now() - started;
    // What `previewd serve` does next.
    store.end();
    databases.end();

    // Long enough for a wait that ignored the signal to wake up (it ends by the deploy timeout).
    await sleep(DEPLOY_TIMEOUT_MS + 1_000);
    const after = world.logLines.slice(linesBefore).join('\n');
    expect(store.lateCalls.concat(databases.lateCalls)).toEqual([]);
    expect(after).not.toContain('ignored the stop signal');
    expect(after).not.toContain('Cannot use a pool');
    // The grace, then the wait is cancelled: well under the 2 s allowed for a processor to take its signal.
    expect(stopMs).toBeLessThan(200 + 2_000);
  }, 40_000);
});

describe('stopping while a sweep hangs', () => {
  it('when the warm-pool refill hangs in a call that ignores its signal then stop() leaves it after the grace and still hands the running reconcile back', async () => {
    let refills = 0;
    // A refill stuck inside one call (a clone on a partitioned network): it never settles.
    const databases = { ...world.deps.databases, refillWarmPools: () => (refills++, new Promise<never>(() => undefined)) };
    const prefix = `${world.redisPrefix}:hung-sweep`;
    const daemon = await startDaemon({ ...world.deps, databases }, { port: 0, host: '127.0.0.1', redisPrefix: prefix, gc: false, resync: false, resume: false, queue: { lockDurationMs: 5_000, stalledIntervalMs: 2_000 } });
    const pr = 2;
    await world.open(pr, randomSha());
    await daemon.queue.enqueue(world.key(pr), 'opened');
    await waitFor('the refill to hang and a deploy to be waiting', async () => {
      const events = await world.deps.store.listEvents(world.key(pr), 50);
      return refills === 1 && events.some((e) => e.type === 'step' && (e.data as { kind?: string }).kind === 'register-job');
    }, 20_000);

    const linesBefore = world.logLines.length;
    const started = performance.now();
    await daemon.stop({ graceMs: 200 });
    const stopMs = performance.now() - started;
    // Before: stop() waited for the sweep forever, and the worker it never closed kept
    // renewing the job's lock, so no other daemon could take the PR.
    expect(stopMs).toBeLessThan(200 + 2_000 + 1_000);
    expect(world.logLines.slice(linesBefore).join('\n')).toContain('sweep still running at shutdown');
    const queue = createReconcileQueue({ redisUrl: world.config.env.REDIS_URL, prefix, concurrency: 1, log: world.deps.log, metrics: world.deps.metrics, process: async () => undefined });
    try {
      // Handed back without spending an attempt: delayed (due at once), not active.
      expect(await queue.listPending()).toEqual([expect.objectContaining({ key: world.key(pr), state: 'delayed', attemptsMade: 0 })]);
    } finally {
      await queue.close();
    }
  }, 40_000);
});

describe('stopping while a request is under way', () => {
  it('when a client holds a request open then stop() waits for it no longer than the grace', async () => {
    const daemon = await startDaemon(world.deps, { port: 0, host: '127.0.0.1', redisPrefix: `${world.redisPrefix}:slow-client`, gc: false, resync: false, resume: false });
    const { hostname, port } = new URL(daemon.url);
    // A request whose body never comes: the server holds it until its requestTimeout (30 s).
    const socket = connect(Number(port), hostname);
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write('POST /webhooks/github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{');
    const closedByServer = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    await sleep(200);
    const started = performance.now();
    await daemon.stop({ graceMs: 300 });
    const stopMs = performance.now() - started;
    await closedByServer;
    // Before, stop() waited for every connection to end: here the request timeout's 30 s.
    expect(stopMs).toBeLessThan(300 + 2_000 + 1_000);
  }, 40_000);
});

describe('event retention in the running daemon', () => {
  it('when the GC schedule runs then events older than eventRetention are pruned, periodically', async () => {
    const cutoffs: Date[] = [];
    const store = { ...world.deps.store, pruneEvents: async (before: Date) => (cutoffs.push(before), 0) };
    const retentionMs = 3 * 86_400_000;
    const config = { ...world.config, eventRetention: retentionMs, gc: { ...world.config.gc, interval: 300 } };
    const daemon = await startDaemon({ ...world.deps, config, store }, { port: 0, host: '127.0.0.1', redisPrefix: `${world.redisPrefix}:retention` });
    try {
      await waitFor('two sweeps to prune', () => cutoffs.length >= 2, 15_000);
    } finally {
      await daemon.stop({ graceMs: 1_000 });
    }
    for (const before of cutoffs) {
      const age = Date.now() - before.getTime();
      expect(age).toBeGreaterThanOrEqual(retentionMs);
      expect(age).toBeLessThan(retentionMs + 60_000);
    }
  }, 30_000);
});


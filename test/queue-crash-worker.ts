// A reconcile worker run in a child process by test/queue.test.ts, which SIGKILLs it
// mid-job to show that a crash loses no work. It announces each job it starts on a
// Redis list, then never finishes it.
import { Redis } from 'ioredis';
import { createLogger } from '../src/log.js';
import { createMetrics } from '../src/metrics.js';
import { createReconcileQueue } from '../src/queue/reconcile-queue.js';

const { REDIS_URL, PREFIX, LOCK_MS, STALLED_MS } = process.env;
if (!REDIS_URL || !PREFIX) throw new Error('REDIS_URL and PREFIX are required');

const events = new Redis(REDIS_URL);
const queue = createReconcileQueue({
  redisUrl: REDIS_URL,
  prefix: PREFIX,
  concurrency: 2,
  log: createLogger({ level: 'silent' }),
  metrics: createMetrics(),
  lockDurationMs: Number(LOCK_MS ?? 1000),
  stalledIntervalMs: Number(STALLED_MS ?? 500),
  process: async (key, ctx) => {
    await events.rpush(`${PREFIX}:test:events`, `started ${key.repo}#${key.pr} job=${ctx.jobId} token=${ctx.fencingToken}`);
    await new Promise(() => undefined); // hangs until the test kills this process
  },
});
queue.start();

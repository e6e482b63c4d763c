// The daemon in a child process, for tests that kill it for real (SIGKILL) and start
// another one: `node --import tsx test/helpers/daemon-child.ts`, configured through
// the environment (never argv, so no secret shows in a process listing):
//
//   PREVIEWD_CHILD_CONFIG     the parsed Config as JSON (world.config: emulator URLs,
//                             state DB, instance, repos, secrets)
//   PREVIEWD_CHILD_PREFIX     Redis key prefix (the world's, so its cleanup removes it)
//   PREVIEWD_CHILD_LOCK_MS    queue/PR lock duration (default 1000)
//   PREVIEWD_CHILD_STALLED_MS stalled-job check interval (default 500)
//   PREVIEWD_CHILD_LOG_LEVEL  default "warn" (to stderr)
//
// Once serving it prints one line `READY <url>` on stdout. SIGTERM stops it gracefully.
import type { Config } from '../../src/config/schema.js';
import { buildDeps } from '../../src/cli/compose.js';
import { startDaemon } from '../../src/daemon.js';
import { createLogger } from '../../src/log.js';
import pino from 'pino';

const { PREVIEWD_CHILD_CONFIG, PREVIEWD_CHILD_PREFIX, PREVIEWD_CHILD_LOCK_MS, PREVIEWD_CHILD_STALLED_MS, PREVIEWD_CHILD_LOG_LEVEL } = process.env;
if (!PREVIEWD_CHILD_CONFIG || !PREVIEWD_CHILD_PREFIX) {
  process.stderr.write('daemon-child: PREVIEWD_CHILD_CONFIG and PREVIEWD_CHILD_PREFIX are required\n');
  process.exit(2);
}

const config = JSON.parse(PREVIEWD_CHILD_CONFIG) as Config;
const log = createLogger({ level: PREVIEWD_CHILD_LOG_LEVEL ?? 'warn', destination: pino.destination(2) });
const deps = buildDeps(config, { log });
const daemon = await startDaemon(deps, {
  port: 0,
  host: '127.0.0.1',
  redisPrefix: PREVIEWD_CHILD_PREFIX,
  gc: false,
  queue: {
    lockDurationMs: Number(PREVIEWD_CHILD_LOCK_MS ?? 1000),
    stalledIntervalMs: Number(PREVIEWD_CHILD_STALLED_MS ?? 500),
    backoff: { baseMs: 100, maxMs: 1000, jitter: 0.2 },
  },
});
process.stdout.write(`READY ${daemon.url}\n`);

process.once('SIGTERM', () => {
  void daemon
    .stop({ graceMs: 2000 })
    .then(() => deps.close())
    .finally(() => process.exit(0));
});

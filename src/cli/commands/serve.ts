// `previewd serve`: the daemon. SIGTERM/SIGINT stop it gracefully (exit 0): no new
// webhooks or work, running steps finish (bounded), the rest resumes after restart.
import { InvalidArgumentError, type Command } from 'commander';
import { loadConfig } from '../../config/load.js';
import { startDaemon } from '../../daemon.js';
import { buildDeps } from '../compose.js';

function portNumber(text: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65_535) throw new InvalidArgumentError('expected a port number from 0 to 65535');
  return Number(text);
}

function graceSeconds(text: string): number {
  // An hour is more than any step needs; a typo must not turn the grace into NaN (no wait at all).
  if (!/^\d{1,4}(\.\d{1,3})?$/.test(text) || Number(text) > 3_600) throw new InvalidArgumentError('expected seconds from 0 to 3600, such as 25');
  return Number(text);
}

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('run the daemon: webhooks, reconcile worker, GC, admin API, /healthz, /readyz, /metrics')
    .option('--port <port>', 'listen port (default $PORT or 8080)', portNumber)
    .option('--grace <seconds>', 'how long running steps and sweeps may finish on shutdown', graceSeconds, 25)
    .action(async (opts: { port?: number; grace: number }) => {
      const config = loadConfig({ configPath: program.opts<{ config?: string }>().config });
      const deps = buildDeps(config);
      const daemon = await startDaemon(deps, { ...(opts.port !== undefined ? { port: opts.port } : {}) });
      await new Promise<void>((resolve) => {
        const shutdown = (signal: string) => {
          deps.log.info({ signal }, 'shutting down');
          void daemon
            .stop({ graceMs: opts.grace * 1000 })
            .then(() => deps.close())
            .then(resolve, (err: unknown) => {
              deps.log.error({ err }, 'shutdown failed');
              process.exitCode = 1;
              resolve();
            });
        };
        process.once('SIGTERM', () => shutdown('SIGTERM'));
        process.once('SIGINT', () => shutdown('SIGINT'));
      });
    });
}

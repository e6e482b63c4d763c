// Shared by the benchmarks: machine facts (cores, memory, Node and Postgres versions),
// small statistics, markdown tables, a quiet logger, and appending a dated section to
// bench/RESULTS.md. Benchmarks print figures; they are not tests.
import { appendFile, readFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import pg from 'pg';
import pino, { type Logger } from 'pino';
import { localServicesFromEnv } from '../src/config/sandbox-env.js';
import { REDACT_PATHS } from '../src/log.js';

export const RESULTS = new URL('./RESULTS.md', import.meta.url);
/** The local Postgres and Redis the benchmarks run against (TEST_DATABASE_URL, TEST_REDIS_URL). */
export const LOCAL_SERVICES = localServicesFromEnv(process.env);

export async function machineFacts(): Promise<string> {
  const cpu = cpus();
  let pgVersion = 'unknown';
  try {
    const client = new pg.Client({ connectionString: LOCAL_SERVICES.postgresAdminUrl });
    await client.connect();
    try {
      pgVersion = (await client.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)).rows[0]?.v ?? 'unknown';
    } finally {
      await client.end();
    }
  } catch {
    // Postgres not reachable: the facts say so rather than failing the report.
  }
  const load = loadavg().map((l) => l.toFixed(2)).join('/');
  return (
    `Machine: ${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, ${(totalmem() / 1024 ** 3).toFixed(1)} GiB RAM; ` +
    `Node ${process.version}; PostgreSQL ${pgVersion}; load average at the end ${load}.`
  );
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function table(header: string[], rows: (string | number)[][]): string {
  return [`| ${header.join(' | ')} |`, `|${' --- |'.repeat(header.length)}`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

export const mb = (bytes: number) => `${(bytes / 1024 ** 2).toFixed(0)} MB`;
export const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/** Peak RSS sampler of this process. */
export function rssSampler(intervalMs = 50): { peak(): number; stop(): number } {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, intervalMs);
  timer.unref();
  return {
    peak: () => Math.max(peak, process.memoryUsage().rss),
    stop: () => {
      clearInterval(timer);
      return Math.max(peak, process.memoryUsage().rss);
    },
  };
}

/** A logger that does the daemon's serialization work but writes nowhere (as `info` in production). */
export function benchLogger(level = 'info'): Logger {
  return pino({ level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, pino.destination({ dest: '/dev/null', sync: false }));
}

export function argFlag(name: string): boolean {
  return process.argv.includes(`--${name}`);
}

export function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** Appends "## <title> — <date>" with the command, the machine and the body to bench/RESULTS.md. */
export async function appendResults(title: string, command: string, body: string): Promise<void> {
  if (argFlag('no-append')) return;
  const section = ['', `## ${title} — ${new Date().toISOString()}`, '', `\`${command}\``, '', await machineFacts(), '', body.trim(), ''].join('\n');
  const existing = await readFile(RESULTS, 'utf8').catch(() => null);
  await appendFile(RESULTS, existing === null ? `# Benchmark results\n${section}` : section);
  console.error(`appended to ${RESULTS.pathname}`);
}

// What the operational commands (gc, status, redeploy, teardown) share: flag parsers,
// loading config and Deps from the composition root, and closing them again. These
// commands work straight against the systems; no running daemon is needed.
import { InvalidArgumentError, type Command } from 'commander';
import { loadConfig } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import { parseDuration } from '../../config/duration.js';
import { createLogger } from '../../log.js';
import { buildDeps, type OwnedDeps } from '../compose.js';
import { configuredRepo } from '../../config/repos.js';
import { REPO_NAME } from '../../github/repo-name.js';
import type { LockedReconcileOptions } from '../../queue/locked-reconcile.js';
import { redisPrefix } from '../../queue/redis-prefix.js';

export interface Io {
  out(text: string): void;
  err(text: string): void;
}

export const stdio: Io = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

export function prNumber(text: string): number {
  if (!/^[1-9]\d{0,8}$/.test(text)) throw new InvalidArgumentError('expected a positive PR number');
  return Number(text);
}

export function repoName(text: string): string {
  if (!REPO_NAME.test(text)) throw new InvalidArgumentError('expected "owner/name"');
  return text;
}

export function duration(text: string): number {
  const ms = parseDuration(text);
  if (ms === null || ms <= 0) throw new InvalidArgumentError('expected a duration such as "72h" or "7d"');
  return ms;
}

/** Fails with a usage error (exit 2) when the repo is not one previewd serves. */
export function assertConfiguredRepo(config: Config, repo: string | undefined): void {
  if (repo !== undefined && !configuredRepo(config, repo)) {
    throw new InvalidArgumentError(`repo ${repo} is not configured (configured: ${config.repos.map((r) => r.name).join(', ') || 'none'})`);
  }
}

/** Loads config from --config / $PREVIEWD_CONFIG and the environment; logs go to stderr, warnings and up. */
export function loadCommandConfig(program: Command): Config {
  return loadConfig({ configPath: program.opts<{ config?: string }>().config });
}

export async function withDeps<T>(config: Config, fn: (deps: OwnedDeps) => Promise<T>): Promise<T> {
  const log = createLogger({ level: config.env.LOG_LEVEL === 'info' ? 'warn' : config.env.LOG_LEVEL, destination: process.stderr });
  const deps = buildDeps(config, { log });
  try {
    return await fn(deps);
  } finally {
    await deps.close();
  }
}

/** The daemon's PR locks, as the CLI's own reconciles take them; tells the operator when it waits. */
export function cliLockOptions(config: Config, io: Io): LockedReconcileOptions {
  return {
    redisUrl: config.env.REDIS_URL,
    prefix: redisPrefix(config.instance),
    onBusy: () => io.err('waiting for the PR lock: another reconcile of this PR is running (up to 60 s)\n'),
  };
}

/** A fixed-width table: the last column is not padded. */
export function formatTable(rows: string[][]): string {
  if (rows.length === 0) return '';
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((r) => (r[col] ?? '').length)));
  return `${rows.map((r) => r.map((cell, col) => (col === r.length - 1 ? cell : cell.padEnd(widths[col]!))).join('  ').trimEnd()).join('\n')}\n`;
}

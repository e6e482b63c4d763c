// `previewd gc`: finds stale environments and orphaned resources and removes them
// through the reconciler. --dry-run prints the plan (a table, or JSON with --json) and
// changes nothing; without --dry-run it asks for confirmation unless --yes is given.
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import type { Deps } from '../../deps.js';
import { keyString } from '../../environments/naming.js';
import { reconcileUnderLock, type LockedReconcileOptions } from '../../queue/locked-reconcile.js';
import { describeGcPlan } from '../../gc/format.js';
import { sweepGc, type SweepEvent, type SweepOptions } from '../../gc/sweep.js';
import type { GcFilter } from '../../gc/types.js';
import { EXIT } from '../exit-codes.js';
import { assertConfiguredRepo, cliLockOptions, duration, loadCommandConfig, prNumber, repoName, stdio, withDeps, type Io } from './ops-shared.js';

export interface GcCommandOptions {
  dryRun?: boolean;
  repo?: string;
  pr?: number;
  olderThan?: number;
  json?: boolean;
  yes?: boolean;
  exitCode?: boolean;
}

function progressLine(event: SweepEvent): string | null {
  switch (event.type) {
    case 'observed':
      return `observed ${event.environments} environment(s) and ${event.resources} marked resource(s)`;
    case 'planned':
      return null;
    case 'action-start':
      return event.action.kind === 'teardown'
        ? `tearing down ${keyString(event.action.key)} (${event.action.reason})`
        : `removing orphan ${event.action.envId} (${event.action.resources.length} resource(s))`;
    case 'step':
      return `  ${event.envId}: ${event.description}`;
    case 'action-done':
      return `  done: ${event.action.envId}`;
    case 'action-failed':
      return `  FAILED: ${event.action.envId}: ${event.error}`;
    case 'stopped':
      return `stopped: ${event.why}`;
  }
}

/** The command's whole behaviour, with Deps and output passed in (tests call this). */
export async function runGc(deps: Deps, options: GcCommandOptions, io: Io, confirm: (question: string) => Promise<boolean>, lock: LockedReconcileOptions): Promise<number> {
  const filter: GcFilter = { repo: options.repo, pr: options.pr, olderThanMs: options.olderThan };
  const progress = (event: SweepEvent) => {
    const line = progressLine(event);
    if (line) io.err(`${line}\n`);
  };
  const teardownNow: SweepOptions['requestTeardown'] = async (key) => {
    // No daemon needed: the CLI runs the reconciler itself, which tears down and reports.
    const result = await reconcileUnderLock(deps, key, 'cli: gc', lock);
    if (result === null) io.err(`  ${keyString(key)}: a newer reconcile took the PR over mid-run; it reports the outcome\n`);
    for (const line of result?.lines ?? []) io.err(`  ${keyString(key)}: ${line}\n`);
  };
  const planned = await sweepGc(deps, { dryRun: true, filter, requestTeardown: teardownNow, onProgress: progress });
  const changes = planned.plan.actions.length;
  if (options.dryRun || changes === 0) {
    io.out(options.json ? `${JSON.stringify({ dryRun: true, plan: planned.plan }, null, 2)}\n` : describeGcPlan(planned.plan, { dryRun: true }));
    return options.exitCode && changes > 0 ? EXIT.changes : EXIT.ok;
  }
  if (!options.json) io.err(describeGcPlan(planned.plan, { dryRun: true }));
  if (!options.yes && !(await confirm(`Remove ${changes} item(s)? [y/N] `))) {
    io.err('nothing removed\n');
    return EXIT.ok;
  }
  // Observe and plan again: the world may have moved while the operator read the plan.
  const applied = await sweepGc(deps, { dryRun: false, filter, requestTeardown: teardownNow, onProgress: progress });
  if (options.json) {
    io.out(`${JSON.stringify({ dryRun: false, plan: applied.plan, done: applied.done.length, failed: applied.failed }, null, 2)}\n`);
  } else {
    io.out(`GC removed ${applied.done.length} item(s); ${applied.failed.length} failed.\n`);
  }
  return applied.failed.length > 0 ? EXIT.failed : EXIT.ok;
}

async function askTty(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) return false;
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

export function registerGcCommand(program: Command): void {
  program
    .command('gc')
    .description('remove stale environments (closed PR, idle, over the cap) and orphaned resources carrying our marker')
    .option('--dry-run', 'print the plan and change nothing')
    .option('--repo <owner/name>', 'only this repository', repoName)
    .option('--pr <number>', 'only this pull request (with --repo)', prNumber)
    .option('--older-than <duration>', 'idle threshold replacing the repos\' idleTtl; only environments idle this long', duration)
    .option('--json', 'print the plan as JSON')
    .option('--yes', 'apply without asking')
    .option('--exit-code', 'with --dry-run: exit 3 when the plan has changes')
    .action(async (options: GcCommandOptions) => {
      const config = loadCommandConfig(program);
      assertConfiguredRepo(config, options.repo);
      if (!options.dryRun && !options.yes && !process.stdin.isTTY) {
        stdio.err('refusing to apply without a terminal to confirm on: pass --yes, or --dry-run\n');
        process.exitCode = EXIT.usage;
        return;
      }
      process.exitCode = await withDeps(config, (deps) => runGc(deps, options, stdio, askTty, cliLockOptions(config, stdio)));
    });
}

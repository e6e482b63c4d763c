// `previewd teardown --repo R --pr N`: records desired = absent and runs the teardown
// reconcile here. A later push or reopen webhook brings the environment back.
import type { Command } from 'commander';
import type { Deps } from '../../deps.js';
import { keyString } from '../../environments/naming.js';
import { reconcileUnderLock, type LockedReconcileOptions } from '../../queue/locked-reconcile.js';
import { EXIT } from '../exit-codes.js';
import { assertConfiguredRepo, cliLockOptions, loadCommandConfig, prNumber, repoName, stdio, withDeps, type Io } from './ops-shared.js';
import { recordTeardownDecision } from '../../environments/teardown-request.js';

export async function runTeardown(deps: Deps, options: { repo: string; pr: number }, io: Io, lock: LockedReconcileOptions): Promise<number> {
  const key = { repo: options.repo, pr: options.pr };
  const recorded = await recordTeardownDecision(deps.store, key, 'cli: teardown');
  if (recorded.kind === 'missing') {
    io.err(`no environment for ${keyString(key)}\n`);
    return EXIT.failed;
  }
  if (recorded.kind === 'superseded') {
    io.err(`${keyString(key)}: a newer change was recorded meanwhile; nothing done\n`);
    return EXIT.failed;
  }
  io.err(`tearing down ${keyString(key)}\n`);
  try {
    const result = await reconcileUnderLock(deps, key, 'cli: teardown', lock);
    if (result === null) {
      io.err(`${keyString(key)}: a newer reconcile took the PR over mid-run; it reports the outcome\n`);
      return EXIT.failed;
    }
    for (const line of result.lines) io.out(`${line}\n`);
    io.out(`${keyString(key)}: ${result.status ?? 'unknown'}\n`);
    return result.status === 'removed' ? EXIT.ok : EXIT.failed;
  } catch (err) {
    io.err(`${keyString(key)}: ${(err as Error).message}\n`);
    return EXIT.failed;
  }
}

export function registerTeardownCommand(program: Command): void {
  program
    .command('teardown')
    .description('remove one environment now (desired = absent, then reconcile)')
    .requiredOption('--repo <owner/name>', 'repository', repoName)
    .requiredOption('--pr <number>', 'pull request number', prNumber)
    .action(async (options: { repo: string; pr: number }) => {
      const config = loadCommandConfig(program);
      assertConfiguredRepo(config, options.repo);
      process.exitCode = await withDeps(config, (deps) => runTeardown(deps, options, stdio, cliLockOptions(config, stdio)));
    });
}

// `previewd redeploy --repo R --pr N`: asks for another reconcile of the same desired
// state and runs it here, printing what it did (no daemon needed).
import type { Command } from 'commander';
import type { Deps } from '../../deps.js';
import { keyString } from '../../environments/naming.js';
import { reconcileUnderLock, type LockedReconcileOptions } from '../../queue/locked-reconcile.js';
import { EXIT } from '../exit-codes.js';
import { assertConfiguredRepo, cliLockOptions, loadCommandConfig, prNumber, repoName, stdio, withDeps, type Io } from './ops-shared.js';

export async function runRedeploy(deps: Deps, options: { repo: string; pr: number }, io: Io, lock: LockedReconcileOptions): Promise<number> {
  const key = { repo: options.repo, pr: options.pr };
  const generation = await deps.store.requestReconcile(key, 'cli: redeploy');
  if (generation === null) {
    io.err(`no environment for ${keyString(key)}\n`);
    return EXIT.failed;
  }
  io.err(`reconciling ${keyString(key)} (generation ${generation})\n`);
  try {
    const result = await reconcileUnderLock(deps, key, 'cli: redeploy', lock);
    if (result === null) {
      io.err(`${keyString(key)}: a newer reconcile took the PR over mid-run; it reports the outcome\n`);
      return EXIT.failed;
    }
    for (const line of result.lines) io.out(`${line}\n`);
    io.out(`${keyString(key)}: ${result.status ?? 'unknown'}\n`);
    return result.status === 'ready' || result.status === 'removed' ? EXIT.ok : EXIT.failed;
  } catch (err) {
    // The reconciler's errors are already scrubbed of secrets.
    io.err(`${keyString(key)}: ${(err as Error).message}\n`);
    return EXIT.failed;
  }
}

export function registerRedeployCommand(program: Command): void {
  program
    .command('redeploy')
    .description('reconcile one environment again with its current desired state')
    .requiredOption('--repo <owner/name>', 'repository', repoName)
    .requiredOption('--pr <number>', 'pull request number', prNumber)
    .action(async (options: { repo: string; pr: number }) => {
      const config = loadCommandConfig(program);
      assertConfiguredRepo(config, options.repo);
      process.exitCode = await withDeps(config, (deps) => runRedeploy(deps, options, stdio, cliLockOptions(config, stdio)));
    });
}

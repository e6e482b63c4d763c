// `previewd e2e rerun --repo R --pr N`: queues the PR's end-to-end tests again at the SHA
// they last ran at; the daemon's e2e runner starts them (no daemon needed to ask).
import type { Command } from 'commander';
import type { Deps } from '../../deps.js';
import { requestE2eRerun } from '../../e2e/rerun.js';
import { keyString } from '../../environments/naming.js';
import { EXIT } from '../exit-codes.js';
import { assertConfiguredRepo, loadCommandConfig, prNumber, repoName, stdio, withDeps, type Io } from './ops-shared.js';

export async function runE2eRerun(deps: Pick<Deps, 'e2e'>, options: { repo: string; pr: number }, io: Io): Promise<number> {
  const key = { repo: options.repo, pr: options.pr };
  const result = await requestE2eRerun(deps, key);
  if (!result.ok) {
    io.err(`${keyString(key)}: ${result.reason}\n`);
    return EXIT.failed;
  }
  io.out(`${keyString(key)}: e2e tests queued again; the daemon runs them\n`);
  return EXIT.ok;
}

export function registerE2eCommand(program: Command): void {
  const e2e = program.command('e2e').description("the end-to-end test gate: the repo's tests run against each ready preview");
  e2e
    .command('rerun')
    .description('run the tests of one pull request again at the commit they last ran at')
    .requiredOption('--repo <owner/name>', 'repository', repoName)
    .requiredOption('--pr <number>', 'pull request number', prNumber)
    .action(async (options: { repo: string; pr: number }) => {
      const config = loadCommandConfig(program);
      assertConfiguredRepo(config, options.repo);
      process.exitCode = await withDeps(config, (deps) => runE2eRerun(deps, options, stdio));
    });
}

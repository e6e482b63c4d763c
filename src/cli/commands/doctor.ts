// `previewd doctor`: a read-only preflight against the configured cluster, before the
// first PR. One line per check, `ok|warn|FAIL <check>: <detail> — fix: <what to do>`;
// exit 1 on any failure, 0 otherwise (warnings do not fail). Nothing is registered or
// written anywhere: Nomad gets parse and plan, Vault capabilities-self, Consul authorize.
import type { Command } from 'commander';
import { runDoctor } from '../../doctor/doctor.js';
import { formatLine, hasFailure } from '../../doctor/runner.js';
import type { Config } from '../../config/schema.js';
import { EXIT } from '../exit-codes.js';
import { loadCommandConfig, stdio, type Io } from './ops-shared.js';

export async function runDoctorCommand(config: Config, options: { json?: boolean }, io: Io): Promise<number> {
  const results = await runDoctor(config);
  if (options.json) io.out(`${JSON.stringify({ ok: !hasFailure(results), checks: results }, null, 2)}\n`);
  else io.out(`${results.map(formatLine).join('\n')}\n`);
  return hasFailure(results) ? EXIT.failed : EXIT.ok;
}

export function registerDoctorCommand(program: Command): void {
  program
    .command('doctor')
    .description('check, read-only, that Nomad, Vault, Consul, Postgres and GitHub are ready for previewd; exit 1 on any failure')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      process.exitCode = await runDoctorCommand(loadCommandConfig(program), options, stdio);
    });
}

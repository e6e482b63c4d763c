// The previewd command line. Each command lives in src/cli/commands/<name>.ts and
// registers itself on the program; exit codes are documented in README.md:
//   0 success · 1 the work failed · 2 bad usage or configuration · 3 a plan has changes (gc --dry-run --exit-code)
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config/load.js';
import { registerCommands } from './commands/index.js';
import { EXIT } from './exit-codes.js';


export async function runCli(argv: string[]): Promise<number> {
  const program = new Command('previewd')
    .description('Per-pull-request preview environments on Nomad, Consul, Vault and Traefik')
    .option('-c, --config <file>', 'config file (YAML or JSON); default $PREVIEWD_CONFIG')
    .exitOverride()
    .showHelpAfterError();
  registerCommands(program);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version are "errors" to commander; they are successes to us.
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (err instanceof ConfigError) {
      for (const line of err.problems) process.stderr.write(`${line}\n`);
      return EXIT.usage;
    }
    process.stderr.write(`previewd: ${(err as Error).message}\n`);
    return EXIT.failed;
  }
}

// Run directly (`node --import tsx src/cli/main.ts`, `node dist/cli/main.js`); the
// installed bin/previewd.js imports this module and calls runCli itself.
const isMain = process.argv[1] !== undefined && /[\\/]cli[\\/]main\.[jt]s$/.test(process.argv[1]);
if (isMain) {
  runCli(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}

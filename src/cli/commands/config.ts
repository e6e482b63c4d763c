// `previewd config check` validates the config file and environment the way `serve`
// would (one line per problem, exit 2); `previewd config docs` prints the reference;
// `previewd config vault-policy` prints the Vault policy previewd's own token needs.
import type { Command } from 'commander';
import { configReferenceMarkdown } from '../../config/docs.js';
import { loadConfig, loadFileConfig } from '../../config/load.js';
import { renderDaemonPolicy } from '../../environments/vault-access.js';

export function registerConfigCommand(program: Command): void {
  const config = program.command('config').description('validate configuration or print its reference');
  config
    .command('check')
    .description('validate the config file and environment; exit 2 with one line per problem')
    .action(() => {
      const loaded = loadConfig({ configPath: program.opts<{ config?: string }>().config });
      process.stdout.write(`configuration ok: ${loaded.repos.length} repo(s), instance "${loaded.instance}"\n`);
    });
  config
    .command('docs')
    .description('print the configuration reference (Markdown), generated from the schema')
    .action(() => {
      process.stdout.write(`${configReferenceMarkdown()}\n`);
    });
  config
    .command('vault-policy')
    .description("print the Vault policy (HCL) of previewd's own token for this config file: only the paths it calls")
    .action(() => {
      process.stdout.write(renderDaemonPolicy(loadFileConfig({ configPath: program.opts<{ config?: string }>().config })));
    });
}

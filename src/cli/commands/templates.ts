// `previewd templates check [DIR]`: renders every template with sample values,
// parses it with the real HCL parser and checks each job; one "file:line: reason"
// per problem and exit 1 when there is any. Needs only the config file.
import { relative } from 'node:path';
import type { Command } from 'commander';
import { loadFileConfig } from '../../config/load.js';
import { checkTemplates, formatProblem } from '../../templates/check.js';
import { DEFAULT_TEMPLATES_DIR } from '../../templates/render.js';
import { EXIT } from '../exit-codes.js';

export function registerTemplatesCommand(program: Command): void {
  const templates = program.command('templates').description('work with job templates');
  templates
    .command('check')
    .argument('[dir]', 'templates directory (manifest.json + *.nomad.hcl.hbs)', DEFAULT_TEMPLATES_DIR)
    .description('render every template with sample values, parse it and check each job')
    .action(async (dir: string) => {
      const config = loadFileConfig({ configPath: program.opts<{ config?: string }>().config });
      const problems = await checkTemplates(dir, config);
      const shown = relative(process.cwd(), dir) || '.';
      for (const p of problems) process.stdout.write(`${shown}/${formatProblem(p)}\n`);
      if (problems.length > 0) {
        process.stderr.write(`${problems.length} problem(s) in ${shown}\n`);
        process.exitCode = EXIT.failed;
        return;
      }
      process.stdout.write(`templates ok: ${shown}\n`);
    });
}

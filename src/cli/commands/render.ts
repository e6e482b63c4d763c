// `previewd render --repo OWNER/NAME --pr N --sha SHA [--out DIR]`: the HCL of every
// component of one PR, printed or written to <component>.nomad.hcl. Needs only the
// config file: no secrets, no cluster.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { loadFileConfig } from '../../config/load.js';
import { renderEnvironment } from '../../templates/render.js';

function prNumber(text: string): number {
  if (!/^\d{1,9}$/.test(text) || Number(text) < 1) throw new InvalidArgumentError('expected a positive PR number');
  return Number(text);
}

function headSha(text: string): string {
  if (!/^[0-9a-f]{40}$/.test(text)) throw new InvalidArgumentError('expected a 40-character lower-case hex SHA');
  return text;
}

export function registerRenderCommand(program: Command): void {
  program
    .command('render')
    .description('render the Nomad jobs of one PR (HCL) from the job templates; needs no secrets')
    .requiredOption('--repo <owner/name>', 'repository, as configured')
    .requiredOption('--pr <number>', 'pull request number', prNumber)
    .requiredOption('--sha <sha>', 'head commit SHA (40 hex)', headSha)
    .option('--out <dir>', 'write <component>.nomad.hcl files into this directory instead of printing')
    .option('--templates <dir>', "templates directory (default: the repo's templatesDir, else job-templates/)")
    .action(async (opts: { repo: string; pr: number; sha: string; out?: string; templates?: string }) => {
      const config = loadFileConfig({ configPath: program.opts<{ config?: string }>().config });
      const rendered = await renderEnvironment(config, { repo: opts.repo, pr: opts.pr }, opts.sha, opts.templates ? { templatesDir: opts.templates } : {});
      if (opts.out) {
        await mkdir(opts.out, { recursive: true });
        for (const c of rendered) await writeFile(join(opts.out, `${c.component}.nomad.hcl`), c.hcl);
        process.stdout.write(`${rendered.map((c) => join(opts.out!, `${c.component}.nomad.hcl`)).join('\n')}\n`);
        return;
      }
      for (const c of rendered) process.stdout.write(`# ---- ${c.component}: ${c.jobId}\n${c.hcl}\n`);
    });
}

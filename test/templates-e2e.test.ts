// `previewd templates check` covers the e2e gate's template: it renders with the strict
// context, uses only allowed drivers and is a batch job.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildConfig } from '../src/config/load.js';
import { checkTemplates } from '../src/templates/check.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function copyTemplates(edit?: (text: string) => string): string {
  const dir = mkdtempSync(join(tmpdir(), 'previewd-e2e-templates-'));
  dirs.push(dir);
  cpSync(new URL('../job-templates', import.meta.url), dir, { recursive: true });
  if (edit) writeFileSync(join(dir, 'e2e.nomad.hcl.hbs'), edit(readFileSync(join(dir, 'e2e.nomad.hcl.hbs'), 'utf8')));
  return dir;
}

const config = buildConfig({}, { VAULT_TOKEN: 'hvs.x', DATABASE_URL: 'postgres://u@db.example.com/p', GITHUB_WEBHOOK_SECRET: 'w'.repeat(20), GITHUB_TOKEN: 'ghp_x', PREVIEWD_ADMIN_TOKEN: 'a'.repeat(20) });

describe('templates check: the e2e template', () => {
  it('the shipped example passes', async () => {
    expect(await checkTemplates(copyTemplates(), config)).toEqual([]);
  });
  it('a service job, a driver not allowed and an unknown variable are each reported', async () => {
    expect(await checkTemplates(copyTemplates((t) => t.replace('type        = "batch"', 'type        = "service"')), config)).toMatchObject([{ file: 'e2e.nomad.hcl.hbs', reason: expect.stringContaining('must be type = "batch"') }]);
    expect(await checkTemplates(copyTemplates((t) => t.replace('driver = "docker"', 'driver = "raw_exec"')), config)).toMatchObject([{ reason: expect.stringContaining('raw_exec') }]);
    expect(await checkTemplates(copyTemplates((t) => t.replace('{{hcl component.image}}', '{{hcl component.nope}}')), config)).toMatchObject([{ file: expect.stringContaining('e2e.nomad.hcl.hbs') }]);
  });
});

import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from '@cdktf/hcl2json';
import { afterAll, describe, expect, it } from 'vitest';
import { fileConfigSchema } from '../config/schema.js';
import { UserError } from '../errors.js';
import { canonicalEnvironment } from './context.js';
import { TemplateError } from './engine.js';
import { loadManifest } from './manifest.js';
import { DEFAULT_TEMPLATES_DIR, renderEnvironment, renderEnvironmentSecret, taskDrivers } from './render.js';

const GOLDEN = fileURLToPath(new URL('../../test/golden/', import.meta.url));
const SHA = '3f2c1ab4d5e6f708192a3b4c5d6e7f8091a2b3c4';
const key = { repo: 'acme/shop', pr: 42 };
const config = fileConfigSchema.parse({
  baseDomain: 'preview.example.com',
  repos: [{ name: 'acme/shop', images: { api: 'ghcr.io/acme/shop-api', worker: 'ghcr.io/acme/shop-worker', frontend: 'ghcr.io/acme/shop-web' } }],
});

const tmpDirs: string[] = [];
afterAll(() => Promise.all(tmpDirs.map((d) => rm(d, { recursive: true, force: true }))));

/** A copy of the shipped templates (without the shared partials) to edit. */
async function templatesCopy(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'previewd-templates-'));
  tmpDirs.push(dir);
  await cp(DEFAULT_TEMPLATES_DIR, dir, { recursive: true, filter: (src) => !src.includes('partials') });
  return dir;
}
const withDir = (dir: string) => ({ ...config, repos: [{ ...config.repos[0]!, templatesDir: dir }] });

describe('renderEnvironment', () => {
  it('when rendering the shipped templates then each component matches its golden file (UPDATE_GOLDEN=1 rewrites them)', async () => {
    const rendered = await renderEnvironment(config, key, SHA);
    expect(rendered.map((c) => c.component)).toEqual(['cache', 'api', 'worker', 'frontend']);
    for (const c of rendered) {
      const file = join(GOLDEN, `${c.component}.nomad.hcl`);
      if (process.env.UPDATE_GOLDEN === '1') {
        await mkdir(GOLDEN, { recursive: true });
        await writeFile(file, c.hcl);
      }
      expect(c.hcl, `${c.component} differs from test/golden/${c.component}.nomad.hcl`).toBe(await readFile(file, 'utf8'));
    }
  });

  it('when rendered then the items carry IDs, dependencies, hosts and health paths for the reconciler', async () => {
    const rendered = await renderEnvironment(config, key, SHA);
    const api = rendered.find((c) => c.component === 'api')!;
    expect(api).toMatchObject({
      jobId: 'acme-shop-pr-42-api',
      serviceName: 'acme-shop-pr-42-api',
      dependsOn: ['cache'],
      routable: true,
      host: 'api-pr-42.preview.example.com',
      url: 'https://api-pr-42.preview.example.com',
      healthPath: '/healthz',
    });
    expect(rendered.find((c) => c.component === 'worker')).toMatchObject({ routable: false, host: null, url: null });
  });

  it('when the secret holds a database password then no rendered spec contains it', async () => {
    const password = 'pw-Xq9!z$7{secret}';
    const databaseUrl = `postgres://preview_acme_shop_pr_42:${encodeURIComponent(password)}@db.internal:5432/preview_acme_shop_pr_42`;
    const secret = await renderEnvironmentSecret(config, key, SHA, databaseUrl);
    expect(secret.DATABASE_URL).toBe(databaseUrl);
    const rendered = await renderEnvironment(config, key, SHA);
    for (const c of rendered) {
      expect(c.hcl).not.toContain(password);
      expect(c.hcl).not.toContain(encodeURIComponent(password));
      expect(c.hcl).not.toContain(databaseUrl);
    }
    // The specs reference the secret's keys instead.
    expect(rendered.find((c) => c.component === 'api')!.hcl).toContain('DATABASE_URL=[[ .Data.data.DATABASE_URL ]]');
  });

  it('when every task is parsed then the template block reads exactly the canonical secret keys', async () => {
    const manifest = await loadManifest(DEFAULT_TEMPLATES_DIR);
    const keys = Object.keys(canonicalEnvironment(config, key, SHA, manifest, 'postgres://x@y/z'));
    const api = (await renderEnvironment(config, key, SHA)).find((c) => c.component === 'api')!;
    const parsed: any = await parse('api.hcl', api.hcl);
    const task = parsed.job['acme-shop-pr-42-api'][0].group.api[0].task.api[0];
    expect(task.vault[0].role).toBe('previewd-acme-shop-pr-42');
    const data: string = task.template[0].data;
    const read = [...data.matchAll(/^(\w+)=\[\[ \.Data\.data\.(\w+) \]\]$/gm)].map((m) => m[1]);
    expect(read.sort()).toEqual([...keys].sort());
    expect(data).toMatch(/^\[\[ range service "acme-shop-pr-42-cache" \]\]REDIS_URL=redis:\/\/\[\[ \.Address \]\]:\[\[ \.Port \]\]\[\[ end \]\]$/m);
  });

  it('when a repo has its own templatesDir then its templates are used and the shared partials still resolve', async () => {
    const dir = await templatesCopy();
    const source = await readFile(join(dir, 'worker.nomad.hcl.hbs'), 'utf8');
    await writeFile(join(dir, 'worker.nomad.hcl.hbs'), source.replace('"run", "worker"', '"run", "custom-worker"'));
    const rendered = await renderEnvironment(withDir(dir), key, SHA, { fresh: true });
    const worker = rendered.find((c) => c.component === 'worker')!;
    expect(worker.hcl).toContain('"custom-worker"');
    expect(worker.hcl).toContain('"previewd.managed-by" = "previewd"');
  });

  it('when a template asks for raw_exec then rendering is refused naming the template', async () => {
    const dir = await templatesCopy();
    const source = await readFile(join(dir, 'worker.nomad.hcl.hbs'), 'utf8');
    await writeFile(join(dir, 'worker.nomad.hcl.hbs'), source.replace('driver = "docker"', 'driver = "raw_exec"'));
    const error = await renderEnvironment(withDir(dir), key, SHA, { fresh: true }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toMatch(/worker\.nomad\.hcl\.hbs: task "worker\.worker" uses driver "raw_exec"/);
    // Allowed when the operator allows it.
    const allowed = { ...withDir(dir), nomad: { ...config.nomad, allowedDrivers: ['docker', 'raw_exec'] } };
    const rendered = await renderEnvironment(allowed, key, SHA, { fresh: true });
    const parsed = await parse('w.hcl', rendered.find((c) => c.component === 'worker')!.hcl);
    expect(taskDrivers(parsed)).toEqual([['worker', 'worker', 'raw_exec']]);
  });

  it('when a template uses an unknown variable then the error names the file and line, not an empty string', async () => {
    const dir = await templatesCopy();
    const source = await readFile(join(dir, 'frontend.nomad.hcl.hbs'), 'utf8');
    const lines = source.split('\n');
    const at = lines.findIndex((l) => l.includes('count = 1'));
    lines[at] = '    count = {{hcl component.replicas}}';
    await writeFile(join(dir, 'frontend.nomad.hcl.hbs'), lines.join('\n'));
    const error = await renderEnvironment(withDir(dir), key, SHA, { fresh: true }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TemplateError);
    expect((error as TemplateError).message).toBe(`frontend.nomad.hcl.hbs:${at + 1}: unknown variable "component.replicas"`);
  });

  it('when rendered twice then the second render reuses the compiled templates and is fast', async () => {
    await renderEnvironment(config, key, SHA);
    const started = performance.now();
    for (let pr = 100; pr < 110; pr++) await renderEnvironment(config, { repo: 'acme/shop', pr }, SHA);
    expect((performance.now() - started) / 10).toBeLessThan(250);
  });
});

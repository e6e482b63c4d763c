import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../cli/main.js';
import { fileConfigSchema } from '../config/schema.js';
import { checkTemplates, formatProblem } from './check.js';
import { DEFAULT_TEMPLATES_DIR } from './render.js';

const config = fileConfigSchema.parse({ baseDomain: 'preview.example.com' });
const dirs: string[] = [];
afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

async function brokenCopy(file: string, edit: (source: string) => string): Promise<{ dir: string; source: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'previewd-check-'));
  dirs.push(dir);
  await cp(DEFAULT_TEMPLATES_DIR, dir, { recursive: true, filter: (src) => !src.includes('partials') });
  const source = edit(await readFile(join(dir, file), 'utf8'));
  await writeFile(join(dir, file), source);
  return { dir, source };
}
const lineOf = (source: string, text: string) => source.split('\n').findIndex((l) => l.includes(text)) + 1;

describe('checkTemplates', () => {
  it('when checking the shipped templates then there is no problem', async () => {
    expect((await checkTemplates(DEFAULT_TEMPLATES_DIR, config)).map(formatProblem)).toEqual([]);
  });

  it.each([
    ['an unknown variable', 'api.nomad.hcl.hbs', (s: string) => s.replace('count = 1', 'count = {{hcl component.count}}'), 'count = {{hcl', /unknown variable "component.count"/],
    ['a Handlebars syntax error', 'worker.nomad.hcl.hbs', (s: string) => s.replace('count = 1', 'count = {{#if x}}'), null, /syntax error/],
    ['an HCL syntax error', 'cache.nomad.hcl.hbs', (s: string) => s.replace('cpu    = 100', 'cpu    = '), 'cpu    =', /HCL: /],
    ['a task without driver', 'worker.nomad.hcl.hbs', (s: string) => s.replace('driver = "docker"', ''), 'task "worker"', /task "worker" has no driver/],
    ['a raw_exec task', 'worker.nomad.hcl.hbs', (s: string) => s.replace('driver = "docker"', 'driver = "raw_exec"'), 'driver = "raw_exec"', /not in nomad.allowedDrivers/],
    ['missing ownership meta', 'cache.nomad.hcl.hbs', (s: string) => s.replace('{{> job-meta}}', ''), null, /job meta "previewd.managed-by"/],
    ['a v2 Traefik rule', 'frontend.nomad.hcl.hbs', (s: string) => s.replace('{{> routable-service}}', 'service {\n      name = {{hcl component.serviceName}}\n      port = "http"\n      tags = ["traefik.enable=true", "traefik.http.routers.{{component.serviceName}}.rule=Host(`a.example.com`,`b.example.com`)"]\n      check {\n        type = "http"\n        path = "/"\n        interval = "10s"\n        timeout = "2s"\n      }\n    }'), 'tags =', /Host takes 1 value/],
    ['a task without the canonical environment', 'frontend.nomad.hcl.hbs', (s: string) => s.replace('{{> canonical-env changeMode="restart"}}', ''), 'task "frontend"', /lacks the canonical environment template/],
    ['a dotted service meta key', 'cache.nomad.hcl.hbs', (s: string) => s.replace('{{> service-meta}}', 'meta = { "previewd.env" = "x" }'), 'previewd.env', /refused by Consul/],
    ['service meta as an attribute', 'cache.nomad.hcl.hbs', (s: string) => s.replace('{{> service-meta}}', 'meta = { previewd_env = "x" }'), 'meta = {', /service meta must be a block/],
    ['a group reading Consul without a consul block', 'worker.nomad.hcl.hbs', (s: string) => s.replace('{{> group-policies}}', ''), 'group "worker"', /needs a consul block/],
  ])('when a template has %s then it is reported as file:line', async (_name, file, edit, near, pattern) => {
    const { dir, source } = await brokenCopy(file, edit);
    const problems = await checkTemplates(dir, config);
    const problem = problems.find((p) => pattern.test(p.reason));
    expect(problem, problems.map(formatProblem).join('\n')).toBeDefined();
    expect(problem!.file).toBe(file);
    if (near) expect(problem!.line).toBe(lineOf(source, near));
    else expect(problem!.line).toBeGreaterThan(1);
  });
});

describe('checkTemplates: workload identities', () => {
  it('when a repo partial drops the declared identities then each task reading Vault and Consul is reported', async () => {
    const { dir } = await brokenCopy('worker.nomad.hcl.hbs', (s) => s);
    const shared = await readFile(join(DEFAULT_TEMPLATES_DIR, 'partials', 'canonical-env.hbs'), 'utf8');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(dir, 'partials'));
    await writeFile(join(dir, 'partials', 'canonical-env.hbs'), shared.replace(/identity \{[\s\S]*?\n\}\n/g, ''));
    const reasons = (await checkTemplates(dir, config)).map((p) => p.reason);
    expect(reasons).toContain('task "worker" needs identity { name = "vault_default" aud = ["vault.io"] } (its Vault login)');
    expect(reasons).toContain('task "worker" needs identity { name = "consul_default" aud = ["consul.io"] } (its Consul token for the cache lookup)');
  });
});

describe('previewd templates check', () => {
  let out = '';
  const write = process.stdout.write.bind(process.stdout);
  afterEach(() => {
    process.stdout.write = write;
    process.exitCode = undefined;
  });
  const run = async (args: string[]) => {
    out = '';
    process.stdout.write = ((chunk: string) => ((out += chunk), true)) as typeof process.stdout.write;
    const errWrite = process.stderr.write;
    process.stderr.write = (() => true) as typeof process.stderr.write;
    try {
      return await runCli(args);
    } finally {
      process.stdout.write = write;
      process.stderr.write = errWrite;
      process.exitCode = undefined;
    }
  };

  it('when the templates are sound then it exits 0; when one is broken then it prints file:line and exits 1', async () => {
    expect(await run(['templates', 'check', DEFAULT_TEMPLATES_DIR])).toBe(0);
    const { dir, source } = await brokenCopy('api.nomad.hcl.hbs', (s) => s.replace('ports = [{{hcl component.port.label}}]', 'ports = [{{hcl component.port.name}}]'));
    expect(await run(['templates', 'check', dir])).toBe(1);
    expect(out).toContain(`/api.nomad.hcl.hbs:${lineOf(source, 'component.port.name')}: unknown variable "component.port.name"`);
  });
});

// Hostile input at every value a user or operator could influence: the rendered
// HCL must parse to exactly the intended blocks and values, or the input must be
// refused with a clear error before anything renders.
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from '@cdktf/hcl2json';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileConfigSchema, type FileConfig } from '../src/config/schema.js';
import { UserError } from '../src/errors.js';
import { canonicalEnvironment } from '../src/templates/context.js';
import { hasLiveTemplateSequence, unescapeParsedTemplate } from '../src/templates/hcl.js';
import { loadManifest } from '../src/templates/manifest.js';
import { DEFAULT_TEMPLATES_DIR, renderEnvironment } from '../src/templates/render.js';

const SHA = 'deadbeef00000000000000000000000000000001';
const HOSTILE = [
  'quote " end',
  'backslash \\ and \\" escaped',
  'interp ${jsonencode(1)} and $${x}',
  'directive %{ if true }yes%{ endif }',
  'handlebars }} {{ and {{{x}}}',
  'consul-template [[ .Data ]] ]] [[',
  'newline\n}\njob "evil" {\n  driver = "raw_exec"\n',
  'carriage\r\ttab\u000b\u001b[31m',
  'unicode é 你好 🚀 \u202e\u2028',
  '" = "x"\n  meta = { "previewd.managed-by" = "someone-else" }',
  'a'.repeat(10_000),
];
const NUL = 'nul \u0000 byte';

const baseConfig = fileConfigSchema.parse({
  baseDomain: 'preview.example.com',
  nomad: { datacenters: ['dc0', 'dc1'] },
  repos: [{ name: 'acme/shop', images: { api: 'ghcr.io/acme/api', worker: 'ghcr.io/acme/worker', frontend: 'ghcr.io/acme/web' } }],
});
const key = { repo: 'acme/shop', pr: 42 };

type Json = unknown;
/** Structure only: block and attribute names, list lengths; job labels abstracted (they follow the repo). */
function shape(value: Json, path: string[] = []): Json {
  if (Array.isArray(value)) return value.map((v) => shape(v, path));
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, Json>).map(([k, v]) => [path.at(-1) === 'job' ? '<job>' : k, shape(v, [...path, k])]);
    return Object.fromEntries(entries.sort(([a], [b]) => String(a).localeCompare(String(b))));
  }
  return typeof value;
}
function strings(value: Json): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (value && typeof value === 'object') return Object.values(value).flatMap(strings);
  return [];
}
async function parsedEnvironment(config: FileConfig, k = key): Promise<Record<string, any>> {
  const rendered = await renderEnvironment(config, k, SHA, { fresh: true });
  return Object.fromEntries(await Promise.all(rendered.map(async (c) => [c.component, await parse(`${c.component}.hcl`, c.hcl)] as const)));
}
const jobBody = (parsed: any) => Object.values(parsed.job as Record<string, any[]>)[0]![0];

let baseline: Record<string, any>;
const dirs: string[] = [];
beforeAll(async () => {
  baseline = await parsedEnvironment(baseConfig);
});
afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

function expectSameShape(parsed: Record<string, any>): void {
  for (const [component, json] of Object.entries(parsed)) {
    expect(shape(json), `${component}: blocks or attributes changed`).toEqual(shape(baseline[component]));
    for (const s of strings(json)) expect(hasLiveTemplateSequence(s), `${component}: live HCL template sequence in ${JSON.stringify(s.slice(0, 80))}`).toBe(false);
  }
}

describe('hostile datacenters (a free-form config string)', () => {
  it.each(HOSTILE.map((h) => [h.slice(0, 30), h]))('when a datacenter is %j then every job has the same blocks and exactly that datacenter', async (_l, hostile) => {
    const parsed = await parsedEnvironment({ ...baseConfig, nomad: { ...baseConfig.nomad, datacenters: [hostile, 'dc1'] } });
    expectSameShape(parsed);
    for (const json of Object.values(parsed)) {
      expect(jobBody(json).datacenters.map(unescapeParsedTemplate)).toEqual([hostile, 'dc1']);
      expect(jobBody(json).meta['previewd.managed-by']).toBe('previewd');
    }
  });

  it('when a datacenter holds a NUL then rendering is refused with a clear error', async () => {
    const error = await renderEnvironment({ ...baseConfig, nomad: { ...baseConfig.nomad, datacenters: [NUL] } }, key, SHA).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toMatch(/\.nomad\.hcl\.hbs:\d+: .*contains a NUL character/);
  });
});

describe('hostile image names (bypassing the config schema)', () => {
  it.each(HOSTILE.filter((h) => !/:[^/]*$/.test(h)).map((h) => [h.slice(0, 30), h]))('when the api image is %j then only the image values change', async (_l, hostile) => {
    const repos = [{ ...baseConfig.repos[0]!, images: { ...baseConfig.repos[0]!.images, api: hostile } }];
    const parsed = await parsedEnvironment({ ...baseConfig, repos });
    expectSameShape(parsed);
    const tasks = jobBody(parsed.api).group.api[0].task;
    expect(unescapeParsedTemplate(tasks.api[0].config[0].image)).toBe(`${hostile}:${SHA}`);
    expect(unescapeParsedTemplate(tasks.migrate[0].config[0].image)).toBe(`${hostile}:${SHA}`);
  });
});

describe('hostile repo names (as far as the schema admits them)', () => {
  const names = ['../..', '-.-/_._', 'A.B_c-D/x.Y_z', `${'o'.repeat(100)}/${'n'.repeat(100)}`, '__/--'];
  it.each(names)('when the repo is %j then names stay valid and the repo is kept verbatim only in meta', async (repo) => {
    const config = fileConfigSchema.parse({ baseDomain: 'preview.example.com', nomad: baseConfig.nomad, repos: [{ name: repo, images: baseConfig.repos[0]!.images }] });
    const parsed = await parsedEnvironment(config, { repo, pr: 7 });
    expectSameShape(parsed);
    for (const [component, json] of Object.entries(parsed)) {
      const [jobId] = Object.keys(json.job);
      expect(jobId).toMatch(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/);
      expect(jobId!.endsWith(`-pr-7-${component}`)).toBe(true);
      expect(jobBody(json).meta['previewd.repo']).toBe(repo);
    }
  });
});

describe('hostile manifest values', () => {
  async function manifestCopy(edit: (m: any) => void): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'previewd-hostile-'));
    dirs.push(dir);
    await cp(DEFAULT_TEMPLATES_DIR, dir, { recursive: true, filter: (src) => !src.includes('partials') });
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
    edit(manifest);
    await writeFile(join(dir, 'manifest.json'), JSON.stringify(manifest));
    return dir;
  }
  const withDir = (dir: string): FileConfig => ({ ...baseConfig, repos: [{ ...baseConfig.repos[0]!, templatesDir: dir }] });

  it.each(HOSTILE.filter((h) => h.length < 200).map((h) => [h.slice(0, 30), h]))('when a health path is "/"+%j then only the check path changes', async (_l, hostile) => {
    const dir = await manifestCopy((m) => (m.components.api.healthPath = `/${hostile}`));
    const parsed = await parsedEnvironment(withDir(dir));
    expectSameShape(parsed);
    const service = jobBody(parsed.api).group.api[0].service[0];
    expect(unescapeParsedTemplate(service.check[0].path)).toBe(`/${hostile}`);
  });

  it('when a health path is 10 000 characters then the manifest is refused before rendering', async () => {
    const dir = await manifestCopy((m) => (m.components.api.healthPath = `/${'a'.repeat(10_000)}`));
    await expect(renderEnvironment(withDir(dir), key, SHA, { fresh: true })).rejects.toThrow(/components\.api\.healthPath/);
  });

  it.each(HOSTILE.map((h) => [h.slice(0, 30), h]))('when an extra variable is %j then the jobs are unchanged and the value reaches only the Vault secret', async (_l, hostile) => {
    const dir = await manifestCopy((m) => (m.components.worker.env = { QUEUE_NAME: hostile }));
    const rendered = await renderEnvironment(withDir(dir), key, SHA, { fresh: true });
    const parsed = Object.fromEntries(await Promise.all(rendered.map(async (c) => [c.component, await parse('x.hcl', c.hcl)] as const)));
    expectSameShape(parsed);
    for (const c of rendered) if (hostile.length > 3) expect(c.hcl).not.toContain(hostile);
    const manifest = await loadManifest(dir);
    const secret = () => canonicalEnvironment(baseConfig, key, SHA, manifest, 'postgres://u:p@db/x');
    if (/[\r\n]/.test(hostile)) expect(secret).toThrow(/QUEUE_NAME contains a line break/);
    else expect(secret().QUEUE_NAME).toBe(hostile);
  });

  it('when an extra variable name is not an identifier then the manifest is refused', async () => {
    const dir = await manifestCopy((m) => (m.components.worker.env = { 'X=1\nEVIL': 'v' }));
    await expect(renderEnvironment(withDir(dir), key, SHA, { fresh: true })).rejects.toThrow(/invalid template manifest/);
  });
});

describe('hostile routing settings (bypassing the config schema)', () => {
  it.each([
    ['entrypoint', { traefik: { entrypoint: 'websecure\ntraefik.enable=false', certResolver: 'le' } }, /traefik.entrypoint/],
    ['cert resolver', { traefik: { entrypoint: 'websecure', certResolver: 'le`) || Host(`evil.com' } }, /traefik.certResolver/],
    ['base domain', { baseDomain: 'example.com`) || Host(`evil.com' }, /not a valid DNS name/],
    ['host pattern', { hostPatterns: { frontend: 'pr-{pr}.{domain}"', api: 'api-pr-{pr}.{domain}' } }, /not a valid DNS name/],
  ])('when the %s is hostile then rendering is refused with a UserError', async (_name, over, pattern) => {
    const error = await renderEnvironment({ ...baseConfig, ...(over as Partial<FileConfig>) }, key, SHA).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toMatch(pattern);
  });
});

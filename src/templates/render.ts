// renderEnvironment: the rendered HCL of every component of one PR, in dependency
// order. Pure apart from reading (and caching) the template files; talks to no cluster.
import { resolve, join } from 'node:path';
import { parse as parseHcl } from '@cdktf/hcl2json';
import { UserError } from '../errors.js';
import type { EnvironmentKey } from '../environments/naming.js';
import { packagePath } from '../package-root.js';
import { buildRenderContext, canonicalEnvironment, imageFor, type ComponentContext, type RenderConfig, type RenderContext } from './context.js';
import { environmentNames } from '../environments/naming.js';
import { consulServiceMeta, nomadJobMeta } from '../ownership/markers.js';
import { TEST_COMPONENT, testJobId } from '../e2e/naming.js';
import { createEngine, TemplateError, type CompiledTemplate } from './engine.js';
import { dependencyOrder, loadManifest, type Manifest } from './manifest.js';
import { ownValue } from '../own.js';
import { repoConfig } from '../config/repos.js';

export const DEFAULT_TEMPLATES_DIR = packagePath('job-templates');
const SHARED_PARTIALS_DIR = join(DEFAULT_TEMPLATES_DIR, 'partials');

export interface RenderedComponent {
  component: string;
  jobId: string;
  serviceName: string;
  hcl: string;
  /** Built from the PR: its job carries the head SHA (see ComponentContext). */
  builtFromPr: boolean;
  /** The image its task runs (<image>:<sha> when built from the PR): what the build gate probes. */
  image: string;
  dependsOn: string[];
  routable: boolean;
  host: string | null;
  url: string | null;
  healthPath: string | null;
}

export interface TemplateSet {
  dir: string;
  manifest: Manifest;
  templates: Map<string, { file: string; render: CompiledTemplate }>;
}

export interface RenderOptions {
  /** Overrides the repo's templatesDir (and the default). */
  templatesDir?: string;
  /** Skip the template cache (templates check, tests that edit templates). */
  fresh?: boolean;
}

/** Loads a directory's manifest and compiles its templates, with the shared partials first. */
export async function loadTemplateSet(dir: string): Promise<TemplateSet> {
  const manifest = await loadManifest(dir);
  const partialDirs = [SHARED_PARTIALS_DIR];
  if (resolve(dir, 'partials') !== resolve(SHARED_PARTIALS_DIR)) partialDirs.push(join(dir, 'partials'));
  const engine = await createEngine(partialDirs);
  const templates = new Map<string, { file: string; render: CompiledTemplate }>();
  for (const [name, spec] of Object.entries(manifest.components)) {
    templates.set(name, { file: spec.template, render: await engine.compileFile(join(dir, spec.template)) });
  }
  return { dir, manifest, templates };
}

// Compiled once per directory for the life of the process; a failed load is not kept.
const cache = new Map<string, Promise<TemplateSet>>();

function templateSetFor(dir: string, fresh = false): Promise<TemplateSet> {
  const key = resolve(dir);
  if (fresh) return loadTemplateSet(key);
  let set = cache.get(key);
  if (!set) {
    set = loadTemplateSet(key);
    cache.set(key, set);
    set.catch(() => cache.delete(key));
  }
  return set;
}

function templatesDirFor(config: RenderConfig, repo: string, options: RenderOptions = {}): string {
  return resolve(options.templatesDir ?? repoConfig(config, repo).templatesDir ?? DEFAULT_TEMPLATES_DIR);
}

type HclBody = Record<string, unknown>;
const blocks = (body: unknown, name: string): [string, HclBody][] => {
  const value = (body as HclBody | undefined)?.[name];
  if (!value || typeof value !== 'object') return [];
  return Object.entries(value as Record<string, HclBody[]>).flatMap(([label, list]) => (Array.isArray(list) ? list.map((b) => [label, b] as [string, HclBody]) : []));
};

/** Task drivers of a parsed job file: [group, task, driver]. */
export function taskDrivers(parsed: unknown): [string, string, unknown][] {
  return blocks(parsed, 'job').flatMap(([, job]) =>
    blocks(job, 'group').flatMap(([group, body]) => blocks(body, 'task').map(([task, t]) => [group, task, t.driver] as [string, string, unknown])),
  );
}

/** Renders one component from a context; refuses HCL that does not parse and drivers not allowed. */
async function renderComponent(set: TemplateSet, context: RenderContext, component: string, allowedDrivers: string[]): Promise<string> {
  const template = set.templates.get(component);
  if (!template) throw new UserError(`no template for component ${component}`, { system: 'templates' });
  return checkedHcl(template, template.render({ ...context, component: ownValue(context.components, component) }), allowedDrivers);
}

/** Refuses rendered HCL that does not parse or uses a driver not in nomad.allowedDrivers. */
async function checkedHcl(template: { file: string }, hcl: string, allowedDrivers: string[]): Promise<string> {
  let parsed: unknown;
  try {
    parsed = await parseHcl(template.file, hcl);
  } catch (err) {
    const detail = /\[?([^:\]]+:(\d+),\d+[^\]]*)\]?/.exec(String((err as Error).message));
    throw new TemplateError(template.file, 1, `rendered job does not parse (rendered ${detail?.[1] ?? 'text'})`, err);
  }
  for (const [group, task, driver] of taskDrivers(parsed)) {
    if (typeof driver !== 'string' || !allowedDrivers.includes(driver)) {
      throw new UserError(`template ${template.file}: task "${group}.${task}" uses driver ${JSON.stringify(driver ?? null)}, which is not in nomad.allowedDrivers (${allowedDrivers.join(', ')})`, {
        system: 'templates',
      });
    }
  }
  return hcl;
}

export async function renderEnvironment(
  config: RenderConfig,
  key: EnvironmentKey,
  sha: string,
  options: RenderOptions = {},
): Promise<RenderedComponent[]> {
  const set = await templateSetFor(templatesDirFor(config, key.repo, options), options.fresh);
  const context = buildRenderContext(config, key, sha, set.manifest);
  const order = dependencyOrder(set.manifest.components) ?? [];
  return Promise.all(
    order.map(async (name) => {
      const c = ownValue(context.components, name)!;
      return {
        component: name,
        jobId: c.jobId,
        serviceName: c.serviceName,
        hcl: await renderComponent(set, context, name, config.nomad.allowedDrivers),
        builtFromPr: c.builtFromPr,
        image: c.image,
        dependsOn: [...c.dependsOn],
        routable: c.routable,
        host: c.host,
        url: c.url,
        healthPath: c.healthPath,
      };
    }),
  );
}

/**
 * The PR's canonical secret (everything but REDIS_URL), from the manifest the repo's
 * templates use: what previewd writes to Vault for the templates to read.
 */
export async function renderEnvironmentSecret(
  config: RenderConfig,
  key: EnvironmentKey,
  sha: string,
  databaseUrl: string,
  options: RenderOptions = {},
): Promise<Record<string, string>> {
  const set = await templateSetFor(templatesDirFor(config, key.repo, options), options.fresh);
  return canonicalEnvironment(config, key, sha, set.manifest, databaseUrl);
}

/**
 * The PR's end-to-end test job (repos[].e2e.template, a batch job in the repo's templates
 * directory) at `sha`: the same strict context as the components, the same driver
 * allowlist, its own ownership marker (component "e2e", the SHA) and job ID (e2e/naming.ts).
 * Its image is repos[].images.e2e (tagged with the SHA) or repos[].fixedImages.e2e.
 */
export async function renderTestJob(config: RenderConfig, key: EnvironmentKey, sha: string, options: RenderOptions = {}): Promise<{ jobId: string; hcl: string }> {
  const settings = repoConfig(config, key.repo).e2e;
  if (!settings) throw new UserError(`repo ${key.repo} has no e2e configuration`, { system: 'config' });
  const dir = templatesDirFor(config, key.repo, options);
  const set = await templateSetFor(dir, options.fresh);
  const context = buildRenderContext(config, key, sha, set.manifest);
  const names = environmentNames(config, key);
  const jobId = testJobId(names, sha);
  const { image, builtFromPr } = imageFor(config, key.repo, TEST_COMPONENT, undefined, sha);
  const component: ComponentContext = {
    name: TEST_COMPONENT,
    jobId,
    serviceName: jobId,
    image,
    builtFromPr,
    port: null,
    canonicalEnv: true,
    healthPath: null,
    routable: false,
    host: null,
    url: null,
    dependsOn: [],
    tags: [],
    jobMeta: nomadJobMeta({ instance: config.instance, envId: names.id, repo: key.repo, pr: key.pr, component: TEST_COMPONENT, sha }),
    serviceMeta: consulServiceMeta(config.instance, names.id, TEST_COMPONENT),
  };
  const partialDirs = [SHARED_PARTIALS_DIR];
  if (resolve(dir, 'partials') !== resolve(SHARED_PARTIALS_DIR)) partialDirs.push(join(dir, 'partials'));
  const file = join(dir, settings.template);
  let render: CompiledTemplate;
  try {
    render = await (await createEngine(partialDirs)).compileFile(file);
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError(`e2e template ${settings.template}: ${(err as Error).message}`, { system: 'templates', cause: err });
  }
  const hcl = await checkedHcl({ file: settings.template }, render({ ...context, component }), config.nomad.allowedDrivers);
  return { jobId, hcl };
}

// `previewd templates check`: renders every template of a directory with sample
// values, parses the result with the real HCL parser and checks what every job
// must have. Problems come back as "file:line: reason".
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseHcl } from '@cdktf/hcl2json';
import { defaultRepo } from '../config/repos.js';
import { UserError } from '../errors.js';
import { buildRenderContext, type RenderConfig, type RenderContext } from './context.js';
import { TemplateError } from './engine.js';
import { loadTemplateSet, renderTestJob, type TemplateSet } from './render.js';
import { checkTraefikTags, checkTraefikTagSets, type TagSet } from './traefik.js';
import { ownValue } from '../own.js';

export interface Problem {
  file: string;
  line: number;
  reason: string;
}

export const formatProblem = (p: Problem) => `${p.file}:${p.line}: ${p.reason}`;

const SAMPLE_REPO = 'previewd-check/sample';
export const SAMPLE_SHA = '0123456789abcdef0123456789abcdef01234567';
const SAMPLE_PRS = [42, 43];
const SERVICE_NAME = /^(?:[a-z0-9]|[a-z0-9][a-z0-9-]{0,61}[a-z0-9])$/i;
const CONSUL_META_KEY = /^[a-zA-Z0-9_-]+$/;

type Body = Record<string, unknown>;
const blocks = (body: unknown, name: string): [string, Body][] => {
  const value = (body as Body | undefined)?.[name];
  if (!value || typeof value !== 'object') return [];
  return Object.entries(value as Record<string, Body[]>).flatMap(([label, list]) => (Array.isArray(list) ? list.map((b) => [label, b] as [string, Body]) : []));
};
const unlabeled = (body: unknown, name: string): Body[] => {
  const value = (body as Body | undefined)?.[name];
  return Array.isArray(value) ? (value as Body[]) : [];
};
// `meta = {...}` parses as an object, `meta {...}` as a list of one.
const mapAttr = (body: Body, name: string): Record<string, unknown> | null => {
  const value = body[name];
  if (Array.isArray(value)) return Object.assign({}, ...(value as Body[]));
  return value && typeof value === 'object' ? (value as Record<string, unknown>) : null;
};

/** The sample configuration: the operator's settings plus one sample repo using `dir`. */
function sampleConfig(config: RenderConfig, set: TemplateSet): RenderConfig {
  const images: Record<string, string> = {};
  for (const [name, spec] of Object.entries(set.manifest.components)) if (!spec.image) images[name] = `registry.example.com/sample/${name}`;
  const repo = { ...(config.repos[0] ?? defaultRepo(SAMPLE_REPO)), name: SAMPLE_REPO, templatesDir: set.dir, images, baseDomain: undefined };
  return { ...config, repos: [repo] };
}

/** Line of the first source line containing `needle` (1 when none does). */
function lineOf(source: string, ...needles: string[]): number {
  const lines = source.split('\n');
  for (const needle of needles) {
    const at = lines.findIndex((l) => l.includes(needle));
    if (at >= 0) return at + 1;
  }
  return 1;
}

/** What one rendered, parsed job must have. Pure: returns reasons with a needle to locate them. */
function checkJob(parsed: unknown, context: RenderContext, component: string, allowedDrivers: string[]): { reason: string; near: string[] }[] {
  const out: { reason: string; near: string[] }[] = [];
  const c = ownValue(context.components, component)!;
  const jobs = blocks(parsed, 'job');
  if (jobs.length !== 1) return [{ reason: `expected exactly one job block; found ${jobs.length}`, near: ['job '] }];
  const [jobId, job] = jobs[0]!;
  if (jobId !== c.jobId) out.push({ reason: `job ID "${jobId}" should be "${c.jobId}" (component.jobId)`, near: ['job '] });
  if (!Array.isArray(job.datacenters) || job.datacenters.length === 0) out.push({ reason: 'job has no datacenters', near: ['job '] });
  const meta = mapAttr(job, 'meta') ?? {};
  for (const [k, v] of Object.entries(c.jobMeta)) {
    if (meta[k] !== v) out.push({ reason: `job meta "${k}" should be "${v}" (ownership marker)`, near: ['meta', 'job '] });
  }
  const groups = blocks(job, 'group');
  if (groups.length === 0) out.push({ reason: 'job has no group', near: ['job '] });
  const services: Body[] = [];
  for (const [group, g] of groups) {
    services.push(...unlabeled(g, 'service'));
    const tasks = blocks(g, 'task');
    // The canonical template reads the cache's Consul service: Nomad 1.10+ gives a task a
    // Consul token only when it or its group has a consul block.
    if (c.canonicalEnv && unlabeled(g, 'consul').length === 0 && tasks.some(([, t]) => unlabeled(t, 'consul').length === 0)) {
      out.push({ reason: `group "${group}" needs a consul block (its templates read Consul; without one Nomad gives no Consul token)`, near: [`group "${group}"`] });
    }
    if (tasks.length === 0) out.push({ reason: `group "${group}" has no task`, near: [`group "${group}"`] });
    if (tasks.length > 0 && tasks.every(([, t]) => unlabeled(t, 'lifecycle').length > 0)) {
      out.push({ reason: `group "${group}" has no main task (only lifecycle tasks)`, near: [`group "${group}"`] });
    }
    for (const [task, t] of tasks) {
      const near = [`task "${task}"`];
      services.push(...unlabeled(t, 'service'));
      if (typeof t.driver !== 'string') out.push({ reason: `task "${task}" has no driver`, near });
      else if (!allowedDrivers.includes(t.driver)) out.push({ reason: `task "${task}" uses driver "${t.driver}", not in nomad.allowedDrivers`, near: ['driver', ...near] });
      const config = unlabeled(t, 'config')[0];
      if (typeof config?.image !== 'string' || config.image === '') out.push({ reason: `task "${task}" has no image`, near });
      const templates = unlabeled(t, 'template');
      const dests = templates.map((tp) => tp.destination);
      if (new Set(dests).size !== dests.length) out.push({ reason: `task "${task}" has two templates with one destination`, near: ['destination', ...near] });
      if (!c.canonicalEnv) continue;
      // Declared, not left to the servers' defaults (job_endpoint_hook_implicit_identities.go).
      const identities = unlabeled(t, 'identity');
      for (const [wanted, use] of [
        [context.identities.vault, 'its Vault login'],
        [context.identities.consul, 'its Consul token for the cache lookup'],
      ] as const) {
        const declared = identities.find((w) => w.name === wanted.name);
        if (!declared || !Array.isArray(declared.aud) || !wanted.aud.every((a) => (declared.aud as unknown[]).includes(a))) {
          out.push({ reason: `task "${task}" needs identity { name = "${wanted.name}" aud = ${JSON.stringify(wanted.aud)} } (${use})`, near: ['identity', ...near] });
        }
      }
      const vault = unlabeled(t, 'vault')[0];
      if (vault?.role !== context.vault.role) out.push({ reason: `task "${task}" needs vault { role = vault.role } (the PR's own role)`, near: ['vault', ...near] });
      const env = templates.find((tp) => tp.destination === context.vault.envDestination);
      if (!env) out.push({ reason: `task "${task}" lacks the canonical environment template (partial canonical-env)`, near });
      else if (env.env !== true || env.left_delimiter !== '[[' || env.right_delimiter !== ']]' || env.data !== context.vault.envTemplate) {
        out.push({ reason: `task "${task}": canonical environment template altered (needs env = true, [[ ]] delimiters and vault.envTemplate)`, near: ['template', ...near] });
      }
    }
  }
  for (const s of services) {
    const name = String(s.name ?? '');
    if (!SERVICE_NAME.test(name)) out.push({ reason: `service name "${name}" is not a valid RFC 1123 name`, near: ['service'] });
    if (s.meta !== undefined && !Array.isArray(s.meta)) {
      out.push({ reason: 'service meta must be a block `meta { key = "v" }`: Nomad refuses `meta = {…}` inside service (api/services.go hcl:"meta,block")', near: ['meta = {', 'service'] });
    }
    for (const key of Object.keys(mapAttr(s, 'meta') ?? {})) {
      if (!CONSUL_META_KEY.test(key)) out.push({ reason: `service meta key "${key}" is refused by Consul (letters, digits, _ and - only)`, near: [key, 'service'] });
    }
  }
  if (c.routable) {
    const service = services.find((s) => s.name === c.serviceName);
    if (!service) out.push({ reason: `routable component needs a service named "${c.serviceName}" (component.serviceName)`, near: ['service', 'group '] });
    else {
      const tags = Array.isArray(service.tags) ? service.tags.map(String) : [];
      const problems = checkTraefikTags(tags, {
        serviceName: c.serviceName,
        envId: context.envId,
        entrypoints: [context.traefik.entrypoint],
        certResolvers: [context.traefik.certResolver],
      });
      if (!tags.includes('traefik.enable=true')) problems.push('missing traefik.enable=true');
      for (const p of problems) out.push({ reason: `traefik tags: ${p}`, near: ['tags', 'service'] });
      if (!unlabeled(service, 'check').some((ch) => ch.type === 'http')) out.push({ reason: 'routable service has no http check', near: ['service'] });
    }
  }
  return out;
}

/** Checks every template in `dir`; an empty list means all is well. */
export async function checkTemplates(dir: string, config: RenderConfig): Promise<Problem[]> {
  let set: TemplateSet;
  try {
    set = await loadTemplateSet(dir);
  } catch (err) {
    if (err instanceof TemplateError) return [{ file: err.file, line: err.line, reason: err.reason }];
    if (err instanceof UserError) return [{ file: 'manifest.json', line: 1, reason: err.message.replace(/\n/g, '; ') }];
    throw err;
  }
  const sample = sampleConfig(config, set);
  const problems: Problem[] = [];
  const tagSets: TagSet[] = [];
  let contexts: RenderContext[];
  try {
    contexts = SAMPLE_PRS.map((pr) => buildRenderContext(sample, { repo: SAMPLE_REPO, pr }, SAMPLE_SHA, set.manifest));
  } catch (err) {
    if (err instanceof UserError) return [{ file: 'manifest.json', line: 1, reason: err.message }];
    throw err;
  }
  for (const [name, template] of set.templates) {
    const source = await readFile(join(set.dir, template.file), 'utf8');
    for (const [index, context] of contexts.entries()) {
      let hcl: string;
      try {
        hcl = template.render({ ...context, component: ownValue(context.components, name) });
      } catch (err) {
        if (err instanceof TemplateError) problems.push({ file: err.file, line: err.line, reason: err.reason });
        else problems.push({ file: template.file, line: 1, reason: (err as Error).message });
        break;
      }
      let parsed: unknown;
      try {
        parsed = await parseHcl(template.file, hcl);
      } catch (err) {
        problems.push(hclProblem(template.file, source, hcl, String((err as Error).message)));
        break;
      }
      if (index > 0) {
        const c = ownValue(context.components, name)!;
        if (c.routable) {
          const service = blocks(blocks(parsed, 'job')[0]?.[1], 'group').flatMap(([, g]) => unlabeled(g, 'service')).find((s) => s.name === c.serviceName);
          if (service) tagSets.push({ ...tagOptions(context, c.serviceName), tags: (service.tags as string[] | undefined) ?? [] });
        }
        continue;
      }
      for (const { reason, near } of checkJob(parsed, context, name, sample.nomad.allowedDrivers)) {
        problems.push({ file: template.file, line: lineOf(source, ...near), reason });
      }
      const c = ownValue(context.components, name)!;
      if (c.routable) tagSets.push({ ...tagOptions(context, c.serviceName), tags: c.tags });
    }
  }
  for (const p of checkTraefikTagSets(tagSets)) if (/used by both/.test(p)) problems.push({ file: 'manifest.json', line: 1, reason: `traefik tags of two PRs collide: ${p}` });
  problems.push(...(await checkTestJobTemplate(sample, set.dir)));
  return problems;
}

const TEST_TEMPLATE = 'e2e.nomad.hcl.hbs';

/** The e2e gate's template, when the directory has one: renders, parses, allowed drivers, a batch job. */
async function checkTestJobTemplate(sample: RenderConfig, dir: string): Promise<Problem[]> {
  if (!(await access(join(dir, TEST_TEMPLATE)).then(() => true, () => false))) return [];
  const repo = { ...sample.repos[0]!, fixedImages: { ...sample.repos[0]!.fixedImages, e2e: 'registry.example.com/sample/e2e:1' }, e2e: { template: TEST_TEMPLATE, timeout: 900_000, context: 'previewd/e2e' } };
  let hcl: string;
  try {
    hcl = (await renderTestJob({ ...sample, repos: [repo] }, { repo: SAMPLE_REPO, pr: SAMPLE_PRS[0]! }, SAMPLE_SHA, { fresh: true })).hcl;
  } catch (err) {
    if (err instanceof TemplateError) return [{ file: err.file, line: err.line, reason: err.reason }];
    if (err instanceof UserError) return [{ file: TEST_TEMPLATE, line: 1, reason: err.message }];
    throw err;
  }
  const parsed = (await parseHcl(TEST_TEMPLATE, hcl)) as Body;
  const job = blocks(parsed, 'job')[0]?.[1];
  if (job?.type !== 'batch') return [{ file: TEST_TEMPLATE, line: 1, reason: `the e2e test job must be type = "batch" (its exit code is the result), not ${JSON.stringify(job?.type ?? 'service')}` }];
  return [];
}

function tagOptions(context: RenderContext, serviceName: string) {
  return { serviceName, envId: context.envId, entrypoints: [context.traefik.entrypoint], certResolvers: [context.traefik.certResolver] };
}

/**
 * Maps an HCL parse error in the rendered text back to the template: the rendered
 * line's leading word (attribute or block name) is looked up in the template source.
 */
function hclProblem(file: string, source: string, hcl: string, message: string): Problem {
  const at = /:(\d+),\d+(?:-\d+(?:,\d+)?)?: ([^\]]+)/.exec(message);
  const renderedLine = at ? Number(at[1]) : 1;
  const reason = at ? at[2]!.trim() : message;
  const text = hcl.split('\n')[renderedLine - 1]?.trim() ?? '';
  const lines = source.split('\n');
  let line = lines.findIndex((l) => l.trim() === text) + 1;
  if (line === 0) {
    const word = /^[A-Za-z_][\w-]*/.exec(text)?.[0];
    const candidates = word ? lines.flatMap((l, i) => (l.trim().startsWith(word) ? [i + 1] : [])) : [];
    line = candidates.length === 1 ? candidates[0]! : Math.min(renderedLine, lines.length);
  }
  return { file, line, reason: `HCL: ${reason} (rendered line ${renderedLine})` };
}

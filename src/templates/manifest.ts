// The template manifest: which components an environment has, how they depend on
// each other, which are routable, and what they add to the canonical environment.
// One manifest.json per templates directory, validated here before anything renders.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { UserError } from '../errors.js';
import { COMPONENT_NAME } from '../environments/naming.js';
import { ownValue } from '../own.js';

/** Keys previewd itself puts into every component's environment. */
export const CANONICAL_KEYS = ['PREVIEW_ID', 'PUBLIC_URL', 'API_URL', 'DATABASE_URL', 'REDIS_URL'] as const;

const ENV_KEY = /^[A-Z][A-Z0-9_]{0,63}$/;
const TEMPLATE_FILE = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,100}\.hbs$/;
const PORT_LABEL = /^[a-z][a-z0-9_]{0,31}$/;

const componentSchema = z
  .object({
    template: z.string().regex(TEMPLATE_FILE, 'expected a file name ending in .hbs, inside the templates directory'),
    dependsOn: z.array(z.string().regex(COMPONENT_NAME)).default([]),
    routable: z.boolean().default(false),
    port: z
      .object({
        label: z.string().regex(PORT_LABEL, 'expected a lower-case port label'),
        to: z.number().int().min(1).max(65535),
      })
      .strict()
      .optional(),
    // false for components that need none of the PR's secrets (the cache itself).
    canonicalEnv: z.boolean().default(true),
    healthPath: z.string().startsWith('/').max(200).optional(),
    image: z.string().min(1).max(255).optional(),
    env: z
      .record(z.string().regex(ENV_KEY, 'expected an upper-case variable name'), z.string().max(10_000))
      .default({}),
  })
  .strict();

const manifestSchema = z
  .object({
    publicComponent: z.string().regex(COMPONENT_NAME).default('frontend'),
    apiComponent: z.string().regex(COMPONENT_NAME).default('api'),
    // REDIS_URL points at this component's Consul service.
    cacheComponent: z.string().regex(COMPONENT_NAME).default('cache'),
    components: z.record(z.string().regex(COMPONENT_NAME, 'expected a lower-case component name'), componentSchema),
  })
  .strict()
  .superRefine((manifest, ctx) => {
    const names = Object.keys(manifest.components);
    if (names.length === 0) ctx.addIssue({ code: 'custom', path: ['components'], message: 'expected at least one component' });
    const envOwner = new Map<string, [string, string]>();
    for (const [name, component] of Object.entries(manifest.components)) {
      for (const dep of component.dependsOn) {
        if (!ownValue(manifest.components, dep)) ctx.addIssue({ code: 'custom', path: ['components', name, 'dependsOn'], message: `unknown component "${dep}"` });
      }
      if (component.routable && !component.port) {
        ctx.addIssue({ code: 'custom', path: ['components', name, 'port'], message: 'a routable component needs a port' });
      }
      if (component.routable && !component.healthPath) {
        ctx.addIssue({ code: 'custom', path: ['components', name, 'healthPath'], message: 'a routable component needs a health-check path' });
      }
      for (const [key, value] of Object.entries(component.env)) {
        if ((CANONICAL_KEYS as readonly string[]).includes(key)) {
          ctx.addIssue({ code: 'custom', path: ['components', name, 'env', key], message: 'previewd sets this variable itself' });
        }
        const seen = envOwner.get(key);
        if (seen && seen[1] !== value) {
          ctx.addIssue({ code: 'custom', path: ['components', name, 'env', key], message: `differs from the value given by ${seen[0]}; every component gets one environment` });
        }
        envOwner.set(key, [name, value]);
      }
    }
    for (const field of ['publicComponent', 'apiComponent'] as const) {
      if (!ownValue(manifest.components, manifest[field])?.routable) {
        ctx.addIssue({ code: 'custom', path: [field], message: `expected a routable component; found "${manifest[field]}"` });
      }
    }
    if (!ownValue(manifest.components, manifest.cacheComponent)) {
      ctx.addIssue({ code: 'custom', path: ['cacheComponent'], message: `expected a component; found "${manifest.cacheComponent}"` });
    }
    if (names.length > 0 && dependencyOrder(manifest.components) === null) {
      ctx.addIssue({ code: 'custom', path: ['components'], message: 'dependsOn forms a cycle' });
    }
  });

export type Manifest = z.output<typeof manifestSchema>;

/** Component names with every dependency before its dependents (declaration order otherwise); null on a cycle. */
export function dependencyOrder(components: Record<string, { dependsOn: string[] }>): string[] | null {
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string): boolean => {
    const seen = state.get(name);
    if (seen === 'done') return true;
    if (seen === 'visiting') return false;
    state.set(name, 'visiting');
    for (const dep of ownValue(components, name)?.dependsOn ?? []) if (ownValue(components, dep) && !visit(dep)) return false;
    state.set(name, 'done');
    order.push(name);
    return true;
  };
  for (const name of Object.keys(components)) if (!visit(name)) return null;
  return order;
}

/** Validates parsed manifest data; every problem on its own line with its dotted path. */
export function parseManifest(data: unknown, source = 'manifest.json'): Manifest {
  const result = manifestSchema.safeParse(data);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => `${source}: ${issue.path.map(String).join('.') || '(root)'}: ${issue.message}`);
  throw new UserError(`invalid template manifest:\n${lines.join('\n')}`, { system: 'templates' });
}

export async function loadManifest(dir: string): Promise<Manifest> {
  const file = join(dir, 'manifest.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new UserError(`template manifest ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { system: 'templates', cause: err });
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new UserError(`template manifest ${file} is not valid JSON: ${(err as Error).message}`, { system: 'templates', cause: err });
  }
  return parseManifest(data, file);
}

/** Every manifest-added variable (all components share one environment). */
export function manifestEnv(manifest: Manifest): Record<string, string> {
  const env: Record<string, string> = {};
  for (const component of Object.values(manifest.components)) Object.assign(env, component.env);
  return env;
}

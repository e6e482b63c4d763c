// Loads and validates configuration. Pure apart from reading the config file:
// the environment is passed in, so tests and the sandbox never patch process.env.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { CREDENTIAL_RENEW_FRACTION } from '../environments/credential-renewal.js';
import { environmentId } from '../environments/naming.js';
import { envConfigSchema, fileConfigSchema, SECRET_ENV_KEYS, type Config, type FileConfig } from './schema.js';
import { hostPatternProblems } from './hosts.js';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.join('\n')}`);
    this.name = 'ConfigError';
  }
}

const SECRET_KEYS = new Set<string>(SECRET_ENV_KEYS);

function describeFound(key: string, input: unknown): string {
  if (input === undefined) return 'nothing';
  if (SECRET_KEYS.has(key)) return `a hidden value of ${String(input).length} characters`;
  const text = typeof input === 'string' ? JSON.stringify(input) : JSON.stringify(input) ?? String(input);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function valueAt(data: unknown, path: PropertyKey[]): unknown {
  let value = data;
  for (const part of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[part];
  }
  return value;
}

// "found" is read from the input at the issue's path, never from zod's issue.input,
// which for object-level refinements is the whole object, secrets included.
function issueLines(source: string, data: unknown, issues: z.core.$ZodIssue[]): string[] {
  return issues.map((issue) => {
    const key = issue.path.map(String).join('.') || '(root)';
    const value = valueAt(data, issue.path);
    const found = describeFound(key, value);
    // zod's own texts for type errors already say what was received; keep ours uniform.
    const message = issue.message.replace(/^(Invalid input|Too small|Too big): /, '').replace(/, received .*$/, '');
    const expected = value === undefined && issue.code === 'invalid_type' ? `required (${message})` : message;
    return `${source}: ${key}: ${expected}; found ${found}`;
  });
}

function readConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError([`config file ${path}: cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`]);
  }
  try {
    return parseYaml(text) ?? {};
  } catch (err) {
    throw new ConfigError([`config file ${path}: not valid YAML or JSON: ${(err as Error).message.split('\n')[0]}`]);
  }
}

/**
 * Validates a parsed config file and the environment together, so an operator sees
 * every problem at once, one line each, never a secret value.
 */
export function buildConfig(fileData: unknown, env: Record<string, string | undefined>, source = 'config'): Config {
  const file = fileConfigSchema.safeParse(fileData ?? {});
  // Empty strings in the environment mean "unset", as shells often export KEY=.
  const cleanedEnv = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const envResult = envConfigSchema.safeParse(cleanedEnv);
  const problems = [
    ...(file.success ? [] : issueLines(source, fileData ?? {}, file.error.issues)),
    ...(envResult.success ? [] : issueLines('environment', cleanedEnv, envResult.error.issues)),
  ];
  if (file.success) {
    const seen = new Set<string>();
    const slugs = new Map<string, string>();
    file.data.repos.forEach((repo, i) => {
      if (seen.has(repo.name)) problems.push(`${source}: repos.${i}.name: expected each repo once; found "${repo.name}" twice`);
      seen.add(repo.name);
      // Resource names derive from the slug: two repos sharing one would share resources.
      const slug = environmentId({ repo: repo.name, pr: 1 });
      const other = slugs.get(slug);
      if (other !== undefined && other !== repo.name) {
        problems.push(`${source}: repos.${i}.name: expected names that map to distinct environment IDs; found "${repo.name}", which maps like "${other}"`);
      }
      slugs.set(slug, repo.name);
    });
  }
  if (file.success) problems.push(...hostPatternProblems(file.data).map((line) => `${source}: ${line}`));
  if (file.success) {
    // Credentials are renewed at GC sweeps once less than half their lifetime is left: a
    // sweep interval of that order lets a quiet PR's login and secret expire in between.
    const renewWindow = file.data.credentialTtl * CREDENTIAL_RENEW_FRACTION;
    if (file.data.gc.interval * 2 > renewWindow) {
      const raw = (fileData as { gc?: { interval?: unknown } } | null)?.gc?.interval ?? '10m';
      problems.push(`${source}: gc.interval: expected at most a quarter of credentialTtl (credentials are renewed at GC sweeps once half of it is left); found ${JSON.stringify(raw)}`);
    }
  }
  if (file.success && envResult.success && file.data.database.host === undefined) {
    // PR jobs run in containers on Nomad clients: previewd's own loopback is not theirs.
    const host = loopbackHost(envResult.data.DATABASE_URL);
    if (host !== null) {
      problems.push(
        `${source}: database.host: DATABASE_URL's host ${host} is a loopback address, which PR jobs cannot reach; set database.host (and database.port) to the address Nomad clients reach Postgres at; found nothing`,
      );
    }
  }
  if (problems.length > 0 || !file.success || !envResult.success) throw new ConfigError(problems);
  return { ...file.data, env: envResult.data };
}

/** The host of a URL when it is a loopback name or address (localhost, 127.0.0.0/8, ::1), else null. */
function loopbackHost(url: string): string | null {
  let host: string;
  try {
    host = new URL(url).hostname.toLowerCase();
  } catch {
    return null;
  }
  const bare = host.replace(/^\[|\]$/g, '');
  const loopback = bare === 'localhost' || bare.endsWith('.localhost') || /^127(\.\d{1,3}){3}$/.test(bare) || bare === '::1' || bare === '0:0:0:0:0:0:0:1';
  return loopback ? host : null;
}

/**
 * Config file path from --config, else PREVIEWD_CONFIG; no file means all defaults. The
 * environment defaults to the process's: config/ is the one place that reads it.
 */
export function loadConfig(options: { configPath?: string | undefined; env?: Record<string, string | undefined> }): Config {
  const env = options.env ?? process.env;
  const path = options.configPath ?? env.PREVIEWD_CONFIG;
  const data = path ? readConfigFile(path) : {};
  return buildConfig(data, env, path ?? 'config');
}

/**
 * The config file alone (no environment, no secrets): enough for commands that only
 * render or check templates. Same file lookup as loadConfig.
 */
export function loadFileConfig(options: { configPath?: string | undefined; env?: Record<string, string | undefined> }): FileConfig {
  const path = options.configPath ?? (options.env ?? process.env).PREVIEWD_CONFIG;
  const source = path ?? 'config';
  const data = path ? readConfigFile(path) : {};
  const file = fileConfigSchema.safeParse(data ?? {});
  if (!file.success) throw new ConfigError(issueLines(source, data ?? {}, file.error.issues));
  return file.data;
}

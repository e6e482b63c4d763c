// Every name previewd gives a resource is derived here, from validated values only
// (repo "owner/name", PR number, config), and checked against the target's limits.
// Titles, branch names and user names never reach this module.
import { createHash } from 'node:crypto';
import { hostPatternsFor, repoDomain } from '../config/hosts.js';
import type { Config } from '../config/schema.js';
import { ownValue } from '../own.js';
import { REPO_NAME } from '../github/repo-name.js';

export interface EnvironmentKey {
  repo: string; // "owner/name", validated by the caller against the configured repos
  pr: number;
}

export const COMPONENT_NAME = /^[a-z][a-z0-9-]{0,15}$/;
const MAX_ENV_ID = 40; // leaves room for "-<component>" inside a 63-char DNS label / Consul name
const MAX_PG_IDENT = 63; // NAMEDATALEN - 1, in bytes; our names are ASCII

export function shortHash(text: string, length = 6): string {
  return createHash('sha256').update(text).digest('hex').slice(0, length);
}

/** Cuts `name` to `max` characters, replacing the tail with a hash of the whole, so it stays unique. */
function fitName(name: string, max: number, separator = '-'): string {
  if (name.length <= max) return name;
  const hash = shortHash(name, 8);
  return `${name.slice(0, max - hash.length - 1).replace(/[-_]+$/, '')}${separator}${hash}`;
}

export function isValidKey(key: EnvironmentKey): boolean {
  return REPO_NAME.test(key.repo) && Number.isSafeInteger(key.pr) && key.pr > 0 && key.pr < 1e9;
}

export function keyString(key: EnvironmentKey): string {
  return `${key.repo}#${key.pr}`;
}

/** "acme/Shop.Web" → "acme-shop-web": lower-case letters, digits and single dashes. */
function repoSlug(repo: string): string {
  return repo
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

/** The environment ID: unique per repo and PR, a valid DNS label prefix. */
export function environmentId(key: EnvironmentKey): string {
  if (!isValidKey(key)) throw new Error(`invalid environment key ${JSON.stringify(key)}`);
  const suffix = `-pr-${key.pr}`;
  const slug = repoSlug(key.repo) || 'repo';
  const room = MAX_ENV_ID - suffix.length;
  const fitted = slug.length <= room ? slug : fitName(slug, room);
  return `${fitted}${suffix}`;
}

export interface EnvironmentNames {
  key: EnvironmentKey;
  id: string; // "acme-shop-pr-42"
  database: string; // "preview_acme_shop_pr_42"
  role: string; // the PR's login role; same name as its database (separate namespaces)
  vaultPath: string; // under the KV mount: "previews/acme-shop-pr-42"
  vaultPolicy: string; // "previewd-acme-shop-pr-42"
  vaultRole: string; // JWT auth role, same name as the policy
  githubEnvironment: string; // "pr-42"
  commentMarker: string; // hidden HTML marker of the sticky comment
  jobId(component: string): string;
  serviceName(component: string): string;
  host(component: string): string | null; // null when the component is not routable
  url(component: string): string | null;
}

function assertComponent(component: string): void {
  if (!COMPONENT_NAME.test(component)) throw new Error(`invalid component name "${component}"`);
}

/** The names derived from the environment ID alone: everything but the hosts, which need the repo. */
export type IdNames = Omit<EnvironmentNames, 'key' | 'host' | 'url'>;

export function namesOfId(config: Pick<Config, 'instance' | 'database' | 'vault'>, id: string, pr: number): IdNames {
  const pgName = fitName(`${config.database.namePrefix}${id.replace(/-/g, '_')}`, MAX_PG_IDENT, '_');
  const vaultName = `${config.instance}-${id}`;
  const jobId = (component: string) => {
    assertComponent(component);
    return `${id}-${component}`;
  };
  return {
    id,
    database: pgName,
    role: pgName,
    vaultPath: `${config.vault.pathPrefix}/${id}`,
    vaultPolicy: vaultName,
    vaultRole: vaultName,
    githubEnvironment: `pr-${pr}`,
    commentMarker: `<!-- previewd:${config.instance}:${id} -->`,
    jobId,
    serviceName: jobId,
  };
}

export function environmentNames(config: Pick<Config, 'instance' | 'baseDomain' | 'hostPatterns' | 'database' | 'vault' | 'repos'>, key: EnvironmentKey): EnvironmentNames {
  const id = environmentId(key);
  const domain = repoDomain(config, key.repo);
  const patterns = hostPatternsFor(config, key.repo);
  // {repo}: the environment ID without its "-pr-<n>", i.e. the repo's slug as fitted there (distinct per repo).
  const repoPart = id.slice(0, -`-pr-${key.pr}`.length);
  const host = (component: string) => {
    assertComponent(component);
    const pattern = ownValue(patterns, component);
    if (!pattern) return null;
    const name = pattern.replaceAll('{pr}', String(key.pr)).replaceAll('{repo}', repoPart).replaceAll('{domain}', domain);
    const labels = name.split('.');
    if (name.length > 253 || labels.some((l) => !/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(l))) {
      throw new Error(`host "${name}" of component ${component} is not a valid DNS name`);
    }
    return name;
  };
  return {
    ...namesOfId(config, id, key.pr),
    key,
    host,
    url: (component) => {
      const h = host(component);
      return h ? `https://${h}` : null;
    },
  };
}

// The values every template sees, computed once per environment from validated
// inputs only (repo, PR number, head SHA, config, manifest). Titles, branch names
// and user names have no way in. Pure: no I/O, no clock.
import type { FileConfig } from '../config/schema.js';
import { UserError } from '../errors.js';
import { environmentNames, type EnvironmentKey, type EnvironmentNames } from '../environments/naming.js';
import { CANONICAL_KEYS, manifestEnv, type Manifest } from './manifest.js';
import { ownValue } from '../own.js';
import { CONSUL_MANAGED_TAG, consulServiceMeta, nomadJobMeta } from '../ownership/markers.js';
import { repoDomain } from '../config/hosts.js';
import { configuredRepo, repoConfig } from '../config/repos.js';

/** The parts of the configuration rendering reads (a file config is enough: no secrets). */
export type RenderConfig = Pick<FileConfig, 'instance' | 'baseDomain' | 'hostPatterns' | 'database' | 'vault' | 'consul' | 'repos' | 'nomad' | 'traefik'>;

export const SHA = /^[0-9a-f]{40}$/;
const TRAEFIK_NAME = /^[A-Za-z0-9-]+$/;
// Values that end up inside the consul-template text must not carry its delimiters or quotes.
const TEMPLATE_SAFE = /^[a-z0-9_./-]+$/;
/** Where the canonical environment is written inside every task. */
const ENV_DESTINATION = 'secrets/preview.env';

export interface ComponentContext {
  name: string;
  jobId: string;
  serviceName: string;
  image: string;
  /** Its image is built from the PR (tagged with the head SHA); a push redeploys it. */
  builtFromPr: boolean;
  port: { label: string; to: number } | null;
  /** Whether its tasks receive the canonical environment (vault + template blocks). */
  canonicalEnv: boolean;
  healthPath: string | null;
  routable: boolean;
  host: string | null;
  url: string | null;
  dependsOn: string[];
  /** Consul tags of the component's service: the canonical Traefik set when routable. */
  tags: string[];
  /** Nomad job meta: the ownership marker and what the PR is (ownership/markers.ts nomadJobMeta). */
  jobMeta: ReturnType<typeof nomadJobMeta>;
  /** Consul service meta: the ownership marker (ownership/markers.ts consulServiceMeta). */
  serviceMeta: ReturnType<typeof consulServiceMeta>;
}

export interface WorkloadIdentity {
  name: string;
  aud: string[];
  ttl: string;
}

/** Lifetime of the JWTs; Nomad renews them before they expire. */
const IDENTITY_TTL = '1h';

export interface RenderContext {
  instance: string;
  envId: string;
  repo: string;
  pr: string;
  sha: string;
  datacenters: string[];
  database: { name: string };
  vault: {
    role: string;
    policy: string;
    path: string;
    /** "<kvMount>/data/<path>": KV v2 reads go through data/. */
    secretPath: string;
    /** The consul-template text (delimiters [[ ]]) that writes the canonical environment. */
    envTemplate: string;
    envDestination: string;
  };
  /**
   * Workload identities every canonical-env task declares, so nothing depends on the
   * servers' vault.default_identity / consul.task_identity (job_endpoint_hook_implicit_identities.go).
   */
  identities: { vault: WorkloadIdentity; consul: WorkloadIdentity };
  traefik: { entrypoint: string; certResolver: string };
  components: Record<string, ComponentContext>;
}

function fail(message: string, cause?: unknown): never {
  throw new UserError(message, { system: 'templates', cause });
}

/** Names, with naming.ts's plain errors (bad host pattern...) turned into UserError. */
function namesFor(config: RenderConfig, key: EnvironmentKey): EnvironmentNames {
  if (!configuredRepo(config, key.repo)) fail(`repo ${JSON.stringify(key.repo)} is not configured`);
  try {
    return environmentNames(config, key);
  } catch (err) {
    return fail((err as Error).message, err);
  }
}

function componentUrl(names: EnvironmentNames, component: string): { host: string | null; url: string | null } {
  try {
    return { host: names.host(component), url: names.url(component) };
  } catch (err) {
    return fail((err as Error).message, err);
  }
}

function assertSha(sha: string): void {
  if (!SHA.test(sha)) fail('head SHA must be 40 lower-case hex characters');
}

/** The keys the PR's Vault secret must contain: the canonical ones except REDIS_URL (found in Consul), plus the manifest's. */
export function canonicalSecretKeys(manifest: Manifest): string[] {
  const fixed = CANONICAL_KEYS.filter((k) => k !== 'REDIS_URL');
  return [...fixed, ...Object.keys(manifestEnv(manifest)).sort()];
}

/**
 * The canonical environment previewd writes to the PR's Vault secret (all but
 * REDIS_URL). The templates read exactly these keys, so both sides share one definition.
 */
export function canonicalEnvironment(config: RenderConfig, key: EnvironmentKey, sha: string, manifest: Manifest, databaseUrl: string): Record<string, string> {
  assertSha(sha);
  const names = namesFor(config, key);
  const publicUrl = componentUrl(names, manifest.publicComponent).url;
  const apiUrl = componentUrl(names, manifest.apiComponent).url;
  if (!publicUrl) fail(`component ${manifest.publicComponent} (PUBLIC_URL) has no host pattern in config.hostPatterns`);
  if (!apiUrl) fail(`component ${manifest.apiComponent} (API_URL) has no host pattern in config.hostPatterns`);
  const env: Record<string, string> = {
    PREVIEW_ID: names.id,
    PUBLIC_URL: publicUrl,
    API_URL: apiUrl,
    DATABASE_URL: databaseUrl,
    ...manifestEnv(manifest),
  };
  // The env file holds one KEY=value per line; the value itself is never echoed (DATABASE_URL is secret).
  for (const [name, value] of Object.entries(env)) {
    if (/[\r\n\u0000]/.test(value)) fail(`canonical variable ${name} contains a line break or NUL`);
  }
  return env;
}

/** consul-template text, with [[ ]] delimiters so Handlebars never sees it as its own. */
function envTemplateText(secretPath: string, keys: string[], cacheService: string): string {
  if (!TEMPLATE_SAFE.test(secretPath)) fail(`Vault secret path ${JSON.stringify(secretPath)} has characters a template cannot hold`);
  if (!TEMPLATE_SAFE.test(cacheService)) fail(`cache service name ${JSON.stringify(cacheService)} has characters a template cannot hold`);
  const lines = [
    `[[ with secret "${secretPath}" ]]`,
    ...keys.map((k) => `${k}=[[ .Data.data.${k} ]]`),
    '[[ end ]]',
    `[[ range service "${cacheService}" ]]REDIS_URL=redis://[[ .Address ]]:[[ .Port ]][[ end ]]`,
  ];
  return `${lines.join('\n')}\n`;
}

/** The canonical Traefik tag set of one routable component (traefik.md §7). */
export function traefikTags(options: { router: string; host: string; domain: string; entrypoint: string; certResolver: string; wildcardCert: boolean }): string[] {
  const r = `traefik.http.routers.${options.router}`;
  const tags = [
    'traefik.enable=true',
    CONSUL_MANAGED_TAG,
    `${r}.rule=Host(\`${options.host}\`)`,
    `${r}.entrypoints=${options.entrypoint}`,
    `${r}.tls=true`,
    `${r}.tls.certresolver=${options.certResolver}`,
  ];
  // A wildcard certificate needs an ACME DNS-01 challenge (traefik.wildcardCert); it covers
  // exactly one label, so name it only when the host is such a label.
  const prefix = options.host.slice(0, -(options.domain.length + 1));
  if (options.wildcardCert && options.host.endsWith(`.${options.domain}`) && prefix.length > 0 && !prefix.includes('.')) {
    tags.push(`${r}.tls.domains[0].main=${options.domain}`, `${r}.tls.domains[0].sans=*.${options.domain}`);
  }
  tags.push(`${r}.service=${options.router}`);
  return tags;
}

/**
 * A component's image and whether the PR builds it: `repos[].images` are tagged with the
 * head SHA; `repos[].fixedImages` and the manifest's `image` keep their own tag.
 */
export function imageFor(config: RenderConfig, repo: string, component: string, manifestImage: string | undefined, sha: string): { image: string; builtFromPr: boolean } {
  const repoSettings = repoConfig(config, repo);
  const base = ownValue(repoSettings.images, component);
  if (base !== undefined) {
    // A tag in the configured name would make "<image>:<tag>:<sha>", which no registry accepts.
    if (/:[^/]*$/.test(base)) fail(`repos[${repo}].images.${component} must be given without a tag (the tag is the head SHA); an image with its own tag belongs in fixedImages`);
    return { image: `${base}:${sha}`, builtFromPr: true };
  }
  const fixed = ownValue(repoSettings.fixedImages, component) ?? manifestImage;
  if (fixed !== undefined) return { image: fixed, builtFromPr: false };
  return fail(`no image for component ${component}: set repos[].images.${component} (built from the PR) or repos[].fixedImages.${component} for ${repo}`);
}

export function buildRenderContext(config: RenderConfig, key: EnvironmentKey, sha: string, manifest: Manifest): RenderContext {
  assertSha(sha);
  const names = namesFor(config, key);
  const domain = repoDomain(config, key.repo);
  const { entrypoint, certResolver, wildcardCert } = config.traefik;
  if (!TRAEFIK_NAME.test(entrypoint)) fail(`traefik.entrypoint ${JSON.stringify(entrypoint)} is not a valid entry point name`);
  if (!TRAEFIK_NAME.test(certResolver)) fail(`traefik.certResolver ${JSON.stringify(certResolver)} is not a valid resolver name`);
  if (config.nomad.datacenters.length === 0) fail('nomad.datacenters is empty');

  const components: Record<string, ComponentContext> = {};
  for (const [name, spec] of Object.entries(manifest.components)) {
    const { host, url } = spec.routable ? componentUrl(names, name) : { host: null, url: null };
    if (spec.routable && !host) fail(`component ${name} is routable but config.hostPatterns has no pattern for it`);
    const serviceName = names.serviceName(name);
    const { image, builtFromPr } = imageFor(config, key.repo, name, spec.image, sha);
    components[name] = {
      name,
      jobId: names.jobId(name),
      serviceName,
      image,
      builtFromPr,
      port: spec.port ? { label: spec.port.label, to: spec.port.to } : null,
      canonicalEnv: spec.canonicalEnv,
      healthPath: spec.healthPath ?? null,
      routable: spec.routable,
      host,
      url,
      dependsOn: [...spec.dependsOn],
      tags: host ? traefikTags({ router: serviceName, host, domain, entrypoint, certResolver, wildcardCert }) : [],
      // Job meta is part of every task's meta: a change replaces the allocations
      // (scheduler/util.go tasksUpdated). Only what the PR builds carries the SHA, so a
      // push leaves the others (the cache and its data) running.
      jobMeta: nomadJobMeta({ instance: config.instance, envId: names.id, repo: key.repo, pr: key.pr, component: name, sha: builtFromPr ? sha : null }),
      serviceMeta: consulServiceMeta(config.instance, names.id, name),
    };
  }
  const secretPath = `${config.vault.kvMount}/data/${names.vaultPath}`;
  return {
    instance: config.instance,
    envId: names.id,
    repo: key.repo,
    pr: String(key.pr),
    sha,
    datacenters: [...config.nomad.datacenters],
    database: { name: names.database },
    vault: {
      role: names.vaultRole,
      policy: names.vaultPolicy,
      path: names.vaultPath,
      secretPath,
      envTemplate: envTemplateText(secretPath, canonicalSecretKeys(manifest), names.serviceName(manifest.cacheComponent)),
      envDestination: ENV_DESTINATION,
    },
    identities: {
      vault: { name: 'vault_default', aud: [config.vault.audience], ttl: IDENTITY_TTL },
      consul: { name: 'consul_default', aud: [config.consul.audience], ttl: IDENTITY_TTL },
    },
    traefik: { entrypoint, certResolver },
    components,
  };
}

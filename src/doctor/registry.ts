// Registry preconditions, for repos that wait for their images (repos[].build.waitForImages):
// Docker's config.json can be read, and each registry the PR images live on accepts
// previewd's credentials for a pull of that repository (GET /v2/ and, when it challenges,
// one token round-trip: what a manifest probe will do). Read-only; no manifest is asked for.
import type { Config } from '../config/schema.js';
import { createRegistryClient, type RegistryFetch } from '../registry/client.js';
import { DockerConfigError, type DockerCredentialStore } from '../registry/docker-config.js';
import { dockerConfigPath, loadDockerCredentials } from '../registry/docker-config-file.js';
import { parseImageReference } from '../registry/reference.js';
import { safeErrorLine } from '../secrets.js';
import { fail, pass, warn, type CheckResult } from './types.js';

/** One repository per registry host: the PR images the gate will probe (sample tag: only the name matters). */
function registriesToCheck(config: Config): Map<string, string> {
  const out = new Map<string, string>();
  for (const repo of config.repos) {
    if (!repo.build?.waitForImages) continue;
    for (const image of Object.values(repo.images)) {
      const ref = parseImageReference(`${image}:doctor`);
      if (ref && !out.has(ref.registry)) out.set(ref.registry, ref.repository);
    }
  }
  return out;
}

export async function checkRegistries(config: Config, options: { fetch?: RegistryFetch } = {}): Promise<CheckResult[]> {
  const registries = registriesToCheck(config);
  if (registries.size === 0) return [];
  const where = dockerConfigPath(config.env) ?? '$DOCKER_CONFIG/config.json';
  let credentials: DockerCredentialStore;
  let path: string | null;
  try {
    ({ credentials, path } = loadDockerCredentials(config.env));
  } catch (err) {
    const detail = err instanceof DockerConfigError ? err.message : `${where}: ${safeErrorLine(err)}`;
    return [fail('registry.config', detail, `fix or recreate it with \`DOCKER_CONFIG=${where.replace(/\/config\.json$/, '')} docker login <registry>\``)];
  }
  const results: CheckResult[] = [
    path ? pass('registry.config', `credentials read from ${path}`) : warn('registry.config', `no ${where}: registries are asked anonymously`, `for a private registry: \`DOCKER_CONFIG=<dir> docker login <registry>\`, and set DOCKER_CONFIG=<dir> for previewd`),
  ];
  const client = createRegistryClient({ endpoints: config.registry.endpoints, credentials, timeoutMs: config.registry.timeout, ...(options.fetch ? { fetch: options.fetch } : {}) });
  for (const [registry, repository] of registries) {
    const check = `registry.access ${registry}`;
    const helper = credentials.helperRegistries.includes(registry) || (credentials.credsStore !== null && !credentials.lookup(registry));
    try {
      const access = await client.checkAccess(registry, repository);
      const how = access.auth === 'anonymous' ? 'without authentication' : `with ${access.auth} authentication (${access.credentials === 'found' ? "config.json's credentials" : 'anonymous'})`;
      if (helper && access.credentials !== 'found') {
        results.push(warn(check, `reachable ${how}, but its credentials are in a credential helper previewd does not run`, `put an "auths" entry for ${registry} in ${where} (docker login with no credsStore/credHelpers)`));
      } else {
        results.push(pass(check, `pull of ${repository} allowed ${how}`));
      }
    } catch (err) {
      results.push(fail(check, safeErrorLine(err), `\`DOCKER_CONFIG=${where.replace(/\/config\.json$/, '')} docker login ${registry}\` with a token that may pull ${repository} (ghcr.io: read:packages); or registry.endpoints for a mirror`));
    }
  }
  return results;
}

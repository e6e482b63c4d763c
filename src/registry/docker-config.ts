// Registry credentials from Docker's config.json, the file `docker login` writes
// (docker/cli cli/config/configfile/file.go, types/authconfig.go): `auths` maps a
// registry (a host, or for Docker Hub "https://index.docker.io/v1/") to either `auth`,
// base64 of "user:password", or `username` and `password`. Keys may carry a scheme
// and a path (docker/cli config/credentials/file_store.go ConvertToHostname strips
// them). Credential helpers (credsStore, credHelpers) run programs; previewd does not
// run them and says so (doctor). Pure: the caller reads the file.
import { z } from 'zod';
import { canonicalRegistry } from './reference.js';

export interface RegistryCredentials {
  username: string;
  password: string;
}

export interface DockerCredentialStore {
  /** Credentials for a registry host (Docker Hub under any of its names), or null. */
  lookup(registry: string): RegistryCredentials | null;
  /** Registries whose credentials a helper program holds (not read by previewd). */
  helperRegistries: string[];
  /** credsStore is set: every registry not in `auths` is in a helper previewd does not run. */
  credsStore: string | null;
}

const AuthEntry = z
  .object({
    auth: z.string().max(16_384).optional(),
    username: z.string().max(4_096).optional(),
    password: z.string().max(16_384).optional(),
  })
  .passthrough();

const ConfigFile = z
  .object({
    auths: z.record(z.string().max(1_000), AuthEntry).optional(),
    credsStore: z.string().max(200).optional(),
    credHelpers: z.record(z.string().max(1_000), z.string().max(200)).optional(),
  })
  .passthrough();

/** "https://index.docker.io/v1/" → "docker.io"; "ghcr.io" → "ghcr.io". */
export function hostOfAuthKey(key: string): string {
  const withoutScheme = key.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  return canonicalRegistry(withoutScheme.split('/')[0] ?? '');
}

function decodeAuth(auth: string): RegistryCredentials | null {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(auth)) return null;
  const text = Buffer.from(auth, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon <= 0) return null;
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

export class DockerConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DockerConfigError';
  }
}

/**
 * Parses config.json's text. A file that is not JSON or not of config.json's shape is
 * an error naming where (never the values); an entry that carries nothing usable is skipped.
 */
export function parseDockerConfig(text: string, source: string): DockerCredentialStore {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new DockerConfigError(`${source}: not valid JSON`);
  }
  const parsed = ConfigFile.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new DockerConfigError(`${source}: ${issue.path.map(String).join('.') || '(root)'}: ${issue.message}`);
  }
  const byHost = new Map<string, RegistryCredentials>();
  for (const [key, entry] of Object.entries(parsed.data.auths ?? {})) {
    const host = hostOfAuthKey(key);
    if (!host) continue;
    const fromAuth = entry.auth ? decodeAuth(entry.auth) : null;
    const creds = fromAuth ?? (entry.username && entry.password !== undefined ? { username: entry.username, password: entry.password } : null);
    if (creds && !byHost.has(host)) byHost.set(host, creds);
  }
  return {
    lookup: (registry) => byHost.get(canonicalRegistry(registry)) ?? null,
    helperRegistries: Object.keys(parsed.data.credHelpers ?? {}).map(hostOfAuthKey),
    credsStore: parsed.data.credsStore ?? null,
  };
}

export const EMPTY_CREDENTIALS: DockerCredentialStore = { lookup: () => null, helperRegistries: [], credsStore: null };

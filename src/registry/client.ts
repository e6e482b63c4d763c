// A small, strict client of the OCI distribution API, for one question: does this
// image tag exist? (opencontainers/distribution-spec spec.md, "Pulling manifests":
// HEAD /v2/<name>/manifests/<reference> answers 200 when it exists, 404 when not.)
// A 401 carries the token spec's challenge (distribution/distribution
// docs/spec/auth/token.md): GET <realm>?service=&scope= (Basic auth with the
// registry's credentials from config.json, when there are any), read `token` or
// `access_token`, retry with `Authorization: Bearer`. 404 = missing; anything else is
// a TransientError naming the registry and what it answered (never a credential).
import { z } from 'zod';
import { TransientError } from '../errors.js';
import { parseChallenge, type BearerChallenge } from './challenge.js';
import type { DockerCredentialStore, RegistryCredentials } from './docker-config.js';
import { formatReference, parseImageReference, registryBaseUrl, type ImageReference } from './reference.js';

/** Every manifest type an image tag can point at: OCI index/manifest, Docker manifest list/v2. */
export const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

export interface RegistryResponseLike {
  status: number;
  headers: { get(name: string): string | null };
  text(): Promise<string>;
}
export type RegistryFetch = (url: string, init: { method: string; headers: Record<string, string>; signal?: AbortSignal; redirect?: 'follow' | 'manual' }) => Promise<RegistryResponseLike>;

export interface RegistryClientOptions {
  /** Base URL per registry host (config registry.endpoints). */
  endpoints: Record<string, string>;
  credentials: DockerCredentialStore;
  timeoutMs: number;
  fetch?: RegistryFetch;
  now?: () => number;
}

export type ImageProbe = 'present' | 'missing';

export interface AccessCheck {
  registry: string;
  credentials: 'found' | 'none' | 'helper';
  /** What the registry asked for: nothing (anonymous), a bearer token (fetched), or Basic. */
  auth: 'anonymous' | 'bearer' | 'basic';
}

export interface RegistryClient {
  /** HEAD of the tag's manifest: present or missing; TransientError on anything else. */
  probe(image: string): Promise<ImageProbe>;
  /** For doctor: GET /v2/ and, when challenged for a bearer token, one token round-trip for `repository`. */
  checkAccess(registry: string, repository: string): Promise<AccessCheck>;
}

const TokenAnswer = z
  .object({
    token: z.string().min(1).max(16_384).optional(),
    access_token: z.string().min(1).max(16_384).optional(),
    expires_in: z.number().int().positive().max(86_400).optional(),
  })
  .refine((t) => t.token !== undefined || t.access_token !== undefined, 'neither token nor access_token');

/** The token spec: a token without expires_in lasts 60 seconds. */
const DEFAULT_TOKEN_SECONDS = 60;

function basicHeader(creds: RegistryCredentials): string {
  return `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
}

export function createRegistryClient(options: RegistryClientOptions): RegistryClient {
  const fetchFn: RegistryFetch = options.fetch ?? ((url, init) => fetch(url, init));
  const now = options.now ?? Date.now;
  const tokens = new Map<string, { token: string; until: number }>();

  const fail = (ref: { registry: string }, what: string, status?: number) =>
    new TransientError(`registry ${ref.registry}: ${what}`, { system: 'registry', ...(status === undefined ? {} : { status }) });

  async function send(ref: { registry: string }, url: string, method: string, headers: Record<string, string>): Promise<RegistryResponseLike> {
    try {
      // No redirects followed with our headers: a registry redirecting a manifest HEAD elsewhere is an answer we do not trust.
      return await fetchFn(url, { method, headers, signal: AbortSignal.timeout(options.timeoutMs), redirect: 'manual' });
    } catch (err) {
      const name = (err as Error)?.name === 'TimeoutError' ? `no answer within ${options.timeoutMs} ms` : 'unreachable';
      throw new TransientError(`registry ${ref.registry}: ${name} (${method} ${new URL(url).pathname})`, { system: 'registry', code: (err as { code?: string })?.code ?? (err as Error)?.name, cause: err });
    }
  }

  /** The token spec's GET realm?service=&scope=, Basic-authenticated when we have credentials. */
  async function fetchToken(ref: { registry: string }, base: string, challenge: BearerChallenge, scope: string | null): Promise<string> {
    const cacheKey = `${ref.registry} ${challenge.realm} ${challenge.service ?? ''} ${scope ?? ''}`;
    const cached = tokens.get(cacheKey);
    if (cached && cached.until > now()) return cached.token;
    const realm = new URL(challenge.realm);
    if (challenge.service !== null) realm.searchParams.set('service', challenge.service);
    if (scope !== null) realm.searchParams.set('scope', scope);
    const creds = options.credentials.lookup(ref.registry);
    // Credentials go to the realm only over TLS, or to the registry's own origin (a plain-http registry the operator configured).
    const mayAuthenticate = realm.protocol === 'https:' || realm.origin === new URL(base).origin;
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (creds && mayAuthenticate) headers['Authorization'] = basicHeader(creds);
    const answer = await send(ref, realm.toString(), 'GET', headers);
    if (answer.status === 401 || answer.status === 403) throw fail(ref, `token service refused ${creds ? "previewd's credentials" : 'anonymous access'} (HTTP ${answer.status})`, answer.status);
    if (answer.status < 200 || answer.status >= 300) throw fail(ref, `token service answered HTTP ${answer.status}`, answer.status);
    let body: unknown;
    try {
      body = JSON.parse((await answer.text()).slice(0, 65_536));
    } catch {
      throw fail(ref, 'token service answered with something that is not JSON');
    }
    const parsed = TokenAnswer.safeParse(body);
    if (!parsed.success) throw fail(ref, `token service answer has no usable token (${parsed.error.issues[0]!.message})`);
    const token = parsed.data.token ?? parsed.data.access_token!;
    // Renewed a little early: a token that expires between the check and the use is a needless 401.
    const seconds = parsed.data.expires_in ?? DEFAULT_TOKEN_SECONDS;
    tokens.set(cacheKey, { token, until: now() + Math.max(0, seconds - 5) * 1000 });
    return token;
  }

  /** One request with the challenge answered once: Bearer via the token service, or Basic. */
  async function authorized(ref: { registry: string }, base: string, url: string, method: string, headers: Record<string, string>, scope: string | null): Promise<{ answer: RegistryResponseLike; auth: AccessCheck['auth'] }> {
    const first = await send(ref, url, method, headers);
    if (first.status !== 401) return { answer: first, auth: 'anonymous' };
    const challenge = parseChallenge(first.headers.get('www-authenticate'));
    if (challenge.kind === 'invalid') throw fail(ref, `answered 401 with an unusable challenge: ${challenge.reason}`, 401);
    if (challenge.kind === 'basic') {
      const creds = options.credentials.lookup(ref.registry);
      if (!creds) throw fail(ref, 'asks for Basic credentials and config.json has none for it', 401);
      if (new URL(base).protocol !== 'https:' && !base.startsWith('http://127.0.0.1') && !base.startsWith('http://localhost')) {
        throw fail(ref, 'asks for Basic credentials over plain http; previewd sends none', 401);
      }
      const again = await send(ref, url, method, { ...headers, Authorization: basicHeader(creds) });
      if (again.status === 401 || again.status === 403) throw fail(ref, `refused previewd's credentials (HTTP ${again.status})`, again.status);
      return { answer: again, auth: 'basic' };
    }
    const token = await fetchToken(ref, base, challenge.challenge, challenge.challenge.scope ?? scope);
    const again = await send(ref, url, method, { ...headers, Authorization: `Bearer ${token}` });
    if (again.status === 401 || again.status === 403) throw fail(ref, `refused the token it issued (HTTP ${again.status})`, again.status);
    return { answer: again, auth: 'bearer' };
  }

  return {
    async probe(image) {
      const ref: ImageReference | null = parseImageReference(image);
      if (!ref) throw new TransientError(`registry: ${JSON.stringify(image.slice(0, 300))} is not an image reference with a tag`, { system: 'registry' });
      const base = registryBaseUrl(ref.registry, options.endpoints);
      const url = `${base}/v2/${ref.repository}/manifests/${encodeURIComponent(ref.tag)}`;
      const { answer } = await authorized(ref, base, url, 'HEAD', { Accept: MANIFEST_ACCEPT }, `repository:${ref.repository}:pull`);
      if (answer.status === 200) return 'present';
      if (answer.status === 404) return 'missing';
      const retryAfter = Number(answer.headers.get('retry-after'));
      throw new TransientError(`registry ${ref.registry}: HEAD manifest of ${formatReference(ref)} answered HTTP ${answer.status}`, {
        system: 'registry',
        status: answer.status,
        ...(Number.isFinite(retryAfter) && retryAfter > 0 && retryAfter <= 3600 ? { retryAfterMs: retryAfter * 1000 } : {}),
      });
    },

    async checkAccess(registry, repository) {
      const ref = { registry };
      const base = registryBaseUrl(registry, options.endpoints);
      const creds = options.credentials.lookup(registry);
      const helper = options.credentials.helperRegistries.includes(registry) || (options.credentials.credsStore !== null && !creds);
      // The API version check (spec.md end-1) answers 200 or the challenge; the scope is the repo's pull, as a probe would ask.
      const { answer, auth } = await authorized(ref, base, `${base}/v2/`, 'GET', {}, `repository:${repository}:pull`);
      if (answer.status !== 200) throw fail(ref, `GET /v2/ answered HTTP ${answer.status}`, answer.status);
      return { registry, credentials: creds ? 'found' : helper ? 'helper' : 'none', auth };
    },
  };
}

// An OCI registry, as far as previewd and the Nomad emulator's docker driver ask it:
// the API version check and manifest HEAD/GET, with the bearer-token challenge of the
// token spec, and a way for tests to push and remove a tag (as CI would) with a log
// of what was asked. Sources:
// - opencontainers/distribution-spec spec.md: end-1 `GET /v2/` (200, or 401 to start
//   authentication), end-3 `GET|HEAD /v2/<name>/manifests/<reference>` (200 with the
//   manifest's Content-Type and Docker-Content-Digest, 404 when unknown), the
//   <name> grammar ("[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/…)*"), the tag grammar
//   ("[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}") and the error body
//   `{"errors":[{"code","message","detail"}]}` with the codes MANIFEST_UNKNOWN
//   ("manifest unknown"), NAME_UNKNOWN ("repository name not known to registry"),
//   NAME_INVALID ("invalid repository name"), TAG_INVALID ("manifest tag did not
//   match URI") and UNAUTHORIZED ("authentication required").
// - distribution/distribution docs/spec/auth/token.md: the 401's `WWW-Authenticate:
//   Bearer realm=…,service=…,scope="repository:<name>:pull"`, the token endpoint
//   (GET realm?service=&scope=, Basic credentials optional) answering
//   {token, access_token, expires_in, issued_at}; registry/handlers/manifests.go
//   (an OCI index is not served to a client whose Accept leaves it out: MANIFEST_UNKNOWN).
// A HEAD answer has the headers of the GET and no body (RFC 9110; Node drops it).
import { createHash, randomBytes } from 'node:crypto';
import { startEmulator, type Emulator, type EmulatorRequest, type EmulatorResponse } from './harness.js';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

export interface RegistryEmulatorOptions {
  /** The registry host the emulator stands for ("ghcr.io"): images under it are its own. */
  host: string;
  /** "bearer": every /v2 request needs a token from the emulator's token endpoint. Default "none". */
  auth?: 'none' | 'bearer';
  /** Basic credentials the token endpoint accepts; none given: anonymous tokens are issued. */
  users?: Record<string, string>;
  /** The `service` of the challenge (default the host). */
  service?: string;
}

export interface RegistryEmulator extends Emulator {
  readonly host: string;
  /** Stores a manifest for repository:tag, as a CI push would; returns its digest. */
  push(repository: string, tag: string, mediaType?: string): string;
  /** Deletes the tag (the manifest is then unknown). */
  remove(repository: string, tag: string): void;
  has(repository: string, tag: string): boolean;
  /** For a whole image reference under this host ("ghcr.io/acme/api:sha"); null when the reference is another registry's. */
  holds(image: string): boolean | null;
  /** Tokens the token endpoint issued, with the Basic user (null: anonymous) and scope. */
  readonly issued: { user: string | null; scope: string | null; service: string | null }[];
  /**
   * Every manifest request with the tag and its answer at that moment (for "never deployed a
   * missing image" assertions): `by` "http" for the API, "docker" for the Nomad emulator's
   * docker driver pulling a task's image (cluster.ts attachImageSource).
   */
  readonly manifestLog: { method: string; repository: string; tag: string; status: number; at: number; by: 'http' | 'docker' }[];
  /** The docker daemon's pull of a whole image reference: logged; null when the image is another registry's. */
  pull(image: string): boolean | null;
}

const NAME = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;

function errors(status: number, code: string, message: string, detail: unknown = null, headers: Record<string, string> = {}): EmulatorResponse {
  return { status, headers: { 'Docker-Distribution-API-Version': 'registry/2.0', ...headers }, body: { errors: [{ code, message, detail }] } };
}

export async function startRegistryEmulator(options: RegistryEmulatorOptions): Promise<RegistryEmulator> {
  const repos = new Map<string, Map<string, { body: string; mediaType: string; digest: string }>>();
  const tokens = new Map<string, { scope: string | null; until: number }>();
  const issued: RegistryEmulator['issued'] = [];
  const manifestLog: RegistryEmulator['manifestLog'] = [];
  const service = options.service ?? options.host;
  let self: Emulator | null = null;

  const challenge = (scope: string | null) => {
    const parts = [`realm="${self!.url}/token"`, `service="${service}"`];
    if (scope) parts.push(`scope="${scope}"`);
    return errors(401, 'UNAUTHORIZED', 'authentication required', null, { 'WWW-Authenticate': `Bearer ${parts.join(',')}` });
  };

  function authorized(req: EmulatorRequest): boolean {
    if ((options.auth ?? 'none') === 'none') return true;
    const header = String(req.headers['authorization'] ?? '');
    const token = /^Bearer (\S+)$/.exec(header)?.[1];
    const held = token ? tokens.get(token) : undefined;
    return held !== undefined && held.until > Date.now();
  }

  function tokenEndpoint(req: EmulatorRequest): EmulatorResponse {
    const header = String(req.headers['authorization'] ?? '');
    let user: string | null = null;
    if (header.startsWith('Basic ')) {
      const text = Buffer.from(header.slice(6), 'base64').toString('utf8');
      const colon = text.indexOf(':');
      const name = text.slice(0, Math.max(colon, 0));
      if (colon <= 0 || options.users?.[name] !== text.slice(colon + 1)) return { status: 401, body: { details: 'incorrect username or password' } };
      user = name;
    } else if (options.users && Object.keys(options.users).length > 0) {
      return { status: 401, body: { details: 'authentication required' } };
    }
    const token = randomBytes(18).toString('hex');
    const scope = req.query.get('scope');
    tokens.set(token, { scope, until: Date.now() + 300_000 });
    issued.push({ user, scope, service: req.query.get('service') });
    return { status: 200, body: { token, access_token: token, expires_in: 300, issued_at: new Date().toISOString() } };
  }

  function manifest(req: EmulatorRequest, name: string, reference: string): EmulatorResponse {
    const log = (status: number) => {
      manifestLog.push({ method: req.method, repository: name, tag: reference, status, at: Date.now(), by: 'http' });
      return status;
    };
    if (!NAME.test(name) || name.length > 255) return errors(log(400), 'NAME_INVALID', 'invalid repository name', { name });
    if (!TAG.test(reference) && !DIGEST.test(reference)) return errors(log(400), 'TAG_INVALID', 'manifest tag did not match URI', { tag: reference });
    if (!authorized(req)) {
      log(401);
      return challenge(`repository:${name}:pull`);
    }
    const repo = repos.get(name);
    if (!repo) return errors(log(404), 'NAME_UNKNOWN', 'repository name not known to registry', { name });
    const found = DIGEST.test(reference) ? [...repo.values()].find((m) => m.digest === reference) : repo.get(reference);
    if (!found) return errors(log(404), 'MANIFEST_UNKNOWN', 'manifest unknown', { tag: reference });
    const accept = String(req.headers['accept'] ?? '');
    if (found.mediaType === OCI_INDEX && accept !== '' && !accept.includes(OCI_INDEX) && !accept.includes('*/*')) {
      return errors(log(404), 'MANIFEST_UNKNOWN', 'OCI index found, but accept header does not support OCI indexes');
    }
    log(200);
    return {
      status: 200,
      headers: {
        'Content-Type': found.mediaType,
        'Docker-Content-Digest': found.digest,
        'Docker-Distribution-API-Version': 'registry/2.0',
        'Content-Length': String(Buffer.byteLength(found.body)),
      },
      body: found.body,
    };
  }

  const emulator = await startEmulator({
    name: 'registry',
    randomErrorBody: { errors: [{ code: 'UNKNOWN', message: 'unknown error', detail: null }] },
    handler(req) {
      if (req.method === 'GET' && req.path === '/token') return tokenEndpoint(req);
      if (req.path === '/v2/' && (req.method === 'GET' || req.method === 'HEAD')) {
        if (!authorized(req)) return challenge(null);
        return { status: 200, headers: { 'Docker-Distribution-API-Version': 'registry/2.0' }, body: {} };
      }
      const m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(req.path);
      if (m && (req.method === 'GET' || req.method === 'HEAD')) return manifest(req, m[1]!, decodeURIComponent(m[2]!));
      if (m) return errors(405, 'UNSUPPORTED', 'The operation is unsupported.');
      return errors(404, 'NOT_FOUND', 'not found');
    },
  });
  self = emulator;

  function push(repository: string, tag: string, mediaType = OCI_MANIFEST): string {
    if (!NAME.test(repository) || !TAG.test(tag)) throw new Error(`registry emulator: invalid ${repository}:${tag}`);
    const body = JSON.stringify({
      schemaVersion: 2,
      mediaType,
      ...(mediaType === OCI_INDEX
        ? { manifests: [] }
        : { config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${createHash('sha256').update(`${repository}:${tag}`).digest('hex')}`, size: 2 }, layers: [] }),
      annotations: { 'org.opencontainers.image.ref.name': tag },
    });
    const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    let repo = repos.get(repository);
    if (!repo) repos.set(repository, (repo = new Map()));
    repo.set(tag, { body, mediaType, digest });
    return digest;
  }

  function splitImage(image: string): { repository: string; tag: string } | null {
    const prefix = `${options.host}/`;
    if (!image.startsWith(prefix)) return null;
    const rest = image.slice(prefix.length);
    const colon = rest.lastIndexOf(':');
    if (colon <= 0) return null;
    return { repository: rest.slice(0, colon), tag: rest.slice(colon + 1) };
  }

  return Object.assign(emulator, {
    host: options.host,
    issued,
    manifestLog,
    push,
    remove(repository: string, tag: string) {
      repos.get(repository)?.delete(tag);
    },
    has(repository: string, tag: string) {
      return repos.get(repository)?.has(tag) ?? false;
    },
    holds(image: string) {
      const parts = splitImage(image);
      return parts ? (repos.get(parts.repository)?.has(parts.tag) ?? false) : null;
    },
    pull(image: string) {
      const parts = splitImage(image);
      if (!parts) return null;
      const held = repos.get(parts.repository)?.has(parts.tag) ?? false;
      // The daemon GETs the manifest (distribution-spec "Pulling manifests"), then its blobs.
      manifestLog.push({ method: 'GET', repository: parts.repository, tag: parts.tag, status: held ? 200 : 404, at: Date.now(), by: 'docker' });
      return held;
    },
  });
}

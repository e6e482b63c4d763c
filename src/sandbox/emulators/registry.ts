// An OCI registry, as far as previewd and the Nomad emulator's docker driver ask it:
// the API version check and manifest HEAD/GET, with the bearer-token challenge of the
// token spec, and a way for tests to push and remove a tag (as CI would) with a log
// of what was asked. It answers as distribution/distribution's registry does (the
// reference implementation of opencontainers/distribution-spec), read-only:
// - spec.md end-1 `GET /v2/` and end-3 `GET|HEAD /v2/<name>/manifests/<reference>`;
//   registry/api/v2/routes.go + descriptors.go: the route takes <name> by
//   distribution/reference regexp.go NameRegexp (an optional domain, then path
//   components) and <reference> by TagRegexp `[\w][\w.-]{0,127}` or go-digest's
//   DigestRegexp; a path neither matches is gorilla/mux's plain-text 404 "404 page not
//   found". registry/handlers/app.go ServeHTTP: `Docker-Distribution-API-Version:
//   registry/2.0` on every answer; dispatcher: authorization first, then the name
//   (reference.WithName: over 255 characters, an untyped error, so a 500 UNKNOWN).
// - registry/handlers/manifests.go manifestDispatcher: a reference that digest.Parse
//   refuses is a tag; GET and HEAD only (a read-only registry, else gorilla/handlers
//   MethodHandler: 405 "Method not allowed", Allow: GET, HEAD); GetManifest: an unknown
//   tag is MANIFEST_UNKNOWN with detail "unknown tag=<tag>" (registry/storage/
//   tagstore.go: a repository nobody pushed to is no different; NAME_UNKNOWN is never
//   answered here), an unknown digest "unknown manifest name=<name> revision=<digest>"
//   (errors.go); If-None-Match with the digest (quoted or not) is 304; an OCI manifest
//   or index is served only to an Accept that names its media type exactly (no wildcard,
//   no default: "OCI manifest found, but accept header does not support OCI manifests");
//   200 carries Content-Type, Content-Length, Docker-Content-Digest and Etag.
// - registry/api/errcode/register.go + errors.go: codes, messages and statuses, the
//   envelope `{"errors":[{"code","message","detail"?}]}` (detail omitted when none, an
//   error's detail is its text).
// - registry/auth/token/accesscontroller.go Authorized + challengeParams, registry/
//   handlers/app.go authorized + appendAccessRecords: a missing or non-Bearer
//   Authorization, an unknown token or one whose scope lacks the access asked (GET/HEAD
//   pull; PUT/POST/PATCH pull and push; DELETE delete) is 401 UNAUTHORIZED with detail
//   the access records and `WWW-Authenticate: Bearer realm="…",service="…"[,scope=
//   "repository:<name>:<actions>"][,error="invalid_token"|"insufficient_scope"]`.
// - distribution/distribution docs/spec/auth/token.md: the token endpoint (GET
//   realm?service=&scope=, Basic credentials optional) answering
//   {token, access_token, expires_in, issued_at}; the token carries the scope asked.
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

// The spec's grammar (spec.md "Pulling manifests"), for what tests push.
const NAME = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
// The manifests route (routes.go): reference regexp.go NameRegexp, TagRegexp, go-digest DigestRegexp.
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[(?:[a-fA-F0-9:]+)\\])(?::[0-9]+)?`;
const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*';
const NAME_PAT = `(?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*`;
const MANIFEST_ROUTE = new RegExp(`^/v2/(${NAME_PAT})/manifests/([\\w][\\w.-]{0,127}|[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+)$`);
// go-digest digest.Parse → Validate: an available algorithm and its hex length.
const DIGEST = /^(?:sha256:[a-f0-9]{64}|sha384:[a-f0-9]{96}|sha512:[a-f0-9]{128})$/;

const API_VERSION = { 'Docker-Distribution-API-Version': 'registry/2.0' };

function errors(status: number, code: string, message: string, detail?: unknown, headers: Record<string, string> = {}): EmulatorResponse {
  const error = detail === undefined ? { code, message } : { code, message, detail };
  return { status, headers: { ...API_VERSION, 'content-type': 'application/json', ...headers }, body: { errors: [error] } };
}

/** Go's http.Error: plain text with a newline (gorilla/mux NotFound, gorilla/handlers MethodHandler). */
function plain(status: number, text: string, headers: Record<string, string> = {}): EmulatorResponse {
  return { status, headers: { ...API_VERSION, 'content-type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff', ...headers }, body: `${text}\n` };
}

/** app.go appendAccessRecords: what a method on a repository needs. */
function accessFor(method: string, name: string): { Type: string; Class: string; Name: string; Action: string }[] {
  const actions = method === 'GET' || method === 'HEAD' ? ['pull'] : method === 'POST' || method === 'PUT' || method === 'PATCH' ? ['pull', 'push'] : method === 'DELETE' ? ['delete'] : [];
  return actions.map((Action) => ({ Type: 'repository', Class: '', Name: name, Action }));
}

/** Whether a token's scope ("repository:<name>:<a>,<b> …", token.md) grants every access. */
function scopeCovers(scope: string | null, access: { Type: string; Name: string; Action: string }[]): boolean {
  const granted = new Set<string>();
  for (const item of (scope ?? '').split(' ').filter(Boolean)) {
    const last = item.lastIndexOf(':');
    const first = item.indexOf(':');
    if (first < 0 || last === first) continue;
    for (const action of item.slice(last + 1).split(',')) granted.add(`${item.slice(0, first)}:${item.slice(first + 1, last)}:${action}`);
  }
  return access.every((a) => granted.has(`${a.Type}:${a.Name}:${a.Action}`) || granted.has(`${a.Type}:${a.Name}:*`));
}

export async function startRegistryEmulator(options: RegistryEmulatorOptions): Promise<RegistryEmulator> {
  const repos = new Map<string, Map<string, { body: string; mediaType: string; digest: string }>>();
  const tokens = new Map<string, { scope: string | null; until: number }>();
  const issued: RegistryEmulator['issued'] = [];
  const manifestLog: RegistryEmulator['manifestLog'] = [];
  const service = options.service ?? options.host;
  let self: Emulator | null = null;

  /**
   * accesscontroller.go Authorized: null when the request may go on, else the 401 with
   * challengeParams' header and the access records as detail (app.go authorized).
   */
  function authorize(req: EmulatorRequest, access: ReturnType<typeof accessFor>): EmulatorResponse | null {
    if ((options.auth ?? 'none') === 'none') return null;
    const header = String(req.headers['authorization'] ?? '');
    const space = header.indexOf(' ');
    const raw = space < 0 ? '' : header.slice(space + 1);
    let error: string | null = null;
    if (space < 0 || raw === '' || header.slice(0, space).toLowerCase() !== 'bearer') {
      error = null; // ErrTokenRequired: no error parameter
    } else {
      const held = tokens.get(raw);
      if (!held || held.until <= Date.now()) error = 'invalid_token';
      else if (!scopeCovers(held.scope, access)) error = 'insufficient_scope';
      else return null;
    }
    const parts = [`realm="${self!.url}/token"`, `service="${service}"`];
    // accessSet.scopeParam: "<type>:<name>:<actions joined by ,>" per resource.
    const byName = new Map<string, string[]>();
    for (const a of access) byName.set(`${a.Type}:${a.Name}`, [...(byName.get(`${a.Type}:${a.Name}`) ?? []), a.Action]);
    const scope = [...byName].map(([resource, actions]) => `${resource}:${actions.sort().join(',')}`).join(' ');
    if (scope) parts.push(`scope="${scope}"`);
    if (error) parts.push(`error="${error}"`);
    return errors(401, 'UNAUTHORIZED', 'authentication required', access.length > 0 ? access : null, { 'WWW-Authenticate': `Bearer ${parts.join(',')}` });
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
    const denied = authorize(req, accessFor(req.method, name));
    if (denied) {
      log(401);
      return denied;
    }
    if (name.length > 255) {
      // app.go dispatcher: reference.WithName's ErrNameTooLong goes out as an untyped error.
      const detail = `repository name "${name}" invalid: repository name must not be more than 255 characters`;
      return errors(log(500), 'UNKNOWN', 'unknown error', detail);
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      log(405);
      return plain(405, 'Method not allowed', { Allow: 'GET, HEAD' });
    }
    const byDigest = DIGEST.test(reference);
    const found = byDigest ? [...(repos.get(name)?.values() ?? [])].find((m) => m.digest === reference) : repos.get(name)?.get(reference);
    if (!found) {
      const detail = byDigest ? `unknown manifest name=${name} revision=${reference}` : `unknown tag=${reference}`;
      return errors(log(404), 'MANIFEST_UNKNOWN', 'manifest unknown', detail);
    }
    const ifNoneMatch = req.headers['if-none-match'];
    for (const v of Array.isArray(ifNoneMatch) ? ifNoneMatch : ifNoneMatch === undefined ? [] : [ifNoneMatch]) {
      if (v === found.digest || v === `"${found.digest}"`) {
        log(304);
        return { status: 304, headers: { ...API_VERSION } };
      }
    }
    // GetManifest's Accept parsing: every Accept value split on ",", mime.ParseMediaType (lower-cased, parameters dropped).
    const accepted = new Set(
      String(req.headers['accept'] ?? '')
        .split(',')
        .map((t) => t.split(';')[0]!.trim().toLowerCase())
        .filter(Boolean),
    );
    if (found.mediaType === OCI_MANIFEST && !accepted.has(OCI_MANIFEST)) {
      return errors(log(404), 'MANIFEST_UNKNOWN', 'OCI manifest found, but accept header does not support OCI manifests');
    }
    if (found.mediaType === OCI_INDEX && !accepted.has(OCI_INDEX)) {
      return errors(log(404), 'MANIFEST_UNKNOWN', 'OCI index found, but accept header does not support OCI indexes');
    }
    log(200);
    return {
      status: 200,
      headers: {
        'content-type': found.mediaType,
        'Content-Length': String(Buffer.byteLength(found.body)),
        'Docker-Content-Digest': found.digest,
        Etag: `"${found.digest}"`,
        ...API_VERSION,
      },
      body: found.body,
    };
  }

  const emulator = await startEmulator({
    name: 'registry',
    randomErrorBody: { errors: [{ code: 'UNKNOWN', message: 'unknown error' }] },
    handler(req) {
      if (req.method === 'GET' && req.path === '/token') return tokenEndpoint(req);
      let path: string;
      try {
        // gorilla/mux matches the decoded path.
        path = decodeURIComponent(req.path);
      } catch {
        path = req.path;
      }
      if (path === '/v2') {
        // routes.go: router.StrictSlash(true), so gorilla/mux redirects to the route's slash
        // (net/http Redirect: 301, Location, a short HTML body for GET).
        const query = req.query.toString();
        const location = `/v2/${query ? `?${query}` : ''}`;
        const html = req.method === 'GET' ? `<a href="${location.replace(/&/g, '&amp;')}">Moved Permanently</a>.\n\n` : undefined;
        return { status: 301, headers: { ...API_VERSION, Location: location, ...(html ? { 'content-type': 'text/html; charset=utf-8' } : {}) }, body: html };
      }
      if (path === '/v2/') {
        // The base route needs no repository access (app.go authorized: no records), any method (apiBase).
        const denied = authorize(req, []);
        if (denied) return denied;
        return { status: 200, headers: { ...API_VERSION, 'content-type': 'application/json', 'Content-Length': '2' }, body: '{}' };
      }
      const m = MANIFEST_ROUTE.exec(path);
      if (m) return manifest(req, m[1]!, m[2]!);
      return plain(404, '404 page not found');
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

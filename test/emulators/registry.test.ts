import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OCI_INDEX, OCI_MANIFEST, startRegistryEmulator, type RegistryEmulator } from '../../src/sandbox/emulators/registry.js';

let open: RegistryEmulator;
let locked: RegistryEmulator;

beforeAll(async () => {
  open = await startRegistryEmulator({ host: 'ghcr.io' });
  locked = await startRegistryEmulator({ host: 'registry.example.com', auth: 'bearer' });
});
afterAll(async () => {
  await open.close();
  await locked.close();
});

async function call(base: string, method: string, path: string, headers: Record<string, string> = {}) {
  const r = await fetch(`${base}${path}`, { method, headers });
  const text = await r.text();
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = null;
  }
  return { status: r.status, headers: r.headers, text, json };
}

async function token(scope: string): Promise<string> {
  const r = await call(locked.url, 'GET', `/token?service=registry.example.com&scope=${encodeURIComponent(scope)}`);
  return r.json.token as string;
}

describe('registry emulator: manifests as distribution/distribution answers them', () => {
  it('when a tag was never pushed, in a repository nobody pushed to, then 404 MANIFEST_UNKNOWN with the tag store error as detail (not NAME_UNKNOWN)', async () => {
    // registry/handlers/manifests.go GetManifest + registry/storage/tagstore.go Get.
    const r = await call(open.url, 'GET', '/v2/acme/nothing-here/manifests/v1', { Accept: OCI_MANIFEST });
    expect([r.status, r.json]).toEqual([404, { errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown', detail: 'unknown tag=v1' }] }]);
    const digest = `sha256:${'a'.repeat(64)}`;
    const byDigest = await call(open.url, 'GET', `/v2/acme/nothing-here/manifests/${digest}`, { Accept: OCI_MANIFEST });
    expect(byDigest.json.errors[0]).toEqual({ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown', detail: `unknown manifest name=acme/nothing-here revision=${digest}` });
  });

  it('when an OCI manifest or index is asked without its media type in Accept then 404 MANIFEST_UNKNOWN, wildcards and no Accept included', async () => {
    open.push('acme/neg', 'img', OCI_MANIFEST);
    open.push('acme/neg', 'idx', OCI_INDEX);
    for (const accept of [undefined, '*/*', 'application/vnd.docker.distribution.manifest.v2+json']) {
      const headers: Record<string, string> = accept ? { Accept: accept } : {};
      const img = await call(open.url, 'GET', '/v2/acme/neg/manifests/img', headers);
      expect([accept, img.status, img.json.errors[0]]).toEqual([accept, 404, { code: 'MANIFEST_UNKNOWN', message: 'OCI manifest found, but accept header does not support OCI manifests' }]);
      const idx = await call(open.url, 'GET', '/v2/acme/neg/manifests/idx', headers);
      expect([accept, idx.status, idx.json.errors[0].message]).toEqual([accept, 404, 'OCI index found, but accept header does not support OCI indexes']);
    }
    const ok = await call(open.url, 'GET', '/v2/acme/neg/manifests/img', { Accept: `application/json, ${OCI_MANIFEST}; q=0.9` });
    expect(ok.status).toBe(200);
  });

  it('when a manifest is served then it carries its digest as Docker-Content-Digest and Etag, and If-None-Match with it is 304', async () => {
    const digest = open.push('acme/etag', 'v1');
    const r = await call(open.url, 'GET', '/v2/acme/etag/manifests/v1', { Accept: OCI_MANIFEST });
    expect([r.status, r.headers.get('docker-content-digest'), r.headers.get('etag'), r.headers.get('content-type')]).toEqual([200, digest, `"${digest}"`, OCI_MANIFEST]);
    const again = await call(open.url, 'GET', '/v2/acme/etag/manifests/v1', { Accept: OCI_MANIFEST, 'If-None-Match': `"${digest}"` });
    expect(again.status).toBe(304);
    const byDigest = await call(open.url, 'HEAD', `/v2/acme/etag/manifests/${digest}`, { Accept: OCI_MANIFEST });
    expect(byDigest.status).toBe(200);
  });

  it('when the path is not a route (bad name, bad reference, unknown endpoint) then gorilla/mux plain 404 "404 page not found"', async () => {
    for (const path of ['/v2/Acme/manifests/v1', '/v2/acme/api/manifests/-x', '/v2/acme//api/manifests/v1', '/v2/acme/api/tags/list', '/nope']) {
      const r = await call(open.url, 'GET', path);
      expect([path, r.status, r.text, r.headers.get('docker-distribution-api-version')]).toEqual([path, 404, '404 page not found\n', 'registry/2.0']);
    }
    // NameRegexp takes an optional domain first: "Acme" with a slash after it is one.
    expect((await call(open.url, 'GET', '/v2/Acme/api/manifests/v1', { Accept: OCI_MANIFEST })).json.errors[0].code).toBe('MANIFEST_UNKNOWN');
  });

  it('when /v2 is asked without its slash then gorilla/mux StrictSlash redirects to /v2/ (301)', async () => {
    const r = await fetch(`${open.url}/v2`, { redirect: 'manual' });
    expect([r.status, r.headers.get('location'), await r.text()]).toEqual([301, '/v2/', '<a href="/v2/">Moved Permanently</a>.\n\n']);
  });

  it('when a digest-shaped reference does not parse as a digest then it is looked up as a tag', async () => {
    const r = await call(open.url, 'GET', '/v2/acme/api/manifests/sha256:abc', { Accept: OCI_MANIFEST });
    expect(r.json.errors[0]).toEqual({ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown', detail: 'unknown tag=sha256:abc' });
  });

  it('when a write method reaches a manifest then 405 "Method not allowed" with Allow, as a read-only registry', async () => {
    const r = await call(open.url, 'PUT', '/v2/acme/api/manifests/v1');
    expect([r.status, r.text, r.headers.get('allow')]).toEqual([405, 'Method not allowed\n', 'GET, HEAD']);
  });

  it('when the name is over 255 characters then a 500 UNKNOWN with reference.WithName\'s error as detail', async () => {
    const name = `a/${'b'.repeat(254)}`;
    const r = await call(open.url, 'GET', `/v2/${name}/manifests/v1`);
    expect([r.status, r.json.errors[0]]).toEqual([
      500,
      { code: 'UNKNOWN', message: 'unknown error', detail: `repository name "${name}" invalid: repository name must not be more than 255 characters` },
    ]);
  });
});

describe('registry emulator: token auth as registry/auth/token/accesscontroller.go checks it', () => {
  it('when no token is sent then 401 with the challenge and the access records as detail', async () => {
    const r = await call(locked.url, 'HEAD', '/v2/team/web/manifests/v1');
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toBe(`Bearer realm="${locked.url}/token",service="registry.example.com",scope="repository:team/web:pull"`);
    const body = await call(locked.url, 'GET', '/v2/team/web/manifests/v1');
    expect(body.json).toEqual({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required', detail: [{ Type: 'repository', Class: '', Name: 'team/web', Action: 'pull' }] }] });
  });

  it('when the token was issued for another repository then 401 insufficient_scope; for this one it passes', async () => {
    locked.push('team/web', 'v1');
    const other = await token('repository:team/other:pull');
    const r = await call(locked.url, 'GET', '/v2/team/web/manifests/v1', { Authorization: `Bearer ${other}`, Accept: OCI_MANIFEST });
    expect([r.status, r.headers.get('www-authenticate')]).toEqual([
      401,
      `Bearer realm="${locked.url}/token",service="registry.example.com",scope="repository:team/web:pull",error="insufficient_scope"`,
    ]);
    const mine = await token('repository:team/web:pull');
    // strings.EqualFold(prefix, "bearer"): the scheme is case-insensitive.
    expect((await call(locked.url, 'GET', '/v2/team/web/manifests/v1', { Authorization: `bearer ${mine}`, Accept: OCI_MANIFEST })).status).toBe(200);
  });

  it('when the token is unknown then 401 invalid_token; a write asks pull and push', async () => {
    const r = await call(locked.url, 'GET', '/v2/team/web/manifests/v1', { Authorization: 'Bearer not-a-token' });
    expect(r.headers.get('www-authenticate')).toBe(`Bearer realm="${locked.url}/token",service="registry.example.com",scope="repository:team/web:pull",error="invalid_token"`);
    const put = await call(locked.url, 'PUT', '/v2/team/web/manifests/v1', { Authorization: `Bearer ${await token('repository:team/web:pull')}` });
    expect([put.status, put.headers.get('www-authenticate')]).toEqual([
      401,
      `Bearer realm="${locked.url}/token",service="registry.example.com",scope="repository:team/web:pull,push",error="insufficient_scope"`,
    ]);
  });

  it('when the base route is asked then any valid token passes (no repository access), and none gets a scope-less challenge', async () => {
    const none = await call(locked.url, 'GET', '/v2/');
    expect([none.status, none.headers.get('www-authenticate'), none.json.errors[0].detail]).toEqual([401, `Bearer realm="${locked.url}/token",service="registry.example.com"`, null]);
    const ok = await call(locked.url, 'GET', '/v2/', { Authorization: `Bearer ${await token('repository:team/other:pull')}` });
    expect([ok.status, ok.text]).toEqual([200, '{}']);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TransientError } from '../errors.js';
import { startRegistryEmulator, OCI_INDEX, type RegistryEmulator } from '../sandbox/emulators/registry.js';
import { parseChallenge } from './challenge.js';
import { createRegistryClient, MANIFEST_ACCEPT, type RegistryFetch } from './client.js';
import { EMPTY_CREDENTIALS, parseDockerConfig, DockerConfigError } from './docker-config.js';
import { parseImageReference, registryBaseUrl } from './reference.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('image references (Docker conventions)', () => {
  it.each([
    ['ghcr.io/acme/shop-api:abc123', { registry: 'ghcr.io', repository: 'acme/shop-api', tag: 'abc123' }],
    ['redis:7.2', { registry: 'docker.io', repository: 'library/redis', tag: '7.2' }],
    ['docker.io/redis:7.2', { registry: 'docker.io', repository: 'library/redis', tag: '7.2' }],
    ['index.docker.io/acme/api:1', { registry: 'docker.io', repository: 'acme/api', tag: '1' }],
    ['acme/api:1', { registry: 'docker.io', repository: 'acme/api', tag: '1' }],
    ['127.0.0.1:5000/acme/api:x', { registry: '127.0.0.1:5000', repository: 'acme/api', tag: 'x' }],
    ['localhost/api:x', { registry: 'localhost', repository: 'api', tag: 'x' }],
  ])('when %s is parsed then it names its registry, repository and tag', (image, expected) => {
    expect(parseImageReference(image)).toEqual(expected);
  });

  it.each(['ghcr.io/acme/api', 'ghcr.io/Acme/api:1', 'ghcr.io/acme/api:-x', 'ghcr.io/acme/api@sha256:00', 'ghcr.io//api:1', `ghcr.io/a:${'x'.repeat(129)}`])(
    'when %s is not a tagged reference then it is refused',
    (image) => expect(parseImageReference(image)).toBeNull(),
  );

  it('when Docker Hub has no endpoint configured then its API host is registry-1.docker.io', () => {
    expect(registryBaseUrl('docker.io', {})).toBe('https://registry-1.docker.io');
    expect(registryBaseUrl('ghcr.io', { 'ghcr.io': 'http://127.0.0.1:1/' })).toBe('http://127.0.0.1:1');
    expect(registryBaseUrl('docker.io', { 'index.docker.io': 'https://mirror.example' })).toBe('https://mirror.example');
  });
});

describe('config.json credentials', () => {
  it('when auths carry base64 auth or username/password then each registry finds its own, Docker Hub under any of its names', () => {
    const store = parseDockerConfig(
      JSON.stringify({
        auths: {
          'https://index.docker.io/v1/': { auth: b64('hubuser:hub:pass') },
          'ghcr.io': { username: 'gh', password: 'tok' },
          'https://registry.example.com/v2/': { auth: b64('r:p') },
          'broken.example': { auth: '!!!' },
        },
        credHelpers: { 'gcr.io': 'gcloud' },
      }),
      'config.json',
    );
    expect(store.lookup('docker.io')).toEqual({ username: 'hubuser', password: 'hub:pass' });
    expect(store.lookup('registry-1.docker.io')).toEqual({ username: 'hubuser', password: 'hub:pass' });
    expect(store.lookup('ghcr.io')).toEqual({ username: 'gh', password: 'tok' });
    expect(store.lookup('registry.example.com')).toEqual({ username: 'r', password: 'p' });
    expect(store.lookup('broken.example')).toBeNull();
    expect(store.lookup('quay.io')).toBeNull();
    expect(store.helperRegistries).toEqual(['gcr.io']);
  });

  it.each([['not json', /not valid JSON/], [JSON.stringify({ auths: { x: { auth: 5 } } }), /auths\.x\.auth/], [JSON.stringify({ auths: [] }), /auths/]])(
    'when config.json is malformed (%s) then the error names where, not the values',
    (text, pattern) => {
      expect(() => parseDockerConfig(text, 'cfg')).toThrow(DockerConfigError);
      expect(() => parseDockerConfig(text, 'cfg')).toThrow(pattern);
    },
  );
});

describe('WWW-Authenticate challenges (token spec)', () => {
  it('when the challenge is the token spec example then realm, service and scope are read', () => {
    expect(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push"')).toEqual({
      kind: 'bearer',
      challenge: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:samalba/my-app:pull,push' },
    });
    expect(parseChallenge('Basic realm="x"')).toEqual({ kind: 'basic' });
  });

  it.each([
    [null, /no WWW-Authenticate/],
    ['Bearer realm="https://a/token', /not a valid list/],
    ['Bearer service="x"', /without a realm/],
    ['Bearer realm="file:///etc/passwd"', /not an http/],
    ['Bearer realm="https://u:p@a/token"', /carries credentials/],
    ['Bearer realm="https://a",realm="https://b"', /not a valid list/],
    [`Bearer realm="${'a'.repeat(5000)}"`, /longer than/],
    ['Bearer realm="https://a/\u0000"', /control characters/],
    ['Negotiate abc', /unsupported/],
  ])('when the challenge is hostile (%s) then it is refused with a reason', (header, reason) => {
    const result = parseChallenge(header);
    expect(result.kind).toBe('invalid');
    expect(result.kind === 'invalid' && result.reason).toMatch(reason);
  });
});

describe('registry client against the registry emulator', () => {
  let open: RegistryEmulator;
  let locked: RegistryEmulator;
  beforeAll(async () => {
    open = await startRegistryEmulator({ host: 'ghcr.io' });
    locked = await startRegistryEmulator({ host: 'registry.example.com', auth: 'bearer', users: { ci: 's3cret' } });
  });
  afterAll(async () => {
    await open.close();
    await locked.close();
  });

  it('when a tag is pushed then the probe says present, and missing once removed (404 MANIFEST_UNKNOWN)', async () => {
    const client = createRegistryClient({ endpoints: { 'ghcr.io': open.url }, credentials: EMPTY_CREDENTIALS, timeoutMs: 5_000 });
    expect(await client.probe('ghcr.io/acme/api:one')).toBe('missing');
    open.push('acme/api', 'one');
    expect(await client.probe('ghcr.io/acme/api:one')).toBe('present');
    open.push('acme/api', 'multi', OCI_INDEX);
    expect(await client.probe('ghcr.io/acme/api:multi')).toBe('present');
    open.remove('acme/api', 'one');
    expect(await client.probe('ghcr.io/acme/api:one')).toBe('missing');
    const heads = open.manifestLog.filter((e) => e.method === 'HEAD').map((e) => `${e.tag}:${e.status}`);
    expect(heads).toEqual(['one:404', 'one:200', 'multi:200', 'one:404']);
  });

  it('when the registry challenges then the token is fetched with the config.json credentials and the HEAD retried with it', async () => {
    const credentials = parseDockerConfig(JSON.stringify({ auths: { 'registry.example.com': { auth: b64('ci:s3cret') } } }), 'cfg');
    const client = createRegistryClient({ endpoints: { 'registry.example.com': locked.url }, credentials, timeoutMs: 5_000 });
    locked.push('team/web', 'abc');
    expect(await client.probe('registry.example.com/team/web:abc')).toBe('present');
    expect(await client.probe('registry.example.com/team/web:nope')).toBe('missing');
    expect(locked.issued).toEqual([{ user: 'ci', scope: 'repository:team/web:pull', service: 'registry.example.com' }]);
    const access = await client.checkAccess('registry.example.com', 'team/web');
    expect(access).toEqual({ registry: 'registry.example.com', credentials: 'found', auth: 'bearer' });
  });

  it('when the credentials are wrong then the probe fails transiently saying the token service refused them, without the password', async () => {
    const credentials = parseDockerConfig(JSON.stringify({ auths: { 'registry.example.com': { username: 'ci', password: 'wrong-pass' } } }), 'cfg');
    const client = createRegistryClient({ endpoints: { 'registry.example.com': locked.url }, credentials, timeoutMs: 5_000 });
    const err = await client.probe('registry.example.com/team/web:abc').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientError);
    expect((err as Error).message).toMatch(/token service refused previewd's credentials \(HTTP 401\)/);
    expect((err as Error).message).not.toContain('wrong-pass');
  });

  it('when the registry answers hostile or broken things then each is a clear transient error', async () => {
    const answers: { status: number; headers: Record<string, string>; body: string }[] = [];
    const fake: RegistryFetch = async (url, init) => {
      const next = answers.shift() ?? { status: 500, headers: {}, body: '' };
      expect(init.headers['Accept'] ?? init.headers['accept'] ?? MANIFEST_ACCEPT).toBeTruthy();
      void url;
      return { status: next.status, headers: { get: (n: string) => next.headers[n.toLowerCase()] ?? null }, text: async () => next.body };
    };
    const client = createRegistryClient({ endpoints: {}, credentials: EMPTY_CREDENTIALS, timeoutMs: 1_000, fetch: fake });
    const cases: [typeof answers, RegExp][] = [
      [[{ status: 401, headers: { 'www-authenticate': 'Bearer realm="javascript:alert(1)"' }, body: '' }], /unusable challenge: Bearer realm is not an http/],
      [[{ status: 401, headers: {}, body: '' }], /unusable challenge: no WWW-Authenticate/],
      [[{ status: 401, headers: { 'www-authenticate': 'Bearer realm="https://auth.example/token"' }, body: '' }, { status: 200, headers: {}, body: 'not json' }], /not JSON/],
      [[{ status: 401, headers: { 'www-authenticate': 'Bearer realm="https://auth.example/token"' }, body: '' }, { status: 200, headers: {}, body: '{"expires_in":5}' }], /no usable token/],
      [[{ status: 503, headers: { 'retry-after': '7' }, body: '' }], /answered HTTP 503/],
      [[{ status: 302, headers: { location: 'https://evil.example/' }, body: '' }], /answered HTTP 302/],
    ];
    for (const [script, pattern] of cases) {
      answers.splice(0, answers.length, ...script);
      const err = await client.probe('ghcr.io/acme/api:x').catch((e: unknown) => e);
      expect(err, String(pattern)).toBeInstanceOf(TransientError);
      expect((err as Error).message).toMatch(pattern);
    }
    answers.splice(0, answers.length, { status: 503, headers: { 'retry-after': '7' }, body: '' });
    expect(((await client.probe('ghcr.io/acme/api:x').catch((e: unknown) => e)) as TransientError).retryAfterMs).toBe(7000);
  });

  it('when the registry is down then the probe is a transient error naming it', async () => {
    const client = createRegistryClient({ endpoints: { 'ghcr.io': 'http://127.0.0.1:9' }, credentials: EMPTY_CREDENTIALS, timeoutMs: 2_000 });
    await expect(client.probe('ghcr.io/acme/api:x')).rejects.toThrow(/registry ghcr.io: unreachable/);
  });
});

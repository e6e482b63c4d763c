import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSigningKey } from '../../src/sandbox/emulators/jws.js';
import { goDuration, parseVaultDuration, pathMatches, startVaultEmulator, type VaultEmulator } from '../../src/sandbox/emulators/vault.js';

const ROOT = 'root-token-for-tests';
let vault: VaultEmulator;

beforeEach(async () => {
  vault = await startVaultEmulator({ rootToken: ROOT });
});
afterEach(async () => {
  await vault.close();
});

async function call(method: string, path: string, body?: unknown, token: string | null = ROOT, headers: Record<string, string> = {}) {
  const res = await fetch(`${vault.url}/v1/${path}`, {
    method,
    headers: { ...(token ? { 'X-Vault-Token': token } : {}), ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, any>) : null };
}

const PR_A_POLICY = `
path "secret/data/previews/acme-shop-pr-1"     { capabilities = ["read"] }
path "secret/metadata/previews/acme-shop-pr-1" { capabilities = ["read"] }
`;
const PR_B_POLICY = PR_A_POLICY.replaceAll('pr-1', 'pr-2');

describe('vault emulator: tokens and ACL', () => {
  it('when no token or an unknown token is sent then every path answers 403 permission denied', async () => {
    for (const token of [null, 'hvs.nope']) {
      const res = await call('GET', 'secret/data/x', undefined, token);
      expect(res.status).toBe(403);
      expect(res.body).toEqual({ errors: ['permission denied'] });
    }
  });

  it('when the token comes as a Bearer header then it is accepted', async () => {
    const res = await fetch(`${vault.url}/v1/auth/token/lookup-self`, { headers: { Authorization: `Bearer ${ROOT}` } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { data: { policies: string[] } }).data.policies).toEqual(['root']);
  });

  it("when a token carries only PR A's policy then it reads PR A's secret and is denied PR B's", async () => {
    await call('PUT', 'sys/policies/acl/previewd-acme-shop-pr-1', { policy: PR_A_POLICY });
    await call('PUT', 'sys/policies/acl/previewd-acme-shop-pr-2', { policy: PR_B_POLICY });
    await call('POST', 'secret/data/previews/acme-shop-pr-1', { data: { K: 'a' } });
    await call('POST', 'secret/data/previews/acme-shop-pr-2', { data: { K: 'b' } });

    const created = await call('POST', 'auth/token/create', { policies: ['previewd-acme-shop-pr-1'], ttl: '1h' });
    expect(created.status).toBe(200);
    const tokenA = created.body!['auth'].client_token as string;
    expect(created.body!['auth'].policies).toEqual(['default', 'previewd-acme-shop-pr-1']);

    const own = await call('GET', 'secret/data/previews/acme-shop-pr-1', undefined, tokenA);
    expect(own.status).toBe(200);
    expect(own.body!['data'].data).toEqual({ K: 'a' });
    const other = await call('GET', 'secret/data/previews/acme-shop-pr-2', undefined, tokenA);
    // An ACL refusal is CheckToken's multierror; an unknown token (above) the bare text.
    expect(other).toEqual({ status: 403, body: { errors: ['1 error occurred:\n\t* permission denied\n\n'] } });
    const write = await call('POST', 'secret/data/previews/acme-shop-pr-1', { data: { K: 'x' } }, tokenA);
    expect(write.status).toBe(403);
    expect(vault.allowed(['previewd-acme-shop-pr-1'], 'read', 'secret/data/previews/acme-shop-pr-2')).toBe(false);
  });

  it('when a list is asked without a trailing slash then the ACL checks the path with one, as Vault does', async () => {
    await call('PUT', 'sys/policies/acl/lister', {
      policy: `path "sys/policies/acl/" { capabilities = ["list"] }\npath "auth/jwt-nomad/role" { capabilities = ["list"] }\npath "secret/metadata/a*" { capabilities = ["list"] }`,
    });
    const token = vault.createToken(['lister']);
    // The request path gains a "/" before the ACL check, so the policy's "…/acl/" matches
    // "?list=true" on ".../acl"; vault/acl.go AllowOperation then falls back, for a LIST, to an
    // exact rule without the slash (".../role"), but a prefix rule still sees the slashed path.
    expect((await call('GET', 'sys/policies/acl?list=true', undefined, token)).status).toBe(200);
    expect((await call('GET', 'auth/jwt-nomad/role?list=true', undefined, token)).status).toBe(404);
    expect((await call('GET', 'secret/metadata/ab?list=true', undefined, token)).status).toBe(404);
    expect((await call('GET', 'auth/jwt-nomad/role/x', undefined, token)).status).toBe(403);
    expect(vault.allowed(['lister'], 'list', 'sys/policies/acl')).toBe(true);
    expect(vault.allowed(['lister'], 'read', 'auth/jwt-nomad/role')).toBe(false);
  });

  it('when patterns overlap then the most specific wins and deny beats every grant', async () => {
    await call('PUT', 'sys/policies/acl/p', {
      policy: `path "secret/data/*" { capabilities = ["read", "list"] }
path "secret/data/previews/+/locked" { capabilities = ["deny"] }
path "secret/data/previews/exact" { capabilities = ["create"] }`,
    });
    expect(vault.capabilities(['p'], 'secret/data/anything/deep')).toEqual(['list', 'read']);
    expect(vault.capabilities(['p'], 'secret/data/previews/x/locked')).toEqual(['deny']);
    expect(vault.capabilities(['p'], 'secret/data/previews/exact')).toEqual(['create']);
    expect(vault.capabilities(['p'], 'secret/metadata/x')).toEqual([]);
  });

  it('when a token expires on the emulator clock then it is refused', async () => {
    const token = vault.createToken([], { ttlSec: 60 });
    expect((await call('GET', 'auth/token/lookup-self', undefined, token)).status).toBe(200);
    vault.advance(61_000);
    expect((await call('GET', 'auth/token/lookup-self', undefined, token)).status).toBe(403);
  });

  it('when a non-root token asks for a policy it lacks then token create is refused', async () => {
    await call('PUT', 'sys/policies/acl/maker', { policy: 'path "auth/token/create" { capabilities = ["update"] }' });
    const maker = vault.createToken(['maker']);
    const res = await call('POST', 'auth/token/create', { policies: ['root'] }, maker);
    expect(res.status).toBe(400);
  });

  it('when tokens are created then token_store.go handleCreateCommon rules and texts apply', async () => {
    await call('PUT', 'sys/policies/acl/minter', { policy: 'path "auth/token/create" { capabilities = ["update", "sudo"] }' });
    await call('PUT', 'sys/policies/acl/plain', { policy: 'path "auth/token/create" { capabilities = ["update"] }' });
    // sudo on the create path lifts the subset rule.
    const sudo = vault.createToken(['minter']);
    const minted = await call('POST', 'auth/token/create', { policies: ['Other'] }, sudo);
    expect(minted.status).toBe(200);
    expect(minted.body!['auth'].policies).toEqual(['default', 'other']);
    expect(minted.body!['warnings']).toEqual(['Policy "other" does not exist']);
    const plain = vault.createToken(['plain']);
    expect((await call('POST', 'auth/token/create', { no_parent: true }, plain)).body).toEqual({ errors: ['root or sudo privileges required to create orphan token'] });
    expect((await call('POST', 'auth/token/create', { ttl: '-1h' })).body).toEqual({ errors: ['ttl must be positive'] });
    expect((await call('POST', 'auth/token/create', { ttl: 'soon' })).body).toEqual({ errors: ['time: invalid duration "soon"'] });
    expect((await call('POST', 'auth/token/create', { policies: ['response-wrapping'] })).body).toEqual({ errors: ['cannot assign policy "response-wrapping"'] });
    const periodic = await call('POST', 'auth/token/create', { policies: ['plain'], period: '30m' });
    expect(periodic.body!['auth'].lease_duration).toBe(1800);
  });

  it('when lookup gets no token it looks up the caller; revoke without a token is a 400 (token_store.go)', async () => {
    expect((await call('POST', 'auth/token/lookup', {})).body!['data'].policies).toEqual(['root']);
    expect(await call('POST', 'auth/token/revoke', {})).toEqual({ status: 400, body: { errors: ['missing token ID'] } });
  });

  it('when glob and segment patterns are matched then + is one segment and * a prefix', () => {
    const table: [string, string, boolean][] = [
      ['secret/data/a/*', 'secret/data/a/b/c', true],
      ['secret/data/a/*', 'secret/data/ab', false],
      ['secret/data/+/x', 'secret/data/y/x', true],
      ['secret/data/+/x', 'secret/data/y/z/x', false],
      ['secret/+/pr-1', 'secret/data/pr-12', false],
      ['secret/data/pr-1', 'secret/data/pr-1', true],
      ['secret/data/pr-1', 'secret/data/pr-10', false],
    ];
    for (const [pattern, path, expected] of table) expect(pathMatches(pattern, path), `${pattern} vs ${path}`).toBe(expected);
  });
});

describe('vault emulator: KV v2', () => {
  it('when a secret is written twice then versions count up and the envelope has the real fields', async () => {
    const first = await call('POST', 'secret/data/app/one', { data: { A: '1' } });
    expect(first.status).toBe(200);
    expect(first.body!['data'].version).toBe(1);
    expect(first.body!['request_id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(first.body!['warnings']).toBeNull();
    await call('PUT', 'secret/data/app/one', { data: { A: '2' } });
    const read = await call('GET', 'secret/data/app/one');
    expect(read.body!['data']).toMatchObject({ data: { A: '2' }, metadata: { version: 2, destroyed: false, deletion_time: '' } });
    const v1 = await call('GET', 'secret/data/app/one?version=1');
    expect(v1.body!['data'].data).toEqual({ A: '1' });
  });

  it('when data is missing or the path ends in a slash then the write is a 400', async () => {
    expect(await call('POST', 'secret/data/app/x', { options: {} })).toEqual({ status: 400, body: { errors: ['no data provided'] } });
    expect((await call('POST', 'secret/data/app/', { data: {} })).body).toEqual({ errors: ["cannot write to a path ending in '/'"] });
  });

  it('when CAS does not match the current version then the write is refused and nothing changes', async () => {
    expect((await call('POST', 'secret/data/c', { data: { v: 1 }, options: { cas: 0 } })).status).toBe(200);
    const again = await call('POST', 'secret/data/c', { data: { v: 2 }, options: { cas: 0 } });
    expect(again).toEqual({ status: 400, body: { errors: ['check-and-set parameter did not match the current version'] } });
    expect((await call('POST', 'secret/data/c', { data: { v: 2 }, options: { cas: 1 } })).status).toBe(200);
    expect(vault.secret('c')?.currentVersion).toBe(2);
    await call('POST', 'secret/metadata/c', { cas_required: true });
    expect((await call('POST', 'secret/data/c', { data: { v: 3 } })).body).toEqual({ errors: ['check-and-set parameter required for this call'] });
  });

  it('when never written then read is 404 with empty errors; when soft-deleted then 404 with the metadata body', async () => {
    expect(await call('GET', 'secret/data/none')).toEqual({ status: 404, body: { errors: [] } });
    await call('POST', 'secret/data/gone', { data: { S: 'x' } });
    expect((await call('DELETE', 'secret/data/gone')).status).toBe(204);
    const res = await call('GET', 'secret/data/gone');
    expect(res.status).toBe(404);
    expect(res.body!['data'].data).toBeNull();
    expect(res.body!['data'].metadata.deletion_time).not.toBe('');
    await call('POST', 'secret/undelete/gone', { versions: [1] });
    expect((await call('GET', 'secret/data/gone')).status).toBe(200);
    await call('POST', 'secret/destroy/gone', { versions: [1] });
    const destroyed = await call('GET', 'secret/data/gone');
    expect(destroyed.status).toBe(404);
    expect(destroyed.body!['data'].metadata.destroyed).toBe(true);
  });

  it('when metadata is deleted then every version goes and the next write starts at 1', async () => {
    await call('POST', 'secret/data/m', { data: { a: '1' } });
    await call('POST', 'secret/data/m', { data: { a: '2' } });
    expect((await call('DELETE', 'secret/metadata/m')).status).toBe(204);
    expect(await call('GET', 'secret/metadata/m')).toEqual({ status: 404, body: { errors: [] } });
    const again = await call('POST', 'secret/data/m', { data: { a: '3' } });
    expect(again.body!['data'].version).toBe(1);
  });

  it('when custom_metadata breaks a limit then the metadata write is a 400 and the old map stays', async () => {
    await call('POST', 'secret/metadata/cm', { custom_metadata: { owner: 'previewd' } });
    const tooLong = await call('POST', 'secret/metadata/cm', { custom_metadata: { big: 'x'.repeat(513) } });
    expect(tooLong.status).toBe(400);
    // path_metadata.go validateCustomMetadata: a go-multierror list, each line prefixed.
    expect(tooLong.body!['errors']).toEqual(['1 error occurred:\n\t* custom_metadata validation failed: length of value for key "big" is 513 but must be 0 < len(value) <= 512\n\n']);
    const tooMany = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v']));
    expect((await call('POST', 'secret/metadata/cm', { custom_metadata: tooMany })).body).toEqual({
      errors: ['1 error occurred:\n\t* custom_metadata validation failed: payload must contain at most 64 keys, provided 65\n\n'],
    });
    // parseCustomMetadata weak-decodes values to strings: a list cannot be one.
    expect((await call('POST', 'secret/metadata/cm', { custom_metadata: { n: ['a'] } })).body).toEqual({
      errors: ["custom_metadata validation failed: '' expected type 'string', got unconvertible type '[]interface {}'"],
    });
    expect(vault.secret('cm')?.customMetadata).toEqual({ owner: 'previewd' });
  });

  it('when delete_version_after elapses then the version reads as deleted', async () => {
    await call('POST', 'secret/metadata/ttl', { delete_version_after: '1h', custom_metadata: { a: 'b' } });
    await call('POST', 'secret/data/ttl', { data: { X: '1' } });
    const meta = await call('GET', 'secret/metadata/ttl');
    expect(meta.body!['data']).toMatchObject({ delete_version_after: '1h0m0s', current_version: 1, custom_metadata: { a: 'b' } });
    expect((await call('GET', 'secret/data/ttl')).status).toBe(200);
    vault.advance(3_600_001);
    expect((await call('GET', 'secret/data/ttl')).status).toBe(404);
  });

  // The LIST verb cannot reach a node:http server (its parser knows a fixed method
  // set), so the emulator is exercised with Vault's equivalent GET ?list=true|1.
  it('when listing then GET ?list=true and ?list=1 give children with folder slashes, and empty is 404', async () => {
    await call('POST', 'secret/data/previews/a', { data: { x: '1' } });
    await call('POST', 'secret/data/previews/sub/b', { data: { x: '1' } });
    const viaOne = await call('GET', 'secret/metadata/previews/?list=1');
    expect(viaOne.body!['data'].keys).toEqual(['a', 'sub/']);
    const viaTrue = await call('GET', 'secret/metadata/previews?list=true');
    expect(viaTrue.body!['data'].keys).toEqual(['a', 'sub/']);
    expect(await call('GET', 'secret/metadata/nothing/?list=true')).toEqual({ status: 404, body: { errors: [] } });
  });

  it('when a write to a new key needs create and the policy grants only update then it is denied', async () => {
    await call('PUT', 'sys/policies/acl/upd', { policy: 'path "secret/data/*" { capabilities = ["update"] }' });
    const token = vault.createToken(['upd']);
    expect((await call('POST', 'secret/data/new', { data: { a: '1' } }, token)).status).toBe(403);
    await call('POST', 'secret/data/new', { data: { a: '1' } });
    expect((await call('POST', 'secret/data/new', { data: { a: '2' } }, token)).status).toBe(200);
  });
});

describe('vault emulator: KV v2 field decoding and handler texts (vault-plugin-secrets-kv, sdk/framework)', () => {
  const patch = (path: string, body: unknown, contentType = 'application/merge-patch+json') => call('PATCH', path, body, ROOT, { 'Content-Type': contentType });

  it('when custom_metadata values are numbers they are stored as strings; empty keys or values and unprintable text are refused, every failure listed', async () => {
    expect((await call('POST', 'secret/metadata/w', { custom_metadata: { n: 5, b: true } })).status).toBe(204);
    expect(vault.secret('w')?.customMetadata).toEqual({ n: '5', b: '1' });
    const empty = await call('POST', 'secret/metadata/w', { custom_metadata: { k: '' } });
    expect(empty.body).toEqual({ errors: ['1 error occurred:\n\t* custom_metadata validation failed: length of value for key "k" is 0 but must be 0 < len(value) <= 512\n\n'] });
    const two = await call('POST', 'secret/metadata/w', { custom_metadata: { 'bad\u0007': 'x' } });
    expect(two.status).toBe(400);
    expect(two.body!['errors'][0]).toBe('1 error occurred:\n\t* custom_metadata validation failed: key "bad\\u0007" (bad\u0007) contains unprintable characters\n\n');
    const both = await call('POST', 'secret/metadata/w', { custom_metadata: { '': '' } });
    expect(both.body!['errors'][0]).toMatch(/^2 errors occurred:\n\t\* custom_metadata validation failed: length of key "" is 0 but must be 0 < len\(key\) <= 128\n\t\* custom_metadata validation failed: length of value/);
    expect(vault.secret('w')?.customMetadata).toEqual({ n: '5', b: '1' });
  });

  it('when a metadata write names no setting then it is a 204 that creates nothing; a read of the mount root is a plain 404', async () => {
    expect((await call('POST', 'secret/metadata/nothing', { unrelated: 1 })).status).toBe(204);
    expect(vault.secret('nothing')).toBeNull();
    expect(await call('GET', 'secret/metadata/')).toEqual({ status: 404, body: { errors: [] } });
  });

  it('when a field does not decode to its framework type then it is a 400 Field validation failed', async () => {
    expect((await call('POST', 'secret/metadata/f', { max_versions: 'many' })).body).toEqual({
      errors: ['Field validation failed: error converting input many for field "max_versions": cannot parse \'\' as int: strconv.ParseInt: parsing "many": invalid syntax'],
    });
    expect((await call('POST', 'secret/metadata/f', { delete_version_after: -5 })).body).toEqual({
      errors: ['Field validation failed: error converting input -5 for field "delete_version_after": cannot provide negative value \'-5\''],
    });
    expect((await call('POST', 'secret/metadata/f', { delete_version_after: 'soon' })).body).toEqual({
      errors: ['Field validation failed: error converting input soon for field "delete_version_after": time: invalid duration "soon"'],
    });
    expect((await call('POST', 'secret/data/f', { data: 'text' })).body).toEqual({
      errors: ['Field validation failed: error converting input text for field "data": \'\' expected a map, got \'string\''],
    });
    expect((await call('GET', 'secret/data/f?version=latest')).status).toBe(400);
    // Weakly typed: strings that parse are accepted.
    expect((await call('POST', 'secret/metadata/f', { max_versions: '3', cas_required: 'true' })).status).toBe(204);
    expect(vault.secret('f')).not.toBeNull();
    expect((await call('GET', 'secret/metadata/f')).body!['data']).toMatchObject({ max_versions: 3, cas_required: true });
  });

  it('when data is null then it writes an empty version', async () => {
    const res = await call('POST', 'secret/data/nul', { data: null });
    expect(res.status).toBe(200);
    expect(vault.secret('nul')?.data).toEqual({});
  });

  it('when cas is a numeric string it is compared as a number; an unparsable cas is its own error; a null cas means 0', async () => {
    expect((await call('POST', 'secret/data/cs', { data: { a: '1' }, options: { cas: null } })).status).toBe(200);
    expect((await call('POST', 'secret/data/cs', { data: { a: '2' }, options: { cas: '1' } })).status).toBe(200);
    expect((await call('POST', 'secret/data/cs', { data: { a: '3' }, options: { cas: 'one' } })).body).toEqual({ errors: ['error parsing check-and-set parameter'] });
    expect((await call('POST', 'secret/data/cs', { data: { a: '3' }, options: { cas: -1 } })).body).toEqual({ errors: ['check-and-set parameter did not match the current version'] });
    expect(vault.secret('cs')?.currentVersion).toBe(2);
  });

  it('when cas_required is turned off on a key that the mount config requires then it is stored with a warning', async () => {
    expect((await call('POST', 'secret/config', { cas_required: true })).status).toBe(204);
    const res = await call('POST', 'secret/metadata/cr', { cas_required: false });
    expect(res.status).toBe(200);
    expect(res.body!['warnings']).toEqual(['"cas_required" set to false, but is mandated by backend config. This value will be ignored.']);
  });

  it('when a PATCH lacks the merge-patch content type then it is refused before routing, on any path', async () => {
    await call('POST', 'secret/metadata/p', { custom_metadata: { a: 'b' } });
    expect(await patch('secret/metadata/p', { max_versions: 2 }, 'application/json')).toEqual({
      status: 415,
      body: { errors: ['PATCH requires Content-Type of application/merge-patch+json, provided application/json'] },
    });
    expect(vault.secret('p')?.customMetadata).toEqual({ a: 'b' });
  });

  it('when metadata is patched then a missing key is a bare 404 and only the patch own custom_metadata is limit-checked', async () => {
    const missing = await fetch(`${vault.url}/v1/secret/metadata/none`, { method: 'PATCH', headers: { 'X-Vault-Token': ROOT, 'Content-Type': 'application/merge-patch+json' }, body: '{"max_versions":1}' });
    expect(missing.status).toBe(404);
    expect(await missing.text()).toBe('');
    const full = Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`k${i}`, 'v']));
    await call('POST', 'secret/metadata/big', { custom_metadata: full });
    expect((await patch('secret/metadata/big', { custom_metadata: { extra: 'v', k0: null } })).status).toBe(204);
    expect(Object.keys(vault.secret('big')!.customMetadata!)).toHaveLength(64);
    expect(vault.secret('big')!.customMetadata!['extra']).toBe('v');
  });

  it('when versions are deleted, undeleted or destroyed then the texts and the comma form are the plugin ones, and undelete restarts delete_version_after', async () => {
    expect((await call('POST', 'secret/delete/x', { versions: [] })).body).toEqual({ errors: ['No version number provided'] });
    expect((await call('POST', 'secret/destroy/x', {})).body).toEqual({ errors: ['no version number provided'] });
    await call('POST', 'secret/metadata/u', { delete_version_after: '1h' });
    await call('POST', 'secret/data/u', { data: { a: '1' } });
    await call('POST', 'secret/data/u', { data: { a: '2' } });
    expect((await call('POST', 'secret/delete/u', { versions: '1,2' })).status).toBe(204);
    expect(vault.secret('u')?.versions.every((v) => v.deleted)).toBe(true);
    expect((await call('POST', 'secret/undelete/u', { versions: [2, -1] })).status).toBe(204);
    expect(vault.secret('u')?.data).toEqual({ a: '2' });
    const meta = await call('GET', 'secret/metadata/u');
    expect(meta.body!['data'].versions['2'].deletion_time).not.toBe('');
    vault.advance(3_600_001);
    expect(vault.secret('u')?.data).toBeNull();
  });

  it('when the key and the mount set max_versions then the larger wins, and oldest_version stays 0 until a version is dropped', async () => {
    await call('POST', 'secret/config', { max_versions: 5 });
    await call('POST', 'secret/metadata/mv', { max_versions: 2 });
    for (let i = 0; i < 4; i++) await call('POST', 'secret/data/mv', { data: { i: String(i) } });
    const meta = await call('GET', 'secret/metadata/mv');
    expect(Object.keys(meta.body!['data'].versions)).toEqual(['1', '2', '3', '4']);
    expect(meta.body!['data'].oldest_version).toBe(0);
  });

  it('when the mount config sets a negative delete_version_after then it is disabled and reads as -1s', async () => {
    await call('POST', 'secret/config', { delete_version_after: '-1h' });
    expect((await call('GET', 'secret/config')).body!['data'].delete_version_after).toBe('-1s');
    await call('POST', 'secret/metadata/nd', { delete_version_after: '1s' });
    await call('POST', 'secret/data/nd', { data: { a: '1' } });
    vault.advance(5_000);
    expect(vault.secret('nd')?.data).toEqual({ a: '1' });
  });

  it('when only metadata exists then the first data write is an update for the ACL, as the existence check looks at metadata', async () => {
    await call('PUT', 'sys/policies/acl/creator', { policy: 'path "secret/data/*" { capabilities = ["create"] }' });
    const token = vault.createToken(['creator']);
    await call('POST', 'secret/metadata/meta-only', { custom_metadata: { a: 'b' } });
    expect((await call('POST', 'secret/data/meta-only', { data: { a: '1' } }, token)).status).toBe(403);
    expect((await call('POST', 'secret/data/fresh', { data: { a: '1' } }, token)).status).toBe(200);
  });

  it('when a path matches no KV v2 pattern then it is a 404 carrying the plugin hint as a warning', async () => {
    const v1 = await call('GET', 'secret/foo');
    expect(v1.status).toBe(404);
    expect(v1.body!['warnings']).toEqual([
      "Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate API endpoints to use. If using the Vault CLI, use 'vault kv get' for this operation.",
    ]);
    expect((await call('GET', 'secret/data')).body!['warnings']).toEqual(['Non-listing operations on the root of a K/V v2 mount are not supported.']);
  });
});

describe('vault emulator: the HTTP layer (vault http/logical.go, vault/request_handling.go)', () => {
  it('when list= is not a Go bool word then it is a 400 with no text; t and TRUE list', async () => {
    await call('POST', 'secret/data/l/a', { data: { x: '1' } });
    expect(await call('GET', 'secret/metadata/l?list=yes')).toEqual({ status: 400, body: { errors: [] } });
    expect((await call('GET', 'secret/metadata/l?list=t')).body!['data'].keys).toEqual(['a']);
    expect((await call('GET', 'secret/metadata/l?list=TRUE')).body!['data'].keys).toEqual(['a']);
  });

  it('when the body is not a JSON object then it is a 400 error parsing JSON', async () => {
    expect(await call('POST', 'secret/data/j', '{"data":')).toEqual({ status: 400, body: { errors: ['error parsing JSON'] } });
    expect(await call('POST', 'secret/data/j', '[1,2]')).toEqual({ status: 400, body: { errors: ['error parsing JSON'] } });
  });

  it('when the method is unknown then it is a 405 with no text', async () => {
    expect(await call('PROPFIND', 'secret/data/j')).toEqual({ status: 405, body: { errors: [] } });
  });

  it('when a write targets a path ending in a slash then it is a 400 even for a token without rights', async () => {
    const token = vault.createToken([]);
    expect(await call('POST', 'sys/policies/acl/x/', { policy: 'path "a" {}' }, token)).toEqual({ status: 400, body: { errors: ["cannot write to a path ending in '/'"] } });
  });
});

describe('vault emulator: policies, JWT roles, health', () => {
  it('when a policy is written with upper case then it is stored lower-cased and readable on both endpoints', async () => {
    expect((await call('PUT', 'sys/policies/acl/PR-One', { policy: PR_A_POLICY })).status).toBe(204);
    const modern = await call('GET', 'sys/policies/acl/pr-one');
    expect(modern.body!['data']).toEqual({ name: 'pr-one', policy: PR_A_POLICY });
    const legacy = await call('GET', 'sys/policy/pr-one');
    expect(legacy.body!['data'].rules).toBe(PR_A_POLICY);
    const list = await call('GET', 'sys/policies/acl?list=true');
    expect(list.body!['data'].keys).toEqual(['default', 'pr-one', 'root']);
  });

  it('when the legacy endpoint gets rules then it answers 200 with the deprecation warning', async () => {
    const res = await call('PUT', 'sys/policy/legacy', { name: 'legacy', rules: PR_A_POLICY });
    expect(res.status).toBe(200);
    expect(res.body!['warnings']).toEqual(["'rules' is deprecated, please use 'policy' instead"]);
  });

  it('when the policy is empty, broken HCL or names an unknown capability then it is a 400 and nothing is stored', async () => {
    expect((await call('PUT', 'sys/policies/acl/bad', { policy: '' })).body).toEqual({ errors: ["'policy' parameter not supplied or empty"] });
    const broken = await call('PUT', 'sys/policies/acl/bad', { policy: 'path "x" { capabilities = ["read"] ' });
    expect(broken.status).toBe(400);
    expect(broken.body!['errors'][0]).toMatch(/^failed to parse policy/);
    expect((await call('PUT', 'sys/policies/acl/bad', { policy: 'path "x" { capabilities = ["fly"] }' })).status).toBe(400);
    expect(vault.policy('bad')).toBeNull();
  });

  it('when a policy is sent base64-encoded then it is decoded', async () => {
    await call('PUT', 'sys/policies/acl/b64', { policy: Buffer.from(PR_A_POLICY).toString('base64') });
    expect(vault.policy('b64')).toBe(PR_A_POLICY);
  });

  it('when default or root is deleted then it is refused; an unknown name deletes fine', async () => {
    expect((await call('DELETE', 'sys/policies/acl/default')).status).toBe(400);
    expect((await call('DELETE', 'sys/policies/acl/unknown')).status).toBe(204);
  });

  it('when a built-in policy is deleted or overwritten then the policy store texts answer (vault/policy_store.go)', async () => {
    expect((await call('DELETE', 'sys/policies/acl/default')).body).toEqual({ errors: ['cannot delete default policy'] });
    expect((await call('DELETE', 'sys/policies/acl/ROOT')).body).toEqual({ errors: ['cannot delete "root" policy'] });
    expect((await call('DELETE', 'sys/policies/acl/response-wrapping')).body).toEqual({ errors: ['cannot delete "response-wrapping" policy'] });
    expect((await call('PUT', 'sys/policies/acl/response-wrapping', { policy: 'path "x" { capabilities = ["read"] }' })).body).toEqual({
      errors: ['cannot update "response-wrapping" policy'],
    });
  });

  it('when capabilities are not lower case, or a path uses +*, then the policy is refused; old policy = levels and a name key are accepted', async () => {
    expect((await call('PUT', 'sys/policies/acl/caps', { policy: 'path "x" { capabilities = ["READ"] }' })).body).toEqual({
      errors: ['failed to parse policy: path "x": invalid capability "READ"'],
    });
    expect((await call('PUT', 'sys/policies/acl/caps', { policy: 'path "x/+*" { capabilities = ["read"] }' })).body).toEqual({
      errors: ["failed to parse policy: path \"x/+*\": invalid use of wildcards ('+*' is forbidden)"],
    });
    expect((await call('PUT', 'sys/policies/acl/caps', { policy: 'bogus = 1' })).body).toEqual({ errors: ['failed to parse policy: 1 error occurred:\n\t* invalid key "bogus" on line 1\n\n'] });
    expect((await call('PUT', 'sys/policies/acl/old', { policy: 'name = "old"\npath "secret/data/*" { policy = "write" }' })).status).toBe(204);
    expect(vault.capabilities(['old'], 'secret/data/a')).toEqual(['create', 'delete', 'list', 'read', 'update']);
    expect((await call('PUT', 'sys/policies/acl/blank', { policy: '   ' })).status).toBe(204);
    expect((await call('PUT', 'sys/policies/acl/obj', { policy: { a: 1 } })).body!['errors'][0]).toMatch(/^Field validation failed: error converting input map\[a:1\] for field "policy": /);
  });

  it('when a new policy is written then the ACL asks for update, as the policy paths have no existence check', async () => {
    await call('PUT', 'sys/policies/acl/updater', { policy: 'path "sys/policies/acl/*" { capabilities = ["update"] }' });
    await call('PUT', 'sys/policies/acl/creator', { policy: 'path "sys/policies/acl/*" { capabilities = ["create"] }' });
    expect((await call('PUT', 'sys/policies/acl/fresh-a', { policy: PR_A_POLICY }, vault.createToken(['updater']))).status).toBe(204);
    expect((await call('PUT', 'sys/policies/acl/fresh-b', { policy: PR_A_POLICY }, vault.createToken(['creator']))).status).toBe(403);
  });

  it('when policies are listed then root comes last after the stored names, and non-assignable ones are left out', async () => {
    await call('PUT', 'sys/policies/acl/zeta', { policy: PR_A_POLICY });
    expect((await call('GET', 'sys/policies/acl?list=true')).body!['data'].keys).toEqual(['default', 'zeta', 'root']);
  });

  it('when a JWT role is valid then it is stored, listed and read back with durations in seconds', async () => {
    const role = {
      role_type: 'jwt',
      bound_audiences: ['vault.io'],
      bound_claims: { nomad_namespace: 'default', nomad_job_id: ['pr-1-api', 'pr-1-web'] },
      user_claim: '/nomad_job_id',
      user_claim_json_pointer: true,
      claim_mappings: { nomad_job_id: 'nomad_job_id' },
      token_type: 'service',
      token_policies: ['previewd-acme-shop-pr-1'],
      token_period: '30m',
    };
    expect((await call('POST', 'auth/jwt-nomad/role/pr-1', role)).status).toBe(204);
    const read = await call('GET', 'auth/jwt-nomad/role/pr-1');
    expect(read.body!['data']).toMatchObject({ role_type: 'jwt', token_period: 1800, token_policies: ['previewd-acme-shop-pr-1'] });
    expect((await call('GET', 'auth/jwt-nomad/role?list=true')).body!['data'].keys).toEqual(['pr-1']);
    expect((await call('DELETE', 'auth/jwt-nomad/role/pr-1')).status).toBe(204);
    expect(vault.jwtRole('pr-1')).toBeNull();
  });

  it('when a JWT role lacks user_claim, bound constraints or has a bad token_type then it is a 400', async () => {
    const base = { role_type: 'jwt', bound_audiences: ['vault.io'], user_claim: 'sub', token_policies: ['p'] };
    const bad = [
      { ...base, user_claim: undefined },
      { ...base, bound_audiences: [] },
      { ...base, token_type: 'weird' },
      { ...base, role_type: undefined },
      // path_role.go checks bound claims' shapes only for a glob role.
      { ...base, bound_claims_type: 'glob', bound_claims: { x: { nested: true } } },
    ];
    for (const role of bad) expect((await call('POST', 'auth/jwt-nomad/role/r', role)).status, JSON.stringify(role)).toBe(400);
    expect(vault.jwtRoles()).toEqual({});
  });

  it('when a JWT role is written then the texts and the read-back are path_role.go and tokenutil ones', async () => {
    const base = { role_type: 'jwt', bound_audiences: ['vault.io'], user_claim: 'sub', token_policies: ['p'] };
    const write = (role: unknown) => call('POST', 'auth/jwt-nomad/role/r', role);
    expect((await write({ ...base, token_type: 'default-service' })).body).toEqual({ errors: ["invalid 'token_type' value \"default-service\""] });
    expect((await write({ ...base, token_ttl: '2h', token_max_ttl: '1h' })).body).toEqual({ errors: ["'token_ttl' cannot be greater than 'token_max_ttl'"] });
    expect((await write({ ...base, bound_claims_type: 'glob', bound_claims: { x: { nested: true } } })).body).toEqual({ errors: ['claim is not a string or list: map[nested:true]'] });
    expect((await write({ ...base, bound_audiences: { a: 1 } })).body!['errors'][0]).toMatch(/^Field validation failed: error converting input map\[a:1\] for field "bound_audiences": /);
    // A string-typed role stores any claim shape; claim_mappings also take "key=value" pairs.
    expect((await write({ ...base, bound_claims: { x: { nested: true } }, claim_mappings: ['a=b'] })).status).toBe(204);
    const read = (await call('GET', 'auth/jwt-nomad/role/r')).body!['data'];
    expect(read).toMatchObject({ expiration_leeway: 0, not_before_leeway: 0, clock_skew_leeway: 0, token_bound_cidrs: [], token_ttl: 0, token_type: 'default', claim_mappings: { a: 'b' }, allowed_redirect_uris: null });
    expect(read).not.toHaveProperty('policies');
    // The legacy field fills token_policies (policyutil: lower-cased, sorted) and is read back.
    expect((await call('POST', 'auth/jwt-nomad/role/legacy', { ...base, token_policies: undefined, policies: 'Zed,a' })).status).toBe(204);
    expect((await call('GET', 'auth/jwt-nomad/role/legacy')).body!['data']).toMatchObject({ token_policies: ['a', 'zed'], policies: ['a', 'zed'] });
    // role_type is data.Get'd on every write: an update without it makes the role oidc.
    expect((await call('POST', 'auth/jwt-nomad/role/r', { token_ttl: '1m' })).body).toEqual({ errors: ["'allowed_redirect_uris' must be set if 'role_type' is 'oidc' or unspecified."] });
  });

  it('when a request carries fields outside the path schema then a response names them in a warning, and a 204 stays a 204 (sdk/framework/backend.go)', async () => {
    await call('POST', 'secret/data/ign', { data: { a: '1' } });
    const read = await call('GET', 'secret/data/ign?token=abc&zeta=1');
    expect(read.body!['warnings']).toEqual(['Endpoint ignored these unrecognized parameters: [token zeta]']);
    expect((await call('POST', 'secret/data/ign', { data: { a: '2' }, extra: true })).body!['warnings']).toEqual(['Endpoint ignored these unrecognized parameters: [extra]']);
    expect((await call('POST', 'secret/metadata/ign', { max_versions: 3, extra: true })).status).toBe(204);
    const role = { role_type: 'jwt', bound_audiences: ['vault.io'], user_claim: 'sub', token_policies: ['p'], surprise: 1 };
    expect((await call('POST', 'auth/jwt-nomad/role/ign', role)).status).toBe(204);
  });

  it('when the auth mount is unknown then the role write is a 404 no handler', async () => {
    const res = await call('POST', 'auth/nope/role/r', { role_type: 'jwt' });
    expect(res.status).toBe(404);
    expect(res.body!['errors'][0]).toContain('no handler for route');
  });

  it('when sealed then health is 503 without a token and every other path says Vault is sealed', async () => {
    expect((await call('GET', 'sys/health', undefined, null)).status).toBe(200);
    vault.sealed = true;
    const health = await call('GET', 'sys/health', undefined, null);
    expect(health.status).toBe(503);
    expect(health.body!['sealed']).toBe(true);
    expect((await call('GET', 'sys/health?sealedcode=299', undefined, null)).status).toBe(299);
    expect(await call('GET', 'secret/data/x')).toEqual({ status: 503, body: { errors: ['Vault is sealed'] } });
  });

  it('when sys/health gets a code that is not an integer, or another method, then it is a bare 400 / 405; sealed bodies carry no cluster', async () => {
    expect(await call('GET', 'sys/health?activecode=ok', undefined, null)).toEqual({ status: 400, body: { errors: [] } });
    expect(await call('POST', 'sys/health', {}, null)).toEqual({ status: 405, body: { errors: [] } });
    expect((await call('GET', 'sys/health', undefined, null)).body).toHaveProperty('cluster_name');
    vault.sealed = true;
    expect((await call('GET', 'sys/health', undefined, null)).body).not.toHaveProperty('cluster_name');
  });

  it('when durations are parsed and formatted then they follow Go rules', () => {
    expect(parseVaultDuration('1h30m')).toBe(5400);
    expect(parseVaultDuration(90)).toBe(90);
    expect(parseVaultDuration('soon')).toBeNull();
    expect(goDuration(0)).toBe('0s');
    expect(goDuration(604800)).toBe('168h0m0s');
    expect(goDuration(90)).toBe('1m30s');
  });
});

describe('vault emulator: JWT login (vault-plugin-auth-jwt path_login.go, cap jwt/jwt.go)', () => {
  const nowSec = () => Math.floor(Date.now() / 1000);
  const claimsFor = (job: string, extra: Record<string, unknown> = {}) => ({
    nomad_namespace: 'default',
    nomad_job_id: job,
    nomad_task: 'api',
    nomad_allocation_id: 'a1',
    aud: ['vault.io'],
    sub: `global:default:${job}:api:api:vault_default`,
    iat: nowSec(),
    nbf: nowSec(),
    exp: nowSec() + 3600,
    ...extra,
  });
  const role = {
    role_type: 'jwt',
    bound_audiences: ['vault.io'],
    bound_claims: { nomad_namespace: 'default', nomad_job_id: ['pr-1-api', 'pr-1-web'] },
    user_claim: '/nomad_job_id',
    user_claim_json_pointer: true,
    claim_mappings: { nomad_job_id: 'nomad_job_id', nomad_task: 'nomad_task' },
    token_type: 'service',
    token_policies: ['pr-a'],
    token_period: '30m',
  };
  let key: ReturnType<typeof createSigningKey>;
  const login = (body: unknown) => call('POST', 'auth/jwt-nomad/login', body, null);

  beforeEach(async () => {
    key = createSigningKey();
    await call('PUT', 'sys/policies/acl/pr-a', { policy: PR_A_POLICY });
    expect((await call('POST', 'auth/jwt-nomad/config', { jwt_validation_pubkeys: [key.publicKeyPem()] })).status).toBe(204);
    expect((await call('POST', 'auth/jwt-nomad/role/pr-1', role)).status).toBe(204);
  });

  it('when the JWT is signed by the configured key and matches the role then the token carries the role policy and the claim mappings, without a token sent', async () => {
    const res = await login({ role: 'PR-1', jwt: key.sign(claimsFor('pr-1-api')) });
    expect(res.status).toBe(200);
    const auth = res.body!['auth'];
    expect(auth).toMatchObject({ policies: ['default', 'pr-a'], renewable: true, lease_duration: 1800, metadata: { nomad_job_id: 'pr-1-api', nomad_task: 'api', role: 'pr-1' } });
    await call('POST', 'secret/data/previews/acme-shop-pr-1', { data: { A: '1' } });
    expect((await call('GET', 'secret/data/previews/acme-shop-pr-1', undefined, auth.client_token)).status).toBe(200);
    expect((await call('GET', 'secret/data/previews/acme-shop-pr-2', undefined, auth.client_token)).status).toBe(403);
  });

  it('when any check fails then it is a 400 with the plugin text', async () => {
    const other = createSigningKey();
    const cases: [unknown, string][] = [
      [{ jwt: key.sign(claimsFor('pr-1-api')) }, 'missing role'],
      [{ role: 'nope', jwt: key.sign(claimsFor('pr-1-api')) }, 'role "nope" could not be found'],
      [{ role: 'pr-1' }, 'missing token'],
      [{ role: 'pr-1', jwt: 'not.a-jwt' }, 'error validating token: error verifying token signature: go-jose/go-jose: compact JWS format must have three parts'],
      [{ role: 'pr-1', jwt: other.sign(claimsFor('pr-1-api')) }, 'error validating token: error verifying token signature: no known key successfully validated the token signature'],
      [{ role: 'pr-1', jwt: key.sign(claimsFor('pr-1-api', { aud: ['nomadproject.io'] })) }, 'error validating token: invalid audience (aud) claim: audience claim does not match any expected audience'],
      [{ role: 'pr-1', jwt: key.sign(claimsFor('pr-1-api', { exp: nowSec() - 61 })) }, 'error validating token: invalid expiration time (exp) claim: token is expired'],
      [{ role: 'pr-1', jwt: key.sign(claimsFor('pr-1-api', { nbf: nowSec() + 120, iat: nowSec() + 120 })) }, 'error validating token: invalid not before (nbf) claim: token not yet valid'],
      [{ role: 'pr-1', jwt: key.sign(claimsFor('pr-1-api', { iat: undefined, nbf: undefined, exp: undefined })) }, 'error validating token: no issued at (iat), not before (nbf), or expiration time (exp) claims in token'],
      [{ role: 'pr-1', jwt: key.sign(claimsFor('pr-2-api')) }, 'error validating claims: claim "nomad_job_id" does not match any associated bound claim values'],
      [{ role: 'pr-1', jwt: key.sign(claimsFor('pr-1-api', { nomad_namespace: undefined })) }, 'error validating claims: claim "nomad_namespace" is missing'],
      [{ role: 'pr-1', jwt: key.sign(claimsFor('pr-1-api', { nomad_job_id: 7 })) }, 'claim "/nomad_job_id" could not be converted to string'],
    ];
    for (const [body, text] of cases) expect(await login(body), text).toEqual({ status: 400, body: { errors: [text] } });
  });

  it('when the exp claim is within the clock skew leeway then it still logs in; a glob bound claim matches by pattern', async () => {
    expect((await login({ role: 'pr-1', jwt: key.sign(claimsFor('pr-1-api', { exp: nowSec() - 30 })) })).status).toBe(200);
    await call('POST', 'auth/jwt-nomad/role/globbed', { ...role, bound_claims_type: 'glob', bound_claims: { nomad_job_id: 'pr-1-*' } });
    expect((await login({ role: 'globbed', jwt: key.sign(claimsFor('pr-1-worker')) })).status).toBe(200);
    expect((await login({ role: 'globbed', jwt: key.sign(claimsFor('pr-10-worker')) })).status).toBe(400);
    expect((await call('POST', 'auth/jwt-nomad/role/bad', { ...role, bound_claims_type: 'regex' })).body).toEqual({ errors: ["invalid 'bound_claims_type': regex"] });
  });

  it('when the config names no key source or a JWKS that cannot be fetched then it is refused; a JWKS URL is fetched at login', async () => {
    expect((await call('POST', 'auth/jwt-nomad/config', {})).body).toEqual({ errors: ["exactly one of 'jwt_validation_pubkeys', 'jwks_url', 'jwks_pairs' or 'oidc_discovery_url' must be set"] });
    expect((await call('POST', 'auth/jwt-nomad/config', { jwks_url: 'http://127.0.0.1:1/.well-known/jwks.json' })).body).toEqual({ errors: ['error checking jwks URL http://127.0.0.1:1/.well-known/jwks.json'] });
    const server = createServer((_req, res) => res.end(JSON.stringify(key.jwks())));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
      expect((await call('POST', 'auth/jwt-nomad/config', { jwks_url: jwksUrl })).status).toBe(204);
      expect((await login({ role: 'pr-1', jwt: key.sign(claimsFor('pr-1-api')) })).status).toBe(200);
      expect((await login({ role: 'pr-1', jwt: createSigningKey().sign(claimsFor('pr-1-api')) })).body).toEqual({ errors: ['error validating token: error verifying token signature: failed to verify id token signature'] });
    } finally {
      server.close();
    }
  });
});

describe('vault emulator: KV v2 delete_version_after (vault-plugin-secrets-kv)', () => {
  it('when a version outlives delete_version_after then it reads as a 404 with its metadata; a new version lives again, a metadata write does not', async () => {
    await call('POST', 'secret/metadata/app', { delete_version_after: '1h' });
    await call('POST', 'secret/data/app', { data: { K: 'v' } });
    vault.advance(30 * 60_000);
    await call('POST', 'secret/metadata/app', { delete_version_after: '2h' }); // does not move version 1
    vault.advance(31 * 60_000);
    const gone = await call('GET', 'secret/data/app');
    expect(gone.status).toBe(404);
    expect(gone.body!['data']).toMatchObject({ data: null, metadata: { version: 1, destroyed: false } });
    expect(gone.body!['data'].metadata.deletion_time).not.toBe('');
    await call('POST', 'secret/data/app', { data: { K: 'v' } });
    vault.advance(90 * 60_000);
    expect((await call('GET', 'secret/data/app')).body!['data']).toMatchObject({ data: { K: 'v' }, metadata: { version: 2 } });
  });

  it('when the mount sets a shorter delete_version_after than the key then the mount wins', async () => {
    await call('POST', 'secret/config', { delete_version_after: '10m' });
    await call('POST', 'secret/metadata/short', { delete_version_after: '1h' });
    await call('POST', 'secret/data/short', { data: { K: 'v' } });
    vault.advance(11 * 60_000);
    expect((await call('GET', 'secret/data/short')).status).toBe(404);
  });
});

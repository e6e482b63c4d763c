import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startVaultEmulator, type VaultEmulator } from '../sandbox/emulators/vault.js';
import { TransientError, UserError } from '../errors.js';
import { createVaultClient } from './client.js';
import type { VaultClient } from './types.js';

const ROOT = 'hvs.root-token-never-in-errors';
const SECRET_URL = 'postgres://preview_acme_shop_pr_1:s3cr3t-pa55word@db:5432/preview_acme_shop_pr_1';
let vault: VaultEmulator;
let client: VaultClient;

beforeEach(async () => {
  vault = await startVaultEmulator({ rootToken: ROOT });
  client = createVaultClient({ address: vault.url, token: ROOT, kvMount: 'secret', jwtMount: 'jwt-nomad', timeoutMs: 2000 });
});
afterEach(async () => {
  await vault.close();
});

const META = { previewd_managed: 'true', pr: 'acme/shop#1' };

async function captureError(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

/** Every text an error carries, through its cause chain. */
function allText(err: unknown): string {
  const parts: string[] = [];
  let current: unknown = err;
  while (current instanceof Error) {
    parts.push(current.message, current.stack ?? '', JSON.stringify(current));
    current = current.cause;
  }
  return parts.join('\n');
}

describe('vault client: KV v2', () => {
  it('when a secret is written then metadata and data read back, and the emulator holds both', async () => {
    await client.writeSecret('previews/acme-shop-pr-1', { DATABASE_URL: SECRET_URL }, { customMetadata: META, deleteVersionAfterMs: 72 * 3_600_000 });
    const secret = await client.readSecret('previews/acme-shop-pr-1');
    expect(secret).toEqual({ data: { DATABASE_URL: SECRET_URL }, customMetadata: META, version: 1 });
    expect(await client.readSecretMetadata('previews/acme-shop-pr-1')).toEqual({ customMetadata: META, currentVersion: 1 });
    expect(vault.secret('previews/acme-shop-pr-1')?.deleteVersionAfterSec).toBe(72 * 3600);
  });

  it('when a secret was never written, soft-deleted or destroyed then reads give null', async () => {
    expect(await client.readSecret('previews/none')).toBeNull();
    expect(await client.readSecretMetadata('previews/none')).toBeNull();
    await client.writeSecret('previews/x', { A: 'value-a' }, { customMetadata: META, deleteVersionAfterMs: 3_600_000 });
    vault.advance(3_600_001); // delete_version_after elapsed: Vault answers 404 with a body
    expect(await client.readSecret('previews/x')).toBeNull();
    expect((await client.readSecretMetadata('previews/x'))?.currentVersion).toBe(1);
    await client.destroySecret('previews/x');
    expect(vault.secret('previews/x')).toBeNull();
    await client.destroySecret('previews/x'); // absent is fine
  });

  it('when secrets exist below a prefix then list gives the children, and [] when none', async () => {
    const opts = { customMetadata: META, deleteVersionAfterMs: 60_000 };
    await client.writeSecret('previews/acme-shop-pr-1', { A: 'aaaa' }, opts);
    await client.writeSecret('previews/acme-shop-pr-2', { A: 'bbbb' }, opts);
    expect(await client.listSecrets('previews')).toEqual(['acme-shop-pr-1', 'acme-shop-pr-2']);
    expect(await client.listSecrets('other')).toEqual([]);
  });

  it('when a path is hostile then the client refuses it before any request', async () => {
    const before = vault.requests.length;
    for (const bad of ['../sys/policy/root', 'a//b', 'a/b?list=1', '']) {
      await expect(client.readSecret(bad)).rejects.toBeInstanceOf(UserError);
    }
    expect(vault.requests.length).toBe(before);
  });
});

describe('vault client: policies and JWT roles', () => {
  it('when a policy is put then get, list and delete see it on the preferred endpoint', async () => {
    const hcl = 'path "secret/data/previews/acme-shop-pr-1" { capabilities = ["read"] }\n';
    await client.putPolicy('previewd-acme-shop-pr-1', hcl);
    expect(await client.getPolicy('previewd-acme-shop-pr-1')).toBe(hcl);
    expect(await client.listPolicies()).toContain('previewd-acme-shop-pr-1');
    expect(vault.requests.some((r) => r.path === '/v1/sys/policies/acl/previewd-acme-shop-pr-1' && r.method === 'POST')).toBe(true);
    await client.deletePolicy('previewd-acme-shop-pr-1');
    expect(await client.getPolicy('previewd-acme-shop-pr-1')).toBeNull();
    expect(vault.policy('previewd-acme-shop-pr-1')).toBeNull();
  });

  it('when the policy HCL is broken then putPolicy is a UserError carrying the parser message', async () => {
    const err = await captureError(client.putPolicy('p', 'path "x" { capabilities = '));
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toContain('failed to parse policy');
  });

  it('when a JWT role is put then it reads back and lists; when invalid then UserError', async () => {
    const role = { role_type: 'jwt', bound_audiences: ['vault.io'], bound_claims: { nomad_job_id: ['pr-1-api'] }, user_claim: '/nomad_job_id', user_claim_json_pointer: true, token_type: 'service', token_policies: ['p1'] };
    await client.putJwtRole('previewd-acme-shop-pr-1', role);
    expect(await client.getJwtRole('previewd-acme-shop-pr-1')).toMatchObject({ token_policies: ['p1'], bound_claims: { nomad_job_id: ['pr-1-api'] } });
    expect(await client.listJwtRoles()).toEqual(['previewd-acme-shop-pr-1']);
    await client.deleteJwtRole('previewd-acme-shop-pr-1');
    expect(await client.getJwtRole('previewd-acme-shop-pr-1')).toBeNull();
    expect(await client.listJwtRoles()).toEqual([]);
    await expect(client.putJwtRole('bad', { role_type: 'jwt', user_claim: 'sub' })).rejects.toBeInstanceOf(UserError);
  });
});

describe('vault client: errors', () => {
  it('when the token is invalid then a UserError says permission denied and never shows the token', async () => {
    const bad = createVaultClient({ address: vault.url, token: 'hvs.wrong-token-value', kvMount: 'secret', jwtMount: 'jwt-nomad' });
    const err = await captureError(bad.readSecret('previews/x'));
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toContain('permission denied');
    expect(allText(err)).not.toContain('hvs.wrong-token-value');
  });

  it('when Vault answers 500 on a data write then a TransientError is thrown with no secret value in it', async () => {
    // A hostile or buggy server echoing the request back must not leak it either.
    vault.faults.failures.push({ method: 'POST', path: /\/data\//, status: 500, body: { errors: [`1 error occurred: bad value ${SECRET_URL}`] }, times: 1 });
    const err = await captureError(client.writeSecret('previews/y', { DATABASE_URL: SECRET_URL }, { customMetadata: META, deleteVersionAfterMs: 60_000 }));
    expect(err).toBeInstanceOf(TransientError);
    expect(allText(err)).not.toContain('s3cr3t-pa55word');
    expect(allText(err)).not.toContain(ROOT);
  });

  it('when Vault is down then calls fail with TransientError and carry no token or body', async () => {
    await vault.down();
    const err = await captureError(client.writeSecret('previews/z', { DATABASE_URL: SECRET_URL }, { customMetadata: META, deleteVersionAfterMs: 60_000 }));
    expect(err).toBeInstanceOf(TransientError);
    expect(allText(err)).not.toContain(ROOT);
    expect(allText(err)).not.toContain('s3cr3t');
    await vault.up();
  });

  it('when Vault is slower than the timeout then the call is a TransientError', async () => {
    const quick = createVaultClient({ address: vault.url, token: ROOT, kvMount: 'secret', jwtMount: 'jwt-nomad', timeoutMs: 100 });
    vault.faults.latencyMs = 400;
    await expect(quick.readSecret('previews/slow')).rejects.toBeInstanceOf(TransientError);
  });

  it('when Vault is sealed then ping and every call are TransientErrors; unsealed ping passes', async () => {
    await client.ping();
    vault.sealed = true;
    await expect(client.ping()).rejects.toBeInstanceOf(TransientError);
    await expect(client.readSecret('previews/a')).rejects.toBeInstanceOf(TransientError);
  });

  it('when VAULT_* variables are set in the environment then the client ignores them', async () => {
    process.env['VAULT_PREFIX'] = '/evil';
    process.env['VAULT_NAMESPACE'] = 'ns1/';
    try {
      const c = createVaultClient({ address: vault.url, token: ROOT, kvMount: 'secret', jwtMount: 'jwt-nomad' });
      await c.putPolicy('env-check', 'path "x" { capabilities = ["read"] }');
      expect(vault.policy('env-check')).not.toBeNull();
    } finally {
      delete process.env['VAULT_PREFIX'];
      delete process.env['VAULT_NAMESPACE'];
    }
  });
});

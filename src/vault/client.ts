// VaultClient on node-vault. The only module that knows Vault's wire JSON.
//
// node-vault traps handled here (shared/contracts/vault.md §8):
// - it falls back to VAULT_ADDR / VAULT_TOKEN / VAULT_PREFIX / VAULT_NAMESPACE from
//   process.env: every one is set explicitly, so only config/ decides;
// - its `debug` logger prints request bodies (secret values) when DEBUG is set: replaced
//   by a no-op;
// - token-source calls (tokenCreate, *Login) replace the client's token: never used;
// - `addPolicy` sends the whole args object to the legacy endpoint: the preferred
//   `sys/policies/acl/<name>` is written with `write` instead;
// - errors are `ApiResponseError` ("Status 404" when errors is empty), and network
//   failures are axios errors whose `config` holds the token header and the request
//   body: neither is ever passed on, not even as `cause`;
// - LIST is sent as `GET ?list=1` (noCustomHTTPVerbs): proxies and the emulator's
//   HTTP stack do not all accept custom verbs, and Vault treats both the same.
import nodeVault from 'node-vault';
import type { ZodType } from 'zod';
import { toGoDuration } from '../config/duration.js';
import { scrub } from '../secrets.js';
import { isNetworkError, TransientError, unexpectedShapeError, UserError } from '../errors.js';
import { ErrorBody, HealthResponse, KeysResponse, KvMetadataResponse, KvReadResponse, PolicyResponse, RoleResponse } from './schema.js';
import { vaultPaths } from './paths.js';
import type { KvMetadata, KvSecret, VaultClient } from './types.js';

export interface VaultClientOptions {
  address: string;
  token: string;
  kvMount: string;
  jwtMount: string;
  timeoutMs?: number;
}

const PATH = /^[A-Za-z0-9_.@-]+(\/[A-Za-z0-9_.@-]+)*$/;
const NAME = /^[A-Za-z0-9_.-]+$/;

function checkPath(path: string, what: string, pattern = PATH): string {
  if (!pattern.test(path) || path.split('/').some((s) => s === '.' || s === '..')) {
    throw new UserError(`invalid vault ${what} ${JSON.stringify(path.slice(0, 200))}`, { system: 'vault' });
  }
  return path;
}


/** The HTTP facts of a failed call, stripped of the request (token, body). Used as `cause`. */
export class VaultResponseError extends Error {
  constructor(
    readonly statusCode: number,
    readonly errors: string[],
  ) {
    super(`vault answered ${statusCode}${errors.length > 0 ? `: ${errors.join('; ')}` : ''}`);
    this.name = 'VaultResponseError';
  }
}

interface Failure {
  status: number | null; // null: no HTTP answer
  errors: string[];
  code: string | undefined;
}

function describeFailure(err: unknown): Failure {
  const response = (err as { response?: { statusCode?: unknown; status?: unknown; body?: unknown } } | null)?.response;
  if (response && typeof response.statusCode === 'number') {
    const parsed = ErrorBody.safeParse(response.body);
    return { status: response.statusCode, errors: parsed.success ? parsed.data.errors : [], code: undefined };
  }
  const code = (err as { code?: unknown } | null)?.code;
  return { status: null, errors: [], code: typeof code === 'string' ? code : undefined };
}

function isTransportFailure(err: unknown): boolean {
  const e = err as { isAxiosError?: boolean; response?: unknown; code?: string } | null;
  return isNetworkError(err) || (e?.isAxiosError === true && !e.response) || e?.code === 'ECONNABORTED' || e?.code === 'ERR_NETWORK';
}

export function createVaultClient(options: VaultClientOptions): VaultClient {
  const mounts = { kvMount: checkPath(options.kvMount, 'mount'), jwtMount: checkPath(options.jwtMount, 'mount') };
  const vault = nodeVault({
    endpoint: options.address,
    token: options.token,
    apiVersion: 'v1',
    noCustomHTTPVerbs: true,
    debug: () => undefined,
    requestOptions: { timeout: options.timeoutMs ?? 10_000 },
  });
  // Set after construction: the constructor treats '' / undefined as "read the environment".
  const settable = vault as unknown as { pathPrefix: string; namespace: string | undefined };
  settable.pathPrefix = '';
  settable.namespace = undefined;
  vault.token = options.token;

  /** Turns any failure into previewd's error classes; `secrets` are scrubbed from every text. */
  function mapError(err: unknown, what: string, secrets: readonly string[] = []): Error {
    const failure = describeFailure(err);
    const detail = scrub(failure.errors.join('; ').replaceAll(options.token, '[redacted]'), secrets).slice(0, 500);
    if (failure.status === null) {
      if (isTransportFailure(err)) {
        const cause = new Error(`vault unreachable${failure.code ? ` (${failure.code})` : ''}`);
        return new TransientError(`vault ${what}: unreachable${failure.code ? ` (${failure.code})` : ''}`, { system: 'vault', code: failure.code ?? undefined, cause });
      }
      // Not from the HTTP layer: node-vault rejected the arguments previewd built (its own
      // request validation), a bug in previewd. A plain Error on purpose, so the queue parks
      // it as a bug with its stack; only the (scrubbed) message is kept.
      const message = scrub(String((err as Error)?.message ?? err).replaceAll(options.token, '[redacted]'), secrets);
      return new Error(`vault ${what}: ${message}`);
    }
    const cause = new VaultResponseError(failure.status, detail ? [detail] : []);
    const text = `vault ${what}: ${failure.status}${detail ? ` ${detail}` : ''}`;
    const status = failure.status;
    if (status === 403) return new UserError(`vault ${what}: permission denied (token lacks a capability, or is invalid)`, { system: 'vault', status, cause });
    if (status === 412 || status === 429 || status >= 500) return new TransientError(text, { system: 'vault', status, cause });
    return new UserError(text, { system: 'vault', status, cause });
  }

  const isNotFound = (err: unknown) => describeFailure(err).status === 404;

  async function call<T>(what: string, run: () => Promise<unknown>, schema: ZodType<T>, secrets: readonly string[] = []): Promise<T> {
    let body: unknown;
    try {
      body = await run();
    } catch (err) {
      throw mapError(err, what, secrets);
    }
    const parsed = schema.safeParse(body);
    if (!parsed.success) throw unexpectedShapeError('vault', what, parsed.error.issues);
    return parsed.data;
  }

  /** Runs a read; 404 (absent, deleted or destroyed, or an empty LIST) → null. */
  async function read<T>(what: string, run: () => Promise<unknown>, schema: ZodType<T>): Promise<T | null> {
    let body: unknown;
    try {
      body = await run();
    } catch (err) {
      if (isNotFound(err)) return null;
      throw mapError(err, what);
    }
    const parsed = schema.safeParse(body);
    if (!parsed.success) throw unexpectedShapeError('vault', what, parsed.error.issues);
    return parsed.data;
  }

  async function run(what: string, fn: () => Promise<unknown>, secrets: readonly string[] = []): Promise<void> {
    try {
      await fn();
    } catch (err) {
      throw mapError(err, what, secrets);
    }
  }

  async function remove(what: string, path: string): Promise<void> {
    try {
      await vault.delete(path);
    } catch (err) {
      if (isNotFound(err)) return;
      throw mapError(err, what);
    }
  }

  return {
    async readSecret(path) {
      const p = checkPath(path, 'path');
      const res = await read(`read secret ${p}`, () => vault.read(vaultPaths.secretData(mounts, p)), KvReadResponse);
      // A soft-deleted version is already a 404 (→ null); a data: null body is the same case.
      if (!res || res.data.data === null) return null;
      const secret: KvSecret = { data: res.data.data, customMetadata: res.data.metadata.custom_metadata ?? {}, version: res.data.metadata.version };
      return secret;
    },

    async readSecretMetadata(path) {
      const p = checkPath(path, 'path');
      const res = await read(`read metadata ${p}`, () => vault.read(vaultPaths.secretMetadata(mounts, p)), KvMetadataResponse);
      if (!res) return null;
      const meta: KvMetadata = { customMetadata: res.data.custom_metadata ?? {}, currentVersion: res.data.current_version };
      return meta;
    },

    async writeSecret(path, data, opts) {
      const p = checkPath(path, 'path');
      // Metadata first: a version must never exist without previewd's ownership marker.
      await run(`write metadata ${p}`, () =>
        vault.write(vaultPaths.secretMetadata(mounts, p), {
          custom_metadata: opts.customMetadata,
          delete_version_after: toGoDuration(opts.deleteVersionAfterMs),
        }),
      );
      await run(`write secret ${p}`, () => vault.write(vaultPaths.secretData(mounts, p), { data }), Object.values(data));
    },

    async destroySecret(path) {
      const p = checkPath(path, 'path');
      await remove(`destroy secret ${p}`, vaultPaths.secretMetadata(mounts, p));
    },

    async listSecrets(prefix) {
      const p = checkPath(prefix.replace(/\/+$/, ''), 'prefix');
      const res = await read(`list secrets ${p}`, () => vault.list(vaultPaths.secretList(mounts, p)), KeysResponse);
      return res?.data.keys ?? [];
    },

    async getPolicy(name) {
      const n = checkPath(name, 'policy name', NAME);
      const res = await read(`read policy ${n}`, () => vault.read(vaultPaths.policy(n)), PolicyResponse);
      return res?.data.policy ?? null;
    },

    async putPolicy(name, hcl) {
      const n = checkPath(name, 'policy name', NAME);
      await run(`write policy ${n}`, () => vault.write(vaultPaths.policy(n), { policy: hcl }));
    },

    async deletePolicy(name) {
      const n = checkPath(name, 'policy name', NAME);
      await remove(`delete policy ${n}`, vaultPaths.policy(n));
    },

    async listPolicies() {
      const res = await read('list policies', () => vault.list(vaultPaths.policyList()), KeysResponse);
      return res?.data.keys ?? [];
    },

    async getJwtRole(name) {
      const n = checkPath(name, 'role name', NAME);
      const res = await read(`read jwt role ${n}`, () => vault.read(vaultPaths.jwtRole(mounts, n)), RoleResponse);
      return res?.data ?? null;
    },

    async putJwtRole(name, role) {
      const n = checkPath(name, 'role name', NAME);
      await run(`write jwt role ${n}`, () => vault.write(vaultPaths.jwtRole(mounts, n), role));
    },

    async deleteJwtRole(name) {
      const n = checkPath(name, 'role name', NAME);
      await remove(`delete jwt role ${n}`, vaultPaths.jwtRole(mounts, n));
    },

    async listJwtRoles() {
      const res = await read('list jwt roles', () => vault.list(vaultPaths.jwtRoleList(mounts)), KeysResponse);
      return res?.data.keys ?? [];
    },

    async ping() {
      // node-vault resolves sys/health with the body whatever the status code.
      const health = await call('health', () => vault.health(), HealthResponse);
      if (!health.initialized) throw new UserError('vault is not initialized', { system: 'vault' });
      if (health.sealed) throw new TransientError('vault is sealed', { system: 'vault' });
      if (health.standby) throw new TransientError('vault answered from a standby node', { system: 'vault' });
    },
  };
}

// GitHub App authentication: an RS256 JWT signed with the app's private key
// (node:crypto, no dependency), exchanged for a one-hour installation token that is
// cached and refreshed five minutes before it expires.
import { createPrivateKey, sign, type KeyObject } from 'node:crypto';

const b64url = (value: string | Buffer) => Buffer.from(value).toString('base64url');

/**
 * The app JWT: iat backdated 60 s against clock drift, exp 9 min later than now
 * (GitHub refuses more than 10 min ahead).
 */
export function createAppJwt(appId: number | string, privateKey: string | KeyObject, nowMs: number): string {
  const key = typeof privateKey === 'string' ? createPrivateKey(privateKey) : privateKey;
  const nowSec = Math.floor(nowMs / 1000);
  const header = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT' }));
  const claims = b64url(JSON.stringify({ iat: nowSec - 60, exp: nowSec + 540, iss: String(appId) }));
  const signature = sign('RSA-SHA256', Buffer.from(`${header}.${claims}`), key);
  return `${header}.${claims}.${b64url(signature)}`;
}

const REFRESH_BEFORE_EXPIRY_MS = 5 * 60_000;

export interface InstallationToken {
  token: string;
  expiresAt: number; // ms
}

/**
 * Caches one installation token per installation id. Concurrent callers share one
 * request; a token is reused until five minutes before it expires.
 */
export function createInstallationTokenCache(fetchToken: (installationId: number) => Promise<InstallationToken>, now: () => number) {
  const cache = new Map<number, InstallationToken>();
  const inflight = new Map<number, Promise<InstallationToken>>();
  return {
    async get(installationId: number): Promise<string> {
      const cached = cache.get(installationId);
      if (cached && cached.expiresAt - now() > REFRESH_BEFORE_EXPIRY_MS) return cached.token;
      let pending = inflight.get(installationId);
      if (!pending) {
        pending = fetchToken(installationId).finally(() => inflight.delete(installationId));
        inflight.set(installationId, pending);
      }
      const fresh = await pending;
      cache.set(installationId, fresh);
      return fresh.token;
    },
    /** Forget a token GitHub refused (401), so the next call fetches a new one. */
    invalidate(installationId: number): void {
      cache.delete(installationId);
    },
  };
}

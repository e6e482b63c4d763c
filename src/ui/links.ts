// The read-only links previewd puts on a PR (the comment, the deployment's log_url,
// the commit status's target_url). A link opens one environment's page without the
// admin token: it carries an expiry and an HMAC-SHA256 over repo, PR and that expiry,
// so it cannot be stretched in time or pointed at another PR. The key is
// PREVIEWD_LINK_SECRET, or, when unset, one derived from the admin token by HMAC (a
// one-way step: a link never reveals the token, and every replica derives the same key).
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Config } from '../config/schema.js';
import type { EnvironmentKey } from '../environments/naming.js';

const DAY_MS = 86_400_000;
const TOKEN = /^(\d{1,12})\.([A-Za-z0-9_-]{43})$/;

export type LinkVerdict = { ok: true; expiresAt: Date } | { ok: false; reason: 'malformed' | 'expired' | 'bad signature' };

export function linkKey(env: Pick<Config['env'], 'PREVIEWD_LINK_SECRET' | 'PREVIEWD_ADMIN_TOKEN'>): Buffer {
  if (env.PREVIEWD_LINK_SECRET) return Buffer.from(env.PREVIEWD_LINK_SECRET, 'utf8');
  return createHmac('sha256', env.PREVIEWD_ADMIN_TOKEN).update('previewd read-only link key v1').digest();
}

function signature(key: Buffer, env: EnvironmentKey, expiresAtSeconds: number): Buffer {
  return createHmac('sha256', key).update(`previewd-link-v1\n${env.repo}\n${env.pr}\n${expiresAtSeconds}`).digest();
}

/** "<expiry in Unix seconds>.<base64url HMAC>" */
export function signLinkToken(key: Buffer, env: EnvironmentKey, expiresAt: Date): string {
  const seconds = Math.floor(expiresAt.getTime() / 1000);
  return `${seconds}.${signature(key, env, seconds).toString('base64url')}`;
}

export function verifyLinkToken(key: Buffer, env: EnvironmentKey, token: unknown, now: Date): LinkVerdict {
  const match = typeof token === 'string' ? TOKEN.exec(token) : null;
  if (!match) return { ok: false, reason: 'malformed' };
  const seconds = Number(match[1]);
  const given = Buffer.from(match[2]!, 'base64url');
  // Signature first, in constant time, so an attacker learns nothing from which check failed.
  if (given.length !== 32 || !timingSafeEqual(given, signature(key, env, seconds))) return { ok: false, reason: 'bad signature' };
  if (seconds * 1000 <= now.getTime()) return { ok: false, reason: 'expired' };
  return { ok: true, expiresAt: new Date(seconds * 1000) };
}

/**
 * The expiry of a link made now: `ttl` after the end of the current UTC day, so every
 * report of the same day writes the same link (a comment edit changes nothing else).
 */
export function linkExpiry(now: Date, ttlMs: number): Date {
  return new Date(Math.ceil((now.getTime() + 1) / DAY_MS) * DAY_MS + ttlMs);
}

export function readerPath(env: EnvironmentKey): string {
  const [owner, name] = env.repo.split('/');
  return `/ui/pr/${encodeURIComponent(owner ?? '')}/${encodeURIComponent(name ?? '')}/${env.pr}`;
}

/** The link for a PR's readers: publicUrl + the read-only page + a token valid for `ui.linkTtl`. */
export function readerUrl(config: Pick<Config, 'publicUrl' | 'ui' | 'env'>, env: EnvironmentKey, now: Date): string {
  const token = signLinkToken(linkKey(config.env), env, linkExpiry(now, config.ui.linkTtl));
  return `${config.publicUrl.replace(/\/+$/, '')}${readerPath(env)}?t=${token}`;
}

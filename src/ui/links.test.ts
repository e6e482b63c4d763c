import { describe, expect, it } from 'vitest';
import { buildConfig } from '../config/load.js';
import { linkExpiry, linkKey, readerUrl, signLinkToken, verifyLinkToken } from './links.js';

const env = {
  VAULT_TOKEN: 'hvs.unit',
  DATABASE_URL: 'postgres://x@pg.internal/x',
  GITHUB_WEBHOOK_SECRET: 'webhook-secret-0123456789',
  GITHUB_TOKEN: 'ghp_unit',
  PREVIEWD_ADMIN_TOKEN: 'an-admin-token-long-enough',
};
const key = linkKey(env);
const pr = { repo: 'acme/shop', pr: 7 };
const now = new Date('2026-05-01T10:00:00Z');
const later = new Date('2026-05-08T00:00:00Z');

describe('read-only PR links', () => {
  it('when a link is signed for a PR then it verifies for that PR until it expires', () => {
    const token = signLinkToken(key, pr, later);
    expect(verifyLinkToken(key, pr, token, now)).toEqual({ ok: true, expiresAt: later });
    expect(verifyLinkToken(key, pr, token, later)).toEqual({ ok: false, reason: 'expired' });
  });

  it('when a link is used for another PR or repo, stretched, tampered or signed with another key then it is refused', () => {
    const token = signLinkToken(key, pr, later);
    const [expiry, mac] = token.split('.') as [string, string];
    expect(verifyLinkToken(key, { repo: 'acme/shop', pr: 8 }, token, now).ok).toBe(false);
    expect(verifyLinkToken(key, { repo: 'acme/other', pr: 7 }, token, now).ok).toBe(false);
    expect(verifyLinkToken(key, pr, `${Number(expiry) + 86_400}.${mac}`, now)).toEqual({ ok: false, reason: 'bad signature' });
    const flipped = `${mac.slice(0, 10)}${mac[10] === 'A' ? 'B' : 'A'}${mac.slice(11)}`;
    expect(verifyLinkToken(key, pr, `${expiry}.${flipped}`, now).ok).toBe(false);
    expect(verifyLinkToken(linkKey({ ...env, PREVIEWD_LINK_SECRET: 'another-link-secret-of-32-characters!' }), pr, token, now).ok).toBe(false);
    for (const junk of [undefined, '', 'x', `${expiry}.`, `${expiry}.${mac}x`, ['a'], `-1.${mac}`]) {
      expect(verifyLinkToken(key, pr, junk, now)).toEqual({ ok: false, reason: 'malformed' });
    }
  });

  it('when PREVIEWD_LINK_SECRET is unset then the key is derived from the admin token, never equal to it', () => {
    expect(key.toString('utf8')).not.toContain(env.PREVIEWD_ADMIN_TOKEN);
    expect(linkKey(env).equals(key)).toBe(true);
    expect(linkKey({ ...env, PREVIEWD_ADMIN_TOKEN: 'another-admin-token-long' }).equals(key)).toBe(false);
  });

  it('when links are made during one day then they are identical (a comment edit stays a no-op) and last linkTtl past that day', () => {
    expect(linkExpiry(new Date('2026-05-01T00:00:01Z'), 1000)).toEqual(linkExpiry(new Date('2026-05-01T23:59:59Z'), 1000));
    expect(linkExpiry(new Date('2026-05-01T10:00:00Z'), 86_400_000)).toEqual(new Date('2026-05-03T00:00:00Z'));
    expect(linkExpiry(new Date('2026-05-02T00:00:00Z'), 0)).toEqual(new Date('2026-05-03T00:00:00Z'));
  });

  it('when building the reader URL then it is publicUrl + the path-encoded page + a token that verifies', () => {
    const config = buildConfig({ publicUrl: 'https://previewd.example.com/', repos: [{ name: 'acme/shop.web' }] }, env);
    const url = new URL(readerUrl(config, { repo: 'acme/shop.web', pr: 7 }, now));
    expect(`${url.origin}${url.pathname}`).toBe('https://previewd.example.com/ui/pr/acme/shop.web/7');
    const verdict = verifyLinkToken(key, { repo: 'acme/shop.web', pr: 7 }, url.searchParams.get('t'), now);
    expect(verdict).toEqual({ ok: true, expiresAt: linkExpiry(now, config.ui.linkTtl) });
  });
});

import { describe, expect, it } from 'vitest';
import { describeState, renderComment, statusDescription, type CommentInput } from './report.js';
import { buildDatabaseUrl, createScrubber, databaseEndpoint, generatePassword, reusablePassword } from './credentials.js';

const base: CommentInput = {
  marker: '<!-- previewd:previewd:acme-shop-pr-42 -->',
  state: 'ready',
  sha: '0123456789abcdef0123456789abcdef01234567',
  urls: { frontend: 'https://pr-42.preview.example.com', api: 'https://api-pr-42.preview.example.com' },
  components: { api: 'healthy', cache: 'healthy', frontend: 'healthy', worker: 'healthy' },
  expiresAt: new Date('2026-05-08T10:00:00.000Z'),
  idleTtlMs: 7 * 86_400_000,
  logUrl: 'http://previewd.example.com/ui/pr/acme/shop/42?t=1780000000.c2lnbmF0dXJl',
};

describe('renderComment', () => {
  it('when ready then the marker leads and URLs, short commit, each component and the expiry are shown', () => {
    const body = renderComment(base);
    expect(body.split('\n')[0]).toBe(base.marker);
    expect(body).toContain('ready');
    expect(body).toContain('| frontend | https://pr-42.preview.example.com |');
    expect(body).toContain('| api | https://api-pr-42.preview.example.com |');
    expect(body).toContain('`0123456`');
    expect(body).toContain('2026-05-08T10:00:00Z (after 7d without a push)');
    for (const c of ['api', 'cache', 'frontend', 'worker']) expect(body).toMatch(new RegExp(`\\| ${c} \\| .*healthy \\|`));
  });

  it('when deploying, ready or failing then the comment links the PR\'s read-only page once; removed links nothing', () => {
    for (const state of ['deploying', 'ready', 'failed', 'degraded'] as const) {
      const body = renderComment({ ...base, state, error: state === 'failed' || state === 'degraded' ? 'boom' : null });
      expect([state, body.split(base.logUrl).length - 1]).toEqual([state, 1]);
      expect(body.trimEnd().endsWith(`Details: ${base.logUrl}`)).toBe(true);
    }
    expect(renderComment({ ...base, state: 'removed', expiresAt: null })).not.toContain(base.logUrl);
  });

  it('when deploying then the URLs are marked as not yet live', () => {
    const body = renderComment({ ...base, state: 'deploying', components: { api: 'pending' } });
    expect(body).toContain('deploying');
    expect(body).toContain('https://pr-42.preview.example.com (not yet)');
  });

  it('when failed then the error is fenced so markup or a fake marker in it cannot render', () => {
    const error = 'deployment failed: task api: ```\n<!-- previewd:previewd:other-pr-1 --> <img src=x onerror=alert(1)>';
    const body = renderComment({ ...base, state: 'failed', error });
    expect(body).toContain('failed');
    const fenceStart = body.indexOf('```text');
    expect(fenceStart).toBeGreaterThan(0);
    const inner = body.slice(fenceStart + 7, body.indexOf('```', fenceStart + 7));
    expect(inner).toContain('<img src=x');
    expect(inner).not.toContain('```');
    expect(body).toContain(base.logUrl);
  });

  it('when removed then it says so without URLs or expiry', () => {
    const body = renderComment({ ...base, state: 'removed', expiresAt: null });
    expect(body).toContain('removed');
    expect(body).not.toContain('https://pr-42');
    expect(body).not.toContain('expires');
  });

  it('when a component name carries table syntax then it cannot break the table', () => {
    const body = renderComment({ ...base, components: { 'a|b\n| x': 'healthy' } });
    expect(body).toContain('| a b   x |');
  });
});

describe('status texts', () => {
  it('when a description is long then it is cut to GitHub’s 140 characters', () => {
    expect(statusDescription('x'.repeat(500))).toHaveLength(140);
    expect(describeState('failed', 'abcdef0123', 'y'.repeat(300)).length).toBeLessThanOrEqual(140);
  });
});

describe('credentials', () => {
  it('when generating passwords then they are URL-safe, long and different', () => {
    const a = generatePassword();
    const b = generatePassword();
    expect(a).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(a).not.toBe(b);
  });

  it('when a secret holds a URL for this role and database then its password is reused, else not', () => {
    const password = generatePassword();
    const target = { user: 'preview_acme_shop_pr_42', database: 'preview_acme_shop_pr_42', host: 'db.internal', port: 5432 };
    const url = buildDatabaseUrl({ ...target, password, params: '' });
    expect(reusablePassword({ DATABASE_URL: url }, target)).toBe(password);
    expect(reusablePassword({ DATABASE_URL: url }, { ...target, user: 'preview_other' })).toBeNull();
    expect(reusablePassword({ DATABASE_URL: url }, { ...target, port: 6432 })).toBeNull();
    expect(reusablePassword({ DATABASE_URL: 'not a url' }, target)).toBeNull();
    expect(reusablePassword(null, target)).toBeNull();
  });

  it('when DATABASE_URL carries connection parameters then PR jobs get them too, but never ones naming another user, database or host', () => {
    const env = { DATABASE_URL: 'postgres://previewd:admin-pw@pg.internal:6432/previewd?sslmode=verify-full&connect_timeout=5&user=postgres&password=x&dbname=postgres&host=evil&options=-c%20search_path%3Dx' };
    const endpoint = databaseEndpoint({ env, database: { namePrefix: 'preview_', loginGroup: 'g', host: 'pg.jobs', port: undefined } } as never);
    expect(endpoint).toEqual({ host: 'pg.jobs', port: 6432, params: 'sslmode=verify-full&connect_timeout=5&options=-c+search_path%3Dx' });
    const password = generatePassword();
    const url = new URL(buildDatabaseUrl({ user: 'preview_u', password, database: 'preview_db', ...endpoint }));
    expect([url.username, url.hostname, url.port, url.pathname]).toEqual(['preview_u', 'pg.jobs', '6432', '/preview_db']);
    expect(Object.fromEntries(url.searchParams)).toEqual({ sslmode: 'verify-full', connect_timeout: '5', options: '-c search_path=x' });
    expect(reusablePassword({ DATABASE_URL: url.toString() }, { user: 'preview_u', database: 'preview_db', ...endpoint })).toBe(password);
    // Without parameters the URL has no "?".
    expect(buildDatabaseUrl({ user: 'u', password: 'p', database: 'd', host: 'h', port: 5432, params: '' })).toBe('postgres://u:p@h:5432/d');
  });

  it('when scrubbing then raw, URL-encoded and URL-embedded credentials are all removed', () => {
    const secret = 'p@ss/word+1234';
    const scrub = createScrubber([secret, 'short', null]);
    const text = `a ${secret} b ${encodeURIComponent(secret)} c redis://u:other-secret@host:6379 d short`;
    const out = scrub(text);
    expect(out).not.toContain(secret);
    expect(out).not.toContain(encodeURIComponent(secret));
    expect(out).not.toContain('other-secret');
    expect(out).toContain('redis://u:[redacted]@host:6379');
    expect(out).toContain('d short');
  });
});

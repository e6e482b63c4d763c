import { describe, expect, it } from 'vitest';
import { buildConfig, ConfigError } from './load.js';

const goodEnv = {
  VAULT_TOKEN: 'root-token-value',
  DATABASE_URL: 'postgres://postgres@pg.internal:5432/postgres',
  GITHUB_WEBHOOK_SECRET: 'a-webhook-secret-of-length',
  GITHUB_TOKEN: 'ghp_exampletoken',
  PREVIEWD_ADMIN_TOKEN: 'an-admin-token-long-enough',
};

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('buildConfig', () => {
  it.each([
    ['docker.io/library/redis', /is a stock image a PR does not build.*fixedImages/],
    ['redis', /is a stock image/],
    ['docker.io/library/redis:7.2', /has a tag; .*belongs in fixedImages/],
    ['ghcr.io/acme/shop-api:main', /has a tag/],
  ])('when repos[].images names %s then config check refuses it', (image, pattern) => {
    const problems = problemsOf(() => buildConfig({ repos: [{ name: 'acme/shop', images: { cache: image } }] }, goodEnv));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^config: repos\.0\.images\.cache: /);
    expect(problems[0]).toMatch(pattern);
  });

  it('when a stock image is in fixedImages with its tag then it is accepted; without a tag it is refused', () => {
    expect(buildConfig({ repos: [{ name: 'acme/shop', fixedImages: { cache: 'docker.io/library/redis:7.2' } }] }, goodEnv).repos[0]!.fixedImages).toEqual({
      cache: 'docker.io/library/redis:7.2',
    });
    const problems = problemsOf(() => buildConfig({ repos: [{ name: 'acme/shop', fixedImages: { cache: 'docker.io/library/redis' } }] }, goodEnv));
    expect(problems[0]).toMatch(/repos\.0\.fixedImages\.cache: expected an image with its own tag or digest/);
  });

  it.each(['127.0.0.1', 'localhost', '127.1.2.3', '[::1]', 'LOCALHOST'])('when DATABASE_URL points at loopback %s and database.host is not set then it is refused: PR jobs cannot reach it', (host) => {
    const problems = problemsOf(() => buildConfig({}, { ...goodEnv, DATABASE_URL: `postgres://previewd:s3cret-pw@${host}:5432/previewd` }));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^config: database\.host: .*loopback.*set database\.host/);
    expect(problems[0]).not.toContain('s3cret-pw');
  });

  it('when DATABASE_URL points at loopback and database.host is set then it is accepted (the host PR jobs use)', () => {
    const config = buildConfig({ database: { host: 'pg.internal' } }, { ...goodEnv, DATABASE_URL: 'postgres://previewd@127.0.0.1:5432/previewd' });
    expect(config.database.host).toBe('pg.internal');
  });

  it('when the file is empty and the environment complete then every default applies', () => {
    const config = buildConfig({}, goodEnv);
    expect(config.credentialTtl).toBe(72 * 3600 * 1000);
    expect(config.env.CONSUL_HTTP_ADDR).toBe('http://127.0.0.1:8500');
    expect(config.env.GITHUB_API_URL).toBe('https://api.github.com');
  });

  it('when gc.interval is not well below half of credentialTtl then config check refuses it', () => {
    expect(problemsOf(() => buildConfig({ credentialTtl: '2h', gc: { interval: '31m' } }, goodEnv))).toEqual([
      'config: gc.interval: expected at most a quarter of credentialTtl (credentials are renewed at GC sweeps once half of it is left); found "31m"',
    ]);
    expect(problemsOf(() => buildConfig({ credentialTtl: '20m' }, goodEnv))).toHaveLength(1);
    expect(buildConfig({ credentialTtl: '2h', gc: { interval: '30m' } }, goodEnv).gc.interval).toBe(30 * 60_000);
  });

  it('when CONSUL_HTTP_ADDR has no scheme then http is assumed', () => {
    const config = buildConfig({}, { ...goodEnv, CONSUL_HTTP_ADDR: 'consul.service:8500' });
    expect(config.env.CONSUL_HTTP_ADDR).toBe('http://consul.service:8500');
  });

  it('when the file has two mistakes then there are exactly two lines naming the keys', () => {
    const problems = problemsOf(() => buildConfig({ concurrency: 0, repos: [{ name: 'acme/shop', idleTtl: 'soon' }] }, goodEnv));
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/^config: concurrency: .*found 0$/);
    expect(problems[1]).toMatch(/^config: repos\.0\.idleTtl: expected a duration .*found "soon"$/);
  });

  it('when a secret is malformed then its value never appears in the problem', () => {
    const problems = problemsOf(() => buildConfig({}, { ...goodEnv, PREVIEWD_ADMIN_TOKEN: 'short-s3cr3t' }));
    expect(problems).toEqual(['environment: PREVIEWD_ADMIN_TOKEN: expected at least 16 characters; found a hidden value of 12 characters']);
    expect(problems.join('\n')).not.toContain('short-s3cr3t');
  });

  it('when neither a token nor an App is given then GITHUB_TOKEN is named', () => {
    const { GITHUB_TOKEN: _ignored, ...env } = goodEnv;
    expect(problemsOf(() => buildConfig({}, env))).toEqual([
      'environment: GITHUB_TOKEN: expected GITHUB_TOKEN, or GITHUB_APP_ID with GITHUB_APP_PRIVATE_KEY; found nothing',
    ]);
  });

  it('when an unknown key is present then it is refused rather than ignored', () => {
    const problems = problemsOf(() => buildConfig({ concurency: 4 }, goodEnv));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('concurency');
  });

  it('when two repos map to the same environment IDs then the second is refused', () => {
    const problems = problemsOf(() => buildConfig({ repos: [{ name: 'acme/shop-web' }, { name: 'acme-shop/web' }] }, goodEnv));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('repos.1.name');
  });
});

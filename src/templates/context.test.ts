import { describe, expect, it } from 'vitest';
import { fileConfigSchema } from '../config/schema.js';
import { UserError } from '../errors.js';
import { buildRenderContext, canonicalEnvironment, canonicalSecretKeys } from './context.js';
import { parseManifest } from './manifest.js';

const SHA = 'c0ffee0000000000000000000000000000000042';
const key = { repo: 'acme/shop', pr: 42 };
const config = fileConfigSchema.parse({
  baseDomain: 'preview.example.com',
  repos: [{ name: 'acme/shop', images: { api: 'ghcr.io/acme/api', worker: 'ghcr.io/acme/worker', frontend: 'ghcr.io/acme/web' } }],
});
const manifest = parseManifest({
  components: {
    cache: { template: 'cache.hbs', port: { label: 'redis', to: 6379 }, image: 'redis:7', canonicalEnv: false },
    api: { template: 'api.hbs', dependsOn: ['cache'], routable: true, port: { label: 'http', to: 3000 }, healthPath: '/healthz', env: { LOG_LEVEL: 'debug' } },
    worker: { template: 'worker.hbs', dependsOn: ['cache'], env: { QUEUE_NAME: 'jobs' } },
    frontend: { template: 'frontend.hbs', dependsOn: ['api'], routable: true, port: { label: 'http', to: 80 }, healthPath: '/' },
  },
});

describe('canonicalEnvironment and canonicalSecretKeys', () => {
  it('when computed then the secret keys are exactly the environment keys, REDIS_URL excluded', () => {
    const env = canonicalEnvironment(config, key, SHA, manifest, 'postgres://u:pw@db:5432/x');
    expect(Object.keys(env).sort()).toEqual([...canonicalSecretKeys(manifest)].sort());
    expect(canonicalSecretKeys(manifest)).not.toContain('REDIS_URL');
    expect(env).toMatchObject({
      PREVIEW_ID: 'acme-shop-pr-42',
      PUBLIC_URL: 'https://pr-42.preview.example.com',
      API_URL: 'https://api-pr-42.preview.example.com',
      LOG_LEVEL: 'debug',
      QUEUE_NAME: 'jobs',
    });
  });

  it('when the database URL holds a line break then it is refused without echoing the value', () => {
    const call = () => canonicalEnvironment(config, key, SHA, manifest, 'postgres://u:s3cret\nX=1@db/x');
    expect(call).toThrow(/DATABASE_URL contains a line break/);
    expect(call).not.toThrow(/s3cret/);
  });
});

describe('buildRenderContext', () => {
  it('when built then every component gets its names, image at the head SHA and ownership meta', () => {
    const ctx = buildRenderContext(config, key, SHA, manifest);
    expect(ctx.components.api).toMatchObject({
      jobId: 'acme-shop-pr-42-api',
      serviceName: 'acme-shop-pr-42-api',
      image: `ghcr.io/acme/api:${SHA}`,
      host: 'api-pr-42.preview.example.com',
      jobMeta: { 'previewd.managed-by': 'previewd', 'previewd.env': 'acme-shop-pr-42', 'previewd.repo': 'acme/shop', 'previewd.pr': '42', 'previewd.sha': SHA },
      serviceMeta: { previewd_managed_by: 'previewd', previewd_env: 'acme-shop-pr-42' },
    });
    expect(ctx.components.cache!.image).toBe('redis:7');
    expect(ctx.components.cache!.tags).toEqual([]);
    expect(ctx.vault.secretPath).toBe('secret/data/previews/acme-shop-pr-42');
    expect(ctx.vault.envTemplate).toContain('[[ with secret "secret/data/previews/acme-shop-pr-42" ]]');
    expect(ctx.vault.envTemplate).toContain('[[ range service "acme-shop-pr-42-cache" ]]REDIS_URL=redis://');
    for (const k of canonicalSecretKeys(manifest)) expect(ctx.vault.envTemplate).toContain(`${k}=[[ .Data.data.${k} ]]`);
  });

  it.each([
    ['a short SHA', { sha: 'abc123' }, /40 lower-case hex/],
    ['an unconfigured repo', { key: { repo: 'evil/repo', pr: 1 } }, /not configured/],
    ['an image with its own tag', { config: { ...config, repos: [{ ...config.repos[0]!, images: { ...config.repos[0]!.images, api: 'ghcr.io/acme/api:latest' } }] } }, /without a tag/],
    ['a component with no image', { config: { ...config, repos: [{ ...config.repos[0]!, images: {} }] } }, /no image for component api/],
    ['a routable component without host pattern', { config: { ...config, hostPatterns: { frontend: 'pr-{pr}.{domain}' } } }, /api is routable but config.hostPatterns/],
    ['a host pattern that is not a DNS name', { config: { ...config, hostPatterns: { ...config.hostPatterns, api: 'api_{pr}.{domain}' } } }, /not a valid DNS name/],
    ['an entrypoint with a comma (bypassing the schema)', { config: { ...config, traefik: { entrypoint: 'web,websecure', certResolver: 'le' } } }, /not a valid entry point/],
  ])('when given %s then a UserError explains it', (_name, over: any, pattern) => {
    const call = () => buildRenderContext(over.config ?? config, over.key ?? key, over.sha ?? SHA, manifest);
    expect(call).toThrow(pattern);
    expect(call).toThrow(UserError);
  });
});

import { describe, expect, it } from 'vitest';
import { configuredRepo, repoConfig } from './repos.js';
import { repoSchema } from './schema.js';

describe('repoConfig', () => {
  const shop = repoSchema.parse({ name: 'acme/shop', idleTtl: '2d', database: { template: 'shop_template' } });
  const config = { repos: [shop] };

  it('returns a configured repo as loaded', () => {
    expect(repoConfig(config, 'acme/shop')).toBe(shop);
    expect(configuredRepo(config, 'acme/shop')).toBe(shop);
  });

  it("gives a repo that left the configuration the schema's defaults", () => {
    expect(configuredRepo(config, 'acme/gone')).toBeUndefined();
    const gone = repoConfig(config, 'acme/gone');
    expect(gone.name).toBe('acme/gone');
    expect(gone.idleTtl).toBe(7 * 86_400_000);
    expect(gone.database).toEqual({ mode: 'template', template: 'preview_template', strategy: 'FILE_COPY', terminateTemplateSessions: false, pool: { size: 2, maxBytes: 10 * 1024 ** 3 } });
    expect(gone.keepLabel).toBe('preview-keep');
  });
});

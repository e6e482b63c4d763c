// Two repos must never get the same hosts (issue 10, item 6): what config check refuses,
// and the defaults an operator gets with one repo and with several on one domain.
import { describe, expect, it } from 'vitest';
import { environmentNames } from '../environments/naming.js';
import { buildConfig, ConfigError } from './load.js';

const env = {
  VAULT_TOKEN: 'root-token-value',
  DATABASE_URL: 'postgres://previewd@pg.internal:5432/previewd',
  GITHUB_WEBHOOK_SECRET: 'a-webhook-secret-of-length',
  GITHUB_TOKEN: 'ghp_exampletoken',
  PREVIEWD_ADMIN_TOKEN: 'an-admin-token-long-enough',
};

function problemsOf(file: unknown): string[] {
  try {
    buildConfig(file, env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

const hostsOf = (file: Record<string, unknown>, repo: string, pr: number) => {
  const config = buildConfig(file, env);
  const names = environmentNames(config, { repo, pr });
  return [names.host('frontend'), names.host('api')];
};

describe('host patterns', () => {
  it('when one repo is served with the defaults then PR 42 keeps the short hosts', () => {
    expect(hostsOf({ baseDomain: 'preview.example.com', repos: [{ name: 'acme/shop' }] }, 'acme/shop', 42)).toEqual([
      'pr-42.preview.example.com',
      'api-pr-42.preview.example.com',
    ]);
  });

  it('when two repos share the domain with the defaults then each PR 42 gets hosts of its own', () => {
    const file = { baseDomain: 'preview.example.com', repos: [{ name: 'acme/shop' }, { name: 'acme/Web.App' }] };
    const shop = hostsOf(file, 'acme/shop', 42);
    const web = hostsOf(file, 'acme/Web.App', 42);
    expect(shop).toEqual(['pr-42-acme-shop.preview.example.com', 'api-pr-42-acme-shop.preview.example.com']);
    expect(web).toEqual(['pr-42-acme-web-app.preview.example.com', 'api-pr-42-acme-web-app.preview.example.com']);
  });

  it('when two repos each have a domain of their own with the defaults then both keep the short hosts', () => {
    const file = { repos: [{ name: 'acme/shop', baseDomain: 'shop.example.com' }, { name: 'acme/web', baseDomain: 'web.example.com' }] };
    expect(hostsOf(file, 'acme/shop', 42)[0]).toBe('pr-42.shop.example.com');
    expect(hostsOf(file, 'acme/web', 42)[0]).toBe('pr-42.web.example.com');
  });

  it('when explicit patterns without {repo} are used by two repos on one domain then config check refuses them, naming both repos', () => {
    const problems = problemsOf({
      hostPatterns: { frontend: 'pr-{pr}.{domain}', api: 'api-{pr}-{repo}.{domain}' },
      repos: [{ name: 'acme/shop' }, { name: 'acme/web' }],
    });
    expect(problems).toEqual([
      expect.stringMatching(/^config: hostPatterns\.frontend: expected a \{repo\} placeholder, because acme\/shop and acme\/web share the domain preview\.localhost/),
    ]);
  });

  it('when a pattern names neither {repo} nor {domain} then two repos collide even on different domains', () => {
    const problems = problemsOf({
      hostPatterns: { frontend: 'pr-{pr}.previews.example.com', api: 'api-pr-{pr}-{repo}.{domain}' },
      repos: [{ name: 'acme/shop', baseDomain: 'shop.example.com' }, { name: 'acme/web', baseDomain: 'web.example.com' }],
    });
    expect(problems).toEqual([expect.stringMatching(/^config: hostPatterns\.frontend: expected a \{repo\} placeholder, because PR 1 of acme\/shop and acme\/web/)]);
  });

  it('when the same explicit patterns serve one repo then they are fine', () => {
    expect(problemsOf({ hostPatterns: { frontend: 'pr-{pr}.{domain}', api: 'api-pr-{pr}.{domain}' }, repos: [{ name: 'acme/shop' }] })).toEqual([]);
  });

  it.each([
    ['placeholders run together', { frontend: 'pr-{pr}{repo}.{domain}', api: 'api-{pr}-{repo}.{domain}' }, /hostPatterns\.frontend: expected \{pr\} and \{repo\} each between/],
    ['a digit after {pr}', { frontend: 'pr-{pr}1-{repo}.{domain}', api: 'api-{pr}-{repo}.{domain}' }, /hostPatterns\.frontend: expected \{pr\} and \{repo\} each between/],
    ['an unknown placeholder', { frontend: 'pr-{pr}-{branch}.{domain}', api: 'api-{pr}.{domain}' }, /hostPatterns\.frontend: expected only the placeholders .*found \{branch\}/],
    ['two components on one pattern', { frontend: 'pr-{pr}.{domain}', api: 'pr-{pr}.{domain}' }, /hostPatterns\.api: expected a pattern of its own; hostPatterns\.frontend has the same one/],
  ])('when a pattern has %s then config check refuses it', (_what, hostPatterns, problem) => {
    expect(problemsOf({ hostPatterns, repos: [{ name: 'acme/shop' }] })).toEqual([expect.stringMatching(problem)]);
  });
});

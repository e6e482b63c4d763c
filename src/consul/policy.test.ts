import { describe, expect, it } from 'vitest';
import { environmentId } from '../environments/naming.js';
import { requiredConsulPolicy } from './policy.js';

describe('requiredConsulPolicy', () => {
  it('when a repo slug is long enough to be shortened then its prefix still covers every PR number, and short slugs get "<slug>-pr-"', () => {
    const long = `acme/${'very-long-repository-name-'.repeat(3)}`;
    const policy = requiredConsulPolicy(['acme/shop', long]);
    expect(policy).toContain('service_prefix "acme-shop-pr-" {\n  policy = "write"\n}');
    const prefixes = [...policy.matchAll(/service_prefix "([^"]*)"/g)].map((m) => m[1]!);
    expect(prefixes).toHaveLength(2);
    const longPrefix = prefixes.find((p) => p !== 'acme-shop-pr-')!;
    expect(longPrefix.length).toBeGreaterThan(10);
    for (const pr of [1, 9, 42, 999, 123456, 999999999]) expect(environmentId({ repo: long, pr }).startsWith(longPrefix)).toBe(true);
    expect(environmentId({ repo: 'acme/shop2', pr: 1 }).startsWith('acme-shop-pr-')).toBe(false);
  });
});

// deploy/previewd-nomad-policy.hcl grants what previewd calls, the e2e gate included.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { namespaceCapabilities, nomadCapabilities } from '../src/doctor/nomad.js';

describe('deploy/previewd-nomad-policy.hcl', () => {
  it('grants every capability doctor requires, with and without an e2e gate', async () => {
    const rules = readFileSync(new URL('../deploy/previewd-nomad-policy.hcl', import.meta.url), 'utf8');
    const caps = await namespaceCapabilities([rules], 'default');
    const withE2e = nomadCapabilities({ repos: [{ e2e: {} }] as never });
    expect(withE2e).toContain('read-logs');
    for (const c of withE2e) expect(caps.has(c), c).toBe(true);
    expect(nomadCapabilities({ repos: [] })).not.toContain('read-logs');
  });
});

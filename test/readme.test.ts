import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configReferenceMarkdown } from '../src/config/docs.js';
import { CHECK_NAMES } from '../src/doctor/doctor.js';

describe('README', () => {
  it('when the config schema changes then the README reference must be regenerated', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const section = /<!-- config-reference:start -->\n([\s\S]*?)\n<!-- config-reference:end -->/.exec(readme);
    expect(section, 'README has the generated reference section').not.toBeNull();
    expect(section![1]!.trim()).toBe(configReferenceMarkdown().trim());
  });

  it('when a newcomer reads the quick start then it names the sandbox and test commands', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    expect(readme).toContain('npm ci && npm run sandbox');
    expect(readme).toContain('npm test');
  });

  it('when doctor can report a check then "Running it for real" lists it with what satisfies it', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const section = /### Preflight: `previewd doctor`([\s\S]*?)\n### /.exec(readme)?.[1] ?? '';
    for (const check of CHECK_NAMES) expect(section, check).toMatch(new RegExp(`^\\| \`${check.replace('.', '\\.')}( <[a-z]+>)?\` \\| .+ \\| .+ \\|$`, 'm'));
  });
});

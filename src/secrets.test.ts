import { describe, expect, it } from 'vitest';
import { createScrubber, redactPatterns, safeErrorLine } from './secrets.js';

describe('createScrubber', () => {
  it('when a known secret appears raw or URL-encoded then both are redacted, longest first', () => {
    const scrub = createScrubber(['p@ss/word-123', 'p@ss/word-123-longer']);
    const out = scrub('a p@ss/word-123-longer b p%40ss%2Fword-123 c');
    expect(out).toBe('a [redacted] b [redacted] c');
  });

  it('when a value is shorter than six characters then ordinary words survive', () => {
    expect(createScrubber(['short', 'api'])('a short api call')).toBe('a short api call');
  });
});

describe('redactPatterns', () => {
  it.each([
    ['postgres://user:hunter2@db/x', 'hunter2'],
    ['token ghp_abcdefghijklmnop1234', 'ghp_abcdefghijklmnop1234'],
    ['X-Vault-Token: hvs.CAESIabcdefghijklm', 'hvs.CAESIabcdefghijklm'],
    ['Authorization: Bearer abc.def.ghi-12345', 'abc.def.ghi-12345'],
    ['password=topsecret&x=1', 'topsecret'],
  ])('when the text is %s then the secret is gone', (text, secret) => {
    expect(redactPatterns(text)).not.toContain(secret);
  });
});

describe('safeErrorLine', () => {
  it('when the message spans lines and is long then it is one bounded line', () => {
    const line = safeErrorLine(new Error(`first\nsecond ${'x'.repeat(500)}`), 50);
    expect(line).not.toContain('\n');
    expect(line.length).toBe(50);
    expect(line.startsWith('Error: first second')).toBe(true);
  });
});

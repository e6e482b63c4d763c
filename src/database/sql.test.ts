import { createHash, createHmac, pbkdf2Sync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { UserError } from '../errors.js';
import { quoteIdent, quoteLiteral, scramVerifier, stagingDatabaseName } from './sql.js';

describe('quoteIdent', () => {
  it.each([
    ['preview_acme_pr_1', '"preview_acme_pr_1"'],
    ['we"ird', '"we""ird"'],
    ['x"; DROP DATABASE postgres; --', '"x""; DROP DATABASE postgres; --"'],
    ['Mixed Case', '"Mixed Case"'],
  ])('when given %j then it returns %s', (input, expected) => {
    expect(quoteIdent(input)).toBe(expected);
  });

  it('when the name is longer than 63 bytes then it refuses instead of letting Postgres truncate it', () => {
    expect(() => quoteIdent('a'.repeat(64))).toThrow(UserError);
    expect(() => quoteIdent('é'.repeat(32))).toThrow(UserError); // 64 bytes in UTF-8
    expect(quoteIdent('a'.repeat(63))).toBe(`"${'a'.repeat(63)}"`);
  });

  it('when the name is empty or holds a NUL byte then it refuses', () => {
    expect(() => quoteIdent('')).toThrow(UserError);
    expect(() => quoteIdent('a\0b')).toThrow(UserError);
  });
});

describe('quoteLiteral', () => {
  it.each([
    ['plain', "'plain'"],
    ["it's", "'it''s'"],
    ["'; DROP ROLE x; --", "'''; DROP ROLE x; --'"],
    ['back\\slash', "E'back\\\\slash'"],
    ["\\'", "E'\\\\'''"],
  ])('when given %j then it returns %s', (input, expected) => {
    expect(quoteLiteral(input)).toBe(expected);
  });

  it('when the value holds a NUL byte then the error does not repeat the value', () => {
    const secret = 'hunter2\0tail';
    try {
      quoteLiteral(secret);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(UserError);
      expect((err as Error).message).not.toContain('hunter2');
    }
  });
});

describe('stagingDatabaseName', () => {
  it('when called twice for one name then it is the same, and differs per instance and per name', () => {
    const a = stagingDatabaseName('previewd', 'preview_acme_pr_1');
    expect(stagingDatabaseName('previewd', 'preview_acme_pr_1')).toBe(a);
    expect(stagingDatabaseName('other', 'preview_acme_pr_1')).not.toBe(a);
    expect(stagingDatabaseName('previewd', 'preview_acme_pr_2')).not.toBe(a);
    expect(Buffer.byteLength(a)).toBeLessThanOrEqual(63);
    expect(() => quoteIdent(a)).not.toThrow();
  });
});

describe('scramVerifier', () => {
  it('when given a password and salt then the stored and server keys follow RFC 5802', () => {
    const salt = Buffer.from('0123456789abcdef');
    const verifier = scramVerifier('s3cret pass', { salt, iterations: 4096 });
    const match = /^SCRAM-SHA-256\$4096:([^$]+)\$([^:]+):(.+)$/.exec(verifier ?? '');
    expect(match).not.toBeNull();
    expect(Buffer.from(match![1]!, 'base64')).toEqual(salt);
    // Independent recomputation: a client proof built from the password must verify against StoredKey.
    const salted = pbkdf2Sync('s3cret pass', salt, 4096, 32, 'sha256');
    const clientKey = createHmac('sha256', salted).update('Client Key').digest();
    expect(createHash('sha256').update(clientKey).digest().toString('base64')).toBe(match![2]);
    expect(createHmac('sha256', salted).update('Server Key').digest().toString('base64')).toBe(match![3]);
    expect(verifier).not.toContain('s3cret');
  });

  it('when called twice then each verifier has its own random salt', () => {
    expect(scramVerifier('same')).not.toBe(scramVerifier('same'));
  });

  it('when the password is not printable ASCII then it returns null (SASLprep would apply)', () => {
    expect(scramVerifier('pässwort')).toBeNull();
    expect(scramVerifier('tab\there')).toBeNull();
  });
});

import { describe, expect, it } from 'vitest';
import { TransientError, UserError } from '../errors.js';
import { mapPgError, scrubPgError } from './pg-errors.js';

const pgError = (code: string, message = 'boom') => Object.assign(new Error(message), { code, severity: 'ERROR' });

describe('mapPgError', () => {
  it.each([
    ['refused connection', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })],
    ['server shutting down', pgError('57P01')],
    ['too many connections', pgError('53300')],
    ['connection failure class 08', pgError('08006')],
    ['lost connection without code', new Error('Connection terminated unexpectedly')],
    ['query timeout of a hung server', new Error('Query read timeout')],
    ['pool connect timeout', new Error('timeout exceeded when trying to connect')],
  ])('when the error is a %s then it becomes a TransientError for postgres keeping the cause', (_label, err) => {
    const mapped = mapPgError(err, 'do things');
    expect(mapped).toBeInstanceOf(TransientError);
    expect((mapped as TransientError).system).toBe('postgres');
    expect((mapped as TransientError).cause).toBe(err);
  });

  it('when the error is a syntax error then it is returned unchanged', () => {
    const syntax = pgError('42601');
    expect(mapPgError(syntax, 'x')).toBe(syntax);
  });

  it.each([
    ['42501', 'must be able to SET ROLE "preview_acme_pr_1"'],
    ['42501', 'must be member of role "preview_acme_pr_1"'],
    ['42501', 'permission denied to copy database "tpl"'],
    ['0LP01', 'grant options cannot be granted back to your own grantor'],
    ['28000', 'no pg_hba.conf entry for host'],
    ['28P01', 'password authentication failed for user "previewd"'],
  ])('when Postgres refuses a privilege (%s %s) then it is a permanent UserError naming what was tried and the SQLSTATE', (code, message) => {
    const denied = pgError(code, message);
    const mapped = mapPgError(denied, 'hand database x to role y');
    expect(mapped).toBeInstanceOf(UserError);
    expect((mapped as UserError).system).toBe('postgres');
    expect((mapped as Error).message).toContain('hand database x to role y');
    expect((mapped as Error).message).toContain(message);
    expect((mapped as Error).message).toContain(`SQLSTATE ${code}`);
    expect((mapped as Error).cause).toBe(denied);
  });
});

describe('scrubPgError', () => {
  it('when a message, detail or hint quotes the secret then the copy has it redacted and keeps the SQLSTATE', () => {
    const err = Object.assign(new Error('syntax error at or near "hunter2"'), { code: '42601', detail: 'value hunter2', hint: 'hunter2?' });
    const clean = scrubPgError(err, ['hunter2']) as Error & { code?: string; detail?: string; hint?: string };
    expect(clean.message).toBe('syntax error at or near "[redacted]"');
    expect(clean.code).toBe('42601');
    expect(JSON.stringify({ ...clean, message: clean.message, stack: clean.stack })).not.toContain('hunter2');
    expect(clean.cause).toBeUndefined();
  });
});

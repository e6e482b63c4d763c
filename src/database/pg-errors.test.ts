import { describe, expect, it } from 'vitest';
import { ConflictError, TransientError, UserError } from '../errors.js';
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
    ['statement timeout', pgError('57014', 'canceling statement due to statement timeout')],
    ['database dropped while connected', pgError('57P04')],
    ['serialization failure', pgError('40001')],
    ['deadlock', pgError('40P01')],
    ['disk full', pgError('53100', 'could not extend file')],
    ['out of memory', pgError('53200')],
    ['I/O error', pgError('58030')],
    ['template in use by another session', pgError('55006', 'source database "tpl" is being accessed by other users')],
    ['lock not available', pgError('55P03')],
  ])('when the server reports a %s then it is transient too', (_label, err) => {
    expect(mapPgError(err, 'do things')).toBeInstanceOf(TransientError);
  });

  it.each([
    ['42804', 'datatype mismatch'],
    ['42P18', 'could not determine data type of parameter $1'],
    ['08P01', 'protocol violation'],
  ])('when previewd sent a malformed statement (%s) then the error is returned unchanged: a bug, not an outage', (code, message) => {
    const err = pgError(code, message);
    expect(mapPgError(err, 'x')).toBe(err);
  });

  it.each([
    ['23505', 'duplicate key value violates unique constraint "environments_env_id_key"'],
    ['23503', 'insert or update on table "environment_events" violates foreign key constraint'],
    ['42P04', 'database "preview_acme_1" already exists'],
    ['42710', 'role "preview_acme_1" already exists'],
  ])('when another writer got in first (%s) then it is a ConflictError for postgres naming what was tried and the SQLSTATE', (code, message) => {
    const err = pgError(code, message);
    const mapped = mapPgError(err, 'create database x');
    expect(mapped).toBeInstanceOf(ConflictError);
    expect((mapped as ConflictError).system).toBe('postgres');
    expect((mapped as Error).message).toContain('create database x');
    expect((mapped as Error).message).toContain(`SQLSTATE ${code}`);
    expect((mapped as Error).cause).toBe(err);
  });

  it.each([
    ['42P01', 'relation "previewd.environments" does not exist'],
    ['3D000', 'database "preview_template" does not exist'],
    ['22P02', 'invalid input syntax for type uuid'],
    ['XX000', 'internal error'],
    ['0A000', 'feature not supported'],
  ])('when Postgres answers any other SQLSTATE (%s) then it is a permanent UserError naming what was tried, what it said and the SQLSTATE', (code, message) => {
    const err = pgError(code, message);
    const mapped = mapPgError(err, 'read the environment');
    expect(mapped).toBeInstanceOf(UserError);
    expect((mapped as Error).message).toBe(`postgres refused to read the environment: ${message} (SQLSTATE ${code})`);
    expect((mapped as Error).cause).toBe(err);
  });

  it.each([
    ['an error of our own use of the client', new Error('Client was closed and is not queryable')],
    ['an error whose code is not a SQLSTATE', Object.assign(new Error('odd'), { code: 'ERR_INVALID_ARG_TYPE' })],
  ])('when the error is %s then it is returned unchanged: a bug', (_label, err) => {
    expect(mapPgError(err, 'x')).toBe(err);
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

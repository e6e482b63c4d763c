import { describe, expect, it } from 'vitest';
import { ConflictError, OwnershipError, StaleFenceError, TransientError, UserError } from '../errors.js';
import { redactPatterns, safeErrorLine } from '../secrets.js';
import { backoffDelay, bugStack, classifyFailure } from './retry-policy.js';

describe('classifyFailure', () => {
  it.each([
    ['a TransientError', new TransientError('nomad 503'), 'transient'],
    ['a ConflictError', new ConflictError('modify index moved'), 'transient'],
    ['a refused connection', Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }), 'transient'],
    ['a UserError', new UserError('template does not parse'), 'permanent'],
    ['an OwnershipError', new OwnershipError('job lacks our marker'), 'permanent'],
    ['a write refused by a newer lock holder', new StaleFenceError('fence moved', { token: 3, fence: 4 }), 'transient'],
    ['an aborted wait', Object.assign(new Error('aborted'), { name: 'AbortError' }), 'transient'],
    ['a plain Error', new Error('no rendered job for component web'), 'bug'],
    ['a TypeError', new TypeError("Cannot read properties of undefined (reading 'id')"), 'bug'],
    ['a RangeError', new RangeError('Invalid time value'), 'bug'],
    ['a thrown string', 'boom', 'bug'],
    ['a thrown undefined', undefined, 'bug'],
    ['an error with an unknown code', Object.assign(new Error('odd'), { code: 'XX000' }), 'bug'],
  ] as const)('when the failure is %s then it is %s', (_name, err, kind) => {
    expect(classifyFailure(err)).toBe(kind);
  });
});

describe('bugStack', () => {
  it('when a bug carries a secret-looking value then its stack keeps the frames and loses the value', () => {
    const err = new Error('connect postgres://preview_x:s3cr3t-pw@db:5432/preview_x');
    const stack = bugStack(err);
    expect(stack).not.toContain('s3cr3t-pw');
    expect(stack).toMatch(/^Error: connect postgres:\/\/preview_x:\[redacted\]@/);
    expect(stack).toContain('retry-policy.test.ts');
  });

  it('when a stack is huge then it is bounded', () => {
    const err = new Error('x'.repeat(10_000));
    expect(bugStack(err, 500).length).toBeLessThanOrEqual(500);
  });

  it('when something other than an Error is thrown then its type is named, not its value', () => {
    expect(bugStack('hunter2hunter2')).toBe('thrown non-Error: string');
  });
});

describe('backoffDelay', () => {
  const options = { baseMs: 1000, maxMs: 60_000, jitter: 0.5 };

  it('when there is no jitter draw then delays double per attempt up to the cap', () => {
    const delays = [1, 2, 3, 4, 7, 8, 20].map((attempt) => backoffDelay(attempt, options, () => 0));
    expect(delays).toEqual([1000, 2000, 4000, 8000, 60_000, 60_000, 60_000]);
  });

  it('when jitter draws its maximum then the delay shrinks by the jitter fraction', () => {
    expect(backoffDelay(3, options, () => 1)).toBe(2000);
  });

  it('when many delays are drawn then they spread across the jitter range', () => {
    let seed = 1;
    const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    const delays = Array.from({ length: 200 }, () => backoffDelay(4, options, random));
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(4000);
    expect(Math.max(...delays)).toBeLessThanOrEqual(8000);
    expect(new Set(delays).size).toBeGreaterThan(50);
  });

  it('when the remote asked for a longer wait then that wait is the floor', () => {
    expect(backoffDelay(1, options, () => 0, 30_000)).toBe(30_000);
  });
});

describe('safeErrorMessage', () => {
  it('when a message carries a database URL with a password then the password is gone', () => {
    const text = safeErrorLine(new TransientError('connect postgres://preview_x:s3cr3t-pw@db:5432/preview_x failed'));
    expect(text).not.toContain('s3cr3t-pw');
    expect(text).toContain('TransientError: connect postgres://preview_x:[redacted]@db:5432/preview_x failed');
  });

  it.each([
    ['a GitHub token', 'bad credentials for ghs_16C7e42F292c6912E7710c838347Ae178B4a', 'ghs_16C7e42F292c6912E7710c838347Ae178B4a'],
    ['a Vault token', 'permission denied (token hvs.CAESIJ1234567890abcdef)', 'hvs.CAESIJ1234567890abcdef'],
    ['a password field', 'login failed: password=hunter2hunter2', 'hunter2hunter2'],
    ['a bearer header', 'sent Authorization: Bearer abcdefghijklmnop', 'abcdefghijklmnop'],
  ])('when a message carries %s then it is scrubbed', (_name, message, secret) => {
    expect(redactPatterns(message)).not.toContain(secret);
  });

  it('when a message is long and multi-line then it becomes one bounded line', () => {
    const text = safeErrorLine(new Error(`first\nsecond ${'x'.repeat(1000)}`));
    expect(text.length).toBeLessThanOrEqual(300);
    expect(text).not.toContain('\n');
  });
});

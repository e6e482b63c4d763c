// Turns what node-postgres throws into previewd's error classes, keeping `cause`,
// and scrubs secrets out of errors raised by statements that carried one.
import { isNetworkError, TransientError, UserError } from '../errors.js';
import { createScrubber } from '../secrets.js';

export interface PgErrorLike {
  code?: string;
  message?: string;
  severity?: string;
}

export function pgCode(err: unknown): string | undefined {
  const code = (err as PgErrorLike | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

// SQLSTATEs that mean "the server or the connection is not available right now".
const TRANSIENT_CODES = new Set([
  '53300', // too_many_connections
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '55P03', // lock_not_available
]);

function isTransientPgError(err: unknown): boolean {
  const code = pgCode(err);
  if (code && (TRANSIENT_CODES.has(code) || code.startsWith('08'))) return true;
  if (isNetworkError(err)) return true;
  const message = (err as PgErrorLike | null)?.message ?? '';
  // node-postgres reports lost connections and connect timeouts without a code.
  return /Connection terminated|timeout exceeded when trying to connect|connection timeout|Query read timeout/i.test(message);
}

// SQLSTATEs that mean "previewd's role may not do this": the same statement fails
// the same way until an operator changes a grant, so retrying is pointless.
const PERMISSION_CODES = new Set([
  '42501', // insufficient_privilege: must be owner / member / able to SET ROLE, permission denied
  '0LP01', // invalid_grant_operation
  '0P000', // invalid_role_specification
  '28000', // invalid_authorization_specification: no pg_hba entry, role may not log in
  '28P01', // invalid_password
]);

export function isPermissionPgError(err: unknown): boolean {
  const code = pgCode(err);
  return code !== undefined && PERMISSION_CODES.has(code);
}

/** The UserError for a refused privilege: what previewd tried, what Postgres said, and where the fix is. */
export function permissionError(err: unknown, what: string): UserError {
  const message = (err as PgErrorLike | null)?.message ?? 'permission denied';
  return new UserError(
    `postgres refused to ${what}: ${message} (SQLSTATE ${pgCode(err)}); previewd's role lacks a privilege it needs: see README "Postgres"`,
    { system: 'postgres', cause: err },
  );
}

/** TransientError for outages, UserError for refused privileges; anything else is returned unchanged. */
export function mapPgError(err: unknown, what: string): unknown {
  if (err instanceof TransientError || err instanceof UserError) return err;
  if (isPermissionPgError(err)) return permissionError(err, what);
  if (isTransientPgError(err)) {
    const code = pgCode(err);
    return new TransientError(`postgres unavailable while trying to ${what}${code ? ` (${code})` : ''}`, {
      system: 'postgres',
      code,
      cause: err,
    });
  }
  return err;
}

/**
 * A copy of a pg error whose message and detail cannot contain `secrets`: used for
 * statements that carried a password, so that neither the error nor its `cause`
 * chain (which pino prints) can leak it. Keeps the SQLSTATE for classification.
 */
export function scrubPgError(err: unknown, secrets: string[]): Error {
  const source = err as PgErrorLike & { detail?: string; hint?: string };
  const scrubber = createScrubber(secrets);
  const scrub = (text: string | undefined) => (text ? scrubber(text) : text);
  const copy = new Error(scrub(source?.message) ?? 'postgres error') as Error & { code?: string; detail?: string; hint?: string; severity?: string };
  copy.name = 'PostgresError';
  if (source?.code) copy.code = source.code;
  if (source?.severity) copy.severity = source.severity;
  const detail = scrub(source?.detail);
  if (detail) copy.detail = detail;
  const hint = scrub(source?.hint);
  if (hint) copy.hint = hint;
  // The original carries the statement position only; its stack is ours, not the server's.
  copy.stack = `${copy.name}: ${copy.message}`;
  return copy;
}

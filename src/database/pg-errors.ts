// Turns what node-postgres throws into previewd's error classes, keeping `cause`,
// and scrubs secrets out of errors raised by statements that carried one.
import { ConflictError, isNetworkError, TransientError, UserError } from '../errors.js';
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

// SQLSTATEs that mean "the server or the connection is not available right now", or
// "another session got in the way": the same statement may succeed on a later try.
// https://www.postgresql.org/docs/current/errcodes-appendix.html
const TRANSIENT_CODES = new Set([
  '57014', // query_canceled: statement_timeout, or cancelled by an operator
  '55P03', // lock_not_available
  '55006', // object_in_use: e.g. a template database another session is connected to
]);
// Whole classes: 08 connection exception, 40 transaction rollback (serialization
// failure, deadlock), 53 insufficient resources (too many connections, disk full, out
// of memory), 57P0x operator intervention (shutdown, cannot connect now, database
// dropped while connected) and 58 system error (I/O) are the server's state, not the
// statement's. XX (internal error, corruption) is not here: it needs an operator.
const TRANSIENT_PREFIXES = ['08', '40', '53', '57P0', '58'];

function isTransientPgError(err: unknown): boolean {
  const code = pgCode(err);
  if (code && (TRANSIENT_CODES.has(code) || TRANSIENT_PREFIXES.some((p) => code.startsWith(p)))) return true;
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

// SQLSTATEs that say previewd's own statement is malformed (SQL the server cannot even
// plan): a bug in previewd, so the error stays the server's and the queue parks it as
// a bug with its stack, instead of blaming the PR or the operator.
const MALFORMED_STATEMENT_CODES = new Set([
  '42601', // syntax_error
  '42804', // datatype_mismatch
  '42P02', // undefined_parameter
  '42P08', // ambiguous_parameter
  '42P18', // indeterminate_datatype
  '08P01', // protocol_violation (class 08, but no outage: what we sent was wrong)
]);

// "It is there already" or "it changed under us": another writer (a second replica, a
// concurrent create or drop) got in first; observing again sees what it did.
const CONFLICT_PREFIXES = ['23']; // integrity constraint violation: unique, foreign key, exclusion
const CONFLICT_CODES = new Set([
  '42710', // duplicate_object
  '42P04', // duplicate_database
  '42P06', // duplicate_schema
  '42P07', // duplicate_table
]);

/**
 * Postgres errors as previewd's classes, `cause` kept:
 * - a refused privilege → UserError naming the grant to fix (permissionError);
 * - an outage or a server in trouble → TransientError (retried);
 * - a collision with another writer → ConflictError (observe again);
 * - previewd's own malformed SQL → unchanged: a bug;
 * - any other SQLSTATE (undefined table or database, invalid name, a data error) →
 *   UserError: the server answered, and will answer the same until someone changes
 *   something, so retrying is pointless and the status says what it refused;
 * - anything without a SQLSTATE that is not a lost connection (an Error from our own
 *   use of node-postgres) → unchanged: a bug.
 */
export function mapPgError(err: unknown, what: string): unknown {
  if (err instanceof TransientError || err instanceof UserError || err instanceof ConflictError) return err;
  if (isPermissionPgError(err)) return permissionError(err, what);
  const code = pgCode(err);
  if (code && MALFORMED_STATEMENT_CODES.has(code)) return err;
  if (isTransientPgError(err)) {
    return new TransientError(`postgres unavailable while trying to ${what}${code ? ` (${code})` : ''}`, {
      system: 'postgres',
      code,
      cause: err,
    });
  }
  // A SQLSTATE is five digits or capitals; other `code`s (ERR_…) are not the server's.
  if (!code || !/^[0-9A-Z]{5}$/.test(code)) return err;
  const message = (err as PgErrorLike | null)?.message ?? 'error';
  if (CONFLICT_CODES.has(code) || CONFLICT_PREFIXES.some((p) => code.startsWith(p))) {
    return new ConflictError(`postgres: another writer got in first while trying to ${what}: ${message} (SQLSTATE ${code})`, { system: 'postgres', cause: err });
  }
  return new UserError(`postgres refused to ${what}: ${message} (SQLSTATE ${code})`, { system: 'postgres', cause: err });
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

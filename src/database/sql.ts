// Pure helpers for the DDL previewd sends to Postgres: identifier and literal
// quoting (DDL cannot bind parameters, so every name and value is escaped here),
// the staging name of a database being created, and the SCRAM verifier that lets us
// set a password without ever sending it in clear text. The ownership marker written
// with COMMENT ON is ownership/markers.ts postgresComment.
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { UserError } from '../errors.js';
import { shortHash } from '../environments/naming.js';

const MAX_IDENT_BYTES = 63; // NAMEDATALEN - 1: Postgres silently truncates longer names

/**
 * `"name"` with embedded quotes doubled. Names come from naming.ts but are treated
 * as untrusted: NUL is refused (it would cut the statement) and so is anything
 * longer than 63 bytes, because Postgres would truncate it and two different names
 * could then address the same database.
 */
export function quoteIdent(name: string): string {
  if (name.length === 0) throw new UserError('empty Postgres identifier', { system: 'postgres' });
  if (name.includes('\0')) throw new UserError('Postgres identifier contains a NUL byte', { system: 'postgres' });
  if (Buffer.byteLength(name, 'utf8') > MAX_IDENT_BYTES) {
    throw new UserError(`Postgres identifier "${name.slice(0, 20)}…" is longer than ${MAX_IDENT_BYTES} bytes`, { system: 'postgres' });
  }
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * A string literal that is safe whatever `standard_conforming_strings` says: quotes
 * doubled, and with backslashes present the E'' form with backslashes doubled.
 * The error never repeats the value (it may be a password).
 */
export function quoteLiteral(value: string): string {
  if (value.includes('\0')) throw new UserError('Postgres string literal contains a NUL byte', { system: 'postgres' });
  const quoted = value.replaceAll("'", "''");
  return value.includes('\\') ? `E'${quoted.replaceAll('\\', '\\\\')}'` : `'${quoted}'`;
}

/**
 * The name a database is created under before it is marked and renamed to its
 * final name (see ensureDatabase). Deterministic per instance and final name, so a
 * rerun after a crash finds the leftover; the fixed prefix and hash cannot be
 * produced by naming.ts (whose names start with the configured prefix).
 */
export function stagingDatabaseName(instance: string, finalName: string): string {
  return `previewd_staging_${shortHash(`${instance}\0${finalName}`, 24)}`;
}

/**
 * The names of a template's warm-pool spares (database/warm-pool.ts): this prefix,
 * then the slot number. Per instance and template; like the staging name, a shape
 * naming.ts cannot produce, so the prefix alone says a database is a spare of ours.
 */
export function spareNamePrefix(instance: string, template: string): string {
  return `previewd_spare_${shortHash(`${instance}\0${template}`, 24)}_`;
}

export function spareDatabaseName(instance: string, template: string, slot: number): string {
  return `${spareNamePrefix(instance, template)}${slot}`;
}

// ---- SCRAM-SHA-256 verifier ----------------------------------------------------

/**
 * The verifier Postgres stores for a SCRAM-SHA-256 password (RFC 5802/7677, the
 * format of pg_authid.rolpassword). Sending it in `PASSWORD '…'` sets the password
 * without its clear text ever reaching the server, its statement log or
 * pg_stat_activity. Only for printable-ASCII passwords, where SASLprep (which
 * Postgres applies before hashing) is the identity; the caller falls back to the
 * clear-text literal otherwise. Returns null for such passwords.
 */
export function scramVerifier(password: string, options: { salt?: Buffer; iterations?: number } = {}): string | null {
  if (!/^[\x20-\x7e]+$/.test(password)) return null;
  const salt = options.salt ?? randomBytes(16);
  const iterations = options.iterations ?? 4096;
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

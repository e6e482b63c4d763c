// The connection pool of one reader of previewd's state schema (the environment store,
// the fork approvals, the e2e runs) and the one check of the schema's name: every one
// of them gets the same bounds, so none can hang on a server that stopped answering.
import pg from 'pg';
import type { Logger } from 'pino';
import { UserError } from '../errors.js';
import { mapPgError } from './pg-errors.js';

// node-pg-migrate interpolates the schema into its own SQL unescaped: only plain names pass.
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** The schema's name, or a UserError naming it: it is written into SQL unquoted elsewhere. */
export function stateSchema(schema = 'previewd'): string {
  if (!SCHEMA_NAME.test(schema)) throw new UserError(`invalid state schema name "${schema}"`, { system: 'config' });
  return schema;
}

/**
 * State queries are small: a server that does not answer in 30 s is an outage (retried),
 * and one not accepting a connection in 10 s is too. `what` names the reader in the log
 * line of an idle connection's error.
 */
export function createStatePool(options: { databaseUrl: string; max: number; log: Logger; what: string }): pg.Pool {
  const pool = new pg.Pool({ connectionString: options.databaseUrl, max: options.max, connectionTimeoutMillis: 10_000, query_timeout: 30_000 });
  pool.on('error', (err) => options.log.warn({ err: mapPgError(err, 'keep an idle connection') }, `postgres ${options.what} connection lost`));
  return pool;
}

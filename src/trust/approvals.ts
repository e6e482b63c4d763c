// Which head SHA of a fork PR a user with write access approved (issue 13 §3), in
// Postgres beside the environments (migrations/*_fork-approvals.sql; the environment
// store's migrate() creates the table). An approval is replaced by the next one and
// deleted when the opt-in label is removed; a PR without a row is not approved.
import pg from 'pg';
import type { Logger } from 'pino';
import { mapPgError } from '../database/pg-errors.js';
import { UserError } from '../errors.js';
import { isValidKey, type EnvironmentKey } from '../environments/naming.js';

export interface ForkApproval {
  sha: string;
  /** The approver's login, as GitHub named it. */
  by: string;
  at: Date;
}

export interface ApprovalStore {
  get(key: EnvironmentKey): Promise<ForkApproval | null>;
  /** Every approval of one repository's PRs, by PR number (resync decides a whole listing at once). */
  listForRepo(repo: string): Promise<Map<number, ForkApproval>>;
  /** Approves `sha` for the PR, replacing any earlier approval. */
  approve(key: EnvironmentKey, sha: string, by: string): Promise<void>;
  /** Withdraws the PR's approval (none left is not an error). */
  revoke(key: EnvironmentKey): Promise<void>;
  close(): Promise<void>;
}

const SHA = /^[0-9a-f]{40}$/;
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

interface ApprovalRow {
  pr: number;
  sha: string;
  approved_by: string;
  approved_at: Date;
}

const toApproval = (row: ApprovalRow): ForkApproval => ({ sha: row.sha, by: row.approved_by, at: row.approved_at });

export function createApprovalStore(options: { databaseUrl: string; schema?: string; log: Logger; maxConnections?: number }): ApprovalStore {
  const schema = options.schema ?? 'previewd';
  if (!SCHEMA_NAME.test(schema)) throw new UserError(`invalid state schema name "${schema}"`, { system: 'config' });
  const table = `"${schema}".fork_approvals`;
  const pool = new pg.Pool({ connectionString: options.databaseUrl, max: options.maxConnections ?? 2, connectionTimeoutMillis: 10_000, query_timeout: 30_000 });
  pool.on('error', (err) => options.log.warn({ err: mapPgError(err, 'keep an idle connection') }, 'postgres approvals connection lost'));

  async function query<R extends pg.QueryResultRow>(what: string, text: string, values: unknown[]): Promise<pg.QueryResult<R>> {
    try {
      return await pool.query<R>(text, values);
    } catch (err) {
      throw mapPgError(err, what);
    }
  }

  const checkKey = (key: EnvironmentKey) => {
    if (!isValidKey(key)) throw new UserError(`invalid environment key ${JSON.stringify(key)}`);
  };

  return {
    async get(key) {
      checkKey(key);
      const { rows } = await query<ApprovalRow>('read a fork approval', `SELECT pr, sha, approved_by, approved_at FROM ${table} WHERE repo = $1 AND pr = $2`, [key.repo, key.pr]);
      return rows[0] ? toApproval(rows[0]) : null;
    },
    async listForRepo(repo) {
      const { rows } = await query<ApprovalRow>('list fork approvals', `SELECT pr, sha, approved_by, approved_at FROM ${table} WHERE repo = $1`, [repo]);
      return new Map(rows.map((r) => [r.pr, toApproval(r)]));
    },
    async approve(key, sha, by) {
      checkKey(key);
      if (!SHA.test(sha)) throw new UserError('invalid approved sha');
      // Display text from GitHub: bounded, NUL-free (Postgres text cannot hold NUL).
      const login = by.replaceAll('\0', '').slice(0, 100);
      await query(
        'record a fork approval',
        `INSERT INTO ${table} (repo, pr, sha, approved_by) VALUES ($1, $2, $3, $4)
         ON CONFLICT (repo, pr) DO UPDATE SET sha = EXCLUDED.sha, approved_by = EXCLUDED.approved_by, approved_at = now()`,
        [key.repo, key.pr, sha, login],
      );
    },
    async revoke(key) {
      checkKey(key);
      await query('withdraw a fork approval', `DELETE FROM ${table} WHERE repo = $1 AND pr = $2`, [key.repo, key.pr]);
    },
    async close() {
      await pool.end();
    },
  };
}

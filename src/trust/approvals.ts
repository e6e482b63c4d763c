// Which head SHA of a fork PR a user with write access approved (issue 13 §3), in
// Postgres beside the environments (migrations/*_fork-approvals.sql; the environment
// store's migrate() creates the table). An approval is replaced by the next one and
// withdrawn when the opt-in label is removed; a PR without a row is not approved. The
// same row holds the PR's trust notice (the latest thing previewd tells the PR about its
// trust), written in the statement that decides it: the sticky comment renders it
// (environments/reconcile.ts), so it survives a crash right after the webhook answers.
import pg from 'pg';
import type { Logger } from 'pino';
import { mapPgError } from '../database/pg-errors.js';
import { createStatePool, stateSchema } from '../database/state-pool.js';
import { UserError } from '../errors.js';
import { isValidKey, type EnvironmentKey } from '../environments/naming.js';

export interface ForkApproval {
  sha: string;
  /** The approver's login, as GitHub named it. */
  by: string;
  at: Date;
}

/** What the PR's sticky comment says about its fork trust: previewd's own text, and when it was decided. */
export interface TrustNotice {
  text: string;
  at: Date;
}

export interface ApprovalStore {
  get(key: EnvironmentKey): Promise<ForkApproval | null>;
  /** Every approval of one repository's PRs, by PR number (resync decides a whole listing at once). */
  listForRepo(repo: string): Promise<Map<number, ForkApproval>>;
  /** The PR's trust notice, or null when there is nothing to tell. */
  getNotice(key: EnvironmentKey): Promise<TrustNotice | null>;
  /** Approves `sha` for the PR, replacing any earlier approval, and records `notice` with it. */
  approve(key: EnvironmentKey, sha: string, by: string, notice: string): Promise<void>;
  /** Withdraws the PR's approval (none left is not an error) and records `notice`; without one, the PR's notice goes too. */
  revoke(key: EnvironmentKey, notice?: string | null): Promise<void>;
  /**
   * Records the PR's trust notice, keeping its approval as it is. The same text again keeps
   * its time (a redelivery rewrites nothing on the PR); notice_at is what the comment's
   * report key follows.
   */
  recordNotice(key: EnvironmentKey, notice: string): Promise<void>;
  close(): Promise<void>;
}

const SHA = /^[0-9a-f]{40}$/;

interface ApprovalRow {
  pr: number;
  sha: string;
  approved_by: string;
  approved_at: Date;
}

/** Display text bounded and NUL-free (Postgres text cannot hold NUL). */
const storable = (text: string, max: number) => text.replaceAll('\0', '').slice(0, max);
const MAX_NOTICE = 1000;

const toApproval = (row: ApprovalRow): ForkApproval => ({ sha: row.sha, by: row.approved_by, at: row.approved_at });

export function createApprovalStore(options: { databaseUrl: string; schema?: string; log: Logger; maxConnections?: number }): ApprovalStore {
  const table = `"${stateSchema(options.schema)}".fork_approvals`;
  const pool = createStatePool({ databaseUrl: options.databaseUrl, max: options.maxConnections ?? 2, log: options.log, what: 'approvals' });

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
      const { rows } = await query<ApprovalRow>('read a fork approval', `SELECT pr, sha, approved_by, approved_at FROM ${table} WHERE repo = $1 AND pr = $2 AND sha IS NOT NULL`, [key.repo, key.pr]);
      return rows[0] ? toApproval(rows[0]) : null;
    },
    async listForRepo(repo) {
      const { rows } = await query<ApprovalRow>('list fork approvals', `SELECT pr, sha, approved_by, approved_at FROM ${table} WHERE repo = $1 AND sha IS NOT NULL`, [repo]);
      return new Map(rows.map((r) => [r.pr, toApproval(r)]));
    },
    async getNotice(key) {
      checkKey(key);
      const { rows } = await query<{ notice: string; notice_at: Date }>('read a fork trust notice', `SELECT notice, notice_at FROM ${table} WHERE repo = $1 AND pr = $2 AND notice IS NOT NULL`, [key.repo, key.pr]);
      return rows[0] ? { text: rows[0].notice, at: rows[0].notice_at } : null;
    },
    async approve(key, sha, by, notice) {
      checkKey(key);
      if (!SHA.test(sha)) throw new UserError('invalid approved sha');
      await query(
        'record a fork approval',
        `INSERT INTO ${table} AS held (repo, pr, sha, approved_by, approved_at, notice, notice_at) VALUES ($1, $2, $3, $4, now(), $5, clock_timestamp())
         ON CONFLICT (repo, pr) DO UPDATE SET sha = EXCLUDED.sha, approved_by = EXCLUDED.approved_by, approved_at = now(), notice = EXCLUDED.notice, notice_at = CASE WHEN held.notice IS NOT DISTINCT FROM EXCLUDED.notice THEN held.notice_at ELSE EXCLUDED.notice_at END`,
        [key.repo, key.pr, sha, storable(by, 100), storable(notice, MAX_NOTICE)],
      );
    },
    async revoke(key, notice = null) {
      checkKey(key);
      if (notice === null) {
        // Nothing to tell: any earlier notice spoke of what is withdrawn, and goes with it.
        await query('withdraw a fork approval', `DELETE FROM ${table} WHERE repo = $1 AND pr = $2`, [key.repo, key.pr]);
        return;
      }
      await query(
        'withdraw a fork approval',
        `INSERT INTO ${table} AS held (repo, pr, notice, notice_at) VALUES ($1, $2, $3, clock_timestamp())
         ON CONFLICT (repo, pr) DO UPDATE SET sha = NULL, approved_by = NULL, approved_at = NULL, notice = EXCLUDED.notice, notice_at = CASE WHEN held.notice IS NOT DISTINCT FROM EXCLUDED.notice THEN held.notice_at ELSE EXCLUDED.notice_at END`,
        [key.repo, key.pr, storable(notice, MAX_NOTICE)],
      );
    },
    async recordNotice(key, notice) {
      checkKey(key);
      await query(
        'record a fork trust notice',
        `INSERT INTO ${table} AS held (repo, pr, notice, notice_at) VALUES ($1, $2, $3, clock_timestamp())
         ON CONFLICT (repo, pr) DO UPDATE SET notice = EXCLUDED.notice, notice_at = CASE WHEN held.notice IS NOT DISTINCT FROM EXCLUDED.notice THEN held.notice_at ELSE EXCLUDED.notice_at END`,
        [key.repo, key.pr, storable(notice, MAX_NOTICE)],
      );
    },
    async close() {
      await pool.end();
    },
  };
}

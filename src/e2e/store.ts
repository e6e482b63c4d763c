// The e2e_runs table: the one test run of each PR. Every transition is a compare-and-set
// on (attempt, state), so a pass of another replica, or a pass repeated after a crash,
// changes nothing twice. Reads the environments table (same schema) for what is ready.
import pg from 'pg';
import type { Logger } from 'pino';
import { mapPgError } from '../database/pg-errors.js';
import { createStatePool, stateSchema } from '../database/state-pool.js';
import { UserError } from '../errors.js';
import type { EnvironmentKey } from '../environments/naming.js';
import type { E2eEnvironment, E2eRun, E2eState } from './types.js';

export interface E2eStore {
  /** Every PR the gate may have work for: ready environments of these repos, and unfinished runs. */
  listWork(repos: string[]): Promise<{ key: EnvironmentKey; env: E2eEnvironment | null; run: E2eRun | null }[]>;
  get(key: EnvironmentKey): Promise<E2eRun | null>;
  /** A new run at `sha` replacing the PR's row unless it holds an active run (returns it, or null when refused). */
  queue(key: EnvironmentKey, sha: string, expect: { attempt: number | null }): Promise<E2eRun | null>;
  /** Queued → running when fewer than `limit` runs are running (one lock for every replica). */
  claimStart(key: EnvironmentKey, attempt: number, limit: number, jobId: string): Promise<boolean>;
  /** Writes `patch` if the run is still this attempt in one of `states`. */
  update(key: EnvironmentKey, expect: { attempt: number; states: E2eState[] }, patch: Partial<Omit<E2eRun, 'key' | 'attempt' | 'queuedAt'>>): Promise<boolean>;
  /** A finished (or never started) run queued again at its SHA, attempt + 1; false while one is active or none exists. */
  requeue(key: EnvironmentKey): Promise<boolean>;
  /**
   * The right to create this attempt's check run, for one replica: true when no check run
   * exists and no other claim is younger than a minute (a claim is a negative epoch in
   * check_run_id, replaced by the run's ID once created).
   */
  claimCheckRun(key: EnvironmentKey, attempt: number): Promise<boolean>;
  countRunning(): Promise<number>;
  close(): Promise<void>;
}

interface Row {
  repo: string;
  pr: number;
  sha: string;
  state: E2eState;
  attempt: number;
  job_id: string | null;
  eval_id: string | null;
  reason: string | null;
  output: string | null;
  queued_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  check_run_id: string | null;
  reported: string | null;
  job_purged: boolean;
}

function toRun(r: Row): E2eRun {
  return {
    key: { repo: r.repo, pr: r.pr },
    sha: r.sha,
    state: r.state,
    attempt: r.attempt,
    jobId: r.job_id,
    evalId: r.eval_id,
    reason: r.reason,
    output: r.output,
    queuedAt: r.queued_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    checkRunId: r.check_run_id === null ? null : Number(r.check_run_id),
    reported: r.reported,
    jobPurged: r.job_purged,
  };
}

const COLUMNS: Record<string, string> = {
  sha: 'sha',
  state: 'state',
  jobId: 'job_id',
  evalId: 'eval_id',
  reason: 'reason',
  output: 'output',
  startedAt: 'started_at',
  finishedAt: 'finished_at',
  checkRunId: 'check_run_id',
  reported: 'reported',
  jobPurged: 'job_purged',
};

/** Advisory lock key of the concurrency bound (one per state schema). */
const START_LOCK = 0x0e2e;

export function createE2eStore(options: { databaseUrl: string; schema?: string; log: Logger; maxConnections?: number }): E2eStore {
  const schema = stateSchema(options.schema);
  const runs = `"${schema}".e2e_runs`;
  const environments = `"${schema}".environments`;
  const pool = createStatePool({ databaseUrl: options.databaseUrl, max: options.maxConnections ?? 2, log: options.log, what: 'e2e runs' });

  async function query<T extends pg.QueryResultRow>(what: string, sql: string, params: unknown[] = []): Promise<pg.QueryResult<T>> {
    try {
      return await pool.query<T>(sql, params);
    } catch (err) {
      throw mapPgError(err, what);
    }
  }

  return {
    async listWork(repos) {
      const envCols = `e.repo AS e_repo, e.pr AS e_pr, e.desired_present, e.desired_sha, e.status, e.observed_sha`;
      const result = await query<Row & { e_repo: string | null; e_pr: number | null; desired_present: boolean | null; desired_sha: string | null; status: string | null; observed_sha: string | null }>(
        'list e2e work',
        `SELECT r.*, ${envCols} FROM ${environments} e
           LEFT JOIN ${runs} r ON r.repo = e.repo AND r.pr = e.pr
          WHERE e.repo = ANY($1::text[])
            AND ((e.status = 'ready' AND e.observed_sha = e.desired_sha AND (r.sha IS NULL OR r.sha <> e.observed_sha))
                 OR r.state IN ('queued', 'running') OR (r.repo IS NOT NULL AND NOT r.job_purged)
                 OR (r.repo IS NOT NULL AND r.reported IS DISTINCT FROM r.sha || ':' || r.attempt || ':' || r.state))
         UNION ALL
         SELECT r.*, NULL, NULL, NULL, NULL, NULL, NULL FROM ${runs} r
          WHERE NOT EXISTS (SELECT 1 FROM ${environments} e WHERE e.repo = r.repo AND e.pr = r.pr)
            AND (r.state IN ('queued', 'running') OR NOT r.job_purged)`,
        [repos],
      );
      return result.rows.map((row) => {
        const key = { repo: (row.e_repo ?? row.repo)!, pr: (row.e_pr ?? row.pr)! };
        const env: E2eEnvironment | null =
          row.e_repo === null
            ? null
            : { present: row.desired_present === true, desiredSha: row.desired_sha, readySha: row.status === 'ready' && row.observed_sha === row.desired_sha ? row.observed_sha : null };
        return { key, env, run: row.repo ? toRun(row) : null };
      });
    },

    async get(key) {
      const r = await query<Row>('read e2e run', `SELECT * FROM ${runs} WHERE repo = $1 AND pr = $2`, [key.repo, key.pr]);
      return r.rows[0] ? toRun(r.rows[0]) : null;
    },

    async queue(key, sha, expect) {
      // Inserted, or replacing exactly the row the caller planned from (its attempt), never an active one.
      const r = await query<Row>(
        'queue e2e run',
        `INSERT INTO ${runs} (repo, pr, sha, state) VALUES ($1, $2, $3, 'queued')
         ON CONFLICT (repo, pr) DO UPDATE SET sha = EXCLUDED.sha, state = 'queued', attempt = ${runs}.attempt + 1,
           job_id = NULL, eval_id = NULL, reason = NULL, output = NULL, queued_at = now(), started_at = NULL, finished_at = NULL,
           check_run_id = NULL, reported = NULL, job_purged = false, updated_at = now()
         WHERE ${runs}.state NOT IN ('queued', 'running') AND ${runs}.attempt = $4
         RETURNING *`,
        [key.repo, key.pr, sha, expect.attempt ?? 0],
      );
      return r.rows[0] ? toRun(r.rows[0]) : null;
    },

    async claimStart(key, attempt, limit, jobId) {
      const client = await pool.connect().catch((err: unknown) => {
        throw mapPgError(err, 'start e2e run');
      });
      try {
        await client.query('BEGIN');
        await client.query('SELECT pg_advisory_xact_lock($1)', [START_LOCK]);
        const running = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${runs} WHERE state = 'running'`);
        let claimed = false;
        if (Number(running.rows[0]!.n) < limit) {
          const r = await client.query(
            `UPDATE ${runs} SET state = 'running', job_id = $4, started_at = now(), updated_at = now() WHERE repo = $1 AND pr = $2 AND attempt = $3 AND state = 'queued'`,
            [key.repo, key.pr, attempt, jobId],
          );
          claimed = r.rowCount === 1;
        }
        await client.query('COMMIT');
        return claimed;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw mapPgError(err, 'start e2e run');
      } finally {
        client.release();
      }
    },

    async update(key, expect, patch) {
      const sets: string[] = ['updated_at = now()'];
      const params: unknown[] = [key.repo, key.pr, expect.attempt, expect.states];
      for (const [field, value] of Object.entries(patch)) {
        const column = COLUMNS[field];
        if (!column || value === undefined) continue;
        params.push(value);
        sets.push(`${column} = $${params.length}`);
      }
      const r = await query('update e2e run', `UPDATE ${runs} SET ${sets.join(', ')} WHERE repo = $1 AND pr = $2 AND attempt = $3 AND state = ANY($4::text[])`, params);
      return r.rowCount === 1;
    },

    async requeue(key) {
      const r = await query(
        'rerun e2e',
        `UPDATE ${runs} SET state = 'queued', attempt = attempt + 1, job_id = NULL, eval_id = NULL, reason = NULL, output = NULL, queued_at = now(),
           started_at = NULL, finished_at = NULL, check_run_id = NULL, reported = NULL, job_purged = false, updated_at = now()
          WHERE repo = $1 AND pr = $2 AND state NOT IN ('queued', 'running') AND job_purged`,
        [key.repo, key.pr],
      );
      return r.rowCount === 1;
    },

    async claimCheckRun(key, attempt) {
      const r = await query(
        'claim e2e check run',
        `UPDATE ${runs} SET check_run_id = -floor(extract(epoch FROM now()))::bigint, updated_at = now()
          WHERE repo = $1 AND pr = $2 AND attempt = $3
            AND (check_run_id IS NULL OR (check_run_id < 0 AND -check_run_id < floor(extract(epoch FROM now())) - 60))`,
        [key.repo, key.pr, attempt],
      );
      return r.rowCount === 1;
    },

    async countRunning() {
      const r = await query<{ n: string }>('count e2e runs', `SELECT count(*) AS n FROM ${runs} WHERE state = 'running'`);
      return Number(r.rows[0]!.n);
    },

    close: () => pool.end(),
  };
}

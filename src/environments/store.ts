// previewd's own state in Postgres: one row per environment (desired + observed)
// and an append-only event history. Ordering rules for desired state live in one
// pure function (ordering.ts); recordDesired group-commits: the facts arriving while
// commits are in flight are decided on their rows as read and written together by one
// statement that compare-and-sets each row's per-PR generation, a PR's facts one commit
// after the other in submission order, so concurrent webhooks for one PR cannot
// interleave and a batch writes exactly what one call per fact would. previewd's own
// teardowns (recordTeardown) compare-and-set on the same generation.
// Observed state is written by the holder of the PR's lock: its writes carry the lock's
// fencing token (fenced-store.ts) and are refused once a newer holder wrote. Writes
// without a token (desired state from webhooks, admin and GC; the resume sweep's
// observed writes) neither check nor move the fence. The CLI's reconciles take the
// lock like a worker (queue/locked-reconcile.ts).
import { runner } from 'node-pg-migrate';
import pg from 'pg';
import type { Logger } from 'pino';
import { StaleFenceError, TransientError, UserError } from '../errors.js';
import { mapPgError, pgCode } from '../database/pg-errors.js';
import { createStatePool, stateSchema } from '../database/state-pool.js';
import { packagePath } from '../package-root.js';
import { environmentId, isValidKey, keyString, type EnvironmentKey } from './naming.js';
import { orderGitHubFact, type DesiredBy, type GitHubChange } from './ordering.js';
import { createGroupCommit, type ItemOutcome } from '../group-commit.js';
import type {
  DesiredInput,
  EnvironmentEvent,
  EnvironmentRecord,
  EnvironmentStatus,
  EnvironmentStore,
  HostHeld,
  LaggingEnvironment,
  ObservedPatch,
  TeardownInput,
} from './types.js';
import { LOCK_LOST_EVENT, PARKED_RETRY_EVENT } from './types.js';

export interface EnvironmentStoreOptions {
  databaseUrl: string;
  /** Schema of the state tables (created by migrate()); default "previewd". */
  schema?: string;
  log: Logger;
  /** Pool size; default 5. */
  maxConnections?: number;
  /** Most desired-state facts written by one group commit (default 200). */
  desiredBatchMax?: number;
  /** Desired-state group commits in flight at once, on disjoint PRs (default: the pool size less one, at most 4). */
  desiredCommitsInFlight?: number;
}

const MIGRATIONS_DIR = packagePath('migrations');
const MIGRATIONS_TABLE = 'previewd_migrations';
/** Lost races before recordDesired gives up on a fact (each loss means another writer changed or inserted the PR's row first). */
const MAX_DESIRED_ATTEMPTS = 100;
/** Tries of a whole desired-state statement that collided with another replica's (unique env_id, deadlock). */
const MAX_BATCH_ATTEMPTS = 5;
const STATUSES: readonly EnvironmentStatus[] = ['pending', 'waiting_for_build', 'provisioning', 'ready', 'degraded', 'failed', 'tearing_down', 'removed'];

interface EnvironmentRow {
  repo: string;
  pr: number;
  env_id: string;
  desired_present: boolean;
  desired_sha: string | null;
  desired_reason: string;
  desired_generation: string; // bigint arrives as text
  observed_generation: string;
  pr_updated_at: Date;
  labels: string[];
  pr_title: string | null;
  head_ref: string | null;
  status: EnvironmentStatus;
  observed_sha: string | null;
  last_error: string | null;
  components: Record<string, string>;
  resources: Record<string, unknown>;
  github_deployment_id: string | null;
  github_comment_id: string | null;
  last_push_at: Date;
  ready_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

function rowToRecord(row: EnvironmentRow): EnvironmentRecord {
  return {
    key: { repo: row.repo, pr: row.pr },
    envId: row.env_id,
    desiredPresent: row.desired_present,
    desiredSha: row.desired_sha,
    desiredReason: row.desired_reason,
    desiredGeneration: Number(row.desired_generation),
    observedGeneration: Number(row.observed_generation),
    prUpdatedAt: row.pr_updated_at,
    labels: row.labels,
    title: row.pr_title,
    branch: row.head_ref,
    status: row.status,
    observedSha: row.observed_sha,
    lastError: row.last_error,
    components: row.components,
    resources: row.resources,
    githubDeploymentId: row.github_deployment_id === null ? null : Number(row.github_deployment_id),
    githubCommentId: row.github_comment_id === null ? null : Number(row.github_comment_id),
    lastPushAt: row.last_push_at,
    readyAt: row.ready_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

// Postgres text and jsonb cannot hold NUL; messages often quote remote systems and
// PR data, so a NUL is replaced instead of failing the write.
const clean = (text: string) => text.replaceAll('\0', '\uFFFD');
const cleanOrNull = (text: string | null) => (text === null ? null : clean(text));
const json = (value: unknown) => JSON.stringify(value, (_key, v: unknown) => (typeof v === 'string' ? clean(v) : v));

/** Events deleted per statement when pruning. */
const PRUNE_BATCH = 5_000;

/** Repository, then PR number: one order for every replica's writes. */
const compareKeys = (a: EnvironmentKey, b: EnvironmentKey) => (a.repo < b.repo ? -1 : a.repo > b.repo ? 1 : a.pr - b.pr);

function assertKey(key: EnvironmentKey): void {
  if (!isValidKey(key)) throw new UserError(`invalid environment key ${JSON.stringify(key)}`);
}

function assertDate(value: Date, what: string): void {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw new UserError(`${what} is not a valid date`);
}

/** Thrown inside claimHosts' transaction to roll it back: another environment holds these hosts. */
class HostsHeld extends Error {
  constructor(readonly held: HostHeld[]) {
    super('hosts held by another environment');
  }
}

export function createEnvironmentStore(options: EnvironmentStoreOptions): EnvironmentStore {
  const schema = stateSchema(options.schema);
  const { log } = options;
  const environments = `"${schema}".environments`;
  const events = `"${schema}".environment_events`;
  const hostClaims = `"${schema}".host_claims`;
  /** Moves the fence of the row at $1/$2 to the token at `param` if no newer token wrote it; a row when it did. */
  const fenceClaim = (param: string) => `UPDATE ${environments} SET fence = ${param}::bigint WHERE repo = $1 AND pr = $2 AND fence <= ${param}::bigint RETURNING 1`;
  // The write of a desired-state group commit (commitDesired), one autocommit statement:
  // the facts accepted ($1..$13, one per PR: an update where the row was read at
  // generation $9, an insert where there was none) with a 'desired' event each, and the
  // refused ones' 'desired-ignored' events ($14..$20), each only while its row is still
  // at the generation it was decided on ($20). Returns what landed: the generation of
  // every write, and the refusals (generation null).
  const writeDesiredSql = `WITH v AS (
       SELECT * FROM unnest($1::text[], $2::int[], $3::boolean[], $4::text[], $5::text[], $6::timestamptz[], $7::jsonb[], $8::boolean[], $9::bigint[], $10::text[], $11::text[], $12::text[], $13::text[])
         AS v(repo, pr, present, sha, reason, pr_updated_at, labels, closed, generation, why, title, branch, env_id)
     ), changed AS (
       UPDATE ${environments} AS e SET
         desired_present = v.present,
         desired_sha = v.sha,
         desired_reason = v.reason,
         desired_generation = e.desired_generation + 1,
         desired_by = 'github',
         pr_closed = v.closed,
         pr_updated_at = v.pr_updated_at,
         labels = COALESCE(v.labels, e.labels),
         pr_title = COALESCE(v.title, e.pr_title),
         head_ref = COALESCE(v.branch, e.head_ref),
         status = CASE WHEN v.present AND e.status IN ('removed', 'failed') THEN 'pending' ELSE e.status END,
         last_push_at = CASE WHEN v.sha IS DISTINCT FROM e.desired_sha AND v.sha IS NOT NULL THEN now() ELSE e.last_push_at END,
         updated_at = now()
       FROM v
       WHERE v.generation IS NOT NULL AND e.repo = v.repo AND e.pr = v.pr AND e.desired_generation = v.generation
       RETURNING e.repo, e.pr, e.desired_generation
     ), inserted AS (
       INSERT INTO ${environments} (repo, pr, env_id, desired_present, desired_sha, desired_reason, pr_updated_at, labels, pr_title, head_ref, status, desired_by, pr_closed)
       SELECT repo, pr, env_id, present, sha, reason, pr_updated_at, COALESCE(labels, '[]'::jsonb), title, branch, 'pending', 'github', closed
       FROM v WHERE v.generation IS NULL
       ON CONFLICT (repo, pr) DO NOTHING
       RETURNING repo, pr, desired_generation
     ), written AS (
       SELECT * FROM changed UNION ALL SELECT * FROM inserted
     ), desired_events AS (
       INSERT INTO ${events} (repo, pr, type, message, data)
       SELECT v.repo, v.pr, 'desired', v.reason,
              jsonb_build_object('present', v.present, 'sha', v.sha, 'prUpdatedAt', v.pr_updated_at, 'generation', w.desired_generation, 'by', 'github', 'why', v.why)
       FROM written AS w JOIN v ON v.repo = w.repo AND v.pr = w.pr
     ), refused AS (
       -- FOR SHARE re-reads a row another writer changed meanwhile: a refusal stands only on the row it was decided on.
       SELECT i.* FROM unnest($14::text[], $15::int[], $16::text[], $17::text[], $18::timestamptz[], $19::text[], $20::bigint[]) AS i(repo, pr, message, sha, at, why, generation)
       JOIN ${environments} AS e ON e.repo = i.repo AND e.pr = i.pr AND e.desired_generation = i.generation
       FOR SHARE OF e
     ), ignored_events AS (
       INSERT INTO ${events} (repo, pr, type, message, data)
       SELECT repo, pr, 'desired-ignored', message, jsonb_build_object('sha', sha, 'prUpdatedAt', at, 'why', why) FROM refused
     )
     SELECT repo, pr, desired_generation AS generation FROM written
     UNION ALL SELECT repo, pr, NULL FROM refused`;
  // The rows the facts of a commit are decided on: each PR's own, and any row (of another
  // repository) already holding a new PR's environment ID. Two index lookups: an OR of
  // the two made Postgres scan the whole table.
  const readDesiredSql = `SELECT repo, pr, env_id, desired_generation AS generation, pr_updated_at, desired_sha, desired_by, desired_present, pr_closed
     FROM ${environments} JOIN unnest($1::text[], $2::int[]) AS k(repo, pr) USING (repo, pr)
     UNION
     SELECT repo, pr, env_id, desired_generation, pr_updated_at, desired_sha, desired_by, desired_present, pr_closed
     FROM ${environments} WHERE env_id = ANY($3::text[])`;
  const pool = createStatePool({ databaseUrl: options.databaseUrl, max: options.maxConnections ?? 5, log, what: 'state' });

  async function query<R extends pg.QueryResultRow>(what: string, text: string, values: unknown[] = []): Promise<pg.QueryResult<R>> {
    try {
      return await pool.query<R>(text, values);
    } catch (err) {
      throw mapPgError(err, what);
    }
  }

  async function migrate(): Promise<void> {
    const started = Date.now();
    try {
      const applied = await runner({
        databaseUrl: options.databaseUrl,
        dir: MIGRATIONS_DIR,
        direction: 'up',
        migrationsTable: MIGRATIONS_TABLE,
        schema,
        createSchema: true,
        singleTransaction: true,
        // The default ('fail') makes a second replica starting at the same moment
        // throw "Another migration is already running"; waiting for the advisory
        // lock and then finding nothing left to do is what we want.
        advisoryLockMode: 'wait',
        logger: {
          debug: (msg: string) => log.debug({ schema }, msg),
          info: (msg: string) => log.debug({ schema }, msg),
          warn: (msg: string) => log.warn({ schema }, msg),
          error: (msg: string) => log.error({ schema }, msg),
        },
      });
      log.info({ schema, applied: applied.map((m) => m.name), ms: Date.now() - started }, 'state migrations done');
    } catch (err) {
      const mapped = mapPgError(err, 'migrate the state schema');
      if (mapped instanceof TransientError) throw mapped;
      // A refused grant, a migration table out of order, a schema another tool changed:
      // the next start fails the same way until an operator looks.
      throw new UserError(`state migrations failed: ${(err as Error).message}`, { system: 'postgres', cause: err });
    }
  }

  /** Runs `fn` in one transaction on one connection; errors are mapped by `what`. */
  async function inTransaction<T>(what: string, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (err) {
      throw mapPgError(err, what);
    }
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch((rollbackErr: Error) => {
        broken = rollbackErr; // the connection is unusable: do not return it to the pool
      });
      throw err;
    } finally {
      client.release(broken);
    }
  }

  /** A desired-state fact checked and cleaned, waiting for its group commit. */
  interface DesiredFact {
    key: EnvironmentKey;
    envId: string;
    input: DesiredInput;
    change: GitHubChange;
    reason: string;
    labels: string | null;
    title: string | null;
    branch: string | null;
  }
  type DesiredResult = { accepted: boolean; generation: number };
  interface HeldRow {
    repo: string;
    pr: number;
    env_id: string;
    generation: string;
    pr_updated_at: Date;
    desired_sha: string | null;
    desired_by: DesiredBy;
    desired_present: boolean;
    pr_closed: boolean;
  }

  // Every recordDesired goes through one group commit: the facts that arrive while
  // commits are in flight are written by the next in one statement, so a burst of
  // webhooks pays one durable commit per batch instead of one per delivery, and each
  // caller still hears back only once its fact is committed. Facts are ordered per
  // environment ID, not per PR: two repositories whose PRs map to one ID are decided in
  // submission order too (the first one's insert wins it).
  const desiredCommits = createGroupCommit<DesiredFact, DesiredResult>({
    commit: commitDesired,
    keyOf: (fact) => fact.envId,
    maxConcurrent: options.desiredCommitsInFlight ?? Math.max(1, Math.min(4, (options.maxConnections ?? 5) - 1)),
    ...(options.desiredBatchMax !== undefined ? { maxBatch: options.desiredBatchMax } : {}),
  });

  async function recordDesired(key: EnvironmentKey, input: DesiredInput): Promise<DesiredResult> {
    assertKey(key);
    assertDate(input.prUpdatedAt, 'prUpdatedAt');
    if (input.present && !input.sha) throw new UserError(`desired state of ${keyString(key)} is present but has no SHA`);
    return desiredCommits.submit({
      key,
      envId: environmentId(key),
      input,
      change: input.change ?? (input.present ? 'head' : 'close'),
      reason: clean(input.reason),
      labels: input.labels === undefined ? null : json(input.labels),
      // Display only (attacker-controlled): omitted keeps what is stored.
      title: input.title === undefined ? null : clean(input.title),
      branch: input.branch === undefined ? null : clean(input.branch),
    });
  }

  /**
   * Writes a batch of facts (one per environment ID) exactly as if recordDesired had run
   * once per fact: optimistic, like a single call. Each fact is decided by
   * orderGitHubFact on its row as read, and one statement writes every decision, each
   * only if its row is still at the generation read (every desired change bumps it). A
   * fact whose row changed meanwhile (another replica, previewd's own teardown) is read
   * and decided again; no lock is held between the two round trips, and the statement is
   * the only durable commit.
   */
  async function commitDesired(facts: readonly DesiredFact[]): Promise<ItemOutcome<DesiredResult>[]> {
    const what = facts.length === 1 ? `record desired state of ${keyString(facts[0]!.key)}` : `record desired state of ${facts.length} environments`;
    const outcomes: ItemOutcome<DesiredResult>[] = new Array(facts.length);
    const tries = new Array<number>(facts.length).fill(0);
    // Sorted by key, so two replicas' statements take shared row locks in one order.
    let open = facts.map((_, i) => i).sort((a, b) => compareKeys(facts[a]!.key, facts[b]!.key));
    for (let attempt = 1; open.length > 0; ) {
      try {
        open = await decideAndWrite(facts, open, outcomes, tries);
      } catch (err) {
        // A concurrent first insert of one of these PRs by another replica can collide on
        // env_id before ON CONFLICT (repo, pr) sees it, and two replicas' statements can
        // deadlock on their row locks: the statement rolls back whole, and the next try
        // reads the other's rows committed.
        const code = pgCode(err);
        if ((code === '23505' || code === '40P01') && attempt++ < MAX_BATCH_ATTEMPTS) continue;
        throw mapPgError(err, what);
      }
    }
    return outcomes;
  }

  /** One read and one write for the facts at `open`; settles their outcomes and returns the ones to decide again. */
  async function decideAndWrite(facts: readonly DesiredFact[], open: number[], outcomes: ItemOutcome<DesiredResult>[], tries: number[]): Promise<number[]> {
    const { rows } = await pool.query<HeldRow>(readDesiredSql, [open.map((i) => facts[i]!.key.repo), open.map((i) => facts[i]!.key.pr), open.map((i) => facts[i]!.envId)]);
    const byKey = new Map(rows.map((r) => [keyString({ repo: r.repo, pr: r.pr }), r]));
    const byEnvId = new Map(rows.map((r) => [r.env_id, r]));
    const writes: { index: number; fact: DesiredFact; held: HeldRow | null; why: string }[] = [];
    const refusals: { index: number; fact: DesiredFact; held: HeldRow; why: string }[] = [];
    for (const index of open) {
      const fact = facts[index]!;
      const { key, input } = fact;
      const held = byKey.get(keyString(key)) ?? null;
      if (held === null && byEnvId.has(fact.envId)) {
        outcomes[index] = { ok: false, error: new UserError(`environment ID ${fact.envId} of ${keyString(key)} is already used by another repository`) };
        continue;
      }
      const decision = orderGitHubFact(
        held && { prUpdatedAt: held.pr_updated_at, desiredSha: held.desired_sha, desiredBy: held.desired_by, desiredPresent: held.desired_present, prClosed: held.pr_closed },
        { prUpdatedAt: input.prUpdatedAt, sha: input.sha, beforeSha: input.beforeSha ?? null, change: fact.change, fromListing: input.fromListing === true },
      );
      if (decision.accept) {
        writes.push({ index, fact, held, why: decision.why });
        continue;
      }
      // A refusal is only ever of a row: the first fact of a PR is always accepted.
      if (input.fromListing) {
        // Every resync re-reads the same listing: a refusal would add an event per PR per interval.
        log.debug({ env: keyString(key), sha: input.sha, storedSha: held?.desired_sha, why: decision.why }, 'listed state not recorded');
        outcomes[index] = { ok: true, value: { accepted: false, generation: Number(held?.generation ?? 0) } };
      } else {
        refusals.push({ index, fact, held: held!, why: decision.why });
      }
    }
    if (writes.length === 0 && refusals.length === 0) return [];
    const written = await pool.query<{ repo: string; pr: number; generation: string | null }>(writeDesiredSql, [
      writes.map((w) => w.fact.key.repo),
      writes.map((w) => w.fact.key.pr),
      writes.map((w) => w.fact.input.present),
      writes.map((w) => w.fact.input.sha),
      writes.map((w) => w.fact.reason),
      writes.map((w) => w.fact.input.prUpdatedAt),
      writes.map((w) => w.fact.labels),
      writes.map((w) => w.fact.change === 'close'),
      writes.map((w) => w.held?.generation ?? null),
      writes.map((w) => w.why),
      writes.map((w) => w.fact.title),
      writes.map((w) => w.fact.branch),
      writes.map((w) => w.fact.envId),
      refusals.map((r) => r.fact.key.repo),
      refusals.map((r) => r.fact.key.pr),
      refusals.map((r) => clean(`${r.why}: ${r.fact.input.reason}`)),
      refusals.map((r) => r.fact.input.sha),
      refusals.map((r) => r.fact.input.prUpdatedAt),
      refusals.map((r) => r.why),
      refusals.map((r) => r.held.generation),
    ]);
    const landed = new Map(written.rows.map((r) => [keyString({ repo: r.repo, pr: r.pr }), r.generation]));
    const again: number[] = [];
    const missed = (index: number, fact: DesiredFact) => {
      if (++tries[index]! >= MAX_DESIRED_ATTEMPTS) {
        // Only another writer's change of the same PR makes a write miss; it cannot keep happening.
        outcomes[index] = { ok: false, error: new TransientError(`record desired state of ${keyString(fact.key)}: it kept changing under ${tries[index]} attempts`, { system: 'postgres' }) };
      } else {
        again.push(index); // another writer changed this PR meanwhile: decide again on its row
      }
    };
    for (const { index, fact } of writes) {
      const generation = landed.get(keyString(fact.key));
      if (typeof generation === 'string') outcomes[index] = { ok: true, value: { accepted: true, generation: Number(generation) } };
      else missed(index, fact);
    }
    for (const { index, fact, held, why } of refusals) {
      if (landed.has(keyString(fact.key))) {
        log.debug({ env: keyString(fact.key), sha: fact.input.sha, storedSha: held.desired_sha, reason: fact.input.reason, why }, 'stale desired state ignored');
        outcomes[index] = { ok: true, value: { accepted: false, generation: Number(held.generation) } };
      } else {
        missed(index, fact);
      }
    }
    return again;
  }

  async function recordTeardown(key: EnvironmentKey, input: TeardownInput): Promise<{ accepted: boolean; generation: number }> {
    assertKey(key);
    if (!Number.isSafeInteger(input.expectedGeneration)) throw new UserError(`expected generation of ${keyString(key)} is not an integer`);
    // Compare-and-set on the generation: previewd's decision holds only if nothing was
    // recorded since it looked. GitHub's timestamp and the head SHA stay as GitHub said.
    const { rows } = await query<{ accepted: boolean; generation: string }>(
      `record the teardown of ${keyString(key)}`,
      `WITH changed AS (
         UPDATE ${environments} SET desired_present = false, desired_reason = $3, desired_by = 'previewd',
                desired_generation = desired_generation + 1, updated_at = now()
         WHERE repo = $1 AND pr = $2 AND desired_generation = $4
         RETURNING desired_generation
       ), event AS (
         INSERT INTO ${events} (repo, pr, type, message, data)
         SELECT $1, $2, 'desired', $3, jsonb_build_object('present', false, 'generation', desired_generation, 'by', 'previewd') FROM changed
       )
       SELECT true AS accepted, desired_generation AS generation FROM changed
       UNION ALL
       SELECT false, desired_generation FROM ${environments} WHERE repo = $1 AND pr = $2 AND NOT EXISTS (SELECT 1 FROM changed)`,
      [key.repo, key.pr, clean(input.reason), input.expectedGeneration],
    );
    const row = rows[0];
    return { accepted: row?.accepted === true, generation: Number(row?.generation ?? 0) };
  }

  async function claimHosts(key: EnvironmentKey, hosts: string[], token?: number): Promise<HostHeld[]> {
    assertKey(key);
    const wanted = [...new Set(hosts)].sort(); // one order for every claimer: no two can split a set between them
    // The usual case, every reconcile after the first: it holds exactly these already.
    const { rows: mine } = await query<{ host: string }>(`read the hosts of ${keyString(key)}`, `SELECT host FROM ${hostClaims} WHERE repo = $1 AND pr = $2`, [key.repo, key.pr]);
    const held = new Set(mine.map((r) => r.host));
    if (held.size === wanted.length && wanted.every((h) => held.has(h))) return [];
    try {
      return await inTransaction(`claim the hosts of ${keyString(key)}`, async (client) => {
        // First, so the row lock it takes orders this claim after any newer holder's write.
        if (token !== undefined) await fenceInTransaction(client, key, token, 'claim hosts');
        // A claim passes to us when it is ours already or its holder is gone or removed and
        // no longer wanted; the row lock of a concurrent claim makes the second one wait and see it.
        await client.query(
          `INSERT INTO ${hostClaims} AS c (host, repo, pr) SELECT unnest($3::text[]), $1, $2
           ON CONFLICT (host) DO UPDATE SET repo = EXCLUDED.repo, pr = EXCLUDED.pr, claimed_at = now()
           WHERE (c.repo = EXCLUDED.repo AND c.pr = EXCLUDED.pr)
              OR NOT EXISTS (SELECT 1 FROM ${environments} e
                             WHERE e.repo = c.repo AND e.pr = c.pr AND (e.desired_present OR e.status <> 'removed'))`,
          [key.repo, key.pr, wanted],
        );
        const { rows } = await client.query<{ host: string; repo: string; pr: number }>(
          `SELECT host, repo, pr FROM ${hostClaims} WHERE host = ANY($3::text[]) AND NOT (repo = $1 AND pr = $2) ORDER BY host`,
          [key.repo, key.pr, wanted],
        );
        if (rows.length > 0) throw new HostsHeld(rows.map((r) => ({ host: r.host, holder: { repo: r.repo, pr: r.pr } })));
        await client.query(`DELETE FROM ${hostClaims} WHERE repo = $1 AND pr = $2 AND NOT (host = ANY($3::text[]))`, [key.repo, key.pr, wanted]);
        return [];
      });
    } catch (err) {
      if (err instanceof HostsHeld) return err.held; // rolled back: nothing claimed
      if (err instanceof StaleFenceError) throw err;
      throw mapPgError(err, `claim the hosts of ${keyString(key)}`);
    }
  }

  async function releaseHosts(key: EnvironmentKey, token?: number): Promise<void> {
    assertKey(key);
    const what = `release the hosts of ${keyString(key)}`;
    if (token === undefined) {
      await query(what, `DELETE FROM ${hostClaims} WHERE repo = $1 AND pr = $2`, [key.repo, key.pr]);
      return;
    }
    try {
      await inTransaction(what, async (client) => {
        await fenceInTransaction(client, key, token, 'release hosts');
        await client.query(`DELETE FROM ${hostClaims} WHERE repo = $1 AND pr = $2`, [key.repo, key.pr]);
      });
    } catch (err) {
      if (err instanceof StaleFenceError) throw err;
      throw mapPgError(err, what);
    }
  }

  async function requestReconcile(key: EnvironmentKey, reason: string): Promise<number | null> {
    assertKey(key);
    const { rows } = await query<{ generation: string }>(
      `request reconcile of ${keyString(key)}`,
      `WITH bumped AS (
         UPDATE ${environments} SET desired_generation = desired_generation + 1, updated_at = now()
         WHERE repo = $1 AND pr = $2
         RETURNING desired_generation
       ), event AS (
         INSERT INTO ${events} (repo, pr, type, message, data)
         SELECT $1, $2, 'reconcile-requested', $3, jsonb_build_object('generation', desired_generation) FROM bumped
       )
       SELECT desired_generation AS generation FROM bumped`,
      [key.repo, key.pr, clean(reason)],
    );
    return rows[0] ? Number(rows[0].generation) : null;
  }

  async function get(key: EnvironmentKey): Promise<EnvironmentRecord | null> {
    assertKey(key);
    const { rows } = await query<EnvironmentRow>('read environment', `SELECT * FROM ${environments} WHERE repo = $1 AND pr = $2`, [
      key.repo,
      key.pr,
    ]);
    return rows[0] ? rowToRecord(rows[0]) : null;
  }

  async function list(filter: { repo?: string; status?: EnvironmentStatus; desiredPresent?: boolean } = {}): Promise<EnvironmentRecord[]> {
    const conditions: string[] = [];
    const values: unknown[] = [];
    const add = (column: string, value: unknown) => {
      values.push(value);
      conditions.push(`${column} = $${values.length}`);
    };
    if (filter.repo !== undefined) add('repo', filter.repo);
    if (filter.status !== undefined) add('status', filter.status);
    if (filter.desiredPresent !== undefined) add('desired_present', filter.desiredPresent);
    const where = conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '';
    const { rows } = await query<EnvironmentRow>('list environments', `SELECT * FROM ${environments} ${where} ORDER BY repo, pr`, values);
    return rows.map(rowToRecord);
  }

  async function listAwaitingBuild(repo: string, sha: string): Promise<EnvironmentKey[]> {
    // Failed ones too: a re-run of a failed check may turn the build green at the same SHA.
    const { rows } = await query<{ repo: string; pr: number }>(
      'list environments awaiting a build',
      `SELECT repo, pr FROM ${environments} WHERE repo = $1 AND desired_sha = $2 AND desired_present AND status IN ('waiting_for_build', 'failed') ORDER BY pr`,
      [repo, sha],
    );
    return rows.map((r) => ({ repo: r.repo, pr: r.pr }));
  }

  async function listLagging(): Promise<LaggingEnvironment[]> {
    const { rows } = await query<EnvironmentRow & { parked_retries: string }>(
      'list lagging environments',
      `SELECT e.*, (SELECT count(*) FROM ${events} ev
                    WHERE ev.repo = e.repo AND ev.pr = e.pr AND ev.type = '${PARKED_RETRY_EVENT}'
                      AND ev.data->>'generation' = e.desired_generation::text) AS parked_retries
       FROM ${environments} e WHERE e.observed_generation < e.desired_generation ORDER BY e.repo, e.pr`,
    );
    return rows.map((row) => ({ record: rowToRecord(row), parkedRetries: Number(row.parked_retries) }));
  }

  async function countByStatus(): Promise<Partial<Record<EnvironmentStatus, number>>> {
    const { rows } = await query<{ status: EnvironmentStatus; n: string }>('count environments', `SELECT status, count(*) AS n FROM ${environments} GROUP BY status`, []);
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  }

  async function updateObserved(key: EnvironmentKey, patch: ObservedPatch, token?: number): Promise<void> {
    assertKey(key);
    const sets: string[] = [];
    const values: unknown[] = [key.repo, key.pr];
    const set = (column: string, value: unknown, expression = (p: string) => p) => {
      values.push(value);
      sets.push(`${column} = ${expression(`$${values.length}`)}`);
    };
    if (patch.status !== undefined) {
      if (!STATUSES.includes(patch.status)) throw new UserError(`unknown environment status ${String(patch.status)}`);
      set('status', patch.status);
    }
    if (patch.observedSha !== undefined) set('observed_sha', patch.observedSha);
    if (patch.lastError !== undefined) set('last_error', cleanOrNull(patch.lastError));
    if (patch.components !== undefined) set('components', json(patch.components), (p) => `${p}::jsonb`);
    if (patch.resources !== undefined) set('resources', json(patch.resources), (p) => `${p}::jsonb`);
    if (patch.githubDeploymentId !== undefined) set('github_deployment_id', patch.githubDeploymentId);
    if (patch.githubCommentId !== undefined) set('github_comment_id', patch.githubCommentId);
    if (patch.readyAt !== undefined) set('ready_at', patch.readyAt);
    // A slow reconcile finishing late must not move the observed generation backwards.
    if (patch.observedGeneration !== undefined) set('observed_generation', patch.observedGeneration, (p) => `GREATEST(observed_generation, ${p})`);
    if (sets.length === 0) return;
    let fence = '';
    if (token !== undefined) {
      set('fence', token);
      fence = ` AND fence <= $${values.length}`;
    }
    const { rowCount } = await query(
      `update observed state of ${keyString(key)}`,
      `UPDATE ${environments} SET ${sets.join(', ')}, updated_at = now() WHERE repo = $1 AND pr = $2${fence}`,
      values,
    );
    if (rowCount !== 0) return;
    if (token !== undefined) await refuseIfNewer(key, token, 'update observed state');
    log.warn({ env: keyString(key) }, 'observed state for an environment without a row ignored');
  }

  async function appendEvent(key: EnvironmentKey, event: { type: string; message: string; data?: Record<string, unknown> }, token?: number): Promise<void> {
    assertKey(key);
    const what = `append event to ${keyString(key)}`;
    const values = [key.repo, key.pr, clean(event.type), clean(event.message), json(event.data ?? {})];
    if (token !== undefined) {
      // The event is inserted only if the fence let this token write (and the fence moves to it).
      const { rowCount } = await query(
        what,
        `WITH fenced AS (${fenceClaim('$6')})
         INSERT INTO ${events} (repo, pr, type, message, data) SELECT $1, $2, $3, $4, $5::jsonb FROM fenced`,
        [...values, token],
      );
      if (rowCount !== 0) return;
      await refuseIfNewer(key, token, 'append an event');
      // No row: nothing to fence; an event of an environment without a row is kept as before.
    }
    await query(what, `INSERT INTO ${events} (repo, pr, type, message, data) VALUES ($1, $2, $3, $4, $5::jsonb)`, values);
  }

  async function fenceOf(key: EnvironmentKey): Promise<number> {
    assertKey(key);
    const { rows } = await query<{ fence: string }>(`read the fence of ${keyString(key)}`, `SELECT fence FROM ${environments} WHERE repo = $1 AND pr = $2`, [key.repo, key.pr]);
    return rows[0] ? Number(rows[0].fence) : 0;
  }

  /**
   * After a fenced write matched no row: refused (StaleFenceError, recorded as a lost-lock
   * event) when a newer token has written; otherwise there is no row, which the caller handles.
   */
  async function refuseIfNewer(key: EnvironmentKey, token: number, write: string): Promise<void> {
    const fence = await fenceOf(key);
    if (fence > token) throw await refusal(key, token, fence, write);
  }

  async function refusal(key: EnvironmentKey, token: number, fence: number, write: string): Promise<StaleFenceError> {
    const message = `${write} refused: the PR lock was lost, a newer holder (token ${fence}) has written ${keyString(key)} since this run (token ${token}) took it`;
    log.warn({ env: keyString(key), token, fence, write }, 'stale write refused: the PR lock was lost to a newer holder');
    // Unfenced: the refusal itself is history worth keeping whoever holds the lock now.
    await query(`append event to ${keyString(key)}`, `INSERT INTO ${events} (repo, pr, type, message, data) VALUES ($1, $2, $3, $4, $5::jsonb)`, [
      key.repo,
      key.pr,
      LOCK_LOST_EVENT,
      message,
      json({ token, fence, write }),
    ]).catch((err: unknown) => log.warn({ env: keyString(key), err: { message: (err as Error).message } }, 'could not record the lost lock'));
    return new StaleFenceError(message, { token, fence });
  }

  /** Inside a transaction: moves the fence to `token`, holding the row lock until commit, or refuses. */
  async function fenceInTransaction(client: pg.PoolClient, key: EnvironmentKey, token: number, write: string): Promise<void> {
    const { rowCount } = await client.query(fenceClaim('$3'), [key.repo, key.pr, token]);
    if (rowCount !== 0) return;
    const { rows } = await client.query<{ fence: string }>(`SELECT fence FROM ${environments} WHERE repo = $1 AND pr = $2`, [key.repo, key.pr]);
    const fence = rows[0] ? Number(rows[0].fence) : 0;
    if (fence > token) throw await refusal(key, token, fence, write);
  }

  async function listEvents(key: EnvironmentKey, limit = 50): Promise<EnvironmentEvent[]> {
    assertKey(key);
    const bounded = Math.min(Math.max(Math.trunc(Number.isFinite(limit) ? limit : 50), 1), 1_000);
    const { rows } = await query<{ id: string; at: Date; type: string; message: string; data: Record<string, unknown> }>(
      'list events',
      `SELECT id, at, type, message, data FROM ${events} WHERE repo = $1 AND pr = $2 ORDER BY id DESC LIMIT $3`,
      [key.repo, key.pr, bounded],
    );
    return rows.map((r) => ({ id: Number(r.id), at: r.at, type: r.type, message: r.message, data: r.data }));
  }

  async function pruneEvents(before: Date): Promise<number> {
    assertDate(before, 'event retention cutoff');
    // In batches, so one sweep after a long pause never holds a huge delete in one statement.
    let total = 0;
    for (;;) {
      const { rowCount } = await query(
        'prune events',
        `DELETE FROM ${events} WHERE id IN (SELECT id FROM ${events} WHERE at < $1 ORDER BY id LIMIT ${PRUNE_BATCH})`,
        [before],
      );
      total += rowCount ?? 0;
      if ((rowCount ?? 0) < PRUNE_BATCH) return total;
    }
  }

  return {
    migrate,
    recordDesired,
    recordTeardown,
    claimHosts,
    releaseHosts,
    requestReconcile,
    get,
    list,
    listAwaitingBuild,
    listLagging,
    countByStatus,
    updateObserved,
    appendEvent,
    listEvents,
    pruneEvents,
    fenceOf,
    close: () => pool.end(),
  };
}

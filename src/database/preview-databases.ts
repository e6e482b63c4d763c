// PR databases and login roles on the Postgres cluster previewd administers.
// Every database and role it creates carries an ownership marker (COMMENT ON …,
// see ownership/markers.ts); nothing without this instance's marker is altered or dropped.
//
// Who owns what, and why. previewd's role (README: LOGIN CREATEDB CREATEROLE, no
// superuser) owns every PR database itself; the PR's login role is granted CONNECT,
// TEMPORARY and CREATE on it and owns the schemas and objects inside. A database's
// owner alone may COMMENT ON it or ALTER DATABASE it, so the PR cannot erase the
// marker, make its database a template, refuse connections or rename it: teardown
// and GC keep working whatever the PR's code did. (Databases made by earlier
// versions are owned by their PR role; such an owner, carrying our marker, still
// identifies the database, and the next ensureLoginRole takes ownership back.)
//
// previewd grants itself membership in each PR role it creates: handing objects to
// the role needs it (PG 15 "must be member of role", PG 16+ "must be able to SET
// ROLE"), and so do terminating the role's sessions and DROP OWNED at teardown. The
// membership points one way only: the PR role never gains anything of previewd's.
import { readFile } from 'node:fs/promises';
import pg from 'pg';
import type { Logger } from 'pino';
import { ConflictError, OwnershipError, TransientError, UserError } from '../errors.js';
import { BUSY, retryWhileBusy, type Busy } from './busy-retry.js';
import { cloneFailure, planFileCopy, type CloneMethodSetting, type FileCopyFacts } from './clone-method.js';
import { readFileCopyFacts } from './file-copy-facts.js';
import { planOwnershipTransfer } from './ownership-transfer.js';
import { isPermissionPgError, mapPgError, permissionError, pgCode, scrubPgError } from './pg-errors.js';
import { quoteIdent, quoteLiteral, scramVerifier, stagingDatabaseName } from './sql.js';
import { postgresComment } from '../ownership/markers.js';
import type { PoolAction, PoolSettings } from './pool-plan.js';
import { createWarmPool } from './warm-pool.js';
import { ownerOfPostgresObject } from '../ownership/owners.js';
import type { CreateDatabaseOptions, OwnedObject, PreviewDatabases } from './types.js';

export interface PreviewDatabasesOptions {
  /** previewd's role (README: LOGIN CREATEDB CREATEROLE, no superuser); its database (the state database) is the maintenance database, never a template. */
  adminUrl: string;
  instance: string;
  loginGroup: string;
  log: Logger;
  /** file_copy_method of FILE_COPY clones (config database.cloneMethod; clone-method.ts); default auto. */
  cloneMethod?: CloneMethodSetting;
  /** For tests; defaults to real time. */
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

const SQLSTATE = {
  objectInUse: '55006', // source database is being accessed by other users
  duplicateDatabase: '42P04',
  duplicateObject: '42710',
  undefinedDatabase: '3D000',
  undefinedObject: '42704',
  dependentObjects: '2BP01',
} as const;

// After terminating the template's sessions, how long to keep trying before giving up.
const AFTER_TERMINATE_BUDGET_MS = 3_000;

interface CatalogEntry {
  name: string;
  comment: string | null;
}

interface DatabaseEntry extends CatalogEntry {
  /** The owner role's COMMENT: a PR role's marker (databases of earlier versions). */
  ownerComment: string | null;
  ownedByMe: boolean;
  isTemplate: boolean;
}

/**
 * Every connection previewd opens resolves names in pg_catalog only (and its own
 * temporary schema, last): a PR database holds functions and operators its PR
 * created, and none of them may ever be picked by a statement previewd runs. A
 * connection option, so that nothing the PR controls (ALTER ROLE/DATABASE … SET)
 * can override it and no query runs before it applies.
 */
const PINNED_SEARCH_PATH = '-c search_path=pg_catalog,pg_temp';

const DATABASE_COLUMNS = `
  d.datname AS name,
  pg_catalog.shobj_description(d.oid, 'pg_database') AS comment,
  pg_catalog.shobj_description(d.datdba, 'pg_authid') AS "ownerComment",
  d.datdba OPERATOR(pg_catalog.=) (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER) AS "ownedByMe",
  d.datistemplate AS "isTemplate"`;

/**
 * Runs one CREATE DATABASE … TEMPLATE; BUSY when the template has other sessions
 * (SQLSTATE 55006). `fileCopyMethod` is SET in the same session first (FILE_COPY on
 * PG 18+ only; see clone-method.ts); the caller gives a session of its own.
 */
export async function cloneDatabaseOnce(
  client: Pick<pg.ClientBase, 'query'>,
  target: string,
  template: string,
  strategy: CreateDatabaseOptions['strategy'],
  fileCopyMethod: 'clone' | 'copy' | null = null,
): Promise<'created' | Busy> {
  if (strategy !== 'FILE_COPY' && strategy !== 'WAL_LOG') throw new UserError(`unknown clone strategy ${String(strategy)}`, { system: 'postgres' });
  if (fileCopyMethod !== null) await client.query(`SELECT pg_catalog.set_config('file_copy_method', $1, false)`, [fileCopyMethod]);
  try {
    await client.query(`CREATE DATABASE ${quoteIdent(target)} TEMPLATE ${quoteIdent(template)} STRATEGY ${strategy}`);
    return 'created';
  } catch (err) {
    if (pgCode(err) === SQLSTATE.objectInUse) return BUSY;
    // clone_file raises instead of falling back to a copy: say what to change.
    const failure = fileCopyMethod === 'clone' ? cloneFailure((err as Error).message ?? '', pgCode(err)) : null;
    if (failure) throw new UserError(failure, { system: 'postgres', cause: err });
    throw err;
  }
}

/** `sleep(ms)`, rejected with the signal's reason as soon as it aborts. */
function sleepUnlessAborted(sleep: (ms: number) => Promise<void>, ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return sleep(ms);
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    sleep(ms).then(
      () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      },
      reject,
    );
  });
}

export function createPreviewDatabases(options: PreviewDatabasesOptions): PreviewDatabases {
  const { instance, loginGroup, log } = options;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const now = options.now ?? Date.now;
  // A hung server must turn into a retry, not a reconcile blocked forever; the bound
  // is generous because a FILE_COPY clone of a large template takes seconds.
  const pool = new pg.Pool({
    connectionString: options.adminUrl,
    options: PINNED_SEARCH_PATH,
    max: 4,
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 10_000,
    query_timeout: 120_000,
  });
  // An idle client losing its connection must not crash the daemon.
  pool.on('error', (err) => log.warn({ err: mapPgError(err, 'keep an idle connection') }, 'postgres admin connection lost'));
  const marker = (envId: string) => postgresComment(instance, envId);
  const cloneMethod = options.cloneMethod ?? 'auto';
  // The server's version and file_copy_method, read once per pool (a failed read is retried next time).
  let fileCopyFacts: Promise<FileCopyFacts> | undefined;
  function serverFileCopyFacts(): Promise<FileCopyFacts> {
    fileCopyFacts ??= readFileCopyFacts(pool).catch((err: unknown) => {
      fileCopyFacts = undefined;
      throw err;
    });
    return fileCopyFacts;
  }

  async function run<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw mapPgError(err, what);
    }
  }

  /**
   * A connection to another database on the cluster. `searchPath: 'default'` only for
   * the operator's seed file in a staging database no one else can reach yet.
   */
  async function withDatabaseClient<T>(database: string, fn: (client: pg.Client) => Promise<T>, searchPath: 'pinned' | 'default' = 'pinned'): Promise<T> {
    const url = new URL(options.adminUrl);
    url.pathname = `/${encodeURIComponent(database)}`;
    const client = new pg.Client({
      connectionString: url.toString(),
      ...(searchPath === 'pinned' ? { options: PINNED_SEARCH_PATH } : {}),
      connectionTimeoutMillis: 10_000,
      query_timeout: 120_000,
    });
    client.on('error', () => undefined); // reported by the query that fails
    await client.connect();
    try {
      return await fn(client);
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  async function databaseEntry(name: string): Promise<DatabaseEntry | null> {
    const { rows } = await pool.query<DatabaseEntry>(
      `SELECT ${DATABASE_COLUMNS} FROM pg_catalog.pg_database d WHERE d.datname OPERATOR(pg_catalog.=) $1::pg_catalog.name`,
      [name],
    );
    return rows[0] ?? null;
  }

  async function roleEntry(name: string): Promise<CatalogEntry | null> {
    const { rows } = await pool.query<CatalogEntry>(
      `SELECT rolname AS name, pg_catalog.shobj_description(oid, 'pg_authid') AS comment
       FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) $1::pg_catalog.name`,
      [name],
    );
    return rows[0] ?? null;
  }

  /** This instance's marker on a role, or null. */
  function ownMarker(comment: string | null) {
    const parsed = ownerOfPostgresObject(comment);
    return parsed !== null && parsed.instance === instance ? parsed : null;
  }

  /**
   * Whose a database is. Owned by a PR role (an earlier version's database): the
   * role's marker decides, ours or another instance's, never the comment, which
   * that owner could rewrite; only previewd hands a database to such a role (it has
   * NOCREATEDB). Otherwise our marker in its comment, which only its owner can write.
   */
  function databaseMarker(entry: DatabaseEntry) {
    const ownerMarker = entry.ownedByMe ? null : ownerOfPostgresObject(entry.ownerComment);
    if (ownerMarker) return ownerMarker.instance === instance ? ownerMarker : null;
    return ownMarker(entry.comment);
  }

  function describe(entry: CatalogEntry | null) {
    if (!entry) return null;
    const parsed = ownMarker(entry.comment);
    return { name: entry.name, owned: parsed !== null, envId: parsed?.envId ?? null };
  }

  function describeDatabase(entry: DatabaseEntry | null) {
    if (!entry) return null;
    const parsed = databaseMarker(entry);
    return { name: entry.name, owned: parsed !== null, envId: parsed?.envId ?? null };
  }

  function listOwned(entries: CatalogEntry[]): OwnedObject[] {
    return entries.flatMap((entry) => {
      const parsed = ownMarker(entry.comment);
      return parsed ? [{ name: entry.name, instance, envId: parsed.envId }] : [];
    });
  }

  /**
   * Makes previewd a member of `role` (INHERIT and SET, the defaults) when the role
   * carries our marker: what ALTER … OWNER TO it, terminating its sessions and DROP
   * OWNED BY it require of a non-superuser. Idempotent (a repeat is a NOTICE). PG 16+
   * allows it through the ADMIN option the creator of a role receives; PG 15 through
   * CREATEROLE. Never for a role that is not ours.
   */
  async function joinOwnRole(client: Pick<pg.ClientBase, 'query'>, role: string): Promise<void> {
    if (!ownMarker((await roleEntry(role))?.comment ?? null)) return;
    await client.query(`GRANT ${quoteIdent(role)} TO CURRENT_USER`);
  }

  async function templateSessions(template: string): Promise<number> {
    const { rows } = await pool.query<{ n: number }>(
      `SELECT pg_catalog.count(*)::pg_catalog.int4 AS n FROM pg_catalog.pg_stat_activity
       WHERE datname OPERATOR(pg_catalog.=) $1::pg_catalog.name AND pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()`,
      [template],
    );
    return rows[0]?.n ?? 0;
  }

  /**
   * Drops the staging database of `name` left by an interrupted ensureDatabase.
   * It carries our marker, or no comment at all when the crash came between CREATE
   * and COMMENT; its name is ours by construction (stagingDatabaseName).
   */
  async function dropStagingLeftover(name: string): Promise<void> {
    const staging = stagingDatabaseName(instance, name);
    const leftover = await databaseEntry(staging);
    if (!leftover) return;
    const parsed = ownerOfPostgresObject(leftover.comment);
    if (leftover.comment !== null && (parsed === null || parsed.instance !== instance)) {
      throw new OwnershipError(`staging database "${staging}" exists with a marker that is not ours; not touching it`, { system: 'postgres' });
    }
    log.info({ database: name, staging }, 'dropping staging database of an interrupted create');
    await pool.query(`DROP DATABASE IF EXISTS ${quoteIdent(staging)} WITH (FORCE)`);
  }

  /** Clones the template into `staging`, retrying while the template is busy. */
  async function cloneWithRetry(staging: string, opts: CreateDatabaseOptions): Promise<'clone' | 'copy' | null> {
    const { rows } = await pool.query<{ db: string }>('SELECT pg_catalog.current_database() AS db');
    if (rows[0]?.db === opts.template) {
      throw new UserError(`the admin connection uses the template database "${opts.template}"; point DATABASE_URL at another database`, {
        system: 'postgres',
      });
    }
    // A pre-check on pg_stat_activity spares each busy attempt Postgres's own 5 s
    // wait inside CREATE DATABASE; the 55006 path still covers sessions arriving
    // between the check and the CREATE.
    const plan = planFileCopy(cloneMethod, await serverFileCopyFacts(), opts.strategy);
    if (!plan.ok) throw new UserError(`${plan.detail}: ${plan.fix}`, { system: 'postgres' });
    const attempt = async (): Promise<'created' | Busy> => {
      if ((await templateSessions(opts.template)) > 0) return BUSY;
      if (plan.set === null) return cloneDatabaseOnce(pool, staging, opts.template, opts.strategy);
      // A session of its own: the setting applies to this CREATE and is reset before the session returns to the pool.
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        return await cloneDatabaseOnce(client, staging, opts.template, opts.strategy, plan.set);
      } finally {
        await client.query('RESET file_copy_method').catch((err: Error) => void (broken = err));
        client.release(broken);
      }
    };
    // The caller stopping ends a wait at once: its pools may be closing right after.
    const waitBusy = (ms: number) => sleepUnlessAborted(sleep, ms, opts.signal);
    let result = await retryWhileBusy(attempt, { budgetMs: opts.busyRetryMs, now, sleep: waitBusy });
    if (result === BUSY && opts.terminateTemplateSessions) {
      const { rows: killed } = await pool.query<{ n: number }>(
        // Only sessions previewd may signal (its own, its PR roles'): pg_terminate_backend
        // raises for anyone else's (a superuser's psql), which would fail the clone for good.
        `SELECT pg_catalog.count(*) FILTER (WHERE pg_catalog.pg_terminate_backend(pid, 5000::pg_catalog.int8))::pg_catalog.int4 AS n
         FROM pg_catalog.pg_stat_activity
         WHERE datname OPERATOR(pg_catalog.=) $1::pg_catalog.name AND pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()
           AND usesysid IS NOT NULL AND pg_catalog.pg_has_role(usesysid, 'USAGE')
           AND NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.oid OPERATOR(pg_catalog.=) usesysid)`,
        [opts.template],
      );
      log.warn({ template: opts.template, sessions: killed[0]?.n ?? 0 }, 'terminated sessions on the busy template database');
      result = await retryWhileBusy(attempt, { budgetMs: AFTER_TERMINATE_BUDGET_MS, now, sleep: waitBusy });
    }
    if (result === BUSY) {
      const sessions = await templateSessions(opts.template);
      throw new TransientError(
        `template database "${opts.template}" is busy: ${sessions} other session(s) connected to it after retrying for ${opts.busyRetryMs} ms` +
          (opts.terminateTemplateSessions ? ' and terminating them' : ' (terminateTemplateSessions is off)'),
        { system: 'postgres' },
      );
    }
    return plan.set;
  }

  // Spares are cloned exactly as PR databases are (file_copy_method, busy template),
  // but never terminate the template's sessions: a background refill can wait.
  const warmPool = createWarmPool({
    pool,
    instance,
    log,
    clone: (target, template, strategy, signal) =>
      cloneWithRetry(target, { mode: 'template', template, strategy, terminateTemplateSessions: false, busyRetryMs: 10_000, signal }),
    withDatabaseClient: (database, fn) => withDatabaseClient(database, fn),
  });

  async function refillWarmPools(pools: PoolSettings[], signal?: AbortSignal): Promise<PoolAction[]> {
    const done: PoolAction[] = [];
    for (const settings of pools) {
      if (signal?.aborted) break;
      try {
        quoteIdent(settings.template);
        done.push(...(await run(`refill warm pool of ${settings.template}`, () => warmPool.refill(settings, signal))));
      } catch (err) {
        // One template's trouble (missing, busy, a failing versionQuery) leaves the others' pools working.
        log.warn({ template: settings.template, err }, 'warm pool refill failed');
      }
    }
    return done;
  }

  async function seed(staging: string, seedFile: string): Promise<void> {
    let sql: string;
    try {
      sql = await readFile(seedFile, 'utf8');
    } catch (err) {
      throw new UserError(`cannot read seed file ${seedFile}: ${(err as Error).message}`, { system: 'postgres', cause: err });
    }
    await withDatabaseClient(staging, async (client) => {
      try {
        // Simple query protocol: the whole file, several statements, in one implicit transaction.
        await client.query(sql);
      } catch (err) {
        if (mapPgError(err, 'seed') instanceof TransientError) throw err;
        throw new UserError(`seed file ${seedFile} failed: ${(err as Error).message}`, { system: 'postgres', cause: err });
      }
      // The operator's file, in a database only previewd can connect to yet (CONNECT
      // was revoked from PUBLIC at creation): it may rely on the usual search_path.
    }, 'default');
  }

  /**
   * Crash safety: the database is created under a staging name, marked, seeded,
   * and only then renamed to its final name (RENAME is atomic). So the final name
   * exists only with our marker and complete contents, and whatever a crash leaves
   * behind sits under the deterministic staging name, which the next ensureDatabase
   * or dropDatabase of that name removes.
   */
  async function ensureDatabase(name: string, envId: string, opts: CreateDatabaseOptions): Promise<'created' | 'claimed' | 'exists'> {
    quoteIdent(name);
    return run(`create database ${name}`, async () => {
      const existing = describeDatabase(await databaseEntry(name));
      if (existing) return checkExisting(existing, envId, 'database');
      await dropStagingLeftover(name);
      const started = now();
      if (opts.mode === 'template' && opts.pool) {
        // A hit is one rename; a miss (no current spare, no version marker) clones below as ever.
        const spare = await warmPool.claim(opts.template, opts.pool.versionQuery, name, envId);
        if (spare !== null) {
          log.info({ database: name, env: envId, template: opts.template, spare, ms: now() - started }, 'preview database claimed from the warm pool');
          return 'claimed';
        }
      }
      const staging = stagingDatabaseName(instance, name);
      let fileCopyMethod: 'clone' | 'copy' | null = null;
      if (opts.mode === 'template') {
        fileCopyMethod = await cloneWithRetry(staging, opts);
      } else {
        // template0 accepts no connections, so it is never busy, and carries no site additions.
        await pool.query(`CREATE DATABASE ${quoteIdent(staging)} TEMPLATE template0`);
      }
      // Nobody but previewd may connect until the PR's own role is granted CONNECT.
      await pool.query(`REVOKE ALL ON DATABASE ${quoteIdent(staging)} FROM PUBLIC`);
      await pool.query(`COMMENT ON DATABASE ${quoteIdent(staging)} IS ${quoteLiteral(marker(envId))}`);
      try {
        if (opts.mode === 'empty' && opts.seedFile) await seed(staging, opts.seedFile);
        await pool.query(`ALTER DATABASE ${quoteIdent(staging)} RENAME TO ${quoteIdent(name)}`);
      } catch (err) {
        await pool.query(`DROP DATABASE IF EXISTS ${quoteIdent(staging)} WITH (FORCE)`).catch(() => undefined);
        if (pgCode(err) === SQLSTATE.duplicateDatabase) {
          const raced = describeDatabase(await databaseEntry(name));
          if (raced) return checkExisting(raced, envId, 'database');
        }
        throw err;
      }
      log.info({ database: name, env: envId, mode: opts.mode, strategy: opts.strategy, fileCopyMethod, ms: now() - started }, 'preview database created');
      return 'created';
    });
  }

  function checkExisting(existing: { name: string; owned: boolean; envId: string | null }, envId: string, kind: string): 'exists' {
    if (!existing.owned) {
      throw new OwnershipError(`${kind} "${existing.name}" exists but was not created by previewd instance "${instance}"; not touching it`, {
        system: 'postgres',
      });
    }
    if (existing.envId !== envId) {
      throw new OwnershipError(`${kind} "${existing.name}" belongs to environment ${existing.envId}, not ${envId}`, { system: 'postgres' });
    }
    return 'exists';
  }

  async function ensureGroup(): Promise<void> {
    if (await roleEntry(loginGroup)) return;
    try {
      await pool.query(`CREATE ROLE ${quoteIdent(loginGroup)} NOLOGIN`);
      log.info({ role: loginGroup }, 'login group role created');
    } catch (err) {
      if (pgCode(err) !== SQLSTATE.duplicateObject) throw err; // created concurrently: fine
    }
  }

  async function ensureLoginRole(role: string, envId: string, database: string, password: string, validUntil: Date): Promise<void> {
    quoteIdent(role);
    quoteIdent(database);
    if (!(validUntil instanceof Date) || Number.isNaN(validUntil.getTime())) {
      throw new UserError('login role expiry is not a valid date', { system: 'postgres' });
    }
    if (password.length === 0) throw new UserError('empty password for login role', { system: 'postgres' });
    await run(`ensure login role ${role}`, async () => {
      await ensureGroup();
      const existing = describe(await roleEntry(role));
      if (existing) checkExisting(existing, envId, 'role');
      const dbEntry = await databaseEntry(database);
      const db = describeDatabase(dbEntry);
      if (!dbEntry || !db) throw new ConflictError(`database "${database}" does not exist; ensure it before its login role`, { system: 'postgres' });
      checkExisting(db, envId, 'database');

      const verifier = scramVerifier(password);
      const secret = verifier ?? password;
      const credentials = `LOGIN PASSWORD ${quoteLiteral(secret)} VALID UNTIL ${quoteLiteral(validUntil.toISOString())}`;
      // The other attributes are set once, at creation: a non-superuser may not even
      // restate SUPERUSER, REPLICATION or BYPASSRLS in ALTER ROLE, and a role cannot
      // change its own attributes (only its password).
      const attributes = `NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT ${credentials}`;
      const client = await pool.connect();
      try {
        // Role, marker and group membership commit together: no unmarked role can be left behind.
        await client.query('BEGIN');
        if (existing) {
          await client.query(`ALTER ROLE ${quoteIdent(role)} WITH ${credentials}`);
        } else {
          await client.query(`CREATE ROLE ${quoteIdent(role)} WITH ${attributes}`);
          await client.query(`COMMENT ON ROLE ${quoteIdent(role)} IS ${quoteLiteral(marker(envId))}`);
        }
        await client.query(`GRANT ${quoteIdent(loginGroup)} TO ${quoteIdent(role)}`);
        // See the header: previewd becomes a member of the role it just created.
        await client.query(`GRANT ${quoteIdent(role)} TO CURRENT_USER`);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        // The statement carried the password (or its verifier): never let it reach a message.
        const clean = scrubPgError(err, [password, secret, quoteLiteral(secret)]);
        if (pgCode(err) === SQLSTATE.duplicateObject) {
          throw new ConflictError(`role "${role}" was created concurrently`, { system: 'postgres', cause: clean });
        }
        if (isPermissionPgError(err)) throw permissionError(clean, `create or update role "${role}"`);
        const mapped = mapPgError(clean, `set the password of role ${role}`);
        if (mapped instanceof TransientError) throw mapped;
        throw new UserError(`postgres refused to create or update role "${role}" (SQLSTATE ${pgCode(err) ?? 'unknown'})`, { system: 'postgres', cause: clean });
      } finally {
        client.release();
      }

      if (!dbEntry.ownedByMe) {
        // A database an earlier version handed to its PR role: take it back, undo
        // what its owner could set, and write the marker again (the PR could have
        // changed it; the env is proven by the owner role's marker).
        await pool.query(`ALTER DATABASE ${quoteIdent(database)} OWNER TO CURRENT_USER`);
        await pool.query(`ALTER DATABASE ${quoteIdent(database)} WITH IS_TEMPLATE false ALLOW_CONNECTIONS true CONNECTION LIMIT -1`);
        await pool.query(`COMMENT ON DATABASE ${quoteIdent(database)} IS ${quoteLiteral(marker(envId))}`);
      }
      await pool.query(`REVOKE ALL ON DATABASE ${quoteIdent(database)} FROM PUBLIC`);
      // What a PR needs of its database short of owning it: connect, temporary
      // tables, and CREATE for its schemas and trusted extensions.
      await pool.query(`GRANT CONNECT, TEMPORARY, CREATE ON DATABASE ${quoteIdent(database)} TO ${quoteIdent(role)}`);
      const changed = await withDatabaseClient(database, async (client) => {
        const statements = await planOwnershipTransfer(client, role);
        await client.query('BEGIN');
        try {
          for (const statement of statements) await client.query(statement);
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw err;
        }
        return statements.length;
      });
      log.info(
        { role, database, env: envId, validUntil: validUntil.toISOString(), objectsReassigned: changed, renewed: existing !== null },
        'preview login role ensured',
      );
    });
  }

  async function dropDatabase(name: string): Promise<void> {
    quoteIdent(name);
    await run(`drop database ${name}`, async () => {
      await dropStagingLeftover(name);
      const entry = await databaseEntry(name);
      const existing = describeDatabase(entry);
      if (!entry || !existing) return;
      if (!existing.owned) {
        throw new OwnershipError(`database "${name}" was not created by previewd instance "${instance}"; refusing to drop it`, { system: 'postgres' });
      }
      // DROP … WITH (FORCE) terminates every session on the database, which a
      // non-superuser may do only for roles whose privileges it has: join our roles
      // that hold one (the PR's), and the owner of a database of an earlier version.
      const { rows: holders } = await pool.query<{ role: string }>(
        `SELECT DISTINCT a.usename AS role FROM pg_catalog.pg_stat_activity a
         WHERE a.datname OPERATOR(pg_catalog.=) $1::pg_catalog.name AND a.usename IS NOT NULL
         UNION SELECT r.rolname FROM pg_catalog.pg_database d JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) d.datdba
         WHERE d.datname OPERATOR(pg_catalog.=) $1::pg_catalog.name AND NOT r.rolname OPERATOR(pg_catalog.=) CURRENT_USER`,
        [name],
      );
      for (const { role } of holders) await joinOwnRole(pool, role);
      // A template cannot be dropped; only an earlier version's PR-owned database can be one.
      if (entry.isTemplate) await pool.query(`ALTER DATABASE ${quoteIdent(name)} WITH IS_TEMPLATE false`);
      try {
        await pool.query(`DROP DATABASE ${quoteIdent(name)} WITH (FORCE)`);
      } catch (err) {
        if (pgCode(err) !== SQLSTATE.undefinedDatabase) throw err; // dropped concurrently: fine
      }
      log.info({ database: name, env: existing.envId }, 'preview database dropped');
    });
  }

  async function dropRole(name: string): Promise<void> {
    quoteIdent(name);
    await run(`drop role ${name}`, async () => {
      const existing = describe(await roleEntry(name));
      if (!existing) return;
      if (!existing.owned) {
        throw new OwnershipError(`role "${name}" was not created by previewd instance "${instance}"; refusing to drop it`, { system: 'postgres' });
      }
      await joinOwnRole(pool, name);
      await pool.query(
        `SELECT pg_catalog.pg_terminate_backend(pid, 5000::pg_catalog.int8) FROM pg_catalog.pg_stat_activity
         WHERE usename OPERATOR(pg_catalog.=) $1::pg_catalog.name`,
        [name],
      );
      try {
        // DROP OWNED acts on the current (maintenance) database and on grants on
        // shared objects only; the PR database itself was dropped by the caller.
        await pool.query(`DROP OWNED BY ${quoteIdent(name)}`);
        await pool.query(`DROP ROLE ${quoteIdent(name)}`);
      } catch (err) {
        const code = pgCode(err);
        if (code === SQLSTATE.undefinedObject) return; // dropped concurrently
        if (code === SQLSTATE.dependentObjects) {
          throw new ConflictError(`role "${name}" still owns objects elsewhere (drop its database first): ${(err as Error).message}`, {
            system: 'postgres',
            cause: err,
          });
        }
        throw err;
      }
      log.info({ role: name, env: existing.envId }, 'preview login role dropped');
    });
  }

  return {
    getDatabase: (name) => run('read pg_database', async () => describeDatabase(await databaseEntry(name))),
    getRole: (name) => run('read pg_roles', async () => describe(await roleEntry(name))),
    listOwnedDatabases: () =>
      run('list databases', async () => {
        const { rows } = await pool.query<DatabaseEntry>(`SELECT ${DATABASE_COLUMNS} FROM pg_catalog.pg_database d ORDER BY d.datname`);
        return rows.flatMap((entry) => {
          const parsed = databaseMarker(entry);
          return parsed ? [{ name: entry.name, instance, envId: parsed.envId }] : [];
        });
      }),
    listOwnedRoles: () =>
      run('list roles', async () => {
        const { rows } = await pool.query<CatalogEntry>(
          `SELECT rolname AS name, pg_catalog.shobj_description(oid, 'pg_authid') AS comment FROM pg_catalog.pg_roles ORDER BY rolname`,
        );
        return listOwned(rows);
      }),
    ensureDatabase,
    refillWarmPools,
    ensureLoginRole,
    dropDatabase,
    dropRole,
    ping: () => run('ping', async () => void (await pool.query('SELECT 1'))),
    close: () => pool.end(),
  };
}

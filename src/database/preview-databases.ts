// PR databases and login roles on the Postgres cluster previewd administers.
// Every database and role it creates carries an ownership marker (COMMENT ON …,
// see sql.ts); nothing without this instance's marker is altered or dropped.
import { readFile } from 'node:fs/promises';
import pg from 'pg';
import type { Logger } from 'pino';
import { ConflictError, OwnershipError, TransientError, UserError } from '../errors.js';
import { BUSY, retryWhileBusy, type Busy } from './busy-retry.js';
import { planOwnershipTransfer } from './ownership-transfer.js';
import { mapPgError, pgCode, scrubPgError } from './pg-errors.js';
import { ownershipComment, parseOwnershipComment, quoteIdent, quoteLiteral, scramVerifier, stagingDatabaseName } from './sql.js';
import type { CreateDatabaseOptions, OwnedObject, PreviewDatabases } from './types.js';

export interface PreviewDatabasesOptions {
  /** Superuser (or CREATEDB + CREATEROLE) URL; its database is the maintenance database, never a template. */
  adminUrl: string;
  instance: string;
  loginGroup: string;
  log: Logger;
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

/** Runs one CREATE DATABASE … TEMPLATE; BUSY when the template has other sessions (SQLSTATE 55006). */
export async function cloneDatabaseOnce(
  client: Pick<pg.ClientBase, 'query'>,
  target: string,
  template: string,
  strategy: CreateDatabaseOptions['strategy'],
): Promise<'created' | Busy> {
  if (strategy !== 'FILE_COPY' && strategy !== 'WAL_LOG') throw new UserError(`unknown clone strategy ${String(strategy)}`, { system: 'postgres' });
  try {
    await client.query(`CREATE DATABASE ${quoteIdent(target)} TEMPLATE ${quoteIdent(template)} STRATEGY ${strategy}`);
    return 'created';
  } catch (err) {
    if (pgCode(err) === SQLSTATE.objectInUse) return BUSY;
    throw err;
  }
}

export function createPreviewDatabases(options: PreviewDatabasesOptions): PreviewDatabases {
  const { instance, loginGroup, log } = options;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const now = options.now ?? Date.now;
  // A hung server must turn into a retry, not a reconcile blocked forever; the bound
  // is generous because a FILE_COPY clone of a large template takes seconds.
  const pool = new pg.Pool({ connectionString: options.adminUrl, max: 4, connectionTimeoutMillis: 10_000, idleTimeoutMillis: 10_000, query_timeout: 120_000 });
  // An idle client losing its connection must not crash the daemon.
  pool.on('error', (err) => log.warn({ err: mapPgError(err, 'keep an idle connection') }, 'postgres admin connection lost'));
  const marker = (envId: string) => ownershipComment(instance, envId);

  async function run<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw mapPgError(err, what);
    }
  }

  async function withDatabaseClient<T>(database: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
    const url = new URL(options.adminUrl);
    url.pathname = `/${encodeURIComponent(database)}`;
    const client = new pg.Client({ connectionString: url.toString(), connectionTimeoutMillis: 10_000, query_timeout: 120_000 });
    client.on('error', () => undefined); // reported by the query that fails
    await client.connect();
    try {
      return await fn(client);
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  async function databaseEntry(name: string): Promise<CatalogEntry | null> {
    const { rows } = await pool.query<CatalogEntry>(
      `SELECT datname AS name, shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname = $1`,
      [name],
    );
    return rows[0] ?? null;
  }

  async function roleEntry(name: string): Promise<CatalogEntry | null> {
    const { rows } = await pool.query<CatalogEntry>(
      `SELECT rolname AS name, shobj_description(oid, 'pg_authid') AS comment FROM pg_roles WHERE rolname = $1`,
      [name],
    );
    return rows[0] ?? null;
  }

  function describe(entry: CatalogEntry | null) {
    if (!entry) return null;
    const parsed = parseOwnershipComment(entry.comment);
    const owned = parsed !== null && parsed.instance === instance;
    return { name: entry.name, owned, envId: owned ? parsed.envId : null };
  }

  function listOwned(entries: CatalogEntry[]): OwnedObject[] {
    const owned: OwnedObject[] = [];
    for (const entry of entries) {
      const parsed = parseOwnershipComment(entry.comment);
      if (parsed && parsed.instance === instance) owned.push({ name: entry.name, instance, envId: parsed.envId });
    }
    return owned;
  }

  async function templateSessions(template: string): Promise<number> {
    const { rows } = await pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
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
    const parsed = parseOwnershipComment(leftover.comment);
    if (leftover.comment !== null && (parsed === null || parsed.instance !== instance)) {
      throw new OwnershipError(`staging database "${staging}" exists with a marker that is not ours; not touching it`, { system: 'postgres' });
    }
    log.info({ database: name, staging }, 'dropping staging database of an interrupted create');
    await pool.query(`DROP DATABASE IF EXISTS ${quoteIdent(staging)} WITH (FORCE)`);
  }

  /** Clones the template into `staging`, retrying while the template is busy. */
  async function cloneWithRetry(staging: string, opts: CreateDatabaseOptions): Promise<void> {
    const { rows } = await pool.query<{ db: string }>('SELECT current_database() AS db');
    if (rows[0]?.db === opts.template) {
      throw new UserError(`the admin connection uses the template database "${opts.template}"; point DATABASE_URL at another database`, {
        system: 'postgres',
      });
    }
    // A pre-check on pg_stat_activity spares each busy attempt Postgres's own 5 s
    // wait inside CREATE DATABASE; the 55006 path still covers sessions arriving
    // between the check and the CREATE.
    const attempt = async (): Promise<'created' | Busy> => {
      if ((await templateSessions(opts.template)) > 0) return BUSY;
      return cloneDatabaseOnce(pool, staging, opts.template, opts.strategy);
    };
    let result = await retryWhileBusy(attempt, { budgetMs: opts.busyRetryMs, now, sleep });
    if (result === BUSY && opts.terminateTemplateSessions) {
      const { rows: killed } = await pool.query<{ n: number }>(
        `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000))::int AS n
         FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
        [opts.template],
      );
      log.warn({ template: opts.template, sessions: killed[0]?.n ?? 0 }, 'terminated sessions on the busy template database');
      result = await retryWhileBusy(attempt, { budgetMs: AFTER_TERMINATE_BUDGET_MS, now, sleep });
    }
    if (result === BUSY) {
      const sessions = await templateSessions(opts.template);
      throw new TransientError(
        `template database "${opts.template}" is busy: ${sessions} other session(s) connected to it after retrying for ${opts.busyRetryMs} ms` +
          (opts.terminateTemplateSessions ? ' and terminating them' : ' (terminateTemplateSessions is off)'),
        { system: 'postgres' },
      );
    }
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
    });
  }

  /**
   * Crash safety: the database is created under a staging name, marked, seeded,
   * and only then renamed to its final name (RENAME is atomic). So the final name
   * exists only with our marker and complete contents, and whatever a crash leaves
   * behind sits under the deterministic staging name, which the next ensureDatabase
   * or dropDatabase of that name removes.
   */
  async function ensureDatabase(name: string, envId: string, opts: CreateDatabaseOptions): Promise<'created' | 'exists'> {
    quoteIdent(name);
    return run(`create database ${name}`, async () => {
      const existing = describe(await databaseEntry(name));
      if (existing) return checkExisting(existing, envId, 'database');
      await dropStagingLeftover(name);
      const staging = stagingDatabaseName(instance, name);
      const started = now();
      if (opts.mode === 'template') {
        await cloneWithRetry(staging, opts);
      } else {
        // template0 accepts no connections, so it is never busy, and carries no site additions.
        await pool.query(`CREATE DATABASE ${quoteIdent(staging)} TEMPLATE template0`);
      }
      await pool.query(`COMMENT ON DATABASE ${quoteIdent(staging)} IS ${quoteLiteral(marker(envId))}`);
      try {
        if (opts.mode === 'empty' && opts.seedFile) await seed(staging, opts.seedFile);
        await pool.query(`ALTER DATABASE ${quoteIdent(staging)} RENAME TO ${quoteIdent(name)}`);
      } catch (err) {
        await pool.query(`DROP DATABASE IF EXISTS ${quoteIdent(staging)} WITH (FORCE)`).catch(() => undefined);
        if (pgCode(err) === SQLSTATE.duplicateDatabase) {
          const raced = describe(await databaseEntry(name));
          if (raced) return checkExisting(raced, envId, 'database');
        }
        throw err;
      }
      log.info({ database: name, env: envId, mode: opts.mode, strategy: opts.strategy, ms: now() - started }, 'preview database created');
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
      const db = describe(await databaseEntry(database));
      if (!db) throw new ConflictError(`database "${database}" does not exist; ensure it before its login role`, { system: 'postgres' });
      checkExisting(db, envId, 'database');

      const verifier = scramVerifier(password);
      const secret = verifier ?? password;
      const attributes =
        `LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT ` +
        `PASSWORD ${quoteLiteral(secret)} VALID UNTIL ${quoteLiteral(validUntil.toISOString())}`;
      const client = await pool.connect();
      try {
        // Role, marker and group membership commit together: no unmarked role can be left behind.
        await client.query('BEGIN');
        if (existing) {
          await client.query(`ALTER ROLE ${quoteIdent(role)} WITH ${attributes}`);
        } else {
          await client.query(`CREATE ROLE ${quoteIdent(role)} WITH ${attributes}`);
          await client.query(`COMMENT ON ROLE ${quoteIdent(role)} IS ${quoteLiteral(marker(envId))}`);
        }
        await client.query(`GRANT ${quoteIdent(loginGroup)} TO ${quoteIdent(role)}`);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        // The statement carried the password (or its verifier): never let it reach a message.
        const clean = scrubPgError(err, [password, secret, quoteLiteral(secret)]);
        if (pgCode(err) === SQLSTATE.duplicateObject) {
          throw new ConflictError(`role "${role}" was created concurrently`, { system: 'postgres', cause: clean });
        }
        const mapped = mapPgError(clean, `set the password of role ${role}`);
        if (mapped instanceof TransientError) throw mapped;
        throw new Error(`postgres refused to create or update role "${role}" (SQLSTATE ${pgCode(err) ?? 'unknown'})`, { cause: clean });
      } finally {
        client.release();
      }

      await pool.query(`ALTER DATABASE ${quoteIdent(database)} OWNER TO ${quoteIdent(role)}`);
      await pool.query(`REVOKE CONNECT ON DATABASE ${quoteIdent(database)} FROM PUBLIC`);
      await pool.query(`GRANT CONNECT ON DATABASE ${quoteIdent(database)} TO ${quoteIdent(role)}`);
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
      const existing = describe(await databaseEntry(name));
      if (!existing) return;
      if (!existing.owned) {
        throw new OwnershipError(`database "${name}" was not created by previewd instance "${instance}"; refusing to drop it`, { system: 'postgres' });
      }
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
      await pool.query(`SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE usename = $1`, [name]);
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
    getDatabase: (name) => run('read pg_database', async () => describe(await databaseEntry(name))),
    getRole: (name) => run('read pg_roles', async () => describe(await roleEntry(name))),
    listOwnedDatabases: () =>
      run('list databases', async () => {
        const { rows } = await pool.query<CatalogEntry>(
          `SELECT datname AS name, shobj_description(oid, 'pg_database') AS comment FROM pg_database ORDER BY datname`,
        );
        return listOwned(rows);
      }),
    listOwnedRoles: () =>
      run('list roles', async () => {
        const { rows } = await pool.query<CatalogEntry>(
          `SELECT rolname AS name, shobj_description(oid, 'pg_authid') AS comment FROM pg_roles ORDER BY rolname`,
        );
        return listOwned(rows);
      }),
    ensureDatabase,
    ensureLoginRole,
    dropDatabase,
    dropRole,
    ping: () => run('ping', async () => void (await pool.query('SELECT 1'))),
    close: () => pool.end(),
  };
}

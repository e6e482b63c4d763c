// The warm pool (issue 14 §1): per template, a few spare databases cloned in the
// background, so that a PR database is a rename, not a copy of every byte.
//
// A spare is named by sql.ts spareDatabaseName (per instance and template) and
// marked by markers.ts postgresSpareComment with the template's version marker as
// it was when the clone began. It carries no environment, so GC never lists it.
//
// Claiming is one transaction: ALTER DATABASE spare RENAME TO the PR's name, read the
// spare's marker back under that lock, COMMENT it with the PR's marker, COMMIT. RENAME
// and COMMENT are both transactional (src/backend/commands/dbcommands.c RenameDatabase
// updates the pg_database row in the caller's transaction and has no
// PreventInTransactionBlock, unlike CREATE/DROP DATABASE), so a crash leaves either the
// spare untouched or the PR's database complete and marked; two replicas racing for
// one spare see the second RENAME fail (3D000) and try the next. Owner and login role
// then follow as for any new database (ensureLoginRole). A PR database comes from the
// template as it is now: the claim reads the template's version first and takes only
// a spare recorded with that very version; with no version marker there is no hit.
import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { Logger } from 'pino';
import { postgresComment, postgresSpareComment } from '../ownership/markers.js';
import { ownerOfPostgresSpare } from '../ownership/owners.js';
import { pgCode } from './pg-errors.js';
import { describePoolAction, planWarmPool, type ObservedSpare, type PoolAction, type PoolObservation, type PoolSettings } from './pool-plan.js';
import { quoteIdent, quoteLiteral, spareDatabaseName, spareNamePrefix } from './sql.js';

export interface WarmPoolDeps {
  /** previewd's own connections (the maintenance database). */
  pool: pg.Pool;
  instance: string;
  log: Logger;
  /** CREATE DATABASE target TEMPLATE template as ensureDatabase clones (file_copy_method, busy template retries). */
  clone(target: string, template: string, strategy: PoolSettings['strategy'], signal?: AbortSignal): Promise<unknown>;
  /** A pinned-search_path connection to another database (versionQuery runs in the template). */
  withDatabaseClient<T>(database: string, fn: (client: pg.Client) => Promise<T>): Promise<T>;
}

export interface WarmPool {
  /** The template's version marker, hashed; null when it has none (no pool then). */
  templateVersion(template: string, versionQuery: string | undefined): Promise<string | null>;
  observe(settings: PoolSettings): Promise<PoolObservation>;
  /** Plans and applies one template's pool; returns what it did. */
  refill(settings: PoolSettings, signal?: AbortSignal): Promise<PoolAction[]>;
  /** Renames a current spare to `name` with the PR's marker; the spare's old name, or null on a miss. */
  claim(template: string, versionQuery: string | undefined, name: string, envId: string): Promise<string | null>;
}

const UNDEFINED_DATABASE = '3D000';
const OBJECT_IN_USE = '55006';
const DUPLICATE_DATABASE = '42P04';

/** "comment:" or "query:" first, so changing where the marker comes from also makes every spare stale. */
function hashVersion(source: 'comment' | 'query', text: string): string {
  return createHash('sha256').update(`${source}\0${text}`).digest('hex').slice(0, 32);
}

interface SpareRow {
  name: string;
  comment: string | null;
  ownedByMe: boolean;
  bytes: string | null;
}

/** A database's COMMENT (null when it has none or does not exist), read on the pool or inside a transaction. */
async function databaseComment(q: Pick<pg.ClientBase, 'query'>, name: string): Promise<string | null> {
  const { rows } = await q.query<{ comment: string | null }>(
    `SELECT pg_catalog.shobj_description(d.oid, 'pg_database') AS comment FROM pg_catalog.pg_database d WHERE d.datname OPERATOR(pg_catalog.=) $1::pg_catalog.name`,
    [name],
  );
  return rows[0]?.comment ?? null;
}

export function createWarmPool(deps: WarmPoolDeps): WarmPool {
  const { pool, instance, log } = deps;

  async function templateVersion(template: string, versionQuery: string | undefined): Promise<string | null> {
    if (versionQuery === undefined) {
      const comment = await databaseComment(pool, template);
      return comment === null || comment === '' ? null : hashVersion('comment', comment);
    }
    // Read-only, in the template, first value of the first row; the connection ends
    // before any clone (a session on the template makes CREATE DATABASE wait).
    const value = await deps.withDatabaseClient(template, async (client) => {
      await client.query('BEGIN READ ONLY');
      try {
        const result = await client.query({ text: versionQuery, rowMode: 'array' });
        return (result.rows[0] as unknown[] | undefined)?.[0];
      } finally {
        await client.query('ROLLBACK').catch(() => undefined);
      }
    });
    if (value === null || value === undefined) return null;
    const text = value instanceof Date ? value.toISOString() : String(value);
    return text === '' ? null : hashVersion('query', text);
  }

  /** This instance's spares of `template` (by name), with size and marker; the slots of look-alikes that are not ours apart. */
  async function listSpares(template: string): Promise<{ spares: ObservedSpare[]; foreignSlots: number[] }> {
    const prefix = spareNamePrefix(instance, template);
    const { rows } = await pool.query<SpareRow>(
      `SELECT d.datname AS name, pg_catalog.shobj_description(d.oid, 'pg_database') AS comment, o.mine AS "ownedByMe",
              CASE WHEN o.mine THEN pg_catalog.pg_database_size(d.oid) END AS bytes
         FROM pg_catalog.pg_database d,
              LATERAL (SELECT d.datdba OPERATOR(pg_catalog.=) (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER) AS mine) o
        WHERE pg_catalog.starts_with(d.datname::pg_catalog.text, $1)`,
      [prefix],
    );
    const spares: ObservedSpare[] = [];
    const foreignSlots: number[] = [];
    for (const row of rows) {
      const slotText = row.name.slice(prefix.length);
      if (!/^\d{1,4}$/.test(slotText)) continue;
      const marker = ownerOfPostgresSpare(row.comment);
      const ours = marker !== null && marker.instance === instance && marker.template === template;
      // Unmarked and ours by owner and name: an interrupted clone of ours. Anything else is not ours to touch.
      if (!row.ownedByMe || (row.comment !== null && !ours)) {
        log.warn({ database: row.name, template }, 'a database named like a spare is not ours; leaving it');
        foreignSlots.push(Number(slotText));
        continue;
      }
      spares.push({ name: row.name, slot: Number(slotText), version: ours ? marker.version : null, bytes: Number(row.bytes ?? 0) });
    }
    return { spares, foreignSlots };
  }

  async function observe(settings: PoolSettings): Promise<PoolObservation> {
    const version = await templateVersion(settings.template, settings.versionQuery);
    const { rows } = await pool.query<{ bytes: string | null }>(
      `SELECT pg_catalog.pg_database_size(d.oid) AS bytes FROM pg_catalog.pg_database d WHERE d.datname OPERATOR(pg_catalog.=) $1::pg_catalog.name`,
      [settings.template],
    );
    // No template: no spares can be made (the PR's own clone reports the missing template).
    return { version: rows.length === 0 ? null : version, templateBytes: Number(rows[0]?.bytes ?? 0), ...(await listSpares(settings.template)) };
  }

  async function dropSpare(template: string, name: string): Promise<void> {
    // Re-read right before: still ours, unmarked or marked as our spare (a claim may have renamed it away: then nothing to do).
    const current = (await listSpares(template)).spares.find((s) => s.name === name);
    if (!current) return;
    await pool.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
  }

  async function createSpare(action: Extract<PoolAction, { kind: 'create-spare' }>, settings: PoolSettings, signal?: AbortSignal): Promise<void> {
    try {
      await deps.clone(action.name, action.template, action.strategy, signal);
    } catch (err) {
      if (pgCode(err) === DUPLICATE_DATABASE) return; // someone's database holds the name; listSpares reported it
      throw err;
    }
    await pool.query(`REVOKE ALL ON DATABASE ${quoteIdent(action.name)} FROM PUBLIC`);
    // The template changed while it was being copied: the copy may be of either version, so it is not kept.
    if ((await templateVersion(settings.template, settings.versionQuery)) !== action.version) {
      log.info({ template: action.template, spare: action.name }, 'template changed during the clone of a spare; dropping it');
      await pool.query(`DROP DATABASE IF EXISTS ${quoteIdent(action.name)} WITH (FORCE)`);
      return;
    }
    await pool.query(`COMMENT ON DATABASE ${quoteIdent(action.name)} IS ${quoteLiteral(postgresSpareComment(instance, action.template, action.version))}`);
  }

  async function refill(settings: PoolSettings, signal?: AbortSignal): Promise<PoolAction[]> {
    const actions = planWarmPool((slot) => spareDatabaseName(instance, settings.template, slot), settings, await observe(settings));
    for (const action of actions) {
      if (signal?.aborted) break;
      const started = Date.now();
      if (action.kind === 'drop-spare') await dropSpare(action.template, action.name);
      else if (action.kind === 'create-spare') await createSpare(action, settings, signal);
      // At the budget is the steady state of a large template: not worth a line every interval.
      const level = action.kind === 'at-budget' ? 'debug' : 'info';
      log[level]({ template: action.template, action: action.kind, ms: Date.now() - started }, describePoolAction(action));
    }
    return actions;
  }

  async function claim(template: string, versionQuery: string | undefined, name: string, envId: string): Promise<string | null> {
    let version: string | null;
    try {
      version = await templateVersion(template, versionQuery);
    } catch (err) {
      // A failing versionQuery costs the pool, never the PR: it clones as without one (doctor names the query's error).
      log.warn({ template, err: { message: (err as Error).message } }, 'warm pool version unreadable; cloning instead');
      return null;
    }
    if (version === null) return null;
    const candidates = (await listSpares(template)).spares.filter((s) => s.version === version).sort((a, b) => a.slot - b.slot);
    for (const spare of candidates) {
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        await client.query(`ALTER DATABASE ${quoteIdent(spare.name)} RENAME TO ${quoteIdent(name)}`);
        // Under the rename's lock: still the spare it was listed as (nobody re-marked it since).
        const marker = ownerOfPostgresSpare(await databaseComment(client, name));
        if (!marker || marker.instance !== instance || marker.template !== template || marker.version !== version) {
          await client.query('ROLLBACK');
          continue;
        }
        await client.query(`COMMENT ON DATABASE ${quoteIdent(name)} IS ${quoteLiteral(postgresComment(instance, envId))}`);
        await client.query('COMMIT');
        return spare.name;
      } catch (err) {
        await client.query('ROLLBACK').catch((rollbackErr: Error) => void (broken = rollbackErr));
        const code = pgCode(err);
        // Taken by another claim, or someone connected to it: try the next. The PR's name exists: the caller sees it.
        if (code === UNDEFINED_DATABASE || code === OBJECT_IN_USE) continue;
        if (code === DUPLICATE_DATABASE) return null;
        throw err;
      } finally {
        client.release(broken);
      }
    }
    return null;
  }

  return { templateVersion, observe, refill, claim };
}

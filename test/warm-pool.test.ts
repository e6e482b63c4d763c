// The warm pool (issue 14 §1) against the real servers (the machine's PG 15 and the
// embedded PG 18), previewd connected as the README's role, never a superuser: spares
// cloned and marked, claimed by one rename, refilled, dropped when the template's
// version marker moves on, bounded in bytes, invisible to GC, and a crash after the
// claim converging. Everything is named with a unique suffix and removed in afterAll.
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPreviewDatabases } from '../src/database/preview-databases.js';
import type { PoolSettings } from '../src/database/pool-plan.js';
import { spareDatabaseName, spareNamePrefix } from '../src/database/sql.js';
import type { CreateDatabaseOptions, PreviewDatabases } from '../src/database/types.js';
import { uniqueSuffix } from '../src/sandbox/services.js';
import { createTestDatabase, pgServers, withAdminClient as adminClient, withRoleClient as roleClient, type PgServer } from './support/pg.js';

describe.each(pgServers())('warm pool on $label, as the README role', (server: PgServer) => {
  const withAdminClient = <T>(fn: (c: pg.Client) => Promise<T>, database?: string) => adminClient(fn, database, server);
  const withRoleClient = <T>(fn: (c: pg.Client) => Promise<T>, database?: string) => roleClient(fn, database, server);
  const serverUrl = new URL(server.superuserUrl);
  const suffix = uniqueSuffix();
  const instance = `w${suffix}`;
  const LOGIN_GROUP = 'previewd_pr_login';
  const logLines: string[] = [];
  let stateDb: Awaited<ReturnType<typeof createTestDatabase>>;
  let databases: PreviewDatabases;
  let templateCount = 0;

  const log = pino(
    { level: 'debug' },
    new Writable({
      write(chunk, _enc, done) {
        logLines.push(String(chunk));
        done();
      },
    }),
  );

  /** A fresh template as the README says (previewd's role, CONNECT revoked), with a `version` row and a COMMENT. */
  async function makeTemplate(comment: string | null = 'schema v1'): Promise<string> {
    const template = `previewd_wtpl_${suffix}_${(templateCount += 1)}`;
    await withRoleClient((c) => c.query(`CREATE DATABASE "${template}"`));
    await withRoleClient((c) => c.query(`REVOKE CONNECT ON DATABASE "${template}" FROM PUBLIC`));
    await withRoleClient((c) => c.query(`CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items VALUES (1, 'v1'); CREATE TABLE schema_version (v int); INSERT INTO schema_version VALUES (1)`), template);
    if (comment !== null) await withRoleClient((c) => c.query(`COMMENT ON DATABASE "${template}" IS '${comment}'`));
    return template;
  }

  /** The operator's migration of the template: contents first, then the marker (README). */
  async function migrateTemplate(template: string, version: number, comment: string | null): Promise<void> {
    await withRoleClient((c) => c.query(`UPDATE items SET name = 'v${version}'; UPDATE schema_version SET v = ${version}`), template);
    if (comment !== null) await withRoleClient((c) => c.query(`COMMENT ON DATABASE "${template}" IS '${comment}'`));
  }

  const settings = (template: string, overrides: Partial<PoolSettings> = {}): PoolSettings => ({
    template,
    // WAL_LOG: for a tiny template it skips FILE_COPY's two checkpoints.
    strategy: 'WAL_LOG',
    size: 2,
    maxBytes: 10 * 1024 ** 3,
    ...overrides,
  });

  const cloneOptions = (template: string, pool: CreateDatabaseOptions['pool'] = {}): CreateDatabaseOptions => ({
    mode: 'template',
    template,
    strategy: 'WAL_LOG',
    terminateTemplateSessions: false,
    busyRetryMs: 5_000,
    pool,
  });

  async function spares(template: string): Promise<{ name: string; comment: string | null }[]> {
    const { rows } = await withAdminClient((c) =>
      c.query<{ name: string; comment: string | null }>(
        `SELECT datname AS name, shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE starts_with(datname, $1) ORDER BY datname`,
        [spareNamePrefix(instance, template)],
      ),
    );
    return rows;
  }

  const itemName = async (database: string) => (await withAdminClient((c) => c.query<{ name: string }>('SELECT name FROM items'), database)).rows[0]?.name;

  beforeAll(async () => {
    stateDb = await createTestDatabase('previewd_wptest', server);
    databases = createPreviewDatabases({ adminUrl: stateDb.url, instance, loginGroup: LOGIN_GROUP, log });
  });

  afterAll(async () => {
    await databases?.close();
    await stateDb?.drop();
    await withAdminClient(async (c) => {
      const dbs = await c.query<{ datname: string }>(
        `SELECT datname FROM pg_database WHERE datname LIKE $1 OR shobj_description(oid, 'pg_database') LIKE $2 OR datname LIKE 'previewd_spare_%' AND shobj_description(oid, 'pg_database') IS NULL AND datdba = (SELECT oid FROM pg_roles WHERE rolname = $3)`,
        [`%${suffix}%`, `%"instance":"${instance}"%`, server.role],
      );
      for (const { datname } of dbs.rows) await c.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
      const roles = await c.query<{ rolname: string }>(`SELECT rolname FROM pg_roles WHERE rolname LIKE $1`, [`%${suffix}%`]);
      for (const { rolname } of roles.rows) await c.query(`DROP OWNED BY "${rolname}"; DROP ROLE IF EXISTS "${rolname}"`);
    });
  });

  it('when the pool is filled and a PR needs a database then it is a rename of a spare with the PR marker, the template contents and a working login, and the pool refills', async () => {
    const template = await makeTemplate();
    const done = await databases.refillWarmPools([settings(template)]);
    expect(done.map((a) => a.kind)).toEqual(['create-spare', 'create-spare']);
    expect((await spares(template)).map((s) => s.name)).toEqual([spareDatabaseName(instance, template, 0), spareDatabaseName(instance, template, 1)]);

    const db = `preview_${suffix}_hit`;
    const started = performance.now();
    expect(await databases.ensureDatabase(db, 'acme-pr-1', cloneOptions(template))).toBe('claimed');
    const ms = performance.now() - started;
    // A rename: far below any clone, with room for a loaded 2-core machine.
    expect(ms, `claim took ${ms.toFixed(0)} ms`).toBeLessThan(2_000);
    expect(await databases.getDatabase(db)).toEqual({ name: db, owned: true, envId: 'acme-pr-1' });
    expect(await itemName(db)).toBe('v1');
    expect((await spares(template)).map((s) => s.name)).toEqual([spareDatabaseName(instance, template, 1)]);

    // Owner and role as for any new database: the PR logs in and owns the copy's tables.
    const password = randomBytes(18).toString('base64url');
    await databases.ensureLoginRole(db, 'acme-pr-1', db, password, new Date(Date.now() + 3_600_000));
    const client = new pg.Client({ host: serverUrl.hostname, port: Number(serverUrl.port || 5432), user: db, password, database: db });
    await client.connect();
    try {
      const { rows } = await client.query<{ owner: string }>(`SELECT tableowner AS owner FROM pg_tables WHERE tablename = 'items'`);
      expect(rows[0]?.owner).toBe(db);
    } finally {
      await client.end();
    }

    const refill = await databases.refillWarmPools([settings(template)]);
    expect(refill).toEqual([expect.objectContaining({ kind: 'create-spare', name: spareDatabaseName(instance, template, 0) })]);
    expect(await databases.refillWarmPools([settings(template)])).toEqual([]);
  });

  it('when the pool is empty or the template has no version marker then the PR database is cloned directly (a miss)', async () => {
    const template = await makeTemplate();
    expect(await databases.ensureDatabase(`preview_${suffix}_miss`, 'acme-pr-2', cloneOptions(template))).toBe('created');

    const unmarked = await makeTemplate(null);
    expect(await databases.refillWarmPools([settings(unmarked)])).toEqual([]);
    expect(await spares(unmarked)).toEqual([]);
    expect(await databases.ensureDatabase(`preview_${suffix}_nover`, 'acme-pr-3', cloneOptions(unmarked))).toBe('created');
  });

  it('when the template changed after its spares were cloned then no PR gets a stale spare: it is cloned from the template as it is now, and the refill rebuilds the pool', async () => {
    const template = await makeTemplate('schema v1');
    await databases.refillWarmPools([settings(template)]);
    await migrateTemplate(template, 2, 'schema v2');

    const db = `preview_${suffix}_stale`;
    expect(await databases.ensureDatabase(db, 'acme-pr-4', cloneOptions(template))).toBe('created');
    expect(await itemName(db)).toBe('v2');

    const rebuilt = await databases.refillWarmPools([settings(template)]);
    expect(rebuilt.map((a) => (a.kind === 'drop-spare' ? `drop ${a.reason}` : a.kind))).toEqual(['drop stale', 'drop stale', 'create-spare', 'create-spare']);
    const hit = `preview_${suffix}_fresh`;
    expect(await databases.ensureDatabase(hit, 'acme-pr-5', cloneOptions(template))).toBe('claimed');
    expect(await itemName(hit)).toBe('v2');
  });

  it('when the version comes from a versionQuery then its value, not the COMMENT, decides which spares are current', async () => {
    const template = await makeTemplate('never changes');
    const versionQuery = 'SELECT max(v) FROM public.schema_version';
    await databases.refillWarmPools([settings(template, { versionQuery, size: 1 })]);
    expect(await spares(template)).toHaveLength(1);
    await migrateTemplate(template, 3, null);

    const db = `preview_${suffix}_vq`;
    expect(await databases.ensureDatabase(db, 'acme-pr-6', cloneOptions(template, { versionQuery }))).toBe('created');
    expect(await itemName(db)).toBe('v3');
    const rebuilt = await databases.refillWarmPools([settings(template, { versionQuery, size: 1 })]);
    expect(rebuilt.map((a) => a.kind)).toEqual(['drop-spare', 'create-spare']);
    expect(await databases.ensureDatabase(`preview_${suffix}_vq2`, 'acme-pr-7', cloneOptions(template, { versionQuery }))).toBe('claimed');

    // A broken query costs the pool, not the PR: its database is cloned, and the refill reports the error and keeps nothing it cannot prove current.
    const broken = 'SELECT version FROM public.no_such_table';
    expect(await databases.ensureDatabase(`preview_${suffix}_vq3`, 'acme-pr-12', cloneOptions(template, { versionQuery: broken }))).toBe('created');
    expect(await databases.refillWarmPools([settings(template, { versionQuery: broken, size: 1 })])).toEqual([]);
    expect(logLines.some((line) => line.includes('warm pool refill failed') && line.includes('no_such_table'))).toBe(true);
  });

  it('when one more spare would pass maxBytes then the pool stops short of size and says so', async () => {
    const template = await makeTemplate();
    const bytes = Number((await withAdminClient((c) => c.query<{ b: string }>('SELECT pg_database_size($1) AS b', [template]))).rows[0]!.b);
    const done = await databases.refillWarmPools([settings(template, { size: 3, maxBytes: Math.floor(bytes * 1.5) })]);
    expect(done.map((a) => a.kind)).toEqual(['create-spare', 'at-budget']);
    expect(await spares(template)).toHaveLength(1);
    // Lowered below one spare: the spare itself goes.
    const shrunk = await databases.refillWarmPools([settings(template, { size: 3, maxBytes: Math.floor(bytes / 2) })]);
    expect(shrunk[0]).toMatchObject({ kind: 'drop-spare', reason: 'over-budget' });
    expect(await spares(template)).toHaveLength(0);
  });

  it('when GC lists what previewd owns then spares are not environment databases (never orphans), and size 0 drops them', async () => {
    const template = await makeTemplate();
    await databases.refillWarmPools([settings(template)]);
    const owned = (await databases.listOwnedDatabases()).map((d) => d.name);
    for (const spare of await spares(template)) expect(owned).not.toContain(spare.name);
    await databases.refillWarmPools([settings(template, { size: 0 })]);
    expect(await spares(template)).toEqual([]);
  });

  it('when a crash left an unmarked spare, and a look-alike is not ours, then the refill drops ours and leaves the other alone', async () => {
    const template = await makeTemplate();
    // The state after CREATE DATABASE of a spare succeeded and the process died before COMMENT.
    await withRoleClient((c) => c.query(`CREATE DATABASE "${spareDatabaseName(instance, template, 0)}" TEMPLATE "${template}"`));
    // Someone else's database under a spare's name (the superuser's): not ours.
    const lookAlike = spareDatabaseName(instance, template, 1);
    await withAdminClient((c) => c.query(`CREATE DATABASE "${lookAlike}"`));
    const done = await databases.refillWarmPools([settings(template)]);
    expect(done.map((a) => (a.kind === 'drop-spare' ? `drop ${a.reason}` : a.kind))).toEqual(['drop unmarked', 'create-spare', 'create-spare']);
    const after = await spares(template);
    expect(after.map((s) => s.name)).toContain(lookAlike);
    expect(after.find((s) => s.name === lookAlike)?.comment).toBeNull();
    expect(after.filter((s) => s.comment !== null)).toHaveLength(2);
    await withAdminClient((c) => c.query(`DROP DATABASE "${lookAlike}"`));
  });

  it('when previewd dies after the claim, before owner and login role, then a restarted previewd finds the database complete and converges', async () => {
    const template = await makeTemplate();
    await databases.refillWarmPools([settings(template, { size: 1 })]);
    const db = `preview_${suffix}_crash`;
    expect(await databases.ensureDatabase(db, 'acme-pr-8', cloneOptions(template))).toBe('claimed');
    // The crash: this process's connections are gone; a new one starts over.
    const restarted = createPreviewDatabases({ adminUrl: stateDb.url, instance, loginGroup: LOGIN_GROUP, log });
    try {
      expect(await restarted.ensureDatabase(db, 'acme-pr-8', cloneOptions(template))).toBe('exists');
      const password = randomBytes(18).toString('base64url');
      await restarted.ensureLoginRole(db, 'acme-pr-8', db, password, new Date(Date.now() + 3_600_000));
      const client = new pg.Client({ host: serverUrl.hostname, port: Number(serverUrl.port || 5432), user: db, password, database: db });
      await client.connect();
      expect((await client.query<{ name: string }>('SELECT name FROM items')).rows[0]?.name).toBe('v1');
      await client.end();
      // Another environment cannot take it over, and the pool refills its slot.
      await expect(restarted.ensureDatabase(db, 'acme-pr-9', cloneOptions(template))).rejects.toThrow(/belongs to environment/);
      expect((await restarted.refillWarmPools([settings(template, { size: 1 })])).map((a) => a.kind)).toEqual(['create-spare']);
    } finally {
      await restarted.close();
    }
  });

  it('when two claims race for the last spare then one gets it and the other clones: no database is given twice', async () => {
    const template = await makeTemplate();
    await databases.refillWarmPools([settings(template, { size: 1 })]);
    const other = createPreviewDatabases({ adminUrl: stateDb.url, instance, loginGroup: LOGIN_GROUP, log });
    try {
      const results = await Promise.all([
        databases.ensureDatabase(`preview_${suffix}_race_a`, 'acme-pr-10', cloneOptions(template)),
        other.ensureDatabase(`preview_${suffix}_race_b`, 'acme-pr-11', cloneOptions(template)),
      ]);
      expect([...results].sort()).toEqual(['claimed', 'created']);
      expect(await itemName(`preview_${suffix}_race_a`)).toBe('v1');
      expect(await itemName(`preview_${suffix}_race_b`)).toBe('v1');
    } finally {
      await other.close();
    }
  });
});

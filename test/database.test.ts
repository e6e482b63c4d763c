// PR databases against the real Postgres servers (the machine's PG 15 and a
// throwaway PG 18), with previewd connected as exactly the role the README tells
// operators to create (LOGIN CREATEDB CREATEROLE, owning its state database and the
// template): never as a superuser. pg_hba makes members of previewd_pr_login
// authenticate with scram-sha-256 over TCP, so the password checks below are real.
// Everything is named with a unique suffix and removed in afterAll.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OwnershipError, TransientError, UserError } from '../src/errors.js';
import { BUSY } from '../src/database/busy-retry.js';
import { cloneDatabaseOnce, createPreviewDatabases } from '../src/database/preview-databases.js';
import { stagingDatabaseName } from '../src/database/sql.js';
import { postgresComment } from '../src/ownership/markers.js';
import type { CreateDatabaseOptions, PreviewDatabases } from '../src/database/types.js';
import { uniqueSuffix } from '../src/sandbox/services.js';
import { createTestDatabase, databaseUrl, pgServers, roleDatabaseUrl, withAdminClient as adminClient, withRoleClient as roleClient, type PgServer } from './support/pg.js';

describe.each(pgServers())('on $label, as the README role', (server: PgServer) => {
  const withAdminClient = <T>(fn: (c: pg.Client) => Promise<T>, database?: string) => adminClient(fn, database, server);
  const withRoleClient = <T>(fn: (c: pg.Client) => Promise<T>, database?: string) => roleClient(fn, database, server);
  const serverUrl = new URL(server.superuserUrl);
  const LOGIN_GROUP = 'previewd_pr_login';
  const suffix = uniqueSuffix();
  const instance = `t${suffix}`;
  const template = `previewd_tpl_${suffix}`;
  const name = (what: string) => `preview_${suffix}_${what}`;
  const passwords: string[] = [];
  const logLines: string[] = [];

  function newPassword(): string {
    const pw = randomBytes(18).toString('base64url');
    passwords.push(pw);
    return pw;
  }

  const cloneOptions = (overrides: Partial<CreateDatabaseOptions> = {}): CreateDatabaseOptions => ({
    mode: 'template',
    template,
    // WAL_LOG: for a tiny template it skips FILE_COPY's two checkpoints (~0.5 s each here).
    strategy: 'WAL_LOG',
    terminateTemplateSessions: false,
    busyRetryMs: 1_000,
    ...overrides,
  });

  async function connectAs(user: string, password: string, database: string): Promise<pg.Client> {
    const client = new pg.Client({ host: serverUrl.hostname, port: Number(serverUrl.port || 5432), user, password, database, connectionTimeoutMillis: 5_000 });
    client.on('error', () => undefined);
    await client.connect();
    return client;
  }

  async function canConnect(user: string, password: string, database: string): Promise<true | string> {
    try {
      const client = await connectAs(user, password, database);
      await client.end();
      return true;
    } catch (err) {
      return (err as Error).message;
    }
  }

  let databases: PreviewDatabases;
  let stateDb: Awaited<ReturnType<typeof createTestDatabase>>;

  beforeAll(async () => {
    const log = pino(
      { level: 'debug' },
      new Writable({
        write(chunk, _enc, done) {
          logLines.push(String(chunk));
          done();
        },
      }),
    );
    // As in production: previewd's maintenance connection is its own state database, as its role.
    stateDb = await createTestDatabase('previewd_dbtest', server);
    databases = createPreviewDatabases({ adminUrl: stateDb.url, instance, loginGroup: LOGIN_GROUP, log });
    // The template as the README says: made by previewd's role, CONNECT revoked from PUBLIC.
    await withRoleClient((c) => c.query(`CREATE DATABASE "${template}"`));
    await withRoleClient((c) => c.query(`REVOKE CONNECT ON DATABASE "${template}" FROM PUBLIC`));
    await withRoleClient(async (c) => {
      await c.query(`
        CREATE TYPE mood AS ENUM ('happy', 'sad');
        CREATE SCHEMA app;
        CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL, price int NOT NULL, feeling mood);
        CREATE TABLE app.audit (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, note text);
        CREATE SEQUENCE app.tickets;
        CREATE VIEW cheap_items AS SELECT * FROM items WHERE price < 10;
        CREATE FUNCTION item_count() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM items';
        INSERT INTO items (name, price) VALUES ('apple', 3), ('melon', 12);
      `);
    }, template);
  });

  afterAll(async () => {
    await databases?.close();
    await stateDb?.drop();
    await withAdminClient(async (c) => {
      const dbs = await c.query<{ datname: string }>(
        `SELECT datname FROM pg_database WHERE datname LIKE $1 OR datname = $2 OR shobj_description(oid, 'pg_database') LIKE $3`,
        [`%${suffix}%`, template, `%"instance":"${instance}"%`],
      );
      for (const { datname } of dbs.rows) await c.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
      const roles = await c.query<{ rolname: string }>(`SELECT rolname FROM pg_roles WHERE rolname LIKE $1`, [`%${suffix}%`]);
      for (const { rolname } of roles.rows) await c.query(`DROP OWNED BY "${rolname}"; DROP ROLE IF EXISTS "${rolname}"`);
    });
    // Invariant: no password ever reached a log line.
    const all = logLines.join('');
    for (const pw of passwords) expect(all).not.toContain(pw);
  });

  describe('PreviewDatabases (real Postgres)', () => {
    it('when PR A gets a database and login then A connects with its password over scram, owns the template objects, and cannot enter B', async () => {
      const [dbA, dbB] = [name('iso_a'), name('iso_b')];
      const [pwA, pwB] = [newPassword(), newPassword()];
      const until = new Date(Date.now() + 3_600_000);
      expect(await databases.ensureDatabase(dbA, 'env-a', cloneOptions())).toBe('created');
      expect(await databases.ensureDatabase(dbB, 'env-b', cloneOptions({ strategy: 'FILE_COPY' }))).toBe('created');
      await databases.ensureLoginRole(dbA, 'env-a', dbA, pwA, until);
      await databases.ensureLoginRole(dbB, 'env-b', dbB, pwB, until);

      const a = await connectAs(dbA, pwA, dbA);
      try {
        const { rows } = await a.query('SELECT name FROM items ORDER BY id');
        expect(rows.map((r) => r.name)).toEqual(['apple', 'melon']);
        // Ownership of what came from the template: A can migrate its own schema.
        await a.query('ALTER TABLE items ADD COLUMN sku text');
        await a.query('INSERT INTO app.audit (note) VALUES ($1)', ['x']);
        await a.query(`SELECT nextval('app.tickets')`);
        await a.query('DROP VIEW cheap_items; CREATE VIEW cheap_items AS SELECT id, name FROM items WHERE price < 5');
        await a.query(`CREATE OR REPLACE FUNCTION item_count() RETURNS bigint LANGUAGE sql AS 'SELECT 42::bigint'`);
        await a.query(`ALTER TYPE mood ADD VALUE 'calm'`);
        const owners = await a.query<{ owner: string }>(
          `SELECT DISTINCT pg_get_userbyid(relowner) AS owner FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname IN ('public', 'app') AND c.relkind IN ('r', 'v', 'S')`,
        );
        expect(owners.rows.map((r) => r.owner)).toEqual([dbA]);
      } finally {
        await a.end();
      }

      expect(await canConnect(dbA, pwA, dbB)).toMatch(/permission denied for database/);
      expect(await canConnect(dbA, 'wrong-password', dbA)).toMatch(/password authentication failed/);
      expect(await canConnect(dbB, pwB, dbB)).toBe(true);

      // The template kept its original owner: nothing outside the PR database changed hands.
      const templateOwner = await withAdminClient(
        (c) => c.query<{ owner: string }>(`SELECT pg_get_userbyid(relowner) AS owner FROM pg_class WHERE relname = 'items'`),
        template,
      );
      expect(templateOwner.rows[0]?.owner).toBe(server.role);
    });

    it("when PR A's migration drops a column then PR B's table keeps it", async () => {
      const [dbA, dbB] = [name('mig_a'), name('mig_b')];
      const [pwA, pwB] = [newPassword(), newPassword()];
      const until = new Date(Date.now() + 3_600_000);
      await databases.ensureDatabase(dbA, 'env-ma', cloneOptions());
      await databases.ensureDatabase(dbB, 'env-mb', cloneOptions());
      await databases.ensureLoginRole(dbA, 'env-ma', dbA, pwA, until);
      await databases.ensureLoginRole(dbB, 'env-mb', dbB, pwB, until);

      const a = await connectAs(dbA, pwA, dbA);
      await a.query('DROP VIEW cheap_items; ALTER TABLE items DROP COLUMN price');
      await a.end();

      const b = await connectAs(dbB, pwB, dbB);
      const { rows } = await b.query<{ price: number }>('SELECT price FROM items ORDER BY id');
      await b.end();
      expect(rows.map((r) => r.price)).toEqual([3, 12]);
    });

    it('when ensure runs again with a new password and expiry then the database is reused and only the new password works', async () => {
      const db = name('renew');
      const [first, second] = [newPassword(), newPassword()];
      expect(await databases.ensureDatabase(db, 'env-r', cloneOptions())).toBe('created');
      await databases.ensureLoginRole(db, 'env-r', db, first, new Date(Date.now() + 3_600_000));
      expect(await canConnect(db, first, db)).toBe(true);

      const renewedUntil = new Date(Date.now() + 7 * 86_400_000);
      expect(await databases.ensureDatabase(db, 'env-r', cloneOptions())).toBe('exists');
      await databases.ensureLoginRole(db, 'env-r', db, second, renewedUntil);
      expect(await canConnect(db, second, db)).toBe(true);
      expect(await canConnect(db, first, db)).toMatch(/password authentication failed/);
      const { rows } = await withAdminClient((c) =>
        c.query<{ until: Date; member: boolean }>(
          `SELECT rolvaliduntil AS until, pg_has_role(oid, $2, 'MEMBER') AS member FROM pg_roles WHERE rolname = $1`,
          [db, LOGIN_GROUP],
        ),
      );
      expect(rows[0]?.until.getTime()).toBe(renewedUntil.getTime());
      expect(rows[0]?.member).toBe(true);
      // The stored password is a SCRAM verifier: the clear text never went to the server.
      const stored = await withAdminClient((c) => c.query<{ p: string }>(`SELECT rolpassword AS p FROM pg_authid WHERE rolname = $1`, [db]));
      expect(stored.rows[0]?.p.startsWith('SCRAM-SHA-256$')).toBe(true);
    });

    it('when an expired login is ensured then Postgres refuses it', async () => {
      const db = name('expired');
      const pw = newPassword();
      await databases.ensureDatabase(db, 'env-x', cloneOptions());
      await databases.ensureLoginRole(db, 'env-x', db, pw, new Date(Date.now() - 60_000));
      expect(await canConnect(db, pw, db)).toMatch(/password authentication failed/);
    });

    it('when a similarly named database or role lacks our marker then ensure and drop refuse and it survives', async () => {
      const foreign = name('foreign');
      const otherInstance = name('other_inst');
      await withAdminClient(async (c) => {
        await c.query(`CREATE DATABASE "${foreign}"`);
        await c.query(`COMMENT ON DATABASE "${foreign}" IS 'customer data, keep'`);
        await c.query(`CREATE DATABASE "${otherInstance}"`);
        await c.query(`COMMENT ON DATABASE "${otherInstance}" IS '${postgresComment('another-previewd', 'env-f')}'`);
        await c.query(`CREATE ROLE "${foreign}" NOLOGIN`);
      });
      await expect(databases.dropDatabase(foreign)).rejects.toBeInstanceOf(OwnershipError);
      await expect(databases.dropDatabase(otherInstance)).rejects.toBeInstanceOf(OwnershipError);
      await expect(databases.ensureDatabase(foreign, 'env-f', cloneOptions())).rejects.toBeInstanceOf(OwnershipError);
      await expect(databases.dropRole(foreign)).rejects.toBeInstanceOf(OwnershipError);
      await expect(databases.ensureLoginRole(foreign, 'env-f', foreign, newPassword(), new Date(Date.now() + 60_000))).rejects.toBeInstanceOf(
        OwnershipError,
      );

      expect(await databases.getDatabase(foreign)).toEqual({ name: foreign, owned: false, envId: null });
      expect(await databases.getDatabase(otherInstance)).toEqual({ name: otherInstance, owned: false, envId: null });
      const role = await withAdminClient((c) =>
        c.query<{ login: boolean; comment: string | null }>(
          `SELECT rolcanlogin AS login, shobj_description(oid, 'pg_authid') AS comment FROM pg_roles WHERE rolname = $1`,
          [foreign],
        ),
      );
      expect(role.rows).toEqual([{ login: false, comment: null }]);
    });

    it("when a database is ours but for another environment then ensure refuses to hand it over", async () => {
      const db = name('other_env');
      await databases.ensureDatabase(db, 'env-1', cloneOptions());
      await expect(databases.ensureDatabase(db, 'env-2', cloneOptions())).rejects.toBeInstanceOf(OwnershipError);
    });

    it('when listing then only databases and roles with this instance marker are returned', async () => {
      const db = name('listed');
      await databases.ensureDatabase(db, 'env-l', cloneOptions());
      await databases.ensureLoginRole(db, 'env-l', db, newPassword(), new Date(Date.now() + 60_000));
      const malformed = name('malformed');
      await withAdminClient(async (c) => {
        await c.query(`CREATE DATABASE "${malformed}"`);
        await c.query(`COMMENT ON DATABASE "${malformed}" IS 'previewd:{"managedBy":"previewd","instance":"${instance}"'`);
      });
      // Owned by a role carrying another instance's marker (whatever its comment says), or by previewd's own role without a marker: not ours.
      const otherOwner = name('other_owner');
      const unmarked = name('unmarked');
      await withAdminClient(async (c) => {
        await c.query(`CREATE ROLE "${otherOwner}" NOLOGIN`);
        await c.query(`COMMENT ON ROLE "${otherOwner}" IS '${postgresComment('another-previewd', 'env-o')}'`);
        await c.query(`CREATE DATABASE "${otherOwner}" OWNER "${otherOwner}"`);
        // As that instance's PR could write it on a database of an earlier version, which it owned.
        await c.query(`COMMENT ON DATABASE "${otherOwner}" IS '${postgresComment(instance, 'env-forged')}'`);
      });
      await withRoleClient((c) => c.query(`CREATE DATABASE "${unmarked}"`));
      const owned = await databases.listOwnedDatabases();
      expect(owned).toContainEqual({ name: db, instance, envId: 'env-l' });
      expect(owned.map((o) => o.name)).not.toContain(malformed);
      expect(owned.map((o) => o.name)).not.toContain(otherOwner);
      expect(owned.map((o) => o.name)).not.toContain(unmarked);
      await expect(databases.dropDatabase(otherOwner)).rejects.toBeInstanceOf(OwnershipError);
      await expect(databases.dropDatabase(unmarked)).rejects.toBeInstanceOf(OwnershipError);
      expect(owned.every((o) => o.instance === instance)).toBe(true);
      expect(await databases.listOwnedRoles()).toContainEqual({ name: db, instance, envId: 'env-l' });
    });

    it('when a crash left an unmarked staging clone then the rerun converges to one marked database and no leftover', async () => {
      const db = name('crash');
      const staging = stagingDatabaseName(instance, db);
      // The state after CREATE DATABASE succeeded and the process died before COMMENT.
      await withRoleClient((c) => c.query(`CREATE DATABASE "${staging}" TEMPLATE "${template}"`));
      expect(await databases.ensureDatabase(db, 'env-c', cloneOptions())).toBe('created');
      expect(await databases.getDatabase(db)).toEqual({ name: db, owned: true, envId: 'env-c' });
      expect(await databases.getDatabase(staging)).toBeNull();
    });

    it('when a crash left a marked staging clone and the PR closed then dropDatabase removes the leftover too', async () => {
      const db = name('crash_drop');
      const staging = stagingDatabaseName(instance, db);
      await withRoleClient(async (c) => {
        await c.query(`CREATE DATABASE "${staging}" TEMPLATE "${template}"`);
        await c.query(`COMMENT ON DATABASE "${staging}" IS '${postgresComment(instance, 'env-cd')}'`);
      });
      await databases.dropDatabase(db);
      expect(await databases.getDatabase(staging)).toBeNull();
      expect(await databases.getDatabase(db)).toBeNull();
    });

    it('when a database and its role are dropped then both are gone and dropping again is fine', async () => {
      const db = name('dropme');
      const pw = newPassword();
      await databases.ensureDatabase(db, 'env-d', cloneOptions());
      await databases.ensureLoginRole(db, 'env-d', db, pw, new Date(Date.now() + 60_000));
      const session = await connectAs(db, pw, db); // an open session must not block the drop
      session.on('error', () => undefined);
      await databases.dropDatabase(db);
      await databases.dropRole(db);
      expect(await databases.getDatabase(db)).toBeNull();
      expect(await databases.getRole(db)).toBeNull();
      await databases.dropDatabase(db);
      await databases.dropRole(db);
      await session.end().catch(() => undefined);
    });

    it('when the mode is empty then the database is created from template0 and the seed file runs inside it', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'previewd-seed-'));
      const seedFile = join(dir, 'seed.sql');
      await writeFile(seedFile, `CREATE TABLE settings (k text PRIMARY KEY, v text); INSERT INTO settings VALUES ('a', '1'), ('b', '2');`);
      const db = name('seeded');
      try {
        expect(await databases.ensureDatabase(db, 'env-s', cloneOptions({ mode: 'empty', seedFile }))).toBe('created');
        const { rows } = await withAdminClient((c) => c.query('SELECT count(*)::int AS n FROM settings'), db);
        expect(rows[0]?.n).toBe(2);
        expect((await databases.getDatabase(db))?.owned).toBe(true);

        await writeFile(seedFile, 'CREATE TABLE broken (;');
        const bad = name('badseed');
        await expect(databases.ensureDatabase(bad, 'env-bs', cloneOptions({ mode: 'empty', seedFile }))).rejects.toBeInstanceOf(UserError);
        expect(await databases.getDatabase(bad)).toBeNull();
        expect(await databases.getDatabase(stagingDatabaseName(instance, bad))).toBeNull();
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('when the password cannot be expressed then the error does not contain it', async () => {
      const db = name('badpw');
      await databases.ensureDatabase(db, 'env-p', cloneOptions());
      const secret = `hunter2${randomBytes(6).toString('hex')}`;
      passwords.push(secret);
      const err = await databases.ensureLoginRole(db, 'env-p', db, `${secret}\0`, new Date(Date.now() + 60_000)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UserError);
      expect(String((err as Error).message)).not.toContain(secret);
      expect(await databases.getRole(db)).toBeNull();
    });

    describe('a hostile PR (its code runs as its role in its own database)', () => {
      const until = () => new Date(Date.now() + 3_600_000);
      const refused = async (client: pg.Client, sql: string) => {
        const err = await client.query(sql).then(
          () => null,
          (e: unknown) => e as Error & { code?: string },
        );
        return err ? `${err.code}: ${err.message}` : 'accepted';
      };

      it('when its migration plants operators that shadow the catalog queries previewd runs then the next deploy runs none of them, and it cannot make event triggers or casts on system types', async () => {
        const db = name('hostile_ops');
        const [pw, pw2] = [newPassword(), newPassword()];
        await databases.ensureDatabase(db, 'env-ho', cloneOptions());
        await databases.ensureLoginRole(db, 'env-ho', db, pw, until());
        const pr = await connectAs(db, pw, db);
        try {
          // Each trap logs who ran it and answers like the real operator, so nothing else notices.
          await pr.query(`
            CREATE TABLE public.trap_log (who name, what text);
            GRANT INSERT ON public.trap_log TO PUBLIC;
            CREATE FUNCTION public.trap_not_like(name, name) RETURNS boolean LANGUAGE plpgsql AS $$
              BEGIN INSERT INTO public.trap_log VALUES (current_user, 'name !~~ name'); RETURN $1::text OPERATOR(pg_catalog.!~~) $2::text; END $$;
            CREATE OPERATOR public.!~~ (LEFTARG = name, RIGHTARG = name, FUNCTION = public.trap_not_like);
            CREATE FUNCTION public.trap_like(name, name) RETURNS boolean LANGUAGE plpgsql AS $$
              BEGIN INSERT INTO public.trap_log VALUES (current_user, 'name ~~ name'); RETURN $1::text OPERATOR(pg_catalog.~~) $2::text; END $$;
            CREATE OPERATOR public.~~ (LEFTARG = name, RIGHTARG = name, FUNCTION = public.trap_like);
            CREATE FUNCTION public.trap_eq(oid, regclass) RETURNS boolean LANGUAGE plpgsql AS $$
              BEGIN INSERT INTO public.trap_log VALUES (current_user, 'oid = regclass'); RETURN $1 OPERATOR(pg_catalog.=) $2::oid; END $$;
            CREATE OPERATOR public.= (LEFTARG = oid, RIGHTARG = regclass, FUNCTION = public.trap_eq);
          `);
          // The control: with the default search_path an unqualified catalog query does pick the traps.
          // (NOT LIKE is the operator !~~; an unknown literal is taken as the other side's type.)
          await pr.query(`SELECT 1 FROM pg_namespace n WHERE n.nspname NOT LIKE 'pg\\_temp\\_%' AND n.nspname LIKE 'p%' AND n.oid = 'pg_namespace'::regclass`);
          const armed = await pr.query<{ what: string }>('SELECT DISTINCT what FROM public.trap_log ORDER BY 1');
          expect(armed.rows.map((r) => r.what)).toEqual(['name !~~ name', 'name ~~ name', 'oid = regclass']);
          await pr.query('TRUNCATE public.trap_log');

          // What a PR role cannot create at all.
          expect(await refused(pr, `CREATE FUNCTION public.evt() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO public.trap_log VALUES (current_user, 'event trigger'); END $$`)).toBe('accepted');
          expect(await refused(pr, 'CREATE EVENT TRIGGER trap ON ddl_command_start EXECUTE FUNCTION public.evt()')).toMatch(/^42501: permission denied to create event trigger/);
          await pr.query(`CREATE FUNCTION public.to_regclass_trap(text) RETURNS regclass LANGUAGE plpgsql AS $$ BEGIN INSERT INTO public.trap_log VALUES (current_user, 'cast'); RETURN $1::pg_catalog.regclass; END $$`);
          expect(await refused(pr, 'CREATE CAST (text AS regclass) WITH FUNCTION public.to_regclass_trap(text)')).toMatch(/^42501: must be owner of type (text|regclass)/);
        } finally {
          await pr.end();
        }

        // The next push: the login is renewed and the template objects checked again.
        await databases.ensureLoginRole(db, 'env-ho', db, pw2, until());
        const log = await withAdminClient((c) => c.query<{ who: string; what: string }>('SELECT who, what FROM public.trap_log'), db);
        expect(log.rows).toEqual([]);
        // And teardown, which also runs statements about this database, trips nothing either.
        await databases.dropDatabase(db);
        await databases.dropRole(db);
        expect(await databases.getDatabase(db)).toBeNull();
      });

      it('when it tries to erase the marker, make its database a template, refuse connections or rename it then Postgres refuses, and teardown removes everything despite open sessions and owned objects', async () => {
        const db = name('untearable');
        const pw = newPassword();
        await databases.ensureDatabase(db, 'env-ut', cloneOptions());
        await databases.ensureLoginRole(db, 'env-ut', db, pw, until());
        const pr = await connectAs(db, pw, db);
        const idle = await connectAs(db, pw, db);
        const inTransaction = await connectAs(db, pw, db);
        try {
          for (const sql of [
            `COMMENT ON DATABASE "${db}" IS NULL`,
            `COMMENT ON DATABASE "${db}" IS '${postgresComment(instance, 'env-other')}'`,
            `ALTER DATABASE "${db}" IS_TEMPLATE true`,
            `ALTER DATABASE "${db}" ALLOW_CONNECTIONS false`,
            `ALTER DATABASE "${db}" CONNECTION LIMIT 0`,
            `ALTER DATABASE "${db}" RENAME TO "${db}_x"`,
            `ALTER DATABASE "${db}" SET search_path = public`,
            `ALTER DATABASE "${db}" OWNER TO "${db}"`,
          ]) {
            expect(await refused(pr, sql), sql).toMatch(/^42501: must be owner of database/);
          }
          for (const sql of [`COMMENT ON ROLE "${db}" IS NULL`, `ALTER ROLE "${db}" VALID UNTIL 'infinity'`, `ALTER ROLE "${db}" CREATEDB`]) {
            expect(await refused(pr, sql), sql).toMatch(/^42501: /);
          }
          // What it may do: own objects everywhere in its database, hold sessions and locks.
          await pr.query(`
            CREATE SCHEMA mine;
            CREATE TABLE mine.t (id int);
            CREATE TYPE mine.e AS ENUM ('x');
            CREATE FUNCTION mine.f() RETURNS int LANGUAGE sql AS 'SELECT 1';
            CREATE TABLE public.p (id int);
            SELECT lo_create(0);
          `);
          await inTransaction.query('BEGIN; LOCK TABLE mine.t IN ACCESS EXCLUSIVE MODE');
          expect(await databases.getDatabase(db)).toEqual({ name: db, owned: true, envId: 'env-ut' });
          expect(await databases.listOwnedDatabases()).toContainEqual({ name: db, instance, envId: 'env-ut' });

          await databases.dropDatabase(db);
          await databases.dropRole(db);
          expect(await databases.getDatabase(db)).toBeNull();
          expect(await databases.getRole(db)).toBeNull();
        } finally {
          for (const c of [pr, idle, inTransaction]) await c.end().catch(() => undefined);
        }
      });

      it('when a database of an earlier version is owned by its PR role, which erased the marker and made it an unconnectable template, then GC still lists it, the next deploy takes it back, and teardown drops it', async () => {
        // Earlier versions handed the database itself to the PR role, and previewd was no member of it.
        const legacy = async (what: string, envId: string) => {
          const db = name(what);
          const pw = newPassword();
          await databases.ensureDatabase(db, envId, cloneOptions());
          await databases.ensureLoginRole(db, envId, db, pw, until());
          await withAdminClient((c) => c.query(`ALTER DATABASE "${db}" OWNER TO "${db}"`));
          await withRoleClient((c) => c.query(`REVOKE "${db}" FROM CURRENT_USER`));
          // As the owner it may do all this (ALLOW_CONNECTIONS from another database).
          const pr = await connectAs(db, pw, 'postgres');
          try {
            await pr.query(`COMMENT ON DATABASE "${db}" IS NULL`);
            await pr.query(`ALTER DATABASE "${db}" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false CONNECTION LIMIT 0`);
          } finally {
            await pr.end();
          }
          return { db, pw };
        };

        const kept = await legacy('legacy_kept', 'env-lk');
        const closed = await legacy('legacy_closed', 'env-lc');
        const owned = await databases.listOwnedDatabases();
        expect(owned).toContainEqual({ name: kept.db, instance, envId: 'env-lk' });
        expect(owned).toContainEqual({ name: closed.db, instance, envId: 'env-lc' });

        // A push to the first PR: previewd owns its database again, with the marker and defaults restored.
        await databases.ensureLoginRole(kept.db, 'env-lk', kept.db, kept.pw, until());
        const state = await withAdminClient((c) =>
          c.query<{ owner: string; comment: string; template: boolean; allow: boolean; limit: number }>(
            `SELECT pg_get_userbyid(datdba) AS owner, shobj_description(oid, 'pg_database') AS comment, datistemplate AS template,
                    datallowconn AS allow, datconnlimit AS limit FROM pg_database WHERE datname = $1`,
            [kept.db],
          ),
        );
        expect(state.rows[0]).toEqual({ owner: server.role, comment: postgresComment(instance, 'env-lk'), template: false, allow: true, limit: -1 });
        expect(await canConnect(kept.db, kept.pw, kept.db)).toBe(true);

        // The second PR closes: both go, although previewd was no member of the role and the database is a template.
        await databases.dropDatabase(closed.db);
        await databases.dropRole(closed.db);
        expect(await databases.getDatabase(closed.db)).toBeNull();
        expect(await databases.getRole(closed.db)).toBeNull();
      });
    });

    describe('a cluster not prepared as the README says', () => {
      const until = () => new Date(Date.now() + 3_600_000);
      it('when the template belongs to another role and is no template then the clone fails permanently, saying so', async () => {
        const foreignTemplate = name('tpl_foreign');
        await withAdminClient((c) => c.query(`CREATE DATABASE "${foreignTemplate}"`));
        const err = await databases.ensureDatabase(name('from_foreign'), 'env-tf', cloneOptions({ template: foreignTemplate })).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(UserError);
        expect((err as Error).message).toMatch(/permission denied to copy database .*SQLSTATE 42501.*README/);
      });

      it('when a template table belongs to another role then handing it to the PR fails permanently naming the table', async () => {
        const tpl = name('tpl_mixed');
        await withRoleClient((c) => c.query(`CREATE DATABASE "${tpl}"`));
        await withAdminClient((c) => c.query('CREATE TABLE superuser_table (id int)'), tpl);
        const db = name('from_mixed');
        await databases.ensureDatabase(db, 'env-tm', cloneOptions({ template: tpl }));
        const err = await databases.ensureLoginRole(db, 'env-tm', db, newPassword(), until()).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(UserError);
        expect((err as Error).message).toMatch(/must be owner of table superuser_table.*SQLSTATE 42501/);
      });
    });

    describe('busy template', () => {
      it('when a session holds the template then ensureDatabase retries and fails with the template name and session count', async () => {
        const holder = new pg.Client({ connectionString: roleDatabaseUrl(template, server) });
        await holder.connect();
        try {
          const db = name('busy');
          const started = Date.now();
          const err = await databases.ensureDatabase(db, 'env-busy', cloneOptions({ busyRetryMs: 400 })).catch((e: unknown) => e);
          expect(err).toBeInstanceOf(TransientError);
          expect((err as Error).message).toContain(`"${template}"`);
          expect((err as Error).message).toMatch(/1 other session/);
          expect(Date.now() - started).toBeGreaterThanOrEqual(400);
          expect(await databases.getDatabase(db)).toBeNull();
          expect(await databases.getDatabase(stagingDatabaseName(instance, db))).toBeNull();
          // The holder was left alone.
          expect((await holder.query('SELECT 1 AS one')).rows[0]?.one).toBe(1);
        } finally {
          await holder.end().catch(() => undefined);
        }
      });

      it('when terminateTemplateSessions is on then the holder is terminated and the clone succeeds', async () => {
        const holder = new pg.Client({ connectionString: roleDatabaseUrl(template, server) });
        holder.on('error', () => undefined);
        await holder.connect();
        const db = name('busy_kill');
        expect(await databases.ensureDatabase(db, 'env-bk', cloneOptions({ busyRetryMs: 100, terminateTemplateSessions: true }))).toBe('created');
        await expect(holder.query('SELECT 1')).rejects.toThrow();
        await holder.end().catch(() => undefined);
      });

      it('when terminateTemplateSessions is on but the holder is a role previewd may not signal (a superuser) then it is left alone and the clone fails as busy, not as a permanent error', async () => {
        const holder = new pg.Client({ connectionString: databaseUrl(template, server) });
        holder.on('error', () => undefined);
        await holder.connect();
        try {
          const db = name('busy_super');
          const err = await databases.ensureDatabase(db, 'env-bs2', cloneOptions({ busyRetryMs: 100, terminateTemplateSessions: true })).catch((e: unknown) => e);
          expect(err).toBeInstanceOf(TransientError);
          expect((err as Error).message).toMatch(/1 other session/);
          expect((await holder.query('SELECT 1 AS one')).rows[0]?.one).toBe(1);
        } finally {
          await holder.end().catch(() => undefined);
        }
      });

      it('when the caller stops while the template is busy then the retry ends at once, not after its budget', async () => {
        const holder = new pg.Client({ connectionString: roleDatabaseUrl(template, server) });
        await holder.connect();
        try {
          const db = name('busy_stop');
          const stop = new AbortController();
          setTimeout(() => stop.abort(new Error('shutting down')), 200);
          const started = Date.now();
          const err = await databases.ensureDatabase(db, 'env-bst', cloneOptions({ busyRetryMs: 20_000, signal: stop.signal })).catch((e: unknown) => e);
          expect((err as Error).message).toBe('shutting down');
          expect(Date.now() - started).toBeLessThan(5_000);
          expect(await databases.getDatabase(db)).toBeNull();
        } finally {
          await holder.end().catch(() => undefined);
        }
      });

      it('when CREATE DATABASE itself meets a session on the template then it reports BUSY (SQLSTATE 55006, after Postgres waits 5 s)', async () => {
        const holder = new pg.Client({ connectionString: roleDatabaseUrl(template, server) });
        await holder.connect();
        try {
          const target = name('busy_raw');
          const result = await withRoleClient((c) => cloneDatabaseOnce(c, target, template, 'FILE_COPY'));
          expect(result).toBe(BUSY);
          expect(await databases.getDatabase(target)).toBeNull();
        } finally {
          await holder.end();
        }
      }, 15_000);
    });

    describe('file_copy_method (clone-method.ts)', () => {
      const pg18 = server.label !== 'pg15';
      const createdLine = (db: string) => logLines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'preview database created' && l.database === db);

      it(`when a FILE_COPY clone runs with cloneMethod auto then ${pg18 ? 'it clones with file_copy_method = clone' : 'it sets nothing (no such setting before 18)'}`, async () => {
        const db = name('fcm_auto');
        expect(await databases.ensureDatabase(db, 'env-fcm', cloneOptions({ strategy: 'FILE_COPY' }))).toBe('created');
        expect(createdLine(db)).toMatchObject({ strategy: 'FILE_COPY', fileCopyMethod: pg18 ? 'clone' : null });
        // The clone is complete: the template's rows are there.
        const { rows } = await withAdminClient((c) => c.query<{ n: number }>('SELECT count(*)::int AS n FROM items'), db);
        expect(rows[0]?.n).toBe(2);
        // WAL_LOG never sets it.
        const wal = name('fcm_wal');
        await databases.ensureDatabase(wal, 'env-fcw', cloneOptions({ strategy: 'WAL_LOG' }));
        expect(createdLine(wal)).toMatchObject({ strategy: 'WAL_LOG', fileCopyMethod: null });
      });

      it(`when one clone runs ${pg18 ? 'with clone then the setting is applied in that same session' : 'with no method then the session has no such setting (before 18)'}`, async () => {
        const target = name('fcm_once');
        await withRoleClient(async (c) => {
          expect(await cloneDatabaseOnce(c, target, template, 'FILE_COPY', pg18 ? 'clone' : null)).toBe('created');
          // missing_ok: PG 15 knows no file_copy_method and answers null instead of an error.
          const { rows } = await c.query<{ v: string | null }>(`SELECT current_setting('file_copy_method', true) AS v`);
          expect(rows[0]?.v).toBe(pg18 ? 'clone' : null);
        });
        expect(await withAdminClient((c) => c.query('SELECT 1 FROM pg_database WHERE datname = $1', [target]))).toMatchObject({ rowCount: 1 });
      });

      it(`when cloneMethod is clone then ${pg18 ? 'it clones' : 'the clone is refused with the fix, no database made'}; copy ${pg18 ? 'sets copy' : 'sets nothing'}`, async () => {
        const log = pino({ level: 'debug' }, new Writable({ write: (chunk, _e, done) => void (logLines.push(String(chunk)), done()) }));
        const forced = createPreviewDatabases({ adminUrl: stateDb.url, instance, loginGroup: LOGIN_GROUP, log, cloneMethod: 'clone' });
        const copying = createPreviewDatabases({ adminUrl: stateDb.url, instance, loginGroup: LOGIN_GROUP, log, cloneMethod: 'copy' });
        try {
          const db = name('fcm_clone');
          const result = await forced.ensureDatabase(db, 'env-fcc', cloneOptions({ strategy: 'FILE_COPY' })).catch((e: unknown) => e);
          if (pg18) {
            expect(result).toBe('created');
            expect(createdLine(db)).toMatchObject({ fileCopyMethod: 'clone' });
          } else {
            expect(result).toBeInstanceOf(UserError);
            expect((result as Error).message).toMatch(/has no file_copy_method \(PostgreSQL 18\+\).*set database\.cloneMethod: auto or copy/);
            expect(await forced.getDatabase(db)).toBeNull();
            expect(await forced.getDatabase(stagingDatabaseName(instance, db))).toBeNull();
          }
          const copy = name('fcm_copy');
          expect(await copying.ensureDatabase(copy, 'env-fcp', cloneOptions({ strategy: 'FILE_COPY' }))).toBe('created');
          expect(createdLine(copy)).toMatchObject({ fileCopyMethod: pg18 ? 'copy' : null });
        } finally {
          await forced.close();
          await copying.close();
        }
      });
    });
  });

});

describe('cloneDatabaseOnce when clone_file fails', () => {
  it('says that the filesystem must support reflinks or cloneMethod be copy, and does not copy instead', async () => {
    // The error PG 18 raises (copydir.c clone_file; errcode_for_file_access gives XX000 for EOPNOTSUPP).
    const refused = Object.assign(new Error('could not clone file "base/16384/1259" to "base/16999/1259": Operation not supported'), { code: 'XX000' });
    const statements: string[] = [];
    const client = {
      query: async (text: string) => {
        statements.push(text);
        if (text.startsWith('CREATE DATABASE')) throw refused;
        return { rows: [{ set_config: 'clone' }] };
      },
    } as unknown as pg.Client;
    const err = await cloneDatabaseOnce(client, 'target', 'tpl', 'FILE_COPY', 'clone').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toContain('Operation not supported');
    expect((err as Error).message).toMatch(/reflink=1.*btrfs.*database\.cloneMethod: copy/);
    // One CREATE, after the SET: no second attempt with another method.
    expect(statements.filter((s) => s.startsWith('CREATE DATABASE'))).toHaveLength(1);
    expect(statements[0]).toContain("set_config('file_copy_method'");
  });
});

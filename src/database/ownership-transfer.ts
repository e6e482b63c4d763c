// Hands the objects a PR database inherited from its template over to the PR's
// login role. Run inside the PR database only: `REASSIGN OWNED` is never used,
// because it acts on every database the old owner has objects in (the template,
// other PRs' databases) rather than on this one.
import type pg from 'pg';
import { quoteIdent } from './sql.js';

// Schemas that belong to the system, never to the template's application.
const USER_SCHEMA = `
  n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND n.nspname NOT LIKE 'pg\\_temp\\_%' AND n.nspname NOT LIKE 'pg\\_toast\\_temp\\_%'`;

// Objects created by an extension stay with the extension's owner.
const notExtensionMember = (catalog: string, oid: string) => `
  NOT EXISTS (SELECT 1 FROM pg_depend d
              WHERE d.classid = '${catalog}'::regclass AND d.objid = ${oid} AND d.deptype = 'e')`;

const ALTER_RELATION: Record<string, string> = {
  r: 'TABLE',
  p: 'TABLE',
  v: 'VIEW',
  m: 'MATERIALIZED VIEW',
  f: 'FOREIGN TABLE',
  S: 'SEQUENCE',
};

/** The ALTER … OWNER TO statements that make `role` own every application object of the connected database. */
export async function planOwnershipTransfer(client: pg.ClientBase, role: string): Promise<string[]> {
  const owner = quoteIdent(role);
  const statements: string[] = [];

  // The public schema of a PG15 database is owned by pg_database_owner, which
  // already means "whoever owns the database": leave it.
  const schemas = await client.query<{ nspname: string }>(
    `SELECT n.nspname FROM pg_namespace n
     WHERE ${USER_SCHEMA}
       AND n.nspowner <> (SELECT oid FROM pg_roles WHERE rolname = $1)
       AND n.nspowner <> 'pg_database_owner'::regrole
       AND ${notExtensionMember('pg_namespace', 'n.oid')}
     ORDER BY 1`,
    [role],
  );
  for (const { nspname } of schemas.rows) statements.push(`ALTER SCHEMA ${quoteIdent(nspname)} OWNER TO ${owner}`);

  // Sequences owned by a column (serial, identity) follow their table and Postgres
  // refuses to change them on their own, so they are skipped here.
  const relations = await client.query<{ nspname: string; relname: string; relkind: string }>(
    `SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE ${USER_SCHEMA}
       AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
       AND c.relowner <> (SELECT oid FROM pg_roles WHERE rolname = $1)
       AND ${notExtensionMember('pg_class', 'c.oid')}
       AND NOT (c.relkind = 'S' AND EXISTS (
             SELECT 1 FROM pg_depend d
             WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
               AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')))
     ORDER BY 1, 2`,
    [role],
  );
  for (const { nspname, relname, relkind } of relations.rows) {
    const kind = ALTER_RELATION[relkind];
    if (kind) statements.push(`ALTER ${kind} ${quoteIdent(nspname)}.${quoteIdent(relname)} OWNER TO ${owner}`);
  }

  // Functions, procedures and aggregates. regprocedure renders a quoted, resolvable
  // signature; routines that belong to a type (range constructors) are skipped.
  const routines = await client.query<{ signature: string }>(
    `SELECT p.oid::regprocedure::text AS signature FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE ${USER_SCHEMA}
       AND p.proowner <> (SELECT oid FROM pg_roles WHERE rolname = $1)
       AND ${notExtensionMember('pg_proc', 'p.oid')}
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'i')
     ORDER BY 1`,
    [role],
  );
  for (const { signature } of routines.rows) statements.push(`ALTER ROUTINE ${signature} OWNER TO ${owner}`);

  // Enums, domains, ranges and standalone composite types (a table's row type follows the table).
  const types = await client.query<{ name: string; typtype: string }>(
    `SELECT t.oid::regtype::text AS name, t.typtype FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
     WHERE ${USER_SCHEMA}
       AND (t.typtype IN ('e', 'd', 'r')
            OR (t.typtype = 'c' AND (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c'))
       AND t.typowner <> (SELECT oid FROM pg_roles WHERE rolname = $1)
       AND ${notExtensionMember('pg_type', 't.oid')}
     ORDER BY 1`,
    [role],
  );
  for (const { name, typtype } of types.rows) {
    statements.push(`ALTER ${typtype === 'd' ? 'DOMAIN' : 'TYPE'} ${name} OWNER TO ${owner}`);
  }
  return statements;
}

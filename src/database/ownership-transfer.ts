// Hands the objects a PR database inherited from its template over to the PR's
// login role. Run inside the PR database only: `REASSIGN OWNED` is never used,
// because it acts on every database the old owner has objects in (the template,
// other PRs' databases) rather than on this one.
//
// Hostile input: after the first deploy the PR's own code (migrations, the app)
// runs in this database as the PR role and can create functions, operators and
// types in schemas it owns. Name resolution must never reach them, or they would
// run with previewd's rights. So the connection's search_path is pinned to
// `pg_catalog, pg_temp` as a connection option (preview-databases.ts), and every
// function, operator, cast and catalog below is schema-qualified as well. An
// unqualified `nspname NOT LIKE 'x'` is `name ~~ unknown`, and a PR-made
// `public.~~(name, name)` is a better match than pg_catalog's `~~(name, text)`
// whenever public is on the path (the default). SET ROLE to the PR role would be no
// barrier: code running in the session can RESET ROLE.
import type pg from 'pg';
import { quoteIdent } from './sql.js';

const EQ = 'OPERATOR(pg_catalog.=)';
const NE = 'OPERATOR(pg_catalog.<>)';
const LIKE = 'OPERATOR(pg_catalog.~~)';

// Schemas that belong to the system, never to the template's application.
const USER_SCHEMA = `
  n.nspname ${NE} ALL (ARRAY['pg_catalog', 'information_schema', 'pg_toast']::pg_catalog.name[])
  AND NOT n.nspname ${LIKE} 'pg\\_temp\\_%'::pg_catalog.text AND NOT n.nspname ${LIKE} 'pg\\_toast\\_temp\\_%'::pg_catalog.text`;

// The PR role's oid; $1 is its name.
const PR_ROLE = `(SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname ${EQ} $1::pg_catalog.name)`;

// Objects created by an extension stay with the extension's owner.
const notExtensionMember = (catalog: string, oid: string) => `
  NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
              WHERE d.classid ${EQ} '${catalog}'::pg_catalog.regclass::pg_catalog.oid AND d.objid ${EQ} ${oid}
                AND d.deptype ${EQ} 'e'::pg_catalog."char")`;

const ALTER_RELATION: Record<string, string> = {
  r: 'TABLE',
  p: 'TABLE',
  v: 'VIEW',
  m: 'MATERIALIZED VIEW',
  f: 'FOREIGN TABLE',
  S: 'SEQUENCE',
};

/**
 * The ALTER … OWNER TO statements that make `role` own every application object of
 * the connected database, the `public` schema included (it is owned by
 * pg_database_owner, i.e. by previewd, which owns PR databases). Names come back
 * schema-qualified and quoted because pg_catalog is the only schema on the path.
 */
export async function planOwnershipTransfer(client: pg.ClientBase, role: string): Promise<string[]> {
  const owner = quoteIdent(role);
  const statements: string[] = [];
  const schemas = await client.query<{ nspname: string }>(
    `SELECT n.nspname FROM pg_catalog.pg_namespace n
     WHERE ${USER_SCHEMA}
       AND n.nspowner ${NE} ${PR_ROLE}
       AND ${notExtensionMember('pg_catalog.pg_namespace', 'n.oid')}
     ORDER BY 1`,
    [role],
  );
  for (const { nspname } of schemas.rows) statements.push(`ALTER SCHEMA ${quoteIdent(nspname)} OWNER TO ${owner}`);
  // Sequences owned by a column (serial, identity) follow their table and Postgres
  // refuses to change them on their own, so they are skipped here.
  const relations = await client.query<{ nspname: string; relname: string; relkind: string }>(
    `SELECT n.nspname, c.relname, c.relkind::pg_catalog.text AS relkind
     FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid ${EQ} c.relnamespace
     WHERE ${USER_SCHEMA}
       AND c.relkind ${EQ} ANY (ARRAY['r', 'p', 'v', 'm', 'f', 'S']::pg_catalog."char"[])
       AND c.relowner ${NE} ${PR_ROLE}
       AND ${notExtensionMember('pg_catalog.pg_class', 'c.oid')}
       AND NOT (c.relkind ${EQ} 'S'::pg_catalog."char" AND EXISTS (
             SELECT 1 FROM pg_catalog.pg_depend d
             WHERE d.classid ${EQ} 'pg_catalog.pg_class'::pg_catalog.regclass::pg_catalog.oid AND d.objid ${EQ} c.oid
               AND d.refclassid ${EQ} 'pg_catalog.pg_class'::pg_catalog.regclass::pg_catalog.oid
               AND d.deptype ${EQ} ANY (ARRAY['a', 'i']::pg_catalog."char"[])))
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
    `SELECT p.oid::pg_catalog.regprocedure::pg_catalog.text AS signature
     FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid ${EQ} p.pronamespace
     WHERE ${USER_SCHEMA}
       AND p.proowner ${NE} ${PR_ROLE}
       AND ${notExtensionMember('pg_catalog.pg_proc', 'p.oid')}
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                       WHERE d.classid ${EQ} 'pg_catalog.pg_proc'::pg_catalog.regclass::pg_catalog.oid AND d.objid ${EQ} p.oid
                         AND d.deptype ${EQ} 'i'::pg_catalog."char")
     ORDER BY 1`,
    [role],
  );
  for (const { signature } of routines.rows) statements.push(`ALTER ROUTINE ${signature} OWNER TO ${owner}`);
  // Enums, domains, ranges and standalone composite types (a table's row type follows the table).
  const types = await client.query<{ name: string; typtype: string }>(
    `SELECT t.oid::pg_catalog.regtype::pg_catalog.text AS name, t.typtype::pg_catalog.text AS typtype
     FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid ${EQ} t.typnamespace
     WHERE ${USER_SCHEMA}
       AND (t.typtype ${EQ} ANY (ARRAY['e', 'd', 'r']::pg_catalog."char"[])
            OR (t.typtype ${EQ} 'c'::pg_catalog."char"
                AND (SELECT k.relkind FROM pg_catalog.pg_class k WHERE k.oid ${EQ} t.typrelid) ${EQ} 'c'::pg_catalog."char"))
       AND t.typowner ${NE} ${PR_ROLE}
       AND ${notExtensionMember('pg_catalog.pg_type', 't.oid')}
     ORDER BY 1`,
    [role],
  );
  for (const { name, typtype } of types.rows) {
    statements.push(`ALTER ${typtype === 'd' ? 'DOMAIN' : 'TYPE'} ${name} OWNER TO ${owner}`);
  }
  return statements;
}

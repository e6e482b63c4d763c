// previewd's Postgres role as the README tells operators to create it, made on a
// server by its superuser for the sandbox and the integration tests: LOGIN
// CREATEDB CREATEROLE with a password, nothing more. previewd itself is then given
// a connection as this role only; the superuser URL serves set-up and assertions.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { fileConfigSchema } from '../config/schema.js';

export interface PgServer {
  /** "pg15", "pg18": the major version, used in test names. */
  label: string;
  /** Superuser URL on the maintenance database `postgres`: set-up and assertions only. */
  superuserUrl: string;
  /** previewd's role (see createPreviewdRole) on the maintenance database. */
  roleUrl: string;
  role: string;
}

/** The default login group of PR roles: config database.loginGroup's, from the schema. */
export const DEFAULT_LOGIN_GROUP = fileConfigSchema.parse({}).database.loginGroup;

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function serverMajorVersion(superuserUrl: string): Promise<number> {
  const { rows } = await withClient(superuserUrl, (c) => c.query<{ v: string }>(`SELECT current_setting('server_version_num') AS v`));
  return Math.floor(Number(rows[0]!.v) / 10_000);
}

/**
 * Creates a fresh previewd role on the server (unique name and password), exactly
 * as the README's operator steps do, and returns the server description with a
 * function that removes the role and the databases it owns again.
 */
export async function createPreviewdRole(superuserUrl: string, loginGroup = DEFAULT_LOGIN_GROUP): Promise<{ server: PgServer; remove(): Promise<void> }> {
  const role = `previewd_run_${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const password = randomBytes(18).toString('base64url');
  const major = await serverMajorVersion(superuserUrl);
  await withClient(superuserUrl, async (c) => {
    await c.query(`CREATE ROLE "${role}" LOGIN CREATEDB CREATEROLE PASSWORD '${password}'`);
    // README: when the login group exists already (an earlier install, another
    // instance), previewd needs ADMIN on it to add PR roles to it (PG 16+).
    const group = await c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [loginGroup]);
    if (group.rowCount === 1) await c.query(`GRANT "${loginGroup}" TO "${role}" WITH ADMIN OPTION`);
  });
  const roleUrl = new URL(superuserUrl);
  roleUrl.username = role;
  roleUrl.password = password;
  return {
    server: { label: `pg${major}`, superuserUrl, roleUrl: roleUrl.toString(), role },
    remove: () =>
      withClient(superuserUrl, async (c) => {
        const owned = await c.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datdba = (SELECT oid FROM pg_roles WHERE rolname = $1)`, [role]);
        for (const { datname } of owned.rows) await c.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
        await c.query(`DROP OWNED BY "${role}"`);
        await c.query(`DROP ROLE IF EXISTS "${role}"`);
      }),
  };
}

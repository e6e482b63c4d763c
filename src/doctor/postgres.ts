// Postgres preconditions, read from the catalogs as previewd's own role (DATABASE_URL):
// the server version, the role's attributes and memberships, the login group it must
// be able to grant, and per repo the template database (README "Postgres").
import pg from 'pg';
import pino from 'pino';
import type { Config } from '../config/schema.js';
import { createWarmPool } from '../database/warm-pool.js';
import { warmPoolSettings } from '../database/warm-pool-settings.js';
import { planFileCopy, REFLINK_FIX, type CloneMethodSetting, type FileCopyFacts } from '../database/clone-method.js';
import { readFileCopyFacts } from '../database/file-copy-facts.js';
import { quoteIdent } from '../database/sql.js';
import type { CreateDatabaseOptions } from '../database/types.js';
import { fail, pass, warn, type CheckResult } from './types.js';

export interface RoleFacts {
  serverVersionNum: number;
  serverVersion: string;
  role: string;
  superuser: boolean;
  createdb: boolean;
  createrole: boolean;
  memberOf: { role: string; admin: boolean }[];
  /** null below PG 16, where the setting does not exist. */
  createroleSelfGrant: string | null;
  loginGroupExists: boolean;
}

export interface TemplateFacts {
  name: string;
  exists: boolean;
  owner: string | null;
  isTemplate: boolean;
  publicCanConnect: boolean;
}

/** A template's warm pool as configured and as found (size > 0 only). */
export interface PoolFacts {
  template: string;
  size: number;
  source: 'COMMENT' | 'versionQuery';
  /** The version marker (hashed), null when the template has none. */
  version: string | null;
  /** Why the version could not be read (a failing versionQuery). */
  error?: string;
  /** Spares ready at the current version. */
  ready: number;
}

export interface PostgresFacts {
  role: RoleFacts;
  templates: TemplateFacts[];
  fileCopy: FileCopyFacts;
  pools?: PoolFacts[];
}

/** How previewd will clone: database.cloneMethod and the strategies of the repos that clone a template. */
export interface CloneSettings {
  cloneMethod: CloneMethodSetting;
  strategies: CreateDatabaseOptions['strategy'][];
}

type Queryable = Pick<pg.Client, 'query'>;

async function gatherPostgres(client: Queryable, loginGroup: string, templates: string[]): Promise<PostgresFacts> {
  const version = await client.query<{ num: string; text: string }>(`SELECT current_setting('server_version_num') AS num, current_setting('server_version') AS text`);
  const serverVersionNum = Number(version.rows[0]!.num);
  const me = await client.query<{ rolname: string; rolsuper: boolean; rolcreatedb: boolean; rolcreaterole: boolean }>(
    `SELECT rolname, rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user`,
  );
  const members = await client.query<{ role: string; admin: boolean }>(
    `SELECT g.rolname AS role, m.admin_option AS admin
       FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
      WHERE u.rolname = current_user ORDER BY g.rolname`,
  );
  const selfGrant = serverVersionNum >= 160000 ? (await client.query<{ v: string }>(`SELECT current_setting('createrole_self_grant') AS v`)).rows[0]!.v : null;
  const group = await client.query(`SELECT 1 FROM pg_roles WHERE rolname = $1`, [loginGroup]);
  const tpl = await client.query<{ datname: string; owner: string; datistemplate: boolean; public_connect: boolean }>(
    // acldefault('d', owner): a database without explicit grants gives CONNECT to PUBLIC (grantee 0).
    `SELECT d.datname, pg_get_userbyid(d.datdba) AS owner, d.datistemplate,
            EXISTS (SELECT 1 FROM aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a
                     WHERE a.grantee = 0 AND a.privilege_type = 'CONNECT') AS public_connect
       FROM pg_database d WHERE d.datname = ANY($1::text[])`,
    [templates],
  );
  const row = me.rows[0]!;
  const fileCopy = await readFileCopyFacts(client);
  return {
    fileCopy,
    role: {
      serverVersionNum,
      serverVersion: version.rows[0]!.text,
      role: row.rolname,
      superuser: row.rolsuper,
      createdb: row.rolcreatedb,
      createrole: row.rolcreaterole,
      memberOf: members.rows,
      createroleSelfGrant: selfGrant,
      loginGroupExists: (group.rowCount ?? 0) > 0,
    },
    templates: templates.map((name) => {
      const t = tpl.rows.find((r) => r.datname === name);
      return { name, exists: !!t, owner: t?.owner ?? null, isTemplate: t?.datistemplate ?? false, publicCanConnect: t?.public_connect ?? false };
    }),
  };
}

/** The judgement, pure: facts in, one result per precondition out. */
export function judgePostgres(facts: PostgresFacts, loginGroup: string, clones: CloneSettings = { cloneMethod: 'auto', strategies: [] }): CheckResult[] {
  const { role: r } = facts;
  const results: CheckResult[] = [];
  const major = Math.floor(r.serverVersionNum / 10000);
  const notes = major >= 16 ? `; createrole_self_grant = '${r.createroleSelfGrant ?? ''}' (not needed: previewd grants itself each PR role it creates)` : '';
  results.push(
    major >= 15
      ? pass('postgres.version', `PostgreSQL ${r.serverVersion}${notes}`)
      : warn('postgres.version', `PostgreSQL ${r.serverVersion}; previewd is tested on 15 and 18`, 'upgrade to PostgreSQL 15 or newer'),
  );
  const role = quoteIdent(r.role);
  const missing = [!r.createdb && 'CREATEDB', !r.createrole && 'CREATEROLE'].filter((x): x is string => !!x);
  if (missing.length > 0) {
    results.push(fail('postgres.role', `role ${r.role} lacks ${missing.join(' and ')}`, `as a superuser: ALTER ROLE ${role} ${missing.join(' ')};`));
  } else if (r.superuser) {
    results.push(warn('postgres.role', `role ${r.role} is a superuser; previewd needs only LOGIN CREATEDB CREATEROLE`, `run previewd as the role the README creates: CREATE ROLE previewd LOGIN CREATEDB CREATEROLE …`));
  } else {
    results.push(pass('postgres.role', `role ${r.role}: CREATEDB CREATEROLE, not a superuser`));
  }
  const memberships = r.memberOf.map((m) => `${m.role}${m.admin ? ' (admin)' : ''}`);
  const group = r.memberOf.find((m) => m.role === loginGroup);
  if (!r.loginGroupExists) {
    results.push(pass('postgres.login-group', `${loginGroup} does not exist yet; previewd creates it (member of: ${memberships.join(', ') || 'none'})`));
  } else if (r.superuser || group?.admin) {
    results.push(pass('postgres.login-group', `${r.role} may grant ${loginGroup} (member of: ${memberships.join(', ') || 'none'})`));
  } else {
    results.push(fail('postgres.login-group', `${loginGroup} exists but ${r.role} cannot grant it to PR roles`, `as a superuser: GRANT ${quoteIdent(loginGroup)} TO ${role} WITH ADMIN OPTION;`));
  }
  for (const t of facts.templates) {
    const check = `postgres.template ${t.name}`;
    const db = quoteIdent(t.name);
    if (!t.exists) {
      results.push(fail(check, `database ${t.name} does not exist`, `as a superuser: CREATE DATABASE ${db} OWNER ${role}; REVOKE CONNECT, TEMPORARY ON DATABASE ${db} FROM PUBLIC; then load its schema connected as ${r.role}`));
      continue;
    }
    if (t.owner !== r.role && !r.superuser) {
      // IS_TEMPLATE would let the role clone it, but not hand the copy's tables to the PR role.
      results.push(fail(check, `owned by ${t.owner}, not ${r.role}${t.isTemplate ? ' (IS_TEMPLATE does not help: the PR role cannot be given tables previewd does not own)' : ''}`, `rebuild it as ${r.role}: pg_dump --no-owner --no-acl ${t.name} | psql postgres://${r.role}@…/<new template>`));
    } else if (t.publicCanConnect) {
      results.push(fail(check, `PUBLIC may CONNECT: a PR login's session there makes every clone wait (SQLSTATE 55006)`, `REVOKE CONNECT, TEMPORARY ON DATABASE ${db} FROM PUBLIC;`));
    } else {
      results.push(pass(check, `exists, owned by ${t.owner}, CONNECT revoked from PUBLIC`));
    }
  }
  results.push(...judgeClone(facts.fileCopy, clones));
  results.push(...judgePools(facts.pools ?? []));
  return results;
}

/**
 * Whether each warm pool can work: it needs the template's version marker, or no PR
 * ever gets a spare (warm-pool.ts never hands out one it cannot prove current). A
 * warning, not a failure: PR databases are then cloned, as without a pool.
 */
function judgePools(pools: PoolFacts[]): CheckResult[] {
  return pools.map((p) => {
    const check = `postgres.pool ${p.template}`;
    if (p.error !== undefined) {
      return warn(check, `versionQuery failed in ${p.template}: ${p.error}; no warm pool, every PR database is cloned`, 'fix repos[].database.pool.versionQuery: schema-qualified names (it runs with search_path=pg_catalog), read-only, its first value the version');
    }
    if (p.version === null) {
      return warn(
        check,
        `${p.template} has no version marker (${p.source === 'COMMENT' ? 'no COMMENT' : 'versionQuery returned nothing'}): no warm pool, every PR database is cloned`,
        `as the last step of each change to the template: COMMENT ON DATABASE ${quoteIdent(p.template)} IS '<version>'; or set repos[].database.pool.versionQuery (README "Warm pool")`,
      );
    }
    return pass(check, `warm pool: ${p.ready} of ${p.size} spare(s) ready at the template's current version (from its ${p.source}); a PR database is a rename when one is`);
  });
}

/** Each warm pool's version marker and ready spares, read the way the pool itself reads them (warm-pool.ts). */
async function gatherPools(config: Config): Promise<PoolFacts[]> {
  const pools = warmPoolSettings(config).filter((p) => p.size > 0);
  if (pools.length === 0) return [];
  const pool = new pg.Pool({ connectionString: config.env.DATABASE_URL, options: '-c search_path=pg_catalog,pg_temp', max: 2, connectionTimeoutMillis: 10_000 });
  pool.on('error', () => undefined);
  const warmPool = createWarmPool({
    pool,
    instance: config.instance,
    log: pino({ enabled: false }),
    clone: () => Promise.reject(new Error('doctor clones nothing')),
    withDatabaseClient: async (database, fn) => {
      const url = new URL(config.env.DATABASE_URL);
      url.pathname = `/${encodeURIComponent(database)}`;
      const client = new pg.Client({ connectionString: url.toString(), options: '-c search_path=pg_catalog,pg_temp', connectionTimeoutMillis: 10_000 });
      client.on('error', () => undefined);
      await client.connect();
      try {
        return await fn(client);
      } finally {
        await client.end().catch(() => undefined);
      }
    },
  });
  try {
    return await Promise.all(
      pools.map(async (settings): Promise<PoolFacts> => {
        const base = { template: settings.template, size: settings.size, source: settings.versionQuery === undefined ? ('COMMENT' as const) : ('versionQuery' as const) };
        try {
          const observed = await warmPool.observe(settings);
          return { ...base, version: observed.version, ready: observed.spares.filter((s) => s.version !== null && s.version === observed.version).length };
        } catch (err) {
          return { ...base, version: null, error: (err as Error).message, ready: 0 };
        }
      }),
    );
  } finally {
    await pool.end().catch(() => undefined);
  }
}

/**
 * Whether a PR database will take constant time (clone-method.ts decides, as for the
 * clones themselves). Informational where the server simply copies: that works, and
 * its fix (PG 18 on a reflink filesystem) is the operator's to weigh; a failure only
 * when the configured method cannot apply, because every clone would then fail.
 */
function judgeClone(fileCopy: FileCopyFacts, clones: CloneSettings): CheckResult[] {
  const strategies = [...new Set(clones.strategies)];
  if (strategies.length === 0) return [];
  const plans = strategies.map((strategy) => ({ strategy, plan: planFileCopy(clones.cloneMethod, fileCopy, strategy) }));
  const refused = plans.find((p) => !p.plan.ok);
  if (refused && !refused.plan.ok) return [fail('postgres.clone', refused.plan.detail, refused.plan.fix)];
  const detail = plans
    .map(({ strategy, plan }) => {
      if (!plan.ok) return '';
      const verdict = plan.constantTime === 'if-reflink' ? 'constant-time on a reflink filesystem' : 'not constant-time';
      const advice = plan.constantTime === 'no' && strategy === 'FILE_COPY' ? `; for constant-time clones: PostgreSQL 18+ with database.cloneMethod auto or clone, and ${REFLINK_FIX}` : '';
      return `${verdict}: ${plan.detail}${advice}`;
    })
    .join('; ');
  return [pass('postgres.clone', detail)];
}

export async function checkPostgres(config: Config): Promise<CheckResult[]> {
  const client = new pg.Client({ connectionString: config.env.DATABASE_URL, connectionTimeoutMillis: 10_000 });
  try {
    await client.connect();
  } catch (err) {
    return [fail('postgres.connect', `cannot connect with DATABASE_URL: ${(err as Error).message}`, 'check DATABASE_URL, pg_hba.conf and that the role exists (README "Postgres")')];
  }
  try {
    const templates = [...new Set(config.repos.filter((r) => r.database.mode === 'template').map((r) => r.database.template))];
    const strategies = config.repos.filter((r) => r.database.mode === 'template').map((r) => r.database.strategy);
    const facts = { ...(await gatherPostgres(client, config.database.loginGroup, templates)), pools: await gatherPools(config) };
    return judgePostgres(facts, config.database.loginGroup, {
      cloneMethod: config.database.cloneMethod,
      strategies,
    });
  } finally {
    await client.end().catch(() => undefined);
  }
}

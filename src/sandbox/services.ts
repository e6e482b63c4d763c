// Real Postgres and Redis for integration tests. Each caller gets its own database
// or key prefix, so parallel and repeated runs never interfere; everything made is
// removed again by the returned cleanup functions. Postgres helpers name the server
// (pg-server.ts): the tests run against more than one. Which local servers to use is
// the caller's, read from the environment by config/sandbox-env.ts.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Redis } from 'ioredis';
import type { LocalServices } from '../config/sandbox-env.js';
import type { PgServer } from './pg-server.js';

export function uniqueSuffix(): string {
  return `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/**
 * The local server with the superuser standing in for previewd's role: only for
 * benchmarks of code that administers nothing (the intake's state store). Anything
 * that creates PR databases gets a real role (createPreviewdRole).
 */
export function localSuperuserServer(postgresAdminUrl: string): PgServer {
  return { label: 'local', superuserUrl: postgresAdminUrl, roleUrl: postgresAdminUrl, role: new URL(postgresAdminUrl).username || 'postgres' };
}

/** Superuser URL of `database` on `server` (set-up and assertions only). */
export function databaseUrl(server: PgServer, database: string): string {
  return withDatabase(server.superuserUrl, database);
}

/** previewd's role's URL of `database` on `server`. */
export function roleDatabaseUrl(server: PgServer, database: string): string {
  return withDatabase(server.roleUrl, database);
}

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** A superuser connection: the operator's set-up, and assertions. */
export async function withAdminClient<T>(server: PgServer, fn: (client: pg.Client) => Promise<T>, database?: string): Promise<T> {
  return withClient(database ? databaseUrl(server, database) : server.superuserUrl, fn);
}

/** A connection as previewd's role (e.g. to build a template as the README says). */
export async function withRoleClient<T>(server: PgServer, fn: (client: pg.Client) => Promise<T>, database?: string): Promise<T> {
  return withClient(database ? roleDatabaseUrl(server, database) : server.roleUrl, fn);
}

/**
 * A fresh state database, owned by previewd's role as the README has operators
 * create it; `url` connects as that role. drop() removes it (and any session on it).
 */
export async function createTestDatabase(server: PgServer, prefix = 'previewd_test'): Promise<{ name: string; url: string; drop(): Promise<void> }> {
  const name = `${prefix}_${uniqueSuffix()}`;
  await withAdminClient(server, (c) => c.query(`CREATE DATABASE "${name}" OWNER "${server.role}"`));
  return {
    name,
    url: roleDatabaseUrl(server, name),
    drop: () => withAdminClient(server, (c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)).then(() => undefined),
  };
}

/** A connection to the Redis at `url` scoped by a unique key prefix; cleanup() deletes every key under it. */
export async function createTestRedis(url: string): Promise<{ prefix: string; url: string; redis: Redis; cleanup(): Promise<void> }> {
  const prefix = `previewd-test-${uniqueSuffix()}`;
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  return {
    prefix,
    url,
    redis,
    cleanup: async () => {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
        if (keys.length > 0) await redis.del(...keys);
        cursor = next;
      } while (cursor !== '0');
      redis.disconnect();
    },
  };
}

/** Null when the Postgres at `adminUrl` answers, else one line saying so and how to start it. */
export async function postgresProblem(adminUrl: string): Promise<string | null> {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return null;
  } catch (err) {
    return (
      `Postgres at ${adminUrl.replace(/:[^:@/]*@/, ':***@')} is not reachable (${(err as Error).message}). ` +
      'Start it: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start'
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Null when the Redis at `url` answers, else one line saying so and how to get one. */
export async function redisProblem(url: string): Promise<string | null> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 3000 });
  // The socket's own error (ECONNREFUSED…) says more than connect()'s "Connection is closed";
  // listening also keeps ioredis from printing it as an unhandled error event.
  let socketError: Error | null = null;
  redis.on('error', (err: Error) => (socketError ??= err));
  try {
    await redis.connect();
    await redis.ping();
    return null;
  } catch (err) {
    return (
      `Redis at ${url} is not reachable (${(socketError ?? (err as Error)).message}). ` +
      'Start it: redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no ' +
      '(Debian: apt-get install redis-server), or set REDIS_URL'
    );
  } finally {
    redis.disconnect();
  }
}

/** Fails at once, with the command that starts it, when the local Postgres or Redis is missing: never a silent skip. */
export async function checkLocalServices(services: LocalServices): Promise<void> {
  const problems = (await Promise.all([postgresProblem(services.postgresAdminUrl), redisProblem(services.redisUrl)])).filter((p): p is string => p !== null);
  if (problems.length > 0) throw new Error(`integration services missing:\n${problems.join('\n')}`);
}

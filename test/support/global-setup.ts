// Integration tests need the real Postgres and Redis. When either is missing the
// whole run fails at once with the command that starts it: never a silent skip.
import pg from 'pg';
import { Redis } from 'ioredis';
import { PG_ADMIN_URL, TEST_REDIS_URL } from './services.js';

export default async function checkServices(): Promise<void> {
  const problems: string[] = [];
  const client = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (err) {
    problems.push(
      `Postgres at ${PG_ADMIN_URL.replace(/:[^:@/]*@/, ':***@')} is not reachable (${(err as Error).message}). ` +
        'Start it: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start',
    );
  } finally {
    await client.end().catch(() => undefined);
  }
  const redis = new Redis(TEST_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 3000 });
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    problems.push(
      `Redis at ${TEST_REDIS_URL} is not reachable (${(err as Error).message}). ` +
        'Start it: redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no',
    );
  } finally {
    redis.disconnect();
  }
  if (problems.length > 0) throw new Error(`integration services missing:\n${problems.join('\n')}`);
}

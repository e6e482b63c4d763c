// The Postgres servers of this test run (global-setup.ts) and the sandbox helpers
// bound to one of them: the machine's server unless a test names another. Tests
// that must hold on every supported version run once per server:
//
//   describe.each(pgServers())('… on $label', (server) => { … startWorld({ server }) … })
import { inject } from 'vitest';
import type { PgServer } from '../../src/sandbox/pg-server.js';
import * as services from '../../src/sandbox/services.js';
import * as world from '../../src/sandbox/world.js';
import { TEST_SERVICES } from './services.js';

export type { PgServer } from '../../src/sandbox/pg-server.js';

/** Every server the run prepared: the machine's PG 15 first, then PG 18. */
export function pgServers(): PgServer[] {
  return inject('pgServers');
}

export function defaultServer(): PgServer {
  return pgServers()[0]!;
}

/** Superuser URL of `database` (assertions only). */
export const databaseUrl = (database: string, server = defaultServer()) => services.databaseUrl(server, database);

/** previewd's role's URL of `database`. */
export const roleDatabaseUrl = (database: string, server = defaultServer()) => services.roleDatabaseUrl(server, database);

/** A superuser connection: the operator's set-up, and assertions. */
export const withAdminClient = <T>(fn: (client: import('pg').Client) => Promise<T>, database?: string, server = defaultServer()) =>
  services.withAdminClient(server, fn, database);

/** A connection as previewd's role. */
export const withRoleClient = <T>(fn: (client: import('pg').Client) => Promise<T>, database?: string, server = defaultServer()) =>
  services.withRoleClient(server, fn, database);

/** A state database owned by previewd's role; its url connects as the role. */
export const createTestDatabase = (prefix?: string, server = defaultServer()) => services.createTestDatabase(server, prefix);

/** A world whose previewd connects as the README's role (on the machine's server unless `server` is given). */
export const startWorld = (options: Omit<world.WorldOptions, 'server' | 'redisUrl'> & { server?: PgServer } = {}) =>
  world.startWorld({ ...options, server: options.server ?? defaultServer(), redisUrl: TEST_SERVICES.redisUrl });

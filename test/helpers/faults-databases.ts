// Fault knobs for the PR-database client, the Postgres counterpart of the emulators'
// `faults`: `down` sends every call to a client whose admin URL points at a closed
// port (real ECONNREFUSED, mapped by the real pg error code path); `failures` make
// calls naming one database or role fail with a Postgres error code (`times` times);
// `latencyMs` delays calls naming one database or role.
import { createServer } from 'node:net';
import { mapPgError } from '../../src/database/pg-errors.js';
import { createPreviewDatabases } from '../../src/database/preview-databases.js';
import type { PreviewDatabases } from '../../src/database/types.js';
import type { Logger } from 'pino';

export interface DatabaseFailureRule {
  /** Fails calls whose first argument (database or role name) equals this. */
  name: string;
  /** Postgres SQLSTATE of the error thrown, e.g. 57P03 (cannot connect now). */
  code: string;
  message: string;
  times?: number;
}

export interface DatabaseFaults {
  down: boolean;
  failures: DatabaseFailureRule[];
  /** name → extra milliseconds for calls naming it. */
  latency: Map<string, number>;
}

export interface FaultyDatabases {
  databases: PreviewDatabases;
  faults: DatabaseFaults;
  close(): Promise<void>;
}

/** A TCP port nothing listens on (taken from the OS, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A pg-like error: what node-postgres throws for a server error answer. */
function pgError(rule: DatabaseFailureRule): Error {
  return Object.assign(new Error(rule.message), { code: rule.code, severity: 'FATAL' });
}

export async function withDatabaseFaults(
  real: PreviewDatabases,
  options: { adminUrl: string; instance: string; loginGroup: string; log: Logger },
): Promise<FaultyDatabases> {
  const unreachableUrl = new URL(options.adminUrl);
  unreachableUrl.hostname = '127.0.0.1';
  unreachableUrl.port = String(await closedPort());
  const unreachable = createPreviewDatabases({ ...options, adminUrl: unreachableUrl.toString() });
  const faults: DatabaseFaults = { down: false, failures: [], latency: new Map() };

  const databases = new Proxy(real, {
    get(target, prop, receiver) {
      const method = Reflect.get(target, prop, receiver) as unknown;
      if (typeof method !== 'function' || prop === 'close') return method;
      return async (...args: unknown[]) => {
        const name = typeof args[0] === 'string' ? args[0] : null;
        const delay = name ? (faults.latency.get(name) ?? 0) : 0;
        if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
        if (faults.down) return (Reflect.get(unreachable, prop) as (...a: unknown[]) => unknown).apply(unreachable, args);
        const rule = name ? faults.failures.find((r) => r.name === name && (r.times ?? Infinity) > 0) : undefined;
        if (rule) {
          if (rule.times !== undefined) rule.times -= 1;
          // Mapped the way preview-databases maps what node-postgres throws.
          throw mapPgError(pgError(rule), `${String(prop)} ${name}`);
        }
        return (method as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  }) as PreviewDatabases;

  return { databases, faults, close: () => unreachable.close() };
}

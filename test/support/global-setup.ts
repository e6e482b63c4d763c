// Integration tests need the real Postgres and Redis. When either is missing the
// whole run fails at once with the command that starts it: never a silent skip.
// Then the Postgres servers the tests run against are prepared once per run, each
// with previewd's role as the README describes it: the machine's (PG 15) and a
// throwaway PG 18 (src/sandbox/embedded-pg.ts). Test files reach them through support/pg.ts.
import type { TestProject } from 'vitest/node';
import { createPreviewdRole, type PgServer } from '../../src/sandbox/pg-server.js';
import { checkLocalServices } from '../../src/sandbox/services.js';
import { TEST_SERVICES } from './services.js';
import { startEmbeddedServer } from '../../src/sandbox/embedded-pg.js';

declare module 'vitest' {
  export interface ProvidedContext {
    pgServers: PgServer[];
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  await checkLocalServices(TEST_SERVICES);
  const started: { server: PgServer; stop(): Promise<void> }[] = [];
  const stopAll = async () => {
    for (const s of started.reverse()) await s.stop().catch((err: unknown) => console.error(`stopping ${s.server.label}: ${(err as Error).message}`));
  };
  try {
    const local = await createPreviewdRole(TEST_SERVICES.postgresAdminUrl);
    started.push({ server: local.server, stop: local.remove });
    started.push(await startEmbeddedServer());
  } catch (err) {
    await stopAll();
    throw err;
  }
  project.provide('pgServers', started.map((s) => s.server));
  return stopAll;
}

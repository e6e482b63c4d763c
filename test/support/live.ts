// Live mode (README "Live mode", `npm run test:live`): vitest.live.config.ts provides the
// real agents (live-setup.ts); a test that runs on both asks startTestWorld for its world
// and gets the live one then, the emulator world otherwise. Emulator-only handles (fault
// injection, node agents) are on `cluster`, absent in live mode.
import { fileURLToPath } from 'node:url';
import { inject } from 'vitest';
import type { LiveCluster } from '../../src/config/live-env.js';
import type { Cluster } from '../../src/sandbox/emulators/cluster.js';
import { startLiveWorld } from '../../src/sandbox/live-world.js';
import type { BaseWorld } from '../../src/sandbox/world.js';
import { startWorld, type PgServer } from './pg.js';
import { TEST_SERVICES } from './services.js';

declare module 'vitest' {
  export interface ProvidedContext {
    liveCluster?: LiveCluster;
  }
}

/** Where the live templates put the copy of a task's env that Nomad's fs API may read (it refuses secrets/). */
export const LIVE_ENV_FILE = 'local/observed.env';

/** Job templates a dev agent can run (test/live/job-templates/README.md). */
export const LIVE_TEMPLATES_DIR = fileURLToPath(new URL('../live/job-templates', import.meta.url));

/** The real agents of a live run; undefined in the normal suite. */
export const liveCluster = (): LiveCluster | undefined => inject('liveCluster');

export type TestWorld = BaseWorld & { cluster?: Cluster };

export async function startTestWorld(options: { server: PgServer }): Promise<TestWorld> {
  const live = liveCluster();
  if (!live) return startWorld({ server: options.server });
  return startLiveWorld({ server: options.server, redisUrl: TEST_SERVICES.redisUrl, live, envFile: LIVE_ENV_FILE, repos: [{ templatesDir: LIVE_TEMPLATES_DIR }] });
}

// `npm run test:live` (README "Live mode"): the lifecycle test against real Nomad,
// Consul and Vault dev agents. Not part of `npm test` (vitest.config.ts never includes
// it as live). Real deploys pull images and wait out health checks, hence the room.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/lifecycle.e2e.test.ts'],
    testTimeout: 600_000,
    hookTimeout: 600_000,
    pool: 'forks',
    // One run at a time against the one dev cluster.
    fileParallelism: false,
    // The agents first: without them the run refuses before it starts any Postgres.
    globalSetup: ['test/support/live-setup.ts', 'test/support/global-setup.ts'],
  },
});

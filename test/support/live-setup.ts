// Global set-up of `npm run test:live`: the real agents from the environment, or a
// refusal (scripts/live-check.ts refuses first; this keeps a bare
// `vitest --config vitest.live.config.ts` from running against nothing).
import type { TestProject } from 'vitest/node';
import { liveClusterFromEnv } from '../../src/config/live-env.js';

export default function setup(project: TestProject): void {
  const result = liveClusterFromEnv(process.env);
  if (!result.ok) throw new Error(result.message);
  project.provide('liveCluster', result.cluster);
}

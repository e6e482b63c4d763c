// The test job's name: the PR's environment ID, "e2e" and the SHA (12 hex, as a short
// SHA is shown), so a run of a newer SHA is a different Nomad job. Pure.
import type { EnvironmentNames } from '../environments/naming.js';

/** The component name the test job's ownership marker carries. */
export const TEST_COMPONENT = 'e2e';

export function testJobId(names: Pick<EnvironmentNames, 'jobId'>, sha: string): string {
  return names.jobId(`${TEST_COMPONENT}-${sha.slice(0, 12)}`);
}

// The build gate's I/O: before anything of a new head SHA is deployed, read what GitHub's
// REST API says of its check runs and statuses, and ask the registry whether every image
// built from the PR exists; the pure gate (build/gate.ts) decides. A webhook or the build
// poll only asks for this to be done again. Errors are the clients' (TransientError:
// GitHub or a registry down, retried; UserError: a permission GitHub refuses).
import type { Deps } from '../deps.js';
import { decideBuildGate, decideChecks, gatesDeploys, type BuildFacts } from '../build/gate.js';
import type { HeldGate } from '../build/hold.js';
import { repoConfig } from '../config/repos.js';
import type { DesiredEnvironment } from './model.js';
import type { EnvironmentKey } from './naming.js';
import type { RenderedJob } from './renderer.js';
import type { EnvironmentRecord } from './types.js';

/**
 * The gate's verdict when it holds the deploy back; null when it lets it through (or the
 * repo has no gate, or this SHA is already deployed: a redeploy or a credential renewal
 * of a running SHA is not held back by its build, which was done when it was deployed).
 */
export async function checkBuildGate(
  deps: Pick<Deps, 'config' | 'github' | 'registry' | 'clock'>,
  key: EnvironmentKey,
  record: Pick<EnvironmentRecord, 'observedSha' | 'status' | 'lastPushAt'> | null,
  desired: DesiredEnvironment & { sha: string },
  jobs: RenderedJob[],
): Promise<HeldGate | null> {
  const { build } = repoConfig(deps.config, key.repo);
  if (!gatesDeploys(build)) return null;
  if (record?.observedSha === desired.sha && record.status !== 'waiting_for_build') return null;
  const facts: BuildFacts = { pushedAt: record?.lastPushAt ?? deps.clock.now(), now: deps.clock.now() };
  if (build.checks.length > 0) {
    const [checkRuns, statuses] = await Promise.all([deps.github.listCheckRuns(key.repo, desired.sha), deps.github.listCommitStatuses(key.repo, desired.sha)]);
    facts.checkRuns = checkRuns;
    facts.statuses = statuses;
  }
  // A failed check decides; the registry is asked only when its answer can matter.
  if (build.waitForImages && !decideChecks(build, facts).failed) {
    const images = [...new Set(jobs.filter((j) => j.builtFromPr).map((j) => j.image))];
    facts.images = await Promise.all(images.map(async (image) => ({ image, present: (await deps.registry.probe(image)) === 'present' })));
  }
  facts.now = deps.clock.now();
  const gate = decideBuildGate(build, facts);
  return gate.kind === 'ready' ? null : gate;
}

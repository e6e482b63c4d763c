// requestE2eRerun: the one way to run a PR's tests again (admin API, CLI, and the
// `/preview retest` comment command). The run is queued again at the SHA it last ran at;
// the daemon's runner starts it within e2e.concurrency.
import type { Deps, E2eRerunResult } from '../deps.js';
import type { EnvironmentKey } from '../environments/naming.js';

export async function requestE2eRerun(deps: Pick<Deps, 'e2e'>, key: EnvironmentKey): Promise<E2eRerunResult> {
  if (!deps.e2e) return { ok: false, reason: 'no repository has e2e tests configured' };
  return deps.e2e.requestRerun(key);
}

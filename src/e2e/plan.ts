// planE2e: what the gate does next for one PR, from its environment and its run. Pure.
// Tests start only against an environment ready at a SHA; a newer SHA (even while it is
// still deploying) cancels a run of an older one, and its own run is queued once it is
// ready; a closed PR cancels. A finished run is told to GitHub before its job is purged.
import { ACTIVE_STATES, type E2eAction, type E2eEnvironment, type E2eRun } from './types.js';

/** What GitHub shows for a run; a change of it is what needs telling. */
export function reportKey(run: Pick<E2eRun, 'sha' | 'state' | 'attempt'>): string {
  return `${run.sha}:${run.attempt}:${run.state}`;
}

export function isActive(run: E2eRun | null): boolean {
  return run !== null && ACTIVE_STATES.includes(run.state);
}

/**
 * @param slotFree whether a test job may start now (fewer than e2e.concurrency run)
 */
export function planE2e(env: E2eEnvironment | null, run: E2eRun | null, slotFree: boolean): E2eAction[] {
  const actions: E2eAction[] = [];
  const wanted = env?.present ? env.desiredSha : null;
  if (run && isActive(run) && run.sha !== wanted) {
    actions.push({ kind: 'cancel', reason: wanted ? `a newer commit ${wanted.slice(0, 7)} was pushed` : 'the pull request was closed' });
    // A cancel stops and purges the job and tells GitHub (runner.ts) before a new run replaces the row.
    if (env?.readySha && env.readySha === wanted) actions.push({ kind: 'queue', sha: env.readySha });
    return actions;
  }
  if (env?.readySha && env.readySha === wanted && (run === null || run.sha !== env.readySha)) {
    if (run && !run.jobPurged) actions.push({ kind: 'purge' });
    actions.push({ kind: 'queue', sha: env.readySha });
    return actions;
  }
  if (!run) return actions;
  if (run.reported !== reportKey(run)) actions.push({ kind: 'report' });
  if (run.state === 'queued' && slotFree && env?.readySha === run.sha) actions.push({ kind: 'start' });
  if (run.state === 'running') actions.push({ kind: 'observe' });
  // Purged only once GitHub holds the result: the logs are read before, the job is the evidence until then.
  if (!isActive(run) && !run.jobPurged && run.reported === reportKey(run)) actions.push({ kind: 'purge' });
  return actions;
}

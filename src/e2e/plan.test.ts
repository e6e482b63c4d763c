import { describe, expect, it } from 'vitest';
import { planE2e, reportKey } from './plan.js';
import type { E2eEnvironment, E2eRun } from './types.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);

function run(patch: Partial<E2eRun> = {}): E2eRun {
  const base: E2eRun = {
    key: { repo: 'acme/shop', pr: 7 },
    sha: A,
    state: 'running',
    attempt: 1,
    jobId: 'job',
    evalId: 'ev',
    reason: null,
    output: null,
    queuedAt: new Date(0),
    startedAt: new Date(0),
    finishedAt: null,
    checkRunId: null,
    reported: null,
    jobPurged: false,
  };
  const r = { ...base, ...patch };
  if (patch.reported === undefined) r.reported = reportKey(r);
  return r;
}
const ready = (sha: string): E2eEnvironment => ({ present: true, desiredSha: sha, readySha: sha });
const deploying = (sha: string, readySha: string | null): E2eEnvironment => ({ present: true, desiredSha: sha, readySha });
const closed: E2eEnvironment = { present: false, desiredSha: null, readySha: null };

describe('planE2e', () => {
  it.each([
    ['no run and the environment ready at A: queue A', ready(A), null, true, [{ kind: 'queue', sha: A }]],
    ['no run and the environment still deploying: nothing', deploying(A, null), null, true, []],
    ['a queued run with a free slot: start it', ready(A), run({ state: 'queued' }), true, [{ kind: 'start' }]],
    ['a queued run without a free slot: wait', ready(A), run({ state: 'queued' }), false, []],
    ['a running run: observe it', ready(A), run(), true, [{ kind: 'observe' }]],
    ['a push of B while A runs and B deploys: cancel A, nothing queued yet', deploying(B, A), run(), true, [{ kind: 'cancel', reason: 'a newer commit bbbbbbb was pushed' }]],
    ['B ready while A still runs: cancel A and queue B', ready(B), run(), true, [{ kind: 'cancel', reason: 'a newer commit bbbbbbb was pushed' }, { kind: 'queue', sha: B }]],
    ['the PR closed while A runs: cancel', closed, run(), true, [{ kind: 'cancel', reason: 'the pull request was closed' }]],
    ['the environment row is gone while A is queued: cancel', null, run({ state: 'queued' }), true, [{ kind: 'cancel', reason: 'the pull request was closed' }]],
    ['A finished, told and purged, B ready: queue B only', ready(B), run({ state: 'passed', jobPurged: true }), true, [{ kind: 'queue', sha: B }]],
    ['A finished but not purged, B ready: purge then queue', ready(B), run({ state: 'failed' }), true, [{ kind: 'purge' }, { kind: 'queue', sha: B }]],
    ['a finished run GitHub was told of: purge its job', ready(A), run({ state: 'passed' }), true, [{ kind: 'purge' }]],
    ['a finished run not yet told: report first, keep the job', ready(A), run({ state: 'failed', reported: `${A}:1:running` }), true, [{ kind: 'report' }]],
    ['a finished, told and purged run: nothing more', ready(A), run({ state: 'passed', jobPurged: true }), true, []],
    ['a run whose pending status was not told yet: report and observe', ready(A), run({ reported: null }), true, [{ kind: 'report' }, { kind: 'observe' }]],
    ['a closed PR with a finished run: only the purge is left', closed, run({ state: 'cancelled' }), true, [{ kind: 'purge' }]],
  ] as const)('%s', (_name, env, r, slot, expected) => {
    expect(planE2e(env as E2eEnvironment | null, r as E2eRun | null, slot)).toEqual(expected);
  });

  it('never queues a second run for a SHA it already has a run of (at most one run per PR)', () => {
    for (const state of ['queued', 'running', 'passed', 'failed', 'cancelled'] as const) {
      expect(planE2e(ready(A), run({ state, jobPurged: true }), true).filter((a) => a.kind === 'queue')).toEqual([]);
    }
  });
});

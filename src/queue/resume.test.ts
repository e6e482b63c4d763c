import { describe, expect, it } from 'vitest';
import type { EnvironmentRecord, LaggingEnvironment } from '../environments/types.js';
import { planResume } from './resume.js';
import type { ParkedJob } from './reconcile-queue.js';

const NOW = new Date('2026-06-01T12:00:00Z');
const MIN = 60_000;
const OPTIONS = { parkedRetryIntervalMs: 30 * MIN, parkedRetryLimit: 3 };

function lagging(pr: number, parkedRetries = 0): LaggingEnvironment {
  const record = { key: { repo: 'acme/shop', pr }, desiredGeneration: 5, observedGeneration: 4 } as EnvironmentRecord;
  return { record, parkedRetries };
}
const parked = (pr: number, minutesAgo: number, jobId = `job-${pr}-${minutesAgo}`): ParkedJob => ({
  jobId,
  key: { repo: 'acme/shop', pr },
  reason: 'opened',
  lastError: 'nomad: 500 No cluster leader',
  attemptsMade: 8,
  failedAt: new Date(NOW.getTime() - minutesAgo * MIN),
});
const plan = (l: LaggingEnvironment[], p: ParkedJob[] = [], pending: string[] = []) =>
  planResume({ lagging: l, parked: p, pending: new Set(pending), now: NOW }, OPTIONS).map((a) => `${a.key.pr}:${a.kind}${'retry' in a ? `#${a.retry}` : ''}`);

describe('planResume', () => {
  it('when an environment lags and the queue has nothing for it then it is enqueued', () => {
    expect(plan([lagging(1)])).toEqual(['1:enqueue']);
  });

  it('when the queue already holds a job for it then nothing is added (its backoff is not cut short)', () => {
    expect(plan([lagging(1)], [], ['acme/shop#1'])).toEqual([]);
  });

  it('when its job is parked then it is retried only once the retry interval has passed since parking', () => {
    expect(plan([lagging(1, 0)], [parked(1, 10)])).toEqual([]);
    expect(plan([lagging(1, 1)], [parked(1, 31)])).toEqual(['1:retry-parked#2']);
  });

  it('when several parked jobs exist for one PR then the latest decides the schedule', () => {
    expect(plan([lagging(1)], [parked(1, 90), parked(1, 5)])).toEqual([]);
  });

  it('when the retries for this desired change are used up then it gives up, whatever the time', () => {
    const actions = planResume({ lagging: [lagging(1, 3)], parked: [parked(1, 1)], pending: new Set(), now: NOW }, OPTIONS);
    expect(actions).toEqual([{ kind: 'give-up', key: { repo: 'acme/shop', pr: 1 }, generation: 5, jobId: 'job-1-1', retries: 3, lastError: 'nomad: 500 No cluster leader' }]);
  });

  it('when its job was parked as a bug then it gives up at once, before the interval and the retries are spent', () => {
    const bug: ParkedJob = { ...parked(1, 1), lastError: 'bug: TypeError: x is undefined', stack: 'TypeError: x is undefined\n    at render (src/x.ts:1:1)' };
    const actions = planResume({ lagging: [lagging(1, 0)], pending: new Set(), parked: [bug], now: NOW }, OPTIONS);
    expect(actions).toEqual([{ kind: 'give-up', key: { repo: 'acme/shop', pr: 1 }, generation: 5, jobId: 'job-1-1', retries: 0, lastError: 'bug: TypeError: x is undefined', bug: true }]);
  });

  it('when a parked job belongs to an environment that no longer lags then it is left alone', () => {
    expect(plan([], [parked(2, 90)])).toEqual([]);
  });
});

// The build gate as a table: checks (run or status, passing or not, re-runs), images,
// and the timeout, each alone and together.
import { describe, expect, it } from 'vitest';
import type { CheckRunSummary, CommitStatusSummary } from '../github/types.js';
import { decideBuildGate, describeBuildGate, gatesDeploys, type BuildConfig, type BuildFacts, type BuildGate } from './gate.js';

const PUSHED = new Date('2026-03-01T12:00:00Z');
const at = (minutes: number) => new Date(PUSHED.getTime() + minutes * 60_000);
const config = (over: Partial<BuildConfig> = {}): BuildConfig => ({ checks: ['build-images'], waitForImages: false, timeout: 30 * 60_000, pollInterval: 30_000, ...over });
const run = (name: string, status: string, conclusion: string | null = null, id = 1): CheckRunSummary => ({ id, name, status, conclusion });
const status = (context: string, state: CommitStatusSummary['state']): CommitStatusSummary => ({ context, state });
const IMAGE = 'ghcr.io/acme/api:abc';

const cases: { name: string; build: BuildConfig; facts: Partial<BuildFacts>; gate: BuildGate }[] = [
  { name: 'check run succeeded', build: config(), facts: { checkRuns: [run('build-images', 'completed', 'success')] }, gate: { kind: 'ready' } },
  { name: 'check run neutral passes', build: config(), facts: { checkRuns: [run('build-images', 'completed', 'neutral')] }, gate: { kind: 'ready' } },
  { name: 'check run skipped passes', build: config(), facts: { checkRuns: [run('build-images', 'completed', 'skipped')] }, gate: { kind: 'ready' } },
  { name: 'check run in progress', build: config(), facts: { checkRuns: [run('build-images', 'in_progress')] }, gate: { kind: 'waiting', waitingFor: ['check build-images (in_progress)'] } },
  { name: 'check run queued', build: config(), facts: { checkRuns: [run('build-images', 'queued')] }, gate: { kind: 'waiting', waitingFor: ['check build-images (queued)'] } },
  { name: 'check not reported at all', build: config(), facts: { checkRuns: [run('lint', 'completed', 'success')], statuses: [] }, gate: { kind: 'waiting', waitingFor: ['check build-images (not reported yet)'] } },
  { name: 'check run failed', build: config(), facts: { checkRuns: [run('build-images', 'completed', 'failure')] }, gate: { kind: 'failed', reason: 'check', check: 'build-images', conclusion: 'failure' } },
  { name: 'check run cancelled', build: config(), facts: { checkRuns: [run('build-images', 'completed', 'cancelled')] }, gate: { kind: 'failed', reason: 'check', check: 'build-images', conclusion: 'cancelled' } },
  { name: 'check run timed out', build: config(), facts: { checkRuns: [run('build-images', 'completed', 'timed_out')] }, gate: { kind: 'failed', reason: 'check', check: 'build-images', conclusion: 'timed_out' } },
  {
    name: 'a re-run counts, not the failed run before it',
    build: config(),
    facts: { checkRuns: [run('build-images', 'completed', 'failure', 1), run('build-images', 'in_progress', null, 2)] },
    gate: { kind: 'waiting', waitingFor: ['check build-images (in_progress)'] },
  },
  { name: 'status context succeeded', build: config({ checks: ['ci/build'] }), facts: { checkRuns: [], statuses: [status('ci/build', 'success')] }, gate: { kind: 'ready' } },
  { name: 'status context pending', build: config({ checks: ['ci/build'] }), facts: { statuses: [status('ci/build', 'pending')] }, gate: { kind: 'waiting', waitingFor: ['check ci/build (pending)'] } },
  { name: 'status context error', build: config({ checks: ['ci/build'] }), facts: { statuses: [status('ci/build', 'error')] }, gate: { kind: 'failed', reason: 'check', check: 'ci/build', conclusion: 'error' } },
  {
    name: 'a failed check decides while another still runs',
    build: config({ checks: ['a', 'b'] }),
    facts: { checkRuns: [run('a', 'in_progress'), run('b', 'completed', 'failure')] },
    gate: { kind: 'failed', reason: 'check', check: 'b', conclusion: 'failure' },
  },
  {
    name: 'checks passed, image missing',
    build: config({ waitForImages: true }),
    facts: { checkRuns: [run('build-images', 'completed', 'success')], images: [{ image: IMAGE, present: false }] },
    gate: { kind: 'waiting', waitingFor: [`image ${IMAGE}`] },
  },
  {
    name: 'check running and image missing: both named',
    build: config({ waitForImages: true }),
    facts: { checkRuns: [run('build-images', 'in_progress')], images: [{ image: IMAGE, present: false }] },
    gate: { kind: 'waiting', waitingFor: ['check build-images (in_progress)', `image ${IMAGE}`] },
  },
  { name: 'images alone, present', build: config({ checks: [], waitForImages: true }), facts: { images: [{ image: IMAGE, present: true }] }, gate: { kind: 'ready' } },
  { name: 'images alone, not looked up: never ready on no evidence', build: config({ checks: [], waitForImages: true }), facts: {}, gate: { kind: 'waiting', waitingFor: ['images (not looked up yet)'] } },
  {
    name: 'past the timeout, still missing: failed naming what',
    build: config({ waitForImages: true }),
    facts: { now: at(30), checkRuns: [run('build-images', 'completed', 'success')], images: [{ image: IMAGE, present: false }] },
    gate: { kind: 'failed', reason: 'timeout', missing: [`image ${IMAGE}`], timeoutMs: 30 * 60_000 },
  },
  {
    name: 'past the timeout but everything there: ready',
    build: config({ waitForImages: true }),
    facts: { now: at(90), checkRuns: [run('build-images', 'completed', 'success')], images: [{ image: IMAGE, present: true }] },
    gate: { kind: 'ready' },
  },
  {
    name: 'just before the timeout: still waiting',
    build: config(),
    facts: { now: new Date(at(30).getTime() - 1), checkRuns: [run('build-images', 'queued')] },
    gate: { kind: 'waiting', waitingFor: ['check build-images (queued)'] },
  },
];

describe('build gate', () => {
  it.each(cases)('when $name', ({ build, facts, gate }) => {
    expect(decideBuildGate(build, { pushedAt: PUSHED, now: at(1), ...facts })).toEqual(gate);
  });

  it('when the build config asks for nothing then there is no gate', () => {
    expect(gatesDeploys(undefined)).toBe(false);
    expect(gatesDeploys(config({ checks: [] }))).toBe(false);
    expect(gatesDeploys(config({ checks: [], waitForImages: true }))).toBe(true);
    expect(gatesDeploys(config())).toBe(true);
  });

  it('when the gate holds back then its line names the check and conclusion, or what timed out', () => {
    expect(describeBuildGate({ kind: 'failed', reason: 'check', check: 'build-images', conclusion: 'cancelled' })).toBe('build failed: build-images cancelled');
    expect(describeBuildGate({ kind: 'failed', reason: 'timeout', missing: [`image ${IMAGE}`], timeoutMs: 30 * 60_000 })).toBe(`build not done after 30m: image ${IMAGE}`);
    expect(describeBuildGate({ kind: 'waiting', waitingFor: ['check a (queued)', `image ${IMAGE}`] })).toBe(`waiting for the build: check a (queued), image ${IMAGE}`);
  });
});

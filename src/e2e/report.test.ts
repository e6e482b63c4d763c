import { describe, expect, it } from 'vitest';
import { checkRunOf, commitStatusOf, renderTestSection, withTestSection } from './report.js';
import type { E2eRun } from './types.js';

const SHA = '0123456789abcdef0123456789abcdef01234567';
const run = (patch: Partial<E2eRun> = {}): E2eRun => ({
  key: { repo: 'acme/shop', pr: 7 },
  sha: SHA,
  state: 'running',
  attempt: 1,
  jobId: 'j',
  evalId: 'e',
  reason: null,
  output: null,
  queuedAt: new Date(0),
  startedAt: new Date(1_000),
  finishedAt: null,
  checkRunId: null,
  reported: null,
  jobPurged: false,
  ...patch,
});

describe('commitStatusOf', () => {
  it.each([
    [run({ state: 'queued' }), 'pending', 'E2E tests queued at 0123456'],
    [run(), 'pending', 'E2E tests running at 0123456'],
    [run({ state: 'passed', finishedAt: new Date(66_000) }), 'success', 'E2E tests passed in 1m 5s'],
    [run({ state: 'failed', reason: 'timed out after 15m (the test job was stopped)' }), 'failure', 'E2E tests failed: timed out after 15m (the test job was stopped)'],
    [run({ state: 'cancelled', reason: 'the pull request was closed' }), 'error', 'E2E tests cancelled: the pull request was closed'],
  ] as const)('%#: %s', (r, state, description) => {
    expect(commitStatusOf(r)).toEqual({ state, description });
  });

  it('keeps a long reason within GitHub\'s 140 characters', () => {
    expect(commitStatusOf(run({ state: 'failed', reason: 'x'.repeat(500) })).description.length).toBeLessThanOrEqual(140);
  });
});

describe('checkRunOf', () => {
  it('completes with the conclusion, outcome, duration and the output in a fence the output cannot close', () => {
    const c = checkRunOf(run({ state: 'failed', reason: 'task "e2e" exited with code 1', output: 'a\n```\nb', finishedAt: new Date(4_000) }));
    expect(c).toMatchObject({ status: 'completed', conclusion: 'failure' });
    expect(c.output!.summary).toContain('**Outcome:** failed — task "e2e" exited with code 1');
    expect(c.output!.summary).toContain('**Duration:** 3s');
    expect(c.output!.summary).toContain('````text\na\n```\nb\n````');
  });
  it('is in progress while running and cancelled when cancelled', () => {
    expect(checkRunOf(run())).toMatchObject({ status: 'in_progress' });
    expect(checkRunOf(run()).conclusion).toBeUndefined();
    expect(checkRunOf(run({ state: 'cancelled' }))).toMatchObject({ status: 'completed', conclusion: 'cancelled' });
  });
});

describe('withTestSection', () => {
  const body = '<!-- marker -->\n### ready\n\n| a | b |\n\nDetails: http://x';
  it('adds the section before the Details line, then replaces it in place', () => {
    const first = withTestSection(body, renderTestSection(run()));
    expect(first.indexOf('E2E tests running')).toBeLessThan(first.indexOf('Details:'));
    const second = withTestSection(first, renderTestSection(run({ state: 'passed', finishedAt: new Date(2_000) })));
    expect(second).toContain('E2E tests passed');
    expect(second).not.toContain('E2E tests running');
    expect(second.match(/previewd:e2e:start/g)).toHaveLength(1);
    expect(withTestSection(second, renderTestSection(run({ state: 'passed', finishedAt: new Date(2_000) })))).toBe(second);
  });
  it('appends to a body without a Details line', () => {
    expect(withTestSection('x', 'S')).toBe('x\n\nS');
  });
});

// What the PR is shown, as a projection of the run: the cases plan.test.ts asserted as
// report-* steps before GitHub left the plan (deploying first, ready last, the removal
// reported once, and only when GitHub may show the environment).
import { describe, expect, it } from 'vitest';
import { OwnershipError, TransientError, UserError } from '../errors.js';
import type { DesiredEnvironment, Plan } from './model.js';
import { projectOutcome, projectStart, type ProjectionRecord } from './projection.js';

const SHA1 = 'a'.repeat(40);
const SHA2 = 'b'.repeat(40);
const present = (sha: string, generation = 1): DesiredEnvironment => ({ present: true, sha, generation, reason: 'opened' });
const absent = (generation = 2): DesiredEnvironment => ({ present: false, sha: null, generation, reason: 'closed' });
const record = (over: Partial<ProjectionRecord> = {}): ProjectionRecord => ({ status: 'pending', githubDeploymentId: null, resources: {}, ...over });
const DEPLOY: Plan = [{ kind: 'ensure-database', database: 'db', mode: 'template', template: 't', strategy: 'WAL_LOG', group: 'prepare' }];
const SKIP: Plan = [{ kind: 'refuse', target: 'nomad job x', reason: 'not ours: left alone', fatal: false }];
const ready = (startTold: boolean) => ({ ok: true as const, status: 'ready' as const, startTold });
const removed = { ok: true as const, status: 'removed' as const, startTold: false };

describe('projectStart', () => {
  it('when a deploy changes systems then the PR is first shown deploying at the new SHA', () => {
    expect(projectStart(record(), present(SHA1), DEPLOY)).toEqual({ state: 'deploying', sha: SHA1, error: null, reported: null });
    expect(projectStart(record({ status: 'ready', resources: { githubReported: `ready:${SHA1}` } }), present(SHA2, 2), DEPLOY)).toMatchObject({ state: 'deploying', sha: SHA2 });
  });

  it('when nothing changes, or the PR is closing, then nothing is shown at the start', () => {
    expect(projectStart(record({ status: 'ready' }), present(SHA1), [])).toBeNull();
    expect(projectStart(record({ status: 'ready' }), absent(), DEPLOY)).toBeNull();
    expect(projectStart(record({ status: 'ready' }), present(SHA1), SKIP)).toBeNull();
  });
});

describe('projectOutcome', () => {
  it('when a deploy that showed deploying ends then ready is shown, even at a SHA already shown ready (a redeploy)', () => {
    expect(projectOutcome(record(), present(SHA1), SHA1, ready(true))).toEqual({ state: 'ready', sha: SHA1, error: null, reported: `ready:${SHA1}` });
    expect(projectOutcome(record({ status: 'ready', resources: { githubReported: `ready:${SHA1}` } }), present(SHA1, 5), SHA1, ready(true))).toMatchObject({ state: 'ready' });
  });

  it('when the environment is ready but GitHub missed the news then ready is shown; when GitHub shows it, nothing', () => {
    expect(projectOutcome(record({ status: 'ready' }), present(SHA1), SHA1, ready(false))).toMatchObject({ state: 'ready', reported: `ready:${SHA1}` });
    expect(projectOutcome(record({ status: 'ready', resources: { githubReported: `ready:${SHA1}` } }), present(SHA1), SHA1, ready(false))).toBeNull();
    // Shown ready at the old head only: the new one is shown.
    expect(projectOutcome(record({ status: 'ready', resources: { githubReported: `ready:${SHA1}` } }), present(SHA2, 2), SHA2, ready(false))).toMatchObject({ sha: SHA2 });
  });

  it('when a deploy failed for good at this SHA and nothing is retried then nothing more is shown', () => {
    expect(projectOutcome(record({ status: 'failed', resources: { failedSha: SHA1, githubReported: `failed:${SHA1}` } }), present(SHA1), SHA1, { ok: true, status: 'failed', startTold: false })).toBeNull();
  });

  it('when a step fails for good then failed is shown with the public reason; for now, degraded (comment only); GitHub failing itself, nothing', () => {
    expect(projectOutcome(record(), present(SHA1), SHA1, { ok: false, error: new UserError('bad'), publicReason: 'templates: bad' })).toEqual({
      state: 'failed',
      sha: SHA1,
      error: 'templates: bad',
      reported: `failed:${SHA1}`,
    });
    expect(projectOutcome(record(), present(SHA1), SHA1, { ok: false, error: new TransientError('x', { system: 'nomad' }), publicReason: 'nomad: 500' })).toEqual({
      state: 'degraded',
      sha: SHA1,
      error: 'nomad: 500',
      reported: null,
    });
    expect(projectOutcome(record(), present(SHA1), SHA1, { ok: false, error: new TransientError('x', { system: 'github' }), publicReason: 'github: 502' })).toBeNull();
  });

  it('when a step hits a bug (an error previewd has no class for) then failed is shown: the queue parks it, nothing retries', () => {
    expect(projectOutcome(record(), present(SHA1), SHA1, { ok: false, error: new Error('no rendered job for component web'), publicReason: 'internal error in previewd' })).toEqual({
      state: 'failed',
      sha: SHA1,
      error: 'internal error in previewd',
      reported: `failed:${SHA1}`,
    });
  });

  it('when a teardown fails then the PR is not told (it is told removed once it is)', () => {
    expect(projectOutcome(record({ status: 'ready' }), absent(), SHA1, { ok: false, error: new OwnershipError('not ours'), publicReason: 'x' })).toBeNull();
    expect(projectOutcome(record({ status: 'ready' }), absent(), SHA1, { ok: false, error: new TransientError('pg'), publicReason: 'x' })).toBeNull();
  });

  it('when the PR closes after it was shown then removed is shown, once', () => {
    expect(projectOutcome(record({ status: 'ready', githubDeploymentId: 7, resources: { githubReported: `ready:${SHA1}` } }), absent(), SHA1, removed)).toEqual({
      state: 'removed',
      sha: SHA1,
      error: null,
      reported: 'removed',
    });
    expect(projectOutcome(record({ status: 'tearing_down', resources: { githubReported: 'removed' } }), absent(), SHA1, removed)).toBeNull();
    expect(projectOutcome(record({ status: 'removed', githubDeploymentId: 9, resources: { githubReported: 'removed' } }), absent(), SHA1, removed)).toBeNull();
  });

  it('when a crash came between telling GitHub and recording it and the PR closes then the removal is still shown', () => {
    expect(projectOutcome(record({ status: 'provisioning', githubDeploymentId: null }), absent(), null, removed)).toMatchObject({ state: 'removed' });
  });

  it('when a PR closes before anything of it existed then nothing is shown', () => {
    expect(projectOutcome(record({ status: 'pending', githubDeploymentId: null }), absent(), null, removed)).toBeNull();
    expect(projectOutcome(null, absent(), null, removed)).toBeNull();
  });

  describe('with a fork-trust notice (issue 13 §3)', () => {
    const notice = { at: new Date('2026-03-01T10:00:00.000Z') };
    const later = { at: new Date('2026-03-01T10:05:00.000Z') };
    const stamp = (n: { at: Date }) => `;notice:${n.at.getTime()}`;

    it('when a fork nobody approved never had an environment then the PR is shown not-deployed with the notice, once per notice', () => {
      const first = projectOutcome(record({ status: 'pending' }), absent(1), SHA1, removed, notice);
      expect(first).toEqual({ state: 'not-deployed', sha: SHA1, error: null, reported: `not-deployed${stamp(notice)}` });
      const shown = record({ status: 'removed', resources: { githubReported: first!.reported! } });
      expect(projectOutcome(shown, absent(1), SHA1, removed, notice)).toBeNull();
      expect(projectOutcome(shown, absent(1), SHA1, removed, later)).toMatchObject({ state: 'not-deployed', reported: `not-deployed${stamp(later)}` });
    });

    it('when a PR shown only not-deployed closes then it is not shown removed: it never had an environment', () => {
      const shown = record({ status: 'removed', resources: { githubReported: `not-deployed${stamp(notice)}` } });
      expect(projectOutcome(shown, absent(3), SHA1, removed, null)).toBeNull();
    });

    it('when a ready environment gets a new notice then ready is shown again so the comment carries it; the same notice, nothing', () => {
      const shownReady = record({ status: 'ready', resources: { githubReported: `ready:${SHA1}` } });
      expect(projectOutcome(shownReady, present(SHA1), SHA1, ready(false), notice)).toEqual({ state: 'ready', sha: SHA1, error: null, reported: `ready:${SHA1}${stamp(notice)}` });
      const shownWith = record({ status: 'ready', resources: { githubReported: `ready:${SHA1}${stamp(notice)}` } });
      expect(projectOutcome(shownWith, present(SHA1), SHA1, ready(false), notice)).toBeNull();
      expect(projectOutcome(shownWith, present(SHA1), SHA1, ready(false), later)).toMatchObject({ state: 'ready' });
    });

    it('when an approval is withdrawn and the environment removed then removed is shown with the notice, and a newer notice again', () => {
      const deployed = record({ status: 'ready', githubDeploymentId: 7, resources: { githubReported: `ready:${SHA1}` } });
      expect(projectOutcome(deployed, absent(), SHA1, removed, notice)).toMatchObject({ state: 'removed', reported: `removed${stamp(notice)}` });
      const shownRemoved = record({ status: 'removed', githubDeploymentId: 7, resources: { githubReported: `removed${stamp(notice)}` } });
      expect(projectOutcome(shownRemoved, absent(), SHA1, removed, notice)).toBeNull();
      expect(projectOutcome(shownRemoved, absent(), SHA1, removed, later)).toMatchObject({ state: 'removed' });
    });
  });
});

import { describe, expect, it } from 'vitest';
import { credentialRenewalDue, planCredentialRenewals } from './credential-renewal.js';
import type { EnvironmentRecord } from './types.js';

const HOUR = 3_600_000;
const TTL = 72 * HOUR;
const NOW = new Date('2026-05-01T12:00:00Z');
const at = (hoursFromNow: number) => new Date(NOW.getTime() + hoursFromNow * HOUR).toISOString();

function record(pr: number, overrides: Partial<EnvironmentRecord> = {}, validUntil: string | undefined = at(10)): EnvironmentRecord {
  return {
    key: { repo: 'acme/shop', pr },
    envId: `acme-shop-pr-${pr}`,
    desiredPresent: true,
    desiredSha: 'a'.repeat(40),
    desiredReason: 'opened',
    desiredGeneration: 1,
    observedGeneration: 1,
    prUpdatedAt: NOW,
    labels: [],
    title: null,
    branch: null,
    status: 'ready',
    observedSha: 'a'.repeat(40),
    lastError: null,
    components: {},
    resources: validUntil === undefined ? {} : { credentialsValidUntil: validUntil },
    githubDeploymentId: null,
    githubCommentId: null,
    lastPushAt: NOW,
    readyAt: NOW,
    createdAt: NOW,
    updatedAt: NOW,
    ...overrides,
  };
}

describe('credentialRenewalDue', () => {
  it.each([
    ['just renewed', at(72), false],
    ['a bit more than half left', at(36.01), false],
    ['exactly half left', at(36), true],
    ['less than half left', at(10), true],
    ['already expired', at(-1), true],
    ['unknown', undefined, true],
    ['unparseable', 'soon', true],
  ])('when the credentials are %s then due is %s', (_what, validUntil, due) => {
    expect(credentialRenewalDue(validUntil, NOW, TTL)).toBe(due);
  });
});

describe('planCredentialRenewals', () => {
  it('when environments are ready and due then they come soonest expiry first, bounded', () => {
    const records = [record(1, {}, at(30)), record(2, {}, at(5)), record(3, {}, at(60)), record(4, {}, at(20))];
    expect(planCredentialRenewals(records, NOW, TTL).map((r) => r.key.pr)).toEqual([2, 4, 1]);
    expect(planCredentialRenewals(records, NOW, TTL, 2).map((r) => r.key.pr)).toEqual([2, 4]);
  });

  it('when an environment does not serve its desired SHA then the sweep leaves it to the reconciler; a degraded one at its SHA is renewed', () => {
    const records = [
      record(1, { status: 'provisioning' }),
      record(2, { status: 'failed' }),
      record(3, { desiredPresent: false, desiredSha: null }),
      record(4, { observedSha: 'b'.repeat(40) }),
      record(5, { status: 'degraded' }),
      record(6),
    ];
    expect(planCredentialRenewals(records, NOW, TTL).map((r) => r.key.pr)).toEqual([5, 6]);
  });

  it('when the build gate holds the desired head back then the earlier SHA still running is renewed, and only then', () => {
    const a = 'a'.repeat(40);
    const b = 'b'.repeat(40);
    const line = 'build failed: build-images failure';
    const held = (pr: number, overrides: Partial<EnvironmentRecord>, build: { sha: string; line: string } = { sha: b, line }) =>
      record(pr, { desiredSha: b, observedSha: a, ...overrides, resources: { credentialsValidUntil: at(10), build: { ...build, checkedAt: at(0) } } });
    const records = [
      held(1, { status: 'waiting_for_build' }, { sha: b, line: 'waiting for check build-images (in_progress)' }),
      held(2, { status: 'failed', lastError: line }),
      // Failed by its deploy after the gate let it through: nothing worth keeping alive.
      held(3, { status: 'failed', lastError: 'nomad job failed' }),
      // The gate's verdict is of an older head: the current one is deploying, not held.
      held(4, { status: 'waiting_for_build' }, { sha: 'c'.repeat(40), line }),
      // Held before anything ran: no credentials to keep.
      held(5, { status: 'waiting_for_build', observedSha: null }),
    ];
    expect(planCredentialRenewals(records, NOW, TTL).map((r) => r.key.pr)).toEqual([1, 2]);
  });
});

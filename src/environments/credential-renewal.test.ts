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
});

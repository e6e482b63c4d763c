import { describe, expect, it } from 'vitest';
import { orderGitHubFact, type HeldOrder, type IncomingFact } from './ordering.js';

const T = new Date('2026-03-01T10:00:00Z');
const later = new Date(T.getTime() + 1000);
const earlier = new Date(T.getTime() - 1000);
const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const C = 'c'.repeat(40);

const held = (over: Partial<HeldOrder> = {}): HeldOrder => ({ prUpdatedAt: T, desiredSha: A, desiredBy: 'github', desiredPresent: true, prClosed: false, ...over });
const fact = (over: Partial<IncomingFact> = {}): IncomingFact => ({ prUpdatedAt: T, sha: A, change: 'facts', ...over });

describe('orderGitHubFact', () => {
  const cases: [string, HeldOrder | null, IncomingFact, boolean][] = [
    ['nothing held', null, fact(), true],
    ['strictly newer, any change', held(), fact({ prUpdatedAt: later, sha: B, change: 'head' }), true],
    ['strictly newer after previewd tore it down', held({ desiredBy: 'previewd' }), fact({ prUpdatedAt: later, change: 'head' }), true],
    ['strictly newer reopen after a close', held({ prClosed: true }), fact({ prUpdatedAt: later, change: 'head' }), true],
    ['strictly older, even a close', held(), fact({ prUpdatedAt: earlier, change: 'close' }), false],
    ['strictly older push', held(), fact({ prUpdatedAt: earlier, sha: B, beforeSha: A, change: 'head' }), false],
    ['tie: close after a push', held({ desiredSha: B }), fact({ sha: B, change: 'close' }), true],
    ['tie: close after previewd tore it down', held({ desiredBy: 'previewd' }), fact({ change: 'close' }), true],
    ['tie: push continuing the chain', held(), fact({ sha: B, beforeSha: A, change: 'head' }), true],
    ['tie: push not continuing the chain', held(), fact({ sha: C, beforeSha: B, change: 'head' }), false],
    ['tie: older push delivered after the newer one', held({ desiredSha: B }), fact({ sha: A, change: 'head' }), false],
    ['tie: push redelivered after an unlabel of the same head', held({ desiredSha: B }), fact({ sha: B, beforeSha: A, change: 'head' }), false],
    ['tie: unlabel of the head we hold', held({ desiredSha: B }), fact({ sha: B, change: 'facts' }), true],
    ['tie: unlabel about another head', held({ desiredSha: B }), fact({ sha: A, change: 'facts' }), false],
    ['tie: reopen after a close', held({ prClosed: true }), fact({ change: 'head' }), false],
    ['tie: label after a close', held({ prClosed: true }), fact({ change: 'facts' }), false],
    ['listing: newer facts about the head previewd removed', held({ desiredBy: 'previewd', desiredPresent: false }), fact({ prUpdatedAt: later, change: 'facts', fromListing: true }), false],
    ['listing: a newer head than the one previewd removed', held({ desiredBy: 'previewd', desiredPresent: false }), fact({ prUpdatedAt: later, sha: B, change: 'facts', fromListing: true }), true],
    ['listing: a close of the head previewd removed', held({ desiredBy: 'previewd', desiredPresent: false }), fact({ prUpdatedAt: later, change: 'close', fromListing: true }), true],
    ['event: newer facts about the head previewd removed', held({ desiredBy: 'previewd', desiredPresent: false }), fact({ prUpdatedAt: later, change: 'facts' }), true],
    ['listing: newer facts about a head GitHub made absent', held({ desiredPresent: false }), fact({ prUpdatedAt: later, change: 'facts', fromListing: true }), true],
    ['tie: label after previewd tore it down', held({ desiredBy: 'previewd' }), fact({ change: 'facts' }), false],
  ];
  it.each(cases)('%s', (_name, h, f, accept) => {
    expect(orderGitHubFact(h, f).accept).toBe(accept);
  });
});

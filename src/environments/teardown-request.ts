// desired = absent as previewd's own decision (operator via admin API or CLI, or GC), in
// one place for the three callers. Unlike a closed PR, which is GitHub's fact ordered by
// GitHub's timestamp, such a decision is ordered by the desired generation it was taken
// on, never by this host's clock: a change recorded since then wins.
import type { EnvironmentKey } from './naming.js';
import type { EnvironmentStore } from './types.js';

export type TeardownRecorded =
  | { kind: 'accepted'; generation: number }
  /** No environment row for the PR. */
  | { kind: 'missing' }
  /** A newer change to the PR was recorded since the decision was taken. */
  | { kind: 'superseded' };

/**
 * Records the decision. `decidedOnGeneration` is the desired generation the caller
 * looked at (GC: when it planned); without it, the row's current one (an operator acts now).
 */
export async function recordTeardownDecision(
  store: Pick<EnvironmentStore, 'get' | 'recordTeardown'>,
  key: EnvironmentKey,
  reason: string,
  decidedOnGeneration?: number,
): Promise<TeardownRecorded> {
  let expectedGeneration = decidedOnGeneration;
  if (expectedGeneration === undefined) {
    const record = await store.get(key);
    if (!record) return { kind: 'missing' };
    expectedGeneration = record.desiredGeneration;
  }
  const { accepted, generation } = await store.recordTeardown(key, { reason, expectedGeneration });
  return accepted ? { kind: 'accepted', generation } : { kind: 'superseded' };
}

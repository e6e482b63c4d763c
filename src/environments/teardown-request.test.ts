import { describe, expect, it } from 'vitest';
import type { EnvironmentKey } from './naming.js';
import { recordTeardownDecision } from './teardown-request.js';
import type { EnvironmentRecord, TeardownInput } from './types.js';

function fakeStore(current: { desiredGeneration: number } | null) {
  const calls: TeardownInput[] = [];
  return {
    calls,
    store: {
      get: async (_key: EnvironmentKey) => current as EnvironmentRecord | null,
      // Accepted only on the generation the row holds, as the store's compare-and-set.
      recordTeardown: async (_key: EnvironmentKey, input: TeardownInput) => {
        calls.push(input);
        const accepted = current !== null && input.expectedGeneration === current.desiredGeneration;
        return { accepted, generation: accepted ? current!.desiredGeneration + 1 : (current?.desiredGeneration ?? 0) };
      },
    },
  };
}

const key = { repo: 'acme/shop', pr: 7 };

describe('recordTeardownDecision', () => {
  it("an operator's decision is taken on the row's current generation", async () => {
    const { store, calls } = fakeStore({ desiredGeneration: 4 });
    expect(await recordTeardownDecision(store, key, 'admin: teardown')).toEqual({ kind: 'accepted', generation: 5 });
    expect(calls).toEqual([{ reason: 'admin: teardown', expectedGeneration: 4 }]);
  });

  it('a PR without environment is missing and nothing is recorded', async () => {
    const { store, calls } = fakeStore(null);
    expect(await recordTeardownDecision(store, key, 'cli: teardown')).toEqual({ kind: 'missing' });
    expect(calls).toEqual([]);
  });

  it('a decision taken on an older generation (GC planned before a push) is superseded', async () => {
    const { store, calls } = fakeStore({ desiredGeneration: 4 });
    expect(await recordTeardownDecision(store, key, 'gc: idle', 3)).toEqual({ kind: 'superseded' });
    expect(calls).toEqual([{ reason: 'gc: idle', expectedGeneration: 3 }]);
  });
});

import { describe, expect, it } from 'vitest';
import { planWarmPool, type ObservedSpare, type PoolAction, type PoolSettings } from './pool-plan.js';
import { spareDatabaseName } from './sql.js';

const I = 'previewd';
const T = 'preview_template';
const MB = 1024 * 1024;
const settings: PoolSettings = { template: T, strategy: 'FILE_COPY', size: 2, maxBytes: 1000 * MB };
const name = (slot: number) => spareDatabaseName(I, T, slot);
const spare = (slot: number, version: string | null, bytes = 100 * MB): ObservedSpare => ({ name: name(slot), slot, version, bytes });
const create = (slot: number, version = 'v2'): PoolAction => ({ kind: 'create-spare', template: T, name: name(slot), strategy: 'FILE_COPY', version });
const drop = (slot: number, reason: string): PoolAction => ({ kind: 'drop-spare', template: T, name: name(slot), reason } as PoolAction);

const cases: [string, Partial<PoolSettings>, { version: string | null; templateBytes?: number; spares: ObservedSpare[]; foreignSlots?: number[] }, PoolAction[]][] = [
  ['an empty pool is filled to size', {}, { version: 'v2', spares: [] }, [create(0), create(1)]],
  ['a full, current pool is left alone', {}, { version: 'v2', spares: [spare(0, 'v2'), spare(1, 'v2')] }, []],
  ['a claimed spare is refilled in its free slot', {}, { version: 'v2', spares: [spare(1, 'v2')] }, [create(0)]],
  ['spares of an older template version are dropped and rebuilt', {}, { version: 'v2', spares: [spare(0, 'v1'), spare(1, 'v2')] }, [drop(0, 'stale'), create(0)]],
  ['an unmarked spare (crash before COMMENT) is dropped and its slot refilled', {}, { version: 'v2', spares: [spare(0, null), spare(1, 'v2')] }, [drop(0, 'unmarked'), create(0)]],
  ['no version marker on the template: every spare dropped, none made', {}, { version: null, spares: [spare(0, 'v2'), spare(1, null)] }, [drop(0, 'no-version'), drop(1, 'unmarked')]],
  ['size lowered: the highest slots are surplus', { size: 1 }, { version: 'v2', spares: [spare(0, 'v2'), spare(1, 'v2'), spare(4, 'v2')] }, [drop(1, 'surplus'), drop(4, 'surplus')]],
  ['a slot held by a database not ours is skipped', {}, { version: 'v2', spares: [], foreignSlots: [0] }, [create(1), create(2)]],
  ['size 0: no pool at all', { size: 0 }, { version: 'v2', spares: [spare(0, 'v2')] }, [drop(0, 'surplus')]],
  [
    'one more spare would pass maxBytes: stop at the budget and say so',
    { size: 3, maxBytes: 250 * MB },
    { version: 'v2', templateBytes: 100 * MB, spares: [spare(0, 'v2')] },
    [create(1), { kind: 'at-budget', template: T, spares: 2, bytes: 200 * MB, templateBytes: 100 * MB, maxBytes: 250 * MB }],
  ],
  [
    'spares that together pass maxBytes (the template grew): the excess dropped',
    { size: 3, maxBytes: 250 * MB },
    { version: 'v2', templateBytes: 200 * MB, spares: [spare(0, 'v2', 200 * MB), spare(1, 'v2', 200 * MB)] },
    [drop(1, 'over-budget'), { kind: 'at-budget', template: T, spares: 1, bytes: 200 * MB, templateBytes: 200 * MB, maxBytes: 250 * MB }],
  ],
  [
    'a template larger than maxBytes: no spare at all',
    { maxBytes: 50 * MB },
    { version: 'v2', templateBytes: 100 * MB, spares: [] },
    [{ kind: 'at-budget', template: T, spares: 0, bytes: 0, templateBytes: 100 * MB, maxBytes: 50 * MB }],
  ],
];

describe('planWarmPool', () => {
  it.each(cases)('when %s', (_what, overrides, observed, expected) => {
    expect(planWarmPool(name, { ...settings, ...overrides }, { templateBytes: 100 * MB, ...observed })).toEqual(expected);
  });

  it('when applied to what it leads to, then the plan is empty: the pool converges', () => {
    let spares: ObservedSpare[] = [spare(0, 'v1'), spare(3, null), spare(5, 'v2')];
    for (let round = 0; round < 3; round++) {
      const actions = planWarmPool(name, settings, { version: 'v2', templateBytes: 100 * MB, spares });
      if (round > 0) expect(actions).toEqual([]);
      for (const a of actions) {
        if (a.kind === 'drop-spare') spares = spares.filter((s) => s.name !== a.name);
        if (a.kind === 'create-spare') spares.push({ name: a.name, slot: Number(a.name.split('_').at(-1)), version: a.version, bytes: 100 * MB });
      }
    }
    expect(spares.map((s) => s.slot).sort()).toEqual([0, 5]);
  });
});

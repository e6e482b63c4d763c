import { describe, expect, it } from 'vitest';
import { createGroupCommit, type ItemOutcome } from './group-commit.js';

/** A commit the test settles by hand, recording what each call carried. */
function manualCommit<O>() {
  const calls: { items: readonly number[]; settle(outcomes: ItemOutcome<O>[]): void; fail(err: unknown): void }[] = [];
  const commit = (items: readonly number[]) =>
    new Promise<ItemOutcome<O>[]>((resolve, reject) => {
      calls.push({ items, settle: resolve, fail: reject });
    });
  return { calls, commit };
}

const tick = () => new Promise((r) => setImmediate(r));
const ok = <O>(value: O): ItemOutcome<O> => ({ ok: true, value });

describe('group commit', () => {
  it('when items arrive in one turn then one commit carries them all, in submission order', async () => {
    const m = manualCommit<string>();
    const gc = createGroupCommit<number, string>({ commit: m.commit, keyOf: String });
    const results = [1, 2, 3].map((i) => gc.submit(i));
    await tick();
    expect(m.calls.map((c) => c.items)).toEqual([[1, 2, 3]]);
    m.calls[0]!.settle([ok('a'), ok('b'), ok('c')]);
    expect(await Promise.all(results)).toEqual(['a', 'b', 'c']);
    expect(gc.pending()).toBe(0);
  });

  it('when items arrive while a commit is in flight then, with one commit allowed in flight, they wait for it and go together in the next', async () => {
    const m = manualCommit<number>();
    const gc = createGroupCommit<number, number>({ commit: m.commit, keyOf: String });
    const first = gc.submit(1);
    await tick();
    const later = [2, 3, 4].map((i) => gc.submit(i));
    await tick();
    expect(m.calls).toHaveLength(1); // the second waits for the first to settle
    expect(gc.pending()).toBe(4);
    let firstSettled = false;
    void first.then(() => (firstSettled = true));
    m.calls[0]!.settle([ok(10)]);
    await tick();
    expect(firstSettled).toBe(true);
    expect(m.calls.map((c) => c.items)).toEqual([[1], [2, 3, 4]]);
    // Nothing of the second commit resolves before it does.
    let anyLater = false;
    for (const p of later) void p.then(() => (anyLater = true));
    await tick();
    expect(anyLater).toBe(false);
    m.calls[1]!.settle([ok(20), ok(30), ok(40)]);
    expect(await Promise.all(later)).toEqual([20, 30, 40]);
  });

  it('when a commit throws then every item it carried is rejected with that error, and the next commit still runs', async () => {
    const m = manualCommit<number>();
    const gc = createGroupCommit<number, number>({ commit: m.commit, keyOf: String });
    const failing = [1, 2].map((i) => gc.submit(i));
    await tick();
    const next = gc.submit(3);
    const boom = new Error('connection terminated');
    m.calls[0]!.fail(boom);
    for (const p of failing) await expect(p).rejects.toBe(boom);
    await tick();
    m.calls[1]!.settle([ok(3)]);
    expect(await next).toBe(3);
  });

  it('when a commit refuses one item then only that item is rejected', async () => {
    const m = manualCommit<number>();
    const gc = createGroupCommit<number, number>({ commit: m.commit, keyOf: String });
    const results = [1, 2, 3].map((i) => gc.submit(i));
    await tick();
    const refused = new Error('item 2 refused');
    m.calls[0]!.settle([ok(1), { ok: false, error: refused }, ok(3)]);
    expect(await results[0]).toBe(1);
    await expect(results[1]).rejects.toBe(refused);
    expect(await results[2]).toBe(3);
  });

  it('when a commit returns the wrong number of outcomes then every item fails rather than one getting another\'s answer', async () => {
    const m = manualCommit<number>();
    const gc = createGroupCommit<number, number>({ commit: m.commit, keyOf: String });
    const results = [1, 2].map((i) => gc.submit(i));
    await tick();
    m.calls[0]!.settle([ok(1)]);
    for (const p of results) await expect(p).rejects.toThrow(/1 outcomes for 2 items/);
  });

  it('when more than maxBatch items wait then they are split into commits of at most maxBatch, in order', async () => {
    const m = manualCommit<number>();
    const gc = createGroupCommit<number, number>({ commit: m.commit, keyOf: String, maxBatch: 2 });
    const results = [1, 2, 3, 4, 5].map((i) => gc.submit(i));
    for (let n = 0; n < 3; n++) {
      await tick();
      const call = m.calls[n]!;
      call.settle(call.items.map((i) => ok(i * 10)));
    }
    expect(m.calls.map((c) => c.items)).toEqual([[1, 2], [3, 4], [5]]);
    expect(await Promise.all(results)).toEqual([10, 20, 30, 40, 50]);
    expect(() => createGroupCommit({ commit: m.commit, keyOf: String, maxBatch: 0 })).toThrow(/maxBatch/);
    expect(() => createGroupCommit({ commit: m.commit, keyOf: String, maxConcurrent: 1.5 })).toThrow(/maxConcurrent/);
  });

  it('when the commit throws synchronously then its items are rejected, not left hanging', async () => {
    const gc = createGroupCommit<number, number>({
      keyOf: String,
      commit: () => {
        throw new Error('sync bug');
      },
    });
    await expect(gc.submit(1)).rejects.toThrow('sync bug');
    expect(gc.pending()).toBe(0);
  });

  describe('several commits in flight', () => {
    type Item = { key: string; n: number };
    function keyed() {
      const calls: { items: readonly Item[]; settle(outcomes: ItemOutcome<number>[]): void; fail(err: unknown): void }[] = [];
      const commit = (items: readonly Item[]) =>
        new Promise<ItemOutcome<number>[]>((resolve, reject) => {
          calls.push({ items, settle: resolve, fail: reject });
        });
      const okAll = (n: number) => calls[n]!.settle(calls[n]!.items.map((i) => ok(i.n)));
      const shape = (n: number) => calls[n]!.items.map((i) => `${i.key}${i.n}`).join(' ');
      return { calls, commit, okAll, shape };
    }

    it('when items of other keys arrive while a commit is in flight then a second commit carries them at once, up to maxConcurrent', async () => {
      const m = keyed();
      const gc = createGroupCommit<Item, number>({ commit: m.commit, keyOf: (i) => i.key, maxConcurrent: 2 });
      const a = gc.submit({ key: 'a', n: 1 });
      await tick();
      const b = gc.submit({ key: 'b', n: 2 });
      await tick();
      const c = gc.submit({ key: 'c', n: 3 });
      await tick();
      // Two in flight; c waits for a free slot.
      expect(m.calls.map((_, i) => m.shape(i))).toEqual(['a1', 'b2']);
      m.okAll(1);
      expect(await b).toBe(2);
      await tick();
      expect(m.calls.map((_, i) => m.shape(i))).toEqual(['a1', 'b2', 'c3']);
      m.okAll(0);
      m.okAll(2);
      expect(await Promise.all([a, c])).toEqual([1, 3]);
      expect(gc.pending()).toBe(0);
    });

    it('when a key has an item in flight then its next items wait for later commits, one per commit, in submission order, while other keys go ahead', async () => {
      const m = keyed();
      const gc = createGroupCommit<Item, number>({ commit: m.commit, keyOf: (i) => i.key, maxConcurrent: 4 });
      const all = [gc.submit({ key: 'a', n: 1 })];
      await tick();
      all.push(...[2, 3, 4].map((n) => gc.submit({ key: 'a', n })), gc.submit({ key: 'b', n: 5 }));
      await tick();
      // a2..a4 wait for a1; b5 does not.
      expect(m.calls.map((_, i) => m.shape(i))).toEqual(['a1', 'b5']);
      m.okAll(1);
      await tick();
      expect(m.calls).toHaveLength(2);
      m.okAll(0);
      await tick();
      expect(m.shape(2)).toBe('a2');
      m.okAll(2);
      await tick();
      expect(m.shape(3)).toBe('a3');
      m.okAll(3);
      await tick();
      expect(m.shape(4)).toBe('a4');
      m.okAll(4);
      expect(await Promise.all(all)).toEqual([1, 2, 3, 4, 5]);
    });

    it('when one of two commits in flight throws then exactly its items are rejected and the other\'s resolve', async () => {
      const m = keyed();
      const gc = createGroupCommit<Item, number>({ commit: m.commit, keyOf: (i) => i.key, maxConcurrent: 2 });
      const first = ['a', 'b'].map((key, n) => gc.submit({ key, n }));
      await tick();
      const second = ['c', 'd'].map((key, n) => gc.submit({ key, n: n + 2 }));
      await tick();
      expect(m.calls.map((_, i) => m.shape(i))).toEqual(['a0 b1', 'c2 d3']);
      const boom = new Error('statement failed');
      m.calls[0]!.fail(boom);
      m.okAll(1);
      for (const p of first) await expect(p).rejects.toBe(boom);
      expect(await Promise.all(second)).toEqual([2, 3]);
      // The failed keys are free again.
      const again = gc.submit({ key: 'a', n: 9 });
      await tick();
      m.okAll(2);
      expect(await again).toBe(9);
    });

    it('when seeded random items are committed with random delays then per key the commits happen in submission order and never overlap', async () => {
      const seed = Number(process.env.GROUP_COMMIT_SEED ?? Math.floor(Math.random() * 2 ** 31));
      console.log(`group-commit order seed ${seed} (GROUP_COMMIT_SEED=${seed} to repeat)`);
      let state = seed;
      const random = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
      const active = new Set<string>();
      const committed = new Map<string, number[]>();
      let overlap = false;
      let concurrent = 0;
      let maxSeen = 0;
      const gc = createGroupCommit<Item, number>({
        keyOf: (i) => i.key,
        maxConcurrent: 3,
        maxBatch: 4,
        commit: async (items) => {
          concurrent++;
          maxSeen = Math.max(maxSeen, concurrent);
          for (const i of items) {
            if (active.has(i.key)) overlap = true;
            active.add(i.key);
          }
          await new Promise((r) => setTimeout(r, Math.floor(random() * 3)));
          for (const i of items) {
            active.delete(i.key);
            (committed.get(i.key) ?? committed.set(i.key, []).get(i.key)!).push(i.n);
          }
          concurrent--;
          return items.map((i) => ok(i.n));
        },
      });
      const submitted = new Map<string, number[]>();
      const all: Promise<number>[] = [];
      for (let n = 0; n < 300; n++) {
        const key = `k${Math.floor(random() * 12)}`;
        (submitted.get(key) ?? submitted.set(key, []).get(key)!).push(n);
        all.push(gc.submit({ key, n }));
        if (random() < 0.2) await tick();
      }
      expect(await Promise.all(all), `seed ${seed}`).toEqual([...Array(300).keys()]);
      expect(overlap, `seed ${seed}`).toBe(false);
      expect(committed, `seed ${seed}`).toEqual(submitted);
      expect(maxSeen, `seed ${seed}`).toBeLessThanOrEqual(3);
      expect(maxSeen, `seed ${seed}: commits really ran at once`).toBeGreaterThan(1);
    });
  });
});

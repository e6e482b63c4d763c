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
    const gc = createGroupCommit<number, string>({ commit: m.commit });
    const results = [1, 2, 3].map((i) => gc.submit(i));
    await tick();
    expect(m.calls.map((c) => c.items)).toEqual([[1, 2, 3]]);
    m.calls[0]!.settle([ok('a'), ok('b'), ok('c')]);
    expect(await Promise.all(results)).toEqual(['a', 'b', 'c']);
    expect(gc.pending()).toBe(0);
  });

  it('when items arrive while a commit is in flight then they wait for it and go together in the next, never two commits at once', async () => {
    const m = manualCommit<number>();
    const gc = createGroupCommit<number, number>({ commit: m.commit });
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
    const gc = createGroupCommit<number, number>({ commit: m.commit });
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
    const gc = createGroupCommit<number, number>({ commit: m.commit });
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
    const gc = createGroupCommit<number, number>({ commit: m.commit });
    const results = [1, 2].map((i) => gc.submit(i));
    await tick();
    m.calls[0]!.settle([ok(1)]);
    for (const p of results) await expect(p).rejects.toThrow(/1 outcomes for 2 items/);
  });

  it('when more than maxBatch items wait then they are split into commits of at most maxBatch, in order', async () => {
    const m = manualCommit<number>();
    const gc = createGroupCommit<number, number>({ commit: m.commit, maxBatch: 2 });
    const results = [1, 2, 3, 4, 5].map((i) => gc.submit(i));
    for (let n = 0; n < 3; n++) {
      await tick();
      const call = m.calls[n]!;
      call.settle(call.items.map((i) => ok(i * 10)));
    }
    expect(m.calls.map((c) => c.items)).toEqual([[1, 2], [3, 4], [5]]);
    expect(await Promise.all(results)).toEqual([10, 20, 30, 40, 50]);
    expect(() => createGroupCommit({ commit: m.commit, maxBatch: 0 })).toThrow(/maxBatch/);
  });

  it('when the commit throws synchronously then its items are rejected, not left hanging', async () => {
    const gc = createGroupCommit<number, number>({
      commit: () => {
        throw new Error('sync bug');
      },
    });
    await expect(gc.submit(1)).rejects.toThrow('sync bug');
    expect(gc.pending()).toBe(0);
  });
});

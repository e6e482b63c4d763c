import { describe, expect, it } from 'vitest';
import { BUSY, retryWhileBusy } from './busy-retry.js';

function fakeClock() {
  let t = 0;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => t,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      t += ms;
    },
    advance: (ms: number) => {
      t += ms;
    },
  };
}

describe('retryWhileBusy', () => {
  it('when the template frees up on the third attempt then it returns that result after two backoffs', async () => {
    const clock = fakeClock();
    let calls = 0;
    const result = await retryWhileBusy(async () => (++calls < 3 ? BUSY : 'created'), { budgetMs: 10_000, ...clock });
    expect(result).toBe('created');
    expect(calls).toBe(3);
    expect(clock.sleeps).toEqual([100, 200]);
  });

  it('when the template stays busy then backoff doubles up to the cap and stops at the budget', async () => {
    const clock = fakeClock();
    let calls = 0;
    const result = await retryWhileBusy(
      async () => {
        calls += 1;
        return BUSY;
      },
      { budgetMs: 1_000, maxDelayMs: 400, ...clock },
    );
    expect(result).toBe(BUSY);
    expect(clock.sleeps).toEqual([100, 200, 400, 300]);
    expect(clock.sleeps.reduce((a, b) => a + b, 0)).toBe(1_000);
    expect(calls).toBe(5);
  });

  it('when each attempt itself takes longer than the budget (Postgres waits 5 s) then only one attempt is made', async () => {
    const clock = fakeClock();
    let calls = 0;
    const result = await retryWhileBusy(
      async () => {
        calls += 1;
        clock.advance(5_000);
        return BUSY;
      },
      { budgetMs: 2_000, ...clock },
    );
    expect(result).toBe(BUSY);
    expect(calls).toBe(1);
  });

  it('when the budget is zero then exactly one attempt is made', async () => {
    const clock = fakeClock();
    let calls = 0;
    await retryWhileBusy(
      async () => {
        calls += 1;
        return BUSY;
      },
      { budgetMs: 0, ...clock },
    );
    expect(calls).toBe(1);
    expect(clock.sleeps).toEqual([]);
  });

  it('when an attempt throws then the error propagates without retrying', async () => {
    const clock = fakeClock();
    let calls = 0;
    await expect(
      retryWhileBusy(
        async () => {
          calls += 1;
          throw new Error('boom');
        },
        { budgetMs: 10_000, ...clock },
      ),
    ).rejects.toThrow('boom');
    expect(calls).toBe(1);
  });
});

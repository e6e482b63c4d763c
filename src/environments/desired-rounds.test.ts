import { describe, expect, it } from 'vitest';
import { planDesiredRounds } from './desired-rounds.js';

describe('desired-state commit rounds', () => {
  it('when every fact is for another PR then one round holds them all', () => {
    const rounds = planDesiredRounds(['a', 'b', 'c']);
    const round = rounds.next();
    expect(round).toEqual([0, 1, 2]);
    for (const i of round) rounds.settle(i);
    expect(rounds.next()).toEqual([]);
  });

  it('when one PR has several facts then each waits for the one before it, in submission order, next to the other PRs', () => {
    const rounds = planDesiredRounds(['a', 'b', 'a', 'c', 'a', 'b']);
    const seen: number[][] = [];
    for (let round = rounds.next(); round.length > 0; round = rounds.next()) {
      seen.push(round);
      for (const i of round) rounds.settle(i);
    }
    expect(seen).toEqual([[0, 1, 3], [2, 5], [4]]);
  });

  it('when a write did not land then that fact is decided again before its PR\'s next fact', () => {
    const rounds = planDesiredRounds(['a', 'a', 'b']);
    expect(rounds.next()).toEqual([0, 2]);
    rounds.retry(0);
    rounds.settle(2);
    expect(rounds.next()).toEqual([0]);
    rounds.settle(0);
    expect(rounds.next()).toEqual([1]);
    rounds.settle(1);
    expect(rounds.next()).toEqual([]);
  });

  it('when a round is left unfinished or a fact settled twice then it throws instead of losing a fact', () => {
    const rounds = planDesiredRounds(['a', 'b']);
    rounds.next();
    rounds.settle(0);
    expect(() => rounds.next()).toThrow(/not finished/);
    expect(() => rounds.settle(0)).toThrow(/not in play/);
  });
});

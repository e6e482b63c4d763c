// Pure: the order in which one group commit of desired-state facts is written.
// Facts for different PRs are independent and go in one statement; facts for one PR
// must be decided one after the other, each on the row the previous one left, or two
// facts of one commit would be decided on the same stale row. So a commit runs in
// rounds: a round holds at most one fact per PR, the oldest not yet settled, and a
// PR's next fact joins the round after its previous one settled. A fact whose write
// did not land (another writer inserted the PR first) is decided again in the next
// round, before any later fact of its PR.

export interface DesiredRounds {
  /** Indexes of the facts to decide and write now (one per key), or [] when all are settled. */
  next(): number[];
  /** The fact's outcome is known: its key's next fact may follow. */
  settle(index: number): void;
  /** The fact's write did not land: decide it again next round. */
  retry(index: number): void;
}

export function planDesiredRounds(keys: readonly string[]): DesiredRounds {
  // Per key, its facts' indexes in submission order; the head is the one in play.
  const queues = new Map<string, number[]>();
  keys.forEach((key, index) => {
    const q = queues.get(key);
    if (q) q.push(index);
    else queues.set(key, [index]);
  });
  const inPlay = new Set<number>();
  return {
    next() {
      if (inPlay.size > 0) throw new Error(`round not finished: facts ${[...inPlay].join(', ')} neither settled nor retried`);
      const round: number[] = [];
      for (const q of queues.values()) {
        const head = q[0];
        if (head !== undefined) round.push(head);
      }
      round.sort((a, b) => a - b);
      for (const i of round) inPlay.add(i);
      return round;
    },
    settle(index) {
      if (!inPlay.delete(index)) throw new Error(`fact ${index} is not in play`);
      const q = queues.get(keys[index]!)!;
      q.shift();
    },
    retry(index) {
      if (!inPlay.delete(index)) throw new Error(`fact ${index} is not in play`);
    },
  };
}

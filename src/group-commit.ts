// Group commit: callers submit one item each and wait for it to be written; the items
// that arrive while the commits in flight run are written together by the next one. A
// durable write costs one round trip and one flush to disk however many rows it carries,
// so under load the cost per item falls while no item waits for a timer: an idle system
// commits a lone item at once. Several commits run at once (up to `maxConcurrent`), on
// disjoint keys: one commit at a time left the disk and the server idle while it waited
// for a single round trip, and lost to plain parallel commits on a quiet machine.
//
// Guarantees the callers rely on:
// - an item's promise settles only after the commit that carried it settled: a
//   resolved item is durable, never "about to be";
// - per key, one item at a time, in submission order: a commit carries at most one item
//   of a key, and a key with an item in flight has its next item wait for a later
//   commit, so an item always sees every earlier item of its key written. Items of
//   different keys are independent and may commit in any order;
// - a commit that throws rejects every item it carried and no other (none of them is
//   half-acked); a commit may instead fail single items (an item-level refusal).
export type ItemOutcome<O> = { ok: true; value: O } | { ok: false; error: unknown };

export interface GroupCommitOptions<I, O> {
  /** Writes `items` (distinct keys) in one commit; returns one outcome per item, in order. Throwing fails them all. */
  commit(items: readonly I[]): Promise<ItemOutcome<O>[]>;
  /** What orders items: items of one key are committed one at a time, in submission order. Without it, items are independent. */
  keyOf?(item: I): string;
  /** Most items per commit (default 200); the rest wait for the next. */
  maxBatch?: number;
  /** Commits in flight at once (default 1). */
  maxConcurrent?: number;
  /** How the first commit after idle is deferred to gather its turn's arrivals (default setImmediate). */
  defer?: (run: () => void) => void;
}

export interface GroupCommit<I, O> {
  /** Settles once the commit carrying `item` did: with its value, or its (or the commit's) error. */
  submit(item: I): Promise<O>;
  /** Items submitted and not yet settled (waiting or in a commit in flight). */
  pending(): number;
}

interface Waiting<I, O> {
  item: I;
  resolve(value: O): void;
  reject(error: unknown): void;
}

function positiveInteger(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, got ${value}`);
  return value;
}

export function createGroupCommit<I, O>(options: GroupCommitOptions<I, O>): GroupCommit<I, O> {
  const maxBatch = positiveInteger(options.maxBatch ?? 200, 'maxBatch');
  const maxConcurrent = positiveInteger(options.maxConcurrent ?? 1, 'maxConcurrent');
  const defer = options.defer ?? ((run) => setImmediate(run));
  let unkeyed = 0;
  const keyOf = options.keyOf ?? (() => `#${unkeyed++}`);
  // Per key, its waiting items in submission order; keys in the order they began waiting,
  // so the oldest waiting key goes first.
  const waiting = new Map<string, Waiting<I, O>[]>();
  /** Keys with an item in a commit in flight. */
  const busy = new Set<string>();
  let waitingCount = 0;
  let inFlightItems = 0;
  let commitsInFlight = 0;
  let scheduled = false;

  /** The head item of every waiting key not in flight, oldest key first, up to maxBatch. */
  function takeBatch(): { key: string; entry: Waiting<I, O> }[] {
    const batch: { key: string; entry: Waiting<I, O> }[] = [];
    for (const [key, queue] of waiting) {
      if (batch.length >= maxBatch) break;
      if (busy.has(key)) continue;
      batch.push({ key, entry: queue.shift()! });
      if (queue.length === 0) waiting.delete(key);
    }
    return batch;
  }

  function pump(): void {
    scheduled = false;
    while (commitsInFlight < maxConcurrent) {
      const batch = takeBatch();
      if (batch.length === 0) return;
      for (const { key } of batch) busy.add(key);
      waitingCount -= batch.length;
      inFlightItems += batch.length;
      commitsInFlight++;
      void run(batch);
    }
  }

  async function run(batch: { key: string; entry: Waiting<I, O> }[]): Promise<void> {
    let outcomes: ItemOutcome<O>[] | undefined;
    let failure: unknown;
    try {
      outcomes = await options.commit(batch.map((b) => b.entry.item));
      if (outcomes.length !== batch.length) {
        failure = new Error(`group commit returned ${outcomes.length} outcomes for ${batch.length} items`);
      }
    } catch (err) {
      failure = err;
    }
    commitsInFlight--;
    inFlightItems -= batch.length;
    batch.forEach(({ key, entry }, i) => {
      busy.delete(key);
      const outcome = outcomes?.[i];
      if (failure !== undefined || outcome === undefined) entry.reject(failure);
      else if (outcome.ok) entry.resolve(outcome.value);
      else entry.reject(outcome.error);
    });
    // Items that arrived during the commit have waited one already: the next starts now.
    pump();
  }

  return {
    submit(item) {
      return new Promise<O>((resolve, reject) => {
        const key = keyOf(item);
        const queue = waiting.get(key);
        if (queue) queue.push({ item, resolve, reject });
        else waiting.set(key, [{ item, resolve, reject }]);
        waitingCount++;
        // No free slot: a running commit starts the next when it settles. Otherwise the
        // start is deferred once, so the items of this turn go together.
        if (commitsInFlight >= maxConcurrent || scheduled) return;
        scheduled = true;
        defer(pump);
      });
    },
    pending: () => waitingCount + inFlightItems,
  };
}

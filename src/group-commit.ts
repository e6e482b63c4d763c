// Group commit: callers submit one item each and wait for it to be written; the items
// that arrive while a commit is in flight (or in the same event-loop turn as the first)
// are written together by the next commit. A durable write costs one round trip and one
// flush to disk however many rows it carries, so under load the cost per item falls
// while no item waits for a timer: an idle system commits a lone item at once.
//
// Guarantees the callers rely on:
// - an item's promise settles only after the commit that carried it settled: a
//   resolved item is durable, never "about to be";
// - one commit at a time, items in submission order: a commit sees every item of an
//   earlier commit written, and within a commit the order is the submission order;
// - a commit that throws rejects every item it carried (none of them is half-acked);
//   a commit may instead fail single items (an item-level refusal) and keep the rest.
export type ItemOutcome<O> = { ok: true; value: O } | { ok: false; error: unknown };

export interface GroupCommitOptions<I, O> {
  /** Writes `items` in one commit; returns one outcome per item, in order. Throwing fails them all. */
  commit(items: readonly I[]): Promise<ItemOutcome<O>[]>;
  /** Most items per commit (default 200); the rest wait for the next. */
  maxBatch?: number;
  /** How the first commit after idle is deferred to gather its turn's arrivals (default setImmediate). */
  defer?: (run: () => void) => void;
}

export interface GroupCommit<I, O> {
  /** Settles once the commit carrying `item` did: with its value, or its (or the commit's) error. */
  submit(item: I): Promise<O>;
  /** Items submitted and not yet settled (waiting or in the commit in flight). */
  pending(): number;
}

interface Waiting<I, O> {
  item: I;
  resolve(value: O): void;
  reject(error: unknown): void;
}

export function createGroupCommit<I, O>(options: GroupCommitOptions<I, O>): GroupCommit<I, O> {
  const maxBatch = options.maxBatch ?? 200;
  if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new Error(`maxBatch must be a positive integer, got ${maxBatch}`);
  const defer = options.defer ?? ((run) => setImmediate(run));
  const queue: Waiting<I, O>[] = [];
  let inFlight = 0;
  let scheduled = false;

  async function flush(): Promise<void> {
    scheduled = false;
    while (queue.length > 0) {
      const batch = queue.splice(0, maxBatch);
      inFlight = batch.length;
      let outcomes: ItemOutcome<O>[] | undefined;
      let failure: unknown;
      try {
        outcomes = await options.commit(batch.map((w) => w.item));
        if (outcomes.length !== batch.length) {
          failure = new Error(`group commit returned ${outcomes.length} outcomes for ${batch.length} items`);
        }
      } catch (err) {
        failure = err;
      }
      inFlight = 0;
      batch.forEach((w, i) => {
        const outcome = outcomes?.[i];
        if (failure !== undefined || outcome === undefined) w.reject(failure);
        else if (outcome.ok) w.resolve(outcome.value);
        else w.reject(outcome.error);
      });
      // Items that arrived during the commit have waited one already: the next starts now.
    }
  }

  return {
    submit(item) {
      return new Promise<O>((resolve, reject) => {
        queue.push({ item, resolve, reject });
        if (inFlight > 0 || scheduled) return; // the running loop (or the deferred start) takes it
        scheduled = true;
        defer(() => void flush());
      });
    },
    pending: () => queue.length + inFlight,
  };
}

// Event retention: environment_events is append-only, so without a bound it grows with
// every reconcile forever. Run with each GC sweep (one replica at a time, under the GC
// lock); a failure is logged and retried on the next sweep, never stops the sweep.
import type { Deps } from '../deps.js';
import { safeErrorLine } from '../secrets.js';

export async function pruneOldEvents(deps: Pick<Deps, 'store' | 'clock' | 'log'>, retentionMs: number): Promise<number> {
  const before = new Date(deps.clock.now().getTime() - retentionMs);
  try {
    const pruned = await deps.store.pruneEvents(before);
    if (pruned > 0) deps.log.info({ pruned, before: before.toISOString() }, 'old environment events pruned');
    return pruned;
  } catch (err) {
    deps.log.warn({ error: safeErrorLine(err) }, 'pruning old environment events failed; retrying with the next sweep');
    return 0;
  }
}

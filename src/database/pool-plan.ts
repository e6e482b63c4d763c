// What a template's warm pool needs: the spares observed, the template's version
// marker now and the pool's settings in, the drops and clones to make out. Pure and
// printable; warm-pool.ts observes and applies.
//
// The rules, in order:
// - No version marker on the template (no COMMENT, the query gave nothing): nothing
//   says whether a spare is current, so no spare is kept and none is made; PRs clone
//   directly. A PR database comes from the template as it is now, never a stale one.
// - A spare without its marker (a crash between CREATE DATABASE and COMMENT) or with
//   another version's marker is dropped, never claimed.
// - Current spares beyond `size`, or beyond `maxBytes` together (pg_database_size,
//   the logical size: on a reflink filesystem spares share extents and use less), are
//   dropped, the highest slot first.
// - Then clones fill the lowest free slots (a slot whose name someone else's database
//   holds is skipped) while the pool has fewer than `size` and
//   one more template's size still fits in `maxBytes`.

export interface PoolSettings {
  template: string;
  strategy: 'FILE_COPY' | 'WAL_LOG';
  /** Spares kept ready (0: no pool). */
  size: number;
  /** Bound on the spares' pg_database_size together. */
  maxBytes: number;
  /** SQL run read-only in the template whose first value is its version; default: the template's COMMENT. */
  versionQuery?: string | undefined;
}

export interface ObservedSpare {
  name: string;
  slot: number;
  /** The template version recorded in its marker; null when unmarked (an interrupted clone). */
  version: string | null;
  bytes: number;
}

export interface PoolObservation {
  /** The template's version marker (hashed) now; null when it has none. */
  version: string | null;
  /** pg_database_size of the template: what one more spare will take. */
  templateBytes: number;
  spares: ObservedSpare[];
  /** Slots whose name a database that is not ours holds: never touched, never cloned into. */
  foreignSlots?: number[];
}

export type DropReason = 'unmarked' | 'stale' | 'no-version' | 'surplus' | 'over-budget';

export type PoolAction =
  | { kind: 'drop-spare'; template: string; name: string; reason: DropReason }
  | { kind: 'create-spare'; template: string; name: string; strategy: PoolSettings['strategy']; version: string }
  /** Fewer than `size` spares because one more would pass maxBytes: reported, nothing done. */
  | { kind: 'at-budget'; template: string; spares: number; bytes: number; templateBytes: number; maxBytes: number };

/** `spareName(slot)`: sql.ts spareDatabaseName of this instance and template. */
export function planWarmPool(spareName: (slot: number) => string, settings: PoolSettings, observed: PoolObservation): PoolAction[] {
  const { template } = settings;
  const drop = (name: string, reason: DropReason): PoolAction => ({ kind: 'drop-spare', template, name, reason });
  const actions: PoolAction[] = [];
  const bySlot = [...observed.spares].sort((a, b) => a.slot - b.slot || a.name.localeCompare(b.name));
  const current: ObservedSpare[] = [];
  for (const spare of bySlot) {
    if (spare.version === null) actions.push(drop(spare.name, 'unmarked'));
    else if (observed.version === null) actions.push(drop(spare.name, 'no-version'));
    else if (spare.version !== observed.version) actions.push(drop(spare.name, 'stale'));
    else current.push(spare);
  }
  if (observed.version === null) return actions;

  const kept: ObservedSpare[] = [];
  let bytes = 0;
  for (const spare of current) {
    if (kept.length >= settings.size) actions.push(drop(spare.name, 'surplus'));
    else if (bytes + spare.bytes > settings.maxBytes) actions.push(drop(spare.name, 'over-budget'));
    else {
      kept.push(spare);
      bytes += spare.bytes;
    }
  }

  const taken = new Set([...kept.map((s) => s.slot), ...(observed.foreignSlots ?? [])]);
  let count = kept.length;
  for (let slot = 0; count < settings.size; slot++) {
    if (taken.has(slot)) continue;
    if (bytes + observed.templateBytes > settings.maxBytes) {
      actions.push({ kind: 'at-budget', template, spares: count, bytes, templateBytes: observed.templateBytes, maxBytes: settings.maxBytes });
      break;
    }
    actions.push({ kind: 'create-spare', template, name: spareName(slot), strategy: settings.strategy, version: observed.version });
    bytes += observed.templateBytes;
    count++;
  }
  return actions;
}

export function describePoolAction(action: PoolAction): string {
  switch (action.kind) {
    case 'drop-spare':
      return `drop spare ${action.name} of ${action.template} (${action.reason})`;
    case 'create-spare':
      return `clone spare ${action.name} from ${action.template} (${action.strategy})`;
    case 'at-budget':
      return `keep ${action.spares} spare(s) of ${action.template}: one more (${action.templateBytes} bytes) would pass maxBytes ${action.maxBytes} (now ${action.bytes})`;
  }
}

// Blocking-query support shared by the Nomad and Consul emulators: parse `index`/`wait`,
// then recompute the answer until what it watches moves past the requested index or the
// time to block runs out. How long a wait blocks is each system's own rule (timeToBlock).
import type { Cluster } from './cluster.js';
import { parseGoDuration } from './nomad-jobspec.js';

export type BlockingParams = { index: number; waitMs: number } | { error: 'index' | 'wait' };

/**
 * `index` and `wait` as both agents parse them (Nomad and Consul command/agent|agent
 * http.go parseWait: strconv.ParseUint and time.ParseDuration, which takes a sign). An
 * absent wait is 0, which each system's timeToBlock reads as its default.
 */
export function parseBlocking(query: URLSearchParams): BlockingParams {
  const rawIndex = query.get('index');
  const rawWait = query.get('wait');
  let index = 0;
  if (rawIndex !== null && rawIndex !== '') {
    if (!/^\d+$/.test(rawIndex)) return { error: 'index' };
    index = Number(rawIndex);
  }
  let waitMs = 0;
  if (rawWait !== null && rawWait !== '') {
    // Both agents accept a Go duration; a bare number is read as seconds by neither, so refuse it.
    const ns = parseGoDuration(rawWait);
    if (Number.isNaN(ns)) return { error: 'wait' };
    waitMs = ns / 1e6;
  }
  return { index, waitMs };
}

/** A system's rule from the wait asked for to the time a query blocks: above `maxMs` it is cut to it, 0 or less is `defaultMs`. */
export function timeToBlock(waitMs: number, rule: { maxMs: number; defaultMs: number }): number {
  if (waitMs > rule.maxMs) return rule.maxMs;
  if (waitMs <= 0) return rule.defaultMs;
  return waitMs;
}

/**
 * Runs `compute` and, when `index > 0`, keeps re-running it on every cluster change until
 * the answer's index exceeds `index` or `blockMs` passes. `watch` is the index of what the
 * query watches (an object, or one job's rows), `index` by default: a change elsewhere
 * that moves the reported index (a table's) without moving `watch` neither wakes nor
 * answers the query. At the end of the time to block, the last answer that moved is given.
 */
export async function blockingRead<T>(
  cluster: Cluster,
  params: { index: number; blockMs: number },
  compute: () => { index: number; watch?: number; value: T },
): Promise<{ index: number; value: T }> {
  let result = compute();
  if (params.index <= 0) return result;
  const deadline = Date.now() + params.blockMs;
  let watched = result.watch ?? result.index;
  while (result.index <= params.index) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    await cluster.waitForIndex(cluster.index, left);
    const next = compute();
    if ((next.watch ?? next.index) === watched) continue;
    watched = next.watch ?? next.index;
    result = next;
  }
  return result;
}

// Blocking-query support shared by the Nomad and Consul emulators: parse `index`/`wait`,
// then recompute the answer until its index moves past the requested one or the wait ends.
import type { Cluster } from './cluster.js';
import { parseGoDuration } from './nomad-jobspec.js';

const MAX_WAIT_MS = 10 * 60_000;
const DEFAULT_WAIT_MS = 5 * 60_000;

export type BlockingParams = { index: number; waitMs: number } | { error: 'index' | 'wait' };

export function parseBlocking(query: URLSearchParams): BlockingParams {
  const rawIndex = query.get('index');
  const rawWait = query.get('wait');
  let index = 0;
  if (rawIndex !== null && rawIndex !== '') {
    if (!/^\d+$/.test(rawIndex)) return { error: 'index' };
    index = Number(rawIndex);
  }
  let waitMs = DEFAULT_WAIT_MS;
  if (rawWait !== null && rawWait !== '') {
    // Both agents accept a Go duration; a bare number is read as seconds by neither, so refuse it.
    const ns = parseGoDuration(rawWait);
    if (Number.isNaN(ns)) return { error: 'wait' };
    waitMs = Math.min(MAX_WAIT_MS, ns / 1e6);
  }
  return { index, waitMs };
}

/**
 * Runs `compute` and, when `index > 0`, keeps re-running it on every cluster change until
 * the answer's index exceeds `index` or `waitMs` passes (then answers with the same data).
 */
export async function blockingRead<T>(cluster: Cluster, params: { index: number; waitMs: number }, compute: () => { index: number; value: T }): Promise<{ index: number; value: T }> {
  let result = compute();
  if (params.index <= 0) return result;
  const deadline = Date.now() + params.waitMs;
  while (result.index <= params.index) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    await cluster.waitForIndex(cluster.index, left);
    result = compute();
  }
  return result;
}

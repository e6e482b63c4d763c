// The build poll: PRs waiting for their build are looked at again even when no webhook
// comes, so a lost check_run or status event only delays the deploy. Pure: which
// environments are due and how often the daemon's sweep runs (daemon.ts runs it under
// a sweep lock, one replica at a time, and enqueues a reconcile for each due PR).
import type { Config } from '../config/schema.js';
import { repoConfig } from '../config/repos.js';
import type { EnvironmentKey } from '../environments/naming.js';
import type { EnvironmentRecord } from '../environments/types.js';
import { gatesDeploys } from './gate.js';
import { recordedBuildWait } from './recorded-wait.js';

/**
 * The sweep runs this many times per poll interval. A sweep may find its own lock still
 * held and skip a tick (gc/schedule.ts keeps the lock for the interval after a sweep),
 * so consecutive sweeps are at most two ticks apart.
 */
const TICKS_PER_INTERVAL = 8;
const MIN_TICK_MS = 250;

/** How often the sweep looks: a fraction of the shortest poll interval; null when no repo waits for builds. */
export function buildPollTickMs(config: Pick<Config, 'repos'>): number | null {
  const intervals = config.repos.flatMap((r) => (gatesDeploys(r.build) ? [r.build.pollInterval] : []));
  if (intervals.length === 0) return null;
  return Math.max(MIN_TICK_MS, Math.floor(Math.min(...intervals) / TICKS_PER_INTERVAL));
}

/**
 * Waiting environments whose last look is old enough that, with sweeps at most two ticks
 * apart, the next look lands within one poll interval of the last; never more often than
 * about every 0.7 poll intervals (0.5 for the shortest ones) (a PR's rate of GitHub and registry reads stays bounded).
 */
export function planBuildPolls(records: Pick<EnvironmentRecord, 'key' | 'status' | 'desiredPresent' | 'desiredSha' | 'resources'>[], config: Pick<Config, 'repos'>, now: Date): EnvironmentKey[] {
  const tick = buildPollTickMs(config);
  if (tick === null) return [];
  const due: EnvironmentKey[] = [];
  for (const record of records) {
    if (record.status !== 'waiting_for_build' || !record.desiredPresent) continue;
    const { build } = repoConfig(config, record.key.repo);
    if (!gatesDeploys(build)) {
      // The gate was configured away: the next reconcile deploys at once.
      due.push(record.key);
      continue;
    }
    const last = recordedBuildWait(record);
    const lastAt = last && last.sha === record.desiredSha ? Date.parse(last.checkedAt) : Number.NaN;
    // Due this early, the look after next (≤ two ticks away) still falls inside the interval.
    const threshold = Math.max(build.pollInterval - 2.5 * tick, build.pollInterval * 0.5);
    if (Number.isNaN(lastAt) || now.getTime() - lastAt >= threshold) due.push(record.key);
  }
  return due;
}

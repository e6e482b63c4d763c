// Which waiting PRs the build poll looks at again, and how often it runs.
import { describe, expect, it } from 'vitest';
import type { Config } from '../config/schema.js';
import { buildPollTickMs, planBuildPolls } from './poll.js';

const SHA = 'c'.repeat(40);
const NOW = new Date('2026-03-01T12:00:00Z');
const build = (pollInterval: number) => ({ checks: ['build-images'], waitForImages: false, timeout: 1_800_000, pollInterval });
const config = { repos: [{ name: 'acme/shop', build: build(30_000) }, { name: 'acme/slow', build: build(120_000) }, { name: 'acme/plain' }] } as unknown as Pick<Config, 'repos'>;
const record = (repo: string, secondsAgo: number | null, over: Record<string, unknown> = {}) => ({
  key: { repo, pr: 1 },
  status: 'waiting_for_build' as const,
  desiredPresent: true,
  desiredSha: SHA,
  resources: secondsAgo === null ? {} : { build: { sha: SHA, checkedAt: new Date(NOW.getTime() - secondsAgo * 1000).toISOString(), line: 'waiting' } },
  ...over,
});

describe('build poll', () => {
  it('when repos wait for builds then the sweep ticks at an eighth of the shortest interval; with none, not at all', () => {
    expect(buildPollTickMs(config)).toBe(3_750);
    expect(buildPollTickMs({ repos: [] } as unknown as Pick<Config, 'repos'>)).toBeNull();
  });

  it.each([
    { name: 'never looked at', rec: record('acme/shop', null), due: true },
    { name: 'looked at just now', rec: record('acme/shop', 1), due: false },
    { name: 'looked at 20 s ago (30 s interval): the next sweep could be too late', rec: record('acme/shop', 21), due: true },
    { name: 'looked at 15 s ago (30 s interval)', rec: record('acme/shop', 15), due: false },
    { name: 'looked at 60 s ago (120 s interval)', rec: record('acme/slow', 60), due: false },
    { name: 'looked at 115 s ago (120 s interval)', rec: record('acme/slow', 115), due: true },
    { name: 'the look was at another SHA (a push)', rec: record('acme/shop', 1, { desiredSha: 'd'.repeat(40) }), due: true },
    { name: 'ready, not waiting', rec: record('acme/shop', null, { status: 'ready' }), due: false },
    { name: 'closed meanwhile', rec: record('acme/shop', null, { desiredPresent: false }), due: false },
    { name: 'its repo no longer waits for builds', rec: record('acme/plain', 1), due: true },
  ])('when $name then due is $due', ({ rec, due }) => {
    expect(planBuildPolls([rec], config, NOW)).toEqual(due ? [rec.key] : []);
  });

  it('when sweeps come at most two ticks apart then no waiting PR goes a whole poll interval without a look', () => {
    const seed = Date.now();
    let random = seed;
    const next = () => ((random = (random * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const tick = buildPollTickMs(config)!;
    let lastLook = 0;
    let t = 0;
    let longest = 0;
    while (t < 3_600_000) {
      t += tick * (0.9 + next() * 0.1) * (next() < 0.5 ? 2 : 1);
      const rec = record('acme/shop', (t - lastLook) / 1000);
      if (planBuildPolls([rec], config, new Date(NOW.getTime())).length > 0) {
        longest = Math.max(longest, t - lastLook);
        lastLook = t;
      }
    }
    console.log(`build poll: seed ${seed}, longest gap ${Math.round(longest)} ms of a 30000 ms interval`);
    expect(longest).toBeLessThanOrEqual(30_000);
    expect(longest).toBeGreaterThan(15_000);
  });
});

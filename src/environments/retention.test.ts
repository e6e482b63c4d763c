import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { EnvironmentStore } from './types.js';
import { pruneOldEvents } from './retention.js';

const now = new Date('2026-05-01T10:00:00Z');
const clock = { now: () => now, sleep: async () => undefined };

function logger(lines: string[]) {
  return pino({ level: 'info' }, new Writable({ write: (c, _e, done) => (lines.push(String(c)), done()) }));
}

describe('pruneOldEvents', () => {
  it('when run then events before now minus the retention are pruned', async () => {
    const cutoffs: Date[] = [];
    const store = { pruneEvents: async (before: Date) => (cutoffs.push(before), 7) } as unknown as EnvironmentStore;
    const lines: string[] = [];
    expect(await pruneOldEvents({ store, clock, log: logger(lines) }, 86_400_000)).toBe(7);
    expect(cutoffs).toEqual([new Date('2026-04-30T10:00:00Z')]);
    expect(lines.join('')).toContain('old environment events pruned');
  });

  it('when the store fails then the failure is logged without the password and the sweep goes on', async () => {
    const store = { pruneEvents: async () => Promise.reject(new Error('connect failed postgres://previewd:hunter2@db/previewd')) } as unknown as EnvironmentStore;
    const lines: string[] = [];
    expect(await pruneOldEvents({ store, clock, log: logger(lines) }, 86_400_000)).toBe(0);
    expect(lines.join('')).toContain('pruning old environment events failed');
    expect(lines.join('')).not.toContain('hunter2');
  });
});

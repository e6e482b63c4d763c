import { describe, expect, it } from 'vitest';
import { TransientError } from '../errors.js';
import { createSlots, runSlots } from './slots.js';

const tick = () => new Promise((r) => setImmediate(r));

describe('createSlots', () => {
  it('when all slots are taken then the next acquire waits for a release, first come first served', async () => {
    const slots = createSlots(2);
    const a = await slots.acquire();
    await slots.acquire();
    const order: string[] = [];
    void slots.acquire().then(() => order.push('c'));
    void slots.acquire().then(() => order.push('d'));
    await tick();
    expect(order).toEqual([]);
    expect(slots.queued).toBe(2);
    a();
    a(); // a second release of the same slot frees nothing more
    await tick();
    expect(order).toEqual(['c']);
    expect(slots.inUse).toBe(2);
  });

  it('when a resuming run queues then it goes ahead of runs not started yet', async () => {
    const slots = createSlots(1);
    const first = await slots.acquire();
    const order: string[] = [];
    void slots.acquire().then(() => order.push('fresh'));
    void slots.acquire(undefined, { resuming: true }).then((release) => {
      order.push('resuming');
      release();
    });
    first();
    await tick();
    await tick();
    expect(order).toEqual(['resuming', 'fresh']);
  });

  it('when the signal fires while queued then the acquire rejects and leaves the line', async () => {
    const slots = createSlots(1);
    const held = await slots.acquire();
    const controller = new AbortController();
    const waiting = slots.acquire(controller.signal);
    controller.abort(new Error('stop'));
    await expect(waiting).rejects.toThrow('stop');
    expect(slots.queued).toBe(0);
    held();
    expect(slots.inUse).toBe(0);
  });
});

describe('runSlots', () => {
  const stopped = () => new TransientError('stopped', { system: 'redis' });

  it('when a run waits then its work slot is free for another run, and it takes one back after', async () => {
    const slots = { work: createSlots(1), waits: createSlots(5) };
    const a = runSlots(slots, new AbortController().signal, stopped);
    await a.start();
    let release!: () => void;
    const waiting = a.whileWaiting(() => new Promise<string>((r) => (release = () => r('done'))));
    await tick();
    expect(slots.work.inUse).toBe(0);
    expect(slots.waits.inUse).toBe(1);
    const b = runSlots(slots, new AbortController().signal, stopped);
    await b.start(); // would hang if A kept its slot while waiting
    release();
    await tick();
    expect(slots.work.queued).toBe(1); // A waits for B's slot, ahead of any new run
    b.end();
    await expect(waiting).resolves.toBe('done');
    expect(slots.work.inUse).toBe(1);
    a.end();
    expect(slots.work.inUse).toBe(0);
    expect(slots.waits.inUse).toBe(0);
  });

  it('when more runs wait than wait slots then the extra ones queue without holding a work slot', async () => {
    const slots = { work: createSlots(2), waits: createSlots(1) };
    const releases: (() => void)[] = [];
    const runs = [0, 1].map(() => runSlots(slots, new AbortController().signal, stopped));
    for (const r of runs) await r.start();
    const waits = runs.map((r) => r.whileWaiting(() => new Promise<void>((done) => releases.push(done))));
    await tick();
    expect(releases).toHaveLength(1);
    expect(slots.waits.queued).toBe(1);
    expect(slots.work.inUse).toBe(0);
    releases[0]!();
    await tick();
    await tick();
    expect(releases).toHaveLength(2);
    releases[1]!();
    await Promise.all(waits);
    for (const r of runs) r.end();
    expect(slots.work.inUse + slots.waits.inUse).toBe(0);
  });

  it('when a wait fails then the run gets its work slot back and the error', async () => {
    const slots = { work: createSlots(1), waits: createSlots(1) };
    const run = runSlots(slots, new AbortController().signal, stopped);
    await run.start();
    await expect(run.whileWaiting(() => Promise.reject(new Error('deployment failed')))).rejects.toThrow('deployment failed');
    expect(slots.work.inUse).toBe(1);
    expect(slots.waits.inUse).toBe(0);
    run.end();
  });

  it('when the run is stopped while queued for a work slot then it fails transient and holds nothing', async () => {
    const slots = { work: createSlots(1), waits: createSlots(1) };
    const other = await slots.work.acquire();
    const controller = new AbortController();
    const run = runSlots(slots, controller.signal, stopped);
    const starting = run.start();
    controller.abort(new Error('per-PR lock lost'));
    await expect(starting).rejects.toBeInstanceOf(TransientError);
    run.end();
    other();
    expect(slots.work.inUse).toBe(0);
  });
});

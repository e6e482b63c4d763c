import { afterEach, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../../src/sandbox/emulators/harness.js';

let emulator: Emulator | undefined;
afterEach(async () => {
  await emulator?.close();
});

describe('emulator harness', () => {
  it('when a failure rule with times is set then exactly that many requests fail', async () => {
    emulator = await startEmulator({ name: 't', handler: () => ({ status: 200, body: { ok: true } }) });
    emulator.faults.failures.push({ method: 'GET', path: '/x', status: 503, body: 'No cluster leader', times: 2 });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await fetch(`${emulator.url}/x`)).status);
    expect(statuses).toEqual([503, 503, 200]);
    expect((await fetch(`${emulator.url}/y`)).status).toBe(200);
  });

  it('when down then connections are refused, and up serves again on the same port', async () => {
    emulator = await startEmulator({ name: 't', handler: () => ({ status: 200, body: 'ok' }) });
    await emulator.down();
    await expect(fetch(`${emulator.url}/`)).rejects.toThrow();
    await emulator.up();
    expect(await (await fetch(`${emulator.url}/`)).text()).toBe('ok');
  });

  it('when latency is set then answers are delayed by it', async () => {
    emulator = await startEmulator({ name: 't', handler: () => ({ status: 200, body: 'ok' }) });
    emulator.faults.latencyMs = 120;
    const started = Date.now();
    await fetch(`${emulator.url}/`);
    expect(Date.now() - started).toBeGreaterThanOrEqual(110);
  });

  it('when the error rate is 1 then every request gets the random error', async () => {
    emulator = await startEmulator({ name: 't', handler: () => ({ status: 200, body: 'ok' }), randomErrorBody: 'boom' });
    emulator.faults.errorRate = 1;
    const res = await fetch(`${emulator.url}/`);
    expect(res.status).toBe(500);
    expect(await res.text()).toBe('boom');
  });
});

// Issue 10 item 7: a Redis stall made the delivery claim's SET NX complete after the
// webhook had already answered 503, and GitHub's redelivery then got `200 duplicate`
// with nothing recorded. Redis here is real, reached through a proxy that holds the
// claim's bytes during the stall and delivers them late.
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createDeliveryDedupe } from '../src/queue/deliveries.js';
import { createStateDatabase, newDeliveryId, pullRequestPayload, send, startIntake, type IntakeHarness } from './intake-support.js';
import { startStallProxy, type StallProxy } from './support/stall-proxy.js';
import { TEST_SERVICES } from './support/services.js';
import { sleep, waitFor } from './support/wait.js';

let db: Awaited<ReturnType<typeof createStateDatabase>>;
let proxy: StallProxy;
let proxied: Redis;
let h: IntakeHarness;

beforeAll(async () => {
  db = await createStateDatabase();
  const target = new URL(TEST_SERVICES.redisUrl);
  proxy = await startStallProxy({ host: target.hostname, port: Number(target.port || 6379) });
  proxied = new Redis({ host: '127.0.0.1', port: proxy.port, maxRetriesPerRequest: 1 });
  h = await startIntake({
    databaseUrl: db.url,
    recordTimeoutMs: 300,
    deliveries: (prefix) => createDeliveryDedupe({ redis: proxied, prefix }),
  });
});
afterEach(() => proxy.resume());
afterAll(async () => {
  await h.close();
  proxied.disconnect();
  await proxy.close();
  await db.drop();
});

const body = (pr: number) => JSON.stringify(pullRequestPayload({ number: pr }));

describe('delivery claim after a Redis stall', () => {
  it('when the claim lands after the webhook gave up then the redelivery is recorded, not a duplicate', async () => {
    const delivery = newDeliveryId();
    proxy.stall();
    const first = await send(h.url, body(21), { delivery });
    expect(first.status).toBe(503);
    proxy.resume();
    // The late SET NX has now run in Redis; give it (and anything it triggers) time to settle.
    await proxied.ping();
    await sleep(50);
    const redelivered = await send(h.url, body(21), { delivery });
    expect(redelivered.json.status).not.toBe('duplicate');
    const retried = redelivered.status === 202 ? redelivered : await waitFor('a redelivery to be accepted', async () => {
      const r = await send(h.url, body(21), { delivery });
      expect(r.json.status).not.toBe('duplicate');
      return r.status === 202 ? r : null;
    }, 20_000);
    expect(retried.json.status).toBe('accepted');
    expect((await h.store.desired('acme/shop', 21))?.present).toBe(true);
    expect(await h.deliveries.wasSeen(delivery)).toBe(true);
  });

  it('when a redelivery finds a claim that was never confirmed then it is never answered as a duplicate', async () => {
    const delivery = newDeliveryId();
    // A claim whose owner died before confirming (set directly, as the late SET leaves it).
    const dedupe = createDeliveryDedupe({ redis: proxied, prefix: h.redisPrefix, claimTakeoverMs: 200 });
    const orphan = await dedupe.claim(delivery);
    expect(orphan.claimed).toBe(true);
    const busy = await dedupe.claim(delivery);
    expect(busy).toEqual({ claimed: false, reason: 'in-progress' });
    await sleep(250);
    const takeover = await dedupe.claim(delivery);
    expect(takeover.claimed).toBe(true);
    if (takeover.claimed) await dedupe.confirm(delivery, takeover.token);
    expect(await dedupe.claim(delivery)).toEqual({ claimed: false, reason: 'done' });
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestRedis } from '../../test/support/services.js';
import { waitFor } from '../../test/support/wait.js';
import { createLogger } from '../log.js';
import { createPrLocks } from './pr-lock.js';

const log = createLogger({ level: 'silent' });
const key = { repo: 'acme/shop', pr: 1 };
let redis: Awaited<ReturnType<typeof createTestRedis>>;
beforeAll(async () => {
  redis = await createTestRedis();
});
afterAll(async () => {
  await redis.cleanup();
});

describe('per-PR lock', () => {
  it('when a PR lock is held then a second acquire fails, and after release the token increases', async () => {
    const locks = createPrLocks({ redis: redis.redis, prefix: redis.prefix, ttlMs: 2_000, log });
    const first = await locks.acquire(key);
    expect(first).not.toBeNull();
    expect(await locks.acquire(key)).toBeNull();
    expect(await locks.acquire({ repo: 'acme/shop', pr: 2 })).not.toBeNull();
    await first!.release();
    const second = await locks.acquire(key);
    expect(second!.fencingToken).toBeGreaterThan(first!.fencingToken);
    await second!.release();
  });

  it('when a holder keeps running past the TTL then renewal keeps the lock', async () => {
    // A 150 ms TTL lapsed whenever a loaded 2-core machine stalled this process that long; the
    // TTL must outlast a stall, and the wait must still span several of them.
    const locks = createPrLocks({ redis: redis.redis, prefix: redis.prefix, ttlMs: 1_000, log });
    const held = await locks.acquire({ repo: 'acme/shop', pr: 3 });
    await new Promise((r) => setTimeout(r, 3_000));
    expect(held!.signal.aborted).toBe(false);
    expect(await locks.holder({ repo: 'acme/shop', pr: 3 })).toBe(held!.fencingToken);
    await held!.release();
    expect(await locks.holder({ repo: 'acme/shop', pr: 3 })).toBeNull();
  });

  it('when the lock is taken over behind the holder then its signal aborts', async () => {
    const locks = createPrLocks({ redis: redis.redis, prefix: redis.prefix, ttlMs: 150, log });
    const target = { repo: 'acme/shop', pr: 4 };
    const held = await locks.acquire(target);
    await redis.redis.set(`${redis.prefix}:lock:acme/shop#4`, '999999');
    // The next renewal (every 50 ms) sees it; under load that may take a while, so wait for it.
    await waitFor('the holder to see the takeover', () => held!.signal.aborted, 10_000);
    expect(held!.signal.aborted).toBe(true);
    await held!.release();
    expect(await locks.holder(target)).toBe(999999);
  });

  it('when the token is at or below the recorded floor then raiseAbove lifts it, renewal keeps the raised lock, and release frees it', async () => {
    // A TTL a starved event loop still renews in time; the wait spans several renewals.
    const locks = createPrLocks({ redis: redis.redis, prefix: redis.prefix, ttlMs: 2_000, log });
    const target = { repo: 'acme/shop', pr: 5 };
    const held = await locks.acquire(target);
    const first = held!.fencingToken;
    expect(await held!.raiseAbove(first)).toBe(true);
    expect(held!.fencingToken).toBeGreaterThan(first);
    const raised = held!.fencingToken;
    expect(await held!.raiseAbove(raised - 1)).toBe(true);
    expect(held!.fencingToken).toBe(raised); // already above: unchanged
    // Past the TTL (renewed every ~667 ms), it still holds, under the raised token.
    await new Promise((r) => setTimeout(r, 2_500));
    expect(held!.signal.aborted).toBe(false);
    expect(await locks.holder(target)).toBe(raised);
    await held!.release();
    expect(await locks.holder(target)).toBeNull();
  });
});


import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestRedis } from '../../test/support/services.js';
import { createFencedLock, FENCE_TTL_MS } from './fenced-lock.js';

let redis: Awaited<ReturnType<typeof createTestRedis>>;
beforeAll(async () => {
  redis = await createTestRedis();
});
afterAll(async () => {
  await redis.cleanup();
});

describe('fenced lock keys', () => {
  it('when a lock is taken then its fence key expires (one per PR ever seen must not stay forever) and tokens still grow', async () => {
    const fenceKey = `${redis.prefix}:fence:acme/shop#1`;
    // A fence key left without a TTL by an older previewd gets one on the next acquisition.
    await redis.redis.set(fenceKey, '41');
    const lock = createFencedLock(redis.redis, `${redis.prefix}:lock:acme/shop#1`, fenceKey);
    const first = await lock.tryAcquire(1_000);
    expect(first).toBe(42);
    const ttl = await redis.redis.pttl(fenceKey);
    expect(ttl).toBeGreaterThan(FENCE_TTL_MS - 60_000);
    expect(ttl).toBeLessThanOrEqual(FENCE_TTL_MS);
    await lock.release(first!);
    expect(await lock.tryAcquire(1_000)).toBe(43);
  });

  it('when a lock is held longer than the fence TTL then the fence outlives it', async () => {
    const fenceKey = `${redis.prefix}:fence:long`;
    // Compared with the lock key's own TTL, read after it: time passing between the calls
    // can only shrink the lock's, so this holds on a slow machine too.
    const lockKey = `${redis.prefix}:lock:long`;
    const lock = createFencedLock(redis.redis, lockKey, fenceKey);
    const token = await lock.tryAcquire(FENCE_TTL_MS * 2);
    const fenceTtl = await redis.redis.pttl(fenceKey);
    expect(fenceTtl).toBeGreaterThan(FENCE_TTL_MS);
    expect(fenceTtl).toBeGreaterThanOrEqual(await redis.redis.pttl(lockKey));
    expect(await lock.extend(token!, FENCE_TTL_MS * 3)).toBe(true);
    const extendedTtl = await redis.redis.pttl(fenceKey);
    expect(extendedTtl).toBeGreaterThan(FENCE_TTL_MS * 2);
    expect(extendedTtl).toBeGreaterThanOrEqual(await redis.redis.pttl(lockKey));
  });

  it('when the counter was reset behind a recorded floor then raise gives the held lock a token above it, and later holders stay above', async () => {
    const fenceKey = `${redis.prefix}:fence:reset`;
    const lockKey = `${redis.prefix}:lock:reset`;
    const lock = createFencedLock(redis.redis, lockKey, fenceKey);
    await redis.redis.del(fenceKey); // a flushed Redis: the counter starts again at 1
    const token = await lock.tryAcquire(10_000);
    expect(token).toBe(1);
    const raised = await lock.raise(token!, 57, 10_000);
    expect(raised).toBe(58);
    expect(await lock.holder()).toBe(58);
    // The old token no longer holds it; the raised one renews and releases it.
    expect(await lock.extend(token!, 10_000)).toBe(false);
    expect(await lock.extend(raised!, 10_000)).toBe(true);
    expect(await redis.redis.pttl(fenceKey)).toBeGreaterThan(FENCE_TTL_MS - 60_000);
    await lock.release(raised!);
    expect(await lock.tryAcquire(10_000)).toBe(59);
  });

  it('when the lock is no longer held by the token then raise refuses and changes nothing', async () => {
    const lock = createFencedLock(redis.redis, `${redis.prefix}:lock:gone`, `${redis.prefix}:fence:gone`);
    const token = await lock.tryAcquire(10_000);
    await redis.redis.set(`${redis.prefix}:lock:gone`, '999'); // taken over behind it
    expect(await lock.raise(token!, 500, 10_000)).toBeNull();
    expect(await lock.holder()).toBe(999);
    expect(await redis.redis.get(`${redis.prefix}:fence:gone`)).toBe(String(token));
  });
});

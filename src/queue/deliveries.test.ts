import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestRedis } from '../../test/support/services.js';
import { createDeliveryDedupe } from './deliveries.js';

let redis: Awaited<ReturnType<typeof createTestRedis>>;
beforeAll(async () => {
  redis = await createTestRedis();
});
afterAll(async () => {
  await redis.cleanup();
});

describe('delivery dedupe', () => {
  it('when a delivery is claimed and confirmed then a second claim is refused and it is seen', async () => {
    const dedupe = createDeliveryDedupe({ redis: redis.redis, prefix: redis.prefix });
    const first = await dedupe.claim('d-1');
    expect(first.claimed).toBe(true);
    if (first.claimed) await dedupe.confirm('d-1', first.token);
    expect((await dedupe.claim('d-1')).claimed).toBe(false);
    expect(await dedupe.wasSeen('d-1')).toBe(true);
    const ttl = await redis.redis.pttl(`${redis.prefix}:delivery:d-1`);
    expect(ttl).toBeGreaterThan(71 * 3_600_000);
  });

  it('when a claim is released then the same delivery can be claimed again and was not seen', async () => {
    const dedupe = createDeliveryDedupe({ redis: redis.redis, prefix: redis.prefix });
    const first = await dedupe.claim('d-2');
    if (first.claimed) await dedupe.release('d-2', first.token);
    expect(await dedupe.wasSeen('d-2')).toBe(false);
    expect((await dedupe.claim('d-2')).claimed).toBe(true);
  });

  it('when a stale claimer releases after another took over then the new claim survives', async () => {
    const dedupe = createDeliveryDedupe({ redis: redis.redis, prefix: redis.prefix, claimTtlMs: 50 });
    const stale = await dedupe.claim('d-3');
    await new Promise((r) => setTimeout(r, 80));
    const fresh = await dedupe.claim('d-3');
    expect(fresh.claimed).toBe(true);
    if (stale.claimed) await dedupe.release('d-3', stale.token);
    if (fresh.claimed) await dedupe.confirm('d-3', fresh.token);
    expect(await dedupe.wasSeen('d-3')).toBe(true);
  });

  it('when a delivery id is not a GUID-like token then it is refused before reaching Redis', async () => {
    const dedupe = createDeliveryDedupe({ redis: redis.redis, prefix: redis.prefix });
    await expect(dedupe.claim('x'.repeat(500))).rejects.toThrow('invalid delivery id');
    await expect(dedupe.claim('a*b')).rejects.toThrow('invalid delivery id');
  });

  it('when many deliveries are claimed in one turn then they go to Redis as one pipeline and each gets its own answer', async () => {
    const dedupe = createDeliveryDedupe({ redis: redis.redis, prefix: redis.prefix });
    const first = await dedupe.claim('p-0');
    if (first.claimed) await dedupe.confirm('p-0', first.token);
    const pipelines = vi.spyOn(redis.redis, 'pipeline');
    try {
      const claims = await Promise.all(Array.from({ length: 20 }, (_, i) => dedupe.claim(`p-${i}`)));
      expect(pipelines).toHaveBeenCalledTimes(1);
      expect(claims[0]).toEqual({ claimed: false, reason: 'done' });
      expect(claims.slice(1).every((c) => c.claimed)).toBe(true);
      expect(new Set(claims.slice(1).map((c) => (c.claimed ? c.token : '')))).toHaveProperty('size', 19);
    } finally {
      pipelines.mockRestore();
    }
  });

  it('when Redis has forgotten the scripts (restart, SCRIPT FLUSH) then they are sent whole and the calls still work', async () => {
    const dedupe = createDeliveryDedupe({ redis: redis.redis, prefix: redis.prefix });
    await dedupe.claim('f-1');
    await redis.redis.script('FLUSH');
    const claim = await dedupe.claim('f-2');
    expect(claim.claimed).toBe(true);
    if (claim.claimed) await dedupe.confirm('f-2', claim.token);
    expect(await dedupe.wasSeen('f-2')).toBe(true);
    expect(await dedupe.claim('f-1')).toEqual({ claimed: false, reason: 'in-progress' });
  });
});

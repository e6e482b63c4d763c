// Drops webhook redeliveries by X-GitHub-Delivery. A delivery is claimed briefly while
// it is being recorded, and marked seen (for days) only once its desired state is
// recorded and its work enqueued; when recording fails the claim is let go, so
// GitHub's redelivery of the same id can still succeed later.
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

const CONFIRM = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('SET', KEYS[1], 'done', 'PX', ARGV[2]) end
return 0`;

export type DeliveryClaim = { claimed: true; token: string } | { claimed: false };

export interface DeliveryDedupe {
  /** Claims a delivery id; `claimed: false` when it was seen (or is being handled right now). */
  claim(deliveryId: string): Promise<DeliveryClaim>;
  /** Marks the claimed delivery as done for the dedupe window. */
  confirm(deliveryId: string, token: string): Promise<void>;
  /** Lets go of a claim whose work could not be recorded. */
  release(deliveryId: string, token: string): Promise<void>;
  wasSeen(deliveryId: string): Promise<boolean>;
}

export const DELIVERY_ID = /^[A-Za-z0-9-]{1,100}$/;

export function createDeliveryDedupe(options: {
  redis: Redis;
  prefix: string;
  /** How long a delivery id is remembered (default 72 h; GitHub redeliveries are manual and recent). */
  ttlMs?: number;
  /** How long a claim lives if the process dies before confirming or releasing it. */
  claimTtlMs?: number;
}): DeliveryDedupe {
  const { redis, prefix } = options;
  const ttlMs = options.ttlMs ?? 72 * 3_600_000;
  const claimTtlMs = options.claimTtlMs ?? 60_000;
  const keyOf = (id: string) => {
    if (!DELIVERY_ID.test(id)) throw new Error('invalid delivery id');
    return `${prefix}:delivery:${id}`;
  };
  return {
    async claim(deliveryId) {
      const token = randomBytes(8).toString('hex');
      const ok = await redis.set(keyOf(deliveryId), `claim:${token}`, 'PX', claimTtlMs, 'NX');
      return ok === 'OK' ? { claimed: true, token } : { claimed: false };
    },
    async confirm(deliveryId, token) {
      await redis.eval(CONFIRM, 1, keyOf(deliveryId), `claim:${token}`, String(ttlMs));
    },
    async release(deliveryId, token) {
      await redis.eval(RELEASE, 1, keyOf(deliveryId), `claim:${token}`);
    },
    async wasSeen(deliveryId) {
      return (await redis.get(keyOf(deliveryId))) === 'done';
    },
  };
}

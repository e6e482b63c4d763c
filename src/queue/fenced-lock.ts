// A Redis mutex with a fencing token: the token grows on every acquisition, so a
// holder can check (or have others check) that it still owns the lock before each
// write. Used for the per-PR lock and the GC lock; the scripts are atomic in Redis.
import type { Redis } from 'ioredis';

// The fence key (the token counter) gets a TTL too: there is one per PR ever seen,
// and without one they would stay in Redis forever. Tokens are only ever compared
// with the lock key's value, so the counter must outlive the lock, nothing more:
// it lives FENCE_TTL_MS from each acquisition, and never less than the lock it backs.
const ACQUIRE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], token, 'PX', ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return token`;

const EXTEND = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[2], ARGV[3]) end
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`;

/** How long a fence counter outlives the last lock taken with it. */
export const FENCE_TTL_MS = 7 * 86_400_000;

// Re-tokens a held lock above `floor`: the counter jumps to the floor if it is below it,
// then INCR as on any acquisition, so every later holder's token is higher still.
const RAISE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
if current < tonumber(ARGV[2]) then redis.call('SET', KEYS[2], ARGV[2]) end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], token, 'PX', ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return token`;

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

export interface FencedLock {
  /** The new fencing token, or null when someone else holds the lock. */
  tryAcquire(ttlMs: number): Promise<number | null>;
  /** Extends the lock if `token` still holds it; false when it was lost. */
  extend(token: number, ttlMs: number): Promise<boolean>;
  /**
   * While `token` holds the lock, gives it a new token above `floor` (and moves the counter
   * there): for a counter that was reset behind a floor recorded elsewhere. Null when lost.
   */
  raise(token: number, floor: number, ttlMs: number): Promise<number | null>;
  /** Releases the lock if `token` still holds it. */
  release(token: number): Promise<void>;
  /** The holder's token, or null when free. */
  holder(): Promise<number | null>;
}

const ms = (value: number) => String(Math.max(1, Math.round(value)));

export function createFencedLock(redis: Redis, lockKey: string, fenceKey: string): FencedLock {
  return {
    async tryAcquire(ttlMs) {
      const token = Number(await redis.eval(ACQUIRE, 2, lockKey, fenceKey, ms(ttlMs), ms(Math.max(ttlMs, FENCE_TTL_MS))));
      return token > 0 ? token : null;
    },
    async extend(token, ttlMs) {
      return Number(await redis.eval(EXTEND, 2, lockKey, fenceKey, String(token), ms(ttlMs), ms(Math.max(ttlMs, FENCE_TTL_MS)))) === 1;
    },
    async raise(token, floor, ttlMs) {
      const raised = Number(await redis.eval(RAISE, 2, lockKey, fenceKey, String(token), String(Math.max(0, Math.trunc(floor))), ms(ttlMs), ms(Math.max(ttlMs, FENCE_TTL_MS))));
      return raised > 0 ? raised : null;
    },
    async release(token) {
      await redis.eval(RELEASE, 1, lockKey, String(token));
    },
    async holder() {
      const value = await redis.get(lockKey);
      return value === null ? null : Number(value);
    },
  };
}

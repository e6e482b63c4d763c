// Dashboard sign-in sessions, kept in Redis so every replica knows them and a sign-out
// ends them everywhere. The cookie holds a random session ID; Redis holds only its
// SHA-256 (a dump of Redis cannot be replayed as a cookie) mapped to the session's
// CSRF token, with the session lifetime as TTL: an expired session is simply gone.
import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

export interface Session {
  /** The value every POST of this session must carry. */
  csrf: string;
}

export interface SessionStore {
  create(): Promise<{ id: string; session: Session }>;
  /** null when unknown or expired (or when the ID is not one we could have issued). */
  get(id: string): Promise<Session | null>;
  destroy(id: string): Promise<void>;
}

const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;

export function randomToken(): string {
  return randomBytes(32).toString('base64url');
}

export function createRedisSessions(options: { redis: Redis; prefix: string; ttlMs: number }): SessionStore {
  const keyOf = (id: string) => `${options.prefix}:ui-session:${createHash('sha256').update(id).digest('hex')}`;
  return {
    async create() {
      const id = randomToken();
      const session = { csrf: randomToken() };
      await options.redis.set(keyOf(id), JSON.stringify(session), 'PX', options.ttlMs);
      return { id, session };
    },
    async get(id) {
      if (!SESSION_ID.test(id)) return null;
      const stored = await options.redis.get(keyOf(id));
      if (!stored) return null;
      const parsed = JSON.parse(stored) as Partial<Session>;
      return typeof parsed.csrf === 'string' ? { csrf: parsed.csrf } : null;
    },
    async destroy(id) {
      if (SESSION_ID.test(id)) await options.redis.del(keyOf(id));
    },
  };
}

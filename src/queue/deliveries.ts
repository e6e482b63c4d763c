// Drops webhook redeliveries by X-GitHub-Delivery. A delivery is claimed (`pending:<token>`)
// while it is being recorded, and marked `done` (for days) only once its desired state
// is recorded and its work enqueued; when recording fails the claim is let go, so
// GitHub's redelivery of the same id can still succeed later.
//
// Only `done` is a duplicate. A pending claim was never confirmed: its owner may still
// be working, or may have given up (a Redis stall made the SET land after the webhook
// had answered 503, issue 10) or died. A fresh pending claim answers "in progress";
// one older than `claimTakeoverMs` is taken over, since no owner holds a claim that
// long (the webhook bounds its claim and its record step to a few seconds each).
//
// Claims and confirms arriving in one event-loop turn go to Redis as one pipeline (one
// write, one round trip): under load a delivery's Redis calls cost a share of a syscall
// instead of one each. Each call still hears its own answer. The scripts are ioredis
// commands (defineCommand): sent by SHA, whole the first time on a connection and again
// when Redis has forgotten them (restart, SCRIPT FLUSH).
import { randomBytes } from 'node:crypto';
import type { ChainableCommander, Redis } from 'ioredis';
import { createGroupCommit, type ItemOutcome } from '../group-commit.js';

const PENDING = 'pending:';
const DONE = 'done';

// KEYS[1] delivery key; ARGV[1] pending value; ARGV[2] claim TTL ms; ARGV[3] takeover age ms.
// The claim's age is read from its own TTL (set to ARGV[2] when it was written), so
// no clock outside Redis is involved.
const CLAIM = `
local current = redis.call('GET', KEYS[1])
if current == '${DONE}' then return 'done' end
if current then
  local age = tonumber(ARGV[2]) - redis.call('PTTL', KEYS[1])
  if age < tonumber(ARGV[3]) then return 'in-progress' end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 'claimed'`;

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

const CONFIRM = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('SET', KEYS[1], '${DONE}', 'PX', ARGV[2]) end
return 0`;

/** The scripts as commands of the connection, each with one key (the delivery's). */
const COMMANDS = { claim: 'previewdDeliveryClaim', release: 'previewdDeliveryRelease', confirm: 'previewdDeliveryConfirm' } as const;
type Command = (typeof COMMANDS)[keyof typeof COMMANDS];
type WithCommands = Record<Command, (key: string, ...args: string[]) => ChainableCommander>;

/** One script call of a pipeline: the delivery key and the script's arguments. */
interface ScriptCall {
  command: Command;
  key: string;
  args: string[];
}

export type DeliveryClaim = { claimed: true; token: string } | { claimed: false; reason: 'done' | 'in-progress' };

export interface DeliveryDedupe {
  /** Claims a delivery id; `done` when it was recorded before, `in-progress` while another request holds a fresh claim. */
  claim(deliveryId: string): Promise<DeliveryClaim>;
  /** Marks the claimed delivery as done for the dedupe window. */
  confirm(deliveryId: string, token: string): Promise<void>;
  /** Lets go of a claim whose work could not be recorded (a no-op once someone else holds it). */
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
  /** Age after which an unconfirmed claim is taken over by a redelivery (default 15 s). */
  claimTakeoverMs?: number;
}): DeliveryDedupe {
  const { redis, prefix } = options;
  const ttlMs = options.ttlMs ?? 72 * 3_600_000;
  const claimTtlMs = options.claimTtlMs ?? 60_000;
  const claimTakeoverMs = options.claimTakeoverMs ?? 15_000;
  const keyOf = (id: string) => {
    if (!DELIVERY_ID.test(id)) throw new Error('invalid delivery id');
    return `${prefix}:delivery:${id}`;
  };
  redis.defineCommand(COMMANDS.claim, { numberOfKeys: 1, lua: CLAIM });
  redis.defineCommand(COMMANDS.release, { numberOfKeys: 1, lua: RELEASE });
  redis.defineCommand(COMMANDS.confirm, { numberOfKeys: 1, lua: CONFIRM });
  async function runPipeline(calls: readonly ScriptCall[]): Promise<ItemOutcome<unknown>[]> {
    const pipeline = redis.pipeline();
    for (const c of calls) (pipeline as unknown as WithCommands)[c.command](c.key, ...c.args);
    const results = (await pipeline.exec()) ?? [];
    return calls.map((_, i): ItemOutcome<unknown> => {
      const [err, value] = results[i] ?? [new Error('no reply from Redis'), null];
      return err ? { ok: false, error: err } : { ok: true, value };
    });
  }
  // Independent calls (no key ordering): the pipelines of several turns may be in flight at once.
  const pipelined = createGroupCommit<ScriptCall, unknown>({ commit: runPipeline, maxConcurrent: 16 });
  const call = (command: Command, deliveryId: string, ...args: string[]) => pipelined.submit({ command, key: keyOf(deliveryId), args });

  return {
    async claim(deliveryId) {
      const token = randomBytes(8).toString('hex');
      const outcome = await call(COMMANDS.claim, deliveryId, `${PENDING}${token}`, String(claimTtlMs), String(claimTakeoverMs));
      if (outcome === 'claimed') return { claimed: true, token };
      return { claimed: false, reason: outcome === 'done' ? 'done' : 'in-progress' };
    },
    async confirm(deliveryId, token) {
      await call(COMMANDS.confirm, deliveryId, `${PENDING}${token}`, String(ttlMs));
    },
    async release(deliveryId, token) {
      await call(COMMANDS.release, deliveryId, `${PENDING}${token}`);
    },
    async wasSeen(deliveryId) {
      return (await redis.get(keyOf(deliveryId))) === DONE;
    },
  };
}

// Seeded fuzzing of the webhook intake: validly signed garbage, mutated payloads,
// wrong types, missing fields, huge strings, unicode and nested junk. Every answer
// must be 2xx or 4xx, the server must stay up, and only accepted deliveries may
// leave state behind (in the store or the queue).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStateDatabase, newDeliveryId, pullRequestPayload, send, startIntake, type IntakeHarness } from './intake-support.js';
import { prng } from './support/wait.js';

const SEED = Number(process.env.FUZZ_SEED ?? 20260301);
const CASES = 400;


const random = prng(SEED);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
const int = (max: number) => Math.floor(random() * max);

const UNICODE = ['é', '漢', '🙂', '\u0000', '\u202e', '\ud800', '\uffff', '"', '\\', '{{', '}}', '<script>', "'; DROP TABLE x;--", '../'];

function junkString(): string {
  const kind = int(5);
  if (kind === 0) return '';
  if (kind === 1) return 'A'.repeat(int(3) === 0 ? 200_000 : 5_000);
  if (kind === 2) return Array.from({ length: 1 + int(20) }, () => pick(UNICODE)).join('');
  if (kind === 3) return String.fromCharCode(...Array.from({ length: 1 + int(64) }, () => int(0x2fff)));
  return pick(['opened', 'synchronize', 'closed', 'acme/shop', 'main', 'preview', 'a'.repeat(40), '2026-03-01T10:00:00Z']);
}

function nested(depth: number): unknown {
  if (depth === 0) return junkValue(0);
  return int(2) ? [nested(depth - 1)] : { [junkString().slice(0, 10) || 'k']: nested(depth - 1) };
}

function junkValue(depth = 3): unknown {
  switch (int(9)) {
    case 0:
      return null;
    case 1:
      return random() < 0.5;
    case 2:
      return pick([0, -1, 1.5, 42, 2 ** 53, -(2 ** 63), 1e308, Number.MAX_SAFE_INTEGER]);
    case 3:
    case 4:
      return junkString();
    case 5:
      return depth > 0 ? Array.from({ length: int(4) }, () => junkValue(depth - 1)) : [];
    case 6:
      return depth > 0 ? { __proto__: junkValue(0), constructor: { prototype: { polluted: true } }, x: junkValue(depth - 1) } : {};
    case 7:
      return nested(int(3) === 0 ? 500 : 5);
    default:
      return {};
  }
}

/** Every path to a value in a JSON tree. */
function paths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (value === null || typeof value !== 'object') return [prefix];
  const entries = Array.isArray(value) ? value.map((v, i) => [i, v] as const) : Object.entries(value);
  return [prefix, ...entries.flatMap(([k, v]) => paths(v, [...prefix, k]))];
}

function mutate(payload: Record<string, unknown>): Record<string, unknown> {
  const copy = structuredClone(payload);
  const all = paths(copy).filter((p) => p.length > 0);
  const times = 1 + int(3);
  for (let i = 0; i < times; i++) {
    const path = pick(all);
    let parent: Record<string | number, unknown> = copy;
    for (const part of path.slice(0, -1)) {
      const next = parent[part];
      if (next === null || typeof next !== 'object') break;
      parent = next as Record<string | number, unknown>;
    }
    const last = path.at(-1)!;
    if (random() < 0.35) delete parent[last];
    else parent[last] = junkValue();
  }
  return copy;
}

function garbageBody(): string {
  switch (int(6)) {
    case 0:
      return junkString();
    case 1:
      return JSON.stringify(pullRequestPayload()).slice(0, int(400));
    case 2:
      return JSON.stringify(junkValue());
    case 3:
      return `${'['.repeat(5_000)}${']'.repeat(5_000)}`;
    case 4:
      return '{"action":"opened","action":"closed","number":1e999}';
    default:
      return Buffer.from(Array.from({ length: 1 + int(200) }, () => int(256))).toString('latin1');
  }
}

interface FuzzCase {
  body: string | Buffer;
  event: string | null;
  delivery: string | null;
}

function makeCase(): FuzzCase {
  const base = pullRequestPayload({
    action: pick(['opened', 'synchronize', 'closed', 'labeled', 'edited', 'reopened']),
    number: 1 + int(30),
    labels: int(2) ? ['preview'] : [],
    headRepo: pick([undefined, 'mallory/shop', null]),
  });
  const kind = int(10);
  const body =
    kind < 6
      ? JSON.stringify(mutate(base))
      : kind < 8
        ? garbageBody()
        : kind < 9
          ? Buffer.from(Array.from({ length: 1 + int(300) }, () => int(256)))
          : JSON.stringify(base);
  const event = int(10) === 0 ? pick([null, 'ping', 'push', junkString().slice(0, 200)]) : 'pull_request';
  const delivery = int(15) === 0 ? pick([null, '', 'x'.repeat(300), '../../etc', '{}']) : newDeliveryId();
  return { body, event, delivery };
}

let h: IntakeHarness;
let db: Awaited<ReturnType<typeof createStateDatabase>>;
beforeAll(async () => {
  db = await createStateDatabase();
  h = await startIntake({ databaseUrl: db.url });
});
afterAll(async () => {
  await h?.close();
  await db?.drop();
});

describe(`intake fuzz (seed ${SEED})`, () => {
  it(`when ${CASES} hostile but validly signed requests arrive then every answer is 2xx/4xx and only accepted ones leave state`, async () => {
    const outcomes = new Map<string, number>();
    const acceptedKeys = new Set<string>();
    let acceptedCount = 0;
    for (let i = 0; i < CASES; i++) {
      const c = makeCase();
      const headerSafe = c.event === null || /^[\x20-\x7e]*$/.test(c.event);
      const res = await send(h.url, c.body, { event: headerSafe ? c.event : 'pull_request', delivery: c.delivery });
      if (res.status >= 500 || res.status < 200) {
        throw new Error(`case ${i} (seed ${SEED}) answered ${res.status}: ${JSON.stringify(res.json).slice(0, 200)}`);
      }
      const label = `${res.status} ${String(res.json.status)}`;
      outcomes.set(label, (outcomes.get(label) ?? 0) + 1);
      if (res.json.status === 'accepted') {
        acceptedCount++;
        const parsed = JSON.parse(c.body.toString()) as { number: number };
        acceptedKeys.add(`acme/shop#${parsed.number}`);
      }
      expect(String(res.json.reason ?? '').length).toBeLessThan(400);
    }
    if (process.env.FUZZ_VERBOSE) console.log(Object.fromEntries(outcomes));
    // The mix really exercised both sides.
    expect(outcomes.get('400 rejected') ?? 0).toBeGreaterThan(50);
    expect(acceptedCount).toBeGreaterThan(20);
    // State only from accepted deliveries, once each.
    expect(h.store.calls).toHaveLength(acceptedCount);
    expect(new Set(h.store.calls.map((c) => `${c.key.repo}#${c.key.pr}`))).toEqual(acceptedKeys);
    const rows = await h.store.inner.list();
    expect(new Set(rows.map((r) => `${r.key.repo}#${r.key.pr}`))).toEqual(acceptedKeys);
    expect((await h.queue.counts()).waiting).toBe(acceptedKeys.size);
    // Still up.
    expect((await fetch(`${h.url}/healthz`)).status).toBe(200);
  });
});

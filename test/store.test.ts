// The state store against real Postgres, in a database of its own.
import { readdirSync } from 'node:fs';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StaleFenceError, UserError } from '../src/errors.js';
import { fencedStore } from '../src/environments/fenced-store.js';
import { createEnvironmentStore } from '../src/environments/store.js';
import type { EnvironmentKey } from '../src/environments/naming.js';
import type { EnvironmentStore } from '../src/environments/types.js';
import { createTestDatabase, withAdminClient } from './support/pg.js';

const log = pino({ level: 'silent' });
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let store: EnvironmentStore;
let nextPr = 1;
const newKey = (): EnvironmentKey => ({ repo: 'acme/shop', pr: nextPr++ });
const at = (seconds: number) => new Date(Date.UTC(2026, 0, 1, 12, 0, seconds));
const sha = (n: number) => n.toString(16).padStart(40, '0');

beforeAll(async () => {
  db = await createTestDatabase('previewd_store');
  store = createEnvironmentStore({ databaseUrl: db.url, schema: 'state', log });
  await store.migrate();
});

afterAll(async () => {
  await store?.close();
  await db?.drop();
});

describe('migrate', () => {
  it('when several replicas migrate at once and again later then all succeed and each migration ran once', async () => {
    const replicas = Array.from({ length: 4 }, () => createEnvironmentStore({ databaseUrl: db.url, schema: 'state', log }));
    try {
      await Promise.all(replicas.map((r) => r.migrate()));
      await replicas[0]!.migrate();
    } finally {
      await Promise.all(replicas.map((r) => r.close()));
    }
    const { rows } = await withAdminClient((c) => c.query<{ name: string }>('SELECT name FROM state.previewd_migrations'), db.name);
    // Every file of migrations/, once each, in order (read from the directory: migrations land from several branches).
    const files = readdirSync(new URL('../migrations/', import.meta.url)).filter((f) => f.endsWith('.sql')).map((f) => f.replace(/\.sql$/, '')).sort();
    expect(files.slice(0, 5)).toEqual(['1735689600000_environments', '1764633600000_pr_title_branch', '1796180000000_desired-order', '1796180100000_host-claims', '1796180200000_fence']);
    expect(rows.map((r) => r.name)).toEqual(files);
  });

  it('when a fresh schema is migrated by replicas racing then the tables are created exactly once', async () => {
    const replicas = Array.from({ length: 3 }, () => createEnvironmentStore({ databaseUrl: db.url, schema: 'race_schema', log }));
    try {
      await Promise.all(replicas.map((r) => r.migrate()));
      await replicas[0]!.recordDesired({ repo: 'acme/race', pr: 1 }, { present: true, sha: sha(1), reason: 'opened', prUpdatedAt: at(0) });
      expect((await replicas[1]!.get({ repo: 'acme/race', pr: 1 }))?.desiredSha).toBe(sha(1));
    } finally {
      await Promise.all(replicas.map((r) => r.close()));
    }
  });

  it('when the schema name is not a plain identifier then the store refuses it', () => {
    expect(() => createEnvironmentStore({ databaseUrl: db.url, schema: 'x"; DROP TABLE y; --', log })).toThrow(UserError);
  });
});

describe('recordDesired', () => {
  it('when a PR is opened then a pending row with generation 1 and a desired event exist', async () => {
    const key = newKey();
    const result = await store.recordDesired(key, { present: true, sha: sha(1), reason: 'opened', prUpdatedAt: at(0), labels: ['preview'] });
    expect(result).toEqual({ accepted: true, generation: 1 });
    const record = await store.get(key);
    expect(record).toMatchObject({
      key,
      envId: `acme-shop-pr-${key.pr}`,
      desiredPresent: true,
      desiredSha: sha(1),
      desiredGeneration: 1,
      observedGeneration: 0,
      status: 'pending',
      labels: ['preview'],
      components: {},
      resources: {},
    });
    expect(record?.prUpdatedAt.getTime()).toBe(at(0).getTime());
    const events = await store.listEvents(key);
    expect(events.map((e) => [e.type, e.message, e.data.sha])).toEqual([['desired', 'opened', sha(1)]]);
  });

  it('when a PR carries a title and branch then they are kept for display (NUL replaced), and a later webhook without them keeps them', async () => {
    const key = newKey();
    const title = `<script>alert(1)</script> fix\0 it`;
    await store.recordDesired(key, { present: true, sha: sha(1), reason: 'opened', prUpdatedAt: at(0), title, branch: 'feat/<b>x</b>' });
    expect(await store.get(key)).toMatchObject({ title: '<script>alert(1)</script> fix\uFFFD it', branch: 'feat/<b>x</b>' });
    await store.recordDesired(key, { present: true, sha: sha(2), reason: 'synchronize', prUpdatedAt: at(1) });
    expect(await store.get(key)).toMatchObject({ desiredSha: sha(2), title: '<script>alert(1)</script> fix\uFFFD it', branch: 'feat/<b>x</b>' });
    await store.recordDesired(key, { present: true, sha: sha(3), reason: 'synchronize', prUpdatedAt: at(2), title: 'renamed', branch: 'feat/y' });
    expect(await store.get(key)).toMatchObject({ title: 'renamed', branch: 'feat/y' });
    // An older webhook changes nothing, its title included.
    await store.recordDesired(key, { present: true, sha: sha(9), reason: 'synchronize', prUpdatedAt: at(1), title: 'stale', branch: 'old' });
    expect(await store.get(key)).toMatchObject({ title: 'renamed', branch: 'feat/y' });
  });

  it('when an older webhook arrives after a newer one then the newer SHA stays', async () => {
    const key = newKey();
    await store.recordDesired(key, { present: true, sha: sha(2), reason: 'synchronize', prUpdatedAt: at(10) });
    const late = await store.recordDesired(key, { present: true, sha: sha(1), reason: 'opened', prUpdatedAt: at(5) });
    expect(late).toEqual({ accepted: false, generation: 1 });
    const record = await store.get(key);
    expect(record?.desiredSha).toBe(sha(2));
    expect(record?.desiredGeneration).toBe(1);
    expect((await store.listEvents(key)).map((e) => e.type)).toEqual(['desired-ignored', 'desired']);
  });

  it('when two pushes share a timestamp then only the one continuing the chain is accepted', async () => {
    const key = newKey();
    await store.recordDesired(key, { present: true, sha: sha(1), reason: 'opened', prUpdatedAt: at(20) });
    const chained = await store.recordDesired(key, { present: true, sha: sha(2), beforeSha: sha(1), reason: 'synchronize', prUpdatedAt: at(20) });
    expect(chained).toEqual({ accepted: true, generation: 2 });
    // A redelivery of the first push (same timestamp, no chain to what we hold) is stale.
    const redelivered = await store.recordDesired(key, { present: true, sha: sha(1), reason: 'opened', prUpdatedAt: at(20) });
    expect(redelivered.accepted).toBe(false);
    // A push whose `before` is not what we hold does not win a tie either.
    const stray = await store.recordDesired(key, { present: true, sha: sha(9), beforeSha: sha(7), reason: 'synchronize', prUpdatedAt: at(20) });
    expect(stray.accepted).toBe(false);
    expect((await store.get(key))?.desiredSha).toBe(sha(2));
  });

  it('when a close shares its second with the push before it then the close still applies', async () => {
    const key = newKey();
    await store.recordDesired(key, { present: true, sha: sha(1), reason: 'opened', prUpdatedAt: at(30), change: 'head' });
    await store.recordDesired(key, { present: true, sha: sha(2), beforeSha: sha(1), reason: 'synchronize', prUpdatedAt: at(31), change: 'head' });
    const closed = await store.recordDesired(key, { present: false, sha: sha(2), reason: 'pull_request.closed: closed: merged', prUpdatedAt: at(31), change: 'close' });
    expect(closed.accepted).toBe(true);
    expect(await store.get(key)).toMatchObject({ desiredPresent: false, desiredGeneration: 3 });
    // A reopen in that same second cannot be told apart from an earlier one: the close holds.
    const reopened = await store.recordDesired(key, { present: true, sha: sha(2), reason: 'pull_request.reopened', prUpdatedAt: at(31), change: 'head' });
    expect(reopened.accepted).toBe(false);
    // One second later it is GitHub's newer fact and wins.
    expect((await store.recordDesired(key, { present: true, sha: sha(2), reason: 'pull_request.reopened', prUpdatedAt: at(32), change: 'head' })).accepted).toBe(true);
  });

  it('when an unlabel shares its second with the push before it then the labels apply, and the push arriving late does not undo them', async () => {
    const key = newKey();
    await store.recordDesired(key, { present: true, sha: sha(1), reason: 'opened', prUpdatedAt: at(40), labels: [], change: 'head' });
    const push = { present: false, sha: sha(2), beforeSha: sha(1), reason: 'pull_request.synchronize: opted out', prUpdatedAt: at(41), labels: ['no-preview'], change: 'head' as const };
    const unlabel = { present: true, sha: sha(2), reason: 'pull_request.unlabeled', prUpdatedAt: at(41), labels: [], change: 'facts' as const };
    expect((await store.recordDesired(key, push)).accepted).toBe(true);
    expect((await store.recordDesired(key, unlabel)).accepted).toBe(true);
    expect(await store.get(key)).toMatchObject({ desiredPresent: true, desiredSha: sha(2), labels: [] });

    // Delivered the other way round: the unlabel wins first; the push, no longer continuing
    // the chain from the head we hold, is not newer and is ignored.
    const other = newKey();
    await store.recordDesired(other, { present: true, sha: sha(1), reason: 'opened', prUpdatedAt: at(40), labels: [], change: 'head' });
    expect((await store.recordDesired(other, unlabel)).accepted).toBe(true);
    expect((await store.recordDesired(other, push)).accepted).toBe(false);
    expect(await store.get(other)).toMatchObject({ desiredPresent: true, desiredSha: sha(2), labels: [] });
    // A label event about another head in that second proves nothing and changes nothing.
    expect((await store.recordDesired(other, { ...unlabel, sha: sha(1), present: false })).accepted).toBe(false);
  });

  it('when 50 webhooks for one PR arrive at once then the newest wins and the generation counts the accepted ones', async () => {
    const key = newKey();
    const order = Array.from({ length: 50 }, (_, i) => i + 1).sort(() => Math.random() - 0.5);
    const results = await Promise.all(
      order.map((i) => store.recordDesired(key, { present: true, sha: sha(i), reason: `push ${i}`, prUpdatedAt: at(i) })),
    );
    const accepted = results.filter((r) => r.accepted);
    const record = await store.get(key);
    expect(record?.desiredSha).toBe(sha(50));
    expect(record?.prUpdatedAt.getTime()).toBe(at(50).getTime());
    expect(record?.desiredGeneration).toBe(accepted.length);
    // Every accepted call got a distinct generation: no two updates interleaved.
    expect(new Set(accepted.map((r) => r.generation)).size).toBe(accepted.length);
    const desiredEvents = (await store.listEvents(key, 1000)).filter((e) => e.type === 'desired');
    expect(desiredEvents).toHaveLength(accepted.length);
  });

  it('when a torn-down or failed environment is wanted again then it goes back to pending', async () => {
    const key = newKey();
    await store.recordDesired(key, { present: true, sha: sha(1), reason: 'opened', prUpdatedAt: at(0) });
    await store.updateObserved(key, { status: 'failed', lastError: 'bad template' });
    await store.recordDesired(key, { present: true, sha: sha(2), reason: 'synchronize', prUpdatedAt: at(1) });
    expect((await store.get(key))?.status).toBe('pending');

    await store.recordDesired(key, { present: false, sha: null, reason: 'closed', prUpdatedAt: at(2) });
    await store.updateObserved(key, { status: 'removed' });
    const closed = await store.get(key);
    expect(closed).toMatchObject({ desiredPresent: false, desiredSha: null, status: 'removed' });

    await store.recordDesired(key, { present: true, sha: sha(3), reason: 'reopened', prUpdatedAt: at(3) });
    expect(await store.get(key)).toMatchObject({ desiredPresent: true, desiredSha: sha(3), status: 'pending', desiredGeneration: 4 });
  });

  it('when previewd tears an environment down then no timestamp is made up, and a real reopen after it applies', async () => {
    const key = newKey();
    await store.recordDesired(key, { present: true, sha: sha(1), reason: 'opened', prUpdatedAt: at(50), change: 'head' });
    const before = await store.get(key);
    const torn = await store.recordTeardown(key, { reason: 'admin: teardown', expectedGeneration: before!.desiredGeneration });
    expect(torn).toEqual({ accepted: true, generation: 2 });
    const after = await store.get(key);
    expect(after).toMatchObject({ desiredPresent: false, desiredReason: 'admin: teardown', desiredSha: sha(1) });
    expect(after!.prUpdatedAt.getTime()).toBe(at(50).getTime());
    // A label event in the second previewd last saw from GitHub is not newer than the teardown.
    expect((await store.recordDesired(key, { present: true, sha: sha(1), reason: 'pull_request.labeled', prUpdatedAt: at(50), change: 'facts' })).accepted).toBe(false);
    // GitHub's next fact, however far this host's clock is off, wins.
    const reopen = await store.recordDesired(key, { present: true, sha: sha(1), reason: 'pull_request.reopened', prUpdatedAt: at(51), change: 'head' });
    expect(reopen).toEqual({ accepted: true, generation: 3 });
    expect(await store.get(key)).toMatchObject({ desiredPresent: true, desiredReason: 'pull_request.reopened' });
    expect((await store.listEvents(key)).map((e) => [e.type, e.data.by ?? null])).toEqual([
      ['desired', 'github'],
      ['desired', 'previewd'],
      ['desired-ignored', null],
      ['desired', 'github'],
    ].reverse());
  });

  it('when a teardown was decided on a generation that is no longer current then it is refused', async () => {
    const key = newKey();
    await store.recordDesired(key, { present: true, sha: sha(1), reason: 'opened', prUpdatedAt: at(60) });
    await store.recordDesired(key, { present: true, sha: sha(2), beforeSha: sha(1), reason: 'synchronize', prUpdatedAt: at(61) });
    expect(await store.recordTeardown(key, { reason: 'gc: idle', expectedGeneration: 1 })).toEqual({ accepted: false, generation: 2 });
    expect((await store.get(key))?.desiredPresent).toBe(true);
    expect(await store.recordTeardown(newKey(), { reason: 'gc: idle', expectedGeneration: 1 })).toEqual({ accepted: false, generation: 0 });
  });

  it('when present is asked without a SHA or with an invalid key then it is refused', async () => {
    await expect(store.recordDesired(newKey(), { present: true, sha: null, reason: 'x', prUpdatedAt: at(0) })).rejects.toBeInstanceOf(UserError);
    await expect(
      store.recordDesired({ repo: "acme/shop'; DROP TABLE state.environments; --", pr: 1 }, { present: true, sha: sha(1), reason: 'x', prUpdatedAt: at(0) }),
    ).rejects.toBeInstanceOf(UserError);
    expect(await store.list()).not.toHaveLength(0); // the table is still there
  });

  it('when two repositories map to one environment ID then the second is refused instead of sharing it', async () => {
    await store.recordDesired({ repo: 'acme/shop-web', pr: 7 }, { present: true, sha: sha(1), reason: 'opened', prUpdatedAt: at(0) });
    await expect(
      store.recordDesired({ repo: 'acme-shop/web', pr: 7 }, { present: true, sha: sha(1), reason: 'opened', prUpdatedAt: at(0) }),
    ).rejects.toBeInstanceOf(UserError);
  });
});

describe('observed state and history', () => {
  it('when a reconcile is requested then the generation rises and desired stays; unknown keys give null', async () => {
    const key = newKey();
    await store.recordDesired(key, { present: true, sha: sha(1), reason: 'opened', prUpdatedAt: at(0) });
    expect(await store.requestReconcile(key, 'admin: redeploy')).toBe(2);
    expect(await store.get(key)).toMatchObject({ desiredGeneration: 2, desiredSha: sha(1), desiredReason: 'opened' });
    expect(await store.requestReconcile({ repo: 'acme/none', pr: 1 }, 'x')).toBeNull();
    expect((await store.listEvents(key, 1))[0]).toMatchObject({ type: 'reconcile-requested', message: 'admin: redeploy' });
  });

  it('when observed state is updated then the fields round-trip and the observed generation never goes back', async () => {
    const key = newKey();
    await store.recordDesired(key, { present: true, sha: sha(1), reason: 'opened', prUpdatedAt: at(0) });
    const readyAt = new Date('2026-01-01T12:05:00.123Z');
    await store.updateObserved(key, {
      status: 'ready',
      observedSha: sha(1),
      components: { api: 'healthy', frontend: 'running' },
      resources: { database: 'preview_acme_shop_pr_1', jobs: ['a', 'b'] },
      githubDeploymentId: 3_000_000_123,
      githubCommentId: 42,
      readyAt,
      observedGeneration: 5,
    });
    await store.updateObserved(key, { observedGeneration: 3, lastError: null });
    expect(await store.get(key)).toMatchObject({
      status: 'ready',
      observedSha: sha(1),
      components: { api: 'healthy', frontend: 'running' },
      resources: { database: 'preview_acme_shop_pr_1', jobs: ['a', 'b'] },
      githubDeploymentId: 3_000_000_123,
      githubCommentId: 42,
      readyAt,
      observedGeneration: 5,
      lastError: null,
    });
  });

  it('when filtering the list then only matching environments come back', async () => {
    const a = { repo: 'filter/one', pr: 1 };
    const b = { repo: 'filter/one', pr: 2 };
    const c = { repo: 'filter/two', pr: 1 };
    for (const key of [a, b, c]) await store.recordDesired(key, { present: true, sha: sha(1), reason: 'opened', prUpdatedAt: at(0) });
    await store.recordDesired(b, { present: false, sha: null, reason: 'closed', prUpdatedAt: at(1) });
    await store.updateObserved(a, { status: 'ready' });
    expect((await store.list({ repo: 'filter/one' })).map((r) => r.key)).toEqual([a, b]);
    expect((await store.list({ repo: 'filter/one', desiredPresent: true })).map((r) => r.key)).toEqual([a]);
    expect((await store.list({ repo: 'filter/one', status: 'ready' })).map((r) => r.key)).toEqual([a]);
  });

  it('when events are appended then they list newest first, bounded by the limit, hostile text kept verbatim', async () => {
    const key = newKey();
    await store.recordDesired(key, { present: true, sha: sha(1), reason: 'opened', prUpdatedAt: at(0) });
    const hostile = `'); DROP TABLE state.environment_events; -- <script>`;
    await store.appendEvent(key, { type: 'step', message: 'first' });
    await store.appendEvent(key, { type: 'step-failed', message: hostile, data: { step: 'register-job', attempt: 2 } });
    // NUL cannot be stored by Postgres: replaced, not a failed write.
    await store.appendEvent(key, { type: 'step-failed', message: 'nomad said \0oops', data: { body: 'a\0b' } });
    await store.updateObserved(key, { lastError: 'x\0y' });
    await store.appendEvent(key, { type: 'ready', message: 'third' });
    const events = await store.listEvents(key, 3);
    expect(events.map((e) => e.message)).toEqual(['third', 'nomad said \uFFFDoops', hostile]);
    expect(events[1]?.data).toEqual({ body: 'a\uFFFDb' });
    expect(events[2]?.data).toEqual({ step: 'register-job', attempt: 2 });
    expect(events[0]!.id).toBeGreaterThan(events[1]!.id);
    expect(await store.listEvents(key, 0)).toHaveLength(1);
    expect((await store.get(key))?.lastError).toBe('x\uFFFDy');
  });
});

describe('countByStatus', () => {
  it('when environments are in several states then the counts match a full listing', async () => {
    const a = newKey();
    const b = newKey();
    await store.recordDesired(a, { present: true, sha: sha(1), reason: 'opened', prUpdatedAt: at(1) });
    await store.recordDesired(b, { present: true, sha: sha(2), reason: 'opened', prUpdatedAt: at(1) });
    await store.updateObserved(b, { status: 'ready' });
    const expected: Record<string, number> = {};
    for (const r of await store.list()) expected[r.status] = (expected[r.status] ?? 0) + 1;
    const counts = await store.countByStatus();
    expect(counts).toEqual(expected);
    expect(counts.ready).toBeGreaterThanOrEqual(1);
  });
});

describe('pruneEvents (event retention)', () => {
  it('when events are older than the cutoff then they are deleted, newer ones and other environments kept', async () => {
    const old = newKey();
    const fresh = newKey();
    for (let i = 0; i < 5; i++) await store.appendEvent(old, { type: 'step', message: `old ${i}` });
    await store.appendEvent(fresh, { type: 'step', message: 'fresh' });
    // Age the first environment's events by 40 days, as time would.
    await withAdminClient((c) => c.query(`UPDATE state.environment_events SET at = at - interval '40 days' WHERE repo = $1 AND pr = $2`, [old.repo, old.pr]), db.name);
    await store.appendEvent(old, { type: 'ready', message: 'recent' });

    const pruned = await store.pruneEvents(new Date(Date.now() - 30 * 86_400_000));
    expect(pruned).toBeGreaterThanOrEqual(5);
    expect((await store.listEvents(old, 100)).map((e) => e.message)).toEqual(['recent']);
    expect((await store.listEvents(fresh, 100)).map((e) => e.message)).toEqual(['fresh']);
    expect(await store.pruneEvents(new Date(Date.now() - 30 * 86_400_000))).toBe(0);
  });
});

describe("fenced writes (the PR lock's token)", () => {
  it("when a newer token has written then an older token's writes are refused, recorded once per view as a lost lock, and the newer state stays", async () => {
    const key = newKey();
    await store.recordDesired(key, { present: true, sha: sha(1), reason: 'opened', prUpdatedAt: at(0) });
    expect(await store.fenceOf(key)).toBe(0);
    const older = fencedStore(store, 4);
    const newer = fencedStore(store, 5);
    await older.updateObserved(key, { status: 'provisioning' });
    expect(await store.fenceOf(key)).toBe(4);
    await newer.updateObserved(key, { status: 'ready', observedSha: sha(1) });
    await newer.appendEvent(key, { type: 'ready', message: 'ready' });
    expect(await store.fenceOf(key)).toBe(5);

    await expect(older.updateObserved(key, { status: 'degraded', lastError: 'stale' })).rejects.toThrow(StaleFenceError);
    // Every write of the refused view stops, without asking the database again.
    await expect(older.appendEvent(key, { type: 'step-failed', message: 'stale' })).rejects.toThrow(StaleFenceError);
    await expect(older.releaseHosts(key)).rejects.toThrow(StaleFenceError);
    expect(older.refusal).toMatchObject({ token: 4, fence: 5 });
    expect(newer.refusal).toBeNull();
    // A fresh view with the stale token is refused by the database too, on every kind of write.
    await expect(fencedStore(store, 4).appendEvent(key, { type: 'step', message: 'stale' })).rejects.toThrow(StaleFenceError);
    await expect(fencedStore(store, 3).claimHosts(key, ['stale.preview.example.com'])).rejects.toThrow(StaleFenceError);
    await expect(fencedStore(store, 2).releaseHosts(key)).rejects.toThrow(StaleFenceError);

    const record = await store.get(key);
    expect(record).toMatchObject({ status: 'ready', observedSha: sha(1), lastError: null });
    const events = await store.listEvents(key, 100);
    expect(events.filter((e) => e.type === 'step-failed' || e.type === 'step')).toEqual([]);
    const lost = events.filter((e) => e.type === 'lock-lost');
    expect(lost.map((e) => e.data)).toEqual([
      { token: 2, fence: 5, write: 'release hosts' },
      { token: 3, fence: 5, write: 'claim hosts' },
      { token: 4, fence: 5, write: 'append an event' },
      { token: 4, fence: 5, write: 'update observed state' },
    ]);
    expect(await store.fenceOf(key)).toBe(5);
  });

  it('when the same or a newer token writes then it lands and moves the fence; unfenced writes neither check nor move it', async () => {
    const key = newKey();
    await store.recordDesired(key, { present: true, sha: sha(2), reason: 'opened', prUpdatedAt: at(0) });
    const view = fencedStore(store, 7);
    expect(await view.claimHosts(key, ['a.preview.example.com'])).toEqual([]);
    expect(await store.fenceOf(key)).toBe(7);
    await view.updateObserved(key, { status: 'ready' });
    await view.appendEvent(key, { type: 'ready', message: 'ready' });
    await fencedStore(store, 9).updateObserved(key, { status: 'provisioning' });
    expect(await store.fenceOf(key)).toBe(9);
    // The admin view, GC, the resume sweep and CLI runs write without a token.
    await store.updateObserved(key, { lastError: 'unfenced' });
    await store.appendEvent(key, { type: 'gc', message: 'unfenced' });
    await store.releaseHosts(key);
    await store.requestReconcile(key, 'admin: redeploy');
    expect(await store.fenceOf(key)).toBe(9);
    expect(await fencedStore(store, 9).releaseHosts(key)).toBeUndefined();
    expect((await store.get(key))?.lastError).toBe('unfenced');
  });

  it('when there is no row then fenced writes behave as unfenced ones, and a token that is not a positive integer is refused', async () => {
    const key = newKey();
    await fencedStore(store, 1).updateObserved(key, { status: 'ready' });
    await fencedStore(store, 1).appendEvent(key, { type: 'note', message: 'no row yet' });
    expect(await store.get(key)).toBeNull();
    expect((await store.listEvents(key)).map((e) => e.type)).toEqual(['note']);
    expect(await store.fenceOf(key)).toBe(0);
    expect(() => fencedStore(store, 0)).toThrow(UserError);
    expect(() => fencedStore(store, 1.5)).toThrow(UserError);
  });

  it('when two holders write at once then the older one never lands after the newer', async () => {
    const key = newKey();
    await store.recordDesired(key, { present: true, sha: sha(3), reason: 'opened', prUpdatedAt: at(0) });
    // Interleaved writes of tokens 1..20, in a shuffled order: each lands only if no
    // higher token landed before it, so the last write standing is token 20's.
    const tokens = Array.from({ length: 20 }, (_, i) => i + 1).sort((a, b) => ((a * 8) % 21) - ((b * 8) % 21)); // 20 comes 13th
    const results = await Promise.allSettled(tokens.map((t) => fencedStore(store, t).updateObserved(key, { lastError: `token ${t}` })));
    expect(results.filter((r) => r.status === 'rejected').every((r) => (r as PromiseRejectedResult).reason instanceof StaleFenceError)).toBe(true);
    expect(await store.fenceOf(key)).toBe(20);
    expect((await store.get(key))?.lastError).toBe('token 20');
  });
});

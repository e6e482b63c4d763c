// A bug (an error none of previewd's classes describes) inside a reconcile: the
// environment fails instead of claiming a retry, the PR is told only that previewd hit
// an internal error, and what the queue will log and park carries no secret.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Deps } from '../src/deps.js';
import { ConflictError, TransientError, UserError } from '../src/errors.js';
import { reconcileEnvironment } from '../src/environments/reconcile.js';
import { classifyFailure } from '../src/queue/retry-policy.js';
import { randomSha, type World } from '../src/sandbox/world.js';
import { startWorld } from './support/pg.js';

let world: World;
beforeAll(async () => {
  world = await startWorld();
}, 60_000);
afterAll(async () => {
  await world?.cleanup();
}, 30_000);

describe('a bug inside a reconcile', () => {
  it('when rendering throws a TypeError quoting a token then the environment fails, the PR reads a generic reason and the error the queue sees is a scrubbed bug', async () => {
    const token = world.config.env.GITHUB_WEBHOOK_SECRET;
    function renderComponents(): never {
      throw new TypeError(`Cannot read properties of undefined (reading 'host') while signing with ${token}`);
    }
    const deps: Deps = { ...world.deps, renderer: { ...world.deps.renderer, render: async () => renderComponents() } };
    const pr = 71;
    const sha = randomSha();
    await world.open(pr, sha);
    const err = await reconcileEnvironment(deps, world.key(pr)).catch((e: unknown) => e);

    expect(classifyFailure(err)).toBe('bug');
    expect(err).not.toBeInstanceOf(UserError);
    expect(err).not.toBeInstanceOf(TransientError);
    expect(err).not.toBeInstanceOf(ConflictError);
    expect((err as Error).name).toBe('TypeError');
    expect((err as Error).message).toContain("reading 'host'");
    expect((err as Error).message).not.toContain(token);
    expect((err as Error).stack).toContain('renderComponents');
    expect((err as Error).stack).not.toContain(token);
    expect((err as Error).cause).toBeUndefined();

    const record = await world.deps.store.get(world.key(pr));
    expect(record?.status).toBe('failed');
    expect(record?.lastError).not.toContain(token);
    const status = world.github.commitStatuses(world.repos[0]!, sha).at(-1);
    expect(status?.state).toBe('failure');
    expect(status?.description).toMatch(/: internal error in previewd$/);
    // Neither the message nor the stack of a bug is the PR's to read.
    const publicText = JSON.stringify([status, world.github.comments(world.repos[0]!, pr)]);
    expect(publicText).not.toContain("reading 'host'");
    expect(publicText).not.toContain('renderComponents');
  }, 60_000);
});

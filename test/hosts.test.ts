// Two repos must never get the same hosts (issue 10, item 6), at run time: whatever
// the configuration says (another replica's config, hand-written patterns), the
// reconciler refuses to route a host another environment holds, tells the PR it
// failed and deploys nothing; the host is free again once its holder is removed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Deps } from '../src/deps.js';
import { UserError } from '../src/errors.js';
import { environmentNames } from '../src/environments/naming.js';
import { reconcileEnvironment } from '../src/environments/reconcile.js';
import { randomSha, type World } from '../src/sandbox/world.js';
import { startWorld } from './support/pg.js';

let world: World;
let deps: Deps;
const PR = 42;

beforeAll(async () => {
  world = await startWorld({ repos: [{}, {}] });
  // Patterns config check refuses for two repos on one domain: the reconciler is the last line.
  const config = { ...world.config, hostPatterns: { frontend: 'pr-{pr}.{domain}', api: 'api-pr-{pr}.{domain}' } };
  deps = { ...world.deps, config };
}, 30_000);

afterAll(async () => {
  await world?.cleanup();
}, 30_000);

describe('host claims', () => {
  it('when PR 42 of a second repo wants the hosts PR 42 of the first holds then it fails on the PR, deploys nothing, and gets them once the first is gone', async () => {
    const [first, second] = world.repos as [string, string];
    const names = (repo: string) => environmentNames(deps.config, { repo, pr: PR });
    expect(names(first).host('frontend')).toBe(names(second).host('frontend'));

    await world.open(PR, randomSha(), { repo: first });
    expect((await reconcileEnvironment(deps, world.key(PR, first))).status).toBe('ready');

    const sha = randomSha();
    await world.open(PR, sha, { repo: second });
    const refused = await reconcileEnvironment(deps, world.key(PR, second)).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(UserError);
    expect(String((refused as Error).message)).toMatch(/^hosts api-pr-42\.preview\.test, pr-42\.preview\.test are already routed to another preview environment/);

    const record = await deps.store.get(world.key(PR, second));
    expect(record).toMatchObject({ status: 'failed' });
    expect(record?.lastError).toMatch(/already routed to another preview environment/);
    // The PR is told, without the other repository's name.
    const statuses = world.github.commitStatuses(second, sha);
    expect(statuses.at(-1)).toMatchObject({ state: 'failure' });
    const toldThePr = JSON.stringify([statuses, world.github.comments(second, PR)]);
    expect(toldThePr).not.toContain(`${first}#`);
    expect(toldThePr).not.toContain(names(first).id);
    // Nothing of the second environment was created; the first still routes its hosts.
    expect(world.cluster.listJobs().map((j) => String(j.ID)).filter((id) => id.startsWith(names(second).id))).toEqual([]);
    expect(await deps.databases.getDatabase(names(second).database)).toBeNull();
    expect((await deps.store.get(world.key(PR, first)))?.status).toBe('ready');

    // The holder goes; a redeploy of the second now gets the hosts.
    await world.close(PR, { repo: first });
    expect((await reconcileEnvironment(deps, world.key(PR, first))).status).toBe('removed');
    await deps.store.requestReconcile(world.key(PR, second), 'admin: redeploy');
    expect((await reconcileEnvironment(deps, world.key(PR, second))).status).toBe('ready');
  }, 60_000);

  it('when two environments claim one host at the same moment then exactly one gets it', async () => {
    const [first, second] = world.repos as [string, string];
    const keys = [world.key(7, first), world.key(7, second)];
    for (const key of keys) await deps.store.recordDesired(key, { present: true, sha: randomSha(), reason: 'opened', prUpdatedAt: new Date() });
    const results = await Promise.all(keys.map((key) => deps.store.claimHosts(key, ['pr-7.preview.test', 'api-pr-7.preview.test'])));
    expect(results.filter((held) => held.length === 0)).toHaveLength(1);
    const loser = results.find((held) => held.length > 0)!;
    // All or nothing: the loser holds neither host.
    expect(loser.map((h) => h.host).sort()).toEqual(['api-pr-7.preview.test', 'pr-7.preview.test']);
  });
});

// Issue 13 §1, wait for the build: against the emulators (GitHub check runs, an OCI
// registry with the token spec's bearer challenge, a Nomad whose docker driver fails a
// task whose image the registry lacks) and real Postgres/Redis. Reconciles are run
// directly here; test/build-wait.e2e.test.ts drives the same through webhooks and the poll.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reconcileEnvironment } from '../src/environments/reconcile.js';
import { randomSha } from '../src/sandbox/world.js';
import type { World } from '../src/sandbox/world.js';
import type { RepoConfig } from '../src/config/schema.js';
import { startWorld } from './support/pg.js';

const IMAGES = { api: 'ghcr.io/acme/shop-api', frontend: 'ghcr.io/acme/shop-web', worker: 'ghcr.io/acme/shop-worker' };

/** CI pushing the PR's images at `sha`. */
function pushImages(world: World, sha: string, only?: string[]): void {
  for (const [component, image] of Object.entries(IMAGES)) {
    if (!only || only.includes(component)) world.registry!.push(image.replace(/^ghcr\.io\//, ''), sha);
  }
}

/** Every job the docker driver started pulled an image the registry held at that moment. */
function pulledOnlyHeldImages(world: World): void {
  const pulls = world.registry!.manifestLog.filter((e) => e.by === 'docker');
  expect(pulls.filter((p) => p.status !== 200)).toEqual([]);
}

describe('build gate (emulators + real Postgres/Redis)', () => {
  let world: World;
  const repo = () => world.repos[0]!;
  const previewStatus = (sha: string) => world.github.commitStatuses(repo(), sha).filter((s) => s.context === world.config.github.statusContext).at(-1);
  const comment = (pr: number) => world.github.comments(repo(), pr).find((c) => c.body.includes(world.names(pr).commentMarker))?.body ?? '';
  const jobsOf = async (pr: number) => (await world.observe.jobs()).filter((j) => String(j.ID).startsWith(world.names(pr).id));

  beforeAll(async () => {
    world = await startWorld({
      registry: { auth: 'bearer' },
      repos: [{ images: IMAGES, build: { checks: ['build-images'], waitForImages: true, timeout: '30m', pollInterval: '1s' } as unknown as NonNullable<RepoConfig['build']> }],
    });
  });
  afterAll(async () => {
    await world?.cleanup();
  });

  it('when a PR opens while its build runs and its images are missing then it waits, deploys nothing, and becomes ready once both are done', async () => {
    const pr = 1;
    const sha = randomSha();
    world.github.setCheckRun(repo(), sha, { name: 'build-images', status: 'in_progress' });
    await world.open(pr, sha);

    const waiting = await reconcileEnvironment(world.deps, world.key(pr));
    expect(waiting.status).toBe('waiting_for_build');
    expect(waiting.plan).toEqual([]);
    expect(await jobsOf(pr)).toEqual([]);
    const record = await world.deps.store.get(world.key(pr));
    expect(record).toMatchObject({ status: 'waiting_for_build', observedSha: null, lastError: null, observedGeneration: record!.desiredGeneration });
    expect(previewStatus(sha)).toMatchObject({ state: 'pending' });
    expect(previewStatus(sha)!.description).toContain('check build-images (in_progress)');
    expect(previewStatus(sha)!.description).toContain('image ghcr.io/acme/shop-');
    expect(comment(pr)).toContain('waiting for the build');
    expect(comment(pr)).toContain('check build-images (in_progress)');
    // Nothing of the PR exists anywhere: no database either.
    expect((await world.deps.databases.listOwnedDatabases()).map((d) => d.name)).not.toContain(world.names(pr).database);

    // The check succeeds, one image of three is there: still waiting, now naming only images.
    world.github.setCheckRun(repo(), sha, { name: 'build-images', status: 'completed', conclusion: 'success' });
    pushImages(world, sha, ['api']);
    const stillWaiting = await reconcileEnvironment(world.deps, world.key(pr));
    expect(stillWaiting.status).toBe('waiting_for_build');
    expect(previewStatus(sha)!.description).not.toContain('check build-images');
    expect(comment(pr)).toContain(`image ghcr.io/acme/shop-web:${sha}`);
    expect(comment(pr)).not.toContain(`image ghcr.io/acme/shop-api:${sha}`);
    expect(await jobsOf(pr)).toEqual([]);

    pushImages(world, sha);
    const ready = await reconcileEnvironment(world.deps, world.key(pr));
    expect(ready.status).toBe('ready');
    expect(previewStatus(sha)).toMatchObject({ state: 'success' });
    expect(comment(pr)).toContain('Preview environment: ready');
    // The probes went through the bearer challenge, as against ghcr.io.
    expect(world.registry!.issued.some((t) => t.scope === 'repository:acme/shop-api:pull')).toBe(true);
    pulledOnlyHeldImages(world);
  });

  it('when the build check fails then the PR is told "build failed: <check> <conclusion>", nothing is deployed, and the previous SHA keeps running', async () => {
    const pr = 2;
    const good = randomSha();
    world.github.setCheckRun(repo(), good, { name: 'build-images', status: 'completed', conclusion: 'success' });
    pushImages(world, good);
    await world.open(pr, good);
    expect((await reconcileEnvironment(world.deps, world.key(pr))).status).toBe('ready');
    const before = (await jobsOf(pr)).map((j) => ({ id: j.ID, version: j.Version, sha: (j.Meta as Record<string, string>)['previewd.sha'] }));

    const bad = randomSha();
    world.github.setCheckRun(repo(), bad, { name: 'build-images', status: 'completed', conclusion: 'failure' });
    await world.open(pr, bad);
    const failed = await reconcileEnvironment(world.deps, world.key(pr));
    expect(failed.status).toBe('failed');
    expect(previewStatus(bad)).toMatchObject({ state: 'failure', description: 'build failed: build-images failure' });
    expect(comment(pr)).toContain('build failed: build-images failure');
    expect(comment(pr)).toContain(`\`${good.slice(0, 7)}\` keeps running`);
    // The earlier SHA's jobs are exactly as they were, and its deployment still shows it.
    expect((await jobsOf(pr)).map((j) => ({ id: j.ID, version: j.Version, sha: (j.Meta as Record<string, string>)['previewd.sha'] }))).toEqual(before);
    const record = (await world.deps.store.get(world.key(pr)))!;
    expect(record).toMatchObject({ status: 'failed', observedSha: good, lastError: 'build failed: build-images failure' });
    const deployments = world.github.deployments(repo()).filter((d) => d.environment === world.names(pr).githubEnvironment);
    expect(deployments.map((d) => d.sha)).toEqual([good]);
    // The registry was not asked about the failed SHA's images at all.
    expect(world.registry!.manifestLog.some((e) => e.tag === bad)).toBe(false);

    // A cancelled re-run says so too.
    world.github.setCheckRun(repo(), bad, { name: 'build-images', status: 'completed', conclusion: 'cancelled' });
    await reconcileEnvironment(world.deps, world.key(pr));
    expect(previewStatus(bad)).toMatchObject({ state: 'failure', description: 'build failed: build-images cancelled' });
    pulledOnlyHeldImages(world);
  });

  it('when a push arrives while a SHA waits then the new head is what is gated and deployed, never the old one', async () => {
    const pr = 3;
    const first = randomSha();
    world.github.setCheckRun(repo(), first, { name: 'build-images', status: 'queued' });
    await world.open(pr, first);
    expect((await reconcileEnvironment(world.deps, world.key(pr))).status).toBe('waiting_for_build');

    const second = randomSha();
    world.github.setCheckRun(repo(), second, { name: 'build-images', status: 'completed', conclusion: 'success' });
    pushImages(world, second);
    await world.open(pr, second, { reason: 'synchronize' });
    expect((await reconcileEnvironment(world.deps, world.key(pr))).status).toBe('ready');

    // The first SHA's build completes late: nothing changes.
    world.github.setCheckRun(repo(), first, { name: 'build-images', status: 'completed', conclusion: 'success' });
    pushImages(world, first);
    const after = await reconcileEnvironment(world.deps, world.key(pr));
    expect(after.status).toBe('ready');
    const shas = new Set((await jobsOf(pr)).map((j) => (j.Meta as Record<string, string>)['previewd.sha']).filter(Boolean));
    expect([...shas]).toEqual([second]);
    expect(world.registry!.manifestLog.some((e) => e.by === 'docker' && e.tag === first)).toBe(false);
  });

  it('when GitHub cannot be told of the wait then the PR still waits (retried), and when GitHub is down for the gate it is degraded, never deployed', async () => {
    const pr = 6;
    const sha = randomSha();
    world.github.setCheckRun(repo(), sha, { name: 'build-images', status: 'in_progress' });
    await world.open(pr, sha);
    world.github.faults.failures.push({ method: 'POST', path: new RegExp(`/statuses/${sha}$`), status: 502, body: { message: 'Bad Gateway' }, times: 1 });
    await expect(reconcileEnvironment(world.deps, world.key(pr))).rejects.toMatchObject({ name: 'TransientError' });
    expect(await world.deps.store.get(world.key(pr))).toMatchObject({ status: 'waiting_for_build', lastError: expect.stringMatching(/^GitHub not up to date: commit status pending/) });
    // The retry tells GitHub.
    expect((await reconcileEnvironment(world.deps, world.key(pr))).status).toBe('waiting_for_build');
    expect(previewStatus(sha)).toMatchObject({ state: 'pending' });

    world.github.faults.failures.push({ method: 'GET', path: new RegExp(`/commits/${sha}/check-runs$`), status: 503, body: { message: 'Service Unavailable' }, times: 1 });
    await expect(reconcileEnvironment(world.deps, world.key(pr))).rejects.toMatchObject({ name: 'TransientError' });
    expect((await world.deps.store.get(world.key(pr)))!.status).toBe('degraded');
    expect(await jobsOf(pr)).toEqual([]);
    expect((await reconcileEnvironment(world.deps, world.key(pr))).status).toBe('waiting_for_build');
  });

  it('when a PR closes while it waits for its build then it is removed and its comment says so, nothing having been deployed', async () => {
    const pr = 7;
    const sha = randomSha();
    world.github.setCheckRun(repo(), sha, { name: 'build-images', status: 'in_progress' });
    await world.open(pr, sha);
    expect((await reconcileEnvironment(world.deps, world.key(pr))).status).toBe('waiting_for_build');
    await world.close(pr);
    expect((await reconcileEnvironment(world.deps, world.key(pr))).status).toBe('removed');
    expect(comment(pr)).toContain('Preview environment removed');
    expect(await jobsOf(pr)).toEqual([]);
    expect(await world.deps.store.listAwaitingBuild(repo(), sha)).toEqual([]);
  });

  it('when the build is not done within the timeout then the PR is told what was missing', async () => {
    const pr = 4;
    const sha = randomSha();
    world.github.setCheckRun(repo(), sha, { name: 'build-images', status: 'completed', conclusion: 'success' });
    await world.open(pr, sha);
    const late = { ...world.deps, clock: { ...world.deps.clock, now: () => new Date(Date.now() + 31 * 60_000) } };
    const result = await reconcileEnvironment(late, world.key(pr));
    expect(result.status).toBe('failed');
    expect(previewStatus(sha)!.state).toBe('failure');
    expect(previewStatus(sha)!.description).toMatch(/^build not done after 30m: image ghcr\.io\/acme\/shop-/);
    expect(await jobsOf(pr)).toEqual([]);
  });

  it('when a job is registered with an image the registry lacks then the docker driver fails its task with the pull error', async () => {
    // Not previewd (the gate prevents it): the emulator's claim about Nomad, so a test would catch such a deploy.
    const pr = 5;
    const sha = randomSha();
    const noGate = { ...world.deps, config: { ...world.config, repos: world.config.repos.map((r) => ({ ...r, build: undefined })) } };
    await world.open(pr, sha);
    await expect(reconcileEnvironment(noGate, world.key(pr))).rejects.toThrow();
    const allocs = world.cluster.listAllocations(undefined, world.names(pr).jobId('api'));
    const events = allocs.flatMap((a) => Object.values(a.TaskStates as Record<string, { Events: { Type: string; DisplayMessage: string }[] }>).flatMap((t) => t.Events));
    expect(events).toContainEqual(
      expect.objectContaining({
        Type: 'Driver Failure',
        DisplayMessage: `Failed to pull \`ghcr.io/acme/shop-api:${sha}\`: Error response from daemon: manifest for ghcr.io/acme/shop-api:${sha} not found: manifest unknown: manifest unknown`,
      }),
    );
    expect(events.map((e) => e.Type)).toContain('Driver');
    expect(world.registry!.manifestLog.some((e) => e.by === 'docker' && e.tag === sha && e.status === 404)).toBe(true);
    // Clean up the failed deploy so the world's manifest log assertions above stay about previewd.
    await world.close(pr);
    await reconcileEnvironment(noGate, world.key(pr)).catch(() => undefined);
  });
});

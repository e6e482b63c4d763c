// The e2e merge gate (issue 16) against the emulators and real Postgres: a PR's
// environment becomes ready (a real reconcile), the runner submits the repo's batch
// test job, Nomad's emulator runs it to the exit code the test chose, and GitHub ends
// with the commit status and check run at the SHA; a push cancels and retests, a
// timeout and an unschedulable job fail with their reason, nothing of a test job stays.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createE2eRunner, type E2eRunner } from '../src/e2e/runner.js';
import { createE2eStore, type E2eStore } from '../src/e2e/store.js';
import { testJobId } from '../src/e2e/naming.js';
import type { E2eRun } from '../src/e2e/types.js';
import { reconcileEnvironment } from '../src/environments/reconcile.js';
import type { GitHubCheckRuns, GitHubClient } from '../src/github/types.js';
import { createNomadClient } from '../src/nomad/client.js';
import { randomSha, type World } from '../src/sandbox/world.js';
import { renderTestJob } from '../src/templates/render.js';
import { startWorld } from './support/pg.js';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { adminRouter } from '../src/http/admin.js';
import { runE2eRerun } from '../src/cli/commands/e2e.js';

const CONTEXT = 'previewd/e2e';
const seed = process.env.E2E_GATE_SEED ? Number(process.env.E2E_GATE_SEED) : Math.floor(Math.random() * 2 ** 31);

describe('e2e gate (emulators + real Postgres/Redis)', () => {
  let world: World;
  let store: E2eStore;
  let runner: E2eRunner;
  const repo = () => world.repos[0]!;
  const slowRepo = () => world.repos[1]!;

  beforeAll(async () => {
    console.log(`e2e gate seed ${seed}`);
    world = await startWorld({
      githubApp: true,
      // Durations as the config file gives them (the world's repo input is typed as parsed).
      repos: [
        { fixedImages: { cache: 'docker.io/library/redis:7.2', e2e: 'ghcr.io/acme/shop-e2e:1' }, e2e: { template: 'e2e.nomad.hcl.hbs', timeout: '60s' as unknown as number, context: CONTEXT } },
        { fixedImages: { cache: 'docker.io/library/redis:7.2', e2e: 'ghcr.io/acme/shop-e2e:1' }, e2e: { template: 'e2e.nomad.hcl.hbs', timeout: '1s' as unknown as number, context: 'previewd/e2e-slow' } },
      ],
      config: { e2e: { concurrency: 2, pollInterval: '50ms' } },
    });
    store = createE2eStore({ databaseUrl: world.config.env.DATABASE_URL, log: world.deps.log });
    const env = world.config.env;
    runner = createE2eRunner({
      config: world.config,
      log: world.deps.log,
      clock: world.deps.clock,
      nomad: createNomadClient({ address: env.NOMAD_ADDR, ...(env.NOMAD_TOKEN ? { token: env.NOMAD_TOKEN } : {}), namespace: env.NOMAD_NAMESPACE }),
      // The world's GitHub client is the real one, which writes check runs as an App.
      github: world.deps.github as GitHubClient & GitHubCheckRuns,
      vault: world.deps.vault,
      store,
      renderTestJob: (config, key, sha) => renderTestJob(config, key, sha),
    });
    world.deps.e2e = runner;
  }, 120_000);
  afterAll(async () => {
    await runner?.stop();
    await store?.close();
    await world?.cleanup();
  });

  async function ready(pr: number, sha: string, r = repo()): Promise<void> {
    await world.open(pr, sha, { repo: r });
    const result = await reconcileEnvironment(world.deps, world.key(pr, r));
    expect(result.status).toBe('ready');
  }

  /** Passes of the runner until the PR's run satisfies `done` (a bound, not a speed: a loaded 2-core machine). */
  async function drive(pr: number, done: (run: E2eRun | null) => boolean, r = repo(), timeoutMs = 60_000): Promise<E2eRun | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await runner.pass();
      const run = await store.get(world.key(pr, r));
      if (done(run)) return run;
      if (Date.now() > deadline) throw new Error(`run of PR ${pr} did not get there (seed ${seed}): ${JSON.stringify(run)}`);
      await new Promise((res) => setTimeout(res, 30));
    }
  }

  const statuses = (sha: string, r = repo(), context = CONTEXT) => world.github.commitStatuses(r, sha).filter((s) => s.context === context);
  const checkRuns = (sha: string, r = repo(), name = CONTEXT) => world.github.checkRuns(r, sha).filter((c) => c.name === name);
  /** Nothing of the PR's test jobs left: no job, no allocation still meant to run. */
  const leftovers = (pr: number, r = repo()) => {
    const prefix = `${world.names(pr, r).id}-e2e-`;
    const jobs = world.cluster.listJobs('default').filter((j) => String(j.ID).startsWith(prefix));
    const allocs = world.cluster.listAllocations('default').filter((a) => String(a.JobID).startsWith(prefix) && a.DesiredStatus === 'run' && !['complete', 'failed'].includes(a.ClientStatus as string));
    return { jobs: jobs.map((j) => j.ID), allocs: allocs.map((a) => a.ID) };
  };

  it('when the suite passes then the SHA has a success status and a completed check run with outcome and duration, and the job is purged', async () => {
    const sha = randomSha();
    world.cluster.behaviour.set(`${testJobId(world.names(1), sha)}`, { exitCode: 0, stdout: 'ok 1 home page\nok 2 checkout\n', healthyDelayMs: 100 });
    await ready(1, sha);
    const run = await drive(1, (r) => r?.state === 'passed' && r.jobPurged);
    expect(run).toMatchObject({ sha, state: 'passed', reason: null });
    const states = statuses(sha).map((s) => s.state);
    expect(states[0]).toBe('pending');
    expect(states.at(-1)).toBe('success');
    const [check] = checkRuns(sha);
    expect(check).toMatchObject({ status: 'completed', conclusion: 'success' });
    expect(check!.output!.summary).toContain('**Outcome:** passed');
    expect(check!.output!.summary).toMatch(/\*\*Duration:\*\* \d+s/);
    expect(leftovers(1)).toEqual({ jobs: [], allocs: [] });
    // The sticky comment shows the tests.
    const comment = world.github.comments(repo(), 1).find((c) => c.body.includes(world.names(1).commentMarker));
    expect(comment?.body).toContain('E2E tests passed');
  });

  it('when a later reconcile re-renders the comment then the test section is still there', async () => {
    const sha = randomSha();
    // A push: the reconcile renders "deploying" and then "ready" again, from scratch.
    world.cluster.behaviour.set(`${world.names(1).id}-e2e-*`, { exitCode: 0, healthyDelayMs: 20_000 });
    await ready(1, sha);
    const comment = world.github.comments(repo(), 1).find((c) => c.body.includes(world.names(1).commentMarker));
    expect(comment?.body).toContain('<!-- previewd:e2e:start -->');
    expect(comment?.body).toContain('E2E tests passed');
    // The gate then tests the new SHA; closing the PR stops it.
    await drive(1, (r) => r?.sha === sha && r.state === 'running');
    await world.close(1);
    await reconcileEnvironment(world.deps, world.key(1));
    const run = await drive(1, (r) => r?.state === 'cancelled' && r.jobPurged);
    expect(run!.reason).toBe('the pull request was closed');
    expect(statuses(sha).at(-1)?.state).toBe('error');
    expect(checkRuns(sha)[0]).toMatchObject({ status: 'completed', conclusion: 'cancelled' });
    expect(leftovers(1)).toEqual({ jobs: [], allocs: [] });
  });

  it('when the suite fails then failure with the last 50 lines of output, scrubbed of the PR secret', async () => {
    const sha = randomSha();
    await ready(2, sha);
    const databaseUrl = String((await world.observe.secret(world.names(2).vaultPath))?.data?.DATABASE_URL);
    const password = decodeURIComponent(new URL(databaseUrl).password);
    const lines = Array.from({ length: 60 }, (_, i) => `line ${i + 1}`);
    lines[57] = `connecting to ${databaseUrl}`;
    world.cluster.behaviour.set(testJobId(world.names(2), sha), { exitCode: 1, stdout: `${lines.join('\n')}\n`, healthyDelayMs: 50 });
    const run = await drive(2, (r) => r?.state === 'failed' && r.jobPurged);
    expect(run!.reason).toBe('task "e2e" exited with code 1; Not Restarting: Policy allows no restarts');
    expect(run!.output!.split('\n')).toHaveLength(50);
    expect(run!.output).toContain('line 60');
    expect(run!.output).toContain('line 11');
    expect(run!.output).not.toMatch(/^line 10$/m);
    expect(run!.output).not.toContain(password);
    expect(statuses(sha).at(-1)).toMatchObject({ state: 'failure' });
    const [check] = checkRuns(sha);
    expect(check).toMatchObject({ conclusion: 'failure' });
    expect(check!.output!.summary).toContain('line 60');
    expect(check!.output!.summary).not.toContain(password);
    const comment = world.github.comments(repo(), 2).find((c) => c.body.includes(world.names(2).commentMarker))!;
    expect(comment.body).toContain('E2E tests failed');
    expect(comment.body).not.toContain(password);
    expect(world.logLines.join('\n')).not.toContain(password);
    expect(leftovers(2)).toEqual({ jobs: [], allocs: [] });
  });

  it('when a push arrives while tests run then they are cancelled and the new SHA is tested once ready', async () => {
    const sha1 = randomSha();
    const sha2 = randomSha();
    world.cluster.behaviour.set(testJobId(world.names(3), sha1), { healthyDelayMs: 60_000 });
    world.cluster.behaviour.set(testJobId(world.names(3), sha2), { exitCode: 0, healthyDelayMs: 50 });
    await ready(3, sha1);
    await drive(3, (r) => r?.state === 'running' && r.evalId !== null);
    await world.open(3, sha2); // recorded, not yet deployed: the old run stops at once
    const cancelled = await drive(3, (r) => r?.sha === sha1 && r.state === 'cancelled');
    expect(cancelled!.reason).toBe(`a newer commit ${sha2.slice(0, 7)} was pushed`);
    expect(statuses(sha1).at(-1)?.state).toBe('error');
    expect(leftovers(3).jobs).toEqual([]);
    await reconcileEnvironment(world.deps, world.key(3));
    const run = await drive(3, (r) => r?.sha === sha2 && r.state === 'passed' && r.jobPurged);
    expect(run!.attempt).toBe(cancelled!.attempt + 1);
    expect(statuses(sha2).at(-1)?.state).toBe('success');
    expect(leftovers(3)).toEqual({ jobs: [], allocs: [] });
  });

  it('when the job runs past the timeout then failure with the reason, and the job is stopped', async () => {
    const sha = randomSha();
    world.cluster.behaviour.set(testJobId(world.names(4, slowRepo()), sha), { healthyDelayMs: 120_000 });
    await ready(4, sha, slowRepo());
    const run = await drive(4, (r) => r?.state === 'failed' && r.jobPurged, slowRepo());
    expect(run!.reason).toBe('timed out after 1s (the test job was stopped)');
    expect(statuses(sha, slowRepo(), 'previewd/e2e-slow').at(-1)).toMatchObject({ state: 'failure', description: expect.stringContaining('timed out after 1s') });
    expect(leftovers(4, slowRepo())).toEqual({ jobs: [], allocs: [] });
  });

  it("when no node can run the job then failure with Nomad's placement reason, never a stuck pending", async () => {
    const sha = randomSha();
    world.cluster.behaviour.set(testJobId(world.names(5), sha), { unschedulable: { dimension: 'memory' } });
    await ready(5, sha);
    const run = await drive(5, (r) => r?.state === 'failed' && r.jobPurged);
    expect(run!.reason).toBe('Nomad could not place the test job: could not place 1 allocation of group "e2e": dimension "memory" exhausted on 1 node');
    expect(statuses(sha).at(-1)?.state).toBe('failure');
    expect(leftovers(5)).toEqual({ jobs: [], allocs: [] });
  });

  it('when three PRs are ready at once then at most e2e.concurrency (2) test jobs run, and a rerun tests again', async () => {
    const prs = [6, 7, 8];
    const shas = prs.map(() => randomSha());
    prs.forEach((pr, i) => world.cluster.behaviour.set(testJobId(world.names(pr), shas[i]!), { exitCode: 0, healthyDelayMs: 1_500 }));
    for (const [i, pr] of prs.entries()) await ready(pr, shas[i]!);
    let maxRunning = 0;
    const deadline = Date.now() + 60_000;
    for (;;) {
      await runner.pass();
      maxRunning = Math.max(maxRunning, await store.countRunning());
      const runs = await Promise.all(prs.map((pr) => store.get(world.key(pr))));
      if (runs.every((r) => r?.state === 'passed' && r.jobPurged)) break;
      if (Date.now() > deadline) throw new Error(`runs did not finish (seed ${seed}): ${JSON.stringify(runs.map((r) => r?.state))}`);
      await new Promise((res) => setTimeout(res, 30));
    }
    expect(maxRunning).toBeGreaterThan(0);
    expect(maxRunning).toBeLessThanOrEqual(2);

    // A rerun (admin API, CLI, `/preview retest`): a new attempt at the same SHA, told again.
    const before = (await store.get(world.key(6)))!;
    expect(await runner.requestRerun(world.key(6))).toEqual({ ok: true });
    const again = await drive(6, (r) => r?.attempt === before.attempt + 1 && r.state === 'passed' && r.jobPurged);
    expect(again!.sha).toBe(shas[0]);
    expect(checkRuns(shas[0]!)).toHaveLength(2);
    expect(leftovers(6)).toEqual({ jobs: [], allocs: [] });
    expect(await runner.requestRerun(world.key(99))).toMatchObject({ ok: false });
  });

  it('the admin API and the CLI rerun the tests; hostile or unknown input is a clear 4xx, never a crash', async () => {
    for (const pr of [9, 10]) {
      world.cluster.behaviour.set(`${world.names(pr).id}-e2e-*`, { exitCode: 0, healthyDelayMs: 50 });
      await ready(pr, randomSha());
      await drive(pr, (r) => r?.state === 'passed' && r.jobPurged);
    }
    const app = new Koa();
    const router = adminRouter({
      config: world.config,
      store: world.deps.store,
      queue: { enqueue: async () => {}, counts: async () => ({}) as never, listParked: async () => [], retryParked: async () => false } as never,
      runGc: async () => ({ plan: [] as never, done: [], failed: [] }),
      e2e: runner,
    });
    app.use(router.routes());
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/admin/environments`;
      const post = (path: string, token = world.secrets.adminToken) => fetch(`${base}/${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
      const [owner, name] = repo().split('/');
      const before = (await store.get(world.key(9)))!;
      const accepted = await post(`${owner}/${name}/9/e2e/rerun`);
      expect(accepted.status).toBe(202);
      expect((await store.get(world.key(9)))!).toMatchObject({ state: 'queued', attempt: before.attempt + 1 });
      // Already queued: a conflict with the reason, nothing changed.
      const again = await post(`${owner}/${name}/9/e2e/rerun`);
      expect(again.status).toBe(409);
      expect(await again.json()).toMatchObject({ reason: expect.stringContaining('already queued') });
      expect((await post(`${owner}/${name}/4242/e2e/rerun`)).status).toBe(404);
      expect((await post(`${owner}/${name}/not-a-number/e2e/rerun`)).status).toBe(400);
      expect((await post(`${owner}/${name}/9/e2e/rerun`, 'wrong-token-wrong-token')).status).toBe(403);
      await drive(9, (r) => r?.attempt === before.attempt + 1 && r.state === 'passed' && r.jobPurged);
    } finally {
      await new Promise((r) => server.close(r));
    }

    const out: string[] = [];
    const io = { out: (t: string) => out.push(t), err: (t: string) => out.push(t) };
    const cliBefore = (await store.get(world.key(10)))!;
    expect(await runE2eRerun({ e2e: runner }, { repo: repo(), pr: 10 }, io)).toBe(0);
    expect(out.join('')).toContain('queued again');
    expect(await runE2eRerun({}, { repo: repo(), pr: 10 }, io)).not.toBe(0);
    await drive(10, (r) => r?.attempt === cliBefore.attempt + 1 && r.state === 'passed' && r.jobPurged);
    expect(leftovers(9)).toEqual({ jobs: [], allocs: [] });
    expect(leftovers(10)).toEqual({ jobs: [], allocs: [] });
  });

  it('an orphaned test job of ours (no run holds it) is purged by the sweep; a job without our marker stays', async () => {
    const nomad = createNomadClient({ address: world.config.env.NOMAD_ADDR, ...(world.config.env.NOMAD_TOKEN ? { token: world.config.env.NOMAD_TOKEN } : {}), namespace: world.config.env.NOMAD_NAMESPACE });
    const orphanSha = randomSha();
    world.cluster.behaviour.set(testJobId(world.names(9), orphanSha), { healthyDelayMs: 120_000 });
    const { jobId, hcl } = await renderTestJob(world.config, world.key(9), orphanSha);
    await nomad.registerJob(await nomad.parseJob(hcl));
    const foreignId = `${world.names(9).id}-e2e-notours`;
    const foreign = await nomad.parseJob(`job "${foreignId}" {\n  type = "batch"\n  datacenters = ["dc1"]\n  group "g" {\n    task "t" {\n      driver = "docker"\n      config {\n        image = "busybox:1"\n      }\n    }\n  }\n}`);
    await nomad.registerJob(foreign);
    expect(await runner.sweepOrphans()).toBe(1);
    expect(world.cluster.getJob('default', jobId)).toBeUndefined();
    expect(world.cluster.getJob('default', foreignId)).toBeDefined();
    // The current run's own job is never an orphan.
    expect((await store.get(world.key(9)))!.jobPurged).toBe(true);
    await nomad.stopJob(foreignId, { purge: true });
  });

  it('a crash between claiming a slot and submitting the job converges: the next pass submits it; two replicas passing at once start it once', async () => {
    const sha = randomSha();
    world.cluster.behaviour.set(testJobId(world.names(11), sha), { exitCode: 0, healthyDelayMs: 300 });
    await world.open(11, sha);
    await reconcileEnvironment(world.deps, world.key(11));
    // What a runner that died right after claimStart leaves: running, a job ID, no evaluation.
    const queued = await store.queue(world.key(11), sha, { attempt: null });
    expect(await store.claimStart(world.key(11), queued!.attempt, 2, testJobId(world.names(11), sha))).toBe(true);
    expect(world.cluster.getJob('default', testJobId(world.names(11), sha))).toBeUndefined();
    // Another replica's runner and this one pass at the same time.
    const replica = createE2eRunner({
      config: world.config,
      log: world.deps.log,
      clock: world.deps.clock,
      nomad: createNomadClient({ address: world.config.env.NOMAD_ADDR, ...(world.config.env.NOMAD_TOKEN ? { token: world.config.env.NOMAD_TOKEN } : {}), namespace: world.config.env.NOMAD_NAMESPACE }),
      github: world.deps.github as GitHubClient & GitHubCheckRuns,
      vault: world.deps.vault,
      store,
      renderTestJob: (config, key, sha2) => renderTestJob(config, key, sha2),
    });
    await Promise.all([runner.pass(), replica.pass()]);
    const run = await drive(11, (r) => r?.state === 'passed' && r.jobPurged);
    expect(run!.attempt).toBe(queued!.attempt);
    // One job version: registered once (a second identical register makes no new version either way).
    expect(world.cluster.listAllocations('default', testJobId(world.names(11), sha))).toHaveLength(1);
    expect(statuses(sha).at(-1)?.state).toBe('success');
    expect(checkRuns(sha)).toHaveLength(1);
    expect(leftovers(11)).toEqual({ jobs: [], allocs: [] });
  });
});

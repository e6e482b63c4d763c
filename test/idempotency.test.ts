// Invariant 3: applying a step twice equals applying it once, and a reconcile that
// breaks at any write (before it happens, or after it happened with the answer lost)
// followed by a clean reconcile converges, with nothing duplicated or leaked.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Deps } from '../src/deps.js';
import { TransientError } from '../src/errors.js';
import { applyStep } from '../src/environments/apply.js';
import { ensureGitHubReport, githubRefsOf } from '../src/environments/github-report.js';
import { projectOutcome, projectStart } from '../src/environments/projection.js';
import { createApplyContext, reconcileEnvironment, reconcileInputs } from '../src/environments/reconcile.js';
import { randomSha, type World } from '../src/sandbox/world.js';
import { startWorld } from './support/pg.js';

/** Methods that change something, per client. */
const MUTATING: Record<'nomad' | 'consul' | 'vault' | 'github' | 'databases', string[]> = {
  nomad: ['registerJob', 'stopJob'],
  consul: ['deregisterService', 'deregisterFromAgent'],
  vault: ['writeSecret', 'destroySecret', 'putPolicy', 'deletePolicy', 'putJwtRole', 'deleteJwtRole'],
  github: ['createDeployment', 'createDeploymentStatus', 'createCommitStatus', 'createComment', 'updateComment', 'deleteComment'],
  databases: ['ensureDatabase', 'ensureLoginRole', 'dropDatabase', 'dropRole'],
};

interface Faults {
  /** 1-based number of the mutating call that fails; 0 = none. */
  failAt: number;
  mode: 'before' | 'after';
  calls: string[];
}

/** Deps whose n-th mutating call fails: before it reaches the system, or after (answer lost). */
function faultyDeps(deps: Deps, faults: Faults): Deps {
  const wrap = <T extends object>(client: T, methods: string[]): T =>
    new Proxy(client, {
      get(target, prop) {
        const value = Reflect.get(target, prop) as unknown;
        if (typeof value !== 'function') return value;
        const fn = value as (...args: unknown[]) => Promise<unknown>;
        if (!methods.includes(String(prop))) return fn.bind(target);
        return async (...args: unknown[]) => {
          faults.calls.push(String(prop));
          const hit = faults.calls.length === faults.failAt;
          if (hit && faults.mode === 'before') throw new TransientError(`injected: connection refused before ${String(prop)}`);
          const out = await fn.apply(target, args);
          if (hit) throw new TransientError(`injected: connection reset after ${String(prop)}`);
          return out;
        };
      },
    });
  return {
    ...deps,
    nomad: wrap(deps.nomad, MUTATING.nomad),
    consul: wrap(deps.consul, MUTATING.consul),
    vault: wrap(deps.vault, MUTATING.vault),
    github: wrap(deps.github, MUTATING.github),
    databases: wrap(deps.databases, MUTATING.databases),
  };
}

/** Runs `tasks` with at most `limit` in flight. */
async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: Math.min(limit, queue.length) }, async () => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) await fn(item);
    }),
  );
}

describe('idempotency and crash convergence', () => {
  let world: World;
  const shas = new Map<number, string>();
  let deployWrites = 0;

  beforeAll(async () => {
    // WAL_LOG clones a small template without a checkpoint: many PRs, quickly.
    world = await startWorld({ config: { deployTimeout: '30s' }, repos: [{ database: { strategy: 'WAL_LOG' } }] });
  });
  afterAll(async () => {
    await world?.cleanup();
  });

  async function passwordWorks(pr: number): Promise<boolean> {
    const url = world.vault.secret(world.names(pr).vaultPath)?.data?.DATABASE_URL;
    if (typeof url !== 'string') return false;
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
    try {
      await client.connect();
      await client.query('SELECT count(*) FROM items');
      return true;
    } catch {
      return false;
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** The one end state of a ready PR: every layer once, GitHub once, the login working. */
  async function expectReady(pr: number): Promise<void> {
    const n = world.names(pr);
    const sha = shas.get(pr)!;
    const record = await world.deps.store.get(world.key(pr));
    expect(record, `PR ${pr}`).toMatchObject({ status: 'ready', observedSha: sha, lastError: null });
    const jobs = await world.deps.nomad.listJobs({ prefix: `${n.id}-` });
    // Sorted by ID: api, cache (a stock image: no SHA), frontend, worker.
    expect(jobs.map((j) => j.meta['previewd.sha'])).toEqual([sha, undefined, sha, sha]);
    expect((await world.deps.databases.getDatabase(n.database))?.owned).toBe(true);
    expect(world.vault.policy(n.vaultPolicy)).not.toBeNull();
    expect(world.vault.jwtRole(n.vaultRole)).not.toBeNull();
    expect(await passwordWorks(pr), `PR ${pr}: the password in Vault logs in`).toBe(true);
    const deployments = world.github.deployments(world.repos[0]!).filter((d) => d.environment === n.githubEnvironment);
    expect(deployments.map((d) => d.sha), `PR ${pr}: one deployment`).toEqual([sha]);
    expect(deployments[0]!.statuses.at(-1)!.state).toBe('success');
    const comments = world.github.comments(world.repos[0]!, pr).filter((c) => c.body.includes(n.commentMarker));
    expect(comments, `PR ${pr}: one comment`).toHaveLength(1);
    expect(comments[0]!.body).toContain('ready');
    expect(world.github.commitStatuses(world.repos[0]!, sha).at(-1)!.state).toBe('success');
  }

  async function expectGone(pr: number): Promise<void> {
    const n = world.names(pr);
    expect((await world.deps.store.get(world.key(pr)))?.status, `PR ${pr}`).toBe('removed');
    expect(await world.deps.nomad.listJobs({ prefix: `${n.id}-` })).toEqual([]);
    for (const c of ['cache', 'api', 'worker', 'frontend']) expect(await world.deps.consul.listServiceInstances(n.serviceName(c))).toEqual([]);
    expect(await world.deps.databases.getDatabase(n.database)).toBeNull();
    expect(await world.deps.databases.getRole(n.role)).toBeNull();
    expect(world.vault.secret(n.vaultPath)).toBeNull();
    expect(world.vault.policy(n.vaultPolicy)).toBeNull();
    expect(world.vault.jwtRole(n.vaultRole)).toBeNull();
    const deployments = world.github.deployments(world.repos[0]!).filter((d) => d.environment === n.githubEnvironment);
    expect(deployments.every((d) => d.statuses.at(-1)!.state === 'inactive')).toBe(true);
    const comments = world.github.comments(world.repos[0]!, pr).filter((c) => c.body.includes(n.commentMarker));
    expect(comments).toHaveLength(1);
    expect(comments[0]!.body).toContain('removed');
  }

  it('when every step of a fresh deploy is applied twice then the end state is that of once', async () => {
    const pr = 1;
    shas.set(pr, randomSha());
    await world.open(pr, shas.get(pr)!);
    const { plan } = await reconcileEnvironment(world.deps, world.key(pr), { dryRun: true });
    expect(plan.length).toBeGreaterThan(10);
    const record = await world.deps.store.get(world.key(pr));
    const ctx = createApplyContext(world.deps, reconcileInputs(world.deps.config, world.key(pr), record));
    ctx.jobs = await world.deps.renderer.render(world.deps.config, world.key(pr), shas.get(pr)!);
    for (const step of plan) {
      await applyStep(ctx, step);
      await applyStep(ctx, step);
    }
    // GitHub is brought to each state the PR shows (deploying, then ready) twice: nothing fails.
    const { desired } = reconcileInputs(world.deps.config, world.key(pr), record);
    const view = { names: ctx.names, jobs: ctx.jobs, components: ctx.state.components, lastPushAt: record!.lastPushAt, idleTtlMs: 0, scrub: ctx.scrubber.scrub };
    let refs = githubRefsOf(record);
    for (const projection of [projectStart(record, desired, plan), projectOutcome(record, desired, ctx.sha, { ok: true, status: 'ready', startTold: true })]) {
      for (const _twice of [1, 2]) {
        const told = await ensureGitHubReport(world.deps, view, refs, projection!);
        expect(told.failed).toEqual([]);
        refs = told.refs;
      }
    }
    // The store learns what exists from a normal reconcile, which must find nothing to duplicate.
    await reconcileEnvironment(world.deps, world.key(pr));
    await expectReady(pr);
  });

  it('when two overlapping runs each found no sticky comment and created one then the PR keeps one, the older', async () => {
    // Under a lapsed lock two runs of a PR overlap for a step (issue 12 §7): the other run
    // looked for our comment before this one's existed, so it knows none and finds none.
    const pr = 2;
    shas.set(pr, randomSha());
    await world.open(pr, shas.get(pr)!);
    await reconcileEnvironment(world.deps, world.key(pr));
    const n = world.names(pr);
    const ours = () => world.github.comments(world.repos[0]!, pr).filter((c) => c.body.includes(n.commentMarker));
    const [first] = ours();
    expect(ours()).toHaveLength(1);
    const record = await world.deps.store.get(world.key(pr));
    const ctx = createApplyContext(world.deps, reconcileInputs(world.deps.config, world.key(pr), record));
    ctx.jobs = await world.deps.renderer.render(world.deps.config, world.key(pr), shas.get(pr)!);
    const { desired } = reconcileInputs(world.deps.config, world.key(pr), record);
    const view = { names: ctx.names, jobs: ctx.jobs, components: ctx.state.components, lastPushAt: record!.lastPushAt, idleTtlMs: 0, scrub: ctx.scrubber.scrub };
    const racing = { ...world.deps, github: { ...world.deps.github, findComment: async () => null } };
    const told = await ensureGitHubReport(racing, view, { ...githubRefsOf(record), commentId: null, reported: null }, projectOutcome(record, desired, ctx.sha, { ok: true, status: 'ready', startTold: true })!);
    expect(told.failed).toEqual([]);
    expect(ours().map((c) => c.id)).toEqual([first!.id]);
    expect(told.refs.commentId).toBe(first!.id);
    await expectReady(pr);
  });

  it('when a deploy breaks at each write in turn then a clean reconcile converges every time', async () => {
    // Count the writes of one clean deploy first.
    const probe: Faults = { failAt: 0, mode: 'before', calls: [] };
    const first = 100;
    shas.set(first, randomSha());
    await world.open(first, shas.get(first)!);
    await reconcileEnvironment(faultyDeps(world.deps, probe), world.key(first));
    const writes = probe.calls.length;
    expect(writes).toBeGreaterThan(12);
    deployWrites = writes;

    const cases = Array.from({ length: writes }, (_, i) => i + 1).flatMap((n) => [
      { pr: 100 + n, failAt: n, mode: 'before' as const },
      { pr: 200 + n, failAt: n, mode: 'after' as const },
    ]);
    await pool(cases, 6, async (c) => {
      shas.set(c.pr, randomSha());
      await world.open(c.pr, shas.get(c.pr)!);
      const faults: Faults = { failAt: c.failAt, mode: c.mode, calls: [] };
      await expect(reconcileEnvironment(faultyDeps(world.deps, faults), world.key(c.pr)), `PR ${c.pr} (${c.mode} write ${c.failAt})`).rejects.toThrow(/injected/);
      const broken = await world.deps.store.get(world.key(c.pr));
      expect(broken?.status === 'ready' || broken?.status === 'degraded', `PR ${c.pr}: ${broken?.status}`).toBe(true);
      await reconcileEnvironment(world.deps, world.key(c.pr));
    });
    for (const c of cases) await expectReady(c.pr);

    // Nothing leaked: exactly one of everything per PR, across the whole world.
    // PRs 1 and 2 come from the tests above (the file's tests share one world, in order).
    const prs = [1, 2, first, ...cases.map((c) => c.pr)];
    expect(world.cluster.listJobs().length).toBe(prs.length * 4);
    expect((await world.deps.databases.listOwnedDatabases()).length).toBe(prs.length);
    expect((await world.deps.databases.listOwnedRoles()).length).toBe(prs.length);
    expect(world.vault.secrets().length).toBe(prs.length);
  }, 240_000);

  it('when a teardown breaks at each write in turn then a clean reconcile still removes everything', async () => {
    const probePr = 100;
    const probe: Faults = { failAt: 0, mode: 'before', calls: [] };
    await world.close(probePr);
    await reconcileEnvironment(faultyDeps(world.deps, probe), world.key(probePr));
    await expectGone(probePr);
    const writes = probe.calls.length;
    expect(writes).toBeGreaterThan(8);
    expect(writes).toBeLessThanOrEqual(deployWrites); // every case below has a deployed PR

    // "before write n" equals "after write n-1" here (teardown keeps no answer it needs
    // later), so one "before" case is enough next to every "after".
    const cases = [
      { pr: 101, failAt: 1, mode: 'before' as const },
      ...Array.from({ length: writes }, (_, i) => ({ pr: 200 + i + 1, failAt: i + 1, mode: 'after' as const })),
    ];
    await pool(cases, 6, async (c) => {
      await world.close(c.pr);
      const faults: Faults = { failAt: c.failAt, mode: c.mode, calls: [] };
      await expect(reconcileEnvironment(faultyDeps(world.deps, faults), world.key(c.pr)), `PR ${c.pr} (${c.mode} write ${c.failAt})`).rejects.toThrow(/injected/);
      await reconcileEnvironment(world.deps, world.key(c.pr));
    });
    for (const c of cases) await expectGone(c.pr);
  }, 240_000);
});

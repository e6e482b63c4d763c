import { describe, expect, it } from 'vitest';
import { buildConfig } from '../config/load.js';
import { UserError } from '../errors.js';
import { EMPTY_OBSERVED, type DesiredEnvironment, type ObservedEnvironment, type PlanContext, type PlannedComponent, type Step } from './model.js';
import { environmentNames } from './naming.js';
import { dependencyWaves, describePlan, planEnvironment } from './plan.js';

const config = buildConfig(
  { repos: [{ name: 'acme/shop', database: { template: 'shop_template', strategy: 'WAL_LOG' } }] },
  {
    VAULT_TOKEN: 'root-token-for-tests',
    DATABASE_URL: 'postgres://postgres@pg.internal:5432/previewd',
    GITHUB_WEBHOOK_SECRET: 'a-webhook-secret-of-length',
    GITHUB_TOKEN: 'ghp_testtoken',
    PREVIEWD_ADMIN_TOKEN: 'an-admin-token-long-enough',
  },
);
const key = { repo: 'acme/shop', pr: 42 };
const names = environmentNames(config, key);
const SHA1 = 'a'.repeat(40);
const SHA2 = 'b'.repeat(40);
const NOW = new Date('2026-05-01T10:00:00Z');

function component(name: string, dependsOn: string[], routable: boolean, builtFromPr = true): PlannedComponent {
  return {
    component: name,
    jobId: names.jobId(name),
    serviceName: names.serviceName(name),
    builtFromPr,
    dependsOn,
    routable,
    host: routable ? names.host(name) : null,
    url: routable ? names.url(name) : null,
  };
}

const components = [component('cache', [], false, false), component('api', ['cache'], true), component('worker', ['cache'], false), component('frontend', ['api'], true)];
const jobIds = components.map((c) => c.jobId);

type Rec = NonNullable<PlanContext['record']>;
function record(overrides: Partial<Rec> = {}): Rec {
  return { status: 'pending', observedSha: null, observedGeneration: 0, resources: {}, githubDeploymentId: null, ...overrides };
}

function ctx(rec: Rec | null, comps = components): PlanContext {
  return { config, names, record: rec, components: comps, now: NOW };
}

const present = (sha: string, generation = 1): DesiredEnvironment => ({ present: true, sha, generation, reason: 'opened' });
const absent = (generation = 2): DesiredEnvironment => ({ present: false, sha: null, generation, reason: 'closed' });

/** Everything of the PR exists, ours, running `sha`. */
function complete(sha: string): ObservedEnvironment {
  return {
    database: { owned: true },
    role: { owned: true },
    secret: { owned: true, hasData: true },
    policy: { owned: true, upToDate: true },
    jwtRole: { owned: true, jobIds: [...jobIds].sort() },
    // A stock-image component's job carries no SHA (context.ts jobMeta).
    jobs: components.map((c, i) => ({ id: c.jobId, owned: true, stop: false, status: 'running', jobModifyIndex: 10 + i, sha: c.builtFromPr ? sha : null, generation: null })),
    services: components.map((c) => ({ node: 'client-1', serviceId: `_nomad-task-${c.jobId}`, serviceName: c.serviceName, owned: true, status: 'passing' })),
  };
}

const kinds = (plan: Step[]) => plan.map((s) => s.kind);
const validUntil = new Date(NOW.getTime() + config.credentialTtl).toISOString();

describe('planEnvironment', () => {
  it('when a PR opens with nothing in place then it creates every layer in order and registers jobs in dependency waves', () => {
    const plan = planEnvironment(present(SHA1), EMPTY_OBSERVED, ctx(record()));
    // GitHub is not a step: the PR is shown a projection of the run (projection.test.ts).
    // The database and the Vault access need nothing of each other: one group, run at once;
    // the login and its secret need the database.
    expect(kinds(plan).slice(0, 4)).toEqual(['ensure-database', 'ensure-policy', 'ensure-jwt-role', 'ensure-credentials']);
    expect(plan.slice(0, 3).map((s) => ('group' in s ? s.group : null))).toEqual(['prepare', 'prepare', 'prepare']);
    expect('group' in plan[3]!).toBe(false);
    expect(plan.at(-1)?.kind).toBe('check-routing');
    const db = plan.find((s) => s.kind === 'ensure-database');
    expect(db).toMatchObject({ database: names.database, mode: 'template', template: 'shop_template', strategy: 'WAL_LOG' });
    expect(plan.find((s) => s.kind === 'ensure-credentials')).toMatchObject({ keepPassword: false });
    const registers = plan.filter((s): s is Extract<Step, { kind: 'register-job' }> => s.kind === 'register-job');
    expect(registers.map((s) => [s.component, s.group, s.enforceIndex])).toEqual([
      ['cache', 'register-0', 0],
      ['api', 'register-1', 0],
      ['worker', 'register-1', 0],
      ['frontend', 'register-2', 0],
    ]);
    // Every wave is watched before the next registers: the dependents start on healthy dependencies.
    const order = kinds(plan);
    expect(order.indexOf('watch-deployment')).toBeLessThan(plan.findIndex((s) => s.kind === 'register-job' && s.component === 'api'));
    const routing = plan.filter((s) => s.kind === 'check-routing');
    expect(routing.map((s) => (s as { host: string }).host)).toEqual([names.host('api'), names.host('frontend')]);
  });

  it('when a new SHA is pushed then jobs are re-registered at their observed index and the database is kept', () => {
    const plan = planEnvironment(present(SHA2, 2), complete(SHA1), ctx(record({ status: 'ready', observedSha: SHA1, observedGeneration: 1, resources: { credentialsValidUntil: validUntil, githubReported: `ready:${SHA1}` } })));
    expect(kinds(plan)).not.toContain('ensure-database');
    expect(kinds(plan)).not.toContain('ensure-policy');
    expect(kinds(plan)).not.toContain('ensure-jwt-role');
    expect(plan.find((s) => s.kind === 'ensure-credentials')).toMatchObject({ keepPassword: true });
    const registers = plan.filter((s) => s.kind === 'register-job') as Extract<Step, { kind: 'register-job' }>[];
    expect(registers.map((r) => r.enforceIndex)).toEqual([10, 11, 12, 13]);
    expect(plan[0]).toMatchObject({ kind: 'ensure-credentials' });
  });

  it('when everything runs at the desired SHA and GitHub is told then there is nothing to do', () => {
    const plan = planEnvironment(present(SHA1), complete(SHA1), ctx(record({ status: 'ready', observedSha: SHA1, observedGeneration: 1, resources: { credentialsValidUntil: validUntil, githubReported: `ready:${SHA1}` } })));
    expect(plan).toEqual([]);
    expect(describePlan(plan)).toEqual(['nothing to do']);
  });

  it('when the only job without the SHA is the stock-image cache then it counts as in place; a PR-built job without it does not', () => {
    const rec = record({ status: 'ready', observedSha: SHA1, observedGeneration: 1, resources: { credentialsValidUntil: validUntil, githubReported: `ready:${SHA1}` } });
    expect(planEnvironment(present(SHA1), complete(SHA1), ctx(rec))).toEqual([]);
    const apiLost = complete(SHA1);
    apiLost.jobs = apiLost.jobs.map((j) => (j.id === names.jobId('api') ? { ...j, sha: null } : j));
    expect(kinds(planEnvironment(present(SHA1), apiLost, ctx(rec)))).toContain('register-job');
  });

  it('when a component failed then its re-registration carries the new generation and the others keep the one they have', () => {
    const observed = complete(SHA1);
    observed.jobs = observed.jobs.map((j) => (j.id === names.jobId('cache') ? { ...j, generation: '3' } : j));
    const rec = { ...record({ status: 'failed', observedSha: SHA1, observedGeneration: 4, resources: { failedSha: SHA1 } }), components: { api: 'failed', cache: 'healthy' } };
    const plan = planEnvironment(present(SHA1, 5), observed, ctx(rec));
    const registers = plan.filter((s): s is Extract<Step, { kind: 'register-job' }> => s.kind === 'register-job');
    expect(Object.fromEntries(registers.map((r) => [r.component, r.generation]))).toEqual({ cache: '3', api: '5', worker: null, frontend: null });
  });

  it('when the environment is ready but GitHub missed the news then nothing is planned (the projection tells GitHub)', () => {
    const plan = planEnvironment(present(SHA1), complete(SHA1), ctx(record({ status: 'ready', observedSha: SHA1, observedGeneration: 1, resources: { credentialsValidUntil: validUntil } })));
    expect(plan).toEqual([]);
  });

  it('when the login is past half its lifetime then it is renewed keeping the password, and nothing else changes', () => {
    const soon = new Date(NOW.getTime() + config.credentialTtl / 4).toISOString();
    const plan = planEnvironment(present(SHA1), complete(SHA1), ctx(record({ status: 'ready', observedSha: SHA1, observedGeneration: 1, resources: { credentialsValidUntil: soon, githubReported: `ready:${SHA1}` } })));
    expect(plan).toEqual([
      { kind: 'ensure-credentials', role: names.role, database: names.database, path: names.vaultPath, keepPassword: true },
    ]);
  });

  it('when a redeploy is requested (newer generation) then the same SHA is deployed again', () => {
    const plan = planEnvironment(present(SHA1, 5), complete(SHA1), ctx(record({ status: 'ready', observedSha: SHA1, observedGeneration: 4, resources: { credentialsValidUntil: validUntil, githubReported: `ready:${SHA1}` } })));
    expect(kinds(plan)).toContain('register-job');
    expect(kinds(plan)).toContain('watch-deployment');
  });

  describe('when a previous reconcile crashed part way', () => {
    const base = record({ status: 'provisioning', observedGeneration: 0 });
    const cases: { name: string; observed: ObservedEnvironment; absentKinds: string[]; keepPassword: boolean; enforce: number[] }[] = [
      { name: 'after the database', observed: { ...EMPTY_OBSERVED, database: { owned: true } }, absentKinds: ['ensure-database'], keepPassword: false, enforce: [0, 0, 0, 0] },
      {
        name: 'after the login role',
        observed: { ...EMPTY_OBSERVED, database: { owned: true }, role: { owned: true } },
        absentKinds: ['ensure-database'],
        keepPassword: false,
        enforce: [0, 0, 0, 0],
      },
      {
        name: 'after the secret',
        observed: { ...EMPTY_OBSERVED, database: { owned: true }, role: { owned: true }, secret: { owned: true, hasData: true } },
        absentKinds: ['ensure-database'],
        keepPassword: true,
        enforce: [0, 0, 0, 0],
      },
      {
        name: 'after policy and role',
        observed: { ...complete(SHA1), jobs: [], services: [] },
        absentKinds: ['ensure-database', 'ensure-policy', 'ensure-jwt-role'],
        keepPassword: true,
        enforce: [0, 0, 0, 0],
      },
      {
        name: 'after the first job wave',
        observed: { ...complete(SHA1), jobs: complete(SHA1).jobs.slice(0, 1), services: [] },
        absentKinds: ['ensure-database', 'ensure-policy', 'ensure-jwt-role'],
        keepPassword: true,
        enforce: [10, 0, 0, 0],
      },
      {
        name: 'after all jobs but before the report',
        observed: complete(SHA1),
        absentKinds: ['ensure-database', 'ensure-policy', 'ensure-jwt-role'],
        keepPassword: true,
        enforce: [10, 11, 12, 13],
      },
    ];
    for (const c of cases) {
      it(`when it stopped ${c.name} then the plan redoes only what is missing and keeps what exists`, () => {
        const plan = planEnvironment(present(SHA1), c.observed, ctx(base));
        for (const k of c.absentKinds) expect(kinds(plan)).not.toContain(k);
        expect(plan.find((s) => s.kind === 'ensure-credentials')).toMatchObject({ keepPassword: c.keepPassword });
        expect((plan.filter((s) => s.kind === 'register-job') as { enforceIndex: number }[]).map((s) => s.enforceIndex)).toEqual(c.enforce);
      });
    }
  });

  it('when a job with our ID lacks our marker then the plan refuses and does nothing else', () => {
    const observed: ObservedEnvironment = { ...EMPTY_OBSERVED, jobs: [{ id: names.jobId('api'), owned: false, stop: false, status: 'running', jobModifyIndex: 3, sha: null, generation: null }] };
    const plan = planEnvironment(present(SHA1), observed, ctx(record()));
    expect(plan).toEqual([{ kind: 'refuse', target: `nomad job ${names.jobId('api')}`, reason: expect.any(String), fatal: true }]);
  });

  it('when the database, policy or role exist without our marker then each is refused', () => {
    const observed: ObservedEnvironment = { ...EMPTY_OBSERVED, database: { owned: false }, policy: { owned: false, upToDate: false }, jwtRole: { owned: false, jobIds: [] } };
    const plan = planEnvironment(present(SHA1), observed, ctx(record()));
    expect(plan.every((s) => s.kind === 'refuse' && s.fatal)).toBe(true);
    expect(plan.map((s) => (s as { target: string }).target)).toEqual([`database ${names.database}`, `vault policy ${names.vaultPolicy}`, `vault role ${names.vaultRole}`]);
  });

  it('when a deploy failed permanently at this SHA then nothing is retried until a push or redeploy', () => {
    const failed = record({ status: 'failed', observedGeneration: 1, resources: { failedSha: SHA1 } });
    expect(planEnvironment(present(SHA1, 1), complete(SHA1), ctx(failed))).toEqual([]);
    expect(kinds(planEnvironment(present(SHA1, 2), complete(SHA1), ctx(failed)))).toContain('register-job');
    expect(kinds(planEnvironment(present(SHA2, 2), complete(SHA1), ctx(failed)))).toContain('register-job');
  });

  it('when the PR closes then every owned resource is removed, jobs first, services last', () => {
    const plan = planEnvironment(absent(), complete(SHA1), ctx(record({ status: 'ready', githubDeploymentId: 7, resources: { githubReported: `ready:${SHA1}` } }), []));
    expect(kinds(plan)).toEqual([
      'stop-job',
      'stop-job',
      'stop-job',
      'stop-job',
      'drop-database',
      'drop-role',
      'destroy-secret',
      'delete-policy',
      'delete-jwt-role',
      'deregister-services',
    ]);
    expect(plan.find((s) => s.kind === 'deregister-services')).toMatchObject({ serviceNames: [...jobIds].sort() });
  });

  it('when tearing down next to foreign objects then ours go and theirs are skipped, never deleted', () => {
    const observed: ObservedEnvironment = {
      ...complete(SHA1),
      database: { owned: false },
      jobs: [
        { id: names.jobId('api'), owned: true, stop: false, status: 'running', jobModifyIndex: 1, sha: SHA1, generation: null },
        { id: names.jobId('frontend'), owned: false, stop: false, status: 'running', jobModifyIndex: 2, sha: null, generation: null },
      ],
    };
    const plan = planEnvironment(absent(), observed, ctx(record({ status: 'ready' }), []));
    expect(plan.filter((s) => s.kind === 'stop-job')).toEqual([{ kind: 'stop-job', jobId: names.jobId('api') }]);
    expect(kinds(plan)).not.toContain('drop-database');
    const skipped = plan.filter((s) => s.kind === 'refuse');
    expect(skipped.every((s) => s.kind === 'refuse' && !s.fatal)).toBe(true);
    expect(skipped.map((s) => (s as { target: string }).target)).toEqual([`nomad job ${names.jobId('frontend')}`, `database ${names.database}`]);
  });

  it('when only leftovers of a crashed teardown remain then only those are removed', () => {
    const observed: ObservedEnvironment = { ...EMPTY_OBSERVED, role: { owned: true }, jwtRole: { owned: true, jobIds } };
    const plan = planEnvironment(absent(), observed, ctx(record({ status: 'tearing_down', resources: { githubReported: 'removed' } }), []));
    expect(kinds(plan)).toEqual(['drop-role', 'delete-jwt-role']);
  });

  it('when a PR closes before anything of it existed then nothing is planned', () => {
    expect(planEnvironment(absent(), EMPTY_OBSERVED, ctx(record({ status: 'pending', githubDeploymentId: null }), []))).toEqual([]);
  });

  it('when the environment is already removed and nothing is left then there is nothing to do', () => {
    const plan = planEnvironment(absent(), EMPTY_OBSERVED, ctx(record({ status: 'removed', githubDeploymentId: 9, resources: { githubReported: 'removed' } }), []));
    expect(plan).toEqual([]);
  });

  it('when a stopped-but-not-purged job of ours remains then teardown purges it', () => {
    const observed: ObservedEnvironment = { ...EMPTY_OBSERVED, jobs: [{ id: names.jobId('worker'), owned: true, stop: true, status: 'dead', jobModifyIndex: 5, sha: SHA1, generation: null }] };
    expect(kinds(planEnvironment(absent(), observed, ctx(null, [])))).toEqual(['stop-job', 'deregister-services']);
  });

  it('when describing a plan then each step is one line and no line carries a password-like value', () => {
    const lines = describePlan(planEnvironment(present(SHA1), EMPTY_OBSERVED, ctx(record())));
    expect(lines.length).toBeGreaterThan(10);
    expect(lines[0]).toMatch(/^1\. create database /);
    expect(lines.some((l) => l.includes(`create database ${names.database} from template shop_template (WAL_LOG)`))).toBe(true);
    expect(lines.join('\n')).not.toMatch(/postgres:\/\/|password=/i);
  });
});

describe('dependencyWaves', () => {
  it('when components depend on each other in a cycle then it is a UserError', () => {
    const cyclic = [component('api', ['frontend'], true), component('frontend', ['api'], true)];
    expect(() => dependencyWaves(cyclic)).toThrow(UserError);
  });
});

// reconcileEnvironment against small in-memory fakes of every interface: the loop's
// logic (status, events, GitHub reporting, failures, secrets) without any server.
import { Writable } from 'node:stream';
import pino from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import { buildConfig } from '../config/load.js';
import type { ConsulClient, ConsulServiceInstance } from '../consul/types.js';
import type { PreviewDatabases } from '../database/types.js';
import type { Deps } from '../deps.js';
import { createMetrics } from '../metrics.js';
import { OwnershipError, TransientError, UserError } from '../errors.js';
import { nomadError } from '../nomad/client.js';
import type { DeploymentState, GitHubClient } from '../github/types.js';
import type { NomadClient, NomadDeployment, NomadJob, NomadJobState, NomadJobVersion } from '../nomad/types.js';
import type { KvSecret, VaultClient } from '../vault/types.js';
import type { RegistryClient } from '../registry/client.js';
import type { EnvironmentRenderer, RenderedJob } from './renderer.js';
import { environmentNames, type EnvironmentKey } from './naming.js';
import { reconcileEnvironment } from './reconcile.js';
import type { EnvironmentEvent, EnvironmentRecord, EnvironmentStatus, EnvironmentStore } from './types.js';

const config = buildConfig(
  { instance: 'unit', deployTimeout: '2s', repos: [{ name: 'acme/shop' }] },
  {
    VAULT_TOKEN: 'hvs.unit-root-token-value',
    DATABASE_URL: 'postgres://postgres:admin-db-pass@db.internal:5432/previewd',
    GITHUB_WEBHOOK_SECRET: 'unit-webhook-secret-value',
    GITHUB_TOKEN: 'ghp_unit_token_value',
    PREVIEWD_ADMIN_TOKEN: 'unit-admin-token-value',
  },
);
const key: EnvironmentKey = { repo: 'acme/shop', pr: 7 };
const names = environmentNames(config, key);
const SHA1 = '1'.repeat(40);
const SHA2 = '2'.repeat(40);

interface Fakes {
  deps: Deps;
  jobs: Map<string, NomadJobState & { spec: NomadJob }>;
  failJob: Set<string>;
  /** Jobs whose next registered version fails and is auto-reverted at once to the previous spec. */
  revertJob: Set<string>;
  /** Jobs that get a newer, different version registered right after ours (a stale run). */
  supersedeJob: Set<string>;
  dbs: Map<string, string>;
  roles: Map<string, { password: string; validUntil: Date }>;
  secrets: Map<string, KvSecret>;
  policies: Map<string, string>;
  jwtRoles: Map<string, Record<string, unknown>>;
  deployments: { id: number; sha: string; states: DeploymentState[] }[];
  comments: Map<number, string>;
  statuses: { sha: string; state: string }[];
  githubDown: { value: boolean };
  events: EnvironmentEvent[];
  records: Map<string, EnvironmentRecord>;
  logs: string[];
}

function makeFakes(): Fakes {
  const jobs = new Map<string, NomadJobState & { spec: NomadJob }>();
  const failJob = new Set<string>();
  const revertJob = new Set<string>();
  const supersedeJob = new Set<string>();
  const versions = new Map<string, NomadJobVersion[]>();
  let index = 1;
  const nomad: NomadClient = {
    async parseJob(hcl) {
      return JSON.parse(hcl) as NomadJob;
    },
    async registerJob(job, options) {
      const current = jobs.get(job.ID);
      if (options?.enforceIndex !== undefined && (current?.jobModifyIndex ?? 0) !== options.enforceIndex) throw new Error('conflict not expected in these tests');
      index += 1;
      const registered = index;
      const put = (spec: NomadJob) => {
        const version = (jobs.get(job.ID)?.version ?? -1) + 1;
        jobs.set(job.ID, { id: job.ID, status: 'running', stop: false, meta: spec.Meta ?? {}, jobModifyIndex: index, version, spec });
        versions.set(job.ID, [{ version, jobModifyIndex: index, stable: false, meta: spec.Meta ?? {} }, ...(versions.get(job.ID) ?? [])]);
      };
      put(job);
      if (supersedeJob.has(job.ID)) {
        // Another run of this PR registered a newer spec right after ours.
        index += 1;
        put({ ...job, Meta: { ...(job.Meta ?? {}), 'previewd.sha': 'f'.repeat(40) } });
      } else if (current && revertJob.has(job.ID)) {
        // auto_revert: the new version failed, Nomad registered the previous spec as the next version.
        index += 1;
        put(current.spec);
      }
      return { evalId: 'e', jobModifyIndex: registered, warnings: '' };
    },
    async getAllocation() {
      return null;
    },
    async getJob(id) {
      const j = jobs.get(id);
      return j ? { ...j } : null;
    },
    async listJobs(o) {
      return [...jobs.values()].filter((j) => !o?.prefix || j.id.startsWith(o.prefix));
    },
    async stopJob(id) {
      jobs.delete(id);
    },
    async getLatestDeployment(jobId) {
      const j = jobs.get(jobId);
      if (!j) return { deployment: null, index };
      const failed = failJob.has(jobId);
      const deployment: NomadDeployment = {
        id: `d-${jobId}`,
        jobId,
        jobVersion: j.version,
        status: failed ? 'failed' : 'successful',
        statusDescription: failed ? 'Failed due to unhealthy allocations' : 'Deployment completed successfully',
        modifyIndex: index,
      };
      return { deployment, index };
    },
    async listJobVersions(jobId) {
      return versions.get(jobId) ?? [];
    },
    async listAllocations(jobId) {
      const j = jobs.get(jobId)!;
      return [
        {
          id: 'alloc-1234567890',
          taskGroup: 'g',
          jobVersion: j.version,
          clientStatus: 'failed',
          desiredStatus: 'run',
          healthy: false,
          tasks: { main: { state: 'dead', failed: true, events: [{ type: 'Driver Failure', message: 'image not found', time: 1 }] } },
        },
      ];
    },
    async ping() {},
  };
  const instancesOf = (name: string): ConsulServiceInstance[] => {
    const j = jobs.get(name);
    if (!j) return [];
    const host = (j.spec.Meta ?? {})['test.host'];
    const tags = host ? ['traefik.enable=true', `traefik.http.routers.${name}.rule=Host(\`${host}\`)`] : [];
    return [{ node: 'n1', serviceId: `_nomad-task-${name}`, serviceName: name, tags, meta: { 'external-source': 'nomad', previewd_managed_by: 'unit' }, nodeAddress: '10.0.0.1', address: '10.0.0.1', port: 2000, status: 'passing' }];
  };
  const consul: ConsulClient = {
    async healthService(name) {
      return { instances: instancesOf(name), index: 5 };
    },
    async listServices() {
      return {};
    },
    async listServiceInstances(name) {
      return instancesOf(name);
    },
    async listNodes() {
      return [];
    },
    async listNodeServices() {
      return [];
    },
    async deregisterService() {},
    async deregisterFromAgent() {
      return 'absent' as const;
    },
    async nodeRunsAgent() {
      return true;
    },
    async tokenSelf() {
      return null;
    },
    async ping() {},
  };
  const secrets = new Map<string, KvSecret>();
  const policies = new Map<string, string>();
  const jwtRoles = new Map<string, Record<string, unknown>>();
  const vault: VaultClient = {
    async readSecret(path) {
      return secrets.get(path) ?? null;
    },
    async readSecretMetadata(path) {
      const s = secrets.get(path);
      return s ? { customMetadata: s.customMetadata, currentVersion: s.version } : null;
    },
    async writeSecret(path, data, o) {
      secrets.set(path, { data, customMetadata: o.customMetadata, version: (secrets.get(path)?.version ?? 0) + 1 });
    },
    async destroySecret(path) {
      secrets.delete(path);
    },
    async listSecrets() {
      return [];
    },
    getPolicy: async (n) => policies.get(n) ?? null,
    putPolicy: async (n, t) => void policies.set(n, t),
    deletePolicy: async (n) => void policies.delete(n),
    listPolicies: async () => [...policies.keys()],
    getJwtRole: async (n) => jwtRoles.get(n) ?? null,
    putJwtRole: async (n, r) => void jwtRoles.set(n, r),
    deleteJwtRole: async (n) => void jwtRoles.delete(n),
    listJwtRoles: async () => [...jwtRoles.keys()],
    async ping() {},
  };
  const dbs = new Map<string, string>();
  const roles = new Map<string, { password: string; validUntil: Date }>();
  const databases: PreviewDatabases = {
    getDatabase: async (n) => (dbs.has(n) ? { name: n, owned: true, envId: dbs.get(n)! } : null),
    getRole: async (n) => (roles.has(n) ? { name: n, owned: true, envId: names.id } : null),
    listOwnedDatabases: async () => [],
    listOwnedRoles: async () => [],
    async ensureDatabase(n, envId) {
      if (dbs.has(n)) return 'exists';
      dbs.set(n, envId);
      return 'created';
    },
    refillWarmPools: async () => [],
    async ensureLoginRole(role, _envId, _db, password, validUntil) {
      roles.set(role, { password, validUntil });
    },
    dropDatabase: async (n) => void dbs.delete(n),
    dropRole: async (n) => void roles.delete(n),
    async ping() {},
    async close() {},
  };
  const deployments: Fakes['deployments'] = [];
  const comments = new Map<number, string>();
  const statuses: Fakes['statuses'] = [];
  const githubDown = { value: false };
  const gh = <T>(fn: () => T): Promise<T> => (githubDown.value ? Promise.reject(new TransientError('github down', { system: 'github' })) : Promise.resolve(fn()));
  let nextId = 100;
  const github: GitHubClient = {
    createDeployment: (_r, input) =>
      gh(() => {
        const d = { id: (nextId += 1), sha: input.ref, states: [] as DeploymentState[] };
        deployments.push(d);
        return { id: d.id, sha: d.sha, environment: input.environment, createdAt: '' };
      }),
    listDeployments: (_r, o) =>
      gh(() =>
        deployments
          .filter((d) => !o.sha || d.sha === o.sha)
          .reverse()
          .map((d) => ({ id: d.id, sha: d.sha, environment: o.environment, createdAt: '' })),
      ),
    createDeploymentStatus: (_r, id, input) => gh(() => void deployments.find((d) => d.id === id)!.states.push(input.state)),
    getLatestDeploymentState: (_r, id) => gh(() => deployments.find((d) => d.id === id)?.states.at(-1) ?? null),
    createCommitStatus: (_r, sha, input) => gh(() => void statuses.push({ sha, state: input.state })),
    findComment: (_r, _pr, marker) => gh(() => [...comments].map(([id, body]) => ({ id, body })).find((c) => c.body.includes(marker)) ?? null),
    findComments: (_r, _pr, marker) => gh(() => [...comments].map(([id, body]) => ({ id, body })).filter((c) => c.body.includes(marker))),
    deleteComment: (_r, id) => gh(() => void comments.delete(id)),
    createComment: (_r, _pr, body) =>
      gh(() => {
        const id = (nextId += 1);
        comments.set(id, body);
        return { id };
      }),
    updateComment: (_r, id, body) => gh(() => (comments.has(id) ? (comments.set(id, body), true) : false)),
    listOpenPulls: async () => ({ pulls: [], notModified: false }),
    getPull: async () => null,
    listCheckRuns: async () => [],
    listCommitStatuses: async () => [],
    getPermission: async () => 'none',
    createReaction: async () => undefined,
    addLabels: async () => undefined,
    deleteEnvironment: async () => 'deleted',
  };
  // No build gate is configured here: the registry must never be asked.
  const registry: RegistryClient = {
    probe: async () => {
      throw new Error('registry probed without a build gate');
    },
    checkAccess: async () => {
      throw new Error('registry probed without a build gate');
    },
  };
  const records = new Map<string, EnvironmentRecord>();
  const events: EnvironmentEvent[] = [];
  const store: EnvironmentStore = {
    async migrate() {},
    async countByStatus() {
      const counts: Partial<Record<EnvironmentStatus, number>> = {};
      for (const r of records.values()) counts[r.status] = (counts[r.status] ?? 0) + 1;
      return counts;
    },
    async recordDesired(k, input) {
      const id = `${k.repo}#${k.pr}`;
      const now = new Date();
      const existing = records.get(id);
      const generation = (existing?.desiredGeneration ?? 0) + 1;
      records.set(id, {
        key: k,
        envId: names.id,
        desiredPresent: input.present,
        desiredSha: input.sha,
        desiredReason: input.reason,
        desiredGeneration: generation,
        observedGeneration: existing?.observedGeneration ?? 0,
        prUpdatedAt: input.prUpdatedAt,
        labels: [],
        title: input.title ?? existing?.title ?? null,
        branch: input.branch ?? existing?.branch ?? null,
        status: existing?.status ?? 'pending',
        observedSha: existing?.observedSha ?? null,
        lastError: existing?.lastError ?? null,
        components: existing?.components ?? {},
        resources: existing?.resources ?? {},
        githubDeploymentId: existing?.githubDeploymentId ?? null,
        githubCommentId: existing?.githubCommentId ?? null,
        lastPushAt: now,
        readyAt: existing?.readyAt ?? null,
        createdAt: existing?.createdAt ?? now,
        updatedAt: now,
      });
      return { accepted: true, generation };
    },
    async requestReconcile() {
      return null;
    },
    async recordTeardown(k, input) {
      const r = records.get(`${k.repo}#${k.pr}`);
      if (!r || r.desiredGeneration !== input.expectedGeneration) return { accepted: false, generation: r?.desiredGeneration ?? 0 };
      records.set(`${k.repo}#${k.pr}`, { ...r, desiredPresent: false, desiredReason: input.reason, desiredGeneration: r.desiredGeneration + 1 });
      return { accepted: true, generation: r.desiredGeneration + 1 };
    },
    claimHosts: async () => [],
    async releaseHosts() {},
    get: async (k) => structuredClone(records.get(`${k.repo}#${k.pr}`) ?? null),
    list: async () => [...records.values()],
    listAwaitingBuild: async () => [],
    listLagging: async () => [...records.values()].filter((r) => r.observedGeneration < r.desiredGeneration).map((record) => ({ record, parkedRetries: 0 })),
    async updateObserved(k, patch) {
      const r = records.get(`${k.repo}#${k.pr}`)!;
      records.set(`${k.repo}#${k.pr}`, { ...r, ...structuredClone(patch) });
    },
    async appendEvent(_k, e) {
      events.push({ id: events.length + 1, at: new Date(), type: e.type, message: e.message, data: e.data ?? {} });
    },
    listEvents: async () => [...events],
    pruneEvents: async () => 0,
    // Fencing is the real store's (test/fence.test.ts); reconcile never asks for it.
    fenceOf: async () => 0,
    async close() {},
  };
  const logs: string[] = [];
  const log = pino({ level: 'debug' }, new Writable({ write: (c, _e, done) => (logs.push(String(c)), done()) }));
  const deps: Deps = { config, log, clock: { now: () => new Date(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)) }, nomad, consul, vault, github, registry, databases, store, metrics: createMetrics(), renderer };
  return { deps, jobs, failJob, revertJob, supersedeJob, dbs, roles, secrets, policies, jwtRoles, deployments, comments, statuses, githubDown, events, records, logs };
}

/** Jobs as JSON "HCL" (the fake parseJob reads JSON), carrying the real ownership meta. */
const renderer: EnvironmentRenderer = {
  async render(_config, k, sha): Promise<RenderedJob[]> {
    const spec = (component: string, dependsOn: string[], routable: boolean): RenderedJob => {
      const host = routable ? names.host(component) : null;
      const meta: Record<string, string> = { 'previewd.managed-by': config.instance, 'previewd.env': names.id, 'previewd.sha': sha };
      if (host) meta['test.host'] = host;
      return {
        component,
        jobId: names.jobId(component),
        serviceName: names.serviceName(component),
        hcl: JSON.stringify({ ID: names.jobId(component), Meta: meta }),
        builtFromPr: true,
        image: `ghcr.io/acme/${component}:${sha}`,
        dependsOn,
        routable,
        host,
        url: routable ? names.url(component) : null,
      };
    };
    void k;
    return [spec('cache', [], false), spec('api', ['cache'], true), spec('frontend', ['api'], true)];
  },
  async secretData(_config, _k, _sha, databaseUrl) {
    return { PREVIEW_ID: names.id, DATABASE_URL: databaseUrl };
  },
};

describe('reconcileEnvironment (in-memory fakes)', () => {
  let f: Fakes;
  beforeEach(() => {
    f = makeFakes();
  });
  const run = () => reconcileEnvironment(f.deps, key);

  it('when a PR opens then every layer exists, the record is ready and GitHub shows success with one comment', async () => {
    await f.deps.store.recordDesired(key, { present: true, sha: SHA1, reason: 'opened', prUpdatedAt: new Date() });
    const result = await run();
    expect(result.status).toBe('ready');
    const rec = f.records.get('acme/shop#7')!;
    expect(rec.status).toBe('ready');
    expect(rec.observedSha).toBe(SHA1);
    expect(rec.components).toEqual({ cache: 'healthy', api: 'healthy', frontend: 'healthy' });
    expect([...f.jobs.keys()].sort()).toEqual([names.jobId('api'), names.jobId('cache'), names.jobId('frontend')]);
    expect(f.dbs.has(names.database)).toBe(true);
    expect(f.secrets.get(names.vaultPath)?.data.DATABASE_URL).toMatch(/^postgres:\/\/.+@db\.internal:5432\//);
    expect(f.policies.get(names.vaultPolicy)).toContain(`secret/data/${names.vaultPath}`);
    expect(f.deployments).toHaveLength(1);
    expect(f.deployments[0]!.states).toEqual(['queued', 'in_progress', 'success']);
    expect(f.comments.size).toBe(1);
    expect(f.statuses.at(-1)).toEqual({ sha: SHA1, state: 'success' });
  });

  it('when the run is told to stop (lost PR lock) then no step starts and the failure is transient', async () => {
    await f.deps.store.recordDesired(key, { present: true, sha: SHA1, reason: 'opened', prUpdatedAt: new Date() });
    const stop = new AbortController();
    stop.abort();
    await expect(reconcileEnvironment(f.deps, key, { signal: stop.signal })).rejects.toThrow(TransientError);
    expect(f.dbs.size).toBe(0);
    expect(f.jobs.size).toBe(0);
    expect(f.deployments).toHaveLength(0);
  });

  it('when reconciled again with nothing changed then nothing is applied and the password is unchanged', async () => {
    await f.deps.store.recordDesired(key, { present: true, sha: SHA1, reason: 'opened', prUpdatedAt: new Date() });
    await run();
    const password = f.roles.get(names.role)!.password;
    const versions = f.secrets.get(names.vaultPath)!.version;
    const again = await run();
    expect(again.plan).toEqual([]);
    expect(f.roles.get(names.role)!.password).toBe(password);
    expect(f.secrets.get(names.vaultPath)!.version).toBe(versions);
  });

  it('when a new SHA is pushed then the old deployment goes inactive, the comment is edited and the password kept', async () => {
    await f.deps.store.recordDesired(key, { present: true, sha: SHA1, reason: 'opened', prUpdatedAt: new Date() });
    await run();
    const password = f.roles.get(names.role)!.password;
    await f.deps.store.recordDesired(key, { present: true, sha: SHA2, reason: 'synchronize', prUpdatedAt: new Date() });
    await run();
    expect(f.deployments.map((d) => d.states.at(-1))).toEqual(['inactive', 'success']);
    expect(f.comments.size).toBe(1);
    expect([...f.comments.values()][0]).toContain('`2222222`');
    expect(f.roles.get(names.role)!.password).toBe(password);
    expect(f.jobs.get(names.jobId('api'))!.meta['previewd.sha']).toBe(SHA2);
  });

  it('when a deployment fails then the environment is failed with the task event, reported, and not retried at that SHA', async () => {
    await f.deps.store.recordDesired(key, { present: true, sha: SHA1, reason: 'opened', prUpdatedAt: new Date() });
    f.failJob.add(names.jobId('api'));
    await expect(run()).rejects.toThrow(UserError);
    const rec = f.records.get('acme/shop#7')!;
    expect(rec.status).toBe('failed');
    expect(rec.lastError).toContain('Driver Failure: image not found');
    expect(f.deployments[0]!.states.at(-1)).toBe('failure');
    expect(f.statuses.at(-1)?.state).toBe('failure');
    expect([...f.comments.values()][0]).toContain('image not found');
    // A second delivery of the same work does nothing until a push or redeploy.
    const again = await run();
    expect(again.plan).toEqual([]);
  });

  it('when a push is auto-reverted by Nomad then the environment is failed naming both versions, not ready on the rollback', async () => {
    await f.deps.store.recordDesired(key, { present: true, sha: SHA1, reason: 'opened', prUpdatedAt: new Date() });
    await run();
    f.revertJob.add(names.jobId('api'));
    await f.deps.store.recordDesired(key, { present: true, sha: SHA2, reason: 'synchronize', prUpdatedAt: new Date(Date.now() + 1000) });
    await expect(run()).rejects.toThrow(UserError);
    const rec = f.records.get('acme/shop#7')!;
    expect(rec.status).toBe('failed');
    expect(rec.components.api).toBe('failed');
    // Registered version 1 (SHA2); Nomad runs version 2, a copy of version 0.
    expect(rec.lastError).toContain(`deployment of ${names.jobId('api')} version 1 failed and Nomad rolled it back to version 0 (as version 2, auto_revert)`);
    expect(f.statuses.at(-1)).toEqual({ sha: SHA2, state: 'failure' });
  });

  it('when a newer version not equal to an earlier one replaces ours while it deploys then the run is stale: transient, not a failure', async () => {
    await f.deps.store.recordDesired(key, { present: true, sha: SHA1, reason: 'opened', prUpdatedAt: new Date() });
    f.supersedeJob.add(names.jobId('api'));
    await expect(run()).rejects.toThrow(TransientError);
    const rec = f.records.get('acme/shop#7')!;
    expect(rec.status).not.toBe('failed');
    expect(rec.components.api).not.toBe('failed');
  });

  it('when Nomad answers with internal addresses then the PR is told only the system and status, the admin record keeps the detail', async () => {
    await f.deps.store.recordDesired(key, { present: true, sha: SHA1, reason: 'opened', prUpdatedAt: new Date() });
    f.deps.nomad.registerJob = async () => {
      throw nomadError('register job', 503, 'rpc error: failed to get conn: dial tcp 10.20.30.40:4647: connect: connection refused (nomad-3.prod.internal)');
    };
    await expect(run()).rejects.toThrow(TransientError);
    const comment = [...f.comments.values()][0]!;
    expect(comment).toContain('Nomad unavailable (HTTP 503)');
    expect(comment).not.toMatch(/10\.20\.30\.40|prod\.internal|dial tcp/);
    const rec = f.records.get('acme/shop#7')!;
    expect(rec.status).toBe('degraded');
    expect(rec.lastError).toContain('dial tcp 10.20.30.40:4647');
  });

  it('when Nomad rejects a job with a body naming internal hosts then the statuses and comment name only the system and status', async () => {
    await f.deps.store.recordDesired(key, { present: true, sha: SHA1, reason: 'opened', prUpdatedAt: new Date() });
    f.deps.nomad.registerJob = async () => {
      throw nomadError('register job', 500, '1 error occurred: * group "api": image registry.prod.internal:5000 unreachable from 10.20.30.40');
    };
    const descriptions: string[] = [];
    const { createCommitStatus, createDeploymentStatus } = f.deps.github;
    f.deps.github.createCommitStatus = (repo, sha, input) => (descriptions.push(input.description), createCommitStatus(repo, sha, input));
    f.deps.github.createDeploymentStatus = (repo, id, input) => (descriptions.push(input.description), createDeploymentStatus(repo, id, input));
    await expect(run()).rejects.toThrow(UserError);
    expect(descriptions.some((d) => d.includes('Nomad rejected the request (HTTP 500)'))).toBe(true);
    const published = [...f.comments.values(), ...descriptions].join('\n');
    expect(published).toContain('Nomad rejected the request (HTTP 500)');
    expect(published).not.toMatch(/10\.20\.30\.40|prod\.internal/);
    expect(f.records.get('acme/shop#7')!.lastError).toContain('registry.prod.internal:5000');
  });

  it('when GitHub answers 422 No ref found then the environment is served and the failure is permanent, not retried', async () => {
    await f.deps.store.recordDesired(key, { present: true, sha: SHA1, reason: 'opened', prUpdatedAt: new Date() });
    f.deps.github.createDeployment = async () => {
      throw new UserError(`github create deployment in acme/shop: 422 No ref found for: ${SHA1}`, { system: 'github', status: 422 });
    };
    const err = await run().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toContain('No ref found');
    const rec = f.records.get('acme/shop#7')!;
    expect(rec.status).toBe('ready');
    expect(rec.lastError).toMatch(/^GitHub not up to date: deployment: .*No ref found/);
  });

  it('when one GitHub call fails for good and another only for now then the reconcile is retried', async () => {
    await f.deps.store.recordDesired(key, { present: true, sha: SHA1, reason: 'opened', prUpdatedAt: new Date() });
    f.deps.github.createDeployment = async () => {
      throw new UserError('github create deployment in acme/shop: 422 No ref found', { system: 'github', status: 422 });
    };
    f.deps.github.createCommitStatus = async () => {
      throw new TransientError('github create commit status: 502 Server Error', { system: 'github', status: 502 });
    };
    await expect(run()).rejects.toThrow(TransientError);
  });

  it('when GitHub is down then provisioning completes, the error is transient, and the next run reports', async () => {
    await f.deps.store.recordDesired(key, { present: true, sha: SHA1, reason: 'opened', prUpdatedAt: new Date() });
    f.githubDown.value = true;
    await expect(run()).rejects.toThrow(TransientError);
    expect(f.records.get('acme/shop#7')!.status).toBe('ready');
    expect(f.records.get('acme/shop#7')!.lastError).toMatch(/^GitHub not up to date/);
    expect(f.jobs.size).toBe(3);
    f.githubDown.value = false;
    const next = await run();
    expect(f.records.get('acme/shop#7')!.lastError).toBeNull();
    // Nothing left for the cluster: only GitHub is brought to the projection (ready).
    expect(next.plan).toEqual([]);
    expect(f.deployments).toHaveLength(1);
    expect(f.deployments[0]!.states.at(-1)).toBe('success');
    expect(f.comments.size).toBe(1);
    expect(f.statuses.at(-1)).toEqual({ sha: SHA1, state: 'success' });
    // Recorded as shown: a further run tells GitHub nothing again.
    const told = { states: f.deployments[0]!.states.length, statuses: f.statuses.length };
    await run();
    expect({ states: f.deployments[0]!.states.length, statuses: f.statuses.length }).toEqual(told);
  });

  it('when a redeploy at a SHA already shown ready cannot tell GitHub it is ready then the retry does, not leaving it "deploying"', async () => {
    await f.deps.store.recordDesired(key, { present: true, sha: SHA1, reason: 'opened', prUpdatedAt: new Date() });
    await run();
    await f.deps.store.recordDesired(key, { present: true, sha: SHA1, reason: 'redeploy', prUpdatedAt: new Date() });
    const { createCommitStatus } = f.deps.github;
    f.deps.github.createCommitStatus = (repo, sha, input) =>
      input.state === 'success' ? Promise.reject(new TransientError('github create commit status: 502', { system: 'github', status: 502 })) : createCommitStatus(repo, sha, input);
    await expect(run()).rejects.toThrow(TransientError);
    expect(f.statuses.at(-1)).toEqual({ sha: SHA1, state: 'pending' });
    f.deps.github.createCommitStatus = createCommitStatus;
    await run();
    expect(f.statuses.at(-1)).toEqual({ sha: SHA1, state: 'success' });
    expect(f.records.get('acme/shop#7')!.lastError).toBeNull();
  });

  it('when the PR closes then everything is removed and the comment says so', async () => {
    await f.deps.store.recordDesired(key, { present: true, sha: SHA1, reason: 'opened', prUpdatedAt: new Date() });
    await run();
    await f.deps.store.recordDesired(key, { present: false, sha: null, reason: 'closed', prUpdatedAt: new Date() });
    const result = await run();
    expect(result.status).toBe('removed');
    expect(f.jobs.size).toBe(0);
    expect(f.dbs.size + f.roles.size + f.secrets.size + f.policies.size + f.jwtRoles.size).toBe(0);
    expect(f.deployments[0]!.states.at(-1)).toBe('inactive');
    expect([...f.comments.values()][0]).toContain('removed');
    expect((await run()).plan).toEqual([]);
  });

  it('when a foreign secret appears at the PR path after observing then the credentials step refuses before the login is made', async () => {
    await f.deps.store.recordDesired(key, { present: true, sha: SHA1, reason: 'opened', prUpdatedAt: new Date() });
    const { ensureDatabase } = f.deps.databases;
    f.deps.databases.ensureDatabase = async (...args) => {
      // Someone else writes our path between the observation and the credentials step.
      f.secrets.set(names.vaultPath, { data: { DATABASE_URL: 'postgres://x:y@z/w' }, customMetadata: { owner: 'someone-else' }, version: 1 });
      return ensureDatabase(...args);
    };
    await expect(run()).rejects.toThrow(OwnershipError);
    expect(f.roles.has(names.role)).toBe(false);
    expect(f.secrets.get(names.vaultPath)?.customMetadata).toEqual({ owner: 'someone-else' });
  });

  it('when anything is stored or logged then no password or daemon secret appears in it', async () => {
    await f.deps.store.recordDesired(key, { present: true, sha: SHA1, reason: 'opened', prUpdatedAt: new Date() });
    f.failJob.add(names.jobId('frontend'));
    await run().catch(() => undefined);
    const password = f.roles.get(names.role)!.password;
    const haystack = [...f.logs, JSON.stringify([...f.records.values()]), JSON.stringify(f.events), ...f.comments.values(), ...[...f.jobs.values()].map((j) => JSON.stringify(j.spec))].join('\n');
    for (const secret of [password, 'hvs.unit-root-token-value', 'unit-webhook-secret-value', 'admin-db-pass', 'ghp_unit_token_value']) {
      expect(haystack).not.toContain(secret);
    }
    expect(f.events.length).toBeGreaterThan(3);
  });
});

// GC's inventory in bulk (issue 14 §3), against the emulators and real Postgres: many
// environments' marked resources are found with list calls (Nomad jobs across pages,
// Consul services per node), Vault markers are read only for environments that are not
// live, foreign and look-alike resources are never reported, reads in flight stay within
// gc.readsInFlight, and nothing is changed by taking the inventory.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Deps } from '../src/deps.js';
import { quoteIdent, quoteLiteral } from '../src/database/sql.js';
import { renderJwtRole, renderPolicy } from '../src/environments/vault-access.js';
import { listOwnedResources } from '../src/gc/inventory.js';
import { planGc } from '../src/gc/plan.js';
import { observeGc, sweepGc } from '../src/gc/sweep.js';
import { createNomadClient } from '../src/nomad/client.js';
import { CONSUL_META, NOMAD_META, postgresComment, vaultSecretMetadata } from '../src/ownership/markers.js';
import { randomSha, type World } from '../src/sandbox/world.js';
import { startWorld, withAdminClient } from './support/pg.js';

const ENVIRONMENTS = 130; // 4 jobs each: 520 jobs, more than one page of Nomad's list (500)
const NODES = 6;
const READS_IN_FLIGHT = 3;
const COMPONENTS = ['cache', 'api', 'worker', 'frontend'];
const orphan = (pr: number) => pr % 10 === 0;
const DAY = 86_400_000;

/** Wraps a client so that the named methods' concurrency is measured (each made to take `delayMs`). */
function measured<T extends object>(client: T, methods: string[], delayMs: number): { client: T; max: () => number; calls: () => number } {
  let active = 0;
  let max = 0;
  let calls = 0;
  const wrapped = new Proxy(client, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function' || !methods.includes(String(prop))) return value;
      return async (...args: unknown[]) => {
        active++;
        calls++;
        max = Math.max(max, active);
        try {
          await new Promise((r) => setTimeout(r, delayMs));
          return await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        } finally {
          active--;
        }
      };
    },
  });
  return { client: wrapped, max: () => max, calls: () => calls };
}

describe('GC inventory in bulk (emulators + real Postgres)', () => {
  let world: World;
  let deps: Deps;
  const expected = new Set<string>();
  const liveIds = new Set<string>();
  const nodes = Array.from({ length: NODES }, (_, i) => `inv-node-${i}`);

  beforeAll(async () => {
    world = await startWorld({ config: { gc: { readsInFlight: READS_IN_FLIGHT } } });
    deps = world.deps;
    const { config } = world;
    const instance = config.instance;
    nodes.forEach((node, i) => world.cluster.ensureNode(node, `10.0.9.${i + 1}`));
    const template = await deps.nomad.parseJob(
      `job "tpl" {\n  datacenters = ["dc1"]\n  group "g" {\n    task "t" {\n      driver = "docker"\n      config {\n        image = "busybox:1"\n      }\n    }\n  }\n}\n`,
    );
    const job = (id: string, meta: Record<string, string> | null) => ({ ...structuredClone(template), ID: id, Name: id, Meta: meta }) as typeof template;

    for (let pr = 1; pr <= ENVIRONMENTS; pr++) {
      const names = world.names(pr);
      if (!orphan(pr)) {
        await world.open(pr, randomSha());
        liveIds.add(names.id);
      }
      for (const component of COMPONENTS) {
        const id = names.jobId(component);
        await deps.nomad.registerJob(job(id, { [NOMAD_META.managedBy]: instance, [NOMAD_META.env]: names.id }));
        expected.add(`nomad-job:${id}:${names.id}`);
      }
      for (const [i, component] of ['api', 'frontend'].entries()) {
        const id = `_nomad-task-${names.id}-${component}`;
        world.cluster.registerService(nodes[(pr + i) % NODES]!, {
          ID: id,
          Name: names.serviceName(component),
          Tags: [],
          Meta: { [CONSUL_META.managedBy]: instance, [CONSUL_META.env]: names.id },
          Port: 20_000 + pr,
          Address: '',
          Checks: [],
        });
        expected.add(`consul-service:${id}:${names.id}`);
      }
      await deps.vault.writeSecret(names.vaultPath, { DATABASE_URL: 'postgres://seeded' }, { customMetadata: vaultSecretMetadata(instance, names.id), deleteVersionAfterMs: DAY });
      await deps.vault.putPolicy(names.vaultPolicy, renderPolicy(config, names));
      await deps.vault.putJwtRole(names.vaultRole, renderJwtRole(config, names, COMPONENTS.map((c) => names.jobId(c))));
      // Only an orphan's Vault objects are read (and reported); a live environment's are left unread.
      if (orphan(pr)) for (const [kind, name] of [['vault-secret', names.vaultPath], ['vault-policy', names.vaultPolicy], ['vault-jwt-role', names.vaultRole]]) expected.add(`${kind}:${name}:${names.id}`);
      await withAdminClient(async (c) => {
        await c.query(`CREATE ROLE ${quoteIdent(names.role)} NOLOGIN`);
        await c.query(`COMMENT ON ROLE ${quoteIdent(names.role)} IS ${quoteLiteral(postgresComment(instance, names.id))}`);
      });
      expected.add(`database-role:${names.role}:${names.id}`);
    }

    // Foreign and look-alike resources: none may be reported, let alone touched.
    const stranger = world.names(7001);
    await deps.nomad.registerJob(job('foreign-no-meta', null));
    await deps.nomad.registerJob(job(`${stranger.id}-api`, { [NOMAD_META.managedBy]: 'another-instance', [NOMAD_META.env]: stranger.id }));
    await deps.nomad.registerJob(job('ours-but-no-env', { [NOMAD_META.managedBy]: instance, [NOMAD_META.env]: 'Not An Env!' }));
    world.cluster.registerService(nodes[0]!, { ID: 'foreign-svc', Name: 'foreign-svc', Tags: [], Meta: {}, Port: 1, Address: '', Checks: [] });
    world.cluster.registerService(nodes[1]!, {
      ID: `${stranger.id}-api`,
      Name: stranger.serviceName('api'),
      Tags: [],
      Meta: { [CONSUL_META.managedBy]: 'another-instance', [CONSUL_META.env]: stranger.id },
      Port: 2,
      Address: '',
      Checks: [],
    });
    world.cluster.registerService(nodes[2]!, { ID: 'half-marker', Name: stranger.serviceName('frontend'), Tags: [], Meta: { [CONSUL_META.managedBy]: instance }, Port: 3, Address: '', Checks: [] });
    await deps.vault.writeSecret(stranger.vaultPath, { X: 'y' }, { customMetadata: vaultSecretMetadata('another-instance', stranger.id), deleteVersionAfterMs: DAY });
    await deps.vault.putPolicy(stranger.vaultPolicy, 'path "secret/data/anything" {\n  capabilities = ["read"]\n}\n');
    await deps.vault.putJwtRole(stranger.vaultRole, { ...renderJwtRole(world.config, stranger, ['someone-elses-job']), token_policies: [stranger.vaultPolicy] });
    await withAdminClient(async (c) => {
      await c.query(`CREATE ROLE ${quoteIdent(stranger.role)} NOLOGIN`);
    });
  }, 240_000);

  afterAll(async () => {
    await world?.cleanup();
  });

  const keys = (resources: { kind: string; name: string; envId: string }[]) => resources.map((r) => `${r.kind}:${r.name}:${r.envId}`).sort();

  it('when the inventory is taken then exactly the marked resources are found, Vault objects only of environments that are not live, and nothing foreign', async () => {
    const inventory = await listOwnedResources(deps, { liveEnvIds: async () => liveIds });
    expect(inventory.failed).toEqual([]);
    expect(keys(inventory.resources)).toEqual([...expected].sort());
    expect(inventory.unread).toBe(3 * liveIds.size);
    expect(inventory.resources.filter((r) => r.kind === 'consul-service').every((r) => nodes.includes(r.node!) && r.serviceName !== undefined)).toBe(true);
  });

  it('when there are more owned jobs than a page then the Nomad list follows next_token to the last page', async () => {
    const pages: string[] = [];
    const nomad = createNomadClient({
      address: world.nomad.url,
      namespace: world.config.env.NOMAD_NAMESPACE,
      fetch: (url, init) => {
        if (new URL(url).pathname === '/v1/jobs') pages.push(new URL(url).searchParams.get('next_token') ?? '');
        return fetch(url, init) as never;
      },
    });
    const inventory = await listOwnedResources({ ...deps, nomad }, { liveEnvIds: async () => liveIds });
    expect(pages.length).toBe(2);
    expect(pages[0]).toBe('');
    expect(pages[1]).toMatch(/^default\./);
    expect(inventory.resources.filter((r) => r.kind === 'nomad-job')).toHaveLength(ENVIRONMENTS * COMPONENTS.length);
  });

  it(`when reads are slow then no more than gc.readsInFlight (${READS_IN_FLIGHT}) are in flight per system, and the bound is used`, async () => {
    const vault = measured(deps.vault, ['readSecretMetadata', 'getPolicy', 'getJwtRole', 'listSecrets', 'listPolicies', 'listJwtRoles'], 15);
    const consul = measured(deps.consul, ['listNodeServices'], 15);
    const inventory = await listOwnedResources({ ...deps, vault: vault.client, consul: consul.client }, { liveEnvIds: async () => liveIds });
    expect(keys(inventory.resources)).toEqual([...expected].sort());
    // 3 LISTs, then the marker reads of the orphans and of the stranger (its names are environment IDs, not live).
    expect(vault.calls()).toBe(3 + 3 * (ENVIRONMENTS - liveIds.size + 1));
    expect(consul.calls()).toBeGreaterThanOrEqual(NODES);
    expect([vault.max(), consul.max()]).toEqual([READS_IN_FLIGHT, READS_IN_FLIGHT]);
  });

  it('when an inventory lister never asks for the live environments then the rows are still read and a live environment is no orphan', async () => {
    const live = world.names(1);
    const input = await observeGc(deps, undefined, async () => ({ resources: [{ kind: 'nomad-job', name: live.jobId('api'), envId: live.id }], failed: [] }));
    expect(input.records.some((r) => r.envId === live.id)).toBe(true);
    expect(planGc(input).actions.filter((a) => a.kind === 'remove-orphan')).toEqual([]);
  });

  it('when a dry-run sweep runs then its orphan actions hold exactly the orphans\' resources and nothing anywhere changed', async () => {
    const before = {
      jobs: world.cluster.listJobs().map((j) => `${String(j.ID)}:${String(j.Stop)}`).sort(),
      services: world.cluster.listServices().map((s) => s.ID).sort(),
      secrets: world.vault.secrets().map((s) => `${s.path}:${s.currentVersion}`).sort(),
      policies: world.vault.policyNames().sort(),
    };
    const result = await sweepGc(deps, {
      dryRun: true,
      requestTeardown: async () => {
        throw new Error('a dry run requests no teardown');
      },
    });
    const orphanActions = result.plan.actions.filter((a) => a.kind === 'remove-orphan');
    expect(orphanActions.map((a) => a.envId).sort()).toEqual(
      Array.from({ length: ENVIRONMENTS }, (_, i) => i + 1)
        .filter(orphan)
        .map((pr) => world.names(pr).id)
        .sort(),
    );
    const orphanIds = new Set(orphanActions.map((a) => a.envId));
    expect(keys(orphanActions.flatMap((a) => (a.kind === 'remove-orphan' ? a.resources : [])))).toEqual([...expected].filter((k) => orphanIds.has(k.split(':').at(-1)!)).sort());
    expect({
      jobs: world.cluster.listJobs().map((j) => `${String(j.ID)}:${String(j.Stop)}`).sort(),
      services: world.cluster.listServices().map((s) => s.ID).sort(),
      secrets: world.vault.secrets().map((s) => `${s.path}:${s.currentVersion}`).sort(),
      policies: world.vault.policyNames().sort(),
    }).toEqual(before);
  });
});

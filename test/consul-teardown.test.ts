// Teardown against a Consul as strict as the real one (issue 11 item 6): previewd's
// token under ACLs with default deny, Nomad's services registered through the agent of
// the allocation's node, and that agent's anti-entropy undoing any catalog deregister
// of them (hashicorp/consul agent/local/state.go, agent/consul/catalog_endpoint.go).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TransientError } from '../src/errors.js';
import { reconcileEnvironment } from '../src/environments/reconcile.js';
import { randomSha, type World } from '../src/sandbox/world.js';
import { startWorld, withAdminClient } from './support/pg.js';

const COMPONENTS = ['cache', 'api', 'worker', 'frontend'];
const READ_ONLY = `service_prefix "" { policy = "read" }\nnode_prefix "" { policy = "read" }`;

async function databaseExists(name: string): Promise<boolean> {
  return withAdminClient(async (c) => (await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1);
}

/** A slow (or briefly partitioned) Nomad client: the allocation runs on for `ms` after the stop. */
function slowStops(world: World, pr: number, ms: number) {
  for (const c of COMPONENTS) world.cluster.behaviour.set(world.names(pr).jobId(c), { stopDelayMs: ms });
}

async function ourInstances(world: World, pr: number) {
  const n = world.names(pr);
  return (await Promise.all(COMPONENTS.map((c) => world.deps.consul.listServiceInstances(n.serviceName(c))))).flat();
}

/** Two anti-entropy periods: long enough for an agent to have put back what it still has. */
const afterSyncs = (world: World) => new Promise((r) => setTimeout(r, 3 * world.cluster.options.antiEntropyIntervalMs));

describe('teardown with a read-only Consul token', { timeout: 90_000 }, () => {
  let world: World;
  beforeAll(async () => {
    world = await startWorld({ consulRules: READ_ONLY });
  });
  afterAll(async () => {
    await world?.cleanup();
  });

  it('when the PR closes while its allocations still run then the teardown completes: jobs, services, database and secret all gone', async () => {
    const pr = 301;
    await world.open(pr, randomSha());
    expect((await reconcileEnvironment(world.deps, world.key(pr))).status).toBe('ready');
    slowStops(world, pr, 400);
    await world.close(pr);
    const result = await reconcileEnvironment(world.deps, world.key(pr));
    expect(result.status).toBe('removed');
    const n = world.names(pr);
    expect(await databaseExists(n.database)).toBe(false);
    expect(world.vault.secret(n.vaultPath)).toBeNull();
    expect(await ourInstances(world, pr)).toEqual([]);
    // Not one write was refused: previewd never asked Consul for one.
    expect(world.consul.requests.filter((r) => r.status === 403)).toEqual([]);
  });
});

describe('teardown and agent anti-entropy', { timeout: 90_000 }, () => {
  let world: World;
  beforeAll(async () => {
    world = await startWorld();
  });
  afterAll(async () => {
    await world?.cleanup();
  });

  it('when the allocations still run at teardown then previewd waits for Nomad to deregister, and nothing comes back afterwards', async () => {
    const pr = 311;
    await world.open(pr, randomSha());
    expect((await reconcileEnvironment(world.deps, world.key(pr))).status).toBe('ready');
    slowStops(world, pr, 700);
    await world.close(pr);
    expect((await reconcileEnvironment(world.deps, world.key(pr))).status).toBe('removed');
    expect(await ourInstances(world, pr)).toEqual([]);
    await afterSyncs(world);
    expect(await ourInstances(world, pr)).toEqual([]);
    expect(world.consul.requests.filter((r) => r.path === '/v1/catalog/deregister')).toEqual([]);
  });

  it('when a gone allocation left registrations on its agent then ours go through that agent for good and a foreign one stays', async () => {
    const pr = 312;
    await world.open(pr, randomSha());
    await reconcileEnvironment(world.deps, world.key(pr));
    const n = world.names(pr);
    const service = n.serviceName('api');
    const agent = world.cluster.agent('client-1');
    const leftoverId = `_nomad-task-${randomUUID()}-api-${service}-http`;
    const foreignId = `_nomad-task-${randomUUID()}-api-${service}-http`;
    const registration = (id: string, meta: Record<string, string>) => ({ ID: id, Name: service, Tags: [], Meta: meta, Port: 1234, Address: '10.0.0.9', Checks: [] });
    agent.register(registration(leftoverId, { 'external-source': 'nomad', previewd_managed_by: world.config.instance, previewd_env: n.id }));
    agent.register(registration(foreignId, { 'external-source': 'nomad' }));

    await world.close(pr);
    expect((await reconcileEnvironment(world.deps, world.key(pr))).status).toBe('removed');
    expect(agent.service(leftoverId)).toBeUndefined();
    await afterSyncs(world);
    const remaining = (await world.deps.consul.listServiceInstances(service)).map((i) => i.serviceId);
    expect(remaining).toEqual([foreignId]);
    expect(world.consul.requests.some((r) => r.method === 'PUT' && r.path === `/_agent/client-1/v1/agent/service/deregister/${leftoverId}`)).toBe(true);
    agent.deregister(foreignId);
  });

  it('when the owning agent cannot be reached then the teardown says so, after the database and secret are gone', async () => {
    const pr = 313;
    await world.open(pr, randomSha());
    await reconcileEnvironment(world.deps, world.key(pr));
    const n = world.names(pr);
    const leftoverId = `_nomad-task-${randomUUID()}-api-${n.serviceName('api')}-http`;
    world.cluster.agent('client-1').register({
      ID: leftoverId,
      Name: n.serviceName('api'),
      Tags: [],
      Meta: { previewd_managed_by: world.config.instance, previewd_env: n.id },
      Port: 1,
      Address: '10.0.0.9',
      Checks: [],
    });
    const { createConsulClient } = await import('../src/consul/client.js');
    // Nothing listens on port 1: as if the agents' HTTP API were bound to 127.0.0.1 only.
    const unreachable = createConsulClient({ address: world.consul.url, token: world.secrets.consulToken, agentAddress: 'http://127.0.0.1:1/{node}' });
    const deps = { ...world.deps, consul: unreachable };
    await world.close(pr);
    const err = await reconcileEnvironment(deps, world.key(pr)).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TransientError);
    const record = await world.deps.store.get(world.key(pr));
    expect(record?.lastError).toContain('consul agent of node client-1 is not reachable at http://127.0.0.1:1/client-1');
    expect(record?.lastError).toContain('consul.agentAddress');
    expect(await databaseExists(n.database)).toBe(false);
    expect(world.vault.secret(n.vaultPath)).toBeNull();
    // Reachable again: the next reconcile finishes the job.
    expect((await reconcileEnvironment(world.deps, world.key(pr))).status).toBe('removed');
    expect(world.cluster.agent('client-1').service(leftoverId)).toBeUndefined();
  });
});

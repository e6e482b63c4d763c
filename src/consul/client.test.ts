import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TransientError, UserError } from '../errors.js';
import { createCluster, type Cluster } from '../sandbox/emulators/cluster.js';
import { startConsulEmulator, type ConsulEmulator } from '../sandbox/emulators/consul.js';
import { startNomadEmulator, type NomadEmulator } from '../sandbox/emulators/nomad.js';
import { createNomadClient } from '../nomad/client.js';
import { agentUrl, aggregateStatus, createConsulClient, defaultAgentAddress } from './client.js';
import type { ConsulClient } from './types.js';

const TOKEN = 'consul-secret-token-value';
let cluster: Cluster;
let consul: ConsulEmulator;
let nomad: NomadEmulator;
let client: ConsulClient;
let seq = 0;
const uniqueName = (p: string) => `${p}-${process.pid}-${++seq}`;

beforeAll(async () => {
  cluster = createCluster({ startDelayMs: 10, healthyDelayMs: 20 });
  consul = await startConsulEmulator({ cluster, token: TOKEN });
  nomad = await startNomadEmulator({ cluster });
  client = createConsulClient({ address: consul.url, token: TOKEN, timeoutMs: 2000 });
});
afterAll(async () => {
  cluster.close();
  await consul.close();
  await nomad.close();
});
afterEach(() => consul.resetFaults());

async function thrown(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

describe('consul client', () => {
  it('when a Nomad job runs then its service shows in health with tags and an aggregated status, and blocking reads see changes', async () => {
    const name = uniqueName('pr-svc');
    const nomadClient = createNomadClient({ address: nomad.url, namespace: 'default' });
    cluster.behaviour.set(name, { healthyDelayMs: 60_000 });
    await nomadClient.registerJob(
      await nomadClient.parseJob(`job "${name}" {
  group "web" {
    network {
      port "http" { to = 80 }
    }
    service {
      name = "${name}"
      port = "http"
      tags = ["traefik.enable=true", "traefik.http.routers.${name}.rule=Host(\`${name}.example.com\`)"]
      check {
        type     = "http"
        path     = "/"
        interval = "10s"
        timeout  = "2s"
      }
    }
    task "web" {
      driver = "docker"
      config { image = "nginx:1" }
    }
  }
}`),
    );
    let result = await client.healthService(name);
    for (let i = 0; i < 50 && result.instances.length === 0; i++) result = await client.healthService(name, { index: result.index, waitMs: 1000 });
    expect(result.instances).toHaveLength(1);
    expect(result.instances[0]).toMatchObject({ serviceName: name, status: 'critical', address: '10.0.0.12', meta: { 'external-source': 'nomad' } });
    expect(result.instances[0]!.tags).toContain(`traefik.http.routers.${name}.rule=Host(\`${name}.example.com\`)`);
    expect((await client.healthService(name, { passing: true })).instances).toEqual([]);

    const waiting = client.healthService(name, { index: result.index, waitMs: 5000 });
    setTimeout(() => consul.setCheckStatus(result.instances[0]!.serviceId, 'passing'), 30);
    const after = await waiting;
    expect(after.index).toBeGreaterThan(result.index);
    expect(after.instances[0]!.status).toBe('passing');
    expect((await client.healthService(name, { passing: true, tags: ['traefik.enable=true'] })).instances).toHaveLength(1);
    expect((await client.healthService(name, { tags: ['absent'] })).instances).toEqual([]);

    expect((await client.listServices())[name]).toContain('traefik.enable=true');
    const catalog = await client.listServiceInstances(name);
    expect(catalog.map((i) => i.serviceId)).toEqual([result.instances[0]!.serviceId]);
  });

  it('when a node\'s services are listed with a meta filter then only the matching ones come back with node and address', async () => {
    const name = uniqueName('bynode');
    const node = uniqueName('node');
    cluster.ensureNode(node, '10.0.0.98');
    cluster.registerService(node, { ID: `${name}-1`, Name: name, Tags: ['a'], Meta: { owner: 'me' }, Port: 81, Address: '', Checks: [] });
    cluster.registerService(node, { ID: `${name}-2`, Name: name, Tags: [], Meta: { owner: 'you' }, Port: 82, Address: '10.0.0.5', Checks: [] });
    expect(await client.listNodes()).toContainEqual({ name: node, address: '10.0.0.98' });
    const mine = await client.listNodeServices(node, { filter: 'Meta["owner"] == "me"' });
    expect(mine).toEqual([{ node, nodeAddress: '10.0.0.98', serviceId: `${name}-1`, serviceName: name, tags: ['a'], meta: { owner: 'me' }, address: '10.0.0.98', port: 81, status: 'passing' }]);
    expect((await client.listNodeServices(node)).map((s) => s.serviceId).sort()).toEqual([`${name}-1`, `${name}-2`]);
    expect(await client.listNodeServices('no-such-node')).toEqual([]);
  });

  it('when a leftover catalog registration is deregistered then it disappears', async () => {
    const name = uniqueName('leftover');
    cluster.ensureNode('external-preview', '10.0.0.99');
    cluster.registerService('external-preview', { ID: `${name}-1`, Name: name, Tags: [], Meta: { previewd_managed: 'true' }, Port: 80, Address: '', Checks: [] });
    const [inst] = await client.listServiceInstances(name);
    expect(inst).toMatchObject({ node: 'external-preview', address: '10.0.0.99' });
    await client.deregisterService('external-preview', `${name}-1`);
    expect(await client.listServiceInstances(name)).toEqual([]);
    expect((await client.listServices())[name]).toBeUndefined();
  });

  it('when a leftover is deregistered through its node agent then it is gone for good; an unknown ID is absent; a dead agent is a clear TransientError', async () => {
    const name = uniqueName('agent-left');
    cluster.agent('client-1').register({ ID: `${name}-1`, Name: name, Tags: [], Meta: {}, Port: 80, Address: '', Checks: [] });
    const viaAgents = createConsulClient({ address: consul.url, token: TOKEN, agentAddress: `${consul.url}/_agent/{node}` });
    expect(await viaAgents.nodeRunsAgent('client-1')).toBe(true);
    cluster.ensureNode('catalog-only', '10.0.0.77');
    expect(await viaAgents.nodeRunsAgent('catalog-only')).toBe(false);
    expect(await viaAgents.deregisterFromAgent({ name: 'client-1', address: '10.0.0.12' }, `${name}-1`)).toBe('deregistered');
    cluster.agent('client-1').syncFull();
    expect(await client.listServiceInstances(name)).toEqual([]);
    expect(await viaAgents.deregisterFromAgent({ name: 'client-1', address: '10.0.0.12' }, `${name}-1`)).toBe('absent');

    const dead = createConsulClient({ address: consul.url, token: TOKEN, agentAddress: 'http://127.0.0.1:1', timeoutMs: 2000 });
    const err = await thrown(dead.deregisterFromAgent({ name: 'client-1', address: '10.0.0.12' }, 'x'));
    expect(err).toBeInstanceOf(TransientError);
    expect(err.message).toBe('consul agent of node client-1 is not reachable at http://127.0.0.1:1 (set consul.agentAddress; the agent\'s HTTP API must listen on the node\'s address) to deregister x');
    expect(err.message).not.toContain(TOKEN);
  });

  it('when the agent template is the default then it is the Consul address scheme and port on the node address (IPv6 bracketed)', () => {
    expect(agentUrl(defaultAgentAddress('https://consul.internal:8501'), { name: 'n1', address: '10.0.0.5' })).toBe('https://10.0.0.5:8501');
    expect(agentUrl(defaultAgentAddress('http://consul.internal'), { name: 'n1', address: 'fd00::5' })).toBe('http://[fd00::5]:80');
    expect(agentUrl('http://{node}.consul.internal:8500', { name: 'client 1', address: 'x' })).toBe('http://client%201.consul.internal:8500');
  });

  it('when the token reads itself then accessor and policy names come back, and null when ACLs are off', async () => {
    const self = await client.tokenSelf();
    expect(self).toMatchObject({ policies: ['global-management'] });
    expect(self!.accessorId).toMatch(/^[0-9a-f-]{36}$/);
    const openCluster = createCluster();
    const open = await startConsulEmulator({ cluster: openCluster });
    try {
      expect(await createConsulClient({ address: open.url }).tokenSelf()).toBeNull();
    } finally {
      await open.close();
      openCluster.close();
    }
  });

  it('when the token is wrong then UserError that never carries the token', async () => {
    const bad = createConsulClient({ address: consul.url, token: 'wrong-consul-token' });
    const err = await thrown(bad.listServices());
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toContain('consul');
    expect(err.message).not.toContain('wrong-consul-token');
  });

  it('when consul fails with 500 or is down then TransientError, and ping recovers once it is back', async () => {
    consul.faults.failures.push({ path: '/v1/catalog/services', status: 500, body: 'No cluster leader', times: 1 });
    expect(await thrown(client.listServices())).toBeInstanceOf(TransientError);
    await consul.down();
    try {
      const err = await thrown(client.ping());
      expect(err).toBeInstanceOf(TransientError);
      expect(err.cause).toBeDefined();
    } finally {
      await consul.up();
    }
    await expect(client.ping()).resolves.toBeUndefined();
  });

  it('when checks are aggregated then maintenance beats critical beats warning beats passing', () => {
    const c = (CheckID: string, Status: string) => ({ CheckID, Status });
    expect(aggregateStatus([c('a', 'passing'), c('_node_maintenance', 'critical')])).toBe('maintenance');
    expect(aggregateStatus([c('a', 'warning'), c('b', 'critical')])).toBe('critical');
    expect(aggregateStatus([c('a', 'passing'), c('b', 'warning')])).toBe('warning');
    expect(aggregateStatus([])).toBe('passing');
  });
});

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createCluster, type Cluster } from '../../src/sandbox/emulators/cluster.js';
import { startConsulEmulator, type ConsulEmulator } from '../../src/sandbox/emulators/consul.js';
import { waitFor } from '../support/wait.js';

let cluster: Cluster;
let consul: ConsulEmulator;
let seq = 0;
const uniqueName = (p: string) => `${p}-${process.pid}-${++seq}`;

beforeAll(async () => {
  cluster = createCluster();
  consul = await startConsulEmulator({ cluster });
});
afterAll(async () => {
  cluster.close();
  await consul.close();
});
afterEach(() => consul.resetFaults());

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}, base = consul.url) {
  const res = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
  const raw = await res.text();
  let json: any;
  try {
    json = JSON.parse(raw);
  } catch {
    json = undefined;
  }
  return { status: res.status, text: raw, json, headers: res.headers };
}

function registration(name: string, extra: Record<string, unknown> = {}) {
  return {
    ID: `${name}-1`,
    Name: name,
    Tags: ['traefik.enable=true', `traefik.http.routers.${name}.rule=Host(\`${name}.example.com\`)`],
    Address: '10.0.0.12',
    Port: 24817,
    Meta: { previewd_managed: 'true' },
    Check: { HTTP: 'http://10.0.0.12:24817/healthz', Interval: '10s', Timeout: '2s' },
    ...extra,
  };
}

describe('consul emulator: agent registration', () => {
  const rejections: [string, Record<string, unknown>, string][] = [
    ['no name', { Name: '' }, 'Missing service name'],
    ['a dotted meta key', { Meta: { 'previewd.managed': 'true' } }, "Invalid Service Meta: Couldn't load metadata pair('previewd.managed', 'true'): Key contains invalid characters"],
    ['a consul- meta key', { Meta: { 'consul-x': 'y' } }, "Invalid Service Meta: Couldn't load metadata pair('consul-x', 'y'): Key prefix 'consul-' is reserved for internal use"],
    ['address 0.0.0.0', { Address: '0.0.0.0' }, 'Invalid service address'],
    ['an HTTP check without interval', { Check: { HTTP: 'http://x/' } }, 'Invalid check: Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService checks'],
  ];
  for (const [what, override, body] of rejections) {
    it(`when a registration has ${what} then 400 with the exact text and nothing is registered`, async () => {
      const name = uniqueName('bad');
      const r = await call('PUT', '/v1/agent/service/register', registration(name, override));
      expect([r.status, r.text]).toEqual([400, body]);
      expect(r.headers.get('x-consul-default-acl-policy')).toBe('allow');
      expect(cluster.listServices().some((s) => s.ID === `${name}-1`)).toBe(false);
    });
  }

  it('when a service is registered (snake_case too) then it shows with a critical check, and deregister removes it; unknown IDs are 404', async () => {
    const name = uniqueName('web');
    const r = await call('PUT', '/v1/agent/service/register', { id: `${name}-1`, name, port: 8080, tags: ['a'], meta: { previewd_managed: 'true' } });
    expect([r.status, r.text]).toEqual([200, '']);
    const agent = await call('GET', '/v1/agent/services');
    expect(agent.json[`${name}-1`]).toMatchObject({ Service: name, Port: 8080, Tags: ['a'], Meta: { previewd_managed: 'true' } });

    const withCheck = uniqueName('chk');
    await call('PUT', '/v1/agent/service/register', registration(withCheck));
    const checks = await call('GET', `/v1/health/checks/${withCheck}`);
    expect(checks.json).toHaveLength(1);
    expect(checks.json[0]).toMatchObject({ CheckID: `service:${withCheck}-1`, Status: 'critical', ServiceName: withCheck });

    expect((await call('PUT', `/v1/agent/service/deregister/${name}-1`)).status).toBe(200);
    expect((await call('GET', '/v1/agent/services')).json[`${name}-1`]).toBeUndefined();
    const unknown = await call('PUT', `/v1/agent/service/deregister/${name}`);
    expect([unknown.status, unknown.text]).toEqual([404, `Unknown service ID "${name}". Ensure that the service ID is passed, not the service name.`]);
    expect((await call('GET', `/v1/agent/service/deregister/${name}`)).status).toBe(405);
  });
});

describe('consul emulator: catalog and health', () => {
  it('when instances are registered and removed then catalog services shows tag unions and drops empty services', async () => {
    const name = uniqueName('cat');
    await call('PUT', '/v1/catalog/register', { Node: 'external-preview', Address: '10.0.0.50', Service: { ID: `${name}-a`, Service: name, Tags: ['x', 'y'], Port: 1 } });
    const second = await call('PUT', '/v1/catalog/register', { Node: 'external-preview', Address: '10.0.0.50', Service: { ID: `${name}-b`, Service: name, Tags: ['y', 'z'], Port: 2 } });
    expect(second.json).toBe(true);
    expect((await call('GET', '/v1/catalog/services')).json[name]).toEqual(['x', 'y', 'z']);
    const instances = await call('GET', `/v1/catalog/service/${name}?tag=z`);
    expect(instances.json.map((i: any) => i.ServiceID)).toEqual([`${name}-b`]);
    expect(instances.json[0]).toMatchObject({ Node: 'external-preview', Address: '10.0.0.50', ServiceName: name, ServicePort: 2 });
    for (const id of [`${name}-a`, `${name}-b`]) expect((await call('PUT', '/v1/catalog/deregister', { Node: 'external-preview', ServiceID: id })).json).toBe(true);
    expect((await call('GET', '/v1/catalog/services')).json[name]).toBeUndefined();
    expect((await call('GET', `/v1/catalog/service/${name}`)).text).toBe('[]');
  });

  it('when health is read with passing, tag and filter then only matching healthy instances come back', async () => {
    const name = uniqueName('health');
    await call('PUT', '/v1/agent/service/register', registration(name, { ID: `${name}-1`, Tags: ['blue'], Meta: { pr: '1' } }));
    await call('PUT', '/v1/agent/service/register', registration(name, { ID: `${name}-2`, Tags: ['green'], Meta: { pr: '2' } }));
    expect((await call('GET', `/v1/health/service/${name}?passing`)).json).toEqual([]);
    consul.setCheckStatus(`${name}-1`, 'passing');
    consul.setCheckStatus(`${name}-2`, 'warning');
    const passing = await call('GET', `/v1/health/service/${name}?passing=true`);
    expect(passing.json.map((e: any) => e.Service.ID)).toEqual([`${name}-1`]);
    expect((await call('GET', `/v1/health/service/${name}?tag=green`)).json.map((e: any) => e.Service.ID)).toEqual([`${name}-2`]);
    const f = (expr: string) => call('GET', `/v1/health/service/${name}?filter=${encodeURIComponent(expr)}`);
    expect((await f('Service.Meta.pr == "2"')).json.map((e: any) => e.Service.ID)).toEqual([`${name}-2`]);
    expect((await f('Service.Meta.pr != "2" and "blue" in Service.Tags')).json.map((e: any) => e.Service.ID)).toEqual([`${name}-1`]);
    expect((await f('Service.Tags contains "nope" or any Checks as c { c.Status == "warning" }')).json.map((e: any) => e.Service.ID)).toEqual([`${name}-2`]);
    // go-bexpr evaluate.go getValue → pointerstructure get.go getSlice: a selector does not
    // reach into a list's elements; "Status" is taken as an index of Checks, an error the
    // health RPC returns (agent/consul/health_endpoint.go ServiceNodes), so a 500.
    const through = await f('Checks.Status contains "warning"');
    expect([through.status, through.text]).toEqual([500, 'error finding value in datum: /Checks/Status at part 1: couldn\'t convert value "Status" to type int']);
    expect((await call('GET', '/v1/health/service/never-registered')).text).toBe('[]');
  });

  it('when nodes and one node\'s services are read with a meta filter then only that node\'s matching services come back, keyed by ID', async () => {
    const name = uniqueName('nodesvc');
    const node = uniqueName('node');
    cluster.ensureNode(node, '10.0.0.77');
    const reg = (id: string, meta: Record<string, string>) => ({ ID: id, Name: name, Tags: [], Meta: meta, Port: 1, Address: '10.0.0.77', Checks: [] });
    cluster.registerService(node, reg(`${name}-mine`, { owner: 'me' }));
    cluster.registerService(node, reg(`${name}-theirs`, { owner: 'them' }));
    cluster.registerService(node, reg(`${name}-bare`, {}));
    const nodes = await call('GET', '/v1/catalog/nodes');
    expect(nodes.json.find((n: any) => n.Node === node)).toMatchObject({ Node: node, Address: '10.0.0.77' });
    const all = await call('GET', `/v1/catalog/node/${node}`);
    expect(all.json.Node).toMatchObject({ Node: node, Address: '10.0.0.77' });
    expect(Object.keys(all.json.Services).sort()).toEqual([`${name}-bare`, `${name}-mine`, `${name}-theirs`]);
    const mine = await call('GET', `/v1/catalog/node/${node}?filter=${encodeURIComponent('Meta["owner"] == "me"')}`);
    expect(Object.keys(mine.json.Services)).toEqual([`${name}-mine`]);
    expect(mine.json.Services[`${name}-mine`]).toMatchObject({ ID: `${name}-mine`, Service: name, Meta: { owner: 'me' } });
    // agent/catalog_endpoint.go CatalogNodeServices: a node the catalog lacks reads as null.
    expect((await call('GET', '/v1/catalog/node/no-such-node')).text).toBe('null');
  });

  it('when a filter does not parse then 500 with bexpr\'s text, as a server agent answers', async () => {
    for (const path of ['/v1/catalog/nodes', '/v1/catalog/node/x', '/v1/health/service/x']) {
      const r = await call('GET', `${path}?filter=${encodeURIComponent('Meta["a"] ==')}`);
      expect([path, r.status]).toEqual([path, 500]);
      expect(r.text).toMatch(/^Failed to create boolean expression evaluator: /);
    }
  });

  it('when a blocking health read waits then it returns on a change to that service, and after the wait otherwise', async () => {
    const name = uniqueName('block');
    await call('PUT', '/v1/agent/service/register', registration(name));
    const first = await call('GET', `/v1/health/service/${name}`);
    const index = Number(first.headers.get('x-consul-index'));
    expect(index).toBeGreaterThan(0);
    const started = Date.now();
    const idle = await call('GET', `/v1/health/service/${name}?index=${index}&wait=120ms`);
    expect(Date.now() - started).toBeGreaterThanOrEqual(110);
    expect(idle.headers.get('x-consul-index')).toBe(String(index));
    const pending = call('GET', `/v1/health/service/${name}?index=${index}&wait=5s`);
    setTimeout(() => consul.setCheckStatus(`${name}-1`, 'passing'), 30);
    const woke = await pending;
    expect(Number(woke.headers.get('x-consul-index'))).toBeGreaterThan(index);
    expect(woke.json[0].Checks.find((c: any) => c.ServiceID === `${name}-1`).Status).toBe('passing');
  });
});

describe('consul emulator: health and blocking parameters as the HTTP handlers parse them', () => {
  it('when ?passing is not a Go bool then 400 Invalid value for ?passing; 0/f/False mean all, 1/T mean passing only', async () => {
    const name = uniqueName('pbool');
    await call('PUT', '/v1/agent/service/register', registration(name));
    const bad = await call('GET', `/v1/health/service/${name}?passing=yes`);
    expect([bad.status, bad.text]).toEqual([400, 'Invalid value for ?passing']);
    for (const v of ['0', 'f', 'False']) expect([v, (await call('GET', `/v1/health/service/${name}?passing=${v}`)).json.length]).toEqual([v, 1]);
    for (const v of ['1', 'T']) expect([v, (await call('GET', `/v1/health/service/${name}?passing=${v}`)).json.length]).toEqual([v, 0]);
  });

  it('when a blocking read has wait=0s then it waits the default time instead of answering at once, and a change wakes it', async () => {
    const name = uniqueName('wait0');
    await call('PUT', '/v1/agent/service/register', registration(name));
    const index = Number((await call('GET', `/v1/health/service/${name}`)).headers.get('x-consul-index'));
    let done = false;
    const pending = call('GET', `/v1/health/service/${name}?index=${index}&wait=0s`).then((r) => {
      done = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 200));
    expect(done).toBe(false);
    consul.setCheckStatus(`${name}-1`, 'passing');
    expect(Number((await pending).headers.get('x-consul-index'))).toBeGreaterThan(index);
  });

  it('when both the wait and the filter are bad then the wait\'s 400 comes first (parseWait runs before the RPC)', async () => {
    const r = await call('GET', `/v1/health/service/x?wait=10&filter=${encodeURIComponent('Meta["a"] ==')}`);
    expect([r.status, r.text]).toEqual([400, 'Invalid wait time']);
    const i = await call('GET', `/v1/catalog/services?index=-1&filter=${encodeURIComponent('==')}`);
    expect([i.status, i.text]).toEqual([400, 'Invalid index']);
  });
});

describe('consul emulator: ?filter on node and state health reads', () => {
  it('when /v1/health/node and /v1/health/state get a filter then it is applied, and one that does not parse is the 500', async () => {
    const name = uniqueName('hf');
    await call('PUT', '/v1/agent/service/register', registration(name));
    const f = encodeURIComponent(`ServiceName == "${name}"`);
    const byNode = (await call('GET', `/v1/health/node/${cluster.nodeName}?filter=${f}`)).json;
    expect(byNode.map((c: any) => c.ServiceName)).toEqual([name]);
    const byState = (await call('GET', `/v1/health/state/any?filter=${f}`)).json;
    expect(byState.map((c: any) => c.ServiceName)).toEqual([name]);
    for (const path of [`/v1/health/node/${cluster.nodeName}`, '/v1/health/state/any']) {
      const bad = await call('GET', `${path}?filter=${encodeURIComponent('==')}`);
      expect([path, bad.status]).toEqual([path, 500]);
    }
  });
});

describe('consul emulator: ACL and faults', () => {
  it('when ACLs are on then a wrong token gets 403 ACL not found and the right one works via header or Bearer', async () => {
    // ACLs are cluster-wide state: a cluster of its own keeps the other tests' agent open.
    const own = createCluster();
    const secured = await startConsulEmulator({ cluster: own, token: 'consul-secret' });
    try {
      const wrong = await call('GET', '/v1/catalog/services', undefined, { 'X-Consul-Token': 'nope' }, secured.url);
      expect([wrong.status, wrong.text]).toEqual([403, 'ACL not found']);
      expect(wrong.headers.get('x-consul-default-acl-policy')).toBe('deny');
      expect((await call('GET', '/v1/catalog/services', undefined, { 'X-Consul-Token': 'consul-secret' }, secured.url)).status).toBe(200);
      expect((await call('GET', '/v1/catalog/services', undefined, { Authorization: 'Bearer consul-secret' }, secured.url)).status).toBe(200);
    } finally {
      await secured.close();
      own.close();
    }
  });

  it('when a token may read only some services then list reads drop the rest silently and say so, writes get 403 with the real text', async () => {
    const own = createCluster();
    const acl = own.consulAcl;
    const secured = await startConsulEmulator({ cluster: own, token: 'acl-mgmt-secret' });
    try {
      const mine = uniqueName('shop-pr-1-api');
      const theirs = uniqueName('billing');
      for (const name of [mine, theirs]) await call('PUT', '/v1/agent/service/register', registration(name), { 'X-Consul-Token': 'acl-mgmt-secret' }, secured.url);
      await acl.createPolicy(`ro-${mine}`, `service_prefix "shop-pr-" { policy = "read" }\nnode_prefix "" { policy = "read" }`);
      await acl.createPolicy(`svc-only-${mine}`, `service_prefix "shop-pr-" { policy = "read" }`);
      const ro = await acl.createToken({ policies: [`ro-${mine}`] });
      const svcOnly = await acl.createToken({ policies: [`svc-only-${mine}`] });
      const as = (secret: string) => ({ 'X-Consul-Token': secret });

      const services = await call('GET', '/v1/catalog/services', undefined, as(ro.SecretID), secured.url);
      expect(Object.keys(services.json)).toContain(mine);
      expect(Object.keys(services.json)).not.toContain(theirs);
      expect(services.headers.get('x-consul-results-filtered-by-acls')).toBe('true');
      expect((await call('GET', `/v1/health/service/${mine}`, undefined, as(ro.SecretID), secured.url)).json).toHaveLength(1);
      const hidden = await call('GET', `/v1/health/service/${theirs}`, undefined, as(ro.SecretID), secured.url);
      expect([hidden.status, hidden.json, hidden.headers.get('x-consul-results-filtered-by-acls')]).toEqual([200, [], 'true']);
      // An instance also needs node:read on its node (structs.CheckServiceNode.CanRead).
      expect((await call('GET', `/v1/health/service/${mine}`, undefined, as(svcOnly.SecretID), secured.url)).json).toEqual([]);
      expect((await call('GET', `/v1/catalog/service/${mine}`, undefined, as(svcOnly.SecretID), secured.url)).json).toEqual([]);
      // The anonymous token (no token at all) reads nothing under default deny.
      expect((await call('GET', `/v1/health/service/${mine}`, undefined, {}, secured.url)).json).toEqual([]);

      const deny = await call('PUT', `/v1/agent/service/deregister/${mine}-1`, undefined, as(ro.SecretID), secured.url);
      expect([deny.status, deny.text]).toEqual([403, `Permission denied: token with AccessorID '${ro.AccessorID}' lacks permission 'service:write' on "${mine}"`]);
      const catalogDeny = await call('PUT', '/v1/catalog/deregister', { Node: 'client-1', ServiceID: `${mine}-1` }, as(ro.SecretID), secured.url);
      expect([catalogDeny.status, catalogDeny.text]).toEqual([403, `Permission denied: token with AccessorID '${ro.AccessorID}' lacks permission 'service:write' on "${mine}"`]);
      const unknown = await call('PUT', '/v1/catalog/deregister', { Node: 'client-1', ServiceID: 'nope' }, as(ro.SecretID), secured.url);
      expect([unknown.status, unknown.text]).toEqual([500, "Unknown service ID 'nope'"]);
      const anonymous = await call('PUT', '/v1/agent/service/register', registration(uniqueName('shop-pr-2-api')), {}, secured.url);
      expect(anonymous.status).toBe(403);
      expect(anonymous.text).toMatch(/^Permission denied: anonymous token lacks permission 'service:write' on ".*"\. The anonymous token is used implicitly/);
      expect(own.listServices().some((s) => s.ID === `${mine}-1`)).toBe(true);

      const self = await call('GET', '/v1/acl/token/self', undefined, as(ro.SecretID), secured.url);
      expect(self.json).toMatchObject({ AccessorID: ro.AccessorID, SecretID: ro.SecretID, Policies: [{ Name: `ro-${mine}` }] });
      expect((await call('GET', '/v1/acl/token/self', undefined, as('unknown'), secured.url)).text).toBe('ACL not found');
      for (const name of [mine, theirs]) await call('PUT', `/v1/agent/service/deregister/${name}-1`, undefined, as('acl-mgmt-secret'), secured.url);
    } finally {
      await secured.close();
      own.close();
    }
  });

  it('when the agent is down then connections are refused until it is up again', async () => {
    await consul.down();
    await expect(fetch(`${consul.url}/v1/status/leader`)).rejects.toThrow();
    await consul.up();
    expect((await call('GET', '/v1/status/leader')).json).toBe('10.0.0.12:8300');
  });
});

describe('consul emulator: agents and anti-entropy (agent/local/state.go)', () => {
  const synced = (predicate: () => boolean) =>
    new Promise<void>((resolve, reject) => {
      const deadline = Date.now() + 5000;
      const tick = () => (predicate() ? resolve() : Date.now() > deadline ? reject(new Error('not synced within 5 s')) : setTimeout(tick, 20));
      tick();
    });
  const inCatalog = (id: string) => cluster.listServices().some((s) => s.ID === id);

  it('when a service an agent registered is deregistered from the catalog then the agent puts it back; through the agent it goes for good', async () => {
    const name = uniqueName('ae');
    await call('PUT', '/v1/agent/service/register', registration(name));
    expect((await call('PUT', '/v1/catalog/deregister', { Node: 'client-1', ServiceID: `${name}-1` })).json).toBe(true);
    expect(inCatalog(`${name}-1`)).toBe(false);
    await synced(() => inCatalog(`${name}-1`));
    expect((await call('GET', `/v1/agent/services`)).json[`${name}-1`]).toBeDefined();

    expect((await call('PUT', `/v1/agent/service/deregister/${name}-1`)).status).toBe(200);
    expect(inCatalog(`${name}-1`)).toBe(false);
    cluster.agent('client-1').syncFull();
    expect(inCatalog(`${name}-1`)).toBe(false);
  });

  it('when the catalog holds a service on an agent node that the agent does not have then the sync removes it; catalog-only nodes keep theirs', async () => {
    const name = uniqueName('stray');
    await call('PUT', '/v1/catalog/register', { Node: 'client-1', Address: '10.0.0.12', Service: { ID: `${name}-1`, Service: name, Port: 1 } });
    await call('PUT', '/v1/catalog/register', { Node: 'external-preview', Address: '10.0.0.50', Service: { ID: `${name}-2`, Service: name, Port: 2 } });
    cluster.agent('client-1').syncFull();
    expect(inCatalog(`${name}-1`)).toBe(false);
    expect(inCatalog(`${name}-2`)).toBe(true);
    await call('PUT', '/v1/catalog/deregister', { Node: 'external-preview', ServiceID: `${name}-2` });
  });

  it('when an agent node is deregistered from the catalog then the next sync brings it back with serfHealth and its services', async () => {
    const name = uniqueName('nodeback');
    await call('PUT', '/v1/agent/service/register', registration(name));
    expect((await call('PUT', '/v1/catalog/deregister', { Node: 'client-1' })).json).toBe(true);
    expect(cluster.getNode('client-1')).toBeUndefined();
    cluster.agent('client-1').syncFull();
    expect(cluster.getNode('client-1')?.Address).toBe('10.0.0.12');
    expect(cluster.listChecks().some((c) => c.Node === 'client-1' && c.CheckID === 'serfHealth' && c.Status === 'passing')).toBe(true);
    expect(inCatalog(`${name}-1`)).toBe(true);
    await call('PUT', `/v1/agent/service/deregister/${name}-1`);
  });

  it('when another node is addressed under /_agent/<node> then that agent answers for its own state, and a node without an agent is unreachable', async () => {
    const name = uniqueName('remote');
    await call('PUT', '/v1/agent/service/register', registration(name));
    const viaPrefix = await call('GET', '/v1/agent/services', undefined, {}, consul.agentUrl('client-1'));
    expect(viaPrefix.json[`${name}-1`]).toBeDefined();
    cluster.ensureNode('external-preview', '10.0.0.50');
    const none = await call('GET', '/v1/agent/services', undefined, {}, consul.agentUrl('external-preview'));
    expect(none.status).toBe(502);
    expect((await call('PUT', `/v1/agent/service/deregister/${name}-1`, undefined, {}, consul.agentUrl('client-1'))).status).toBe(200);
    expect(inCatalog(`${name}-1`)).toBe(false);
  });
});

describe('consul emulator: the Nomad client keeps its services on its agent', () => {
  it('when a running allocation\'s service is deregistered from its agent then the Nomad client registers it again; once stopped it stays gone', async () => {
    const { startNomadEmulator } = await import('../../src/sandbox/emulators/nomad.js');
    const { createNomadClient } = await import('../../src/nomad/client.js');
    const nomad = await startNomadEmulator({ cluster });
    try {
      const client = createNomadClient({ address: nomad.url, namespace: 'default' });
      const name = uniqueName('nomadsync');
      const hcl = `job "${name}" {\n  group "web" {\n    network {\n      port "http" { to = 80 }\n    }\n    service {\n      name = "${name}"\n      port = "http"\n    }\n    task "web" {\n      driver = "docker"\n      config { image = "nginx:1" }\n    }\n  }\n}`;
      await client.registerJob(await client.parseJob(hcl));
      const agent = cluster.agent('client-1');
      const registered = () => agent.services().find((s) => s.Name === name);
      await new Promise<void>((resolve, reject) => {
        const deadline = Date.now() + 5000;
        const tick = () => (registered() ? resolve() : Date.now() > deadline ? reject(new Error('never registered')) : setTimeout(tick, 20));
        tick();
      });
      const id = registered()!.ID;
      // Watched synchronously from the agent's own deregistration, not after the HTTP answer:
      // on a loaded machine the client's next sync tick can run before this test's await resumes.
      let removedOnce = false;
      const deregister = agent.deregister;
      agent.deregister = (serviceId) => {
        const removed = deregister(serviceId);
        if (serviceId === id && removed && agent.service(id) === undefined) removedOnce = true;
        return removed;
      };
      try {
        expect((await call('PUT', `/v1/agent/service/deregister/${encodeURIComponent(id)}`)).status).toBe(200);
      } finally {
        agent.deregister = deregister;
      }
      expect(removedOnce).toBe(true);
      // Back within the client's sync interval; the bound holds under load.
      await waitFor('the Nomad client to register the service again', () => agent.service(id) !== undefined, 10_000);
      await client.stopJob(name, { purge: true });
      await waitFor('the stopped allocation to deregister its service', () => agent.service(id) === undefined, 10_000);
      await new Promise((r) => setTimeout(r, 3 * cluster.options.antiEntropyIntervalMs));
      expect(agent.service(id)).toBeUndefined();
    } finally {
      await nomad.close();
    }
  });
});

describe('consul emulator: catalog register as agent/consul/catalog_endpoint.go Register validates', () => {
  const reg = (body: Record<string, unknown>) => call('PUT', '/v1/catalog/register', body);

  it('when the node ID is no UUID then 500 Bad node ID with go-uuid\'s error (nodePreApply)', async () => {
    const base = { Node: uniqueName('n'), Address: '10.0.0.90' };
    expect([(await reg({ ...base, ID: 'abc' })).status, (await reg({ ...base, ID: 'abc' })).text]).toEqual([500, 'Bad node ID: uuid string is wrong length']);
    expect((await reg({ ...base, ID: 'x'.repeat(36) })).text).toBe('Bad node ID: uuid is improperly formatted');
    expect((await reg({ ...base, ID: '4e3a1c2b-0000-1111-2222-33334444555g' })).text).toBe("Bad node ID: encoding/hex: invalid byte: U+0067 'g'");
    expect((await reg({ ...base, ID: '4e3a1c2b-0000-1111-2222-333344445555' })).status).toBe(200);
  });

  it('when the service address is 0.0.0.0 or :: then 500 Invalid service address (servicePreApply, ipaddr.IsAny)', async () => {
    for (const Address of ['0.0.0.0', '::']) {
      const r = await reg({ Node: uniqueName('n'), Address: '10.0.0.91', Service: { Service: uniqueName('s'), Address } });
      expect([r.status, r.text]).toEqual([500, 'Invalid service address']);
    }
  });

  it('when the service meta is invalid then the state store refuses it: 500 with the node and service ID, and nothing is registered', async () => {
    const node = uniqueName('n');
    const name = uniqueName('meta');
    const r = await reg({ Node: node, Address: '10.0.0.92', Service: { Service: name, Meta: { 'a.b': 'x' } } });
    expect([r.status, r.text]).toEqual([500, `Invalid Service Meta for node ${node} and serviceID ${name}: Couldn't load metadata pair('a.b', 'x'): Key contains invalid characters`]);
    expect((await call('GET', `/v1/catalog/node/${node}`)).text).toBe('null');
  });

  it('when a check names another node or an unknown service then 500 with vetRegisterWithACL\'s text', async () => {
    const node = uniqueName('n');
    const name = uniqueName('chk');
    const other = await reg({ Node: node, Address: '10.0.0.93', Service: { Service: name }, Check: { Node: 'elsewhere', Name: 'c1', ServiceID: name } });
    expect([other.status, other.text]).toEqual([500, `Node 'elsewhere' for check 'c1' doesn't match register request node '${node}'`]);
    const unknown = await reg({ Node: node, Address: '10.0.0.93', Service: { Service: name }, Checks: [{ Name: 'c2', ServiceID: 'nope' }] });
    expect([unknown.status, unknown.text]).toEqual([500, "Unknown service ID 'nope' for check ID 'c2'"]);
  });

  it('when a check has a Name and no CheckID then its CheckID is the Name (checkPreApply), and its Name stays as sent', async () => {
    const node = uniqueName('n');
    const name = uniqueName('cid');
    expect((await reg({ Node: node, Address: '10.0.0.94', Service: { Service: name }, Check: { Name: 'alive', ServiceID: name, Status: 'passing' } })).status).toBe(200);
    const checks = (await call('GET', `/v1/health/checks/${name}`)).json;
    expect(checks.map((c: any) => [c.CheckID, c.Name, c.Status])).toEqual([['alive', 'alive', 'passing']]);
  });
});

describe('consul emulator: catalog register as the state store takes it', () => {
  const reg = (body: unknown) => call('PUT', '/v1/catalog/register', body);

  it('when a check has a status outside passing/warning/critical then it is stored as sent (ensureCheckTxn checks none), and ?passing leaves its instance out', async () => {
    const node = uniqueName('n');
    const name = uniqueName('odd');
    const r = await reg({ Node: node, Address: '10.0.0.96', Service: { Service: name }, Check: { Name: 'odd', ServiceID: name, Status: 'bogus' } });
    expect([r.status, r.text]).toEqual([200, 'true']);
    expect((await call('GET', `/v1/health/checks/${name}`)).json.map((c: any) => c.Status)).toEqual(['bogus']);
    expect((await call('GET', `/v1/health/service/${name}`)).json).toHaveLength(1);
    // CheckServiceNodes.Filter: only passing checks pass; an unknown status is not passing.
    expect((await call('GET', `/v1/health/service/${name}?passing`)).json).toEqual([]);
  });

  it('when the service has neither ID nor name then it is stored with ID "" under the name ""', async () => {
    const node = uniqueName('n');
    const r = await reg({ Node: node, Address: '10.0.0.97', Service: { Port: 8080 } });
    expect([r.status, r.text]).toEqual([200, 'true']);
    const services = (await call('GET', `/v1/catalog/node/${node}`)).json.Services;
    expect(Object.keys(services)).toEqual(['']);
    expect([services[''].ID, services[''].Service, services[''].Port]).toEqual(['', '', 8080]);
    const withId = await reg({ Node: node, Address: '10.0.0.97', Service: { ID: 'x' } });
    expect([withId.status, withId.text]).toEqual([500, 'Must provide service name (Service.Service) when service ID is provided']);
  });
});

describe('consul emulator: catalog register ACL order', () => {
  it('when a token may write neither the node nor the service then servicePreApply\'s service:write denial comes first', async () => {
    const own = createCluster();
    const secured = await startConsulEmulator({ cluster: own, token: 'acl-mgmt-secret' });
    try {
      await own.consulAcl.createPolicy('read-all', 'service_prefix "" { policy = "read" }\nnode_prefix "" { policy = "read" }');
      const ro = await own.consulAcl.createToken({ policies: ['read-all'] });
      const name = uniqueName('order');
      const r = await call('PUT', '/v1/catalog/register', { Node: uniqueName('newnode'), Address: '10.0.0.95', Service: { Service: name } }, { 'X-Consul-Token': ro.SecretID }, secured.url);
      expect([r.status, r.text]).toEqual([403, `Permission denied: token with AccessorID '${ro.AccessorID}' lacks permission 'service:write' on "${name}"`]);
    } finally {
      own.close();
      await secured.close();
    }
  });
});

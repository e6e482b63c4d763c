import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createCluster, type Cluster, type Json } from '../../src/sandbox/emulators/cluster.js';
import { nomadTimeToBlock, startNomadEmulator, type NomadEmulator } from '../../src/sandbox/emulators/nomad.js';
import { startConsulEmulator, type ConsulEmulator } from '../../src/sandbox/emulators/consul.js';
import { compileBexpr } from '../../src/sandbox/emulators/bexpr.js';
import { createNomadAcl } from '../../src/sandbox/emulators/nomad-acl.js';

let cluster: Cluster;
let nomad: NomadEmulator;
let consul: ConsulEmulator;
let seq = 0;
const uniqueId = (p: string) => `${p}-${process.pid}-${++seq}`;

beforeAll(async () => {
  cluster = createCluster({ startDelayMs: 10, healthyDelayMs: 20 });
  nomad = await startNomadEmulator({ cluster });
  consul = await startConsulEmulator({ cluster });
});
afterAll(async () => {
  cluster.close();
  await nomad.close();
  await consul.close();
});
afterEach(() => nomad.resetFaults());

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}, base = nomad.url) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const raw = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    json = undefined;
  }
  return { status: res.status, text: raw, json: json as any, headers: res.headers };
}

function hcl(id: string, opts: { serviceMeta?: string; extraTask?: string; tagHost?: string } = {}) {
  return `job "${id}" {
  datacenters = ["dc1"]
  meta = {
    "previewd.managed-by" = "previewd-test"
    "previewd.pr"         = "acme-shop-42"
  }
  group "api" {
    count = 1
    network {
      port "http" { to = 3000 }
    }
    service {
      name     = "${id}"
      port     = "http"
      provider = "consul"
      tags = [
        "traefik.enable=true",
        "traefik.http.routers.${id}.rule=Host(\`${opts.tagHost ?? 'pr-42.preview.example.com'}\`)",
      ]
      ${opts.serviceMeta ?? 'meta { previewd_managed = "true" }'}
      check {
        type     = "http"
        path     = "/healthz"
        interval = "10s"
        timeout  = "2s"
      }
    }
    task "migrate" {
      driver = "docker"
      lifecycle {
        hook    = "prestart"
        sidecar = false
      }
      config { image = "ghcr.io/acme/shop-api:3f2c1ab" }
    }
    task "api" {
      driver = "docker"
      config {
        image = "ghcr.io/acme/shop-api:3f2c1ab"
        ports = ["http"]
      }
      env { PREVIEW_ID = "pr-42" }
      vault { role = "previewd-pr-42" }
      template {
        destination     = "secrets/app.env"
        env             = true
        left_delimiter  = "[["
        right_delimiter = "]]"
        data            = <<EOT
[[ with secret "secret/data/previews/acme-shop/pr-42" ]]DATABASE_URL=[[ .Data.data.DATABASE_URL ]]
PORT=$\${NOMAD_PORT_http}
[[ end ]]
EOT
      }
      resources {
        cpu    = 200
        memory = 512
      }
    }
    ${opts.extraTask ?? ''}
  }
}
`;
}

async function parseJob(text: string): Promise<Json> {
  const r = await call('POST', '/v1/jobs/parse', { JobHCL: text, Canonicalize: true });
  expect(r.status, r.text).toBe(200);
  return r.json as Json;
}

function minimalJob(id: string): Json {
  return { ID: id, TaskGroups: [{ Name: 'web', Tasks: [{ Name: 'web', Driver: 'docker' }] }] };
}

describe('nomad emulator: parse', () => {
  it('when HCL is parsed with Canonicalize then blocks map to Job JSON with defaults and nanosecond durations', async () => {
    const job = await parseJob(hcl('pr-42-api'));
    expect(job.ID).toBe('pr-42-api');
    expect(job.Type).toBe('service');
    expect(job.Priority).toBe(50);
    expect(job.Meta).toEqual({ 'previewd.managed-by': 'previewd-test', 'previewd.pr': 'acme-shop-42' });
    const group = (job.TaskGroups as any[])[0];
    expect(group.Count).toBe(1);
    expect(group.Networks[0].DynamicPorts).toEqual([{ Label: 'http', Value: 0, To: 3000 }]);
    expect(group.Services[0].PortLabel).toBe('http');
    expect(group.Services[0].Meta).toEqual({ previewd_managed: 'true' });
    expect(group.Services[0].Checks[0]).toMatchObject({ Type: 'http', Path: '/healthz', Interval: 10_000_000_000, Timeout: 2_000_000_000 });
    // hcl2json returns blocks sorted by label, so look tasks up by name.
    const migrate = group.Tasks.find((t: any) => t.Name === 'migrate');
    const api = group.Tasks.find((t: any) => t.Name === 'api');
    expect(migrate.Lifecycle).toEqual({ Hook: 'prestart', Sidecar: false });
    expect(migrate.Resources).toMatchObject({ CPU: 100, MemoryMB: 300 });
    expect(api.Resources).toMatchObject({ CPU: 200, MemoryMB: 512 });
    expect(api.Vault.Role).toBe('previewd-pr-42');
    expect(api.Templates[0]).toMatchObject({ DestPath: 'secrets/app.env', Envvars: true, LeftDelim: '[[', RightDelim: ']]', ChangeMode: 'restart' });
    // `$${` is HCL's escape for a literal `${`, kept for the Nomad client to interpolate.
    expect(api.Templates[0].EmbeddedTmpl).toContain('PORT=${NOMAD_PORT_http}');
    expect(api.Env).toEqual({ PREVIEW_ID: 'pr-42' });
  });

  it('when the spec is blank but not empty then the parser answers that the job block is missing', async () => {
    const r = await call('POST', '/v1/jobs/parse', { JobHCL: '  \n' });
    expect([r.status, r.text]).toEqual([400, 'Failed to parse job: <nil>: Missing job block; A job block is required']);
  });

  it('when the spec is empty then 400 Job spec is empty', async () => {
    const r = await call('POST', '/v1/jobs/parse', { JobHCL: '' });
    expect([r.status, r.text]).toEqual([400, 'Job spec is empty']);
  });

  it('when the HCL is malformed then 400 Failed to parse job with the diagnostics', async () => {
    const r = await call('PUT', '/v1/jobs/parse', { JobHCL: 'job "x" { = }' });
    expect(r.status).toBe(400);
    expect(r.text).toMatch(/^Failed to parse job: .*Argument or block definition required/);
    expect(r.headers.get('content-type')).toContain('text/plain');
  });
});

describe('nomad emulator: jobspec schema (api/*.go hcl tags, jobspec2)', () => {
  const refused: [string, string, string, string][] = [
    // api/services.go Service.Meta is `hcl:"meta,block"`: only job/group/task special-case the attribute form.
    [
      'meta as an attribute inside service',
      'meta = { previewd_managed = "true" }',
      'Unsupported argument',
      'An argument named "meta" is not expected here. Did you mean to define a block of type "meta"?',
    ],
    ['an unknown argument inside service', 'colour = "blue"', 'Unsupported argument', 'An argument named "colour" is not expected here.'],
    ['a misspelt argument inside service', 'adress = "10.0.0.1"', 'Unsupported argument', 'An argument named "adress" is not expected here. Did you mean "address"?'],
    ['an unknown block inside service', 'sidecar { }', 'Unsupported block type', 'Blocks of type "sidecar" are not expected here.'],
    ['name as a block inside service', 'name { }', 'Unsupported block type', 'Blocks of type "name" are not expected here. Did you mean to define argument "name"? If so, use the equals sign to assign it a value.'],
  ];
  for (const [what, serviceMeta, summary, detail] of refused) {
    it(`when a jobspec has ${what} then parse answers 400 with hcl's diagnostic`, async () => {
      const r = await call('POST', '/v1/jobs/parse', { JobHCL: hcl('schema-x', { serviceMeta }), Canonicalize: true });
      expect(r.status).toBe(400);
      expect(r.headers.get('content-type')).toContain('text/plain');
      expect(r.text).toMatch(/^Failed to parse job: input\.hcl:\d+,\d+-\d+: /);
      expect(r.text).toContain(`: ${summary}; ${detail}`);
    });
  }

  it('when the diagnostic is reported then its range is the argument name on its line', async () => {
    const text = hcl('schema-y', { serviceMeta: 'meta = { previewd_managed = "true" }' });
    const line = text.split('\n').findIndex((l) => l.includes('meta = { previewd_managed')) + 1;
    const col = text.split('\n')[line - 1]!.indexOf('meta') + 1;
    const r = await call('POST', '/v1/jobs/parse', { JobHCL: text });
    expect(r.text).toContain(`input.hcl:${line},${col}-${col + 4}: Unsupported argument`);
  });

  it('when meta is an attribute at job, group and task level then it parses (jobspec2 decodeAsAttribute)', async () => {
    const text = hcl('schema-z', { extraTask: 'task "side" {\n driver = "docker"\n meta = { "a.b" = "1" }\n env = { "X_Y" = "2" }\n config { image = "x" }\n }' }).replace(
      'count = 1',
      'count = 1\n    meta = { "g.k" = "v" }',
    );
    const job = await parseJob(text);
    const group = (job.TaskGroups as any[])[0];
    expect(group.Meta).toEqual({ 'g.k': 'v' });
    const side = group.Tasks.find((t: any) => t.Name === 'side');
    expect([side.Meta, side.Env]).toEqual([{ 'a.b': '1' }, { X_Y: '2' }]);
  });

  it('when lifecycle has no hook then parse refuses the missing required argument (TaskLifecycle hook has no optional)', async () => {
    const r = await call('POST', '/v1/jobs/parse', { JobHCL: hcl('schema-l').replace('hook    = "prestart"', '') });
    expect(r.status).toBe(400);
    expect(r.text).toContain('Missing required argument; The argument "hook" is required, but no definition was found.');
  });

  it('when a block has a label it does not take then parse refuses it', async () => {
    const r = await call('POST', '/v1/jobs/parse', { JobHCL: hcl('schema-t').replace('resources {', 'resources "big" {') });
    expect(r.status).toBe(400);
    expect(r.text).toContain('Extraneous label for resources; No labels are expected for resources blocks.');
  });

  it('when identity, consul and group vault blocks are given then they map to the api fields', async () => {
    const text = hcl('schema-i')
      .replace('count = 1', 'count = 1\n    consul {}')
      .replace('vault { role = "previewd-pr-42" }', 'vault { role = "previewd-pr-42" }\n      identity {\n        name = "vault_default"\n        aud  = ["vault.io"]\n        ttl  = "1h"\n      }');
    const job = await parseJob(text);
    const group = (job.TaskGroups as any[])[0];
    expect(group.Consul).toEqual({ Namespace: '', Cluster: '', Partition: '' });
    const api = group.Tasks.find((t: any) => t.Name === 'api');
    expect(api.Identities).toEqual([{ Name: 'vault_default', Audience: ['vault.io'], TTL: 3_600_000_000_000 }]);
  });
});

describe('nomad emulator: register validation', () => {
  const cases: [string, unknown, number, string | RegExp][] = [
    ['no Job', {}, 400, 'Job must be specified'],
    ['no ID', { Job: { TaskGroups: [] } }, 400, "Job ID hasn't been provided"],
    // jobUpdate checks the Job before the eval priority.
    ['no Job and a bad eval priority', { EvalPriority: 500 }, 400, 'Job must be specified'],
    // Only a missing ID is the agent's 400; an empty one reaches Job.Validate.
    ['empty ID', { Job: { ...minimalJob('x'), ID: '', Name: '' } }, 500, '2 errors occurred:\n\t* Missing job ID\n\t* Missing job name\n\n'],
    [
      'system job with scaling',
      { Job: { ...minimalJob('x'), Type: 'system', TaskGroups: [{ Name: 'web', Scaling: { Min: 1, Max: 2 }, Tasks: [{ Name: 'web', Driver: 'docker' }] }] } },
      400,
      'Task groups with job type system do not support scaling blocks',
    ],
    ['no task groups', { Job: { ID: 'x' } }, 500, '1 error occurred:\n\t* Missing job task groups\n\n'],
    [
      'an identity with a bad name and an empty audience',
      { Job: { ID: 'x', TaskGroups: [{ Name: 'g', Tasks: [{ Name: 't', Driver: 'docker', Identities: [{ Name: 'vault default', Audience: [''] }] }] }] } },
      500,
      /Task t validation failed: 1 error occurred:\n\t\* Identity "vault default" is invalid: 2 errors occurred:\n\t\* invalid name "vault default"\. Must match regex .*\n\t\* an empty string is an invalid audience \(1\)/,
    ],
    ['ID with a space', { Job: { ...minimalJob('a b') } }, 500, /\* Job ID contains a space/],
    ['group without tasks', { Job: { ID: 'x', TaskGroups: [{ Name: 'g', Tasks: [] }] } }, 500, /Task group g validation failed: 1 error occurred:\n\t\* Missing tasks for task group/],
    ['task without driver', { Job: { ID: 'x', TaskGroups: [{ Name: 'g', Tasks: [{ Name: 't' }] }] } }, 500, /Task t validation failed: 1 error occurred:\n\t\* Missing task driver/],
    [
      'bad service name',
      { Job: { ID: 'x', TaskGroups: [{ Name: 'g', Services: [{ Name: 'bad_name.x' }], Tasks: [{ Name: 't', Driver: 'docker' }] }] } },
      500,
      /Service name must be valid per RFC 1123 and can contain only alphanumeric characters or dashes: "bad_name.x"/,
    ],
    [
      'duplicate template destination',
      { Job: { ID: 'x', TaskGroups: [{ Name: 'g', Tasks: [{ Name: 't', Driver: 'docker', Templates: [{ DestPath: 'a', EmbeddedTmpl: 'x' }, { DestPath: 'a', EmbeddedTmpl: 'y' }] }] }] } },
      500,
      /Template 2 has same destination as 1/,
    ],
    [
      'group with only lifecycle tasks',
      { Job: { ID: 'x', TaskGroups: [{ Name: 'g', Tasks: [{ Name: 't', Driver: 'docker', Lifecycle: { Hook: 'prestart' } }] }] } },
      500,
      /at least one non-lifecycle \(main\) task/,
    ],
    ['eval priority out of range', { Job: minimalJob('x'), EvalPriority: 101 }, 400, 'Eval priority must be between 1 and 100 inclusively'],
    ['malformed JSON', '{"Job": ', 400, /^invalid character/],
  ];
  for (const [name, body, status, expected] of cases) {
    it(`when the register body has ${name} then ${status} with the exact text`, async () => {
      const r = await call('POST', '/v1/jobs', body);
      expect(r.status).toBe(status);
      if (typeof expected === 'string') expect(r.text).toBe(expected);
      else expect(r.text).toMatch(expected);
      expect(cluster.getJob('default', 'x')).toBeUndefined();
    });
  }

  it('when POST /v1/job/:id carries another ID then 400 Job ID does not match name', async () => {
    const r = await call('POST', '/v1/job/other', { Job: minimalJob('x') });
    expect([r.status, r.text]).toEqual([400, 'Job ID does not match name']);
  });

  it('when EnforceIndex is used then create-only, match and mismatch answer with the exact texts', async () => {
    const id = uniqueId('enforce');
    const created = await call('POST', '/v1/jobs', { Job: minimalJob(id), EnforceIndex: true, JobModifyIndex: 0 });
    expect(created.status).toBe(200);
    const again = await call('POST', '/v1/jobs', { Job: minimalJob(id), EnforceIndex: true, JobModifyIndex: 0 });
    expect([again.status, again.text]).toEqual([500, 'Enforcing job modify index 0: job already exists']);
    const current = created.json.JobModifyIndex as number;
    const stale = await call('POST', '/v1/jobs', { Job: { ...minimalJob(id), Meta: { a: 'b' } }, EnforceIndex: true, JobModifyIndex: current - 1 });
    expect([stale.status, stale.text]).toEqual([500, `Enforcing job modify index ${current - 1}: job exists with conflicting job modify index: ${current}`]);
    const matching = await call('POST', '/v1/jobs', { Job: { ...minimalJob(id), Meta: { a: 'b' } }, EnforceIndex: true, JobModifyIndex: current });
    expect(matching.status).toBe(200);
    expect(matching.json.JobModifyIndex).toBeGreaterThan(current);
    const missing = await call('POST', '/v1/jobs', { Job: minimalJob(uniqueId('nope')), EnforceIndex: true, JobModifyIndex: 7 });
    expect([missing.status, missing.text]).toEqual([500, 'Enforcing job modify index 7: job does not exist']);
  });

  it('when an unchanged spec is registered again then the version stays but a new evaluation is created', async () => {
    const id = uniqueId('same');
    const first = await call('POST', '/v1/jobs', { Job: minimalJob(id) });
    const second = await call('POST', '/v1/jobs', { Job: minimalJob(id) });
    expect(second.json.JobModifyIndex).toBe(first.json.JobModifyIndex);
    expect(second.json.EvalID).not.toBe(first.json.EvalID);
    expect(second.json.EvalID).not.toBe('');
    expect((await call('GET', `/v1/job/${id}`)).json.Version).toBe(0);
    await call('POST', '/v1/jobs', { Job: { ...minimalJob(id), Meta: { changed: 'yes' } } });
    expect((await call('GET', `/v1/job/${id}`)).json.Version).toBe(1);
  });

  it('when a wrong method is used then 405 Invalid method', async () => {
    const r = await call('PATCH', '/v1/jobs');
    expect([r.status, r.text]).toEqual([405, 'Invalid method']);
  });
});

describe('nomad emulator: lifecycle shared with consul', () => {
  it('when a job is registered then allocations run, the deployment succeeds, services reach consul health, and stop/purge remove them', async () => {
    const id = uniqueId('pr-life');
    const job = await parseJob(hcl(id));
    const reg = await call('POST', '/v1/jobs', { Job: job });
    expect(reg.status).toBe(200);
    expect(reg.headers.get('x-nomad-index')).toBe(String(reg.json.Index));

    const ev = await call('GET', `/v1/evaluation/${reg.json.EvalID}`);
    expect(ev.json.TriggeredBy).toBe('job-register');

    const dep = await cluster.settle('default', id);
    expect(dep).toMatchObject({ Status: 'successful', StatusDescription: 'Deployment completed successfully' });

    const allocs = (await call('GET', `/v1/job/${id}/allocations`)).json as any[];
    expect(allocs).toHaveLength(1);
    expect(allocs[0].ClientStatus).toBe('running');
    expect(allocs[0].Name).toBe(`${id}.api[0]`);
    expect(allocs[0].DeploymentStatus.Healthy).toBe(true);
    expect(allocs[0].TaskStates.migrate).toMatchObject({ State: 'dead', Failed: false });
    expect(allocs[0].TaskStates.api).toMatchObject({ State: 'running', Failed: false });

    const health = await call('GET', `/v1/health/service/${id}?passing`, undefined, {}, consul.url);
    expect(health.json).toHaveLength(1);
    const svc = health.json[0].Service;
    expect(svc.ID).toBe(`_nomad-task-${allocs[0].ID}-group-api-${id}-http`);
    expect(svc.Tags).toContain(`traefik.http.routers.${id}.rule=Host(\`pr-42.preview.example.com\`)`);
    expect(svc.Meta).toEqual({ previewd_managed: 'true', 'external-source': 'nomad' });
    expect(svc.Port).toBeGreaterThan(0);
    const checks = health.json[0].Checks as any[];
    expect(checks.map((c) => c.CheckID)).toContain('serfHealth');
    expect(checks.find((c) => c.ServiceID === svc.ID)).toMatchObject({ Status: 'passing', Name: `service: "${id}" check` });

    const jobRead = await call('GET', `/v1/job/${id}`);
    expect(jobRead.json).toMatchObject({ Status: 'running', Stop: false, Stable: true });

    const stop = await call('DELETE', `/v1/job/${id}`);
    expect(stop.status).toBe(200);
    expect(stop.json.EvalID).not.toBe('');
    await poll(async () => (await call('GET', `/v1/health/service/${id}`, undefined, {}, consul.url)).json.length === 0);
    await poll(async () => (await call('GET', `/v1/job/${id}`)).json.Status === 'dead');
    expect((await call('GET', `/v1/job/${id}`)).json.Stop).toBe(true);
    const services = (await call('GET', '/v1/catalog/services', undefined, {}, consul.url)).json;
    expect(services[id]).toBeUndefined();

    await call('DELETE', `/v1/job/${id}?purge=true`);
    const gone = await call('GET', `/v1/job/${id}`);
    expect([gone.status, gone.text]).toEqual([404, 'job not found']);
  });

  it('when a task is set to fail then the allocation fails with its task event and the deployment fails', async () => {
    const id = uniqueId('pr-fail');
    cluster.behaviour.set(id, { fail: { task: 'api', message: 'failed to pull image ghcr.io/acme/shop-api:bad' } });
    await call('POST', '/v1/jobs', { Job: await parseJob(hcl(id)) });
    const dep = await cluster.settle('default', id);
    expect(dep).toMatchObject({ Status: 'failed', StatusDescription: 'Failed due to unhealthy allocations' });
    const [alloc] = (await call('GET', `/v1/job/${id}/allocations`)).json as any[];
    expect(alloc.ClientStatus).toBe('failed');
    expect(alloc.TaskStates.api.Failed).toBe(true);
    expect(alloc.TaskStates.api.Events.at(-1)).toMatchObject({ Type: 'Driver Failure', DisplayMessage: 'failed to pull image ghcr.io/acme/shop-api:bad' });
    expect(alloc.TaskStates.migrate.Failed).toBe(false);
  });

  it('when service meta keys contain dots then registration is accepted and the allocation fails as Consul refuses the service', async () => {
    const id = uniqueId('pr-dots');
    // HCL cannot say it (a meta block takes identifiers only); Job JSON can.
    const job = await parseJob(hcl(id));
    (job.TaskGroups as any[])[0].Services[0].Meta = { 'previewd.managed': 'true' };
    const r = await call('POST', '/v1/jobs', { Job: job });
    expect(r.status).toBe(200);
    const dep = await cluster.settle('default', id);
    expect(dep?.Status).toBe('failed');
    const [alloc] = (await call('GET', `/v1/job/${id}/allocations`)).json as any[];
    expect(alloc.TaskStates.api.Events.at(-1).DisplayMessage).toContain('Invalid Service Meta');
    expect(cluster.listServices().some((s) => s.Service === id)).toBe(false);
  });

  const withJobMeta = (text: string, value: string) => text.replace('"previewd.pr"         = "acme-shop-42"', `"previewd.pr" = "acme-shop-42"\n    "previewd.sha" = "${value}"`);

  it('when a new version with other job meta is registered then the running deployment is cancelled and old allocations and services go away', async () => {
    const id = uniqueId('pr-ver');
    cluster.behaviour.set(id, { healthyDelayMs: 10_000 });
    await call('POST', '/v1/jobs', { Job: await parseJob(hcl(id)) });
    await poll(() => cluster.listServices().some((s) => s.Service === id));
    const firstDep = (await call('GET', `/v1/job/${id}/deployment`)).json;
    expect(firstDep.Status).toBe('running');
    const [first] = (await call('GET', `/v1/job/${id}/allocations`)).json as any[];
    cluster.behaviour.set(id, {});
    // Job meta is part of every task's combined meta: a destructive update (scheduler/util.go).
    await call('POST', '/v1/jobs', { Job: await parseJob(withJobMeta(hcl(id, { tagHost: 'v2.example.com' }), 'v2')) });
    const latest = await cluster.settle('default', id);
    expect(latest).toMatchObject({ Status: 'successful', JobVersion: 1 });
    expect((await call('GET', `/v1/deployment/${firstDep.ID}`)).json).toMatchObject({ Status: 'cancelled', StatusDescription: 'Cancelled due to newer version of job' });
    const live = cluster.listServices().filter((s) => s.Service === id);
    expect(live).toHaveLength(1);
    expect(live[0]!.Tags.join()).toContain('v2.example.com');
    const allocs = (await call('GET', `/v1/job/${id}/allocations`)).json as any[];
    expect(allocs.filter((a) => a.DesiredStatus === 'run').map((a) => a.JobVersion)).toEqual([1]);
    expect(allocs.find((a) => a.ID === first.ID)).toMatchObject({ DesiredStatus: 'stop', DesiredDescription: 'alloc is being updated due to job update' });
  });

  it('when only service tags change then the allocation is updated in place: same allocation, tasks not restarted, services updated', async () => {
    const id = uniqueId('pr-inplace');
    await call('POST', '/v1/jobs', { Job: await parseJob(hcl(id)) });
    expect(await cluster.settle('default', id)).toMatchObject({ Status: 'successful', JobVersion: 0 });
    const [before] = (await call('GET', `/v1/job/${id}/allocations`)).json as any[];
    await call('POST', '/v1/jobs', { Job: await parseJob(hcl(id, { tagHost: 'v2.example.com' })) });
    await poll(() => cluster.listDeployments('default', id).length === 2);
    expect(await cluster.settle('default', id)).toMatchObject({ Status: 'successful', JobVersion: 1 });
    const allocs = (await call('GET', `/v1/job/${id}/allocations`)).json as any[];
    expect(allocs.map((a) => [a.ID, a.JobVersion, a.ClientStatus, a.DesiredStatus])).toEqual([[before.ID, 1, 'running', 'run']]);
    expect(allocs[0].TaskStates.api.Events.map((e: any) => e.Type)).not.toContain('Killed');
    expect(allocs[0].TaskStates.api.StartedAt).toBe(before.TaskStates.api.StartedAt);
    const live = cluster.listServices().filter((s) => s.Service === id);
    expect(live.map((s) => s.Tags.join().includes('v2.example.com'))).toEqual([true]);
  });

  const destructive: [string, (t: string) => string][] = [
    ['job meta', (t) => withJobMeta(t, 'other')],
    ['the image', (t) => t.replace('image = "ghcr.io/acme/shop-api:3f2c1ab"\n        ports', 'image = "ghcr.io/acme/shop-api:other"\n        ports')],
    ['task env', (t) => t.replace('PREVIEW_ID = "pr-42"', 'PREVIEW_ID = "pr-43"')],
    ['a template', (t) => t.replace('PORT=$${NOMAD_PORT_http}', 'PORT=1')],
    ['task memory', (t) => t.replace('memory = 512', 'memory = 640')],
  ];
  for (const [what, change] of destructive) {
    it(`when ${what} changes then the allocation is replaced (destructive update)`, async () => {
      const id = uniqueId('pr-destr');
      await call('POST', '/v1/jobs', { Job: await parseJob(hcl(id)) });
      await cluster.settle('default', id);
      const [before] = (await call('GET', `/v1/job/${id}/allocations`)).json as any[];
      const changed = change(hcl(id));
      expect(changed).not.toBe(hcl(id));
      await call('POST', '/v1/jobs', { Job: await parseJob(changed) });
      await poll(() => cluster.listDeployments('default', id).length === 2);
      await cluster.settle('default', id);
      const running = ((await call('GET', `/v1/job/${id}/allocations`)).json as any[]).filter((a) => a.DesiredStatus === 'run');
      expect(running.map((a) => a.JobVersion)).toEqual([1]);
      expect(running[0].ID).not.toBe(before.ID);
    });
  }
});

describe('nomad emulator: versions, identical specs and auto_revert', () => {
  const withAutoRevert = (text: string) => text.replace('count = 1', 'count = 1\n    update {\n      auto_revert      = true\n      min_healthy_time = "1s"\n    }');

  it('when an identical spec is registered again then there is an evaluation but no new version and no new deployment (job_endpoint.go specChanged)', async () => {
    const id = uniqueId('pr-same');
    const job = await parseJob(hcl(id));
    await call('POST', '/v1/jobs', { Job: job });
    await cluster.settle('default', id);
    const again = await call('POST', '/v1/jobs', { Job: job });
    expect(again.json.EvalID).toMatch(/[0-9a-f-]{36}/);
    await poll(async () => (await call('GET', `/v1/evaluation/${again.json.EvalID}`)).json?.Status === 'complete');
    expect((await call('GET', `/v1/job/${id}`)).json.Version).toBe(0);
    expect(cluster.listDeployments('default', id)).toHaveLength(1);
  });

  it('when a deployment with auto_revert fails then Nomad registers the last stable spec as a new version and says so in the description', async () => {
    const id = uniqueId('pr-revert');
    await call('POST', '/v1/jobs', { Job: await parseJob(withAutoRevert(hcl(id))) });
    expect(await cluster.settle('default', id)).toMatchObject({ Status: 'successful', JobVersion: 0 });
    expect((await call('GET', `/v1/job/${id}`)).json.Stable).toBe(true);
    cluster.behaviour.set(id, { fail: { task: 'api', message: 'image not found' }, failVersions: [1] });
    await call('POST', '/v1/jobs', { Job: await parseJob(withAutoRevert(hcl(id, { tagHost: 'bad.example.com' }).replace('memory = 512', 'memory = 600'))) });
    await poll(() => cluster.listDeployments('default', id).some((d) => d.JobVersion === 1 && d.Status === 'failed'));
    const failed = cluster.listDeployments('default', id).find((d) => d.JobVersion === 1)!;
    expect(failed.StatusDescription).toBe('Failed due to unhealthy allocations - rolling back to job version 0');
    await poll(() => cluster.listDeployments('default', id).some((d) => d.JobVersion === 2 && d.Status === 'successful'));
    const job = (await call('GET', `/v1/job/${id}`)).json;
    expect(job.Version).toBe(2);
    const v0 = cluster.getJobVersions('default', id).find((v) => v.Version === 0)!;
    expect(job.TaskGroups[0].Services[0].Tags).toEqual((v0.TaskGroups as any[])[0].Services[0].Tags);
  });

  it('when the only stable version has the failing spec then there is no rollback and the description says why', async () => {
    const id = uniqueId('pr-norevert');
    cluster.behaviour.set(id, { fail: { task: 'api', message: 'image not found' } });
    await call('POST', '/v1/jobs', { Job: await parseJob(withAutoRevert(hcl(id))) });
    const dep = await cluster.settle('default', id);
    expect(dep?.StatusDescription).toBe('Failed due to unhealthy allocations - no stable job version to auto revert to');
    expect((await call('GET', `/v1/job/${id}`)).json.Version).toBe(0);
  });
});

describe('nomad emulator: plan (dry run)', () => {
  const planOf = async (id: string, job: Json, diff = true) => call('POST', `/v1/job/${id}/plan`, { Job: job, Diff: diff });

  it('when a new job is planned then it would place its groups, the index to create with is 0, and nothing is registered', async () => {
    const id = uniqueId('plan-new');
    const r = await planOf(id, await parseJob(hcl(id)));
    expect(r.status, r.text).toBe(200);
    expect(r.json).toMatchObject({ JobModifyIndex: 0, FailedTGAllocs: null, Warnings: '', CreatedEvals: null });
    expect(r.json.Annotations.DesiredTGUpdates.api).toMatchObject({ Place: 1, Ignore: 0, DestructiveUpdate: 0, InPlaceUpdate: 0, Stop: 0 });
    expect(r.json.Diff).toMatchObject({ Type: 'Added', ID: id, TaskGroups: [{ Name: 'api', Type: 'Added', Updates: { create: 1 } }] });
    expect((await call('GET', `/v1/job/${id}`)).status).toBe(404);
  });

  it('when a running job is planned unchanged, with new tags, or with new meta then ignore, in-place and destructive are annotated', async () => {
    const id = uniqueId('plan-run');
    const job = await parseJob(hcl(id));
    const reg = await call('POST', '/v1/jobs', { Job: job });
    await cluster.settle('default', id);
    const same = await planOf(id, job, false);
    expect(same.json.JobModifyIndex).toBe(reg.json.JobModifyIndex);
    expect(same.json.Diff).toBeNull();
    expect(same.json.Annotations.DesiredTGUpdates.api).toMatchObject({ Ignore: 1, Place: 0 });
    const tags = await planOf(id, await parseJob(hcl(id, { tagHost: 'other.example.com' })));
    expect(tags.json.Annotations.DesiredTGUpdates.api).toMatchObject({ InPlaceUpdate: 1, DestructiveUpdate: 0 });
    expect(tags.json.Diff.TaskGroups[0].Updates).toEqual({ 'in-place update': 1 });
    const image = await planOf(id, await parseJob(hcl(id).replace('shop-api:3f2c1ab"\n        ports', 'shop-api:other"\n        ports')));
    expect(image.json.Annotations.DesiredTGUpdates.api).toMatchObject({ DestructiveUpdate: 1, InPlaceUpdate: 0 });
    expect((await call('GET', `/v1/job/${id}`)).json.Version).toBe(0);
  });

  const refused: [string, unknown, number, string | RegExp][] = [
    ['no Job', {}, 400, 'Job must be specified'],
    ['no ID', { Job: { TaskGroups: [] } }, 400, 'Job must have a valid ID'],
    ['another ID', { Job: { ID: 'other' } }, 400, 'Job ID does not match'],
    ['no task groups', { Job: { ID: 'plan-x' } }, 500, '1 error occurred:\n\t* Missing job task groups\n\n'],
  ];
  for (const [what, body, status, message] of refused) {
    it(`when the plan body has ${what} then ${status} with the exact text`, async () => {
      const r = await call('POST', '/v1/job/plan-x/plan', body);
      expect([r.status, r.text]).toEqual([status, message]);
    });
  }

  it('when plan is called with GET then 405 Invalid method', async () => {
    const r = await call('GET', '/v1/job/plan-x/plan');
    expect([r.status, r.text]).toEqual([405, 'Invalid method']);
  });
});

describe('nomad emulator: reads', () => {
  it('when jobs are listed with a meta filter then only matching stubs come back, with Meta only when asked', async () => {
    const a = uniqueId('list-a');
    const b = uniqueId('list-b');
    await call('POST', '/v1/jobs', { Job: { ...minimalJob(a), Meta: { 'previewd.managed-by': 'list-test' } } });
    await call('POST', '/v1/jobs', { Job: { ...minimalJob(b), Meta: { 'previewd.managed-by': 'other' } } });
    const filter = encodeURIComponent('Meta["previewd.managed-by"] == "list-test"');
    const r = await call('GET', `/v1/jobs?meta=true&filter=${filter}`);
    expect(r.json.map((j: any) => j.ID)).toEqual([a]);
    expect(r.json[0].Meta).toEqual({ 'previewd.managed-by': 'list-test' });
    const noMeta = await call('GET', `/v1/jobs?prefix=${a}`);
    expect(noMeta.json).toHaveLength(1);
    expect(noMeta.json[0].Meta).toBeUndefined();
    const none = await call('GET', '/v1/jobs?prefix=does-not-exist');
    expect(none.text).toBe('[]');
    const otherNs = await call('GET', `/v1/jobs?namespace=elsewhere&prefix=${a}`);
    expect(otherNs.json).toEqual([]);
  });

  it('when a filter names an unknown selector then 400 failed to read result page', async () => {
    // nomad/job_endpoint.go List: a paginator Page error is NewErrRPCCodedf(400, "failed to read result page: %v").
    await call('POST', '/v1/jobs', { Job: minimalJob(uniqueId('sel')) });
    const r2 = await call('GET', `/v1/jobs?filter=${encodeURIComponent('Nope == "x"')}`);
    // go-bexpr evaluate.go getValue wraps pointerstructure get.go's error: a Job has no field Nope.
    expect([r2.status, r2.text]).toEqual([400, 'failed to read result page: error finding value in datum: /Nope at part 0: couldn\'t find key: struct field with name "Nope"']);
  });

  it('when a filter does not parse then 400 failed to create result paginator', async () => {
    const r = await call('GET', `/v1/jobs?filter=${encodeURIComponent('Meta["a"] == ')}`);
    expect(r.status).toBe(400);
    expect(r.text).toMatch(/^failed to create result paginator: failed to read filter expression: /);
  });

  it('when per_page is not a number then parsePagination ignores it: the whole list, no next token', async () => {
    for (const id of [uniqueId('nan-a'), uniqueId('nan-b')]) await call('POST', '/v1/jobs', { Job: minimalJob(id) });
    const all = await call('GET', '/v1/jobs');
    const r = await call('GET', '/v1/jobs?per_page=ten');
    expect(r.status).toBe(200);
    // The same jobs in the same order; not the same stubs: earlier tests' allocations move
    // on (starting → running) between the two reads, changing Status and ModifyIndex.
    const ids = (list: { ID: string }[]) => list.map((j) => j.ID);
    expect(ids(r.json)).toEqual(ids(all.json));
    expect(ids(all.json).length).toBeGreaterThan(1);
    expect(r.headers.get('x-nomad-nexttoken')).toBeNull();
  });

  it('when jobs are listed per_page at a time then next_token walks every match once, in ID order, and the last page has no token', async () => {
    const tag = uniqueId('page');
    const ids = Array.from({ length: 7 }, (_, i) => `${tag}-${String(i).padStart(2, '0')}`);
    for (const [i, id] of ids.entries()) await call('POST', '/v1/jobs', { Job: { ...minimalJob(id), Meta: { owner: i % 2 === 0 ? tag : 'someone-else' } } });
    const filter = encodeURIComponent(`Meta["owner"] == "${tag}"`);
    const seen: string[] = [];
    const tokens: string[] = [];
    let next = '';
    do {
      const r = await call('GET', `/v1/jobs?prefix=${tag}&filter=${filter}&per_page=2${next ? `&next_token=${encodeURIComponent(next)}` : ''}`);
      expect(r.status).toBe(200);
      expect(r.json.length).toBeLessThanOrEqual(2);
      seen.push(...r.json.map((j: any) => j.ID));
      next = r.headers.get('x-nomad-nexttoken') ?? '';
      if (next) tokens.push(next);
    } while (next);
    expect(seen).toEqual([ids[0], ids[2], ids[4], ids[6]]);
    // paginator/tokenizer.go NamespaceIDTokenizer: "<namespace>.<id>" of the first job left out.
    expect(tokens).toEqual([`default.${ids[4]}`]);
  });

  it('when unknown objects are read then 404 texts, deployment null and allocations []', async () => {
    expect((await call('GET', '/v1/evaluation/nope')).text).toBe('eval not found');
    expect((await call('GET', '/v1/deployment/nope')).text).toBe('deployment not found');
    const dep = await call('GET', '/v1/job/nope/deployment');
    expect([dep.status, dep.text]).toEqual([200, 'null']);
    expect((await call('GET', '/v1/job/nope/allocations')).text).toBe('[]');
    const del = await call('DELETE', '/v1/job/nope');
    expect(del.json).toMatchObject({ EvalID: '', EvalCreateIndex: 0, JobModifyIndex: 0 });
    const badPurge = await call('DELETE', '/v1/job/nope?purge=maybe');
    expect(badPurge.status).toBe(500);
    expect(badPurge.text).toMatch(/^Failed to parse value of "purge" \(maybe\) as a bool/);
    expect((await call('GET', '/v1/status/leader')).json).toBe('127.0.0.1:4647');
  });

  it('when a job is registered then the job, its eval and the answer share one raft index; an unchanged spec answers the job JobModifyIndex', async () => {
    // nomad/job_endpoint.go Register: one JobRegisterRequestType apply carries job and eval.
    const id = uniqueId('reg-index');
    const reg = await call('POST', '/v1/jobs', { Job: minimalJob(id) });
    expect(reg.json.EvalCreateIndex).toBe(reg.json.JobModifyIndex);
    expect(reg.json.Index).toBe(reg.json.JobModifyIndex);
    expect((await call('GET', `/v1/evaluation/${reg.json.EvalID}`)).json.CreateIndex).toBe(reg.json.JobModifyIndex);
    await cluster.settle('default', id);
    const job = (await call('GET', `/v1/job/${id}`)).json;
    // Status changes moved ModifyIndex past JobModifyIndex; an unchanged register answers the
    // latter (job_endpoint.go Register: reply.JobModifyIndex = existingJob.JobModifyIndex).
    expect(job.ModifyIndex).toBeGreaterThan(job.JobModifyIndex);
    const again = await call('POST', '/v1/jobs', { Job: minimalJob(id) });
    expect(again.json.JobModifyIndex).toBe(job.JobModifyIndex);
    expect(again.json.EvalCreateIndex).toBeGreaterThan(job.ModifyIndex);
    expect(again.json.Index).toBe(again.json.EvalCreateIndex);
  });

  it('when a job is deregistered then one apply carries the stop and a service eval, and stopping it again makes another version', async () => {
    const id = uniqueId('dereg');
    const reg = await call('POST', '/v1/jobs', { Job: { ...minimalJob(id), Type: 'batch', Priority: 70 } });
    await poll(async () => (await call('GET', `/v1/evaluation/${reg.json.EvalID}`)).json.Status === 'complete');
    const stop = await call('DELETE', `/v1/job/${id}?purge=&global=false&no_shutdown_delay=`);
    expect(stop.status).toBe(200);
    expect(stop.json.EvalCreateIndex).toBe(stop.json.JobModifyIndex);
    expect(stop.json.Index).toBe(stop.json.JobModifyIndex);
    expect(stop.headers.get('x-nomad-index')).toBe(String(stop.json.Index));
    // Deregister's eval is Type service whatever the job's type, at the job's priority.
    const ev = (await call('GET', `/v1/evaluation/${stop.json.EvalID}`)).json;
    expect(ev).toMatchObject({ Type: 'service', Priority: 70, TriggeredBy: 'job-deregister', CreateIndex: stop.json.JobModifyIndex });
    const stopped = (await call('GET', `/v1/job/${id}`)).json;
    expect(stopped).toMatchObject({ Stop: true, Version: 1, JobModifyIndex: stop.json.JobModifyIndex });
    // fsm.go handleJobDeregister upserts the stopped job again: a new version and JobModifyIndex.
    const again = await call('DELETE', `/v1/job/${id}?eval_priority=90`);
    expect(again.json.JobModifyIndex).toBeGreaterThan(stop.json.JobModifyIndex);
    expect((await call('GET', `/v1/job/${id}`)).json).toMatchObject({ Stop: true, Version: 2, JobModifyIndex: again.json.JobModifyIndex });
    expect((await call('GET', `/v1/evaluation/${again.json.EvalID}`)).json.Priority).toBe(90);
    const purge = await call('DELETE', `/v1/job/${id}?purge=1`);
    expect([purge.json.EvalCreateIndex, purge.json.Index]).toEqual([purge.json.JobModifyIndex, purge.json.JobModifyIndex]);
    expect((await call('GET', `/v1/job/${id}`)).status).toBe(404);
  });

  it('when deregister query values do not parse then the agent answers before the RPC with its texts', async () => {
    const r = async (q: string) => {
      const a = await call('DELETE', `/v1/job/nope?${q}`);
      return [a.status, a.text];
    };
    expect(await r('global=yes')).toEqual([500, 'Failed to parse value of "global" (yes) as a bool: strconv.ParseBool: parsing "yes": invalid syntax']);
    expect(await r('eval_priority=high')).toEqual([500, 'Failed to parse value of "eval_priority" (high) as a int: strconv.Atoi: parsing "high": invalid syntax']);
    expect(await r('no_shutdown_delay=nah')).toEqual([500, 'Failed to parse value of "no_shutdown_delay"q (nah) as a bool: strconv.ParseBool: parsing "nah": invalid syntax']);
    expect(await r('eval_priority=101')).toEqual([400, 'Eval priority must be between 1 and 100 inclusively']);
    // validateEvalPriorityOpt runs only for a positive value.
    expect((await r('eval_priority=-5'))[0]).toBe(200);
  });

  it('when an object is read then it reports its own ModifyIndex and a blocking read wakes only for it (blockingRPC watch sets)', async () => {
      const a = uniqueId('watch-a');
      const reg = await call('POST', '/v1/jobs', { Job: minimalJob(a) });
      await cluster.settle('default', a);
      const [stub] = (await call('GET', `/v1/job/${a}/allocations`)).json as any[];
      const alloc = await call('GET', `/v1/allocation/${stub.ID}`);
      // alloc_endpoint.go GetAlloc: reply.Index = out.ModifyIndex.
      expect(Number(alloc.headers.get('x-nomad-index'))).toBe(alloc.json.ModifyIndex);
      const ev = await call('GET', `/v1/evaluation/${reg.json.EvalID}`);
      expect(Number(ev.headers.get('x-nomad-index'))).toBe(ev.json.ModifyIndex);
      const dep = await call('GET', `/v1/job/${a}/deployment`);
      const byId = await call('GET', `/v1/deployment/${dep.json.ID}`);
      expect(Number(byId.headers.get('x-nomad-index'))).toBe(byId.json.ModifyIndex);

      // Another job's writes move the tables but not these objects: the reads keep blocking.
      const started = Date.now();
      const waits = [
      call('GET', `/v1/allocation/${stub.ID}?index=${alloc.json.ModifyIndex}&wait=300ms`),
      call('GET', `/v1/evaluation/${reg.json.EvalID}?index=${ev.json.ModifyIndex}&wait=300ms`),
      call('GET', `/v1/deployment/${dep.json.ID}?index=${byId.json.ModifyIndex}&wait=300ms`),
      ];
      const b = uniqueId('watch-b');
      await call('POST', '/v1/jobs', { Job: minimalJob(b) });
      const done = await Promise.all(waits);
      expect(Date.now() - started).toBeGreaterThanOrEqual(280);
      expect(done.map((r) => r.status)).toEqual([200, 200, 200]);
      await cluster.settle('default', b);

      // job_endpoint.go LatestDeployment and Allocations report their table's index ("deployment", "allocs").
      const latest = await call('GET', `/v1/job/${a}/deployment`);
      const other = (await call('GET', `/v1/job/${b}/deployment`)).json;
      expect(Number(latest.headers.get('x-nomad-index'))).toBeGreaterThanOrEqual(other.ModifyIndex);
      expect(latest.json.ID).toBe(dep.json.ID);
      const otherAllocs = (await call('GET', `/v1/job/${b}/allocations`)).json as any[];
      const allocsOfA = await call('GET', `/v1/job/${a}/allocations`);
      expect(Number(allocsOfA.headers.get('x-nomad-index'))).toBeGreaterThanOrEqual(Math.max(...otherAllocs.map((x) => x.ModifyIndex)));
  });

  it('when a purged job is registered again then its allocations and deployments lists hide the old job\'s unless all=true (AllocsByJob, DeploymentsByJobID)', async () => {
    const id = uniqueId('reborn');
    await call('POST', '/v1/jobs', { Job: minimalJob(id) });
    await cluster.settle('default', id);
    const [old] = (await call('GET', `/v1/job/${id}/allocations`)).json as any[];
    const [oldDeployment] = (await call('GET', `/v1/job/${id}/deployments`)).json as any[];
    await call('DELETE', `/v1/job/${id}?purge=true`);
    await poll(() => cluster.getAllocation(old.ID)?.ClientStatus === 'complete');
    await call('POST', '/v1/jobs', { Job: minimalJob(id) });
    // The new job's deployment, not the purged one's finished one (which made this test
    // read the allocations before the new job had any, on a loaded machine).
    const settled = await cluster.settle('default', id);
    expect(settled?.JobCreateIndex).toBe(cluster.getJob('default', id)?.CreateIndex);
    const now = ((await call('GET', `/v1/job/${id}/allocations`)).json as any[]).map((a) => a.ID);
    expect(now).toHaveLength(1);
    expect(now).not.toContain(old.ID);
    const all = ((await call('GET', `/v1/job/${id}/allocations?all=true`)).json as any[]).map((a) => a.ID);
    expect(all.sort()).toEqual([old.ID, ...now].sort());
    // strconv.ParseBool's error is ignored: all=maybe is all=false.
    expect((await call('GET', `/v1/job/${id}/allocations?all=maybe`)).json).toHaveLength(1);
    const deployments = ((await call('GET', `/v1/job/${id}/deployments`)).json as any[]).map((d) => d.ID);
    expect(deployments).toHaveLength(1);
    expect(deployments).not.toContain(oldDeployment.ID);
    expect(((await call('GET', `/v1/job/${id}/deployments?all=true`)).json as any[]).map((d) => d.ID)).toEqual([...deployments, oldDeployment.ID]);
    // LatestDeploymentByJobID takes the highest CreateIndex of any: the new job's here.
    expect((await call('GET', `/v1/job/${id}/deployment`)).json.ID).toBe(deployments[0]);
  });

  it('when a job path has no known suffix then the whole rest is the job ID, and versions parse their query first', async () => {
    // job_endpoint.go JobSpecificRequest: default case jobCRUD(path).
    expect([(await call('GET', '/v1/job/a/b')).status, (await call('GET', '/v1/job/a/b')).text]).toEqual([404, 'job not found']);
    const id = uniqueId('slash');
    const reg = await call('POST', `/v1/job/${id}/extra`, { Job: minimalJob(id) });
    expect([reg.status, reg.text]).toEqual([400, 'Job ID does not match name']);
    await call('POST', '/v1/jobs', { Job: minimalJob(id) });
    expect((await call('GET', `/v1/job/${id}/versions`)).status).toBe(200);
    const badDiffs = await call('GET', `/v1/job/${id}/versions?diffs=often`);
    expect([badDiffs.status, badDiffs.text]).toEqual([500, 'Failed to parse value of "diffs" (often) as a bool: strconv.ParseBool: parsing "often": invalid syntax']);
    const badVersion = await call('GET', `/v1/job/${id}/versions?diff_version=-1`);
    expect([badVersion.status, badVersion.text]).toEqual([500, 'Failed to parse value of "diff_version" (-1) as a uint64: strconv.ParseUint: parsing "-1": invalid syntax']);
    // alloc_endpoint.go AllocSpecificRequest: too many segments or an unknown action.
    expect([(await call('GET', '/v1/allocation/x/y/z')).status, (await call('GET', '/v1/allocation/x/y/z')).text]).toEqual([404, 'resource not found']);
    expect((await call('GET', '/v1/allocation/x/bogus')).text).toBe('resource not found');
  });

  it('when a blocking read waits then it returns when the index moves, and after the wait otherwise', async () => {
    const id = uniqueId('block');
    await call('POST', '/v1/jobs', { Job: minimalJob(id) });
    await cluster.settle('default', id);
    const first = await call('GET', `/v1/job/${id}`);
    const index = Number(first.headers.get('x-nomad-index'));
    expect(first.headers.get('x-nomad-knownleader')).toBe('true');

    const started = Date.now();
    const idle = await call('GET', `/v1/job/${id}?index=${index}&wait=150ms`);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(Number(idle.headers.get('x-nomad-index'))).toBe(index);

    const pending = call('GET', `/v1/job/${id}?index=${index}&wait=5s`);
    setTimeout(() => void call('POST', '/v1/jobs', { Job: { ...minimalJob(id), Meta: { v: '2' } } }), 30);
    const woke = await pending;
    expect(Date.now() - started).toBeLessThan(3000);
    expect(Number(woke.headers.get('x-nomad-index'))).toBeGreaterThan(index);
    expect(woke.json.Meta).toEqual({ v: '2' });

    expect((await call('GET', `/v1/job/${id}?index=abc`)).text).toBe('Invalid index');
    expect((await call('GET', `/v1/job/${id}?index=1&wait=soon`)).text).toBe('Invalid wait time');
  });

  it('when a blocking read asks for a zero or negative wait then it blocks the default time, as QueryOptions.TimeToBlock does', async () => {
    for (const wait of ['-1s', '0s', '+0']) {
      // A cluster of its own, so no other job's scheduling moves the index while this one waits.
      const quiet = createCluster({ startDelayMs: 10, healthyDelayMs: 20 });
      const own = await startNomadEmulator({ cluster: quiet });
      try {
        const id = uniqueId('block-neg');
        const index = Number((await call('GET', `/v1/job/${id}`, undefined, {}, own.url)).headers.get('x-nomad-index'));
        const started = Date.now();
        const pending = call('GET', `/v1/job/${id}?index=${index}&wait=${encodeURIComponent(wait)}`, undefined, {}, own.url);
        // time.ParseDuration accepts a signed duration; blockingRPC then waits 300s, not 0.
        const first = await Promise.race([pending, new Promise<'still waiting'>((r) => setTimeout(() => r('still waiting'), 200))]);
        expect(first, wait).toBe('still waiting');
        expect(Date.now() - started).toBeGreaterThanOrEqual(190);
        await call('POST', '/v1/jobs', { Job: minimalJob(id) }, {}, own.url);
        const woke = await pending;
        expect(woke.status).toBe(200);
        expect(Number(woke.headers.get('x-nomad-index'))).toBeGreaterThan(index);
      } finally {
        quiet.close();
        await own.close();
      }
    }
    const id = uniqueId('block-bad');
    expect((await call('GET', `/v1/job/${id}?index=1&wait=.s`)).text).toBe('Invalid wait time');
    expect((await call('GET', `/v1/job/${id}?index=-1`)).text).toBe('Invalid index');
  });

  it('when a wait is over five minutes then it is cut to MaxBlockingRPCQueryTime, and a non-positive one is the default', () => {
    // nomad/structs/structs.go: MaxBlockingRPCQueryTime = DefaultBlockingRPCQueryTime = 300s.
    expect(nomadTimeToBlock(10 * 60_000)).toBe(300_000);
    expect(nomadTimeToBlock(299_000)).toBe(299_000);
    expect(nomadTimeToBlock(0)).toBe(300_000);
    expect(nomadTimeToBlock(-1000)).toBe(300_000);
  });

  it('when fault knobs are set then requests fail the configured way through the harness', async () => {
    nomad.faults.failures.push({ path: '/v1/jobs', status: 500, body: 'No cluster leader', times: 1 });
    const failed = await call('GET', '/v1/jobs');
    expect([failed.status, failed.text]).toEqual([500, 'No cluster leader']);
    expect((await call('GET', '/v1/jobs')).status).toBe(200);
  });
});

describe('nomad emulator: ACL', () => {
  it('when ACLs are on then a missing token is denied, a wrong one not found, and both header forms work', async () => {
    const secured = await startNomadEmulator({ cluster, token: 'sekrit-token' });
    try {
      const none = await call('GET', '/v1/jobs', undefined, {}, secured.url);
      expect([none.status, none.text]).toEqual([403, 'Permission denied']);
      const wrong = await call('GET', '/v1/jobs', undefined, { 'X-Nomad-Token': 'nope' }, secured.url);
      expect([wrong.status, wrong.text]).toEqual([403, 'ACL token not found']);
      expect((await call('GET', '/v1/jobs', undefined, { 'X-Nomad-Token': 'sekrit-token' }, secured.url)).status).toBe(200);
      expect((await call('GET', '/v1/jobs', undefined, { Authorization: 'Bearer sekrit-token' }, secured.url)).status).toBe(200);
    } finally {
      await secured.close();
    }
  });
});

describe('nomad emulator: ACL against the object read', () => {
  it('when a token lacks the capability then each RPC refuses its own way: Unknown allocation, read-fs for cat, deregister-job for a stop', async () => {
    const acl = createNomadAcl();
    await acl.createPolicy('other-ns', 'namespace "elsewhere" { policy = "write" }');
    await acl.createPolicy('reader', 'namespace "default" { policy = "read" }');
    await acl.createPolicy('stopper', 'namespace "default" { capabilities = ["deregister-job", "read-fs"] }');
    const secured = await startNomadEmulator({ cluster, acl });
    const as = (t: { SecretID: string }) => ({ 'X-Nomad-Token': t.SecretID });
    const other = acl.createToken({ policies: ['other-ns'] });
    const reader = acl.createToken({ policies: ['reader'] });
    const stopper = acl.createToken({ policies: ['stopper'] });
    try {
      const id = uniqueId('acl-obj');
      const reg = await call('POST', '/v1/jobs', { Job: minimalJob(id) });
      await cluster.settle('default', id);
      const [alloc] = (await call('GET', `/v1/job/${id}/allocations`)).json as any[];
      const dep = (await call('GET', `/v1/job/${id}/deployment`)).json;
      const get = async (path: string, t: { SecretID: string }, method = 'GET') => {
        const r = await call(method, path, undefined, as(t), secured.url);
        return [r.status, r.text.startsWith('{') ? 'json' : r.text];
      };
      // alloc_endpoint.go GetAlloc: the alloc's namespace only; a refusal hides it as an uncoded error.
      expect(await get(`/v1/allocation/${alloc.ID}`, other)).toEqual([500, `Unknown allocation "${alloc.ID}"`]);
      expect(await get(`/v1/allocation/${alloc.ID}?namespace=elsewhere`, other)).toEqual([500, `Unknown allocation "${alloc.ID}"`]);
      expect(await get(`/v1/allocation/${alloc.ID}`, reader)).toEqual([200, 'json']);
      expect(await get('/v1/allocation/no-such-alloc', other)).toEqual([404, 'alloc not found']);
      // eval_endpoint.go GetEval: the request's namespace, then the eval's.
      expect(await get(`/v1/evaluation/${reg.json.EvalID}`, other)).toEqual([403, 'Permission denied']);
      expect(await get(`/v1/evaluation/${reg.json.EvalID}?namespace=elsewhere`, other)).toEqual([403, 'Permission denied']);
      // deployment_endpoint.go GetDeployment: one in a namespace the caller cannot read is hidden.
      expect(await get(`/v1/deployment/${dep.ID}?namespace=elsewhere`, other)).toEqual([404, 'deployment not found']);
      // client/fs_endpoint.go stream: cat needs read-fs, which read policy lacks.
      expect(await get(`/v1/client/fs/cat/${alloc.ID}?path=web/local/x`, reader)).toEqual([403, 'Permission denied']);
      expect((await get(`/v1/client/fs/cat/${alloc.ID}?path=web/local/x`, stopper))[0]).toBe(500); // allowed; no such file
      expect(await get(`/v1/client/fs/cat/no-such-alloc?path=web/x`, reader)).toEqual([404, 'Unknown allocation "no-such-alloc"']);
      // client/fs_endpoint.go logs: read-fs or read-logs, in the alloc's namespace.
      expect(await get(`/v1/client/fs/logs/${alloc.ID}?task=web&type=stdout&plain=true`, reader)).toEqual([403, 'Permission denied']);
      expect((await get(`/v1/client/fs/logs/${alloc.ID}?task=web&type=stdout&plain=true&namespace=elsewhere`, other))[0]).toBe(403);
      // job_endpoint.go Deregister: deregister-job is enough to stop, not to purge.
      expect(await get(`/v1/job/${id}?purge=true`, stopper, 'DELETE')).toEqual([403, 'Permission denied']);
      expect(await get(`/v1/job/${id}`, reader, 'DELETE')).toEqual([403, 'Permission denied']);
      expect(await get(`/v1/job/${id}`, stopper, 'DELETE')).toEqual([200, 'json']);
      // The query is parsed before the RPC's ACL check.
      expect((await get(`/v1/job/${id}?purge=maybe`, reader, 'DELETE'))[0]).toBe(500);

      // acl.go AllowNamespaceOperation: "*" passes when any namespace grants list-jobs, and
      // job_endpoint.go List then shows only the namespaces the token may list.
      const hidden = uniqueId('acl-else');
      await call('POST', '/v1/jobs?namespace=elsewhere', { Job: minimalJob(hidden) });
      const listed = await call('GET', `/v1/jobs?namespace=*&prefix=acl-`, undefined, as(other), secured.url);
      expect(listed.status).toBe(200);
      expect(listed.json.map((j: any) => j.ID)).toEqual([hidden]);
      const byReader = await call('GET', `/v1/jobs?namespace=*&prefix=acl-`, undefined, as(reader), secured.url);
      expect(byReader.json.map((j: any) => j.ID)).not.toContain(hidden);
      expect(byReader.json.map((j: any) => j.ID)).toContain(id);
      expect(await get('/v1/jobs?namespace=elsewhere', reader)).toEqual([403, 'Permission denied']);
    } finally {
      await secured.close();
    }
  });
});

describe('bexpr subset', () => {
  const datum = { Meta: { 'a.b': 'x' }, Tags: ['t1', 't2'], Checks: [{ Status: 'passing' }, { Status: 'critical' }], Name: 'svc-1' };
  const table: [string, boolean][] = [
    ['Meta["a.b"] == "x"', true],
    ['Meta["a.b"] != "x"', false],
    ['Meta["missing"] == "x"', false],
    ['"t1" in Tags', true],
    ['"t3" not in Tags', true],
    ['Tags contains "t2" and Name == "svc-1"', true],
    ['Tags contains "t9" or Name == "svc-1"', true],
    ['not (Name == "svc-1")', false],
    ['any Checks as c { c.Status contains "critical" }', true],
    ['all Checks as c { c.Status == "passing" }', false],
    ['Name matches "^svc-[0-9]+$"', true],
    ['Meta is not empty', true],
  ];
  for (const [expr, expected] of table) {
    it(`when evaluating ${expr} then ${expected}`, () => {
      expect(compileBexpr(expr)(datum)).toBe(expected);
    });
  }
});

async function poll(check: () => boolean | Promise<boolean>, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConflictError, TransientError, UserError } from '../errors.js';
import { createCluster, type Cluster } from '../sandbox/emulators/cluster.js';
import { startNomadEmulator, type NomadEmulator } from '../sandbox/emulators/nomad.js';
import { createNomadClient } from './client.js';
import type { NomadClient } from './types.js';

const TOKEN = 'nomad-secret-token-value';
let cluster: Cluster;
let nomad: NomadEmulator;
let client: NomadClient;
let seq = 0;
const uniqueId = (p: string) => `${p}-${process.pid}-${++seq}`;

beforeAll(async () => {
  cluster = createCluster({ startDelayMs: 10, healthyDelayMs: 20 });
  nomad = await startNomadEmulator({ cluster, token: TOKEN });
  client = createNomadClient({ address: nomad.url, token: TOKEN, namespace: 'default', timeoutMs: 2000 });
});
afterAll(async () => {
  cluster.close();
  await nomad.close();
});
afterEach(() => nomad.resetFaults());

const spec = (id: string, extra = '') => `job "${id}" {
  datacenters = ["dc1"]
  meta = { "previewd.managed-by" = "client-test" }
  group "web" {
    network {
      port "http" { to = 8080 }
    }
    service {
      name = "${id}"
      port = "http"
      tags = ["traefik.enable=true"]
    }
    task "web" {
      driver = "docker"
      config { image = "nginx:1" }
      ${extra}
    }
  }
}`;

async function thrown(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

describe('nomad client', () => {
  it('when a job is parsed, registered and watched then the deployment becomes successful and the job reads back', async () => {
    const id = uniqueId('pr-client');
    const job = await client.parseJob(spec(id));
    expect(job.ID).toBe(id);
    const reg = await client.registerJob(job, { enforceIndex: 0 });
    expect(reg.evalId).not.toBe('');
    let { deployment, index } = await client.getLatestDeployment(id);
    for (let i = 0; i < 20 && deployment?.status !== 'successful'; i++) {
      ({ deployment, index } = await client.getLatestDeployment(id, { index, waitMs: 2000 }));
    }
    expect(deployment).toMatchObject({ jobId: id, jobVersion: 0, status: 'successful', statusDescription: 'Deployment completed successfully' });
    const state = await client.getJob(id);
    expect(state).toMatchObject({ id, version: 0, stop: false, status: 'running', meta: { 'previewd.managed-by': 'client-test' }, jobModifyIndex: reg.jobModifyIndex });
    const allocs = await client.listAllocations(id);
    expect(allocs).toHaveLength(1);
    expect(allocs[0]).toMatchObject({ taskGroup: 'web', clientStatus: 'running', healthy: true });
    expect(allocs[0]!.tasks.web!.state).toBe('running');
  });

  it('when a blocking read sees no change then it returns after the wait with the same index', async () => {
    const id = uniqueId('pr-wait');
    await client.registerJob(await client.parseJob(spec(id)));
    await cluster.settle('default', id);
    const first = await client.getLatestDeployment(id);
    const started = Date.now();
    const again = await client.getLatestDeployment(id, { index: first.index, waitMs: 150 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(again.index).toBe(first.index);
  });

  it('when job versions are listed then each carries the JobModifyIndex its register answered, newest first; unknown job gives []', async () => {
    const id = uniqueId('versions');
    const first = await client.registerJob(await client.parseJob(spec(id)));
    const second = await client.registerJob(await client.parseJob(spec(id).replace('nginx:1', 'nginx:2')));
    const versions = await client.listJobVersions(id);
    expect(versions.map((v) => [v.version, v.jobModifyIndex])).toEqual([
      [1, second.jobModifyIndex],
      [0, first.jobModifyIndex],
    ]);
    expect(await client.listJobVersions(uniqueId('none'))).toEqual([]);
  });

  it('when the job has no deployment or does not exist then null comes back, not an error', async () => {
    expect(await client.getJob('never-registered')).toBeNull();
    expect((await client.getLatestDeployment('never-registered')).deployment).toBeNull();
    expect(await client.listAllocations('never-registered')).toEqual([]);
    await expect(client.stopJob('never-registered', { purge: true })).resolves.toBeUndefined();
  });

  it('when jobs are listed with a meta filter then only owned jobs return with their meta', async () => {
    const owned = uniqueId('pr-owned');
    await client.registerJob(await client.parseJob(spec(owned)));
    const stranger = { ...(await client.parseJob(spec(uniqueId('pr-stranger')))), Meta: { other: 'x' } };
    await client.registerJob(stranger);
    const list = await client.listJobs({ filter: 'Meta["previewd.managed-by"] == "client-test"', prefix: 'pr-' });
    expect(list.map((j) => j.id)).toContain(owned);
    expect(list.map((j) => j.id)).not.toContain(stranger.ID);
    expect(list.find((j) => j.id === owned)?.meta['previewd.managed-by']).toBe('client-test');
  });

  it('when the owned jobs span several pages then every one is listed once, and a bad filter is a UserError with Nomad\'s text', async () => {
    const tag = uniqueId('pr-paged');
    const ids = Array.from({ length: 5 }, (_, i) => `${tag}-${i}`);
    for (const id of ids) await client.registerJob(await client.parseJob(spec(id)));
    let pages = 0;
    const counting = createNomadClient({
      address: nomad.url,
      token: TOKEN,
      namespace: 'default',
      fetch: (input, init) => {
        if (String(input).includes('/v1/jobs?')) pages++;
        return fetch(input, init);
      },
    });
    const list = await counting.listJobs({ prefix: tag, filter: 'Meta["previewd.managed-by"] == "client-test"', perPage: 2 });
    expect(list.map((j) => j.id)).toEqual(ids);
    expect(pages).toBe(3);
    const bad = await counting.listJobs({ filter: 'Meta["x"] ==' }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(UserError);
    expect((bad as Error).message).toContain('failed to read filter expression');
  });

  it('when stop then purge are asked then the job is stopped, then gone', async () => {
    const id = uniqueId('pr-stop');
    await client.registerJob(await client.parseJob(spec(id)));
    await client.stopJob(id);
    expect((await client.getJob(id))?.stop).toBe(true);
    await client.stopJob(id, { purge: true });
    expect(await client.getJob(id)).toBeNull();
  });

  it('when the HCL is broken then UserError carries the diagnostics', async () => {
    const err = await thrown(client.parseJob('job "x" { = }'));
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toContain('Failed to parse job');
  });

  it('when validation fails on register then UserError with the multi-error text', async () => {
    const err = await thrown(client.registerJob({ ID: 'has space', TaskGroups: [{ Name: 'g', Tasks: [{ Name: 't', Driver: 'docker' }] }] }));
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toContain('Job ID contains a space');
  });

  it('when EnforceIndex does not match then ConflictError', async () => {
    const id = uniqueId('pr-cas');
    const job = await client.parseJob(spec(id));
    await client.registerJob(job, { enforceIndex: 0 });
    const err = await thrown(client.registerJob(job, { enforceIndex: 0 }));
    expect(err).toBeInstanceOf(ConflictError);
    expect(err.message).toContain('job already exists');
  });

  it('when the token is wrong then UserError naming nomad and never the token', async () => {
    const bad = createNomadClient({ address: nomad.url, token: 'wrong-token-value', namespace: 'default' });
    const err = await thrown(bad.listJobs());
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toContain('nomad');
    expect(err.message).not.toContain('wrong-token-value');
    expect(err.message).not.toContain(TOKEN);
  });

  it('when the agent answers 500 No cluster leader or is down or slow then TransientError keeping the cause', async () => {
    nomad.faults.failures.push({ path: '/v1/jobs', status: 500, body: 'No cluster leader', times: 1 });
    expect(await thrown(client.listJobs())).toBeInstanceOf(TransientError);

    nomad.faults.latencyMs = 300;
    const slow = createNomadClient({ address: nomad.url, token: TOKEN, namespace: 'default', timeoutMs: 50 });
    const timeout = await thrown(slow.ping());
    expect(timeout).toBeInstanceOf(TransientError);
    expect(timeout.cause).toBeDefined();
    nomad.faults.latencyMs = 0;

    await nomad.down();
    try {
      const refused = await thrown(client.ping());
      expect(refused).toBeInstanceOf(TransientError);
      expect(refused.cause).toBeDefined();
    } finally {
      await nomad.up();
    }
    await expect(client.ping()).resolves.toBeUndefined();
  });
});

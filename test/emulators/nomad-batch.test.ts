// Batch jobs in the Nomad emulator: run to completion with the exit code a test gives,
// serve their output through the logs API, fail placement the way the scheduler does,
// and disappear on a purge (command/agent/fs_endpoint.go, scheduler/generic_sched.go).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCluster, type Cluster } from '../../src/sandbox/emulators/cluster.js';
import { startNomadEmulator, type NomadEmulator } from '../../src/sandbox/emulators/nomad.js';
import { createNomadClient } from '../../src/nomad/client.js';

let cluster: Cluster;
let nomad: NomadEmulator;
let seq = 0;
const uniqueId = (p: string) => `${p}-${process.pid}-${++seq}`;

beforeAll(async () => {
  cluster = createCluster({ startDelayMs: 10, healthyDelayMs: 30 });
  nomad = await startNomadEmulator({ cluster });
});
afterAll(async () => {
  cluster.close();
  await nomad.close();
});

const batchHcl = (id: string) => `job "${id}" {
  type        = "batch"
  datacenters = ["dc1"]
  group "e2e" {
    task "e2e" {
      driver = "docker"
      config {
        image = "ghcr.io/acme/e2e:1"
      }
    }
  }
}`;

async function register(id: string): Promise<string> {
  const parsed = await fetch(`${nomad.url}/v1/jobs/parse`, { method: 'POST', body: JSON.stringify({ JobHCL: batchHcl(id), Canonicalize: true }) });
  const job = await parsed.json();
  const res = await fetch(`${nomad.url}/v1/jobs`, { method: 'POST', body: JSON.stringify({ Job: job }) });
  expect(res.status).toBe(200);
  return ((await res.json()) as { EvalID: string }).EvalID;
}

async function terminalAlloc(id: string, timeoutMs = 10_000): Promise<Record<string, any>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const a = cluster.listAllocations('default', id).find((x) => ['complete', 'failed'].includes(x.ClientStatus as string));
    if (a) return a;
    if (Date.now() > deadline) throw new Error(`no terminal allocation of ${id}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const get = async (path: string) => {
  const res = await fetch(`${nomad.url}${path}`);
  return { status: res.status, text: await res.text() };
};

describe('batch jobs', () => {
  it('when a batch task exits 0 then the allocation is complete with a Terminated event of exit code 0', async () => {
    const id = uniqueId('pass');
    await register(id);
    const a = await terminalAlloc(id);
    expect(a.ClientStatus).toBe('complete');
    const events = a.TaskStates.e2e.Events as { Type: string; DisplayMessage: string; ExitCode: number }[];
    expect(events.at(-1)).toMatchObject({ Type: 'Terminated', DisplayMessage: 'Exit Code: 0', ExitCode: 0 });
    expect(a.TaskStates.e2e.Failed).toBe(false);
  });

  it('when the behaviour gives exit code 3 then the task fails with Not Restarting after Terminated', async () => {
    const id = uniqueId('fail');
    cluster.behaviour.set(id, { exitCode: 3, stdout: 'ok 1\nnot ok 2 checkout\n' });
    await register(id);
    const a = await terminalAlloc(id);
    expect(a.ClientStatus).toBe('failed');
    const events = (a.TaskStates.e2e.Events as { Type: string; ExitCode: number }[]).map((e) => e.Type);
    expect(events.slice(-2)).toEqual(['Terminated', 'Not Restarting']);
    expect(a.TaskStates.e2e.Failed).toBe(true);
  });

  it('when a prefix behaviour matches then every job ID under it gets it', async () => {
    const prefix = uniqueId('prefix');
    cluster.behaviour.set(`${prefix}-*`, { exitCode: 1 });
    await register(`${prefix}-abc`);
    expect((await terminalAlloc(`${prefix}-abc`)).ClientStatus).toBe('failed');
  });
});

describe('logs API', () => {
  it('serves stdout plain, framed, and the tail from origin=end', async () => {
    const id = uniqueId('logs');
    cluster.behaviour.set(id, { stdout: 'line one\nline two\n', stderr: 'warn\n' });
    await register(id);
    const a = await terminalAlloc(id);
    const base = `/v1/client/fs/logs/${a.ID as string}?task=e2e`;
    expect(await get(`${base}&type=stdout&plain=true`)).toEqual({ status: 200, text: 'line one\nline two\n' });
    expect((await get(`${base}&type=stderr&plain=true`)).text).toBe('warn\n');
    expect((await get(`${base}&type=stdout&plain=true&origin=end&offset=9`)).text).toBe('line two\n');
    const framed = JSON.parse((await get(`${base}&type=stdout`)).text) as { Data: string; Offset: number; File: string };
    expect(Buffer.from(framed.Data, 'base64').toString()).toBe('line one\nline two\n');
    expect(framed.File).toBe('alloc/logs/e2e.stdout.0');

    // The client also reads logs through its own method.
    const client = createNomadClient({ address: nomad.url, namespace: 'default' });
    expect(await client.readTaskLogs(a.ID as string, 'e2e', 'stdout', { tailBytes: 9 })).toBe('line two\n');
  });

  it('refuses what the agent refuses, with its texts', async () => {
    const id = uniqueId('logs-bad');
    await register(id);
    const a = await terminalAlloc(id);
    const base = `/v1/client/fs/logs/${a.ID as string}`;
    expect(await get(`${base}?type=stdout`)).toEqual({ status: 400, text: 'must provide task name' });
    expect(await get(`${base}?task=e2e&type=both`)).toEqual({ status: 400, text: 'must provide log type (stdout/stderr)' });
    expect(await get(`${base}?task=e2e&type=stdout&origin=middle`)).toEqual({ status: 400, text: 'origin must be start or end' });
    expect((await get(`${base}?task=e2e&type=stdout&plain=maybe`)).status).toBe(400);
    expect(await get(`${base}?task=e2e&type=stdout&offset=9223372036854775808`)).toEqual({ status: 400, text: 'error parsing offset: strconv.ParseInt: parsing "9223372036854775808": value out of range' });
    expect(await get(`${base}?task=other&type=stdout`)).toEqual({ status: 404, text: 'task group "e2e" does not have task with name "other"' });
    expect((await get(`/v1/client/fs/logs/nope?task=e2e&type=stdout`)).status).toBe(404);
  });

  it('answers 404 for a task that has not started', async () => {
    const id = uniqueId('logs-early');
    cluster.behaviour.set(id, { startDelayMs: 5_000 });
    await register(id);
    let alloc;
    for (let i = 0; i < 200 && !alloc; i++) {
      alloc = cluster.listAllocations('default', id)[0];
      if (!alloc) await new Promise((r) => setTimeout(r, 10));
    }
    expect(await get(`/v1/client/fs/logs/${alloc!.ID as string}?task=e2e&type=stdout`)).toEqual({ status: 404, text: 'task "e2e" not started yet. No logs available' });
  });
});

describe('placement failures', () => {
  it('when no node fits then no allocation is made and the evaluation carries FailedTGAllocs and a blocked eval', async () => {
    const id = uniqueId('unsched');
    cluster.behaviour.set(id, { unschedulable: { dimension: 'memory' } });
    const evalId = await register(id);
    let ev: Record<string, any> | undefined;
    for (let i = 0; i < 200; i++) {
      ev = cluster.getEvaluation(evalId);
      if (ev?.Status === 'complete') break;
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(ev!.FailedTGAllocs.e2e).toMatchObject({ NodesEvaluated: 1, NodesExhausted: 1, DimensionExhausted: { memory: 1 }, CoalescedFailures: 0 });
    expect(cluster.getEvaluation(ev!.BlockedEval)).toMatchObject({ Status: 'blocked', PreviousEval: evalId });
    expect(cluster.listAllocations('default', id)).toEqual([]);
    expect(cluster.getJob('default', id)?.Status).toBe('pending');

    const client = createNomadClient({ address: nomad.url, namespace: 'default' });
    const read = await client.getEvaluation(evalId);
    expect(read).toMatchObject({ status: 'complete', blockedEval: ev!.BlockedEval });
    expect(read!.failedPlacements.e2e).toMatchObject({ dimensionExhausted: { memory: 1 }, nodesEvaluated: 1 });
  });

  it('a purge removes the job at once; its allocations stop', async () => {
    const id = uniqueId('purge');
    cluster.behaviour.set(id, { healthyDelayMs: 60_000 });
    await register(id);
    const res = await fetch(`${nomad.url}/v1/job/${id}?purge=true`, { method: 'DELETE' });
    expect(res.status).toBe(200);
    expect(cluster.getJob('default', id)).toBeUndefined();
    for (let i = 0; i < 200 && cluster.listAllocations('default', id).some((a) => a.DesiredStatus === 'run'); i++) await new Promise((r) => setTimeout(r, 10));
    expect(cluster.listAllocations('default', id).every((a) => a.DesiredStatus === 'stop')).toBe(true);
  });
});

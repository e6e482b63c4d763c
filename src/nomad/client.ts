// NomadClient over Nomad's HTTP API. Only this folder knows Nomad's wire JSON.
// Errors map to src/errors.ts: network/timeouts/5xx → TransientError; a 500 carrying a
// validation multi-error → UserError; an EnforceIndex conflict → ConflictError;
// 403 → UserError (bad token, never echoed); 404 → null for get*.
import { z } from 'zod';
import { ConflictError, TransientError, UserError } from '../errors.js';
import { createTransport, type FetchLike } from '../http-transport.js';
import { NomadAllocationWire, NomadDeploymentWire, NomadEvaluationWire, NomadJobStubWire, NomadJobVersionsWire, NomadJobWire, NomadRegisterResponseWire } from './schema.js';
import type { BlockingOptions, NomadAllocation, NomadBatchClient, NomadClient, NomadDeployment, NomadEvaluation, NomadJob, NomadJobStub } from './types.js';


export interface NomadClientOptions {
  address: string;
  token?: string;
  namespace: string;
  fetch?: FetchLike;
  /** Per request (blocking reads get their wait on top). Default 10 s. */
  timeoutMs?: number;
}

const system = 'nomad' as const;
const MAX_ERROR_BODY = 2000;

interface Answer {
  status: number;
  body: string;
  index: number;
  /** X-Nomad-NextToken of a paged list: where the next page starts; '' on the last page. */
  nextToken: string;
}

/** Jobs per page of GET /v1/jobs: big enough that 2000 environments (8000 jobs) take 16 pages. */
const JOB_LIST_PAGE = 500;

function describe(body: string): string {
  const trimmed = body.trim();
  return trimmed.length > MAX_ERROR_BODY ? `${trimmed.slice(0, MAX_ERROR_BODY)}…` : trimmed;
}

/** Turns a non-2xx answer into the error class that tells the caller what to do. */
export function nomadError(what: string, status: number, body: string): Error {
  const text = describe(body);
  if (status === 403) return new UserError(`nomad refused ${what}: permission denied (check the Nomad ACL token): ${text}`, { system, status });
  if (status === 500 && text.includes('Enforcing job modify index')) return new ConflictError(`nomad ${what}: ${text}`, { system, status });
  if (status === 500 && (text.includes('error occurred') || text.includes('validation failed'))) {
    return new UserError(`nomad rejected ${what}: ${text}`, { system, status });
  }
  if (status >= 500 || status === 429) return new TransientError(`nomad ${what} failed with ${status}: ${text}`, { system, status });
  return new UserError(`nomad rejected ${what} (${status}): ${text}`, { system, status });
}


function toDeployment(d: z.infer<typeof NomadDeploymentWire>): NomadDeployment {
  return { id: d.ID, jobId: d.JobID, jobVersion: d.JobVersion, status: d.Status, statusDescription: d.StatusDescription, modifyIndex: d.ModifyIndex };
}

function toStub(j: z.infer<typeof NomadJobStubWire>): NomadJobStub {
  return { id: j.ID, status: j.Status, stop: j.Stop, meta: j.Meta, jobModifyIndex: j.JobModifyIndex };
}

function toAllocation(a: z.infer<typeof NomadAllocationWire>): NomadAllocation {
  const tasks: NomadAllocation['tasks'] = {};
  for (const [name, st] of Object.entries(a.TaskStates ?? {})) {
    tasks[name] = { state: st.State, failed: st.Failed, events: (st.Events ?? []).map((e) => ({ type: e.Type, message: e.DisplayMessage, time: e.Time, exitCode: e.ExitCode })) };
  }
  return {
    id: a.ID,
    taskGroup: a.TaskGroup,
    jobVersion: a.JobVersion,
    clientStatus: a.ClientStatus,
    desiredStatus: a.DesiredStatus,
    healthy: a.DeploymentStatus?.Healthy ?? null,
    tasks,
  };
}

function toEvaluation(e: z.infer<typeof NomadEvaluationWire>): NomadEvaluation {
  const failedPlacements: NomadEvaluation['failedPlacements'] = {};
  for (const [group, m] of Object.entries(e.FailedTGAllocs)) {
    failedPlacements[group] = {
      nodesEvaluated: m.NodesEvaluated,
      nodesFiltered: m.NodesFiltered,
      nodesExhausted: m.NodesExhausted,
      constraintFiltered: m.ConstraintFiltered,
      classFiltered: m.ClassFiltered,
      dimensionExhausted: m.DimensionExhausted,
      classExhausted: m.ClassExhausted,
      quotaExhausted: m.QuotaExhausted,
      coalescedFailures: m.CoalescedFailures,
    };
  }
  return { id: e.ID, status: e.Status, statusDescription: e.StatusDescription, blockedEval: e.BlockedEval, failedPlacements };
}

export function createNomadClient(options: NomadClientOptions): NomadClient & NomadBatchClient {
  const transport = createTransport({
    system,
    address: options.address,
    headers: options.token ? { 'X-Nomad-Token': options.token } : {},
    fetch: options.fetch,
    timeoutMs: options.timeoutMs ?? 10_000,
  });
  const parseWire = <T extends z.ZodType>(schema: T, body: string, what: string): z.infer<T> => transport.parse(schema, body, what);

  async function request(
    method: string,
    path: string,
    what: string,
    init: { query?: Record<string, string | undefined>; body?: unknown; extraTimeoutMs?: number; signal?: AbortSignal | undefined } = {},
  ): Promise<Answer> {
    const query = new URLSearchParams({ namespace: options.namespace });
    for (const [k, v] of Object.entries(init.query ?? {})) if (v !== undefined) query.set(k, v);
    const a = await transport.request(method, path, what, { query, body: init.body, extraTimeoutMs: init.extraTimeoutMs, signal: init.signal });
    return { status: a.status, body: a.body, index: Number(a.headers.get('x-nomad-index') ?? 0) || 0, nextToken: a.headers.get('x-nomad-nexttoken') ?? '' };
  }

  function expectOk(a: Answer, what: string): Answer {
    if (a.status >= 200 && a.status < 300) return a;
    throw nomadError(what, a.status, a.body);
  }

  const enc = encodeURIComponent;

  return {
    async parseJob(hcl) {
      const what = 'job parse';
      const a = await request('POST', '/v1/jobs/parse', what, { body: { JobHCL: hcl, Canonicalize: true } });
      // The agent answers every parse problem (empty spec, HCL diagnostics) with 400.
      if (a.status === 400) throw new UserError(`nomad could not parse the job: ${describe(a.body)}`, { system, status: 400 });
      expectOk(a, what);
      const job = parseWire(z.looseObject({ ID: z.string() }), a.body, what);
      return job as NomadJob;
    },

    async registerJob(job, opts = {}) {
      const what = `job register ${job.ID}`;
      const body: Record<string, unknown> = { Job: job };
      if (opts.enforceIndex !== undefined) Object.assign(body, { EnforceIndex: true, JobModifyIndex: opts.enforceIndex });
      const a = expectOk(await request('POST', '/v1/jobs', what, { body }), what);
      const r = parseWire(NomadRegisterResponseWire, a.body, what);
      return { evalId: r.EvalID, jobModifyIndex: r.JobModifyIndex, warnings: r.Warnings };
    },

    async getJob(id) {
      const what = `job read ${id}`;
      const a = await request('GET', `/v1/job/${enc(id)}`, what);
      if (a.status === 404) return null;
      const j = parseWire(NomadJobWire, expectOk(a, what).body, what);
      return { ...toStub(j), version: j.Version };
    },

    async listJobs(opts = {}) {
      const what = 'job list';
      const perPage = String(opts.perPage ?? JOB_LIST_PAGE);
      const jobs: NomadJobStub[] = [];
      // nomad/state/paginator: each page names where the next starts; the filter runs server-side on every page.
      // Stubs carry Meta with meta=true since Nomad 1.5 (hashicorp/nomad#14833, command/agent/job_endpoint.go
      // jobListRequest); an older server sends none, and then no job reads as previewd's (nothing is touched).
      // A server that does not page answers everything at once with no X-Nomad-NextToken.
      let nextToken = '';
      do {
        const query = { meta: 'true', prefix: opts.prefix || undefined, filter: opts.filter || undefined, per_page: perPage, next_token: nextToken || undefined };
        const a = expectOk(await request('GET', '/v1/jobs', what, { query }), what);
        for (const stub of parseWire(NomadJobStubWire.array().nullable(), a.body, what) ?? []) jobs.push(toStub(stub));
        if (a.nextToken !== '' && a.nextToken === nextToken) throw new TransientError(`nomad ${what}: the next page token did not advance (${a.nextToken})`, { system });
        nextToken = a.nextToken;
      } while (nextToken !== '');
      return jobs;
    },

    async stopJob(id, opts = {}) {
      const what = `job stop ${id}`;
      const a = await request('DELETE', `/v1/job/${enc(id)}`, what, { query: { purge: opts.purge ? 'true' : undefined } });
      // Older servers answer 404 for an unknown job; both mean "nothing to stop".
      if (a.status === 404) return;
      expectOk(a, what);
    },

    async getLatestDeployment(jobId, opts: BlockingOptions = {}) {
      const what = `deployment read ${jobId}`;
      const blocking = (opts.index ?? 0) > 0;
      const waitMs = opts.waitMs ?? 60_000;
      const a = await request('GET', `/v1/job/${enc(jobId)}/deployment`, what, {
        query: blocking ? { index: String(opts.index), wait: `${Math.max(1, Math.round(waitMs))}ms` } : {},
        // The server may hold the answer for wait + wait/16 jitter.
        extraTimeoutMs: blocking ? waitMs + waitMs / 16 : 0,
        signal: opts.signal,
      });
      if (a.status === 404) return { deployment: null, index: a.index };
      expectOk(a, what);
      const d = parseWire(NomadDeploymentWire.nullable(), a.body, what);
      return { deployment: d ? toDeployment(d) : null, index: a.index };
    },

    async listJobVersions(jobId) {
      const what = `job versions ${jobId}`;
      const a = await request('GET', `/v1/job/${enc(jobId)}/versions`, what);
      if (a.status === 404) return [];
      const r = parseWire(NomadJobVersionsWire, expectOk(a, what).body, what);
      return r.Versions.map((v) => ({ version: v.Version, jobModifyIndex: v.JobModifyIndex, stable: v.Stable, meta: v.Meta }));
    },

    async listAllocations(jobId) {
      const what = `allocation list ${jobId}`;
      const a = expectOk(await request('GET', `/v1/job/${enc(jobId)}/allocations`, what), what);
      return (parseWire(NomadAllocationWire.array().nullable(), a.body, what) ?? []).map(toAllocation);
    },

    async getAllocation(id) {
      const what = `allocation read ${id}`;
      const a = await request('GET', `/v1/allocation/${enc(id)}`, what);
      if (a.status === 404) return null;
      return toAllocation(parseWire(NomadAllocationWire, expectOk(a, what).body, what));
    },

    async getEvaluation(id) {
      const what = `evaluation read ${id}`;
      const a = await request('GET', `/v1/evaluation/${enc(id)}`, what);
      if (a.status === 404) return null;
      return toEvaluation(parseWire(NomadEvaluationWire, expectOk(a, what).body, what));
    },

    async readTaskLogs(allocId, task, type, opts = {}) {
      const what = `logs of ${allocId}/${task}`;
      // api/fs.go Logs; origin=end with offset N reads the last N bytes (fs_endpoint.go findClosest).
      const tail = opts.tailBytes !== undefined ? { origin: 'end', offset: String(opts.tailBytes) } : {};
      const a = await request('GET', `/v1/client/fs/logs/${enc(allocId)}`, what, { query: { task, type, plain: 'true', ...tail } });
      if (a.status === 404 && a.body.includes('not started yet')) return null;
      return expectOk(a, what).body;
    },

    async ping() {
      const what = 'leader check';
      const a = expectOk(await request('GET', '/v1/status/leader', what), what);
      let leader: unknown;
      try {
        leader = JSON.parse(a.body);
      } catch {
        leader = '';
      }
      if (typeof leader !== 'string' || leader === '') throw new TransientError('nomad has no cluster leader', { system });
    },
  };
}

// Nomad HTTP API emulator over the shared cluster (nomad.md). Plain-text errors with the
// real status codes; validation in nomad-jobspec.ts; state and timers in cluster.ts.
import { blockingRead, parseBlocking, timeToBlock } from './blocking.js';
import { compileBexpr, BexprError } from './bexpr.js';
import type { Cluster, JobPlan, Json } from './cluster.js';
import { startEmulator, type Emulator, type EmulatorRequest, type EmulatorResponse } from './harness.js';
import { applyImplicitIdentities } from './nomad-identities.js';
import { canonicalizeJob, hclToJob, JobspecError, validateJob } from './nomad-jobspec.js';
import { agentSelf } from './nomad-agent.js';
import { routeCapability, type NomadAcl } from './nomad-acl.js';

export interface NomadEmulator extends Emulator {
  readonly cluster: Cluster;
}

const text = (status: number, body: string): EmulatorResponse => ({ status, body });

function readHeaders(index: number): Record<string, string> {
  return { 'X-Nomad-Index': String(index), 'X-Nomad-KnownLeader': 'true', 'X-Nomad-LastContact': '0' };
}

/** Go's strconv.ParseBool. */
function parseBool(v: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  return undefined;
}

function tokenOf(req: EmulatorRequest): string | undefined {
  const header = req.headers['x-nomad-token'];
  if (typeof header === 'string' && header !== '') return header;
  const auth = req.headers.authorization;
  if (typeof auth === 'string' && auth.startsWith('Bearer ')) return auth.slice(7).trim();
  return undefined;
}

function decodeError(err: SyntaxError): string {
  // Go's encoding/json texts differ in detail; keep the recognisable prefix.
  return `invalid character in request body: ${err.message}`;
}

/** A job's allocations, given (a list groups them once: Nomad keeps summaries in their own table, O(1) per job). */
function jobSummary(allocations: Json[], ns: string, job: Json): Json {
  const summary: Record<string, Json> = {};
  for (const g of (job.TaskGroups as Json[] | null) ?? []) {
    summary[g.Name as string] = { Queued: 0, Complete: 0, Failed: 0, Running: 0, Starting: 0, Lost: 0, Unknown: 0 };
  }
  for (const a of allocations) {
    const s = summary[a.TaskGroup as string];
    if (!s) continue;
    const field = { pending: 'Starting', running: 'Running', complete: 'Complete', failed: 'Failed', lost: 'Lost' }[a.ClientStatus as string] ?? 'Unknown';
    s[field] = (s[field] as number) + 1;
  }
  return { JobID: job.ID, Namespace: ns, Summary: summary, Children: { Pending: 0, Running: 0, Dead: 0 }, CreateIndex: job.CreateIndex, ModifyIndex: job.ModifyIndex };
}

function jobStub(allocations: Json[], job: Json, withMeta: boolean): Json {
  const stub: Json = {
    ID: job.ID,
    ParentID: job.ParentID ?? '',
    Name: job.Name,
    Namespace: job.Namespace,
    Datacenters: job.Datacenters,
    NodePool: job.NodePool ?? 'default',
    Multiregion: null,
    Type: job.Type,
    Priority: job.Priority,
    Periodic: job.Periodic !== null && job.Periodic !== undefined,
    ParameterizedJob: job.ParameterizedJob !== null && job.ParameterizedJob !== undefined,
    Stop: job.Stop,
    Status: job.Status,
    StatusDescription: job.StatusDescription ?? '',
    JobSummary: jobSummary(allocations, job.Namespace as string, job),
    CreateIndex: job.CreateIndex,
    ModifyIndex: job.ModifyIndex,
    JobModifyIndex: job.JobModifyIndex,
    SubmitTime: job.SubmitTime,
  };
  const meta = job.Meta as Record<string, string> | null;
  if (withMeta && meta && Object.keys(meta).length > 0) stub.Meta = meta;
  return stub;
}

/**
 * nomad/structs/structs.go QueryOptions.TimeToBlock (used by nomad/rpc.go blockingRPC): a
 * wait over MaxBlockingRPCQueryTime (300s) is cut to it, and a wait of zero or below
 * (`wait=0s`, `wait=-1s`: time.ParseDuration accepts both) blocks the
 * DefaultBlockingRPCQueryTime (300s), not zero. blockingRPC then adds up to wait/16 of
 * jitter (structs.JitterFraction); the emulator adds none.
 */
export const nomadTimeToBlock = (waitMs: number): number => timeToBlock(waitMs, { maxMs: 300_000, defaultMs: 300_000 });

function createNomadHandler(cluster: Cluster, token?: string, acl?: NomadAcl) {
  /**
   * Whether the request's token holds any of `caps` in `namespace`, for the routes whose
   * RPC authorizes against the object it found (aclCheck lets them through). With ACLs off,
   * or the one management token of `token`, everything is allowed.
   */
  function permits(req: EmulatorRequest, namespace: string, ...caps: string[]): boolean {
    if (!acl) return true;
    const secret = tokenOf(req);
    const caller = secret === undefined ? undefined : acl.token(secret);
    return !!caller && caps.some((c) => acl.allows(caller, namespace, c));
  }

  async function register(req: EmulatorRequest, pathId: string | undefined): Promise<EmulatorResponse> {
    const body = req.json();
    if (body instanceof SyntaxError) return text(400, decodeError(body));
    if (!body || typeof body !== 'object') return text(400, 'Job must be specified');
    const b = body as Json;
    // command/agent/job_endpoint.go jobUpdate, in its order: no Job; no Job.ID (a nil
    // pointer: an empty ID goes on to Job.Validate's "Missing job ID"); an ID unlike the
    // path's; a system job with a scaling block; then a non-zero EvalPriority outside 1..100.
    if (!b.Job || typeof b.Job !== 'object') return text(400, 'Job must be specified');
    const job = structuredClone(b.Job) as Json;
    if (job.ID === undefined || job.ID === null) return text(400, "Job ID hasn't been provided");
    if (typeof job.ID !== 'string') {
      // decodeBody's encoding/json UnmarshalTypeError (innermost struct, then the field path).
      const kind = typeof job.ID === 'number' ? 'number' : typeof job.ID === 'boolean' ? 'bool' : Array.isArray(job.ID) ? 'array' : 'object';
      return text(400, `json: cannot unmarshal ${kind} into Go struct field Job.Job.ID of type string`);
    }
    if (pathId !== undefined && job.ID !== pathId) return text(400, 'Job ID does not match name');
    if (job.Type === 'system' && ((job.TaskGroups as Json[] | null) ?? []).some((g) => g.Scaling !== undefined && g.Scaling !== null)) {
      return text(400, 'Task groups with job type system do not support scaling blocks');
    }
    if (b.EvalPriority !== undefined && b.EvalPriority !== 0 && ((b.EvalPriority as number) < 1 || (b.EvalPriority as number) > 100)) {
      return text(400, 'Eval priority must be between 1 and 100 inclusively');
    }
    const ns = req.query.get('namespace') || (b.Namespace as string) || (job.Namespace as string) || 'default';
    canonicalizeJob(job, ns);
    // The register RPC's admission mutators run before validation and the spec comparison.
    applyImplicitIdentities(job, cluster.options.identityDefaults);
    const problems = validateJob(job);
    if (problems) return text(500, problems);
    if (b.EnforceIndex) {
      const want = Number(b.JobModifyIndex ?? 0);
      const existing = cluster.getJob(ns, job.ID);
      if (want === 0 && existing) return text(500, 'Enforcing job modify index 0: job already exists');
      if (want !== 0 && !existing) return text(500, `Enforcing job modify index ${want}: job does not exist`);
      if (want !== 0 && existing && existing.JobModifyIndex !== want) {
        return text(500, `Enforcing job modify index ${want}: job exists with conflicting job modify index: ${String(existing.JobModifyIndex)}`);
      }
    }
    const r = cluster.registerJob(ns, job);
    return {
      status: 200,
      headers: { 'X-Nomad-Index': String(r.index) },
      body: { EvalID: r.evalId, EvalCreateIndex: r.evalCreateIndex, JobModifyIndex: r.jobModifyIndex, Warnings: '', Index: r.index, LastContact: 0, KnownLeader: false, NextToken: '' },
    };
  }

  /**
   * POST /v1/job/:id/plan (command/agent/job_endpoint.go jobPlan, nomad/job_endpoint.go
   * Plan): the register's checks and admission hooks, then the scheduler's annotations;
   * nothing is stored. Placement never fails here (one roomy node), so FailedTGAllocs is null.
   */
  async function plan(req: EmulatorRequest, pathId: string): Promise<EmulatorResponse> {
    const body = req.json();
    if (body instanceof SyntaxError) return text(400, decodeError(body));
    const b = (body ?? {}) as Json;
    if (!b.Job || typeof b.Job !== 'object') return text(400, 'Job must be specified');
    const job = structuredClone(b.Job) as Json;
    if (typeof job.ID !== 'string') return text(400, 'Job must have a valid ID');
    if (job.ID !== pathId) return text(400, 'Job ID does not match');
    const ns = req.query.get('namespace') || (b.Namespace as string) || (job.Namespace as string) || 'default';
    canonicalizeJob(job, ns);
    applyImplicitIdentities(job, cluster.options.identityDefaults);
    const problems = validateJob(job);
    if (problems) return text(500, problems);
    const p = cluster.planJob(ns, job);
    // scheduler/annotate.go update types, as the TaskGroup diff's Updates keys.
    const updates = (g: JobPlan['groups'][string]) => {
      const out: Record<string, number> = {};
      if (g.Ignore) out.ignore = g.Ignore;
      if (g.Place) out.create = g.Place;
      if (g.Stop) out.destroy = g.Stop;
      if (g.InPlaceUpdate) out['in-place update'] = g.InPlaceUpdate;
      if (g.DestructiveUpdate) out['create/destroy update'] = g.DestructiveUpdate;
      return out;
    };
    const diff = b.Diff
      ? {
          Type: p.change,
          ID: job.ID,
          Fields: null,
          Objects: null,
          TaskGroups: Object.entries(p.groups).map(([name, g]) => ({ Type: p.change, Name: name, Fields: null, Objects: null, Tasks: null, Updates: updates(g) })),
        }
      : null;
    const desired = Object.fromEntries(
      Object.entries(p.groups).map(([name, g]) => [
        name,
        { ...g, Migrate: 0, Canary: 0, Preemptions: 0, Disconnect: 0, Reconnect: 0, RescheduleNow: 0, RescheduleLater: 0 },
      ]),
    );
    return {
      status: 200,
      headers: { 'X-Nomad-Index': String(cluster.index) },
      body: {
        JobModifyIndex: p.jobModifyIndex,
        CreatedEvals: null,
        Diff: diff,
        Annotations: { DesiredTGUpdates: desired, PreemptedAllocs: null },
        FailedTGAllocs: null,
        NextPeriodicLaunch: '0001-01-01T00:00:00Z',
        Warnings: '',
        Index: cluster.index,
      },
    };
  }

  async function parse(req: EmulatorRequest): Promise<EmulatorResponse> {
    const body = req.json();
    if (body instanceof SyntaxError) return text(400, decodeError(body));
    const b = (body ?? {}) as Json;
    // JobsParseRequest refuses only "" itself; blank text reaches the parser.
    if (typeof b.JobHCL !== 'string' || b.JobHCL === '') return text(400, 'Job spec is empty');
    let job: Json;
    try {
      job = await hclToJob(b.JobHCL, typeof b.Variables === 'string' ? b.Variables : undefined);
    } catch (err) {
      if (err instanceof JobspecError) return text(400, `Failed to parse job: ${err.message}`);
      throw err;
    }
    if (b.Canonicalize) canonicalizeJob(job, (job.Namespace as string) || req.query.get('namespace') || 'default');
    return { status: 200, body: job };
  }

  /**
   * A blocking read as nomad/rpc.go blockingRPC runs one. `compute` answers the index the
   * RPC reports (QueryMeta.Index) and `watch`, the index of what its memdb watch set covers
   * (the object, or the job's rows), defaulting to the reported one. With `index` 0 the
   * answer is immediate; otherwise a reported index past it answers at once, and else the
   * query sleeps until what it watches changes (another job's write does not wake it) and
   * answers when the reported index has passed `index`, or when the wait runs out.
   */
  async function read(req: EmulatorRequest, compute: () => { index: number; watch?: number; value: EmulatorResponse }): Promise<EmulatorResponse> {
    // command/agent/http.go parseWait: `wait` through time.ParseDuration, else 400 "Invalid
    // wait time"; `index` through strconv.ParseUint, else 400 "Invalid index".
    const params = parseBlocking(req.query);
    if ('error' in params) return text(400, params.error === 'index' ? 'Invalid index' : 'Invalid wait time');
    const { index, value } = await blockingRead(cluster, { index: params.index, blockMs: nomadTimeToBlock(params.waitMs) }, compute);
    return { ...value, headers: { ...readHeaders(index), ...(value.headers ?? {}) } };
  }

  /**
   * GET /v1/client/fs/cat/:alloc?path=<task>/<file> (command/agent/fs_endpoint.go
   * FileCatRequest, client/allocdir/alloc_dir.go ReadAt). Only what the emulator has on
   * a task's disk: the files its templates rendered. Like the real client it refuses the
   * task's secrets/ and private/ directories (case-insensitive prefix), so a canonical env
   * rendered into secrets/ is not readable through this API.
   */
  function fileCat(req: EmulatorRequest): EmulatorResponse {
    const allocId = decodeURIComponent(req.path.slice('/v1/client/fs/cat/'.length));
    if (allocId === '') return text(400, 'must provide a valid alloc id'); // fs_endpoint.go allocIDNotPresentErr
    const path = req.query.get('path') ?? '';
    if (path === '') return text(400, 'must provide a file name'); // fs_endpoint.go fileNameNotPresentErr
    const tasks = cluster.allocationTasks(allocId);
    if (tasks === null) return text(404, `Unknown allocation "${allocId}"`); // structs.NewErrUnknownAllocation
    // client/fs_endpoint.go stream: read-fs in the allocation's namespace, once it is found.
    if (!permits(req, cluster.getAllocation(allocId)!.Namespace as string, 'read-fs')) return text(403, 'Permission denied');
    const clean = path.replace(/^\/+/, '');
    const slash = clean.indexOf('/');
    const task = slash < 0 ? clean : clean.slice(0, slash);
    const rest = slash < 0 ? '' : clean.slice(slash + 1);
    if (tasks.includes(task)) {
      if (/^secrets(\/|$)/i.test(rest)) return text(500, `Reading secret file prohibited: ${path}`);
      if (/^private(\/|$)/i.test(rest)) return text(500, `Reading private file prohibited: ${path}`);
      const file = cluster.renderedFiles(allocId, task)?.[rest];
      if (file !== undefined) return { status: 200, body: file, headers: { 'content-type': 'text/plain' } };
    }
    return text(500, `stat ${path}: no such file or directory`);
  }

  /**
   * GET /v1/jobs (command/agent/job_endpoint.go jobListRequest, nomad/job_endpoint.go
   * List, nomad/state/paginator/paginator.go): jobs in (namespace, ID) order; skip to
   * `next_token` ("<namespace>.<id>", NamespaceIDTokenizer), then the filter is evaluated
   * on the whole Job (not its stub), then `per_page` cuts the page and the first job left
   * out becomes X-Nomad-NextToken (absent on the last page). Filter errors are the
   * paginator's, answered 400 through structs.NewErrRPCCodedf.
   */
  async function listJobs(req: EmulatorRequest, ns: string): Promise<EmulatorResponse> {
    // command/agent/http.go parsePagination: `perPage, err := strconv.Atoi(per_page); if err
    // == nil { b.PerPage = int32(perPage) }`: a per_page that does not parse (or overflows
    // int64) is ignored, so the whole list comes in one page; a parsed one is cut to int32.
    const rawPerPage = req.query.get('per_page') ?? '';
    const parsedPerPage = /^[+-]?\d+$/.test(rawPerPage) ? BigInt(rawPerPage) : null;
    const fitsInt64 = parsedPerPage !== null && parsedPerPage === BigInt.asIntN(64, parsedPerPage);
    const perPage = fitsInt64 ? Number(BigInt.asIntN(32, parsedPerPage)) : 0;
    const nextToken = req.query.get('next_token') ?? '';
    let predicate: ((d: unknown) => boolean) | undefined;
    const filter = req.query.get('filter');
    if (filter) {
      try {
        predicate = compileBexpr(filter);
      } catch (err) {
        return text(400, `failed to create result paginator: failed to read filter expression: ${(err as Error).message}`);
      }
    }
    const prefix = req.query.get('prefix') ?? '';
    const withMeta = parseBool(req.query.get('meta') ?? 'false') === true;
    const tokenOf = (j: Json) => `${String(j.Namespace)}.${String(j.ID)}`;
    try {
      return await read(req, () => {
        // memdb's id index orders bytes; localeCompare would not match the token comparison.
        const all = cluster
          .listJobs(ns)
          .filter((j) => (j.ID as string).startsWith(prefix))
          // nomad/job_endpoint.go List: allowedNSes, so namespace=* shows only the namespaces
          // whose list-jobs the token holds (paginator.NamespaceSelectorFunc).
          .filter((j) => permits(req, j.Namespace as string, 'list-jobs'))
          .map((job) => ({ job, token: tokenOf(job) }))
          .sort((a, b) => (a.token < b.token ? -1 : a.token > b.token ? 1 : 0));
        const chosen: { job: Json; token: string }[] = [];
        let next = '';
        for (const entry of all) {
          if (nextToken !== '' && entry.token < nextToken) continue;
          if (predicate && !predicate(entry.job)) continue;
          if (perPage !== 0 && chosen.length + 1 > perPage) {
            next = entry.token;
            break;
          }
          chosen.push(entry);
        }
        // The page's allocations in one pass (Nomad reads each summary from its own table).
        const allocsByJob = new Map<string, Json[]>(chosen.map((c) => [c.token, []]));
        for (const a of cluster.listAllocations(ns === '*' ? undefined : ns)) allocsByJob.get(`${String(a.Namespace)}.${String(a.JobID)}`)?.push(a);
        const page = chosen.map((c) => jobStub(allocsByJob.get(c.token)!, c.job, withMeta));
        const value = ok(page);
        return { index: cluster.jobIndex(ns, '', 'jobs'), value: next ? { ...value, headers: { 'X-Nomad-NextToken': next } } : value };
      });
    } catch (err) {
      // paginator.go Page: an evaluation error (a selector the Job lacks) ends the page.
      if (err instanceof BexprError) return text(400, `failed to read result page: ${err.message}`);
      throw err;
    }
  }

  /**
   * GET /v1/client/fs/logs/:alloc (command/agent/fs_endpoint.go Logs, api/fs.go Logs): a
   * task's stdout or stderr, not followed here. `origin=end` with `offset` N gives the last
   * N bytes; `plain=true` the raw text, else StreamFrames ({Offset, Data base64, File}).
   * Errors as the agent answers them: missing task or type, an unparsable bool or offset,
   * a bad origin; 404 for a task not in the group or not started yet.
   */
  function logs(req: EmulatorRequest): EmulatorResponse {
    const allocId = decodeURIComponent(req.path.slice('/v1/client/fs/logs/'.length));
    if (allocId === '') return text(400, 'must provide a valid alloc id');
    const q = req.query;
    const task = q.get('task') ?? '';
    if (task === '') return text(400, 'must provide task name');
    for (const field of ['follow', 'plain'] as const) {
      const raw = q.get(field);
      if (raw !== null && raw !== '' && parseBool(raw) === undefined) {
        return text(400, `Failed to parse ${field} field to boolean: strconv.ParseBool: parsing "${raw}": invalid syntax`);
      }
    }
    const plain = parseBool(q.get('plain') ?? '') === true;
    const type = q.get('type') ?? '';
    if (type !== 'stdout' && type !== 'stderr') return text(400, 'must provide log type (stdout/stderr)');
    const rawOffset = q.get('offset') ?? '';
    if (rawOffset !== '' && !/^[+-]?\d+$/.test(rawOffset)) return text(400, `error parsing offset: strconv.ParseInt: parsing "${rawOffset}": invalid syntax`);
    // strconv.ParseInt(offset, 10, 64): a number past int64 is ErrRange, not a huge offset.
    if (rawOffset !== '' && BigInt(rawOffset) !== BigInt.asIntN(64, BigInt(rawOffset))) return text(400, `error parsing offset: strconv.ParseInt: parsing "${rawOffset}": value out of range`);
    const offset = rawOffset === '' ? 0 : Number(rawOffset);
    const origin = q.get('origin') || 'start';
    if (origin !== 'start' && origin !== 'end') return text(400, 'origin must be start or end');
    const alloc = cluster.getAllocation(allocId);
    const tasks = cluster.allocationTasks(allocId);
    if (!alloc || tasks === null) return text(404, `Unknown allocation "${allocId}"`);
    // client/fs_endpoint.go logs: read-fs or read-logs in the allocation's namespace, after
    // the allocation is found and before the task is looked at.
    if (!permits(req, alloc.Namespace as string, 'read-fs', 'read-logs')) return text(403, 'Permission denied');
    if (!tasks.includes(task)) return text(404, `task group "${alloc.TaskGroup as string}" does not have task with name "${task}"`);
    const written = cluster.taskLogs(allocId, task, type);
    if (written === null) return text(404, `task "${task}" not started yet. No logs available`);
    const bytes = Buffer.from(written, 'utf8');
    // findClosest: a negative offset from the end, clamped to the file.
    const start = origin === 'end' ? Math.max(0, bytes.length - Math.max(0, offset)) : Math.min(bytes.length, Math.max(0, offset));
    const data = bytes.subarray(start);
    if (plain) return { status: 200, body: data.toString('utf8'), headers: { 'content-type': 'text/plain' } };
    const frame = data.length === 0 ? {} : { Offset: start, Data: data.toString('base64'), File: `alloc/logs/${task}.${type}.0` };
    return { status: 200, body: JSON.stringify(frame), headers: { 'content-type': 'application/json' } };
  }

  /**
   * DELETE /v1/job/:id (command/agent/job_endpoint.go jobDelete): the query is parsed in
   * this order before the RPC, an empty value counting as absent: purge, global (ParseBool,
   * else a 500 'Failed to parse value of "purge" (x) as a bool: ...'), eval_priority
   * (http.go parseInt: strconv.Atoi, else 500 '... as a int: ...'), no_shutdown_delay (its
   * message has the agent's stray `%qq`), then a positive eval_priority outside 1..100 is a
   * 400 (validateEvalPriorityOpt). nomad/job_endpoint.go Deregister answers in cluster.stopJob.
   */
  function deregister(req: EmulatorRequest, ns: string, id: string): EmulatorResponse {
    const q = req.query;
    const boolParam = (field: string, quoted: string): { value: boolean } | { error: EmulatorResponse } => {
      const raw = q.get(field) ?? '';
      if (raw === '') return { value: false };
      const parsed = parseBool(raw);
      if (parsed === undefined) return { error: text(500, `Failed to parse value of ${quoted} (${raw}) as a bool: strconv.ParseBool: parsing ${JSON.stringify(raw)}: invalid syntax`) };
      return { value: parsed };
    };
    const purge = boolParam('purge', '"purge"');
    if ('error' in purge) return purge.error;
    const global = boolParam('global', '"global"');
    if ('error' in global) return global.error;
    const rawPriority = q.get('eval_priority') ?? '';
    let evalPriority = 0;
    if (rawPriority !== '') {
      // strconv.Atoi: an optional sign and decimal digits, within int64.
      const bad = !/^[+-]?\d+$/.test(rawPriority) ? 'invalid syntax' : BigInt(rawPriority) !== BigInt.asIntN(64, BigInt(rawPriority)) ? 'value out of range' : null;
      if (bad) return text(500, `Failed to parse value of "eval_priority" (${rawPriority}) as a int: strconv.Atoi: parsing ${JSON.stringify(rawPriority)}: ${bad}`);
      evalPriority = Number(rawPriority);
    }
    const noShutdownDelay = boolParam('no_shutdown_delay', '"no_shutdown_delay"q');
    if ('error' in noShutdownDelay) return noShutdownDelay.error;
    if (evalPriority > 100) return text(400, 'Eval priority must be between 1 and 100 inclusively');
    // nomad/job_endpoint.go Deregister: any of submit-job or purge-job, and deregister-job
    // unless purging (AllowNsOpAnyOf), checked before the job is looked up.
    const caps = purge.value ? ['submit-job', 'purge-job'] : ['submit-job', 'purge-job', 'deregister-job'];
    if (!permits(req, ns, ...caps)) return text(403, 'Permission denied');
    const r = cluster.stopJob(ns, id, purge.value, evalPriority > 0 ? evalPriority : 0);
    return {
      status: 200,
      headers: { 'X-Nomad-Index': String(r.index) },
      body: { EvalID: r.evalId, EvalCreateIndex: r.evalCreateIndex, JobModifyIndex: r.jobModifyIndex, VolumeEvalID: '', VolumeEvalIndex: 0, Index: r.index, LastContact: 0, KnownLeader: false, NextToken: '' },
    };
  }

  const ok = (body: unknown): EmulatorResponse => ({ status: 200, body: body === null ? 'null' : body, headers: body === null ? { 'content-type': 'application/json' } : undefined });

  return async function handle(req: EmulatorRequest): Promise<EmulatorResponse> {
    const { method, path } = req;
    const ns = req.query.get('namespace') || 'default';
    const allowed = (...methods: string[]) => methods.includes(method);

    if (path === '/v1/status/leader') {
      return allowed('GET') ? { status: 200, body: '"127.0.0.1:4647"', headers: { 'content-type': 'application/json' } } : text(405, 'Invalid method');
    }
    // nomad/structs/keyring.go JWKSPath, command/agent/keyring_endpoint.go JWKSRequest:
    // the public keys workload identities are signed with, readable without a token
    // (Vault's JWT auth mount points its jwks_url here).
    if (path === '/.well-known/jwks.json') return allowed('GET') ? { status: 200, body: cluster.identityKey.jwks() } : text(405, 'Invalid method');
    if (token !== undefined) {
      const given = tokenOf(req);
      if (given === undefined) return text(403, 'Permission denied');
      if (given !== token) return text(403, 'ACL token not found');
    }
    if (acl) {
      const refused = aclCheck(acl, req, ns);
      if (refused) return refused;
    }

    // nomad/acl_endpoint.go: with ACLs off every ACL endpoint is "ACL support disabled".
    if (!acl && token === undefined && path.startsWith('/v1/acl/')) return text(400, 'ACL support disabled');
    if (path === '/v1/agent/self') return allowed('GET') ? { status: 200, body: agentSelf() } : text(405, 'Invalid method');
    if (path === '/v1/jobs/parse') return allowed('POST', 'PUT') ? parse(req) : text(405, 'Invalid method');
    if (path === '/v1/jobs') {
      if (allowed('POST', 'PUT')) return register(req, undefined);
      if (!allowed('GET')) return text(405, 'Invalid method');
      return listJobs(req, ns);
    }

    // command/agent/job_endpoint.go JobSpecificRequest: the decoded path after /v1/job/ is
    // routed by its suffix, and anything else is jobCRUD on the whole rest as the job ID
    // (so /v1/job/a/b reads job "a/b": 404 "job not found"). Suffixes whose endpoints the
    // emulator lacks answer 404 page not found.
    const jobRest = path.startsWith('/v1/job/') ? decodeURIComponent(path.slice('/v1/job/'.length)) : null;
    const jobSuffixes = ['/allocations', '/plan', '/versions', '/deployments', '/deployment'];
    const unimplemented = ['/evaluate', '/evaluations', '/periodic/force', '/summary', '/dispatch', '/dispatch/payload', '/revert', '/stable', '/scale', '/services', '/submission', '/actions', '/action', '/tag'];
    if (jobRest !== null && jobRest !== '') {
      if (unimplemented.some((x) => jobRest.endsWith(x))) return text(404, '404 page not found');
      const sub = jobSuffixes.find((x) => jobRest.endsWith(x));
      const id = sub ? jobRest.slice(0, -sub.length) : jobRest;
      if (sub === undefined) {
        if (allowed('POST', 'PUT')) return register(req, id);
        if (allowed('DELETE')) return deregister(req, ns, id);
        if (!allowed('GET')) return text(405, 'Invalid method');
        // nomad/job_endpoint.go GetJob: the job's ModifyIndex, else the "jobs" table's index.
        return read(req, () => {
          const job = cluster.getJob(ns, id);
          return { index: job ? (job.ModifyIndex as number) : cluster.jobIndex(ns, '', 'jobs'), watch: cluster.jobIndex(ns, id, 'job'), value: job ? ok(job) : text(404, 'job not found') };
        });
      }
      if (sub === '/plan') return allowed('POST', 'PUT') ? plan(req, id) : text(405, 'Invalid method');
      if (!allowed('GET')) return text(405, 'Invalid method');
      // nomad/job_endpoint.go Allocations, LatestDeployment, Deployments: the table's index
      // ("allocs", "deployment"), woken by this job's rows only.
      if (sub === '/allocations') {
        // jobAllocations: `all` through strconv.ParseBool with the error ignored (false).
        const all = parseBool(req.query.get('all') ?? '') === true;
        return read(req, () => ({ index: cluster.allocIndex(), watch: cluster.jobIndex(ns, id, 'allocs'), value: ok(cluster.jobAllocations(ns, id, all)) }));
      }
      if (sub === '/deployment') {
        return read(req, () => ({ index: cluster.deploymentIndex(), watch: cluster.jobIndex(ns, id, 'deployments'), value: ok(cluster.listDeployments(ns, id)[0] ?? null) }));
      }
      if (sub === '/deployments') {
        // jobDeployments: `all` through strconv.ParseBool with the error ignored, as for allocations.
        const all = parseBool(req.query.get('all') ?? '') === true;
        return read(req, () => ({ index: cluster.deploymentIndex(), watch: cluster.jobIndex(ns, id, 'deployments'), value: ok(cluster.jobDeployments(ns, id, all)) }));
      }
      if (sub === '/versions') {
        // command/agent/job_endpoint.go jobVersions parses diffs (ParseBool) and diff_version
        // (ParseUint) first, a failure an uncoded 500. The emulator computes no diffs.
        const diffs = req.query.get('diffs') ?? '';
        if (diffs !== '' && parseBool(diffs) === undefined) return text(500, `Failed to parse value of "diffs" (${diffs}) as a bool: strconv.ParseBool: parsing ${JSON.stringify(diffs)}: invalid syntax`);
        const diffVersion = req.query.get('diff_version') ?? '';
        if (diffVersion !== '' && (!/^\d+$/.test(diffVersion) || BigInt(diffVersion) > 18446744073709551615n)) {
          const why = /^\d+$/.test(diffVersion) ? 'value out of range' : 'invalid syntax';
          return text(500, `Failed to parse value of "diff_version" (${diffVersion}) as a uint64: strconv.ParseUint: parsing ${JSON.stringify(diffVersion)}: ${why}`);
        }
        // nomad/job_endpoint.go GetJobVersions: the highest ModifyIndex among the versions,
        // else the "jobs" table's index.
        return read(req, () => {
          const versions = cluster.getJobVersions(ns, id);
          const index = versions.length ? Math.max(...versions.map((v) => v.ModifyIndex as number)) : cluster.jobIndex(ns, '', 'jobs');
          return { index, watch: cluster.jobIndex(ns, id, 'job'), value: versions.length ? ok({ Versions: versions, Diffs: null }) : text(404, 'job versions not found') };
        });
      }
      return text(404, '404 page not found');
    }

    if (path.startsWith('/v1/client/fs/cat/')) return allowed('GET') ? fileCat(req) : text(405, 'Invalid method');
    if (path.startsWith('/v1/client/fs/logs/')) return allowed('GET') ? logs(req) : text(405, 'Invalid method');

    // command/agent/alloc_endpoint.go AllocSpecificRequest: <id> or <id>/<action>; more
    // segments, or an action it does not know, are 404 "resource not found". Its actions
    // (checks, stop, services) are not emulated.
    if (path.startsWith('/v1/allocation/')) {
      const tokens = path.slice('/v1/allocation/'.length).split('/');
      if (tokens.length > 2 || (tokens.length === 2 && !['checks', 'stop', 'services'].includes(tokens[1]!))) return text(404, 'resource not found');
    }
    const objMatch = /^\/v1\/(deployment|evaluation|allocation)\/([^/]+)$/.exec(path);
    if (objMatch) {
      if (!allowed('GET')) return text(405, 'Invalid method');
      const [, kind, id] = objMatch as unknown as [string, string, string];
      // nomad/deployment_endpoint.go GetDeployment, eval_endpoint.go GetEval,
      // alloc_endpoint.go GetAlloc: an exact ID (no prefix lookup), answering the object's
      // ModifyIndex, else the index of its table ("deployment", "evals", "allocs").
      // ACLs: GetEval and GetDeployment want read-job in the request's namespace first (403),
      // then in the object's: an eval elsewhere is a 403, a deployment elsewhere is hidden
      // (404). GetAlloc checks only the alloc's namespace, and a refused caller gets
      // structs.NewErrUnknownAllocation, an uncoded error: 500 'Unknown allocation "<id>"'.
      if (kind !== 'allocation' && !permits(req, ns, 'read-job')) return text(403, 'Permission denied');
      return read(req, () => {
        if (kind === 'deployment') {
          const found = cluster.getDeployment(id);
          const d = found && permits(req, found.Namespace as string, 'read-job') ? found : undefined;
          return { index: d ? (d.ModifyIndex as number) : cluster.deploymentIndex(), value: d ? ok(d) : text(404, 'deployment not found') };
        }
        if (kind === 'evaluation') {
          const e = cluster.getEvaluation(id);
          if (e && !permits(req, e.Namespace as string, 'read-job')) return { index: e.ModifyIndex as number, value: text(403, 'Permission denied') };
          return { index: e ? (e.ModifyIndex as number) : cluster.evalIndex(), value: e ? ok(e) : text(404, 'eval not found') };
        }
        const a = cluster.getAllocation(id);
        if (a && !permits(req, a.Namespace as string, 'read-job')) return { index: a.ModifyIndex as number, value: text(500, `Unknown allocation "${id}"`) };
        return { index: a ? (a.ModifyIndex as number) : cluster.allocIndex(), value: a ? ok(a) : text(404, 'alloc not found') };
      });
    }
    return text(404, '404 page not found');
  };
}

/**
 * ACLs on (nomad-acl.ts): /v1/acl/token/self and /v1/acl/policy/:name answered here,
 * every other route refused without the namespace capability it needs. With ACLs off
 * (no `acl`), the ACL endpoints answer 400 "ACL support disabled" as Nomad does.
 */
function aclCheck(acl: NomadAcl, req: EmulatorRequest, ns: string): EmulatorResponse | null {
  const secret = tokenOf(req);
  const caller = secret === undefined ? undefined : acl.token(secret);
  if (secret !== undefined && !caller) return text(403, 'ACL token not found');
  if (req.path === '/v1/acl/token/self') {
    if (req.method !== 'GET') return text(405, 'Invalid method');
    return caller ? { status: 200, body: caller } : text(403, 'Permission denied');
  }
  const policy = /^\/v1\/acl\/policy\/([^/]+)$/.exec(req.path);
  if (policy) {
    const name = decodeURIComponent(policy[1]!);
    // nomad/acl_endpoint.go GetPolicy: management reads any policy, a client token only its own.
    if (!caller || (caller.Type !== 'management' && !caller.Policies.includes(name))) return text(403, 'Permission denied');
    const p = acl.policy(name);
    return p ? { status: 200, body: p } : text(404, 'ACL policy not found');
  }
  // command/agent/agent_endpoint.go AgentSelfRequest: agent:read.
  if (req.path === '/v1/agent/self') return caller && acl.allowsAgentRead(caller) ? null : text(403, 'Permission denied');
  // Authorized in the handler, against the object found or after the query is parsed.
  if (/^\/v1\/(allocation|evaluation|deployment)\/[^/]+$/.test(req.path) || req.path.startsWith('/v1/client/fs/')) return null;
  if (req.method === 'DELETE' && /^\/v1\/job\/[^/]+$/.test(req.path)) return null;
  const needed = routeCapability(req.method, req.path);
  if (needed === null) return null;
  if (!caller) return text(403, 'Permission denied'); // no anonymous policy in the emulator
  // command/agent/job_endpoint.go: /v1/jobs/parse accepts parse-job or submit-job.
  const ok =
    acl.allows(caller, ns, needed) || (needed === 'parse-job' && acl.allows(caller, ns, 'submit-job')) || (needed === 'read-logs' && acl.allows(caller, ns, 'read-fs'));
  return ok ? null : text(403, 'Permission denied');
}

/** Starts a Nomad agent emulator on a free port. With `token` (one management token) or `acl`, ACLs are on. */
export async function startNomadEmulator(options: { cluster: Cluster; token?: string; acl?: NomadAcl; port?: number }): Promise<NomadEmulator> {
  const emulator = await startEmulator({
    name: 'nomad',
    handler: createNomadHandler(options.cluster, options.token, options.acl),
    randomErrorBody: 'No cluster leader',
    port: options.port,
  });
  return Object.assign(emulator, { cluster: options.cluster });
}

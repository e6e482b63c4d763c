// The one simulated cluster the Nomad and Consul emulators share: a raft-like index,
// Nomad jobs/evaluations/allocations/deployments, and Consul nodes/services/checks.
// Allocations move pending → running → healthy on (short, configurable) timers; a new
// job version replaces them or updates them in place as the scheduler decides
// (nomad-updates.ts, scheduler/util.go tasksUpdated); an identical spec makes no new
// version (nomad/job_endpoint.go Register: `if !specChanged`); a failed deployment with
// auto_revert registers the last stable spec again. While allocations run, their
// `service` blocks are registered in Consul the way the Nomad client does it
// (nomad.md §12), so previewd sees routing appear and vanish for real.
//
// This module knows no HTTP; nomad.ts and consul.ts translate requests into calls here.
// Job specs arrive canonicalized, validated and through the admission hooks (nomad.ts).
import { createHash, randomUUID } from 'node:crypto';
import { createSigningKey, type SigningKey } from './jws.js';
import type { AllocationContext, TaskEventSpec, TaskRenderResult } from './workload-runtime.js';
import { createConsulAcl, type ConsulAcl } from './consul-acl.js';
import { createConsulAgents, type ConsulAgent } from './consul-agents.js';
import type { CheckStatus, ConsulCheck, ConsulNode, ConsulService, ServiceRegistration } from './consul-catalog.js';
import type { IdentityDefaults } from './nomad-identities.js';
import { destructiveChange, stableStringify } from './nomad-updates.js';

export type { CheckStatus, ConsulCheck, ConsulNode, ConsulService, ServiceRegistration } from './consul-catalog.js';

export type Json = Record<string, unknown>;

export interface TaskFailure {
  /** Task that fails (a main task, usually). */
  task: string;
  /** Task event Type; default `Driver Failure`. */
  event?: string;
  /** Task event DisplayMessage. */
  message: string;
  /** Events the task records before the failing one (e.g. the template runner's "Missing: …"). */
  before?: TaskEventSpec[];
}

/**
 * Where the docker driver pulls images from (registry.ts): true = held, false = the
 * registry answers the manifest as unknown, null = not this registry's image (pulled
 * from somewhere the tests do not model, and taken to succeed).
 */
export interface ImageSource {
  pull(image: string): boolean | null;
}

/** What the client does for a task's templates (workload-runtime.ts); attached once the Vault and Consul emulators run. */
export interface TaskTemplateRuntime {
  renderTask(alloc: AllocationContext, task: Json): Promise<TaskRenderResult>;
}

export interface Behaviour {
  /** pending → running after this many ms (default from the cluster options). */
  startDelayMs?: number;
  /** running → checks passing / allocation healthy after this many further ms. */
  healthyDelayMs?: number;
  /** Make a task fail when the allocation starts. */
  fail?: TaskFailure;
  /**
   * The Nomad client acts on a stop only after this many ms (a slow or partitioned
   * client): until then the allocation runs and its services stay registered.
   */
  stopDelayMs?: number;
  /** With `fail`: fail only allocations of these job versions (e.g. a bad push, not its rollback). */
  failVersions?: number[];
  /** A batch job's main tasks exit with this code once they ran healthyDelayMs (default 0). */
  exitCode?: number;
  /** What a task writes to its stdout and stderr while it runs (served by the logs API). */
  stdout?: string;
  stderr?: string;
  /**
   * The scheduler finds no node for the group: no allocation, the evaluation's
   * FailedTGAllocs carries the metric and a blocked evaluation waits (scheduler/generic_sched.go).
   */
  unschedulable?: PlacementFailure;
}

/** Why no node fits: a constraint that filters every node, or a resource dimension none has left. */
export type PlacementFailure = { constraint: string } | { dimension: string };

export interface JobBehaviour extends Behaviour {
  /** Per task group overrides (merged over the job-level behaviour). */
  groups?: Record<string, Behaviour>;
}

/** A behaviour key ending in "*" applies to every job ID with that prefix (a job named for a SHA). */
function behaviourOf(behaviour: Map<string, JobBehaviour>, jobId: string): JobBehaviour {
  const exact = behaviour.get(jobId);
  if (exact) return exact;
  for (const [k, b] of behaviour) if (k.endsWith('*') && jobId.startsWith(k.slice(0, -1))) return b;
  return {};
}

export interface ClusterOptions {
  startDelayMs?: number;
  healthyDelayMs?: number;
  nodeName?: string;
  nodeAddress?: string;
  datacenter?: string;
  /**
   * Period of every Consul agent's anti-entropy full sync (real agents: 1 min and more)
   * and of the Nomad clients' own service sync (real clients: 30 s).
   */
  antiEntropyIntervalMs?: number;
  now?: () => number;
  /** The servers' vault.default_identity / consul.task_identity (nomad-identities.ts); none by default. */
  identityDefaults?: IdentityDefaults;
}

interface StoredJob {
  namespace: string;
  job: Json; // the current version, wire shape
  versions: Json[];
}

interface AllocRecord {
  alloc: Json;
  job: Json; // job version the allocation runs
  ports: Record<string, number>;
  serviceIds: string[];
  timers: NodeJS.Timeout[];
  /** Rendered templates per task (workload runtime), to compare a re-render with. */
  renders: Map<string, { env: Record<string, string>; files: Record<string, string> }>;
}

const terminalClient = new Set(['complete', 'failed', 'lost']);
const volatileJobFields = ['Status', 'StatusDescription', 'Stable', 'Version', 'CreateIndex', 'ModifyIndex', 'JobModifyIndex', 'SubmitTime'];

function specOf(job: Json): string {
  const copy: Json = { ...job };
  for (const k of volatileJobFields) delete copy[k];
  return stableStringify(copy);
}

/** Go's time.Duration String() for whole seconds/ms, enough for check intervals. */
export function goDuration(ns: number): string {
  if (ns === 0) return '0s';
  const ms = ns / 1e6;
  if (ms < 1000) return `${ms}ms`;
  let s = ms / 1000;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  return `${h ? `${h}h` : ''}${h || m ? `${m}m` : ''}${s}s`;
}

/** Consul's service meta rules (structs.ValidateServiceMetadata); null when valid. */
export function validateServiceMeta(meta: Record<string, string>): string | null {
  const entries = Object.entries(meta);
  if (entries.length > 64) return 'Node metadata cannot contain more than 64 key/value pairs';
  for (const [key, value] of entries) {
    let problem: string | null = null;
    if (key === '') problem = 'Key cannot be blank';
    else if (!/^[a-zA-Z0-9_-]+$/.test(key)) problem = 'Key contains invalid characters';
    else if (key.length > 128) problem = 'Key is too long (limit: 128 characters)';
    else if (key.startsWith('consul-')) problem = "Key prefix 'consul-' is reserved for internal use";
    else if (String(value).length > 512) problem = 'Value is too long (limit: 512 characters)';
    if (problem) return `Couldn't load metadata pair('${key}', '${value}'): ${problem}`;
  }
  return null;
}

/**
 * nomad/structs/structs.go AllocMetric as the scheduler fills it on one node that does
 * not fit: a constraint filtering it (ConstraintFiltered) or a dimension exhausted on it
 * (DimensionExhausted); CoalescedFailures counts the other allocations that failed alike.
 */
function allocMetric(failure: PlacementFailure, count: number): Json {
  const byConstraint = 'constraint' in failure;
  return {
    NodesEvaluated: 1,
    NodesFiltered: byConstraint ? 1 : 0,
    NodesInPool: 1,
    NodesAvailable: { dc1: 1 },
    ClassFiltered: null,
    ConstraintFiltered: byConstraint ? { [failure.constraint]: 1 } : null,
    NodesExhausted: byConstraint ? 0 : 1,
    ClassExhausted: null,
    DimensionExhausted: byConstraint ? null : { [failure.dimension]: 1 },
    QuotaExhausted: null,
    ResourcesExhausted: null,
    ScoreMetaData: null,
    AllocationTime: 12_000,
    CoalescedFailures: count - 1,
  };
}

/** The scheduler's dry run of a register: DesiredUpdates per group (scheduler/annotate.go). */
export interface JobPlan {
  /** The existing job's JobModifyIndex, 0 when new: the EnforceIndex to register with. */
  jobModifyIndex: number;
  change: 'Added' | 'Edited' | 'None';
  groups: Record<string, { Ignore: number; Place: number; Stop: number; InPlaceUpdate: number; DestructiveUpdate: number }>;
}

export interface Cluster {
  readonly options: Required<Omit<ClusterOptions, 'now' | 'identityDefaults'>> & { now: () => number; identityDefaults: IdentityDefaults };
  /** Current raft index. */
  readonly index: number;
  /** Per job (by ID, all namespaces) behaviour overrides. */
  readonly behaviour: Map<string, JobBehaviour>;
  /** Resolves when the index moves past `afterIndex` or after `waitMs` (then false). */
  waitForIndex(afterIndex: number, waitMs: number): Promise<boolean>;

  // ---- Nomad ----
  getJob(namespace: string, id: string): Json | undefined;
  getJobVersions(namespace: string, id: string): Json[];
  listJobs(namespace?: string): Json[];
  /** Index a read of this job's data should report (job, allocs or deployments). */
  jobIndex(namespace: string, id: string, what: 'job' | 'allocs' | 'deployments' | 'jobs'): number;
  registerJob(namespace: string, job: Json): { evalId: string; evalCreateIndex: number; jobModifyIndex: number; index: number };
  stopJob(namespace: string, id: string, purge: boolean, evalPriority?: number): { evalId: string; evalCreateIndex: number; jobModifyIndex: number; index: number };
  /** What registering `job` would do, changing nothing (nomad/job_endpoint.go Plan). */
  planJob(namespace: string, job: Json): JobPlan;
  listAllocations(namespace?: string, jobId?: string): Json[];
  /**
   * GET /v1/job/:id/allocations (nomad/state/state_store.go AllocsByJob): without `all`,
   * only the allocations of the job as it now exists (the same CreateIndex), not those of
   * an earlier job of that ID that was purged.
   */
  jobAllocations(namespace: string, jobId: string, all: boolean): Json[];
  getAllocation(id: string): Json | undefined;
  listDeployments(namespace?: string, jobId?: string): Json[];
  /**
   * A job's deployments, newest first, as state_store.go DeploymentsByJobID returns them:
   * unless `all`, only those of the job as it now exists (JobCreateIndex equal to its
   * CreateIndex), not those of an earlier job of that ID that was purged.
   */
  jobDeployments(namespace: string, jobId: string, all: boolean): Json[];
  getDeployment(id: string): Json | undefined;
  getEvaluation(id: string): Json | undefined;
  evalIndex(): number;
  deploymentIndex(): number;
  /** The "allocs" table's index (the last write to any allocation). */
  allocIndex(): number;
  /** Make a running allocation healthy now (skips the healthy timer). */
  forceAllocationHealthy(allocId: string): void;
  /** Fail a task of an allocation now, with a task event. */
  forceTaskFailure(allocId: string, failure: TaskFailure): void;
  /** Resolves once the job's latest deployment is terminal (or throws after timeoutMs). */
  settle(namespace: string, jobId: string, timeoutMs?: number): Promise<Json | null>;

  /** The key Nomad signs workload identities with (served as /.well-known/jwks.json). */
  readonly identityKey: SigningKey;
  /** Makes allocations render their tasks' templates before the tasks start. */
  attachTemplateRuntime(runtime: TaskTemplateRuntime): void;
  /** Makes the docker driver pull task images from these registries: a missing image fails its task. */
  attachImageSource(source: ImageSource): void;
  /** The environment a task's `env = true` templates gave it; tests only, never served. */
  renderedEnv(allocId: string, task: string): Record<string, string> | null;
  /** The files a task's templates rendered, by destination (relative to the task dir); null for an unknown allocation or task. */
  renderedFiles(allocId: string, task: string): Record<string, string> | null;
  /** The task names of an allocation's group; null for an unknown allocation. */
  allocationTasks(allocId: string): string[] | null;
  /**
   * What a task of an allocation wrote to stdout or stderr (its behaviour's text, from the
   * moment the task started); null before it started. Unknown allocation or task: throws.
   */
  taskLogs(allocId: string, task: string, type: 'stdout' | 'stderr'): string | null;
  /** consul-template's next poll for every running allocation: a changed file fires its change_mode. */
  rerenderTemplates(): Promise<void>;

  // ---- Consul ----
  readonly nodeName: string;
  /** Consul's ACL state (tokens, policies); the Consul emulator enforces it. */
  readonly consulAcl: ConsulAcl;
  /** The Consul agent running on a node of the catalog (Nomad registers through it). */
  agent(node: string): ConsulAgent;
  /** The agent of a node if one runs there (nodes made through the catalog have none). */
  findAgent(node: string): ConsulAgent | undefined;
  listNodes(): ConsulNode[];
  getNode(name: string): ConsulNode | undefined;
  listServices(): ConsulService[];
  listChecks(): ConsulCheck[];
  serviceIndex(name?: string): number;
  registerService(node: string, reg: ServiceRegistration): void;
  /** Returns false when there was no such service on that node. */
  deregisterService(node: string, serviceId: string): boolean;
  deregisterCheck(node: string, checkId: string): boolean;
  ensureNode(name: string, address: string, meta?: Record<string, string>): ConsulNode;
  deregisterNode(name: string): void;
  /** Set a check's status (by CheckID, or every check of a service ID). */
  setCheckStatus(checkOrServiceId: string, status: CheckStatus, output?: string): void;

  /** Cancel every timer (call in afterAll). */
  close(): void;
}

export function createCluster(options: ClusterOptions = {}): Cluster {
  const opts = {
    startDelayMs: options.startDelayMs ?? 20,
    healthyDelayMs: options.healthyDelayMs ?? 30,
    nodeName: options.nodeName ?? 'client-1',
    nodeAddress: options.nodeAddress ?? '10.0.0.12',
    datacenter: options.datacenter ?? 'dc1',
    antiEntropyIntervalMs: options.antiEntropyIntervalMs ?? 100,
    now: options.now ?? Date.now,
    identityDefaults: options.identityDefaults ?? {},
  };
  let index = 1;
  const listeners = new Set<() => void>();
  const timers = new Set<NodeJS.Timeout>();
  const behaviour = new Map<string, JobBehaviour>();
  let closed = false;
  const identityKey = createSigningKey();
  let templateRuntime: TaskTemplateRuntime | null = null;
  const imageSources: ImageSource[] = [];

  const jobs = new Map<string, StoredJob>();
  const evals = new Map<string, Json>();
  const allocs = new Map<string, AllocRecord>();
  const deployments = new Map<string, Json>();
  const touched = new Map<string, number>(); // `${what}:${ns}/${id}` → index
  const tables = { jobs: 1, allocs: 1, deployments: 1, evals: 1, services: 1 };
  let nextPort = 20000;

  const nodes = new Map<string, ConsulNode>();
  const services = new Map<string, ConsulService>(); // `${node}/${id}`
  const checks = new Map<string, ConsulCheck>(); // `${node}/${checkId}`
  const serviceTouched = new Map<string, number>();

  const nowNs = () => opts.now() * 1e6;
  const key = (ns: string, id: string) => `${ns}/${id}`;

  function bump(): number {
    index += 1;
    const current = [...listeners];
    listeners.clear();
    for (const l of current) l();
    return index;
  }

  function later(ms: number, fn: () => void): NodeJS.Timeout {
    const t = setTimeout(() => {
      timers.delete(t);
      if (!closed) fn();
    }, ms);
    timers.add(t);
    return t;
  }

  function touch(what: 'job' | 'allocs' | 'deployments', ns: string, id: string, at: number) {
    touched.set(`${what}:${key(ns, id)}`, at);
  }

  // ---------------- Consul side ----------------

  function ensureNode(name: string, address: string, meta: Record<string, string> = {}): ConsulNode {
    const existing = nodes.get(name);
    if (existing) {
      if (existing.Address !== address) {
        existing.Address = address;
        existing.ModifyIndex = bump();
      }
      return existing;
    }
    const at = bump();
    const node: ConsulNode = {
      ID: randomUUID(),
      Node: name,
      Address: address,
      Datacenter: opts.datacenter,
      TaggedAddresses: { lan: address, wan: address },
      Meta: meta,
      CreateIndex: at,
      ModifyIndex: at,
    };
    nodes.set(name, node);
    return node;
  }

  function touchService(name: string, at: number) {
    serviceTouched.set(name, at);
    tables.services = at;
  }

  function registerService(node: string, reg: ServiceRegistration): void {
    const at = bump();
    const k = `${node}/${reg.ID}`;
    const prev = services.get(k);
    if (prev && prev.Service !== reg.Name) touchService(prev.Service, at);
    services.set(k, {
      ID: reg.ID,
      Service: reg.Name,
      Tags: [...reg.Tags],
      Meta: { ...reg.Meta },
      Port: reg.Port,
      Address: reg.Address,
      Node: node,
      EnableTagOverride: reg.EnableTagOverride ?? false,
      CreateIndex: prev?.CreateIndex ?? at,
      ModifyIndex: at,
    });
    // Re-registering replaces the definition, checks included (as the agent does for
    // checks named in the request; others of the service are kept unless replaced).
    for (const c of reg.Checks) {
      const ck = `${node}/${c.CheckID}`;
      const prevCheck = checks.get(ck);
      checks.set(ck, {
        Node: node,
        CheckID: c.CheckID,
        Name: c.Name,
        Status: prevCheck?.Status ?? c.Status,
        Notes: c.Notes ?? '',
        Output: prevCheck?.Output ?? '',
        ServiceID: reg.ID,
        ServiceName: reg.Name,
        ServiceTags: [...reg.Tags],
        Type: c.Type,
        Definition: c.Definition,
        CreateIndex: prevCheck?.CreateIndex ?? at,
        ModifyIndex: at,
      });
    }
    touchService(reg.Name, at);
  }

  function deregisterService(node: string, serviceId: string): boolean {
    const k = `${node}/${serviceId}`;
    const svc = services.get(k);
    if (!svc) return false;
    const at = bump();
    services.delete(k);
    for (const [ck, c] of checks) if (c.Node === node && c.ServiceID === serviceId) checks.delete(ck);
    touchService(svc.Service, at);
    return true;
  }

  function deregisterCheck(node: string, checkId: string): boolean {
    const c = checks.get(`${node}/${checkId}`);
    if (!c) return false;
    const at = bump();
    checks.delete(`${node}/${checkId}`);
    touchService(c.ServiceName || '', at);
    return true;
  }

  function deregisterNode(name: string): void {
    if (!nodes.has(name)) return;
    for (const s of [...services.values()]) if (s.Node === name) deregisterService(name, s.ID);
    for (const [ck, c] of checks) if (c.Node === name) checks.delete(ck);
    nodes.delete(name);
    tables.services = bump();
  }

  function setCheckStatus(checkOrServiceId: string, status: CheckStatus, output = ''): void {
    const matched = [...checks.values()].filter((c) => c.CheckID === checkOrServiceId || c.ServiceID === checkOrServiceId);
    if (matched.length === 0) throw new Error(`no check or service ${checkOrServiceId}`);
    const at = bump();
    for (const c of matched) {
      c.Status = status;
      c.Output = output;
      c.ModifyIndex = at;
      touchService(c.ServiceName, at);
      agents.find(c.Node)?.noteCheckStatus(c.CheckID, status, output);
    }
  }

  const consulAcl = createConsulAcl();
  const agents = createConsulAgents(
    {
      registerService,
      deregisterService,
      ensureMemberNode,
      listServices: () => [...services.values()],
      checkStatus: (node, checkId) => {
        const c = checks.get(`${node}/${checkId}`);
        return c ? { Status: c.Status, Output: c.Output } : undefined;
      },
    },
    { antiEntropyIntervalMs: opts.antiEntropyIntervalMs },
  );
  function agentOf(node: string) {
    const running = agents.find(node);
    if (running) return running;
    const known = nodes.get(node);
    if (!known) throw new Error(`no node ${node} in the catalog`);
    return agents.agent(node, known.Address);
  }

  /**
   * A member node: in the catalog with serfHealth passing. The leader keeps both there
   * for every live member (agent/consul/leader.go handleAliveMember; leader_registrator_v1.go
   * in newer versions), so a catalog deregistration of the node does not last either.
   */
  function ensureMemberNode(name: string, address: string): void {
    ensureNode(name, address);
    if (checks.has(`${name}/serfHealth`)) return;
    const at = bump();
    checks.set(`${name}/serfHealth`, {
      Node: name,
      CheckID: 'serfHealth',
      Name: 'Serf Health Status',
      Status: 'passing',
      Notes: '',
      Output: 'Agent alive and reachable',
      ServiceID: '',
      ServiceName: '',
      ServiceTags: [],
      Type: '',
      Definition: {},
      CreateIndex: at,
      ModifyIndex: at,
    });
  }

  // The agent's own node, with serfHealth passing, as every real cluster has.
  ensureMemberNode(opts.nodeName, opts.nodeAddress);
  agents.agent(opts.nodeName, opts.nodeAddress);

  // ---------------- Nomad side ----------------

  function behaviourFor(jobId: string, group: string, version?: number) {
    const jb = behaviourOf(behaviour, jobId);
    const gb = jb.groups?.[group] ?? {};
    const versions = gb.failVersions ?? jb.failVersions;
    return {
      startDelayMs: gb.startDelayMs ?? jb.startDelayMs ?? opts.startDelayMs,
      healthyDelayMs: gb.healthyDelayMs ?? jb.healthyDelayMs ?? opts.healthyDelayMs,
      stopDelayMs: gb.stopDelayMs ?? jb.stopDelayMs ?? 0,
      fail: versions && version !== undefined && !versions.includes(version) ? undefined : (gb.fail ?? jb.fail),
      exitCode: gb.exitCode ?? jb.exitCode ?? 0,
      stdout: gb.stdout ?? jb.stdout ?? '',
      stderr: gb.stderr ?? jb.stderr ?? '',
      unschedulable: gb.unschedulable ?? jb.unschedulable,
    };
  }

  function groupsOf(job: Json): Json[] {
    return (job.TaskGroups as Json[] | null) ?? [];
  }
  function tasksOf(group: Json): Json[] {
    return (group.Tasks as Json[] | null) ?? [];
  }
  function isPrestartNonSidecar(task: Json): boolean {
    const lc = task.Lifecycle as Json | null | undefined;
    return !!lc && lc.Hook === 'prestart' && !lc.Sidecar;
  }

  function taskEvent(type: string, message: string, failsTask = type === 'Driver Failure' || type === 'Setup Failure', exitCode = 0): Json {
    return {
      Type: type,
      Time: nowNs(),
      Message: '',
      DisplayMessage: message,
      Details: {},
      ExitCode: exitCode,
      FailsTask: failsTask,
    };
  }

  function recomputeJobStatus(ns: string, jobId: string) {
    const stored = jobs.get(key(ns, jobId));
    if (!stored) return;
    const mine = [...allocs.values()].filter((a) => a.alloc.Namespace === ns && a.alloc.JobID === jobId);
    const live = mine.filter((a) => !terminalClient.has(a.alloc.ClientStatus as string));
    let status: string;
    if (live.some((a) => a.alloc.ClientStatus === 'running')) status = 'running';
    else if (live.length > 0) status = 'pending';
    else if (stored.job.Stop || groupsOf(stored.job).every((g) => (g.Count as number) === 0)) status = 'dead';
    else status = mine.length > 0 ? 'dead' : 'pending';
    if (stored.job.Status !== status) {
      const at = bump();
      stored.job.Status = status;
      stored.job.ModifyIndex = at;
      touch('job', ns, jobId, at);
      tables.jobs = at;
    }
  }

  function updateAlloc(rec: AllocRecord, changes: Json) {
    const at = bump();
    Object.assign(rec.alloc, changes, { ModifyIndex: at, ModifyTime: nowNs() });
    touch('allocs', rec.alloc.Namespace as string, rec.alloc.JobID as string, at);
    tables.allocs = at;
    recomputeJobStatus(rec.alloc.Namespace as string, rec.alloc.JobID as string);
  }

  /** The Nomad client deregisters an allocation's services through its node's agent. */
  function deregisterAllocServices(rec: AllocRecord) {
    const agent = agents.find(rec.alloc.NodeName as string);
    for (const id of rec.serviceIds) agent?.deregister(id);
    rec.serviceIds = [];
  }

  function stopAlloc(rec: AllocRecord, description: string) {
    for (const t of rec.timers) clearTimeout(t);
    rec.timers = [];
    const { stopDelayMs } = behaviourFor(rec.alloc.JobID as string, rec.alloc.TaskGroup as string);
    if (stopDelayMs > 0 && rec.alloc.DesiredStatus === 'run' && !terminalClient.has(rec.alloc.ClientStatus as string)) {
      // The server wants it stopped now; the client gets to it later.
      updateAlloc(rec, { DesiredStatus: 'stop', DesiredDescription: description });
      rec.timers.push(later(stopDelayMs, () => stopOnClient(rec, description)));
      return;
    }
    stopOnClient(rec, description);
  }

  function stopOnClient(rec: AllocRecord, description: string) {
    deregisterAllocServices(rec);
    const states = structuredClone(rec.alloc.TaskStates as Record<string, Json>);
    for (const st of Object.values(states)) {
      if (st.State !== 'dead') {
        st.State = 'dead';
        st.FinishedAt = new Date(opts.now()).toISOString();
        (st.Events as Json[]).push(taskEvent('Killed', 'Task successfully killed'));
      }
    }
    const client = terminalClient.has(rec.alloc.ClientStatus as string) ? rec.alloc.ClientStatus : 'complete';
    updateAlloc(rec, { DesiredStatus: 'stop', DesiredDescription: description, ClientStatus: client, TaskStates: states });
  }

  function deploymentOf(rec: AllocRecord): Json | undefined {
    const id = rec.alloc.DeploymentID as string;
    return id ? deployments.get(id) : undefined;
  }

  function updateDeployment(dep: Json, changes: Json) {
    const at = bump();
    Object.assign(dep, changes, { ModifyIndex: at });
    touch('deployments', dep.Namespace as string, dep.JobID as string, at);
    tables.deployments = at;
  }

  function checkDeploymentDone(dep: Json) {
    if (dep.Status !== 'running') return;
    const groups = Object.values(dep.TaskGroups as Record<string, Json>);
    if (groups.every((g) => (g.HealthyAllocs as number) >= (g.DesiredTotal as number))) {
      updateDeployment(dep, { Status: 'successful', StatusDescription: 'Deployment completed successfully' });
      const stored = jobs.get(key(dep.Namespace as string, dep.JobID as string));
      if (stored && stored.job.Version === dep.JobVersion) {
        stored.job.Stable = true;
        const v = stored.versions.find((j) => j.Version === dep.JobVersion);
        if (v) v.Stable = true;
      }
    }
  }

  function serviceMetaOf(svc: Json): Record<string, string> {
    return { ...((svc.Meta as Record<string, string> | null) ?? {}), 'external-source': 'nomad' };
  }

  /** Service registrations the Nomad client would make for this allocation (§12). */
  function allocServices(rec: AllocRecord): ServiceRegistration[] {
    const group = groupsOf(rec.job).find((g) => g.Name === rec.alloc.TaskGroup)!;
    const out: ServiceRegistration[] = [];
    const add = (svc: Json, taskName: string) => {
      if ((svc.Provider ?? 'consul') !== 'consul') return;
      const label = (svc.PortLabel as string) ?? '';
      const port = rec.ports[label] ?? (/^\d+$/.test(label) ? Number(label) : 0);
      const id = `_nomad-task-${rec.alloc.ID as string}-${taskName}-${svc.Name as string}-${label}`;
      const svcChecks = ((svc.Checks as Json[] | null) ?? []).map((c, i) => {
        const checkId = `_nomad-check-${createHash('sha1').update(`${id}/${i}/${String(c.Name)}`).digest('hex')}`;
        const checkPort = c.PortLabel ? (rec.ports[c.PortLabel as string] ?? port) : port;
        const definition: Json = { Interval: goDuration((c.Interval as number) ?? 0), Timeout: goDuration((c.Timeout as number) ?? 0) };
        if (c.Type === 'http') definition.HTTP = `${(c.Protocol as string) || 'http'}://${opts.nodeAddress}:${checkPort}${(c.Path as string) ?? ''}`;
        if (c.Type === 'tcp') definition.TCP = `${opts.nodeAddress}:${checkPort}`;
        return {
          CheckID: checkId,
          Name: (c.Name as string) || `service: "${svc.Name as string}" check`,
          Status: ((c.InitialStatus as CheckStatus) || 'critical') as CheckStatus,
          Type: (c.Type as string) ?? '',
          Definition: definition,
        };
      });
      out.push({
        ID: id,
        Name: svc.Name as string,
        Tags: [...((svc.Tags as string[] | null) ?? [])],
        Meta: serviceMetaOf(svc),
        Port: port,
        Address: opts.nodeAddress,
        Checks: svcChecks,
      });
    };
    for (const svc of (group.Services as Json[] | null) ?? []) add(svc, `group-${group.Name as string}`);
    for (const task of tasksOf(group)) for (const svc of (task.Services as Json[] | null) ?? []) add(svc, task.Name as string);
    return out;
  }

  function failAlloc(rec: AllocRecord, failure: TaskFailure) {
    for (const t of rec.timers) clearTimeout(t);
    rec.timers = [];
    deregisterAllocServices(rec);
    const states = structuredClone(rec.alloc.TaskStates as Record<string, Json>);
    const st = states[failure.task] ?? Object.values(states)[0];
    if (st) {
      st.State = 'dead';
      st.Failed = true;
      st.FinishedAt = new Date(opts.now()).toISOString();
      for (const e of failure.before ?? []) (st.Events as Json[]).push(taskEvent(e.type, e.message, e.failsTask ?? false));
      (st.Events as Json[]).push(taskEvent(failure.event ?? 'Driver Failure', failure.message, true));
    }
    for (const other of Object.values(states)) {
      if (other !== st && other.State !== 'dead') {
        other.State = 'dead';
        (other.Events as Json[]).push(taskEvent('Sibling Task Failed', `Task's sibling "${failure.task}" failed`));
      }
    }
    updateAlloc(rec, {
      ClientStatus: 'failed',
      ClientDescription: 'Failed tasks',
      TaskStates: states,
      DeploymentStatus: { Healthy: false, Timestamp: new Date(opts.now()).toISOString(), Canary: false, ModifyIndex: index },
    });
    const dep = deploymentOf(rec);
    if (dep && dep.Status === 'running') {
      const tg = (dep.TaskGroups as Record<string, Json>)[rec.alloc.TaskGroup as string];
      if (tg) tg.UnhealthyAllocs = (tg.UnhealthyAllocs as number) + 1;
      failDeployment(dep, 'Failed due to unhealthy allocations');
    }
  }

  /**
   * nomad/deploymentwatcher/deployment_watcher.go: a failed deployment of a group with
   * auto_revert rolls the job back to its latest stable version — registered as a new
   * (higher) version with that version's spec, in the same update that fails the
   * deployment (state_store.go UpdateDeploymentStatus) — unless that spec equals the
   * current one. Descriptions: nomad/structs/deployment.go.
   */
  function failDeployment(dep: Json, base: string) {
    const ns = dep.Namespace as string;
    const stored = jobs.get(key(ns, dep.JobID as string));
    const revert = Object.values(dep.TaskGroups as Record<string, Json>).some((g) => g.AutoRevert && (g.HealthyAllocs as number) < (g.DesiredTotal as number));
    let description = base;
    let target: Json | undefined;
    if (revert && stored && stored.job.Version === dep.JobVersion) {
      const stable = stored.versions.find((v) => v.Stable);
      if (!stable) description = `${base} - no stable job version to auto revert to`;
      else if (specOf(stable) === specOf(stored.job)) description = `${base} - not rolling back to stable job version ${String(stable.Version)} as current job has same specification`;
      else {
        description = `${base} - rolling back to job version ${String(stable.Version)}`;
        target = stable;
      }
    }
    updateDeployment(dep, { Status: 'failed', StatusDescription: description });
    // The watcher's eval is TriggeredBy structs.EvalTriggerDeploymentWatcher (nomad/structs/eval.go).
    if (target) registerJob(ns, structuredClone(target), 'deployment-watcher');
  }

  /**
   * A batch allocation's main tasks exit with the behaviour's code. The task runner's
   * events (client/allocrunner/taskrunner/task_runner.go: "Terminated" with the exit code;
   * restarts/restarts.go: a non-zero exit with no restarts left is "Not Restarting",
   * ReasonNoRestartsAllowed, which fails the task) and the allocation then complete or fail.
   */
  function finishBatch(rec: AllocRecord) {
    const { exitCode } = behaviourFor(rec.alloc.JobID as string, rec.alloc.TaskGroup as string);
    const states = structuredClone(rec.alloc.TaskStates as Record<string, Json>);
    const failed = exitCode !== 0;
    for (const st of Object.values(states)) {
      if (st.State === 'dead') continue;
      st.State = 'dead';
      st.Failed = failed;
      st.FinishedAt = new Date(opts.now()).toISOString();
      (st.Events as Json[]).push(taskEvent('Terminated', `Exit Code: ${exitCode}`, false, exitCode));
      if (failed) (st.Events as Json[]).push(taskEvent('Not Restarting', 'Policy allows no restarts', true));
    }
    deregisterAllocServices(rec);
    updateAlloc(rec, { ClientStatus: failed ? 'failed' : 'complete', ClientDescription: failed ? 'Failed tasks' : 'All tasks have completed', TaskStates: states });
  }

  function markHealthy(rec: AllocRecord) {
    if (rec.alloc.ClientStatus !== 'running' || rec.alloc.DesiredStatus !== 'run') return;
    const health = (rec.alloc.DeploymentStatus as Json | null)?.Healthy;
    if (health === true || health === false) return;
    for (const id of rec.serviceIds) {
      for (const c of checks.values()) {
        if (c.ServiceID === id && c.Node === opts.nodeName && c.Status !== 'passing') setCheckStatus(c.CheckID, 'passing', 'HTTP GET: 200 OK');
      }
    }
    if (rec.alloc.JobType === 'batch') return finishBatch(rec);
    updateAlloc(rec, { DeploymentStatus: { Healthy: true, Timestamp: new Date(opts.now()).toISOString(), Canary: false, ModifyIndex: index + 1 } });
    const dep = deploymentOf(rec);
    if (dep && dep.Status === 'running') {
      const tg = (dep.TaskGroups as Record<string, Json>)[rec.alloc.TaskGroup as string];
      if (tg) tg.HealthyAllocs = (tg.HealthyAllocs as number) + 1;
      updateDeployment(dep, {});
      checkDeploymentDone(dep);
    }
  }

  /** The template hook runs before a task starts: a template that cannot render keeps it from starting. */
  async function renderTemplates(rec: AllocRecord): Promise<TaskFailure | null> {
    if (!templateRuntime) return null;
    const groupSpec = groupsOf(rec.job).find((g) => g.Name === rec.alloc.TaskGroup)!;
    const ctx: AllocationContext = { allocId: rec.alloc.ID as string, namespace: rec.alloc.Namespace as string, job: rec.job, group: groupSpec };
    for (const task of tasksOf(groupSpec)) {
      if (((task.Templates as Json[] | null) ?? []).length === 0) continue;
      const result = await templateRuntime.renderTask(ctx, task);
      if (!result.ok) {
        const last = result.events.at(-1)!;
        return { task: result.task, event: last.type, message: last.message, before: result.events.slice(0, -1) };
      }
      rec.renders.set(result.render.task, { env: result.render.env, files: result.render.files });
    }
    return null;
  }

  function startAlloc(rec: AllocRecord) {
    if (rec.alloc.DesiredStatus !== 'run') return;
    if (!templateRuntime) return runAlloc(rec, null);
    renderTemplates(rec).then(
      (failure) => {
        if (!closed && rec.alloc.DesiredStatus === 'run') runAlloc(rec, failure);
      },
      (err: unknown) => {
        if (!closed && rec.alloc.DesiredStatus === 'run') runAlloc(rec, { task: '', event: 'Killing', message: `Template failed: ${(err as Error).message}` });
      },
    );
  }

  /**
   * The docker driver pulls a task's image when it starts the task, after the prestart
   * hooks (nomad drivers/docker/driver.go StartTask → createImage → coordinator.go
   * PullImage, which first emits the "Downloading image" driver event). An image its
   * registry does not hold fails the task with the pull error wrapped by coordinator.go's
   * recoverablePullError, "Failed to pull `<image>`: <daemon error>", as a "Driver
   * Failure" task event (nomad/structs/structs.go TaskDriverFailure). The daemon's error
   * for an unknown manifest is moby's distribution/errors.go translation of
   * MANIFEST_UNKNOWN, "manifest for <image> not found: manifest unknown: manifest
   * unknown", behind the API client's "Error response from daemon: ".
   */
  function imagePullFailure(group: Json): TaskFailure | null {
    if (imageSources.length === 0) return null;
    for (const task of tasksOf(group)) {
      if (task.Driver !== 'docker') continue;
      const image = (task.Config as Json | null)?.image;
      if (typeof image !== 'string') continue;
      const held = imageSources.map((source) => source.pull(image)).find((answer) => answer !== null);
      if (held === false) {
        return {
          task: task.Name as string,
          message: `Failed to pull \`${image}\`: Error response from daemon: manifest for ${image} not found: manifest unknown: manifest unknown`,
          before: [{ type: 'Driver', message: 'Downloading image' }],
        };
      }
    }
    return null;
  }

  function runAlloc(rec: AllocRecord, templateFailure: TaskFailure | null) {
    // The template hook is a prestart hook: a task whose template failed never started.
    if (templateFailure) return failAlloc(rec, templateFailure);
    const pullFailure = imagePullFailure(groupsOf(rec.job).find((g) => g.Name === rec.alloc.TaskGroup)!);
    if (pullFailure) return failAlloc(rec, pullFailure);
    const group = rec.alloc.TaskGroup as string;
    const b = behaviourFor(rec.alloc.JobID as string, group, rec.alloc.JobVersion as number);
    const states = structuredClone(rec.alloc.TaskStates as Record<string, Json>);
    const groupSpec = groupsOf(rec.job).find((g) => g.Name === group)!;
    for (const task of tasksOf(groupSpec)) {
      const st = states[task.Name as string]!;
      st.StartedAt = new Date(opts.now()).toISOString();
      (st.Events as Json[]).push(taskEvent('Started', 'Task started by client'));
      if (isPrestartNonSidecar(task)) {
        st.State = 'dead';
        st.Failed = false;
        st.FinishedAt = new Date(opts.now()).toISOString();
        (st.Events as Json[]).push(taskEvent('Terminated', 'Exit Code: 0'));
      } else st.State = 'running';
    }
    updateAlloc(rec, { ClientStatus: 'running', ClientDescription: 'Tasks are running', TaskStates: states });

    if (b.fail) return failAlloc(rec, b.fail);

    if (!registerAllocServices(rec)) return;
    rec.timers.push(later(b.healthyDelayMs, () => markHealthy(rec)));
  }

  /**
   * Registers the allocation's services in Consul, as the Nomad client does once its tasks
   * run; Consul refuses invalid service meta and the client then fails the allocation
   * (nomad.md §10: "fails at run time"). False when the allocation failed.
   */
  function registerAllocServices(rec: AllocRecord): boolean {
    const groupSpec = groupsOf(rec.job).find((g) => g.Name === rec.alloc.TaskGroup)!;
    const regs = allocServices(rec);
    for (const reg of regs) {
      const problem = validateServiceMeta(reg.Meta);
      if (problem) {
        const mainTask = tasksOf(groupSpec).find((t) => !isPrestartNonSidecar(t));
        failAlloc(rec, {
          task: (mainTask?.Name as string) ?? '',
          event: 'Setup Failure',
          message: `failed to setup alloc: pre-run hook "group_services" failed: Unexpected response code: 400 (Invalid Service Meta: ${problem})`,
        });
        return false;
      }
    }
    // Through the agent of the allocation's node (command/agent/consul/service_client.go).
    const agent = agentOf(rec.alloc.NodeName as string);
    for (const reg of regs) {
      agent.register(reg);
      rec.serviceIds.push(reg.ID);
    }
    return true;
  }

  /**
   * A non-destructive update (scheduler/util.go tasksUpdated found nothing): the same
   * allocation, tasks not restarted, takes the new version and joins the new deployment;
   * its services are updated in Consul and its health is watched again.
   */
  function updateInPlace(rec: AllocRecord, job: Json, deploymentId: string) {
    for (const t of rec.timers) clearTimeout(t);
    rec.timers = [];
    rec.job = job;
    updateAlloc(rec, { JobVersion: job.Version, DeploymentID: deploymentId, DeploymentStatus: null, AllocModifyIndex: index + 1 });
    if (rec.alloc.ClientStatus === 'pending') {
      const b = behaviourFor(rec.alloc.JobID as string, rec.alloc.TaskGroup as string);
      rec.timers.push(later(b.startDelayMs, () => startAlloc(rec)));
      return;
    }
    deregisterAllocServices(rec);
    if (!registerAllocServices(rec)) return;
    const b = behaviourFor(rec.alloc.JobID as string, rec.alloc.TaskGroup as string);
    rec.timers.push(later(b.healthyDelayMs, () => markHealthy(rec)));
  }

  /**
   * The Nomad client's periodic sync (command/agent/consul/service_client.go sync, "Add
   * Nomad services missing from Consul"): while the client runs an allocation, a service
   * of it removed from the node's agent is registered again.
   */
  function nomadServiceSync() {
    for (const rec of allocs.values()) {
      if (rec.serviceIds.length === 0 || rec.alloc.ClientStatus !== 'running') continue;
      const agent = agents.find(rec.alloc.NodeName as string);
      if (!agent || rec.serviceIds.every((id) => agent.service(id))) continue;
      for (const reg of allocServices(rec)) if (rec.serviceIds.includes(reg.ID) && !agent.service(reg.ID)) agent.register(reg);
    }
  }
  const nomadSyncTimer = setInterval(() => {
    if (!closed) nomadServiceSync();
  }, opts.antiEntropyIntervalMs);
  nomadSyncTimer.unref();

  function placeAlloc(ns: string, job: Json, group: Json, i: number, evalId: string, deploymentId: string): AllocRecord {
    const at = bump();
    const id = randomUUID();
    const ports: Record<string, number> = {};
    for (const net of (group.Networks as Json[] | null) ?? []) {
      for (const p of (net.DynamicPorts as Json[] | null) ?? []) ports[p.Label as string] = nextPort++;
      for (const p of (net.ReservedPorts as Json[] | null) ?? []) ports[p.Label as string] = p.Value as number;
    }
    const taskStates: Record<string, Json> = {};
    for (const task of tasksOf(group)) {
      taskStates[task.Name as string] = {
        State: 'pending',
        Failed: false,
        Restarts: 0,
        LastRestart: null,
        StartedAt: null,
        FinishedAt: null,
        Events: [taskEvent('Received', 'Task received by client')],
      };
    }
    const alloc: Json = {
      ID: id,
      EvalID: evalId,
      Name: `${job.ID as string}.${group.Name as string}[${i}]`,
      Namespace: ns,
      NodeID: nodes.get(opts.nodeName)?.ID ?? '',
      NodeName: opts.nodeName,
      JobID: job.ID,
      JobType: job.Type,
      JobVersion: job.Version,
      TaskGroup: group.Name,
      DesiredStatus: 'run',
      DesiredDescription: '',
      ClientStatus: 'pending',
      ClientDescription: 'No tasks have started',
      DesiredTransition: { Migrate: null, Reschedule: null, ForceReschedule: null, NoShutdownDelay: null },
      TaskStates: taskStates,
      DeploymentID: deploymentId,
      DeploymentStatus: null,
      FollowupEvalID: '',
      NextAllocation: '',
      RescheduleTracker: null,
      PreemptedAllocations: null,
      PreemptedByAllocation: '',
      CreateIndex: at,
      ModifyIndex: at,
      AllocModifyIndex: at,
      CreateTime: nowNs(),
      ModifyTime: nowNs(),
    };
    const rec: AllocRecord = { alloc, job, ports, serviceIds: [], timers: [], renders: new Map() };
    allocs.set(id, rec);
    touch('allocs', ns, job.ID as string, at);
    tables.allocs = at;
    const b = behaviourFor(job.ID as string, group.Name as string);
    rec.timers.push(later(b.startDelayMs, () => startAlloc(rec)));
    return rec;
  }

  /** An evaluation written at `at` (the raft apply that carries it), else at a new index of its own. */
  function createEval(ns: string, job: Json, triggeredBy: string, at = bump(), fields: { Priority?: number; Type?: string } = {}): Json {
    const ev: Json = {
      ID: randomUUID(),
      Namespace: ns,
      Priority: fields.Priority ?? job.Priority ?? 50,
      Type: fields.Type ?? job.Type ?? 'service',
      TriggeredBy: triggeredBy,
      JobID: job.ID,
      JobModifyIndex: job.JobModifyIndex ?? 0,
      Status: 'pending',
      StatusDescription: '',
      NextEval: '',
      PreviousEval: '',
      BlockedEval: '',
      DeploymentID: '',
      FailedTGAllocs: null,
      QueuedAllocations: {},
      SnapshotIndex: 0,
      CreateIndex: at,
      ModifyIndex: at,
      CreateTime: nowNs(),
      ModifyTime: nowNs(),
    };
    evals.set(ev.ID as string, ev);
    tables.evals = at;
    return ev;
  }

  /** The scheduler: make allocations and the deployment match the job's current version. */
  function schedule(ns: string, jobId: string, ev: Json, newVersion: boolean) {
    const stored = jobs.get(key(ns, jobId));
    const live = [...allocs.values()].filter(
      (a) => a.alloc.Namespace === ns && a.alloc.JobID === jobId && a.alloc.DesiredStatus === 'run' && !terminalClient.has(a.alloc.ClientStatus as string),
    );
    const running = [...deployments.values()].filter((d) => d.Namespace === ns && d.JobID === jobId && d.Status === 'running');
    let deploymentId = '';
    const failedPlacements: Record<string, Json> = {};
    if (!stored || stored.job.Stop) {
      for (const d of running) updateDeployment(d, { Status: 'cancelled', StatusDescription: 'Cancelled because job is stopped' });
      for (const a of live) stopAlloc(a, 'alloc not needed due to job update');
    } else {
      const job = stored.job;
      if (newVersion) {
        for (const d of running) updateDeployment(d, { Status: 'cancelled', StatusDescription: 'Cancelled due to newer version of job' });
        if (job.Type === 'service') deploymentId = createDeployment(ns, job, ev).ID as string;
        for (const a of live) {
          if (a.alloc.JobVersion === job.Version) continue;
          // scheduler/util.go tasksUpdated decides: replace the allocation, or update it in place.
          if (destructiveChange(a.job, job, a.alloc.TaskGroup as string) !== null) stopAlloc(a, 'alloc is being updated due to job update');
          else updateInPlace(a, job, deploymentId);
        }
      }
      for (const group of groupsOf(job)) {
        const have = live.filter((a) => a.alloc.TaskGroup === group.Name && a.alloc.JobVersion === job.Version && a.alloc.DesiredStatus === 'run');
        const want = (group.Count as number) ?? 1;
        const failure = behaviourFor(jobId, group.Name as string).unschedulable;
        if (failure && have.length < want) {
          failedPlacements[group.Name as string] = allocMetric(failure, want - have.length);
          continue;
        }
        for (let i = have.length; i < want; i++) placeAlloc(ns, job, group, i, ev.ID as string, deploymentId);
        for (const extra of have.slice(want)) stopAlloc(extra, 'alloc not needed due to job update');
      }
    }
    // scheduler/generic_sched.go: allocations it could not place leave the evaluation
    // complete with FailedTGAllocs and a "blocked" evaluation that waits for capacity.
    let blockedEval = '';
    if (Object.keys(failedPlacements).length > 0) {
      const blocked = createEval(ns, stored!.job, ev.TriggeredBy as string);
      Object.assign(blocked, { Status: 'blocked', StatusDescription: 'created to place remaining allocations', PreviousEval: ev.ID, FailedTGAllocs: null });
      blockedEval = blocked.ID as string;
    }
    const at = bump();
    Object.assign(ev, {
      Status: 'complete',
      DeploymentID: deploymentId,
      ModifyIndex: at,
      ModifyTime: nowNs(),
      SnapshotIndex: at,
      ...(blockedEval ? { BlockedEval: blockedEval, FailedTGAllocs: failedPlacements } : {}),
    });
    tables.evals = at;
    if (stored) recomputeJobStatus(ns, jobId);
  }

  function createDeployment(ns: string, job: Json, ev: Json): Json {
    const at = bump();
    const taskGroups: Record<string, Json> = {};
    for (const g of groupsOf(job)) {
      const progress = ((g.Update as Json | null)?.ProgressDeadline as number | undefined) ?? 600e9;
      taskGroups[g.Name as string] = {
        AutoRevert: ((g.Update as Json | null)?.AutoRevert as boolean | undefined) ?? false,
        AutoPromote: false,
        Promoted: false,
        PlacedCanaries: null,
        DesiredCanaries: 0,
        DesiredTotal: g.Count ?? 1,
        PlacedAllocs: g.Count ?? 1,
        HealthyAllocs: 0,
        UnhealthyAllocs: 0,
        ProgressDeadline: progress,
        RequireProgressBy: new Date(opts.now() + progress / 1e6).toISOString(),
      };
    }
    const dep: Json = {
      ID: randomUUID(),
      Namespace: ns,
      JobID: job.ID,
      JobVersion: job.Version,
      JobModifyIndex: job.JobModifyIndex,
      JobSpecModifyIndex: job.JobModifyIndex,
      JobCreateIndex: job.CreateIndex,
      IsMultiregion: false,
      EvalPriority: ev.Priority,
      TaskGroups: taskGroups,
      Status: 'running',
      StatusDescription: 'Deployment is running',
      CreateIndex: at,
      ModifyIndex: at,
    };
    deployments.set(dep.ID as string, dep);
    touch('deployments', ns, job.ID as string, at);
    tables.deployments = at;
    checkDeploymentDone(dep); // zero-count groups are done at once
    return dep;
  }

  /**
   * nomad/job_endpoint.go Register: a changed spec is one raft apply (JobRegisterRequestType)
   * carrying the job and its eval, so JobModifyIndex, EvalCreateIndex and Index are all that
   * apply's index. An unchanged spec writes no job: the answer's JobModifyIndex is the
   * existing job's JobModifyIndex (`reply.JobModifyIndex = existingJob.JobModifyIndex`; not
   * its ModifyIndex, which status changes move), and the eval is its own apply
   * (EvalUpdateRequestType), whose index is EvalCreateIndex and Index.
   */
  function registerJob(ns: string, incoming: Json, triggeredBy = 'job-register') {
    const id = incoming.ID as string;
    const k = key(ns, id);
    const stored = jobs.get(k);
    const changed = !stored || specOf(stored.job) !== specOf({ ...incoming, Namespace: ns });
    if (!changed) {
      const ev = createEval(ns, stored.job, triggeredBy);
      later(0, () => schedule(ns, id, ev, false));
      return { evalId: ev.ID as string, evalCreateIndex: ev.CreateIndex as number, jobModifyIndex: stored.job.JobModifyIndex as number, index: ev.CreateIndex as number };
    }
    const at = bump();
    const version = stored ? (stored.job.Version as number) + 1 : 0;
    const job: Json = {
      ...structuredClone(incoming),
      Namespace: ns,
      Version: version,
      Stable: false,
      Status: stored?.job.Status ?? 'pending',
      StatusDescription: '',
      SubmitTime: nowNs(),
      CreateIndex: stored?.job.CreateIndex ?? at,
      ModifyIndex: at,
      JobModifyIndex: at,
    };
    if (stored) {
      stored.job = job;
      stored.versions.unshift(structuredClone(job));
    } else jobs.set(k, { namespace: ns, job, versions: [structuredClone(job)] });
    touch('job', ns, id, at);
    tables.jobs = at;
    const ev = createEval(ns, job, triggeredBy, at);
    later(0, () => schedule(ns, id, ev, true));
    return { evalId: ev.ID as string, evalCreateIndex: at, jobModifyIndex: at, index: at };
  }

  /**
   * nomad/job_endpoint.go Deregister: an unknown job answers nil (a 200 with an empty
   * EvalID and zero indexes, not a 404). Otherwise one raft apply (JobDeregisterRequestType)
   * carries the eval, and JobModifyIndex, EvalCreateIndex and Index are its index. The eval
   * is Type "service" whatever the job's type, at the job's priority (or `evalPriority`),
   * and there is none for a periodic or parameterized job. nomad/fsm.go handleJobDeregister:
   * purge deletes the job; otherwise the job is upserted with Stop set, and
   * state_store.go upsertJobImpl gives every upsert a new version and JobModifyIndex, so
   * stopping an already stopped job makes another version.
   */
  function stopJob(ns: string, id: string, purge: boolean, evalPriority = 0) {
    const k = key(ns, id);
    const stored = jobs.get(k);
    if (!stored) return { evalId: '', evalCreateIndex: 0, jobModifyIndex: 0, index: 0 };
    const at = bump();
    if (purge) {
      jobs.delete(k);
    } else {
      stored.job = { ...stored.job, Stop: true, Version: (stored.job.Version as number) + 1, ModifyIndex: at, JobModifyIndex: at, SubmitTime: nowNs() };
      stored.versions.unshift(structuredClone(stored.job));
    }
    touch('job', ns, id, at);
    tables.jobs = at;
    const dispatchOnly = (stored.job.Periodic ?? null) !== null || (stored.job.ParameterizedJob ?? null) !== null;
    if (dispatchOnly) return { evalId: '', evalCreateIndex: at, jobModifyIndex: at, index: at };
    const priority = evalPriority > 0 ? evalPriority : (stored.job.Priority as number) > 0 ? (stored.job.Priority as number) : 50;
    const ev = createEval(ns, stored.job, 'job-deregister', at, { Priority: priority, Type: 'service' });
    later(0, () => schedule(ns, id, ev, false));
    return { evalId: ev.ID as string, evalCreateIndex: at, jobModifyIndex: at, index: at };
  }

  function planJob(ns: string, incoming: Json): JobPlan {
    const stored = jobs.get(key(ns, incoming.ID as string));
    const current = stored && !stored.job.Stop ? stored.job : undefined;
    const job: Json = { ...incoming, Namespace: ns };
    const change = !stored ? 'Added' : specOf(stored.job) === specOf(job) ? 'None' : 'Edited';
    const groups: JobPlan['groups'] = {};
    for (const group of groupsOf(job)) {
      const name = group.Name as string;
      const live = [...allocs.values()].filter(
        (a) => a.alloc.Namespace === ns && a.alloc.JobID === job.ID && a.alloc.TaskGroup === name && a.alloc.DesiredStatus === 'run' && !terminalClient.has(a.alloc.ClientStatus as string),
      );
      const want = (group.Count as number) ?? 1;
      const kept = live.slice(0, want);
      const counts = { Ignore: 0, Place: Math.max(0, want - live.length), Stop: Math.max(0, live.length - want), InPlaceUpdate: 0, DestructiveUpdate: 0 };
      for (const a of kept) {
        if (change === 'None' && current) counts.Ignore += 1;
        else if (destructiveChange(a.job, job, name) !== null) counts.DestructiveUpdate += 1;
        else if (specOf(a.job) === specOf(job)) counts.Ignore += 1;
        else counts.InPlaceUpdate += 1;
      }
      groups[name] = counts;
    }
    return { jobModifyIndex: (stored?.job.JobModifyIndex as number | undefined) ?? 0, change, groups };
  }

  const cluster: Cluster = {
    options: opts,
    get index() {
      return index;
    },
    behaviour,
    waitForIndex(afterIndex, waitMs) {
      if (index > afterIndex) return Promise.resolve(true);
      return new Promise((resolve) => {
        const onChange = () => {
          clearTimeout(t);
          timers.delete(t);
          resolve(true);
        };
        const t = setTimeout(() => {
          timers.delete(t);
          listeners.delete(onChange);
          resolve(false);
        }, waitMs);
        timers.add(t);
        listeners.add(onChange);
      });
    },

    getJob: (ns, id) => jobs.get(key(ns, id))?.job,
    getJobVersions: (ns, id) => jobs.get(key(ns, id))?.versions ?? [],
    listJobs: (ns) =>
      [...jobs.values()]
        .filter((s) => ns === undefined || ns === '*' || s.namespace === ns)
        .map((s) => s.job)
        .sort((a, b) => String(a.ID).localeCompare(String(b.ID))),
    jobIndex(ns, id, what) {
      if (what === 'jobs') return tables.jobs;
      const table = what === 'job' ? tables.jobs : what === 'allocs' ? tables.allocs : tables.deployments;
      return touched.get(`${what}:${key(ns, id)}`) ?? table;
    },
    registerJob,
    stopJob,
    planJob,
    listAllocations: (ns, jobId) =>
      [...allocs.values()]
        .map((a) => a.alloc)
        .filter((a) => (ns === undefined || a.Namespace === ns) && (jobId === undefined || a.JobID === jobId)),
    jobAllocations(ns, jobId, all) {
      const current = jobs.get(key(ns, jobId))?.job;
      return [...allocs.values()]
        .filter((a) => a.alloc.Namespace === ns && a.alloc.JobID === jobId)
        .filter((a) => all || !current || a.job.CreateIndex === current.CreateIndex)
        .map((a) => a.alloc);
    },
    getAllocation: (id) => allocs.get(id)?.alloc,
    listDeployments: (ns, jobId) =>
      [...deployments.values()]
        .filter((d) => (ns === undefined || d.Namespace === ns) && (jobId === undefined || d.JobID === jobId))
        .sort((a, b) => (b.CreateIndex as number) - (a.CreateIndex as number)),
    jobDeployments(ns, jobId, all) {
      const current = jobs.get(key(ns, jobId))?.job;
      return cluster.listDeployments(ns, jobId).filter((d) => all || !current || d.JobCreateIndex === current.CreateIndex);
    },
    getDeployment: (id) => deployments.get(id),
    getEvaluation: (id) => evals.get(id),
    evalIndex: () => tables.evals,
    deploymentIndex: () => tables.deployments,
    allocIndex: () => tables.allocs,
    forceAllocationHealthy(allocId) {
      const rec = allocs.get(allocId);
      if (!rec) throw new Error(`no allocation ${allocId}`);
      markHealthy(rec);
    },
    forceTaskFailure(allocId, failure) {
      const rec = allocs.get(allocId);
      if (!rec) throw new Error(`no allocation ${allocId}`);
      failAlloc(rec, failure);
    },
    async settle(ns, jobId, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        // The job as it now exists: a purged predecessor's finished deployment is not this one's.
        const latest = cluster.jobDeployments(ns, jobId, false)[0] ?? null;
        if (latest && latest.Status !== 'running') return latest;
        if (Date.now() > deadline) throw new Error(`deployment of ${jobId} did not settle within ${timeoutMs}ms`);
        await cluster.waitForIndex(index, Math.max(1, deadline - Date.now()));
      }
    },

    identityKey,
    attachTemplateRuntime(runtime) {
      templateRuntime = runtime;
    },
    attachImageSource(source) {
      imageSources.push(source);
    },
    renderedEnv(allocId, task) {
      const env = allocs.get(allocId)?.renders.get(task)?.env;
      return env ? { ...env } : null;
    },
    renderedFiles(allocId, task) {
      const files = allocs.get(allocId)?.renders.get(task)?.files;
      return files ? { ...files } : null;
    },
    taskLogs(allocId, task, type) {
      const rec = allocs.get(allocId);
      if (!rec) throw new Error(`no allocation ${allocId}`);
      const state = (rec.alloc.TaskStates as Record<string, Json>)[task];
      if (!state || !state.StartedAt) return null;
      return behaviourFor(rec.alloc.JobID as string, rec.alloc.TaskGroup as string)[type];
    },
    allocationTasks(allocId) {
      const rec = allocs.get(allocId);
      if (!rec) return null;
      const group = groupsOf(rec.job).find((g) => g.Name === rec.alloc.TaskGroup);
      return group ? tasksOf(group).map((t) => t.Name as string) : [];
    },
    async rerenderTemplates() {
      if (!templateRuntime) return;
      for (const rec of [...allocs.values()]) {
        if (rec.alloc.ClientStatus !== 'running' || rec.alloc.DesiredStatus !== 'run') continue;
        const groupSpec = groupsOf(rec.job).find((g) => g.Name === rec.alloc.TaskGroup)!;
        const ctx: AllocationContext = { allocId: rec.alloc.ID as string, namespace: rec.alloc.Namespace as string, job: rec.job, group: groupSpec };
        for (const task of tasksOf(groupSpec)) {
          const previous = rec.renders.get(task.Name as string);
          if (!previous || isPrestartNonSidecar(task)) continue; // a finished prestart task renders no more
          const result = await templateRuntime.renderTask(ctx, task);
          if (rec.alloc.ClientStatus !== 'running') break;
          if (!result.ok) {
            const last = result.events.at(-1)!;
            failAlloc(rec, { task: result.task, event: last.type, message: last.message, before: result.events.slice(0, -1) });
            break;
          }
          rec.renders.set(task.Name as string, { env: result.render.env, files: result.render.files });
          // renderer.go: identical contents are not written, so nothing fires; template.go
          // onTemplateRendered: a changed file fires its change_mode (restart by default).
          const changed = Object.entries(result.render.files).filter(([dest, text]) => previous.files[dest] !== text).map(([dest]) => dest);
          const templates = ((task.Templates as Json[] | null) ?? []).filter((t) => changed.includes(String(t.DestPath ?? '')));
          if (templates.some((t) => (t.ChangeMode ?? 'restart') === 'restart')) {
            const states = structuredClone(rec.alloc.TaskStates as Record<string, Json>);
            const st = states[task.Name as string]!;
            st.Restarts = (st.Restarts as number) + 1;
            st.LastRestart = new Date(opts.now()).toISOString();
            (st.Events as Json[]).push(taskEvent('Restart Signaled', 'Template with change_mode restart re-rendered'));
            updateAlloc(rec, { TaskStates: states });
          }
        }
      }
    },

    nodeName: opts.nodeName,
    consulAcl,
    agent: agentOf,
    findAgent: (node) => agents.find(node),
    listNodes: () => [...nodes.values()],
    getNode: (name) => nodes.get(name),
    listServices: () => [...services.values()],
    listChecks: () => [...checks.values()],
    serviceIndex: (name) => (name === undefined ? tables.services : (serviceTouched.get(name) ?? tables.services)),
    registerService,
    deregisterService,
    deregisterCheck,
    ensureNode,
    deregisterNode,
    setCheckStatus,

    close() {
      closed = true;
      agents.close();
      clearInterval(nomadSyncTimer);
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const l of [...listeners]) l();
      listeners.clear();
    },
  };
  return cluster;
}

// previewd's view of Nomad. Only src/nomad/ knows Nomad's wire JSON; everything else
// uses these types. `NomadJob` stays the API's Job JSON (PascalCase) because previewd
// passes it from /v1/jobs/parse to /v1/jobs unchanged; read fields with the helpers.

/** Nomad's Job JSON as returned by /v1/jobs/parse (opaque apart from a few fields). */
export type NomadJob = Record<string, unknown> & { ID: string; Meta?: Record<string, string> | null };

export interface NomadJobStub {
  id: string;
  status: 'pending' | 'running' | 'dead' | string;
  stop: boolean;
  meta: Record<string, string>;
  jobModifyIndex: number;
}

export interface NomadJobState extends NomadJobStub {
  version: number;
}

export interface NomadDeployment {
  id: string;
  jobId: string;
  jobVersion: number;
  status: 'running' | 'paused' | 'failed' | 'successful' | 'cancelled' | 'initializing' | 'pending' | 'blocked' | 'unblocking' | string;
  statusDescription: string;
  modifyIndex: number;
}

export interface NomadTaskEvent {
  type: string;
  message: string; // DisplayMessage
  time: number;
  /** The task's exit code on a Terminated event (0 otherwise). */
  exitCode?: number;
}

/** One task group's AllocMetric from an evaluation's FailedTGAllocs (nomad/structs/structs.go). */
export interface NomadPlacementFailure {
  nodesEvaluated: number;
  nodesFiltered: number;
  nodesExhausted: number;
  constraintFiltered: Record<string, number>;
  classFiltered: Record<string, number>;
  dimensionExhausted: Record<string, number>;
  classExhausted: Record<string, number>;
  quotaExhausted: string[];
  coalescedFailures: number;
}

export interface NomadEvaluation {
  id: string;
  status: string;
  statusDescription: string;
  blockedEval: string;
  /** Per task group that could not be placed. */
  failedPlacements: Record<string, NomadPlacementFailure>;
}

export interface NomadAllocation {
  id: string;
  taskGroup: string;
  jobVersion: number;
  clientStatus: 'pending' | 'running' | 'complete' | 'failed' | 'lost' | 'unknown' | string;
  desiredStatus: string;
  healthy: boolean | null; // DeploymentStatus.Healthy
  tasks: Record<string, { state: string; failed: boolean; events: NomadTaskEvent[] }>;
}

export interface NomadJobVersion {
  version: number;
  /** The raft index the version was written at: what a register of it answered. */
  jobModifyIndex: number;
  stable: boolean;
  meta: Record<string, string>;
}

export interface BlockingOptions {
  index?: number; // last X-Nomad-Index seen; > 0 to block
  waitMs?: number;
  /** Ends the wait at once when aborted (the caller is stopping). */
  signal?: AbortSignal | undefined;
}

/** What running a batch job to completion needs beyond NomadClient (the e2e runner). */
export interface NomadBatchClient {
  /** GET /v1/evaluation/:id; null on 404. */
  getEvaluation(id: string): Promise<NomadEvaluation | null>;
  /** GET /v1/client/fs/logs/:alloc?plain=true: a task's stdout or stderr, the last tailBytes of it; null when the task has not started. */
  readTaskLogs(allocId: string, task: string, type: 'stdout' | 'stderr', options?: { tailBytes?: number }): Promise<string | null>;
}

export interface NomadClient {
  /** POST /v1/jobs/parse with Canonicalize: true. HCL errors → UserError. */
  parseJob(hcl: string): Promise<NomadJob>;
  /**
   * POST /v1/jobs. With `enforceIndex` the register only succeeds if the job's
   * JobModifyIndex still equals it (0 = create only); a mismatch → ConflictError.
   * Validation failures (500 with a multi-error body) → UserError; other 5xx → TransientError.
   */
  registerJob(job: NomadJob, options?: { enforceIndex?: number }): Promise<{ evalId: string; jobModifyIndex: number; warnings: string }>;
  /** GET /v1/job/:id; null on 404. */
  getJob(id: string): Promise<NomadJobState | null>;
  /**
   * GET /v1/jobs?meta=true with an optional ID prefix and bexpr filter (evaluated by the
   * server on the whole job), every page (per_page, default 500) followed to the last.
   */
  listJobs(options?: { prefix?: string; filter?: string; perPage?: number }): Promise<NomadJobStub[]>;
  /** DELETE /v1/job/:id (purge when asked). Unknown job is not an error. */
  stopJob(id: string, options?: { purge?: boolean }): Promise<void>;
  /** GET /v1/job/:id/deployment as a blocking query; deployment null when the job has none. */
  getLatestDeployment(jobId: string, options?: BlockingOptions): Promise<{ deployment: NomadDeployment | null; index: number }>;
  /** GET /v1/job/:id/versions, newest first; [] for an unknown job (404 "job versions not found"). */
  listJobVersions(jobId: string): Promise<NomadJobVersion[]>;
  /** GET /v1/job/:id/allocations. */
  listAllocations(jobId: string): Promise<NomadAllocation[]>;
  /** GET /v1/allocation/:id; null on 404 (never existed or garbage-collected). */
  getAllocation(id: string): Promise<NomadAllocation | null>;
  /** GET /v1/status/leader: reachable and has a leader. */
  ping(): Promise<void>;
}

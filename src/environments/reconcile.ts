// reconcileEnvironment: the whole loop for one PR. Desired (store) → render → observe →
// plan (pure) → apply → record (outcome.ts, pure), with the PR shown a projection of it
// (projection.ts, pure; github-report.ts). Teardown is the same loop with desired absent.
import type { Deps } from '../deps.js';
import { ConflictError, errorSystem, OwnershipError, publicReason, StaleFenceError, TransientError, UserError, type SystemName } from '../errors.js';
import type { ApplyContext, ApplyState } from './apply-context.js';
import type { RenderedJob } from './renderer.js';
import { applyPlan, StepError } from './apply.js';
import { configSecrets, createGrowingScrubber, type Scrubber } from './credentials.js';
import { ensureGitHubReport, githubRefsOf, type GitHubRefs } from './github-report.js';
import { recordedResources, type DesiredEnvironment, type Plan, type RecordedResources, type Step } from './model.js';
import { decideOutcome, decideReportLag, decideStart, decideStep, isPresent, outcomeStatus, shaOf, type Decision, type Progress, type ReportFailure } from './outcome.js';
import { projectOutcome, projectStart, type GitHubProjection } from './projection.js';
import { environmentNames, keyString, type EnvironmentKey, type EnvironmentNames } from './naming.js';
import { observeEnvironment } from './observe.js';
import { checkBuildGate } from './build-wait.js';
import { decideBuildHold, projectBuildHold, type HeldGate } from '../build/hold.js';
import { describePlan, planEnvironment, planHeldRenewal } from './plan.js';
import type { EnvironmentRecord, EnvironmentStatus } from './types.js';
import type { Config } from '../config/schema.js';
import type { TrustNotice } from '../trust/approvals.js';
import { repoConfig } from '../config/repos.js';

export interface ReconcileOptions {
  /** Plan only: observe and return the plan without changing anything. */
  dryRun?: boolean;
  /** From the queue: aborted when the PR lock is lost or the daemon stops; no new step starts then. */
  signal?: AbortSignal;
  /** From the queue: runs a wait step without the worker's slot (ApplyContext.whileWaiting). */
  whileWaiting?: <T>(wait: () => Promise<T>) => Promise<T>;
}

export interface ReconcileResult {
  key: EnvironmentKey;
  envId: string;
  desired: DesiredEnvironment | null;
  plan: Plan;
  /** describePlan(plan): what was (or, in a dry run, would be) done. */
  lines: string[];
  applied: boolean;
  status: EnvironmentStatus | null;
}

function desiredOf(record: EnvironmentRecord | null): DesiredEnvironment | null {
  if (!record) return null;
  return { present: record.desiredPresent, sha: record.desiredSha, generation: record.desiredGeneration, reason: record.desiredReason };
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export async function reconcileEnvironment(deps: Deps, key: EnvironmentKey, options: ReconcileOptions = {}): Promise<ReconcileResult> {
  const inputs = reconcileInputs(deps.config, key, await deps.store.get(key));
  const { names, record, desired } = inputs;
  const ctx = createApplyContext(deps, inputs);
  if (options.signal) ctx.signal = options.signal;
  if (options.whileWaiting) ctx.whileWaiting = options.whileWaiting;
  const notice = options.dryRun ? null : await trustNoticeOf(deps, key);
  const github = gitHubReporter(deps, ctx, record, notice);
  const write = recorder(deps, key);
  const progress = () => progressOf(ctx.state, github.refs);
  const result: ReconcileResult = { key, envId: names.id, desired, plan: [], lines: [], applied: false, status: record?.status ?? null };

  let prepared: Prepared;
  try {
    prepared = await prepare(deps, inputs, ctx, options);
  } catch (err) {
    // Rendering or observing failed before any change: same classification as a step.
    if (options.dryRun) throw err;
    await recordFailure(ctx, github, record, desired, [], null, err);
    throw classify(err, ctx.scrubber.scrub);
  }
  if (prepared.kind === 'held') return recordBuildHold(deps, ctx, github, record, prepared.desired, prepared.gate, result, notice);
  const { plan } = prepared;
  result.plan = plan;
  result.lines = describePlan(plan);
  if (options.dryRun) return result;

  await write(decideStart(record, desired, plan, result.lines));
  const start = projectStart(record, desired, plan);
  ctx.onStep = (step: Step) => write(decideStep(record, step, progress()));
  try {
    // A run told to stop tells GitHub nothing either: applyPlan stops it before any step.
    if (start && !ctx.signal?.aborted && (await github.report(start)) && record) await write({ patch: progress(), events: [] });
    await applyPlan(ctx, plan);
  } catch (err) {
    const step = err instanceof StepError ? err.step : null;
    const cause = err instanceof StepError ? err.error : err;
    deps.metrics.stepFailures.inc({ system: errorSystem(cause) });
    await recordFailure(ctx, github, record, desired, plan, step, cause);
    throw classify(cause, ctx.scrubber.scrub);
  }

  const status = outcomeStatus(record, desired, plan, { ok: true });
  // Stopped (lost the lock): the next holder tells GitHub; what it shows is not recorded as told.
  const told = !ctx.signal?.aborted && (await github.report(projectOutcome(record, desired, ctx.sha, { ok: true, status, startTold: start !== null }, notice)));
  const outcome = decideOutcome(record, desired, plan, { ok: true }, progress(), deps.clock.now(), told);
  await write(outcome);
  // Ready at a SHA (or gone): the e2e gate looks at once; it runs the tests outside any reconcile.
  if (outcome.status === 'ready' || outcome.status === 'removed') deps.e2e?.notify(key);
  if (outcome.releaseHosts) await deps.store.releaseHosts(key);
  if (outcome.provisioningSeconds !== null) deps.metrics.provisioningDuration.observe(outcome.provisioningSeconds);
  result.applied = plan.length > 0;
  result.status = outcome.status;

  await reportLagging(deps, ctx, github, record);
  return result;
}

/** The environment itself is fine but GitHub was not told all of it: recorded, and the queue told to retry (or park). */
async function reportLagging(deps: Deps, ctx: ApplyContext, github: GitHubReporter, record: EnvironmentRecord | null): Promise<void> {
  const lag = decideReportLag(record, github.failures.map((f) => ({ ...f, message: ctx.scrubber.scrub(f.message) })));
  if (!lag) return;
  await recorder(deps, ctx.names.key)(lag);
  if (lag.error.permanent) throw new UserError(lag.error.message, { system: 'github' });
  throw new TransientError(lag.error.message, { system: 'github' });
}

/**
 * The build of the desired SHA is not done (or failed): nothing is deployed, an earlier
 * SHA keeps running (only its credentials are renewed when due), the PR is told what it
 * waits for, and the run ends without holding a worker: the build poll (build/poll.ts) or a build webhook asks again.
 */
async function recordBuildHold(
  deps: Deps,
  ctx: ApplyContext,
  github: GitHubReporter,
  record: EnvironmentRecord | null,
  desired: DesiredEnvironment & { sha: string },
  gate: HeldGate,
  result: ReconcileResult,
  notice: TrustNotice | null,
): Promise<ReconcileResult> {
  const renewalFailure = await renewWhileHeld(deps, ctx, record);
  if (!ctx.signal?.aborted) await github.report(projectBuildHold(record, desired, gate, notice));
  const hold = decideBuildHold(record, desired, gate, progressOf(ctx.state, github.refs), deps.clock.now());
  await recorder(deps, ctx.names.key)(hold);
  deps.log.info({ env: keyString(ctx.names.key), sha: desired.sha, status: hold.status, build: hold.line }, 'deploy held back by the build');
  // The hold is recorded either way; a failed renewal is retried like any failed step.
  if (renewalFailure !== null) throw classify(renewalFailure, ctx.scrubber.scrub);
  await reportLagging(deps, ctx, github, record);
  return { ...result, status: hold.status };
}

/**
 * The earlier SHA running behind the hold keeps its login and secret (plan.ts
 * planHeldRenewal): renewed here, since its reconciles stop at the gate. Returns the
 * failure's cause (null when none), so the hold is still recorded.
 */
async function renewWhileHeld(deps: Deps, ctx: ApplyContext, record: EnvironmentRecord | null): Promise<unknown> {
  const plan = planHeldRenewal(record, { config: deps.config, names: ctx.names, now: deps.clock.now() });
  const runningSha = record?.observedSha;
  if (plan.length === 0 || !runningSha) return null;
  // The secret keeps the running SHA's data, not the held head's: identical, so its jobs see no change.
  const running: ApplyContext = { ...ctx, secretData: (databaseUrl) => deps.renderer.secretData(deps.config, ctx.names.key, runningSha, databaseUrl) };
  try {
    await applyPlan(running, plan);
    deps.log.info({ env: keyString(ctx.names.key), sha: runningSha, validUntil: ctx.state.resources.credentialsValidUntil }, 'credentials of the running SHA renewed behind the build');
    return null;
  } catch (err) {
    const cause = err instanceof StepError ? err.error : err;
    deps.metrics.stepFailures.inc({ system: errorSystem(cause) });
    return cause;
  }
}

type Prepared = { kind: 'plan'; plan: Plan } | { kind: 'held'; gate: HeldGate; desired: DesiredEnvironment & { sha: string } };

/**
 * Render → build gate → observe → plan; and, before anything is created, claims the
 * environment's hosts. The gate comes before anything is looked at in the cluster: a SHA
 * whose build is not done gets no step at all (a dry run shows the plan regardless).
 */
async function prepare(deps: Deps, { names, record, desired, resources }: ReconcileInputs, ctx: ApplyContext, options: ReconcileOptions): Promise<Prepared> {
  const present = isPresent(desired);
  if (present) ctx.jobs = await deps.renderer.render(deps.config, names.key, desired.sha);
  if (present && !options.dryRun) {
    const gate = await checkBuildGate(deps, names.key, record, desired, ctx.jobs);
    if (gate) return { kind: 'held', gate, desired };
  }
  const expectedJobIds = [...new Set([...ctx.jobs.map((j) => j.jobId), ...(resources.jobs ?? [])])];
  const observed = await observeEnvironment(deps, names, expectedJobIds);
  const plan = planEnvironment(desired, observed, { config: deps.config, names, record, components: ctx.jobs, now: deps.clock.now() });
  // This environment's hosts must be its alone.
  if (present && !options.dryRun) await ensureHostsClaimed(deps, names.key, ctx.jobs);
  return { kind: 'plan', plan };
}

function recorder(deps: Deps, key: EnvironmentKey): (decision: Decision) => Promise<void> {
  return async (decision) => {
    if (decision.patch) await deps.store.updateObserved(key, decision.patch);
    for (const event of decision.events) await deps.store.appendEvent(key, event);
  };
}

interface GitHubReporter {
  readonly refs: GitHubRefs;
  /** The fork-trust notice this run shows (and keys its report on). */
  readonly notice: TrustNotice | null;
  /** Every GitHub call of this run that failed. */
  readonly failures: ReportFailure[];
  /** Brings GitHub to the projection (null: nothing to tell); true when it was told. */
  report(projection: GitHubProjection | null): Promise<boolean>;
}

/**
 * The PR's fork-trust notice, read once per run so the comment and its report key agree.
 * Unreadable, the comment goes without it this run rather than failing the deploy; the
 * key then lacks the notice too, so the next run tells it.
 */
async function trustNoticeOf(deps: Deps, key: EnvironmentKey): Promise<TrustNotice | null> {
  if (!deps.approvals) return null;
  try {
    return await deps.approvals.getNotice(key);
  } catch (err) {
    deps.log.warn({ env: keyString(key), err: { message: errorMessage(err) } }, 'fork trust notice could not be read');
    return null;
  }
}

/** This run's GitHub refs (held apart from ApplyState: steps never touch GitHub) and failures. */
function gitHubReporter(deps: Deps, ctx: ApplyContext, record: EnvironmentRecord | null, notice: TrustNotice | null): GitHubReporter {
  let refs = githubRefsOf(record);
  const failures: ReportFailure[] = [];
  const { idleTtl } = repoConfig(deps.config, ctx.names.key.repo);
  return {
    get refs() {
      return refs;
    },
    notice,
    failures,
    async report(projection) {
      if (!projection) return false;
      // The comment carries the tests' section on every render: read from the gate, never from this run's copy.
      const testSection = (await deps.e2e?.commentSection(ctx.names.key).catch(() => null)) ?? null;
      const view = { names: ctx.names, jobs: ctx.jobs, components: ctx.state.components, lastPushAt: record?.lastPushAt ?? null, idleTtlMs: idleTtl, scrub: ctx.scrubber.scrub, testSection, trustNotice: notice?.text ?? null };
      const told = await ensureGitHubReport(deps, view, refs, projection);
      refs = told.refs;
      failures.push(...told.failed);
      return true;
    },
  };
}

/**
 * Claims the hosts of the rendered routable components for this environment. A host
 * another environment holds is refused, never shared or taken over: a UserError (the
 * PR is told it failed), with the holder named only in the log (it may be another
 * repository the PR's audience cannot see).
 */
async function ensureHostsClaimed(deps: Deps, key: EnvironmentKey, jobs: RenderedJob[]): Promise<void> {
  const hosts = jobs.flatMap((j) => (j.host ? [j.host] : []));
  const held = await deps.store.claimHosts(key, hosts);
  if (held.length === 0) return;
  deps.log.warn({ env: keyString(key), held: held.map((h) => ({ host: h.host, holder: keyString(h.holder) })) }, 'hosts held by another environment; nothing deployed');
  throw new UserError(
    `${held.length === 1 ? 'host' : 'hosts'} ${held.map((h) => h.host).join(', ')} ${held.length === 1 ? 'is' : 'are'} already routed to another preview environment; nothing was deployed (give hostPatterns a {repo} placeholder when repos share a domain)`,
    { system: 'config' },
  );
}

/** What one reconcile works from, derived once from the stored record. */
export interface ReconcileInputs {
  names: EnvironmentNames;
  record: EnvironmentRecord | null;
  desired: DesiredEnvironment | null;
  resources: RecordedResources;
}

export function reconcileInputs(config: Config, key: EnvironmentKey, record: EnvironmentRecord | null): ReconcileInputs {
  return { names: environmentNames(config, key), record, desired: desiredOf(record), resources: recordedResources(record) };
}

/**
 * The context steps run in, built from the stored record: what GitHub objects exist,
 * what resources were recorded, and a scrubber that learns new secrets as they appear.
 * `jobs` is empty until the caller renders them.
 */
export function createApplyContext(deps: Deps, { names, record, desired, resources }: ReconcileInputs): ApplyContext {
  const sha = shaOf(record, desired);
  return {
    deps,
    names,
    sha,
    jobs: [],
    secretData: (databaseUrl) => deps.renderer.secretData(deps.config, names.key, sha!, databaseUrl),
    scrubber: createGrowingScrubber(configSecrets(deps.config)),
    state: {
      components: { ...(record?.components ?? {}) },
      resources: { ...resources },
      registeredVersions: {},
    },
  };
}

function progressOf(state: ApplyState, refs: GitHubRefs): Progress {
  // What GitHub shows is the reporter's to say, not the record's copy in state.resources.
  const { githubDeploymentSha: _sha, githubReported: _reported, ...resources } = state.resources;
  return {
    components: { ...state.components },
    resources: {
      ...resources,
      ...(refs.deploymentSha ? { githubDeploymentSha: refs.deploymentSha } : {}),
      ...(refs.reported ? { githubReported: refs.reported } : {}),
    } as Record<string, unknown>,
    githubDeploymentId: refs.deploymentId,
    githubCommentId: refs.commentId,
  };
}

/** The error the queue sees: the same class, with a scrubbed message, cause kept. */
function classify(err: unknown, scrub: Scrubber): Error {
  const message = scrub(errorMessage(err));
  const { system, status } = err as { system?: SystemName; status?: number };
  if (err instanceof OwnershipError) return new OwnershipError(message, { system, status, cause: err });
  if (err instanceof UserError) return new UserError(message, { system, status, cause: err });
  if (err instanceof ConflictError) return new ConflictError(message, { system, status, cause: err });
  if (err instanceof TransientError) return new TransientError(message, { system, status, cause: err, retryAfterMs: err.retryAfterMs });
  // Tokens only, no text to scrub; the fenced processor recognises it by class.
  if (err instanceof StaleFenceError) return err;
  // A bug: the queue logs and parks its message and stack, so both are scrubbed; no cause (unscrubbed).
  const bug = new Error(message);
  bug.name = err instanceof Error ? err.name : 'Error';
  bug.stack = scrub(err instanceof Error && err.stack ? err.stack : `${bug.name}: ${message}`);
  return bug;
}

async function recordFailure(
  ctx: ApplyContext,
  github: GitHubReporter,
  record: EnvironmentRecord | null,
  desired: DesiredEnvironment | null,
  plan: Plan,
  step: Step | null,
  err: unknown,
): Promise<void> {
  const { deps, names } = ctx;
  const message = ctx.scrubber.scrub(errorMessage(err));
  deps.log.warn({ env: keyString(names.key), step: step?.kind ?? 'prepare', err: { type: (err as Error)?.name ?? 'Error', message } }, 'reconcile step failed');
  // The PR is public: it gets the classified reason, the store and log the details. What
  // GitHub failed to show is not recorded as lagging: this failure is what the queue acts on.
  await github.report(projectOutcome(record, desired, ctx.sha, { ok: false, error: err, publicReason: publicReason(err, message) }, github.notice));
  const outcome = decideOutcome(record, desired, plan, { ok: false, step, error: err, message }, progressOf(ctx.state, github.refs), deps.clock.now());
  try {
    await recorder(deps, names.key)(outcome);
  } catch (storeErr) {
    deps.log.warn({ env: keyString(names.key), err: { message: ctx.scrubber.scrub(errorMessage(storeErr)) } }, 'could not record the failure');
  }
}

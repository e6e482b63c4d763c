// reconcileEnvironment: the whole loop for one PR. Desired (store) → observed (every
// layer) → plan (pure) → apply, recording status, resources and events as it goes.
// Teardown is the same loop with desired absent.
import type { Deps } from '../deps.js';
import { ConflictError, errorSystem, OwnershipError, publicReason, TransientError, UserError, type SystemName } from '../errors.js';
import type { ApplyContext, ApplyState } from './apply-context.js';
import type { RenderedJob } from './renderer.js';
import { applyPlan, StepError } from './apply.js';
import { configSecrets, createGrowingScrubber, type Scrubber } from './credentials.js';
import { reportDegraded, reportFailed } from './github-report.js';
import { recordedResources, type DesiredEnvironment, type Plan, type RecordedResources, type Step } from './model.js';
import { decideOutcome, decideReportLag, decideStart, decideStep, failureReport, isPresent, shaOf, type Decision, type Progress } from './outcome.js';
import { environmentNames, keyString, type EnvironmentKey, type EnvironmentNames } from './naming.js';
import { observeEnvironment } from './observe.js';
import { describePlan, describeStep, planEnvironment } from './plan.js';
import type { EnvironmentRecord, EnvironmentStatus } from './types.js';
import type { Config } from '../config/schema.js';
import { repoConfig } from '../config/repos.js';

export interface ReconcileOptions {
  /** Plan only: observe and return the plan without changing anything. */
  dryRun?: boolean;
  /** From the queue: aborted when the PR lock is lost or the daemon stops; no new step starts then. */
  signal?: AbortSignal;
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
  const { names, record, desired, resources } = inputs;
  const present = isPresent(desired);
  const ctx = createApplyContext(deps, inputs);
  if (options.signal) ctx.signal = options.signal;
  const result: ReconcileResult = { key, envId: names.id, desired, plan: [], lines: [], applied: false, status: record?.status ?? null };
  const write = async (decision: Decision) => {
    if (decision.patch) await deps.store.updateObserved(key, decision.patch);
    for (const event of decision.events) await deps.store.appendEvent(key, event);
  };

  let plan: Plan;
  try {
    if (present) ctx.jobs = await deps.renderer.render(deps.config, key, desired.sha);
    const expectedJobIds = [...new Set([...ctx.jobs.map((j) => j.jobId), ...(resources.jobs ?? [])])];
    const observed = await observeEnvironment(deps, names, expectedJobIds);
    plan = planEnvironment(desired, observed, { config: deps.config, names, record, components: ctx.jobs, now: deps.clock.now() });
    // Before anything is created: this environment's hosts must be its alone.
    if (present && !options.dryRun) await ensureHostsClaimed(deps, key, ctx.jobs);
  } catch (err) {
    // Rendering or observing failed before any change: same classification as a step.
    if (options.dryRun) throw err;
    await recordFailure(ctx, record, desired, [], null, err);
    throw err;
  }
  result.plan = plan;
  result.lines = describePlan(plan);
  if (options.dryRun) return result;

  await write(decideStart(record, desired, plan, result.lines));
  ctx.onStep = (step: Step) => write(decideStep(record, step, progressOf(ctx.state)));
  try {
    await applyPlan(ctx, plan);
  } catch (err) {
    const step = err instanceof StepError ? err.step : null;
    const cause = err instanceof StepError ? err.error : err;
    deps.metrics.stepFailures.inc({ system: errorSystem(cause) });
    await recordFailure(ctx, record, desired, plan, step, cause);
    throw classify(cause, ctx.scrubber.scrub);
  }

  const outcome = decideOutcome(record, desired, plan, { ok: true }, progressOf(ctx.state), deps.clock.now());
  await write(outcome);
  if (outcome.releaseHosts) await deps.store.releaseHosts(key);
  if (outcome.provisioningSeconds !== null) deps.metrics.provisioningDuration.observe(outcome.provisioningSeconds);
  result.applied = plan.length > 0;
  result.status = outcome.status;

  // The environment itself is fine; GitHub is told on the retry.
  const lag = decideReportLag(record, ctx.state.github.failures.map((f) => ({ ...f, message: ctx.scrubber.scrub(f.message) })));
  if (lag) {
    await write(lag);
    if (lag.error.permanent) throw new UserError(lag.error.message, { system: 'github' });
    throw new TransientError(lag.error.message, { system: 'github' });
  }
  return result;
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
  const { idleTtl } = repoConfig(deps.config, names.key.repo);
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
      github: {
        deploymentId: record?.githubDeploymentId ?? null,
        deploymentSha: resources.githubDeploymentSha ?? null,
        commentId: record?.githubCommentId ?? null,
        failures: [],
      },
      registeredVersions: {},
    },
    timing: { lastPushAt: record?.lastPushAt ?? null, idleTtlMs: idleTtl },
  };
}

function progressOf(state: ApplyState): Progress {
  return {
    components: { ...state.components },
    resources: {
      ...state.resources,
      ...(state.github.deploymentSha ? { githubDeploymentSha: state.github.deploymentSha } : {}),
    } as Record<string, unknown>,
    githubDeploymentId: state.github.deploymentId,
    githubCommentId: state.github.commentId,
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
  return err instanceof Error ? err : new Error(message);
}

async function recordFailure(ctx: ApplyContext, record: EnvironmentRecord | null, desired: DesiredEnvironment | null, plan: Plan, step: Step | null, err: unknown): Promise<void> {
  const { deps, names } = ctx;
  const message = ctx.scrubber.scrub(errorMessage(err));
  deps.log.warn({ env: keyString(names.key), step: step?.kind ?? 'prepare', err: { type: (err as Error)?.name ?? 'Error', message } }, 'reconcile step failed');
  // The PR is public: it gets the classified reason, the store and log the details.
  const report = failureReport(desired, err);
  if (report && ctx.sha) {
    // failed: permanent for this SHA, a push or a redeploy tries again; degraded: retrying.
    await (report === 'failed' ? reportFailed : reportDegraded)(ctx, ctx.sha, publicReason(err, message));
  }
  const outcome = decideOutcome(record, desired, plan, { ok: false, step, error: err, message }, progressOf(ctx.state), deps.clock.now());
  try {
    if (outcome.patch) await deps.store.updateObserved(names.key, outcome.patch);
    for (const event of outcome.events) await deps.store.appendEvent(names.key, event);
  } catch (storeErr) {
    deps.log.warn({ env: keyString(names.key), err: { message: ctx.scrubber.scrub(errorMessage(storeErr)) } }, 'could not record the failure');
  }
}

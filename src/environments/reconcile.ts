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
import { recordedResources, type DesiredEnvironment, type Plan, type Step } from './model.js';
import { environmentNames, keyString, type EnvironmentKey } from './naming.js';
import { observeEnvironment } from './observe.js';
import { describePlan, describeStep, planEnvironment } from './plan.js';
import type { EnvironmentRecord, EnvironmentStatus, ObservedPatch } from './types.js';
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

function statusFor(err: unknown): EnvironmentStatus {
  return err instanceof UserError ? 'failed' : 'degraded';
}

export async function reconcileEnvironment(deps: Deps, key: EnvironmentKey, options: ReconcileOptions = {}): Promise<ReconcileResult> {
  const names = environmentNames(deps.config, key);
  const record = await deps.store.get(key);
  const desired = desiredOf(record);
  const present = desired?.present === true && desired.sha !== null;
  const resources = recordedResources(record);
  const ctx = createApplyContext(deps, key, record);
  if (options.signal) ctx.signal = options.signal;
  const { sha, state } = ctx;
  const result: ReconcileResult = { key, envId: names.id, desired, plan: [], lines: [], applied: false, status: record?.status ?? null };

  let plan: Plan;
  try {
    if (present) ctx.jobs = await deps.renderer.render(deps.config, key, desired.sha!);
    const expectedJobIds = [...new Set([...ctx.jobs.map((j) => j.jobId), ...(resources.jobs ?? [])])];
    const observed = await observeEnvironment(deps, names, expectedJobIds);
    plan = planEnvironment(desired, observed, { config: deps.config, names, record, components: ctx.jobs, now: deps.clock.now() });
    // Before anything is created: this environment's hosts must be its alone.
    if (present && !options.dryRun) await ensureHostsClaimed(deps, key, ctx.jobs);
  } catch (err) {
    // Rendering or observing failed before any change: same classification as a step.
    if (options.dryRun) throw err;
    await recordFailure(ctx, record, desired, present, null, err);
    throw err;
  }
  result.plan = plan;
  result.lines = describePlan(plan);
  if (options.dryRun) return result;

  if (plan.length === 0) {
    if (record && desired) {
      // Nothing to do, but the record must still say so: a PR closed before anything
      // of it existed is removed, not pending forever.
      const patch: ObservedPatch = {};
      if (record.observedGeneration < desired.generation) patch.observedGeneration = desired.generation;
      if (!present && record.status !== 'removed') patch.status = 'removed';
      // Nothing left to do means nothing is failing: drop a reason a finished retry left.
      if (record.lastError !== null && record.status === 'ready') patch.lastError = null;
      if (Object.keys(patch).length > 0) await deps.store.updateObserved(key, patch);
      if (!present) await deps.store.releaseHosts(key);
      if (patch.status) result.status = 'removed';
    }
    return result;
  }

  const deploys = plan.some((s) => s.kind !== 'report-ready' && s.kind !== 'report-removed' && s.kind !== 'refuse');
  if (deploys && record) {
    await deps.store.updateObserved(key, { status: present ? 'provisioning' : 'tearing_down' });
    await deps.store.appendEvent(key, {
      type: 'plan',
      message: present ? `deploying ${sha?.slice(0, 12)}` : 'tearing down',
      data: { reason: desired?.reason ?? null, steps: result.lines },
    });
  }
  ctx.onStep = async (step: Step) => {
    if (!record) return;
    await deps.store.updateObserved(key, progressPatch(state));
    await deps.store.appendEvent(key, { type: 'step', message: describeStep(step), data: { kind: step.kind } });
  };

  try {
    await applyPlan(ctx, plan);
  } catch (err) {
    const step = err instanceof StepError ? err.step : null;
    const cause = err instanceof StepError ? err.error : err;
    deps.metrics.stepFailures.inc({ system: errorSystem(cause) });
    await recordFailure(ctx, record, desired, present, step, cause);
    throw classify(cause, ctx.scrubber.scrub);
  }

  result.applied = true;
  const now = deps.clock.now();
  const finalStatus: EnvironmentStatus = present ? 'ready' : 'removed';
  result.status = finalStatus;
  if (record) {
    const patch: ObservedPatch = {
      ...progressPatch(state),
      status: finalStatus,
      lastError: null,
      observedGeneration: desired?.generation ?? record.observedGeneration,
    };
    if (present) {
      patch.observedSha = sha;
      if (deploys || record.status !== 'ready') patch.readyAt = now;
      // A new head became ready: time since its push was recorded.
      if (deploys && record.observedSha !== sha) deps.metrics.provisioningDuration.observe(Math.max(0, now.getTime() - record.lastPushAt.getTime()) / 1000);
      delete state.resources.failedSha;
      patch.resources = progressPatch(state).resources;
    } else {
      patch.components = Object.fromEntries(Object.keys(state.components).map((c) => [c, 'stopped']));
    }
    await deps.store.updateObserved(key, patch);
    // Nothing routes them any more: another environment may have them now.
    if (!present) await deps.store.releaseHosts(key);
    if (deploys) {
      await deps.store.appendEvent(key, { type: present ? 'ready' : 'removed', message: present ? `ready at ${sha?.slice(0, 12)}` : 'environment removed', data: {} });
    }
  }
  if (state.github.failures.length > 0) {
    // The environment itself is fine; GitHub is told on the retry.
    const message = `GitHub not up to date: ${state.github.failures[0]!.message}`;
    if (record) {
      // Served, so still "ready"; lastError tells operators why GitHub lags (cleared by the next full success).
      await deps.store.updateObserved(key, { lastError: ctx.scrubber.scrub(message) });
      await deps.store.appendEvent(key, { type: 'report-failed', message, data: { failures: state.github.failures.length } });
    }
    // Retrying only repeats answers that will not change (a SHA GitHub does not have):
    // permanent when every failure is, so the queue parks it where an operator sees it.
    if (state.github.failures.every((f) => f.permanent)) throw new UserError(message, { system: 'github' });
    throw new TransientError(message, { system: 'github' });
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

/**
 * The context steps run in, built from the stored record: what GitHub objects exist,
 * what resources were recorded, and a scrubber that learns new secrets as they appear.
 * `jobs` is empty until the caller renders them.
 */
export function createApplyContext(deps: Deps, key: EnvironmentKey, record: EnvironmentRecord | null): ApplyContext {
  const names = environmentNames(deps.config, key);
  const desired = desiredOf(record);
  const present = desired?.present === true && desired.sha !== null;
  const sha = present ? desired.sha : (record?.observedSha ?? null);
  const resources = recordedResources(record);
  const { idleTtl } = repoConfig(deps.config, key.repo);
  return {
    deps,
    names,
    sha,
    jobs: [],
    secretData: (databaseUrl) => deps.renderer.secretData(deps.config, key, sha!, databaseUrl),
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

function progressPatch(state: ApplyState): ObservedPatch {
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

async function recordFailure(
  ctx: ApplyContext,
  record: EnvironmentRecord | null,
  desired: DesiredEnvironment | null,
  present: boolean,
  step: Step | null,
  err: unknown,
): Promise<void> {
  const { deps, names, state } = ctx;
  const message = ctx.scrubber.scrub(errorMessage(err));
  const status = statusFor(err);
  deps.log.warn({ env: keyString(names.key), step: step?.kind ?? 'prepare', err: { type: (err as Error)?.name ?? 'Error', message } }, 'reconcile step failed');
  // The PR is public: it gets the classified reason, the store and log the details.
  if (present && status === 'failed' && ctx.sha) {
    // Permanent for this SHA: tell the PR now; a push or a redeploy tries again.
    state.resources.failedSha = ctx.sha;
    await reportFailed(ctx, ctx.sha, publicReason(err, message));
  } else if (present && status === 'degraded' && ctx.sha && errorSystem(err) !== 'github') {
    // Retrying: the PR's comment says why (GitHub itself being the problem, it cannot).
    await reportDegraded(ctx, ctx.sha, publicReason(err, message));
  }
  if (!record) return;
  try {
    await deps.store.updateObserved(names.key, {
      ...progressPatch(state),
      status,
      lastError: message,
      ...(status === 'failed' && desired ? { observedGeneration: desired.generation } : {}),
    });
    await deps.store.appendEvent(names.key, {
      type: 'step-failed',
      message: step ? `${describeStep(step)}: ${message}` : message,
      data: { step: step?.kind ?? 'prepare', error: (err as Error)?.name ?? 'Error', status },
    });
  } catch (storeErr) {
    deps.log.warn({ env: keyString(names.key), err: { message: ctx.scrubber.scrub(errorMessage(storeErr)) } }, 'could not record the failure');
  }
}

// applyPlan: runs a plan's steps against the real systems. Every step is idempotent
// (create-or-update, absent-is-fine deletes) and re-checks ownership right before it
// changes anything, so a crash at any point followed by a new reconcile converges.
import { ConflictError, OwnershipError, TransientError, UserError } from '../errors.js';
import type { NomadAllocation } from '../nomad/types.js';
import { buildDatabaseUrl, databaseEndpoint, generatePassword, reusablePassword } from './credentials.js';
import type { Step } from './model.js';
import { describeStep } from './plan.js';
import { removeServices } from './service-teardown.js';
import { renderJwtRole, renderPolicy } from './vault-access.js';
import { vaultSecretMetadata, withGeneration } from '../ownership/markers.js';
import { ownedBy, ownerOfNomadJob, ownerOfVaultJwtRole, ownerOfVaultPolicy, ownerOfVaultSecret } from '../ownership/owners.js';
import type { ApplyContext } from './apply-context.js';
import { repoConfig } from '../config/repos.js';
import { warmPoolOf } from '../database/warm-pool-settings.js';

/** Thrown when a step fails: says which one, keeps the classified cause. */
export class StepError extends Error {
  constructor(
    readonly step: Step,
    readonly error: unknown,
  ) {
    super(`${step.kind} failed`);
    this.name = 'StepError';
  }
}

/** How long ensureDatabase keeps retrying while the template database is busy. */
const BUSY_RETRY_MS = 30_000;
/** Upper bound of one blocking query while waiting for deployments and routing. */
const MAX_BLOCK_MS = 15_000;

function stoppedError(what: string): TransientError {
  return new TransientError(`stopped ${what}: the PR lock was lost or previewd is stopping`, { system: 'redis' });
}

/**
 * Runs one wait (a blocking query, a sleep) that takes ctx.signal. When the signal
 * ended it, the error says so; the caller's pools may be closing, so nothing else runs.
 */
async function untilStopped<T>(ctx: ApplyContext, wait: (signal: AbortSignal | undefined) => Promise<T>): Promise<T> {
  if (ctx.signal?.aborted) throw stoppedError('while waiting');
  try {
    return await wait(ctx.signal);
  } catch (err) {
    if (ctx.signal?.aborted) throw stoppedError('while waiting');
    throw err;
  }
}

export async function applyPlan(ctx: ApplyContext, plan: Step[]): Promise<void> {
  for (let i = 0; i < plan.length; ) {
    const step = plan[i]!;
    if (ctx.signal?.aborted) {
      // Another worker may own this PR now: stop before the next write, retry later.
      throw new StepError(step, stoppedError('before this step'));
    }
    const group = 'group' in step ? step.group : null;
    let batch = [step];
    if (group) {
      // Consecutive steps of one group (jobs of one dependency wave) run in parallel.
      let j = i + 1;
      while (j < plan.length && 'group' in plan[j]! && (plan[j] as { group: string }).group === group) j += 1;
      batch = plan.slice(i, j);
    }
    const run = () => Promise.allSettled(batch.map((s) => runStep(ctx, s)));
    const results = ctx.whileWaiting && batch.every(isWait) ? await ctx.whileWaiting(run) : await run();
    const failed = results.findIndex((r) => r.status === 'rejected');
    if (failed >= 0) throw new StepError(batch[failed]!, (results[failed] as PromiseRejectedResult).reason);
    i += batch.length;
  }
}

/**
 * Steps that mostly wait on a blocking query for Nomad or Consul to get somewhere. Their few
 * other calls (a failed deployment's allocations, a leftover service's deregistration) are
 * rare and small, so they run without a work slot too; the store write after each step
 * (onStep) is a short Postgres write from the pool.
 */
function isWait(step: Step): boolean {
  return step.kind === 'watch-deployment' || step.kind === 'check-routing' || step.kind === 'deregister-services';
}

async function runStep(ctx: ApplyContext, step: Step): Promise<void> {
  await applyStep(ctx, step);
  await ctx.onStep?.(step);
}

export async function applyStep(ctx: ApplyContext, step: Step): Promise<void> {
  const { deps, names } = ctx;
  const { config } = deps;
  switch (step.kind) {
    case 'refuse':
      if (step.fatal) throw new OwnershipError(`refusing to touch ${step.target}: ${step.reason}`);
      deps.log.warn({ env: names.id, target: step.target }, 'left a resource that is not ours alone');
      return;
    case 'ensure-database': {
      const { database } = repoConfig(config, names.key.repo);
      await untilStopped(ctx, (signal) =>
        deps.databases.ensureDatabase(step.database, names.id, {
          mode: step.mode,
          template: step.template,
          strategy: step.strategy,
          seedFile: database.seedFile,
          terminateTemplateSessions: database.terminateTemplateSessions,
          busyRetryMs: Math.min(BUSY_RETRY_MS, config.deployTimeout),
          signal,
          pool: warmPoolOf(config, step.template),
        }),
      );
      ctx.state.resources.database = step.database;
      return;
    }
    case 'ensure-credentials':
      await ensureCredentials(ctx, step);
      return;
    case 'ensure-policy': {
      const existing = await deps.vault.getPolicy(step.name);
      if (existing !== null && !ownedBy(ownerOfVaultPolicy(existing), config.instance, names.id)) {
        throw new OwnershipError(`vault policy ${step.name} exists without our marker`, { system: 'vault' });
      }
      await deps.vault.putPolicy(step.name, renderPolicy(config, names));
      ctx.state.resources.vaultPolicy = step.name;
      return;
    }
    case 'ensure-jwt-role': {
      const existing = await deps.vault.getJwtRole(step.name);
      if (existing !== null && !ownedBy(ownerOfVaultJwtRole(step.name, existing, config.instance), config.instance, names.id)) {
        throw new OwnershipError(`vault role ${step.name} is not bound to this environment's policy and jobs`, { system: 'vault' });
      }
      await deps.vault.putJwtRole(step.name, renderJwtRole(config, names, step.jobIds));
      ctx.state.resources.vaultRole = step.name;
      return;
    }
    case 'register-job':
      await registerJob(ctx, step);
      return;
    case 'watch-deployment':
      await watchDeployment(ctx, step.component, step.jobId);
      return;
    case 'check-routing':
      await checkRouting(ctx, step.serviceName, step.host);
      return;
    case 'stop-job': {
      const job = await deps.nomad.getJob(step.jobId);
      if (job && !ownedBy(ownerOfNomadJob(job.meta), config.instance, names.id)) {
        throw new OwnershipError(`nomad job ${step.jobId} lacks our marker`, { system: 'nomad' });
      }
      if (job) await deps.nomad.stopJob(step.jobId, { purge: true });
      const component = Object.keys(ctx.state.components).find((c) => names.jobId(c) === step.jobId);
      if (component) ctx.state.components[component] = 'stopped';
      return;
    }
    case 'deregister-services':
      await removeServices(deps, names, step.serviceNames);
      return;
    case 'drop-database':
      await deps.databases.dropDatabase(step.database);
      delete ctx.state.resources.database;
      return;
    case 'drop-role':
      await deps.databases.dropRole(step.role);
      delete ctx.state.resources.role;
      delete ctx.state.resources.credentialsValidUntil;
      return;
    case 'destroy-secret': {
      const meta = await deps.vault.readSecretMetadata(step.path);
      if (meta && !ownedBy(ownerOfVaultSecret(meta.customMetadata), config.instance, names.id)) {
        throw new OwnershipError(`vault secret ${step.path} lacks our marker`, { system: 'vault' });
      }
      if (meta) await deps.vault.destroySecret(step.path);
      delete ctx.state.resources.vaultSecret;
      return;
    }
    case 'delete-policy': {
      const text = await deps.vault.getPolicy(step.name);
      if (text !== null && !ownedBy(ownerOfVaultPolicy(text), config.instance, names.id)) {
        throw new OwnershipError(`vault policy ${step.name} lacks our marker`, { system: 'vault' });
      }
      if (text !== null) await deps.vault.deletePolicy(step.name);
      delete ctx.state.resources.vaultPolicy;
      return;
    }
    case 'delete-jwt-role': {
      const role = await deps.vault.getJwtRole(step.name);
      if (role !== null && !ownedBy(ownerOfVaultJwtRole(step.name, role, config.instance), config.instance, names.id)) {
        throw new OwnershipError(`vault role ${step.name} is not bound to this environment's policy and jobs`, { system: 'vault' });
      }
      if (role !== null) await deps.vault.deleteJwtRole(step.name);
      delete ctx.state.resources.vaultRole;
      return;
    }
  }
}

/**
 * The PR's login and the secret its jobs read it from, together: the password is made
 * (or, on a renewal, read back) here and handed only to Postgres and Vault. The secret
 * at our path is checked first, so a foreign one stops the step before the login changes.
 */
async function ensureCredentials(ctx: ApplyContext, step: Extract<Step, { kind: 'ensure-credentials' }>): Promise<void> {
  const { deps, names } = ctx;
  const { config } = deps;
  const existing = await deps.vault.readSecretMetadata(step.path);
  if (existing && !ownedBy(ownerOfVaultSecret(existing.customMetadata), config.instance, names.id)) {
    throw new OwnershipError(`vault secret ${step.path} exists without our marker`, { system: 'vault' });
  }
  const endpoint = databaseEndpoint(config);
  let password: string | null = null;
  if (step.keepPassword && existing) {
    // Running jobs hold the current password: a routine renewal must not break them.
    const secret = await deps.vault.readSecret(step.path);
    if (secret) password = reusablePassword(secret.data, { user: step.role, database: step.database, ...endpoint });
  }
  password ??= generatePassword();
  ctx.scrubber.add(password);
  const validUntil = new Date(deps.clock.now().getTime() + config.credentialTtl);
  await deps.databases.ensureLoginRole(step.role, names.id, step.database, password, validUntil);
  ctx.state.resources.role = step.role;
  ctx.state.resources.credentialsValidUntil = validUntil.toISOString();
  const data = await ctx.secretData(buildDatabaseUrl({ user: step.role, password, database: step.database, ...endpoint }));
  await deps.vault.writeSecret(step.path, data, {
    customMetadata: vaultSecretMetadata(config.instance, names.id),
    deleteVersionAfterMs: config.credentialTtl,
  });
  ctx.state.resources.vaultSecret = step.path;
}

async function registerJob(ctx: ApplyContext, step: Extract<Step, { kind: 'register-job' }>): Promise<void> {
  const { deps, names } = ctx;
  const rendered = ctx.jobs.find((j) => j.component === step.component);
  if (!rendered) throw new Error(`no rendered job for component ${step.component}`);
  // Invariant 2, checked where it matters: the spec is about to leave previewd.
  if (ctx.scrubber.scrub(rendered.hcl) !== rendered.hcl) {
    throw new UserError(`rendered job ${step.jobId} contains a secret value; refusing to submit it`, { system: 'templates' });
  }
  const job = await deps.nomad.parseJob(rendered.hcl);
  if (job.ID !== step.jobId || !ownedBy(ownerOfNomadJob(job.Meta), deps.config.instance, names.id)) {
    throw new UserError(`template of ${step.component} must render job "${step.jobId}" with previewd's ownership meta`, { system: 'templates' });
  }
  // Nomad makes no new version of an identical spec (nomad/job_endpoint.go Register), so
  // retrying a failed deploy of the same spec needs a meta change: the plan's generation.
  if (step.generation !== null) job.Meta = withGeneration(job.Meta, step.generation);
  ctx.state.components[step.component] = 'pending';
  let registered: { jobModifyIndex: number };
  try {
    registered = await deps.nomad.registerJob(job, { enforceIndex: step.enforceIndex });
  } catch (err) {
    if (!(err instanceof ConflictError)) throw err;
    // Changed since we observed it: look again, once, and only take over what is ours.
    const current = await deps.nomad.getJob(step.jobId);
    if (current && !ownedBy(ownerOfNomadJob(current.meta), deps.config.instance, names.id)) {
      throw new OwnershipError(`nomad job ${step.jobId} was replaced by a job without our marker`, { system: 'nomad', cause: err });
    }
    registered = await deps.nomad.registerJob(job, { enforceIndex: current?.jobModifyIndex ?? 0 });
  }
  ctx.state.registeredVersions[step.jobId] = await registeredVersion(ctx, step.jobId, registered.jobModifyIndex);
  ctx.state.resources.jobs = [...new Set([...(ctx.state.resources.jobs ?? []), step.jobId])].sort();
}

/**
 * The version a register created or kept: the one whose JobModifyIndex the register
 * answered (an unchanged spec creates none and answers the job's own JobModifyIndex,
 * nomad/job_endpoint.go Register). If no version listed carries it, the newest is it. Read now, not when the watch starts: by then
 * an auto_revert may have registered a newer version (deploymentwatcher).
 */
async function registeredVersion(ctx: ApplyContext, jobId: string, jobModifyIndex: number): Promise<number> {
  const versions = await ctx.deps.nomad.listJobVersions(jobId);
  const exact = versions.find((v) => v.jobModifyIndex === jobModifyIndex);
  if (exact) return exact.version;
  if (versions.length > 0) return Math.max(...versions.map((v) => v.version));
  throw new TransientError(`nomad job ${jobId} vanished after it was registered`, { system: 'nomad' });
}

function remainingMs(ctx: ApplyContext, deadline: number): number {
  return deadline - ctx.deps.clock.now().getTime();
}

async function watchDeployment(ctx: ApplyContext, component: string, jobId: string): Promise<void> {
  const { deps } = ctx;
  const deadline = deps.clock.now().getTime() + deps.config.deployTimeout;
  let version = ctx.state.registeredVersions[jobId];
  if (version === undefined) {
    const job = await deps.nomad.getJob(jobId);
    if (!job) throw new TransientError(`nomad job ${jobId} vanished after it was registered`, { system: 'nomad' });
    version = job.version;
  }
  let index = 0;
  for (;;) {
    const left = remainingMs(ctx, deadline);
    const { deployment, index: next } = await untilStopped(ctx, (signal) =>
      deps.nomad.getLatestDeployment(jobId, { index, waitMs: Math.max(1, Math.min(left, MAX_BLOCK_MS)), signal }),
    );
    // Only the deployment of the version registered counts: a higher one is a rollback
    // (auto_revert registers the last stable spec as a new version) or someone else's.
    if (deployment && deployment.jobVersion > version) await newerVersion(ctx, component, jobId, version, deployment.jobVersion);
    if (deployment && deployment.jobVersion === version) {
      if (deployment.status === 'successful') {
        ctx.state.components[component] = 'healthy';
        return;
      }
      if (deployment.status === 'failed') {
        ctx.state.components[component] = 'failed';
        const detail = await failureDetail(ctx, jobId, version);
        // "… - rolling back to job version N" (nomad/structs/deployment.go) names the revert.
        const reverted = /rolling back to job version (\d+)/.exec(deployment.statusDescription);
        const summary = reverted ? `deployment of ${jobId} version ${version} failed and Nomad rolled it back to version ${reverted[1]}` : `deployment of ${jobId} failed`;
        throw new UserError(ctx.scrubber.scrub(`${summary}: ${deployment.statusDescription}${detail}`), { system: 'nomad' });
      }
      if (deployment.status === 'cancelled') {
        throw new TransientError(`deployment of ${jobId} was cancelled: ${deployment.statusDescription}`, { system: 'nomad' });
      }
      ctx.state.components[component] = 'running';
    }
    if (remainingMs(ctx, deadline) <= 0) {
      ctx.state.components[component] = 'failed';
      const detail = await failureDetail(ctx, jobId, version);
      throw new UserError(ctx.scrubber.scrub(`deployment of ${jobId} did not succeed within ${Math.round(deps.config.deployTimeout / 1000)}s${detail}`), {
        system: 'nomad',
      });
    }
    // A blocking query that did not move (or a server without indexes) must not spin.
    if (next <= index || next === 0) await untilStopped(ctx, (signal) => deps.clock.sleep(Math.min(250, Math.max(1, remainingMs(ctx, deadline))), signal));
    index = next < index ? 0 : next;
  }
}

/**
 * A newer version than ours is deploying. An auto_revert (its spec, hence its meta, is
 * that of a version before ours) means ours failed: a permanent failure naming both. Any
 * other newer version was registered meanwhile by another run of this PR: this run is
 * stale, and a retry looks again.
 */
async function newerVersion(ctx: ApplyContext, component: string, jobId: string, version: number, newer: number): Promise<never> {
  const versions = await ctx.deps.nomad.listJobVersions(jobId);
  const sameMeta = (a: Record<string, string>, b: Record<string, string>) => JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());
  const current = versions.find((v) => v.version === newer);
  const revertedTo = current && versions.find((v) => v.version < version && sameMeta(v.meta, current.meta));
  if (!revertedTo) {
    throw new TransientError(`nomad job ${jobId} moved on to version ${newer} while version ${version} deployed; looking again`, { system: 'nomad' });
  }
  ctx.state.components[component] = 'failed';
  const detail = await failureDetail(ctx, jobId, version);
  throw new UserError(
    ctx.scrubber.scrub(`deployment of ${jobId} version ${version} failed and Nomad rolled it back to version ${revertedTo.version} (as version ${newer}, auto_revert)${detail}`),
    { system: 'nomad' },
  );
}

/** "; task api (alloc 1a2b3c4d): Driver Failure: image not found" for the failing allocations. */
function describeAllocationFailures(allocations: NomadAllocation[], jobVersion: number): string {
  const parts: string[] = [];
  for (const alloc of allocations) {
    if (alloc.jobVersion !== jobVersion) continue;
    const bad = alloc.clientStatus === 'failed' || alloc.healthy === false || Object.values(alloc.tasks).some((t) => t.failed);
    if (!bad) continue;
    for (const [task, state] of Object.entries(alloc.tasks)) {
      const events = state.events.filter((e) => e.message || e.type).slice(-3);
      if (events.length === 0 || (!state.failed && alloc.healthy !== false && alloc.clientStatus !== 'failed')) continue;
      parts.push(`task ${task} (alloc ${alloc.id.slice(0, 8)}): ${events.map((e) => (e.message ? `${e.type}: ${e.message}` : e.type)).join('; ')}`);
    }
  }
  return parts.length > 0 ? `; ${parts.slice(0, 5).join(' | ')}` : '';
}

async function failureDetail(ctx: ApplyContext, jobId: string, jobVersion: number): Promise<string> {
  try {
    return describeAllocationFailures(await ctx.deps.nomad.listAllocations(jobId), jobVersion);
  } catch {
    return ''; // the failure itself is what matters; its detail is best effort
  }
}

/** A routing tag set for this host: enabled, and a router whose rule names the host. */
function hasRouteFor(tags: string[], host: string): boolean {
  const enabled = tags.includes('traefik.enable=true');
  const rule = tags.some((t) => /^traefik\.http\.routers\.[A-Za-z0-9-]+\.rule=/.test(t) && t.includes(`Host(\`${host}\`)`));
  return enabled && rule;
}

async function checkRouting(ctx: ApplyContext, serviceName: string, host: string): Promise<void> {
  const { deps } = ctx;
  const deadline = deps.clock.now().getTime() + deps.config.deployTimeout;
  let index = 0;
  for (;;) {
    const left = remainingMs(ctx, deadline);
    const { instances, index: next } = await untilStopped(ctx, (signal) =>
      deps.consul.healthService(serviceName, { passing: true, index: index > 0 ? index : undefined, waitMs: Math.max(1, Math.min(left, MAX_BLOCK_MS)), signal }),
    );
    if (instances.some((i) => i.status === 'passing' && hasRouteFor(i.tags, host))) return;
    if (remainingMs(ctx, deadline) <= 0) {
      throw new UserError(`no passing instance of ${serviceName} with Traefik tags for ${host} within ${Math.round(deps.config.deployTimeout / 1000)}s`, {
        system: 'consul',
      });
    }
    if (next <= index || next === 0) await untilStopped(ctx, (signal) => deps.clock.sleep(Math.min(250, Math.max(1, remainingMs(ctx, deadline))), signal));
    index = next < index ? 0 : next;
  }
}

export { describeStep };

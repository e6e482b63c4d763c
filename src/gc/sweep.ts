// sweepGc: observe → planGc (pure) → hand each decision to the reconciler.
// Stale environments get desired = absent recorded and a reconcile requested (the
// daemon enqueues it; the CLI runs it in-process), so teardown is the reconciler's,
// not GC's. Orphans, which have no environment row, go through the reconciler's own
// teardown steps (applyPlan), which re-check every marker right before deleting.
import type { Deps } from '../deps.js';
import type { ApplyContext } from '../environments/apply-context.js';
import { applyPlan, StepError } from '../environments/apply.js';
import { configSecrets, createGrowingScrubber } from '../environments/credentials.js';
import { describeStep } from '../environments/plan.js';
import type { Step } from '../environments/model.js';
import { keyString, type EnvironmentKey } from '../environments/naming.js';
import { safeErrorLine } from '../secrets.js';
import type { EnvironmentRecord } from '../environments/types.js';
import { createLimiter, listOwnedResources, type InventoryDeps, type InventoryOptions } from './inventory.js';
import { orphanNames, planOrphanRemoval } from './orphans.js';
import { isLiveRecord, planGc, type GcPlanInput } from './plan.js';
import type { ClosedPull, GcAction, GcFilter, GcPlan, OwnedInventory, RepoPulls } from './types.js';
import { recordTeardownDecision } from '../environments/teardown-request.js';

export type SweepEvent =
  | { type: 'observed'; resources: number; environments: number }
  | { type: 'planned'; actions: number }
  | { type: 'action-start'; action: GcAction }
  | { type: 'step'; envId: string; description: string }
  | { type: 'action-done'; action: GcAction }
  | { type: 'action-failed'; action: GcAction; error: string }
  | { type: 'stopped'; why: string };

export interface SweepOptions {
  filter?: GcFilter;
  dryRun: boolean;
  /** Runs the teardown once desired = absent is recorded: enqueue (daemon) or reconcile now (CLI). */
  requestTeardown(key: EnvironmentKey, reason: string): Promise<void>;
  onProgress?(event: SweepEvent): void;
  /** Checked before every change; false (lost the GC lock) stops the sweep. */
  stillHoldsLock?(): Promise<boolean>;
}

export interface SweepResult {
  plan: GcPlan;
  dryRun: boolean;
  done: GcAction[];
  failed: { action: GcAction; error: string }[];
}

type SweepDeps = Pick<Deps, 'config' | 'log' | 'clock' | 'nomad' | 'consul' | 'vault' | 'github' | 'databases' | 'store' | 'metrics'>;

/** How the inventory is taken: listOwnedResources, or (bench/gc.ts only) the per-resource reads it replaced. */
export type InventoryLister = (deps: InventoryDeps, options: Required<InventoryOptions>) => Promise<OwnedInventory>;

/**
 * Gathers the plan's input. Order matters: resources are listed before environment
 * rows, so anything created after its row was read cannot look orphaned (the Vault
 * markers the inventory reads after the rows are of names listed before them); rows are read
 * before open PRs are listed, and every teardown is recorded only if the row's desired
 * generation is still the one read here, so a PR (re)opened or pushed to meanwhile is
 * never torn down. No step compares this host's clock with GitHub's.
 */
export async function observeGc(deps: SweepDeps, filter?: GcFilter, listInventory: InventoryLister = listOwnedResources): Promise<GcPlanInput> {
  let read: EnvironmentRecord[] | undefined;
  const inventory = await listInventory(deps, {
    // Called by the inventory once its list calls have answered: rows are read after them.
    liveEnvIds: async () => {
      read = await deps.store.list();
      return new Set(read.filter(isLiveRecord).map((r) => r.envId));
    },
  });
  // A lister that never asked still gets rows read after it: no row must read as "no environments".
  const records = read ?? (await deps.store.list());
  const repos = deps.config.repos.filter((r) => !filter?.repo || r.name === filter.repo);
  const pulls = new Map<string, RepoPulls>();
  await Promise.all(
    repos.map(async (repo) => {
      try {
        const { pulls: open } = await deps.github.listOpenPulls(repo.name);
        pulls.set(repo.name, { ok: true, open: open.map((p) => ({ number: p.number, labels: p.labels })) });
      } catch (err) {
        pulls.set(repo.name, { ok: false, error: safeErrorLine(err, 200) });
      }
    }),
  );
  // Confirm every PR missing from an open list one by one (a list is a page walk and may
  // lag), gc.readsInFlight at a time.
  const closedPulls = new Map<string, ClosedPull | { error: string }>();
  const limit = createLimiter(deps.config.gc.readsInFlight);
  const openNumbers = new Map([...pulls].map(([repo, listed]) => [repo, new Set(listed.ok ? listed.open.map((p) => p.number) : [])]));
  const missing = records.filter((r) => {
    const listed = pulls.get(r.key.repo);
    return r.desiredPresent && listed?.ok === true && !openNumbers.get(r.key.repo)!.has(r.key.pr) && (filter?.pr === undefined || r.key.pr === filter.pr);
  });
  await Promise.all(
    missing.map(async (r) => {
      try {
        const pull = await limit(() => deps.github.getPull(r.key.repo, r.key.pr));
        closedPulls.set(keyString(r.key), pull && { state: pull.state, merged: pull.merged, labels: pull.labels, updatedAt: pull.updatedAt });
      } catch (err) {
        closedPulls.set(keyString(r.key), { error: safeErrorLine(err, 200) });
      }
    }),
  );
  return { repos: deps.config.repos, now: deps.clock.now(), records, pulls, closedPulls, inventory, filter };
}

function orphanContext(deps: SweepDeps, envId: string, onStep: (step: Step) => Promise<void>): ApplyContext {
  return {
    deps: deps as Deps,
    names: orphanNames(deps.config, envId),
    sha: null,
    jobs: [],
    secretData: () => Promise.reject(new Error('an orphan removal never writes a secret')),
    scrubber: createGrowingScrubber(configSecrets(deps.config)),
    state: { components: {}, resources: {}, registeredVersions: {} },
    onStep,
  };
}

async function applyAction(deps: SweepDeps, action: GcAction, options: SweepOptions): Promise<void> {
  if (action.kind === 'teardown') {
    const record = await deps.store.get(action.key);
    if (!record || !record.desiredPresent) return; // someone else already took it away
    const reason = `gc: ${action.reason} (${action.detail})`;
    // A closed PR is GitHub's fact, ordered by GitHub's own timestamp like its webhook;
    // everything else is previewd's decision, held only if nothing changed since it was taken.
    const accepted = action.closedAt
      ? (await deps.store.recordDesired(action.key, { present: false, sha: null, reason, prUpdatedAt: new Date(action.closedAt), change: 'close', labels: record.labels })).accepted
      : (await recordTeardownDecision(deps.store, action.key, reason, action.generation)).kind === 'accepted';
    if (!accepted) throw new Error('the store refused desired = absent (a newer change arrived); left for the next sweep');
    await deps.store.appendEvent(action.key, { type: 'gc', message: reason, data: { reason: action.reason } });
    await options.requestTeardown(action.key, reason);
    deps.metrics.gcRemovals.inc({ kind: action.reason });
    return;
  }
  const steps = planOrphanRemoval(action.resources);
  const ctx = orphanContext(deps, action.envId, async (step) => {
    options.onProgress?.({ type: 'step', envId: action.envId, description: describeStep(step) });
  });
  try {
    await applyPlan(ctx, steps);
  } catch (err) {
    throw err instanceof StepError ? new Error(`${describeStep(err.step)}: ${ctx.scrubber.scrub(String((err.error as Error)?.message ?? err.error)).split('\n', 1)[0]!.slice(0, 200)}`, { cause: err }) : err;
  }
  for (const r of action.resources) deps.metrics.gcRemovals.inc({ kind: r.kind });
}

export async function sweepGc(deps: SweepDeps, options: SweepOptions): Promise<SweepResult> {
  const input = await observeGc(deps, options.filter);
  options.onProgress?.({ type: 'observed', resources: input.inventory.resources.length, environments: input.records.length });
  const plan = planGc(input);
  options.onProgress?.({ type: 'planned', actions: plan.actions.length });
  const result: SweepResult = { plan, dryRun: options.dryRun, done: [], failed: [] };
  if (options.dryRun) return result;

  for (const action of plan.actions) {
    if (options.stillHoldsLock && !(await options.stillHoldsLock())) {
      options.onProgress?.({ type: 'stopped', why: 'lost the GC lock to another replica' });
      break;
    }
    options.onProgress?.({ type: 'action-start', action });
    try {
      await applyAction(deps, action, options);
      result.done.push(action);
      options.onProgress?.({ type: 'action-done', action });
      deps.log.info({ gc: action.kind, env: action.envId, reason: action.kind === 'teardown' ? action.reason : 'orphan' }, 'gc removed');
    } catch (err) {
      // One failure never stops the sweep: the rest is independent and the next sweep retries.
      const error = safeErrorLine(err, 200);
      result.failed.push({ action, error });
      options.onProgress?.({ type: 'action-failed', action, error });
      deps.log.warn({ gc: action.kind, env: action.envId, error }, 'gc action failed');
    }
  }
  return result;
}

// GC's decision, as a pure function of what was observed: "owned minus wanted = delete".
// Stale environments are computed per repo from *all* of that repo's desired entries,
// and a repo whose open PRs could not be listed is left alone entirely: a failed
// listing must never read as "every PR was closed".
import type { RepoConfig } from '../config/schema.js';
import { environmentId, keyString } from '../environments/naming.js';
import type { EnvironmentRecord } from '../environments/types.js';
import type { ClosedPull, GcAction, GcFilter, GcPlan, OwnedInventory, OwnedKind, OwnedResource, RepoPulls, StaleReason } from './types.js';

export interface GcPlanInput {
  repos: RepoConfig[];
  now: Date;
  records: EnvironmentRecord[];
  /** Per configured repo: its open PRs as listed, or the listing error. */
  pulls: Map<string, RepoPulls>;
  /** keyString → GitHub's answer for a PR missing from the open list, or the lookup error. */
  closedPulls: Map<string, ClosedPull | { error: string }>;
  inventory: OwnedInventory;
  filter?: GcFilter;
}

/**
 * Teardown order of an orphan's parts: what uses a thing goes before the thing. Consul
 * registrations come last, as in the reconciler: their step waits for Nomad to
 * deregister, which must not keep the rest alive.
 */
export const KIND_ORDER: OwnedKind[] = ['nomad-job', 'vault-jwt-role', 'vault-policy', 'vault-secret', 'database', 'database-role', 'consul-service'];

/** An environment row still counts as live unless it was torn down and is no longer wanted. */
export function isLiveRecord(record: EnvironmentRecord): boolean {
  return record.desiredPresent || record.status !== 'removed';
}

function formatAge(ms: number): string {
  const hours = ms / 3_600_000;
  return hours >= 48 ? `${Math.floor(hours / 24)}d` : hours >= 1 ? `${Math.floor(hours)}h` : `${Math.max(0, Math.floor(ms / 60_000))}m`;
}

function closedReason(answer: ClosedPull): StaleReason {
  if (answer === null) return 'gone';
  return answer.merged ? 'merged' : 'closed';
}

function planRepo(repo: RepoConfig, input: GcPlanInput, plan: GcPlan): GcAction[] {
  const pulls = input.pulls.get(repo.name);
  if (!pulls || !pulls.ok) {
    plan.skipped.push({ subject: repo.name, reason: `open PRs could not be listed (${pulls && !pulls.ok ? pulls.error : 'not asked'}); nothing of this repo is touched` });
    return [];
  }
  const now = input.now.getTime();
  const ttl = input.filter?.olderThanMs ?? repo.idleTtl;
  const open = new Map(pulls.open.map((p) => [p.number, p.labels]));
  const wanted = input.records.filter((r) => r.key.repo === repo.name && r.desiredPresent);
  const actions: GcAction[] = [];
  const remaining: { record: EnvironmentRecord; keep: boolean }[] = [];

  for (const record of wanted) {
    const subject = keyString(record.key);
    const idleMs = now - record.lastPushAt.getTime();
    const openLabels = open.get(record.key.pr);
    if (openLabels === undefined) {
      // Missing from the list: GitHub's own answer for the PR decides.
      const answer = input.closedPulls.get(subject);
      if (answer === undefined || (answer !== null && 'error' in answer)) {
        plan.skipped.push({ subject, reason: `not in the open list and its state could not be confirmed${answer ? ` (${answer.error})` : ''}` });
        remaining.push({ record, keep: true });
        continue;
      }
      if (answer !== null && answer.state === 'open') {
        remaining.push({ record, keep: false });
        continue;
      }
      // GitHub's clock against GitHub's clock: a fact newer than this answer (a reopen) is recorded.
      if (answer !== null && new Date(answer.updatedAt).getTime() < record.prUpdatedAt.getTime()) {
        plan.skipped.push({ subject, reason: 'a change newer than GitHub\'s answer is recorded' });
        remaining.push({ record, keep: true });
        continue;
      }
      // A closed PR goes whatever its labels, exactly as its close webhook would have done.
      const reason = closedReason(answer);
      actions.push({
        kind: 'teardown',
        key: record.key,
        envId: record.envId,
        reason,
        detail: `PR is ${reason === 'gone' ? 'gone (404)' : reason}; close webhook missed`,
        generation: record.desiredGeneration,
        ...(answer !== null ? { closedAt: answer.updatedAt } : {}),
      });
      continue;
    }
    const labels = new Set([...record.labels, ...openLabels]);
    const keep = labels.has(repo.keepLabel);
    if (idleMs > ttl) {
      if (keep) {
        plan.skipped.push({ subject, reason: `idle ${formatAge(idleMs)} but labelled "${repo.keepLabel}"` });
      } else {
        actions.push({
          kind: 'teardown',
          key: record.key,
          envId: record.envId,
          reason: 'idle',
          detail: `no push for ${formatAge(idleMs)} (limit ${formatAge(ttl)})`,
          generation: record.desiredGeneration,
        });
        continue;
      }
    }
    remaining.push({ record, keep });
  }

  // Over the cap: the oldest idle go first; kept ones count but are never picked.
  let excess = remaining.length - repo.maxEnvironments;
  if (excess > 0) {
    const candidates = remaining.filter((r) => !r.keep).sort((a, b) => a.record.lastPushAt.getTime() - b.record.lastPushAt.getTime());
    for (const { record } of candidates) {
      if (excess <= 0) break;
      actions.push({
        kind: 'teardown',
        key: record.key,
        envId: record.envId,
        reason: 'over-limit',
        detail: `repo has ${remaining.length} environments, limit ${repo.maxEnvironments}; idle ${formatAge(now - record.lastPushAt.getTime())}`,
        generation: record.desiredGeneration,
      });
      excess -= 1;
    }
  }
  return actions;
}

function orphanMatchesFilter(envId: string, filter: GcFilter | undefined): boolean {
  if (!filter?.repo) return filter?.pr === undefined;
  const pr = Number(/-pr-(\d+)$/.exec(envId)?.[1]);
  if (filter.pr !== undefined && pr !== filter.pr) return false;
  try {
    return environmentId({ repo: filter.repo, pr }) === envId;
  } catch {
    return false;
  }
}

function planOrphans(input: GcPlanInput, plan: GcPlan): GcAction[] {
  const live = new Set(input.records.filter(isLiveRecord).map((r) => r.envId));
  const byEnv = new Map<string, OwnedResource[]>();
  for (const resource of input.inventory.resources) {
    if (live.has(resource.envId) || !orphanMatchesFilter(resource.envId, input.filter)) continue;
    byEnv.set(resource.envId, [...(byEnv.get(resource.envId) ?? []), resource]);
  }
  for (const failure of input.inventory.failed) {
    plan.skipped.push({ subject: failure.kind, reason: `could not be listed (${failure.error}); its orphans wait for the next sweep` });
  }
  return [...byEnv.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([envId, resources]) => ({
      kind: 'remove-orphan' as const,
      envId,
      resources: [...resources].sort((a, b) => KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind) || a.name.localeCompare(b.name)),
      detail: `${resources.length} resource(s) marked for ${envId} but no live environment`,
    }));
}

export function planGc(input: GcPlanInput): GcPlan {
  const plan: GcPlan = { actions: [], skipped: [] };
  const filter = input.filter;
  const repos = input.repos.filter((r) => !filter?.repo || r.name === filter.repo);
  if (filter?.repo && repos.length === 0) plan.skipped.push({ subject: filter.repo, reason: 'not a configured repo' });
  const now = input.now.getTime();
  const byRecord = new Map(input.records.map((r) => [keyString(r.key), r]));
  const teardowns = repos
    .flatMap((repo) => planRepo(repo, input, plan))
    .filter((a) => a.kind !== 'teardown' || filter?.pr === undefined || a.key.pr === filter.pr)
    .filter((a) => {
      // --older-than limits the plan to environments without a push for that long.
      if (a.kind !== 'teardown' || filter?.olderThanMs === undefined) return true;
      const record = byRecord.get(keyString(a.key));
      return record !== undefined && now - record.lastPushAt.getTime() >= filter.olderThanMs;
    })
    .sort((a, b) => (a.kind === 'teardown' && b.kind === 'teardown' ? a.key.repo.localeCompare(b.key.repo) || a.key.pr - b.key.pr : 0));
  plan.actions = [...teardowns, ...planOrphans(input, plan)];
  return plan;
}

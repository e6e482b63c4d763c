// The build gate: may this head SHA be deployed yet? Decided from what GitHub's REST API
// says of the commit's check runs and commit statuses, and from whether the registry
// holds every image built from the PR (a webhook only asks for this decision to be
// taken again). Pure, so every case is table-tested (gate.test.ts) apart from the I/O
// that gathers the facts (environments/build-wait.ts).
import type { RepoConfig } from '../config/schema.js';
import type { CheckRunSummary, CommitStatusSummary } from '../github/types.js';

export type BuildConfig = NonNullable<RepoConfig['build']>;

/** What was read about one head SHA. A fact that was not read (not configured, or not asked after a failure) is undefined. */
export interface BuildFacts {
  checkRuns?: CheckRunSummary[];
  statuses?: CommitStatusSummary[];
  /** Each image built from the PR (<image>:<sha>) and whether its registry holds it. */
  images?: { image: string; present: boolean }[];
  /** When this head SHA was pushed (recorded by previewd): the timeout counts from it. */
  pushedAt: Date;
  now: Date;
}

export type BuildGate =
  | { kind: 'ready' }
  /** `waitingFor`: one short line per thing not done yet, e.g. "check build-images (in_progress)". */
  | { kind: 'waiting'; waitingFor: string[] }
  | { kind: 'failed'; reason: 'check'; check: string; conclusion: string }
  | { kind: 'failed'; reason: 'timeout'; missing: string[]; timeoutMs: number };

/** A build config that asks for nothing (no checks, no image wait): no gate at all. */
export function gatesDeploys(build: BuildConfig | undefined): build is BuildConfig {
  return build !== undefined && (build.checks.length > 0 || build.waitForImages);
}

// docs.github.com/en/pull-requests/collaborating-with-pull-requests/collaborating-on-repositories-with-code-quality-features/about-status-checks:
// a check run that completed as success, neutral or skipped passes a required check; every
// other conclusion (failure, cancelled, timed_out, action_required, stale, startup_failure) does not.
const PASSING_CONCLUSIONS = new Set(['success', 'neutral', 'skipped']);

type CheckVerdict = { kind: 'passed' } | { kind: 'waiting'; line: string } | { kind: 'failed'; conclusion: string };

/** One required name, as a check run (preferred: the newest of that name) or else a commit status context. */
function checkVerdict(name: string, facts: BuildFacts): CheckVerdict {
  const runs = (facts.checkRuns ?? []).filter((r) => r.name === name);
  const run = runs.reduce<CheckRunSummary | undefined>((newest, r) => (!newest || r.id > newest.id ? r : newest), undefined);
  if (run) {
    if (run.status !== 'completed') return { kind: 'waiting', line: `check ${name} (${run.status})` };
    const conclusion = run.conclusion ?? 'unknown';
    return PASSING_CONCLUSIONS.has(conclusion) ? { kind: 'passed' } : { kind: 'failed', conclusion };
  }
  const status = (facts.statuses ?? []).find((s) => s.context === name);
  if (status) {
    if (status.state === 'success') return { kind: 'passed' };
    if (status.state === 'pending') return { kind: 'waiting', line: `check ${name} (pending)` };
    return { kind: 'failed', conclusion: status.state };
  }
  return { kind: 'waiting', line: `check ${name} (not reported yet)` };
}

/** The checks alone: a failed one decides; the gatherer then need not ask the registry. */
export function decideChecks(build: BuildConfig, facts: BuildFacts): { failed: { check: string; conclusion: string } | null; waitingFor: string[] } {
  const waitingFor: string[] = [];
  for (const name of build.checks) {
    const verdict = checkVerdict(name, facts);
    if (verdict.kind === 'failed') return { failed: { check: name, conclusion: verdict.conclusion }, waitingFor: [] };
    if (verdict.kind === 'waiting') waitingFor.push(verdict.line);
  }
  return { failed: null, waitingFor };
}

export function decideBuildGate(build: BuildConfig, facts: BuildFacts): BuildGate {
  const checks = decideChecks(build, facts);
  if (checks.failed) return { kind: 'failed', reason: 'check', ...checks.failed };
  const waitingFor = [...checks.waitingFor];
  if (build.waitForImages) {
    // Not probed (should not happen once checks passed): waiting, never "ready" on no evidence.
    if (facts.images === undefined) waitingFor.push('images (not looked up yet)');
    else for (const { image, present } of facts.images) if (!present) waitingFor.push(`image ${image}`);
  }
  if (waitingFor.length === 0) return { kind: 'ready' };
  // Everything there wins over the clock; only what is still missing times out.
  if (facts.now.getTime() - facts.pushedAt.getTime() >= build.timeout) return { kind: 'failed', reason: 'timeout', missing: waitingFor, timeoutMs: build.timeout };
  return { kind: 'waiting', waitingFor };
}

/** The one line the PR, the record and the log show for a gate that holds the deploy back. */
export function describeBuildGate(gate: Exclude<BuildGate, { kind: 'ready' }>): string {
  switch (gate.kind) {
    case 'waiting':
      return `waiting for the build: ${gate.waitingFor.join(', ')}`;
    case 'failed':
      if (gate.reason === 'check') return `build failed: ${gate.check} ${gate.conclusion}`;
      return `build not done after ${formatMinutes(gate.timeoutMs)}: ${gate.missing.join(', ')}`;
  }
}

function formatMinutes(ms: number): string {
  return ms % 60_000 === 0 ? `${ms / 60_000}m` : `${Math.round(ms / 1000)}s`;
}

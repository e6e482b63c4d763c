// What the dashboard shows of an environment, computed from the stored record and the
// configuration only (pure): the pages render these, never the raw record. Names come
// from naming.ts (the one place for them), expiry from the repo's idle TTL.
import { recordedBuildWait } from '../build/recorded-wait.js';
import type { Config } from '../config/schema.js';
import { environmentNames, type EnvironmentKey, type EnvironmentNames } from '../environments/naming.js';
import type { EnvironmentRecord } from '../environments/types.js';
import { configuredRepo } from '../config/repos.js';

export interface EnvironmentSummary {
  key: EnvironmentKey;
  envId: string;
  status: EnvironmentRecord['status'];
  /** Why it is in that status: the last error when failing, else what asked for it. */
  reason: string;
  failing: boolean;
  sha: string | null;
  /** The SHA wanted, when it differs from the one running. */
  pendingSha: string | null;
  urls: { component: string; url: string }[];
  components: { name: string; state: string }[];
  labels: string[];
  /** Attacker-controlled display text (rendered escaped); null when never received. */
  title: string | null;
  branch: string | null;
  createdAt: Date;
  lastPushAt: Date;
  readyAt: Date | null;
  updatedAt: Date;
  /** null when removed, kept by label, or the repo is no longer configured. */
  expiresAt: Date | null;
  keptBy: string | null;
  githubUrl: string;
}

/** The web address of GitHub for its API address (github.com, or GitHub Enterprise's host). */
export function githubWebUrl(apiUrl: string): string {
  const url = new URL(apiUrl);
  if (url.hostname === 'api.github.com') return 'https://github.com';
  return `${url.origin}${url.pathname.replace(/\/api\/v3\/?$/, '').replace(/\/+$/, '')}`;
}

function pullRequestUrl(config: Pick<Config, 'env'>, key: EnvironmentKey): string {
  return `${githubWebUrl(config.env.GITHUB_API_URL)}/${key.repo}/pull/${key.pr}`;
}

/** Names of a configured repo's environment; null when the repo left the configuration. */
export function namesOf(config: Config, key: EnvironmentKey): EnvironmentNames | null {
  if (!configuredRepo(config, key.repo)) return null;
  return environmentNames(config, key);
}

const FAILING = new Set(['failed', 'degraded']);

export function summarizeEnvironment(config: Config, record: EnvironmentRecord): EnvironmentSummary {
  const repo = configuredRepo(config, record.key.repo);
  const names = namesOf(config, record.key);
  const components = Object.entries(record.components)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, state]) => ({ name, state }));
  const urls: EnvironmentSummary['urls'] = [];
  if (names && record.status !== 'removed') {
    for (const { name } of components) {
      const url = names.url(name);
      if (url) urls.push({ component: name, url });
    }
  }
  const keptBy = repo && record.labels.includes(repo.keepLabel) ? repo.keepLabel : null;
  const live = record.status !== 'removed' && record.desiredPresent;
  const failing = FAILING.has(record.status) && record.lastError !== null;
  return {
    key: record.key,
    envId: record.envId,
    status: record.status,
    // Waiting for the build: what it waits for says more than the push that started it.
    reason: failing ? record.lastError! : record.status === 'waiting_for_build' ? (recordedBuildWait(record)?.line ?? record.desiredReason) : record.desiredReason,
    failing,
    sha: record.observedSha,
    pendingSha: record.desiredSha && record.desiredSha !== record.observedSha ? record.desiredSha : null,
    urls,
    components,
    labels: record.labels,
    title: record.title,
    branch: record.branch,
    createdAt: record.createdAt,
    lastPushAt: record.lastPushAt,
    readyAt: record.readyAt,
    updatedAt: record.updatedAt,
    expiresAt: repo && live && !keptBy ? new Date(record.lastPushAt.getTime() + repo.idleTtl) : null,
    keptBy,
    githubUrl: pullRequestUrl(config, record.key),
  };
}

/** "3h ago", "in 6d", "just now": coarse on purpose, the exact time is in the title. */
export function relativeTime(at: Date, now: Date): string {
  const ms = at.getTime() - now.getTime();
  const abs = Math.abs(ms);
  if (abs < 45_000) return 'just now';
  const units: [number, string][] = [
    [86_400_000, 'd'],
    [3_600_000, 'h'],
    [60_000, 'm'],
  ];
  const [size, unit] = units.find(([s]) => abs >= s) ?? [1000, 's'];
  const n = Math.round(abs / size);
  return ms < 0 ? `${n}${unit} ago` : `in ${n}${unit}`;
}

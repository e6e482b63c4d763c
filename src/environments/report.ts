// What previewd tells the PR: the sticky comment, commit status and deployment status
// texts. Pure; every input here is already free of secrets (scrubbed by the caller),
// and error texts are fenced so nothing in them renders as markup.
import { ownValue } from '../own.js';

/**
 * `waiting` and `build-failed`: the build gate holds the deploy back (nothing of this SHA
 * deployed). `not-deployed`: a PR that never had an environment but has something to be
 * told (a fork awaiting approval).
 */
export type ReportState = 'waiting' | 'build-failed' | 'not-deployed' | 'deploying' | 'degraded' | 'ready' | 'failed' | 'removed';

export interface CommentInput {
  marker: string;
  state: ReportState;
  sha: string | null;
  /** component → URL, for routable components. */
  urls: Record<string, string>;
  /** component → "pending" | "running" | "healthy" | "failed" | "stopped". */
  components: Record<string, string>;
  /** Idle TTL from the last push; null when the environment is removed. */
  expiresAt: Date | null;
  idleTtlMs: number;
  error?: string | null;
  /** The PR's signed read-only dashboard page. */
  logUrl: string;
  /** Held back by the build: the earlier SHA that keeps serving the URLs meanwhile. */
  runningSha?: string | null;
  /** The e2e gate's section (e2e/report.ts), carried on every render. */
  testSection?: string | null;
  /** The fork-trust notice (trust/notice.ts texts, stored with the PR's approval), carried on every render. */
  trustNotice?: string | null;
}

const TITLE: Record<ReportState, string> = {
  waiting: '⏳ Preview environment: waiting for the build',
  'build-failed': '❌ Preview environment: build failed',
  'not-deployed': '🔒 Preview environment: not deployed',
  deploying: '🚧 Preview environment: deploying',
  degraded: '⚠️ Preview environment: degraded (retrying)',
  ready: '✅ Preview environment: ready',
  failed: '❌ Preview environment: failed',
  removed: '🧹 Preview environment removed',
};

const COMPONENT_ICON: Record<string, string> = { healthy: '✅', running: '🟢', pending: '⏳', failed: '❌', stopped: '⏹️' };

/** Max length of an error text in the comment; the admin page has the rest. */
const MAX_ERROR = 1500;

export function shortSha(sha: string | null): string {
  return sha ? sha.slice(0, 7) : 'unknown';
}

/** Human duration for "expires after 7d without a push". */
function formatDuration(ms: number): string {
  const units: [number, string][] = [
    [86_400_000, 'd'],
    [3_600_000, 'h'],
    [60_000, 'm'],
  ];
  for (const [size, unit] of units) if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  for (const [size, unit] of units) if (ms >= size) return `${Math.round(ms / size)}${unit}`;
  return `${Math.round(ms / 1000)}s`;
}

function fence(text: string): string {
  const cut = text.length > MAX_ERROR ? `${text.slice(0, MAX_ERROR)}…` : text;
  // A fence can only be closed by three backticks; neutralise any inside the text.
  return ['```text', cut.replace(/`{3,}/g, "'''"), '```'].join('\n');
}

function cell(text: string): string {
  return text.replace(/[|<>\r\n`]/g, ' ');
}

export function renderComment(input: CommentInput): string {
  const lines: string[] = [input.marker, `### ${TITLE[input.state]}`, ''];
  // previewd's own text (logins already reduced by shownLogin): first, since it says what the PR waits for.
  if (input.trustNotice) lines.push(`**Fork pull request:** ${input.trustNotice}`, '');
  if (input.state === 'not-deployed') {
    lines.push(`Details: ${input.logUrl}`);
    return lines.join('\n');
  }
  if (input.state === 'removed') {
    lines.push(`The environment of this pull request was torn down (last commit \`${shortSha(input.sha)}\`). Push or reopen to get a new one.`);
    return lines.join('\n');
  }
  lines.push('| | |', '| --- | --- |');
  for (const [component, url] of Object.entries(input.urls).sort(([a], [b]) => a.localeCompare(b))) {
    const serving = input.state === 'ready' || Boolean(input.runningSha);
    lines.push(`| ${cell(component)} | ${serving ? url : `${url} (not yet)`} |`);
  }
  lines.push(`| commit | \`${shortSha(input.sha)}\` |`);
  if (input.expiresAt) {
    lines.push(`| expires | ${input.expiresAt.toISOString().replace(/\.\d{3}Z$/, 'Z')} (after ${formatDuration(input.idleTtlMs)} without a push) |`);
  }
  const components = Object.entries(input.components).sort(([a], [b]) => a.localeCompare(b));
  if (components.length > 0) {
    lines.push('', '| component | state |', '| --- | --- |');
    for (const [component, state] of components) lines.push(`| ${cell(component)} | ${ownValue(COMPONENT_ICON, state) ?? ''} ${cell(state)} |`);
  }
  if ((input.state === 'waiting' || input.state === 'build-failed') && input.error) {
    // Config names and check names only (no secret can be in it), fenced all the same.
    lines.push('', input.state === 'waiting' ? '**Not deployed yet**' : '**Not deployed**', '', fence(input.error));
    if (input.runningSha) lines.push('', `The environment at \`${shortSha(input.runningSha)}\` keeps running meanwhile.`);
  }
  if ((input.state === 'failed' || input.state === 'degraded') && input.error) {
    lines.push('', input.state === 'degraded' ? '**Retrying after**' : '**Error**', '', fence(input.error));
  }
  if (input.testSection) lines.push('', input.testSection);
  // The PR's read-only dashboard page (signed link): events, components, task events.
  lines.push('', `Details: ${input.logUrl}`);
  return lines.join('\n');
}

/** GitHub limits status descriptions to 140 characters. */
export function statusDescription(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 140 ? `${flat.slice(0, 139)}…` : flat;
}

export function describeState(state: ReportState, sha: string | null, error?: string | null): string {
  switch (state) {
    case 'waiting':
    case 'build-failed':
      // The gate's own line: "waiting for the build: …", "build failed: <check> <conclusion>".
      return statusDescription(error ?? state);
    case 'deploying':
      return statusDescription(`Deploying preview at ${shortSha(sha)}`);
    case 'degraded':
      return statusDescription(`Preview degraded at ${shortSha(sha)}, retrying${error ? `: ${error}` : ''}`);
    case 'ready':
      return statusDescription(`Preview ready at ${shortSha(sha)}`);
    case 'failed':
      return statusDescription(`Preview failed at ${shortSha(sha)}${error ? `: ${error}` : ''}`);
    case 'not-deployed':
      return 'Preview not deployed';
    case 'removed':
      return 'Preview environment removed';
  }
}

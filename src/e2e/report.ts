// What GitHub shows of a test run: the commit status, the check run and the sticky
// comment's test section, all from the run row. Pure. Output and reasons arrive
// scrubbed (runner.ts); fences are made so the output cannot close them.
import { shortSha, statusDescription } from '../environments/report.js';
import type { CheckRunInput, CommitState } from '../github/types.js';
import { formatDuration } from './judge.js';
import type { E2eRun } from './types.js';

export const OUTPUT_LINES = 50;
const SECTION_START = '<!-- previewd:e2e:start -->';
const SECTION_END = '<!-- previewd:e2e:end -->';

function duration(run: E2eRun): string | null {
  if (!run.startedAt || !run.finishedAt) return null;
  return formatDuration(run.finishedAt.getTime() - run.startedAt.getTime());
}

const HEADLINE: Record<E2eRun['state'], string> = {
  queued: 'E2E tests queued',
  running: 'E2E tests running',
  passed: 'E2E tests passed',
  failed: 'E2E tests failed',
  cancelled: 'E2E tests cancelled',
};

export function commitStatusOf(run: E2eRun): { state: CommitState; description: string } {
  const took = duration(run);
  const state: CommitState = run.state === 'passed' ? 'success' : run.state === 'failed' ? 'failure' : run.state === 'cancelled' ? 'error' : 'pending';
  const detail = run.state === 'passed' ? (took ? ` in ${took}` : '') : run.reason ? `: ${run.reason}` : ` at ${shortSha(run.sha)}`;
  return { state, description: statusDescription(`${HEADLINE[run.state]}${detail}`) };
}

/** A fence longer than any run of backticks in the text. */
function fenced(text: string): string {
  const longest = Math.max(2, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = '`'.repeat(longest + 1);
  return `${fence}text\n${text}\n${fence}`;
}

export function checkRunOf(run: E2eRun): CheckRunInput {
  const took = duration(run);
  const status = run.state === 'queued' ? 'queued' : run.state === 'running' ? 'in_progress' : 'completed';
  const summary = [
    `**Outcome:** ${run.state}${run.reason ? ` — ${run.reason}` : ''}`,
    `**Commit:** \`${shortSha(run.sha)}\``,
    ...(took ? [`**Duration:** ${took}`] : []),
    ...(run.output ? ['', `Last ${OUTPUT_LINES} lines of the test output:`, '', fenced(run.output)] : []),
  ].join('\n');
  const input: CheckRunInput = { status, output: { title: commitStatusOf(run).description, summary } };
  if (status === 'completed') input.conclusion = run.state === 'passed' ? 'success' : run.state === 'cancelled' ? 'cancelled' : 'failure';
  return input;
}

const ICON: Record<E2eRun['state'], string> = { queued: '⏳', running: '🔄', passed: '✅', failed: '❌', cancelled: '⏹️' };

/** The comment's test section, between markers so the runner can replace it in place. */
export function renderTestSection(run: E2eRun): string {
  const took = duration(run);
  const lines = [SECTION_START, `#### ${ICON[run.state]} ${HEADLINE[run.state]} at \`${shortSha(run.sha)}\`${took ? ` (${took})` : ''}`];
  if (run.reason) lines.push('', run.reason.replace(/[\r\n]+/g, ' '));
  if (run.output && run.state === 'failed') lines.push('', '<details><summary>Last lines of the test output</summary>', '', fenced(run.output), '', '</details>');
  lines.push(SECTION_END);
  return lines.join('\n');
}

/**
 * The comment body with its test section replaced by `section` (or added before the
 * "Details:" line, else at the end); the same body when it already holds it.
 */
export function withTestSection(body: string, section: string): string {
  const start = body.indexOf(SECTION_START);
  const end = body.indexOf(SECTION_END);
  if (start >= 0 && end > start) return `${body.slice(0, start)}${section}${body.slice(end + SECTION_END.length)}`;
  const details = body.lastIndexOf('\n\nDetails: ');
  if (details >= 0) return `${body.slice(0, details)}\n\n${section}${body.slice(details)}`;
  return `${body}\n\n${section}`;
}

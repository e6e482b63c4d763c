// judgeTestJob: what a submitted test job's evaluation and allocation say. Pure.
// The allocation's exit decides (complete = passed; failed = failed, with the task events
// that say why); no allocation and a placement failure in the evaluation is a failure with
// Nomad's reason (as `nomad job status` prints it, command/monitor.go formatAllocMetrics);
// still running past the deadline is a timeout.
import type { NomadAllocation, NomadEvaluation, NomadPlacementFailure } from '../nomad/types.js';
import type { E2eVerdict } from './types.js';

const MAX_REASON = 1000;

export interface JudgeInput {
  evaluation: NomadEvaluation | null;
  allocations: NomadAllocation[];
  startedAt: Date;
  now: Date;
  timeoutMs: number;
}

/** One group's placement failure in words (monitor.go formatAllocMetrics, scheduler/feasible.go texts). */
export function describePlacementFailure(group: string, m: NomadPlacementFailure): string {
  const parts: string[] = [];
  for (const [constraint, n] of Object.entries(m.constraintFiltered)) parts.push(`constraint "${constraint}": ${n} ${n === 1 ? 'node' : 'nodes'} excluded by filter`);
  for (const [cls, n] of Object.entries(m.classFiltered)) parts.push(`class "${cls}": ${n} ${n === 1 ? 'node' : 'nodes'} excluded by filter`);
  for (const [dimension, n] of Object.entries(m.dimensionExhausted)) parts.push(`dimension "${dimension}" exhausted on ${n} ${n === 1 ? 'node' : 'nodes'}`);
  for (const [cls, n] of Object.entries(m.classExhausted)) parts.push(`class "${cls}" exhausted on ${n} ${n === 1 ? 'node' : 'nodes'}`);
  for (const quota of m.quotaExhausted) parts.push(`quota limit hit "${quota}"`);
  if (m.nodesEvaluated === 0) parts.push('no nodes were eligible for evaluation');
  const placed = m.coalescedFailures + 1;
  return `could not place ${placed} ${placed === 1 ? 'allocation' : 'allocations'} of group "${group}": ${parts.length > 0 ? parts.join('; ') : 'no node fits'}`;
}

/** Why a failed allocation failed: its failing task's events, the exit code first. */
function allocationFailure(alloc: NomadAllocation): { reason: string; task: string | null } {
  const tasks = Object.entries(alloc.tasks);
  const [task, state] = tasks.find(([, st]) => st.failed) ?? tasks[0] ?? [null, null];
  if (!state) return { reason: 'the test allocation failed', task: null };
  const exit = [...state.events].reverse().find((e) => e.type === 'Terminated');
  const failing = [...state.events].reverse().find((e) => e.type !== 'Terminated' && e.type !== 'Killed' && e.message !== '' && e.type !== 'Received' && e.type !== 'Started');
  const parts: string[] = [];
  if (exit) parts.push(`exited with code ${exit.exitCode ?? exit.message.replace(/^Exit Code: /, '')}`);
  if (failing) parts.push(`${failing.type}: ${failing.message}`);
  return { reason: `task "${task}" ${parts.length > 0 ? parts.join('; ') : 'failed'}`, task };
}

export function judgeTestJob(input: JudgeInput): E2eVerdict {
  const { evaluation, allocations } = input;
  // The newest allocation is the run (a rescheduled one replaces the first).
  const alloc = allocations.at(-1) ?? null;
  if (alloc?.clientStatus === 'complete') {
    const failedTask = Object.entries(alloc.tasks).find(([, st]) => st.failed);
    if (!failedTask) return { kind: 'passed' };
  }
  if (alloc && (alloc.clientStatus === 'failed' || alloc.clientStatus === 'complete' || alloc.clientStatus === 'lost')) {
    const { reason, task } = allocationFailure(alloc);
    const lost = alloc.clientStatus === 'lost' ? 'the test allocation was lost with its node; ' : '';
    return { kind: 'failed', reason: `${lost}${reason}`.slice(0, MAX_REASON), allocId: alloc.id, task };
  }
  const placements = Object.entries(evaluation?.failedPlacements ?? {});
  if (!alloc && placements.length > 0) {
    const reason = `Nomad could not place the test job: ${placements.map(([g, m]) => describePlacementFailure(g, m)).join('; ')}`;
    return { kind: 'failed', reason: reason.slice(0, MAX_REASON), allocId: null, task: null };
  }
  if (input.now.getTime() - input.startedAt.getTime() >= input.timeoutMs) {
    return { kind: 'failed', reason: `timed out after ${formatDuration(input.timeoutMs)} (the test job was stopped)`, allocId: alloc?.id ?? null, task: null };
  }
  return { kind: 'running' };
}

export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return s % 60 === 0 ? `${m}m` : `${m}m ${s % 60}s`;
}

/**
 * The last `n` lines of a text (a trailing newline does not count as a line), at most
 * `maxChars` of them from the end: one huge line must not push a comment or a check run
 * summary past GitHub's 65536 characters.
 */
export function lastLines(text: string, n: number, maxChars = 8000): string {
  const lines = text.replace(/\n$/, '').split('\n');
  const tail = lines.slice(-n).join('\n');
  return tail.length > maxChars ? `…${tail.slice(-(maxChars - 1))}` : tail;
}

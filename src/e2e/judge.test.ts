import { describe, expect, it } from 'vitest';
import type { NomadAllocation, NomadEvaluation } from '../nomad/types.js';
import { describePlacementFailure, formatDuration, judgeTestJob, lastLines } from './judge.js';

const start = new Date('2026-01-01T00:00:00Z');
const at = (ms: number) => new Date(start.getTime() + ms);
const TIMEOUT = 15 * 60_000;

function alloc(clientStatus: string, events: { type: string; message: string; exitCode?: number }[], failed = clientStatus === 'failed'): NomadAllocation {
  return {
    id: 'alloc-1',
    taskGroup: 'e2e',
    jobVersion: 0,
    clientStatus,
    desiredStatus: 'run',
    healthy: null,
    tasks: { e2e: { state: 'dead', failed, events: events.map((e) => ({ ...e, time: 0 })) } },
  };
}
const evaluation = (failed: NomadEvaluation['failedPlacements'] = {}): NomadEvaluation => ({ id: 'ev', status: 'complete', statusDescription: '', blockedEval: '', failedPlacements: failed });
const metric = (patch: Partial<NomadEvaluation['failedPlacements'][string]>) => ({
  nodesEvaluated: 3,
  nodesFiltered: 0,
  nodesExhausted: 0,
  constraintFiltered: {},
  classFiltered: {},
  dimensionExhausted: {},
  classExhausted: {},
  quotaExhausted: [],
  coalescedFailures: 0,
  ...patch,
});

describe('judgeTestJob', () => {
  it('when the allocation completed with every task ok then the tests passed', () => {
    const v = judgeTestJob({ evaluation: evaluation(), allocations: [alloc('complete', [{ type: 'Terminated', message: 'Exit Code: 0', exitCode: 0 }])], startedAt: start, now: at(1000), timeoutMs: TIMEOUT });
    expect(v).toEqual({ kind: 'passed' });
  });

  it('when the task exited non-zero then the tests failed with the exit code and the event that failed it', () => {
    const v = judgeTestJob({
      evaluation: evaluation(),
      allocations: [alloc('failed', [{ type: 'Started', message: 'Task started by client' }, { type: 'Terminated', message: 'Exit Code: 2', exitCode: 2 }, { type: 'Not Restarting', message: 'Policy allows no restarts' }])],
      startedAt: start,
      now: at(1000),
      timeoutMs: TIMEOUT,
    });
    expect(v).toEqual({ kind: 'failed', reason: 'task "e2e" exited with code 2; Not Restarting: Policy allows no restarts', allocId: 'alloc-1', task: 'e2e' });
  });

  it('when the driver failed before the task ran then the reason is the driver event', () => {
    const v = judgeTestJob({ evaluation: evaluation(), allocations: [alloc('failed', [{ type: 'Driver Failure', message: 'image pull failed: not found' }])], startedAt: start, now: at(1), timeoutMs: TIMEOUT });
    expect(v).toMatchObject({ kind: 'failed', reason: 'task "e2e" Driver Failure: image pull failed: not found' });
  });

  it("when no allocation was placed and the evaluation failed placement then the reason is Nomad's", () => {
    const v = judgeTestJob({ evaluation: evaluation({ e2e: metric({ nodesExhausted: 3, dimensionExhausted: { memory: 3 } }) }), allocations: [], startedAt: start, now: at(1), timeoutMs: TIMEOUT });
    expect(v).toEqual({ kind: 'failed', reason: 'Nomad could not place the test job: could not place 1 allocation of group "e2e": dimension "memory" exhausted on 3 nodes', allocId: null, task: null });
  });

  it('when still running before the deadline then running; at the deadline a timeout failure', () => {
    const running = alloc('running', [{ type: 'Started', message: 'Task started by client' }], false);
    expect(judgeTestJob({ evaluation: evaluation(), allocations: [running], startedAt: start, now: at(TIMEOUT - 1), timeoutMs: TIMEOUT })).toEqual({ kind: 'running' });
    expect(judgeTestJob({ evaluation: evaluation(), allocations: [running], startedAt: start, now: at(TIMEOUT), timeoutMs: TIMEOUT })).toMatchObject({ kind: 'failed', reason: 'timed out after 15m (the test job was stopped)' });
  });

  it('when nothing is placed yet and the evaluation is pending then running', () => {
    expect(judgeTestJob({ evaluation: null, allocations: [], startedAt: start, now: at(5), timeoutMs: TIMEOUT })).toEqual({ kind: 'running' });
  });

  it('a lost allocation is a failure that says so', () => {
    const v = judgeTestJob({ evaluation: evaluation(), allocations: [alloc('lost', [], false)], startedAt: start, now: at(5), timeoutMs: TIMEOUT });
    expect(v).toMatchObject({ kind: 'failed', reason: expect.stringContaining('lost with its node') });
  });
});

describe('describePlacementFailure', () => {
  it('names constraints, exhausted dimensions and coalesced failures', () => {
    expect(describePlacementFailure('e2e', metric({ constraintFiltered: { '${attr.kernel.name} = windows': 2 }, coalescedFailures: 1 }))).toBe(
      'could not place 2 allocations of group "e2e": constraint "${attr.kernel.name} = windows": 2 nodes excluded by filter',
    );
    expect(describePlacementFailure('e2e', metric({ nodesEvaluated: 0 }))).toBe('could not place 1 allocation of group "e2e": no nodes were eligible for evaluation');
  });
});

describe('helpers', () => {
  it('lastLines keeps the last n lines', () => {
    expect(lastLines('1\n2\n3\n', 2)).toBe('2\n3');
    expect(lastLines('only', 50)).toBe('only');
    const huge = lastLines(`start\n${'x'.repeat(100_000)}`, 50);
    expect(huge.length).toBe(8000);
    expect(huge.startsWith('…x')).toBe(true);
  });
  it('formatDuration', () => {
    expect(formatDuration(15 * 60_000)).toBe('15m');
    expect(formatDuration(90_500)).toBe('1m 31s');
    expect(formatDuration(4_000)).toBe('4s');
  });
});

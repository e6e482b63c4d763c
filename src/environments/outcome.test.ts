// The outcome as a table: for every status a record can be in and every way a reconcile
// can go (nothing to do, deploy or teardown done, failed for good, failed for now, GitHub
// lagging), the status it ends in, the fields written and the events.
import { describe, expect, it } from 'vitest';
import { OwnershipError, TransientError, UserError } from '../errors.js';
import type { DesiredEnvironment, Plan, Step } from './model.js';
import { decideOutcome, decideReportLag, decideStart, decideStep, outcomeStatus, type OutcomeRecord, type Progress, type RunResult } from './outcome.js';
import type { EnvironmentStatus, ObservedPatch } from './types.js';

const SHA1 = '1'.repeat(40);
const SHA2 = '2'.repeat(40);
const NOW = new Date('2026-03-01T12:00:00Z');
const PUSHED = new Date('2026-03-01T11:59:00Z');
const STATUSES: EnvironmentStatus[] = ['pending', 'provisioning', 'ready', 'degraded', 'failed', 'tearing_down', 'removed'];

const record = (status: EnvironmentStatus, over: Partial<OutcomeRecord> = {}): OutcomeRecord => ({
  status,
  observedSha: SHA1,
  observedGeneration: 1,
  lastError: null,
  lastPushAt: PUSHED,
  ...over,
});
const present = (sha = SHA2, generation = 2): DesiredEnvironment => ({ present: true, sha, generation, reason: 'synchronize' });
const absent = (generation = 2): DesiredEnvironment => ({ present: false, sha: null, generation, reason: 'closed' });
const progress = (over: Partial<Progress> = {}): Progress => ({
  components: { api: 'healthy' },
  resources: { database: 'db', failedSha: SHA1 },
  githubDeploymentId: 5,
  githubCommentId: 6,
  ...over,
});

const register: Step = { kind: 'register-job', component: 'api', jobId: 'j-api', enforceIndex: 0, group: 'register-0', generation: null };
const dropDb: Step = { kind: 'drop-database', database: 'db' };
const DEPLOY: Plan = [register];
const TEARDOWN: Plan = [dropDb];
const RENEW_ONLY: Plan = [{ kind: 'ensure-credentials', role: 'r', database: 'db', path: 'p', keepPassword: true }];
const SKIP_ONLY: Plan = [{ kind: 'refuse', target: 'nomad job x', reason: 'not ours: left alone', fatal: false }];

const ok: RunResult = { ok: true };
const failed = (step: Step | null, error: Error): RunResult => ({ ok: false, step, error, message: error.message });

type Trigger = 'nothing to do' | 'deployed' | 'torn down' | 'renewed' | 'skipped only' | 'failed for good' | 'failed for now' | 'prepare failed for good' | 'prepare failed for now';

interface Row {
  from: EnvironmentStatus;
  desired: DesiredEnvironment;
  plan: Plan;
  result: RunResult;
  trigger: Trigger;
  /** Status after the start patch (none written: unchanged). */
  during: EnvironmentStatus;
  to: EnvironmentStatus;
}

/** Applies the start, one step and the outcome to a record, as the loop writes them. */
function run(row: Pick<Row, 'from' | 'desired' | 'plan' | 'result'>, over: Partial<OutcomeRecord> = {}) {
  const rec = record(row.from, over);
  const start = decideStart(rec, row.desired, row.plan, ['1. step']);
  const during = start.patch?.status ?? rec.status;
  const outcome = decideOutcome(rec, row.desired, row.plan, row.result, progress(), NOW);
  const to = outcome.patch?.status ?? during;
  return { start, during, outcome, to };
}

const rows: Row[] = [];
for (const from of STATUSES) {
  // A deploy that changes the cluster: provisioning, then ready, failed or degraded.
  rows.push({ from, desired: present(), plan: DEPLOY, result: ok, trigger: 'deployed', during: 'provisioning', to: 'ready' });
  rows.push({ from, desired: present(), plan: DEPLOY, result: failed(register, new UserError('bad template')), trigger: 'failed for good', during: 'provisioning', to: 'failed' });
  rows.push({ from, desired: present(), plan: DEPLOY, result: failed(register, new TransientError('nomad 500')), trigger: 'failed for now', during: 'provisioning', to: 'degraded' });
  // A teardown that changes the cluster: tearing_down, then removed, or degraded/failed.
  rows.push({ from, desired: absent(), plan: TEARDOWN, result: ok, trigger: 'torn down', during: 'tearing_down', to: 'removed' });
  rows.push({ from, desired: absent(), plan: TEARDOWN, result: failed(dropDb, new TransientError('pg down')), trigger: 'failed for now', during: 'tearing_down', to: 'degraded' });
  rows.push({ from, desired: absent(), plan: TEARDOWN, result: failed(dropDb, new OwnershipError('not ours')), trigger: 'failed for good', during: 'tearing_down', to: 'failed' });
  // Rendering, observing or the host claim failed: nothing started, the status says why.
  rows.push({ from, desired: present(), plan: [], result: failed(null, new UserError('template error')), trigger: 'prepare failed for good', during: from, to: 'failed' });
  rows.push({ from, desired: present(), plan: [], result: failed(null, new TransientError('consul down')), trigger: 'prepare failed for now', during: from, to: 'degraded' });
  // Nothing to do while absent: removed (a PR closed before anything of it existed).
  rows.push({ from, desired: absent(), plan: [], result: ok, trigger: 'nothing to do', during: from, to: 'removed' });
  // Only foreign resources skipped while absent: nothing of ours changed, still removed.
  rows.push({ from, desired: absent(), plan: SKIP_ONLY, result: ok, trigger: 'skipped only', during: from, to: 'removed' });
}
// Present with nothing to do keeps the status (ready and running; failed at this SHA, held back).
rows.push({ from: 'ready', desired: present(SHA1, 1), plan: [], result: ok, trigger: 'nothing to do', during: 'ready', to: 'ready' });
rows.push({ from: 'failed', desired: present(SHA1, 1), plan: [], result: ok, trigger: 'nothing to do', during: 'failed', to: 'failed' });
// Ready, only the login to renew: provisioning in between, as any change to the systems.
rows.push({ from: 'ready', desired: present(SHA1, 1), plan: RENEW_ONLY, result: ok, trigger: 'renewed', during: 'provisioning', to: 'ready' });

describe('decideStart / decideOutcome: every status transition', () => {
  it.each(rows.map((r) => [r.from, r.trigger, r.plan.map((s) => s.kind).join(',') || 'no steps', r.desired.present ? 'present' : 'absent', r.during, r.to, r] as const))(
    'from %s, %s (%s, %s): %s then %s',
    (_from, _trigger, _plan, _desired, during, to, row) => {
      const got = run(row);
      expect(got.during).toBe(during);
      expect(got.to).toBe(to);
      expect(got.outcome.status).toBe(to);
      // What the PR is shown is computed from the same status, before the outcome is written.
      expect(outcomeStatus(record(row.from), row.desired, row.plan, row.result)).toBe(to);
    },
  );

  it('covers every status as a starting point and every status as a result', () => {
    const reached = new Set(rows.flatMap((r) => [r.during, r.to]));
    expect([...new Set(rows.map((r) => r.from))].sort()).toEqual([...STATUSES].sort());
    expect([...reached].filter((s) => s !== 'pending').sort()).toEqual(STATUSES.filter((s) => s !== 'pending').sort());
    // "pending" is only ever written by the store (a new desired); no reconcile ends in it.
    expect(rows.filter((r) => r.to === 'pending')).toEqual([]);
  });
});

describe('decideStart', () => {
  it('when the plan changes systems then the status and a plan event are written', () => {
    expect(decideStart(record('ready'), present(), DEPLOY, ['1. x'])).toEqual({
      patch: { status: 'provisioning' },
      events: [{ type: 'plan', message: `deploying ${SHA2.slice(0, 12)}`, data: { reason: 'synchronize', steps: ['1. x'] } }],
    });
    expect(decideStart(record('ready'), absent(), TEARDOWN, ['1. y']).events[0]).toEqual({ type: 'plan', message: 'tearing down', data: { reason: 'closed', steps: ['1. y'] } });
  });

  it('when there is no record, nothing to do or only skipping then nothing is written', () => {
    expect(decideStart(null, present(), DEPLOY, [])).toEqual({ patch: null, events: [] });
    expect(decideStart(record('ready'), present(SHA1), [], [])).toEqual({ patch: null, events: [] });
    expect(decideStart(record('ready'), absent(), SKIP_ONLY, [])).toEqual({ patch: null, events: [] });
  });
});

describe('decideStep', () => {
  it('records what exists after each step, with an event naming it', () => {
    const d = decideStep(record('provisioning'), register, progress());
    expect(d.patch).toEqual(progress());
    expect(d.events).toEqual([{ type: 'step', message: 'register nomad job j-api (create)', data: { kind: 'register-job' } }]);
    expect(decideStep(null, register, progress())).toEqual({ patch: null, events: [] });
  });
});

describe('decideOutcome fields', () => {
  it('when a new head is ready then SHA, generation, readyAt are set, the error and failedSha cleared, and the provisioning time measured', () => {
    const o = decideOutcome(record('provisioning', { lastError: 'old' }), present(SHA2, 3), DEPLOY, ok, progress(), NOW);
    expect(o.patch).toEqual({
      components: { api: 'healthy' },
      resources: { database: 'db' },
      githubDeploymentId: 5,
      githubCommentId: 6,
      status: 'ready',
      lastError: null,
      observedGeneration: 3,
      observedSha: SHA2,
      readyAt: NOW,
    } satisfies ObservedPatch);
    expect(o.events).toEqual([{ type: 'ready', message: `ready at ${SHA2.slice(0, 12)}`, data: {} }]);
    expect(o.provisioningSeconds).toBe(60);
    expect(o.releaseHosts).toBe(false);
  });

  it('when the same head is deployed again then no provisioning time is measured', () => {
    expect(decideOutcome(record('ready'), present(SHA1, 3), DEPLOY, ok, progress(), NOW).provisioningSeconds).toBeNull();
  });

  it('when nothing was to be done but GitHub was told then only its refs and a stale error on ready are written, no status, readyAt or event', () => {
    const o = decideOutcome(record('ready', { lastError: 'GitHub not up to date' }), present(SHA1, 1), [], ok, progress(), NOW, true);
    expect(o.patch).toEqual({ resources: progress().resources, githubDeploymentId: 5, githubCommentId: 6, lastError: null });
    expect(o.events).toEqual([]);
    expect(o.status).toBe('ready');
    const removed = decideOutcome(record('tearing_down'), absent(2), [], ok, progress(), NOW, true);
    expect(removed.patch).toMatchObject({ status: 'removed', githubDeploymentId: 5 });
  });

  it('when torn down then every component is stopped, hosts are released and a removed event is written', () => {
    const o = decideOutcome(record('tearing_down'), absent(4), TEARDOWN, ok, progress(), NOW);
    expect(o.patch).toMatchObject({ status: 'removed', components: { api: 'stopped' }, observedGeneration: 4, lastError: null });
    expect(o.patch?.observedSha).toBeUndefined();
    expect(o.events).toEqual([{ type: 'removed', message: 'environment removed', data: {} }]);
    expect(o.releaseHosts).toBe(true);
  });

  it('when nothing is to be done then only a lagging generation, a removed status or a stale error on ready are written', () => {
    expect(decideOutcome(record('ready'), present(SHA1, 1), [], ok, progress(), NOW).patch).toBeNull();
    expect(decideOutcome(record('ready'), present(SHA1, 2), [], ok, progress(), NOW).patch).toEqual({ observedGeneration: 2 });
    expect(decideOutcome(record('ready', { lastError: 'GitHub not up to date' }), present(SHA1, 1), [], ok, progress(), NOW).patch).toEqual({ lastError: null });
    // A failed record keeps its reason: it is why nothing is done.
    expect(decideOutcome(record('failed', { lastError: 'bad template' }), present(SHA1, 1), [], ok, progress(), NOW).patch).toBeNull();
    const gone = decideOutcome(record('removed', { observedGeneration: 2 }), absent(2), [], ok, progress(), NOW);
    expect(gone.patch).toBeNull();
    expect(gone.releaseHosts).toBe(true);
    expect(decideOutcome(null, null, [], ok, progress(), NOW)).toEqual({ patch: null, events: [], status: null, releaseHosts: false, provisioningSeconds: null });
  });

  it('when a step fails for good then the generation is consumed, the SHA held back and the event names the step', () => {
    const o = decideOutcome(record('provisioning'), present(SHA2, 3), DEPLOY, failed(register, new UserError('bad template')), progress(), NOW);
    expect(o.patch).toEqual({
      components: { api: 'healthy' },
      resources: { database: 'db', failedSha: SHA2 },
      githubDeploymentId: 5,
      githubCommentId: 6,
      status: 'failed',
      lastError: 'bad template',
      observedGeneration: 3,
    } satisfies ObservedPatch);
    expect(o.events).toEqual([
      { type: 'step-failed', message: 'register nomad job j-api (create): bad template', data: { step: 'register-job', error: 'UserError', status: 'failed' } },
    ]);
  });

  it('when a step fails for now then the generation is not consumed (the retry works from it) and no SHA is held back', () => {
    const o = decideOutcome(record('provisioning'), present(SHA2, 3), DEPLOY, failed(register, new TransientError('nomad 500')), progress(), NOW);
    expect(o.patch?.observedGeneration).toBeUndefined();
    expect(o.patch?.resources).toEqual({ database: 'db', failedSha: SHA1 });
    expect(o.patch?.status).toBe('degraded');
  });

  it('when preparing fails then the event says "prepare"; a teardown failing for good holds no SHA back', () => {
    const o = decideOutcome(record('pending'), present(), [], failed(null, new TransientError('consul down')), progress(), NOW);
    expect(o.events[0]).toEqual({ type: 'step-failed', message: 'consul down', data: { step: 'prepare', error: 'TransientError', status: 'degraded' } });
    const t = decideOutcome(record('tearing_down'), absent(3), TEARDOWN, failed(dropDb, new OwnershipError('not ours')), progress(), NOW);
    expect(t.patch).toMatchObject({ status: 'failed', observedGeneration: 3, resources: { database: 'db', failedSha: SHA1 } });
  });

  it('when a step meets a bug (an error previewd has no class for) then it fails for good like a UserError: the queue will not retry it', () => {
    const o = decideOutcome(record('provisioning'), present(SHA2, 3), DEPLOY, failed(register, new TypeError("Cannot read properties of undefined (reading 'id')")), progress(), NOW);
    expect(o.patch).toMatchObject({ status: 'failed', observedGeneration: 3, resources: { database: 'db', failedSha: SHA2 } });
    expect(o.events[0]?.data).toEqual({ step: 'register-job', error: 'TypeError', status: 'failed' });
  });

  it('when there is no record then nothing is written but the status is still decided', () => {
    expect(decideOutcome(null, present(), DEPLOY, failed(register, new UserError('x')), progress(), NOW)).toMatchObject({ patch: null, events: [], status: 'failed' });
    expect(decideOutcome(null, present(), DEPLOY, ok, progress(), NOW)).toMatchObject({ patch: null, events: [], status: 'ready', releaseHosts: false });
  });
});

describe('decideReportLag: ready, GitHub not up to date', () => {
  it('keeps the status, records why GitHub lags, and is permanent only when every failure is', () => {
    expect(decideReportLag(record('ready'), [])).toBeNull();
    const lag = decideReportLag(record('ready'), [
      { message: 'commit status success: No ref found', permanent: true },
      { message: 'comment: 502', permanent: false },
    ])!;
    expect(lag.patch).toEqual({ lastError: 'GitHub not up to date: commit status success: No ref found' });
    expect(lag.patch?.status).toBeUndefined();
    expect(lag.events).toEqual([{ type: 'report-failed', message: 'GitHub not up to date: commit status success: No ref found', data: { failures: 2 } }]);
    expect(lag.error.permanent).toBe(false);
    expect(decideReportLag(record('ready'), [{ message: 'x', permanent: true }])!.error.permanent).toBe(true);
    expect(decideReportLag(null, [{ message: 'x', permanent: false }])).toMatchObject({ patch: null, events: [] });
  });
});

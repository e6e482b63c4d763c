// The e2e runner: the side-effecting loop of the test gate. Each pass reads the PRs with
// work (store.listWork), asks planE2e what to do, and does it: queue a run when the
// environment is ready at a SHA, start it within e2e.concurrency, look at the test job
// (evaluation, allocation) until judgeTestJob decides, read the last lines of its output
// from Nomad's logs API, tell GitHub (commit status, check run, the comment's test
// section) and purge the job. Nothing waits inside a reconcile: the reconcile only wakes
// this loop (notify) when an environment becomes ready; the loop polls every
// e2e.pollInterval. Every step is idempotent and re-planned from the row, so a crash or a
// second replica converges.
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { repoConfig } from '../config/repos.js';
import type { Clock, E2eHook } from '../deps.js';
import { environmentNames, keyString, type EnvironmentKey } from '../environments/naming.js';
import { configSecrets } from '../environments/credentials.js';
import { UserError } from '../errors.js';
import type { GitHubCheckRuns, GitHubClient } from '../github/types.js';
import type { NomadBatchClient, NomadClient } from '../nomad/types.js';
import { ownedBy, ownerOfNomadJob } from '../ownership/owners.js';
import { NOMAD_META, quoteBexpr } from '../ownership/markers.js';
import { createScrubber, type Scrubber } from '../secrets.js';
import type { VaultClient } from '../vault/types.js';
import { judgeTestJob, lastLines } from './judge.js';
import { TEST_COMPONENT, testJobId } from './naming.js';
import { planE2e, reportKey } from './plan.js';
import { checkRunOf, commitStatusOf, OUTPUT_LINES, renderTestSection, withTestSection } from './report.js';
import type { E2eStore } from './store.js';
import type { E2eAction, E2eEnvironment, E2eRun } from './types.js';

/** How much of each log the runner reads (the tail; 50 lines fit in far less). */
const LOG_TAIL_BYTES = 64 * 1024;

export interface E2eDeps {
  config: Config;
  log: Logger;
  clock: Clock;
  nomad: NomadClient & NomadBatchClient;
  github: GitHubClient & GitHubCheckRuns;
  vault: Pick<VaultClient, 'readSecret'>;
  store: E2eStore;
  renderTestJob(config: Config, key: EnvironmentKey, sha: string): Promise<{ jobId: string; hcl: string }>;
}

export interface E2eRunner extends E2eHook {
  /** One pass over every PR with work (and, every gc.interval, the orphan sweep). */
  pass(): Promise<void>;
  /** Purges test jobs of ours that no run holds; how many. */
  sweepOrphans(): Promise<number>;
}

export function createE2eRunner(deps: E2eDeps): E2eRunner {
  const { config, log, store } = deps;
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> | null = null;
  let again = false;
  let stopped = true;
  let lastOrphanSweep = Number.NEGATIVE_INFINITY;

  const e2eRepos = () => config.repos.filter((r) => r.e2e).map((r) => r.name);

  async function scrubberFor(key: EnvironmentKey): Promise<Scrubber> {
    const names = environmentNames(config, key);
    // The test sees the PR's own secret (DATABASE_URL); its output may print it.
    const secret = await deps.vault.readSecret(names.vaultPath).catch(() => null);
    const databaseUrl = secret?.data.DATABASE_URL;
    return createScrubber([...configSecrets(config), databaseUrl, databaseUrl ? passwordOf(databaseUrl) : null]);
  }

  async function purgeJob(key: EnvironmentKey, jobId: string | null): Promise<void> {
    if (!jobId) return;
    const names = environmentNames(config, key);
    const job = await deps.nomad.getJob(jobId);
    if (!job) return;
    // Nothing previewd did not create is changed: a job by that name without our marker stays.
    if (!ownedBy(ownerOfNomadJob(job.meta), config.instance, names.id)) {
      log.warn({ env: keyString(key), job: jobId }, 'test job lacks our marker; left alone');
      return;
    }
    await deps.nomad.stopJob(jobId, { purge: true });
  }

  /** Renders and registers the run's test job (again, if a crash lost the evaluation). */
  async function submit(run: E2eRun): Promise<void> {
    try {
      const { jobId, hcl } = await deps.renderTestJob(config, run.key, run.sha);
      const job = await deps.nomad.parseJob(hcl);
      if (job.Type !== 'batch') throw new UserError(`e2e template must define a job of type "batch", not ${JSON.stringify(job.Type ?? 'service')}`, { system: 'templates' });
      const { evalId } = await deps.nomad.registerJob({ ...job, ID: jobId });
      await store.update(run.key, { attempt: run.attempt, states: ['running'] }, { evalId });
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      // A template or a job Nomad refuses is this run's failure, reported like any other.
      const scrub = await scrubberFor(run.key);
      await store.update(run.key, { attempt: run.attempt, states: ['running'] }, { state: 'failed', reason: scrub(err.message).slice(0, 1000), finishedAt: deps.clock.now() });
    }
  }

  async function observe(run: E2eRun): Promise<void> {
    if (!run.evalId) return submit(run);
    const jobId = run.jobId!;
    const [evaluation, allocations] = await Promise.all([deps.nomad.getEvaluation(run.evalId), deps.nomad.listAllocations(jobId)]);
    const timeoutMs = repoConfig(config, run.key.repo).e2e?.timeout ?? 15 * 60_000;
    const verdict = judgeTestJob({ evaluation, allocations, startedAt: run.startedAt ?? run.queuedAt, now: deps.clock.now(), timeoutMs });
    if (verdict.kind === 'running') return;
    const scrub = await scrubberFor(run.key);
    let output: string | null = null;
    const alloc = verdict.kind === 'failed' ? verdict.allocId : (allocations.at(-1)?.id ?? null);
    const task = (verdict.kind === 'failed' ? verdict.task : null) ?? Object.keys(allocations.at(-1)?.tasks ?? {})[0] ?? null;
    if (alloc && task) {
      const read = (type: 'stdout' | 'stderr') => deps.nomad.readTaskLogs(alloc, task, type, { tailBytes: LOG_TAIL_BYTES }).catch(() => null);
      const [stdout, stderr] = await Promise.all([read('stdout'), read('stderr')]);
      const text = [stdout, stderr].filter((t): t is string => !!t && t.trim() !== '').join('\n');
      if (text !== '') output = lastLines(scrub(text), OUTPUT_LINES);
    }
    // A timeout stops the job now; the others have ended on their own.
    if (verdict.kind === 'failed' && verdict.reason.startsWith('timed out')) await purgeJob(run.key, jobId);
    const finished = verdict.kind === 'passed' ? { state: 'passed' as const, reason: null } : { state: 'failed' as const, reason: scrub(verdict.reason) };
    await store.update(run.key, { attempt: run.attempt, states: ['running'] }, { ...finished, output, finishedAt: deps.clock.now() });
    log.info({ env: keyString(run.key), sha: run.sha, state: finished.state }, 'e2e tests finished');
  }

  /** Brings GitHub to what the run shows: commit status, check run (as an App), the comment's section. */
  async function report(run: E2eRun): Promise<void> {
    const settings = repoConfig(config, run.key.repo).e2e;
    if (!settings) return;
    const status = commitStatusOf(run);
    await deps.github.createCommitStatus(run.key.repo, run.sha, { state: status.state, description: status.description, context: settings.context });
    let checkRunId = run.checkRunId !== null && run.checkRunId > 0 ? run.checkRunId : null;
    if (deps.github.writesCheckRuns) {
      const input = checkRunOf(run);
      const updated = checkRunId !== null && (await deps.github.updateCheckRun(run.key.repo, checkRunId, input));
      if (!updated) {
        // One replica creates it; another one's report waits for the ID (a second run
        // of the name would leave GitHub's newest one pending forever).
        if (!(await store.claimCheckRun(run.key, run.attempt))) return;
        checkRunId = (await deps.github.createCheckRun(run.key.repo, run.sha, settings.context, input)).id;
      }
    }
    await updateComment(run);
    await store.update(run.key, { attempt: run.attempt, states: [run.state] }, { reported: reportKey(run), ...(checkRunId !== null ? { checkRunId } : {}) });
  }

  /** Replaces the test section of the PR's sticky comment; without a comment the next reconcile's carries it. */
  async function updateComment(run: E2eRun): Promise<void> {
    const names = environmentNames(config, run.key);
    const comment = await deps.github.findComment(run.key.repo, run.key.pr, names.commentMarker);
    if (!comment) return;
    const body = withTestSection(comment.body, renderTestSection(run));
    if (body !== comment.body) await deps.github.updateComment(run.key.repo, comment.id, body);
  }

  async function act(key: EnvironmentKey, run: E2eRun | null, action: E2eAction): Promise<void> {
    switch (action.kind) {
      case 'queue':
        if (await store.queue(key, action.sha, { attempt: run?.attempt ?? null })) log.info({ env: keyString(key), sha: action.sha }, 'e2e tests queued');
        return;
      case 'cancel': {
        await purgeJob(key, run!.jobId);
        const done = await store.update(key, { attempt: run!.attempt, states: ['queued', 'running'] }, { state: 'cancelled', reason: action.reason, finishedAt: deps.clock.now(), jobPurged: true });
        if (done) {
          log.info({ env: keyString(key), sha: run!.sha, reason: action.reason }, 'e2e tests cancelled');
          // Told before a new run replaces the row: the old SHA's status must not stay pending.
          const cancelled = await store.get(key);
          if (cancelled && cancelled.attempt === run!.attempt) await report(cancelled);
        }
        return;
      }
      case 'start': {
        const names = environmentNames(config, key);
        if (await store.claimStart(key, run!.attempt, config.e2e.concurrency, testJobId(names, run!.sha))) {
          const claimed = await store.get(key);
          if (claimed) await submit(claimed);
        }
        return;
      }
      case 'observe':
        return observe(run!);
      case 'report':
        return report(run!);
      case 'purge':
        await purgeJob(key, run!.jobId);
        await store.update(key, { attempt: run!.attempt, states: [run!.state] }, { jobPurged: true });
        return;
    }
  }

  /** Plans and acts for one PR until nothing is left to do now (a few rounds at most). */
  async function work(key: EnvironmentKey, env: E2eEnvironment | null, first: E2eRun | null): Promise<void> {
    let run = first;
    for (let round = 0; round < 6; round += 1) {
      const slotFree = (await store.countRunning()) < config.e2e.concurrency;
      const actions = planE2e(env, run, slotFree);
      if (actions.length === 0) return;
      for (const action of actions) {
        await act(key, run, action);
        run = await store.get(key);
      }
      // Observing a run that still runs changes nothing: wait for the next pass.
      if (actions.length === 1 && actions[0]!.kind === 'observe' && run?.state === 'running') return;
    }
  }

  /**
   * Test jobs of ours that no run holds (a row lost or replaced without its purge):
   * purged. Only jobs carrying our marker with component "e2e" are looked at, and each
   * is purged only when its PR's run names another job or has purged its own.
   */
  async function sweepOrphans(): Promise<number> {
    const filter = `Meta[${quoteBexpr(NOMAD_META.managedBy)}] == ${quoteBexpr(config.instance)} and Meta[${quoteBexpr(NOMAD_META.component)}] == ${quoteBexpr(TEST_COMPONENT)}`;
    let removed = 0;
    for (const job of await deps.nomad.listJobs({ filter })) {
      const repo = job.meta[NOMAD_META.repo];
      const pr = Number(job.meta[NOMAD_META.pr]);
      if (!repo || !Number.isInteger(pr) || pr <= 0) continue;
      const key = { repo, pr };
      const run = await store.get(key);
      if (run && run.jobId === job.id && !run.jobPurged) continue;
      const names = environmentNames(config, key);
      if (!ownedBy(ownerOfNomadJob(job.meta), config.instance, names.id)) continue;
      await deps.nomad.stopJob(job.id, { purge: true });
      log.info({ env: keyString(key), job: job.id }, 'orphaned test job purged');
      removed += 1;
    }
    return removed;
  }

  async function pass(): Promise<void> {
    const repos = e2eRepos();
    if (repos.length === 0) return;
    const now = deps.clock.now().getTime();
    if (now - lastOrphanSweep >= config.gc.interval) {
      lastOrphanSweep = now;
      await sweepOrphans().catch((err: unknown) => log.warn({ err: { message: (err as Error).message } }, 'orphaned test job sweep failed'));
    }
    const items = await store.listWork(repos);
    // Finished and cancelled first: they free slots for the queued.
    items.sort((a, b) => rank(a.run) - rank(b.run));
    for (const { key, env, run } of items) {
      try {
        await work(key, env, run);
      } catch (err) {
        log.warn({ env: keyString(key), err: { message: (err as Error).message } }, 'e2e step failed; retried next pass');
      }
    }
  }

  function schedule(ms: number) {
    if (stopped) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(loop, ms);
    timer.unref();
  }

  function loop() {
    timer = null;
    if (running) {
      again = true;
      return;
    }
    running = pass()
      .catch((err: unknown) => log.warn({ err: { message: (err as Error).message } }, 'e2e pass failed'))
      .finally(() => {
        running = null;
        schedule(again ? 0 : config.e2e.pollInterval);
        again = false;
      });
  }

  return {
    pass,
    sweepOrphans,
    start() {
      stopped = false;
      schedule(0);
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
      await running;
    },
    notify() {
      if (stopped) return;
      if (running) again = true;
      else schedule(0);
    },
    async requestRerun(key) {
      if (!repoConfig(config, key.repo).e2e) return { ok: false, reason: `repo ${key.repo} has no e2e tests configured` };
      const run = await store.get(key);
      if (!run) return { ok: false, reason: 'no tests have run for this pull request yet' };
      if (run.state === 'queued' || run.state === 'running') return { ok: false, reason: `tests are already ${run.state} at ${run.sha.slice(0, 7)}` };
      if (!run.jobPurged) await act(key, run, { kind: 'purge' });
      if (!(await store.requeue(key))) return { ok: false, reason: 'the run changed meanwhile; try again' };
      log.info({ env: keyString(key), sha: run.sha }, 'e2e rerun requested');
      if (!stopped) schedule(0);
      return { ok: true };
    },
    async commentSection(key) {
      const run = await store.get(key);
      return run ? renderTestSection(run) : null;
    },
  };
}

function passwordOf(url: string): string | null {
  try {
    return decodeURIComponent(new URL(url).password) || null;
  } catch {
    return null;
  }
}

function rank(run: E2eRun | null): number {
  if (!run) return 2;
  return run.state === 'queued' ? 3 : run.state === 'running' ? 1 : 0;
}

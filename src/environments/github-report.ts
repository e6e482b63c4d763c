// Bringing the PR up to what projection.ts says it should show: one GitHub Deployment
// per pushed SHA (older ones made inactive), one sticky comment found by its marker, one
// commit status. GitHub being down must not stop provisioning: each call's failure is
// logged and returned, and the reconcile records it and is retried (reconcile.ts);
// nothing here throws.
import type { Deps } from '../deps.js';
import { UserError } from '../errors.js';
import type { CommitState, DeploymentState } from '../github/types.js';
import type { Scrubber } from './credentials.js';
import type { RecordedResources } from './model.js';
import type { EnvironmentNames } from './naming.js';
import type { ReportFailure } from './outcome.js';
import type { GitHubProjection } from './projection.js';
import type { RenderedJob } from './renderer.js';
import type { EnvironmentRecord } from './types.js';
import { readerUrl } from '../ui/links.js';
import { describeState, renderComment, type ReportState } from './report.js';

export type ReportDeps = Pick<Deps, 'github' | 'config' | 'clock' | 'log'>;

/** The GitHub objects previewd made for a PR, and what they were last brought to. */
export interface GitHubRefs {
  deploymentId: number | null;
  deploymentSha: string | null;
  commentId: number | null;
  /** projection.reported of the last projection GitHub fully showed. */
  reported: string | null;
}

/** What the comment shows besides the state: links, components and when it expires. */
export interface ReportView {
  names: EnvironmentNames;
  jobs: RenderedJob[];
  components: Record<string, string>;
  /** The sticky comment's "expires" line. */
  lastPushAt: Date | null;
  idleTtlMs: number;
  scrub: Scrubber;
  /** The e2e gate's section (e2e/report.ts renderTestSection), kept on every render. */
  testSection?: string | null;
  /** The fork-trust notice (trust/approvals.ts), read once per reconcile and kept on every render. */
  trustNotice?: string | null;
}

export function githubRefsOf(record: Pick<EnvironmentRecord, 'githubDeploymentId' | 'githubCommentId' | 'resources'> | null): GitHubRefs {
  const resources = (record?.resources ?? {}) as RecordedResources;
  return {
    deploymentId: record?.githubDeploymentId ?? null,
    deploymentSha: resources.githubDeploymentSha ?? null,
    commentId: record?.githubCommentId ?? null,
    reported: resources.githubReported ?? null,
  };
}

/** One ensureGitHubReport's working set: the refs it moves forward and what failed. */
interface Report {
  deps: ReportDeps;
  view: ReportView;
  refs: GitHubRefs;
  failures: ReportFailure[];
}

/**
 * Brings GitHub to `projection`, idempotently (found by marker and environment, edited in
 * place). Returns the refs as they are now and every call that failed.
 */
export async function ensureGitHubReport(deps: ReportDeps, view: ReportView, refs: GitHubRefs, projection: GitHubProjection): Promise<{ refs: GitHubRefs; failed: ReportFailure[] }> {
  const r: Report = { deps, view, refs: { ...refs }, failures: [] };
  const error = projection.error === null ? undefined : projection.error;
  switch (projection.state) {
    case 'waiting':
    case 'build-failed':
      await reportBuildHeld(r, projection.state, projection.sha!, error ?? '', projection.runningSha ?? null);
      break;
    case 'not-deployed':
      // Nothing deployed, nothing to show on a commit: only the comment, which says why.
      await upsertComment(r, commentBody(r, 'not-deployed', projection.sha), true);
      break;
    case 'deploying':
      await reportStart(r, projection.sha!);
      break;
    case 'ready':
      await reportReady(r, projection.sha!);
      break;
    case 'failed':
      await reportFailed(r, projection.sha!, error ?? '');
      break;
    case 'degraded':
      await reportDegraded(r, projection.sha!, error ?? '');
      break;
    case 'removed':
      await reportRemoved(r, projection.sha);
      break;
  }
  // A passing state replaces what GitHub showed, even in part: a redeploy at a SHA once
  // shown ready must be shown ready again. A resting state counts once all of it landed.
  if (projection.reported === null) r.refs.reported = null;
  else if (r.failures.length === 0) r.refs.reported = projection.reported;
  return { refs: r.refs, failed: r.failures };
}

/** Past deployments looked at when making old ones inactive (newest first). */
const MAX_DEACTIVATE = 20;

async function attempt<T>(ctx: Report, what: string, fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    const message = ctx.view.scrub(`${what}: ${(err as Error).message ?? String(err)}`);
    ctx.failures.push({ message, permanent: err instanceof UserError });
    ctx.deps.log.warn({ env: ctx.view.names.id, step: 'github', err: { type: (err as Error).name, message } }, 'github reporting failed');
    return undefined;
  }
}

function repoOf(ctx: Report): string {
  return ctx.view.names.key.repo;
}

/** The PR's read-only dashboard page, signed for its readers (log_url, target_url, the comment). */
function logUrl(ctx: Report): string {
  return readerUrl(ctx.deps.config, ctx.view.names.key, ctx.deps.clock.now());
}

function urls(ctx: Report): Record<string, string> {
  const out: Record<string, string> = {};
  for (const job of ctx.view.jobs) if (job.routable && job.url) out[job.component] = job.url;
  return out;
}

/** The URL a Deployment points at: the frontend's, else the first routable component's. */
function environmentUrl(ctx: Report): string | undefined {
  const all = urls(ctx);
  return all.frontend ?? Object.values(all)[0];
}

function commentBody(ctx: Report, state: ReportState, sha: string | null, error?: string, runningSha: string | null = null): string {
  const { lastPushAt, idleTtlMs } = ctx.view;
  return renderComment({
    marker: ctx.view.names.commentMarker,
    state,
    sha,
    urls: urls(ctx),
    components: ctx.view.components,
    expiresAt: state === 'removed' || !lastPushAt ? null : new Date(lastPushAt.getTime() + idleTtlMs),
    idleTtlMs,
    error: error ? ctx.view.scrub(error) : null,
    logUrl: logUrl(ctx),
    runningSha,
    testSection: ctx.view.testSection ?? null,
    trustNotice: ctx.view.trustNotice ?? null,
  });
}

/** Edits our comment in place (by stored id, else by marker); creates it only when `create`. */
async function upsertComment(ctx: Report, body: string, create: boolean): Promise<boolean> {
  const { github } = ctx.deps;
  const repo = repoOf(ctx);
  const result = await attempt(ctx, 'comment', async () => {
    const known = ctx.refs.commentId;
    if (known !== null && (await github.updateComment(repo, known, body))) return true;
    const found = await github.findComment(repo, ctx.view.names.key.pr, ctx.view.names.commentMarker);
    if (found && (await github.updateComment(repo, found.id, body))) {
      ctx.refs.commentId = found.id;
      return true;
    }
    if (!create) {
      ctx.refs.commentId = null;
      return true;
    }
    const created = await github.createComment(repo, ctx.view.names.key.pr, body);
    // Two runs of one PR can overlap for a step when a lock lapses (issue 12 §7), and both
    // may have found no comment and created one. Every run that creates looks again and
    // keeps the oldest: whichever looks last sees both, so the PR ends with one comment.
    const ours = await github.findComments(repo, ctx.view.names.key.pr, ctx.view.names.commentMarker);
    const keep = ours[0]?.id ?? created.id;
    for (const extra of ours) if (extra.id !== keep) await github.deleteComment(repo, extra.id);
    if (keep !== created.id) await github.updateComment(repo, keep, body);
    ctx.refs.commentId = keep;
    return true;
  });
  return result === true;
}

async function setDeploymentState(ctx: Report, id: number, state: DeploymentState, description: string, extra: { environmentUrl?: string; logUrl?: string } = {}): Promise<boolean> {
  const done = await attempt(ctx, `deployment status ${state}`, async () => {
    await ctx.deps.github.createDeploymentStatus(repoOf(ctx), id, {
      state,
      description,
      environment: ctx.view.names.githubEnvironment,
      ...(extra.environmentUrl ? { environmentUrl: extra.environmentUrl } : {}),
      ...(extra.logUrl ? { logUrl: extra.logUrl } : {}),
    });
    return true;
  });
  return done === true;
}

async function setCommitStatus(ctx: Report, sha: string, state: CommitState, description: string, targetUrl?: string): Promise<boolean> {
  const done = await attempt(ctx, `commit status ${state}`, async () => {
    await ctx.deps.github.createCommitStatus(repoOf(ctx), sha, {
      state,
      description,
      context: ctx.deps.config.github.statusContext,
      ...(targetUrl ? { targetUrl } : {}),
    });
    return true;
  });
  return done === true;
}

/**
 * The Deployment of this SHA: the stored one, else one GitHub already has for this
 * environment and SHA (a crash after creating it), else a new one. The previous
 * SHA's deployment becomes inactive.
 */
async function ensureDeployment(ctx: Report, sha: string): Promise<number | null> {
  const gh = ctx.refs;
  if (gh.deploymentId !== null && gh.deploymentSha === sha) return gh.deploymentId;
  const previous = gh.deploymentId;
  const id = await attempt(ctx, 'deployment', async () => {
    const repo = repoOf(ctx);
    const existing = await ctx.deps.github.listDeployments(repo, { environment: ctx.view.names.githubEnvironment, sha });
    if (existing[0]) return existing[0].id;
    const created = await ctx.deps.github.createDeployment(repo, {
      ref: sha,
      environment: ctx.view.names.githubEnvironment,
      description: `previewd ${ctx.view.names.id}`,
      payload: { previewd: ctx.view.names.id },
    });
    return created.id;
  });
  if (id === undefined) return null;
  ctx.refs.deploymentId = id;
  ctx.refs.deploymentSha = sha;
  if (previous !== null && previous !== id) await setDeploymentState(ctx, previous, 'inactive', 'Superseded by a newer push');
  return id;
}

async function reportStart(ctx: Report, sha: string): Promise<void> {
  const description = describeState('deploying', sha);
  const id = await ensureDeployment(ctx, sha);
  if (id !== null) {
    await setDeploymentState(ctx, id, 'queued', description, { logUrl: logUrl(ctx) });
    await setDeploymentState(ctx, id, 'in_progress', description, { logUrl: logUrl(ctx) });
  }
  await setCommitStatus(ctx, sha, 'pending', description, logUrl(ctx));
  await upsertComment(ctx, commentBody(ctx, 'deploying', sha), true);
}

/**
 * The build holds the deploy back: the commit status says what it waits for (pending) or
 * which check failed (failure), and so does the comment. No deployment is made for a SHA
 * that is not deployed, and the previous SHA's stays as it is: it keeps running.
 */
async function reportBuildHeld(ctx: Report, state: 'waiting' | 'build-failed', sha: string, line: string, runningSha: string | null): Promise<void> {
  await setCommitStatus(ctx, sha, state === 'waiting' ? 'pending' : 'failure', describeState(state, sha, line), logUrl(ctx));
  await upsertComment(ctx, commentBody(ctx, state, sha, line, runningSha), true);
}

async function reportReady(ctx: Report, sha: string): Promise<void> {
  const description = describeState('ready', sha);
  const url = environmentUrl(ctx);
  const id = await ensureDeployment(ctx, sha);
  if (id !== null) await setDeploymentState(ctx, id, 'success', description, { ...(url ? { environmentUrl: url } : {}), logUrl: logUrl(ctx) });
  await setCommitStatus(ctx, sha, 'success', description, url ?? logUrl(ctx));
  await upsertComment(ctx, commentBody(ctx, 'ready', sha), true);
}

/** A deploy failed permanently; `error` is already scrubbed. */
async function reportFailed(ctx: Report, sha: string, error: string): Promise<void> {
  const description = describeState('failed', sha, error);
  const id = await ensureDeployment(ctx, sha);
  if (id !== null) await setDeploymentState(ctx, id, 'failure', description, { logUrl: logUrl(ctx) });
  await setCommitStatus(ctx, sha, 'failure', description, logUrl(ctx));
  await upsertComment(ctx, commentBody(ctx, 'failed', sha, error), true);
}

/**
 * A deploy step failed transiently and will be retried; `error` is already scrubbed. Only the comment says so: the deployment and commit
 * status stay pending, since the retry may still succeed.
 */
async function reportDegraded(ctx: Report, sha: string, error: string): Promise<void> {
  await upsertComment(ctx, commentBody(ctx, 'degraded', sha, error), true);
}

async function reportRemoved(ctx: Report, sha: string | null): Promise<void> {
  const repo = repoOf(ctx);
  const listed = await attempt(ctx, 'list deployments', () => ctx.deps.github.listDeployments(repo, { environment: ctx.view.names.githubEnvironment }));
  const ids = new Set<number>((listed ?? []).slice(0, MAX_DEACTIVATE).map((d) => d.id));
  if (ctx.refs.deploymentId !== null) ids.add(ctx.refs.deploymentId);
  for (const id of ids) {
    const state = await attempt(ctx, 'deployment state', () => ctx.deps.github.getLatestDeploymentState(repo, id));
    if (state !== 'inactive' && state !== undefined) await setDeploymentState(ctx, id, 'inactive', describeState('removed', null));
  }
  await upsertComment(ctx, commentBody(ctx, 'removed', ctx.refs.deploymentSha ?? sha), false);
  // The PR's environment (pr-<n>) came with previewd's first deployment to it: removed
  // with the preview, so the repo's environment list does not grow by one per PR. Only
  // when previewd deployed there (a listing that failed leaves it for the retry).
  if (listed !== undefined && ids.size > 0) await deleteGitHubEnvironment(ctx);
}

async function deleteGitHubEnvironment(ctx: Report): Promise<void> {
  const name = ctx.view.names.githubEnvironment;
  const outcome = await attempt(ctx, 'delete environment', () => ctx.deps.github.deleteEnvironment(repoOf(ctx), name));
  if (outcome === 'forbidden') {
    // Said once per repo and process (the client does not ask again): not a failure of the removal.
    ctx.deps.log.warn({ env: ctx.view.names.id, repo: repoOf(ctx), environment: name }, 'github environments of removed previews are kept: the token may not delete environments (needs admin rights, or the App permission administration: write)');
  }
}

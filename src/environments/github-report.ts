// Bringing the PR up to date: one GitHub Deployment per pushed SHA (older ones made
// inactive), one sticky comment found by its marker, one commit status. GitHub being
// down must not stop provisioning: each call's failure is recorded, logged and the
// reconcile is retried afterwards (see reconcile.ts); nothing here throws.
import { UserError } from '../errors.js';
import type { CommitState, DeploymentState } from '../github/types.js';
import type { ApplyContext, GitHubState } from './apply-context.js';
import { readerUrl } from '../ui/links.js';
import { describeState, renderComment, type ReportState } from './report.js';

/** Past deployments looked at when making old ones inactive (newest first). */
const MAX_DEACTIVATE = 20;

async function attempt<T>(ctx: ApplyContext, what: string, fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    const message = ctx.scrubber.scrub(`${what}: ${(err as Error).message ?? String(err)}`);
    ctx.state.github.failures.push({ message, permanent: err instanceof UserError });
    ctx.deps.log.warn({ env: ctx.names.id, step: 'github', err: { type: (err as Error).name, message } }, 'github reporting failed');
    return undefined;
  }
}

function repoOf(ctx: ApplyContext): string {
  return ctx.names.key.repo;
}

/** The PR's read-only dashboard page, signed for its readers (log_url, target_url, the comment). */
function logUrl(ctx: ApplyContext): string {
  return readerUrl(ctx.deps.config, ctx.names.key, ctx.deps.clock.now());
}

function urls(ctx: ApplyContext): Record<string, string> {
  const out: Record<string, string> = {};
  for (const job of ctx.jobs) if (job.routable && job.url) out[job.component] = job.url;
  return out;
}

/** The URL a Deployment points at: the frontend's, else the first routable component's. */
function environmentUrl(ctx: ApplyContext): string | undefined {
  const all = urls(ctx);
  return all.frontend ?? Object.values(all)[0];
}

function commentBody(ctx: ApplyContext, state: ReportState, sha: string | null, error?: string): string {
  const timing = ctx.timing;
  return renderComment({
    marker: ctx.names.commentMarker,
    state,
    sha,
    urls: urls(ctx),
    components: ctx.state.components,
    expiresAt: state === 'removed' || !timing.lastPushAt ? null : new Date(timing.lastPushAt.getTime() + timing.idleTtlMs),
    idleTtlMs: timing.idleTtlMs,
    error: error ? ctx.scrubber.scrub(error) : null,
    logUrl: logUrl(ctx),
  });
}

/** Edits our comment in place (by stored id, else by marker); creates it only when `create`. */
async function upsertComment(ctx: ApplyContext, body: string, create: boolean): Promise<boolean> {
  const { github } = ctx.deps;
  const repo = repoOf(ctx);
  const result = await attempt(ctx, 'comment', async () => {
    const known = ctx.state.github.commentId;
    if (known !== null && (await github.updateComment(repo, known, body))) return true;
    const found = await github.findComment(repo, ctx.names.key.pr, ctx.names.commentMarker);
    if (found && (await github.updateComment(repo, found.id, body))) {
      ctx.state.github.commentId = found.id;
      return true;
    }
    if (!create) {
      ctx.state.github.commentId = null;
      return true;
    }
    const created = await github.createComment(repo, ctx.names.key.pr, body);
    ctx.state.github.commentId = created.id;
    return true;
  });
  return result === true;
}

async function setDeploymentState(ctx: ApplyContext, id: number, state: DeploymentState, description: string, extra: { environmentUrl?: string; logUrl?: string } = {}): Promise<boolean> {
  const done = await attempt(ctx, `deployment status ${state}`, async () => {
    await ctx.deps.github.createDeploymentStatus(repoOf(ctx), id, {
      state,
      description,
      environment: ctx.names.githubEnvironment,
      ...(extra.environmentUrl ? { environmentUrl: extra.environmentUrl } : {}),
      ...(extra.logUrl ? { logUrl: extra.logUrl } : {}),
    });
    return true;
  });
  return done === true;
}

async function setCommitStatus(ctx: ApplyContext, sha: string, state: CommitState, description: string, targetUrl?: string): Promise<boolean> {
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
async function ensureDeployment(ctx: ApplyContext, sha: string): Promise<number | null> {
  const gh = ctx.state.github;
  if (gh.deploymentId !== null && gh.deploymentSha === sha) return gh.deploymentId;
  const previous = gh.deploymentId;
  const id = await attempt(ctx, 'deployment', async () => {
    const repo = repoOf(ctx);
    const existing = await ctx.deps.github.listDeployments(repo, { environment: ctx.names.githubEnvironment, sha });
    if (existing[0]) return existing[0].id;
    const created = await ctx.deps.github.createDeployment(repo, {
      ref: sha,
      environment: ctx.names.githubEnvironment,
      description: `previewd ${ctx.names.id}`,
      payload: { previewd: ctx.names.id },
    });
    return created.id;
  });
  if (id === undefined) return null;
  ctx.state.github.deploymentId = id;
  ctx.state.github.deploymentSha = sha;
  if (previous !== null && previous !== id) await setDeploymentState(ctx, previous, 'inactive', 'Superseded by a newer push');
  return id;
}

export async function reportStart(ctx: ApplyContext, sha: string): Promise<void> {
  const description = describeState('deploying', sha);
  const id = await ensureDeployment(ctx, sha);
  if (id !== null) {
    await setDeploymentState(ctx, id, 'queued', description, { logUrl: logUrl(ctx) });
    await setDeploymentState(ctx, id, 'in_progress', description, { logUrl: logUrl(ctx) });
  }
  await setCommitStatus(ctx, sha, 'pending', description, logUrl(ctx));
  await upsertComment(ctx, commentBody(ctx, 'deploying', sha), true);
}

export async function reportReady(ctx: ApplyContext, sha: string): Promise<void> {
  const description = describeState('ready', sha);
  const url = environmentUrl(ctx);
  const failuresBefore = ctx.state.github.failures.length;
  const id = await ensureDeployment(ctx, sha);
  if (id !== null) await setDeploymentState(ctx, id, 'success', description, { ...(url ? { environmentUrl: url } : {}), logUrl: logUrl(ctx) });
  await setCommitStatus(ctx, sha, 'success', description, url ?? logUrl(ctx));
  await upsertComment(ctx, commentBody(ctx, 'ready', sha), true);
  if (ctx.state.github.failures.length === failuresBefore) ctx.state.resources.githubReported = `ready:${sha}`;
}

/** Called by the reconciler when a deploy fails permanently; `error` is already scrubbed. */
export async function reportFailed(ctx: ApplyContext, sha: string, error: string): Promise<void> {
  const description = describeState('failed', sha, error);
  const failuresBefore = ctx.state.github.failures.length;
  const id = await ensureDeployment(ctx, sha);
  if (id !== null) await setDeploymentState(ctx, id, 'failure', description, { logUrl: logUrl(ctx) });
  await setCommitStatus(ctx, sha, 'failure', description, logUrl(ctx));
  await upsertComment(ctx, commentBody(ctx, 'failed', sha, error), true);
  if (ctx.state.github.failures.length === failuresBefore) ctx.state.resources.githubReported = `failed:${sha}`;
}

/**
 * Called by the reconciler when a deploy step failed transiently and will be retried;
 * `error` is already scrubbed. Only the comment says so: the deployment and commit
 * status stay pending, since the retry may still succeed.
 */
export async function reportDegraded(ctx: ApplyContext, sha: string, error: string): Promise<void> {
  await upsertComment(ctx, commentBody(ctx, 'degraded', sha, error), true);
}

export async function reportRemoved(ctx: ApplyContext): Promise<void> {
  const failuresBefore = ctx.state.github.failures.length;
  const repo = repoOf(ctx);
  const listed = await attempt(ctx, 'list deployments', () => ctx.deps.github.listDeployments(repo, { environment: ctx.names.githubEnvironment }));
  const ids = new Set<number>((listed ?? []).slice(0, MAX_DEACTIVATE).map((d) => d.id));
  if (ctx.state.github.deploymentId !== null) ids.add(ctx.state.github.deploymentId);
  for (const id of ids) {
    const state = await attempt(ctx, 'deployment state', () => ctx.deps.github.getLatestDeploymentState(repo, id));
    if (state !== 'inactive' && state !== undefined) await setDeploymentState(ctx, id, 'inactive', describeState('removed', null));
  }
  await upsertComment(ctx, commentBody(ctx, 'removed', ctx.state.github.deploymentSha ?? ctx.sha), false);
  if (ctx.state.github.failures.length === failuresBefore) ctx.state.resources.githubReported = 'removed';
}

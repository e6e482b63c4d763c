// The admin API: what an operator (or the log_url link on a PR) reaches for.
// Every route needs `Authorization: Bearer <PREVIEWD_ADMIN_TOKEN>` (401 without it,
// 403 with a wrong one, compared in constant time). The check is the first middleware
// of each route's own chain, not a path-matched `router.use`: whatever spelling of a
// path the router accepts for a route, that route's guard runs (issue 10). Every
// parameter is validated with
// zod (400 with the offending field). Responses pass through the config's secret
// scrubber as a last line of defence: nothing here should ever carry a secret, and if
// a bug made it so, the value still does not leave the process.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, Next } from 'koa';
import type { Router } from '@koa/router';
import { z } from 'zod';
import type { Config } from '../config/schema.js';
import { parseDuration } from '../config/duration.js';
import { configSecrets, createScrubber } from '../environments/credentials.js';
import { keyString, type EnvironmentKey } from '../environments/naming.js';
import type { EnvironmentRecord, EnvironmentStore } from '../environments/types.js';
import type { GcFilter, GcPlan } from '../gc/types.js';
import type { ReconcileQueue } from '../queue/reconcile-queue.js';
import { checkReadiness, type ReadinessCheck } from './health.js';
import { strictRouter } from './strict-router.js';
import { REPO_NAME, REPO_SEGMENT } from '../github/repo-name.js';
import { recordTeardownDecision } from '../environments/teardown-request.js';
import type { Deps } from '../deps.js';
import { requestE2eRerun } from '../e2e/rerun.js';

export interface AdminDeps {
  config: Pick<Config, 'env' | 'repos'>;
  store: Pick<EnvironmentStore, 'list' | 'get' | 'listEvents' | 'requestReconcile' | 'recordTeardown' | 'appendEvent'>;
  queue: Pick<ReconcileQueue, 'enqueue' | 'counts' | 'listParked' | 'retryParked'>;
  /** The readiness checks, shown here with their reasons (/readyz shows only which fail). */
  readiness?: ReadinessCheck[];
  /** Runs GC (plan only when dryRun); the daemon wires it to sweepGc with queue-backed teardowns. */
  runGc(options: { dryRun: boolean; filter: GcFilter }): Promise<{ plan: GcPlan; done: unknown[]; failed: { error: string }[] }>;
  /** The e2e gate, when a repo has tests configured. */
  e2e?: Deps['e2e'];
}

const STATUSES = ['pending', 'waiting_for_build', 'provisioning', 'ready', 'degraded', 'failed', 'tearing_down', 'removed'] as const;

// Query schemas are strict: an unknown or array-shaped parameter (`status[]=x`, which
// koa reads as the key "status[]") is refused, never ignored into an unfiltered answer.
const listQuery = z
  .object({
    repo: z.string().regex(REPO_NAME, 'expected "owner/name"').optional(),
    status: z.enum(STATUSES).optional(),
  })
  .strict();
/** Routes that take no query parameters. */
const noQuery = z.object({}).strict();
const envParams = z.object({
  owner: z.string().regex(REPO_SEGMENT, 'expected a GitHub owner'),
  repo: z.string().regex(REPO_SEGMENT, 'expected a GitHub repository name'),
  pr: z.string().regex(/^[1-9]\d{0,8}$/, 'expected a PR number').transform(Number),
});
const gcQuery = z.strictObject({
  dryRun: z.enum(['true', 'false']).default('true').transform((v) => v === 'true'),
  repo: z.string().regex(REPO_NAME, 'expected "owner/name"').optional(),
  pr: z.string().regex(/^[1-9]\d{0,8}$/, 'expected a PR number').transform(Number).optional(),
  olderThan: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined) return undefined;
      const ms = parseDuration(v);
      if (ms === null || ms <= 0) {
        ctx.addIssue({ code: 'custom', message: 'expected a duration such as "72h"' });
        return z.NEVER;
      }
      return ms;
    }),
});
const parkedParams = z.object({ id: z.string().regex(/^[A-Za-z0-9:_#/.-]{1,200}$/, 'expected a job ID') });

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** Constant-time: both sides are hashed to a fixed length first, so length leaks nothing either. */
export function tokenMatches(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

function describeIssue(issue: z.core.$ZodIssue): string {
  // Unknown keys are the client's own text: name them printable and bounded.
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.slice(0, 5).map((k) => JSON.stringify(k.replace(/[^\x20-\x7e]/g, '?').slice(0, 40)));
    return `${issue.path.join('.') || '(query)'}: unknown parameter ${keys.join(', ')}`;
  }
  return `${issue.path.join('.') || '(root)'}: ${issue.message}`;
}

function parse<T extends z.ZodType>(ctx: Context, schema: T, input: unknown): z.output<T> | null {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  ctx.status = 400;
  // Field paths and what was expected; never the value sent (it may be anything).
  ctx.body = { status: 'error', reason: 'invalid request', problems: result.error.issues.map(describeIssue) };
  return null;
}

function summary(record: EnvironmentRecord) {
  return {
    repo: record.key.repo,
    pr: record.key.pr,
    envId: record.envId,
    status: record.status,
    desired: record.desiredPresent ? 'present' : 'absent',
    desiredSha: record.desiredSha,
    observedSha: record.observedSha,
    labels: record.labels,
    lastPushAt: record.lastPushAt.toISOString(),
    readyAt: record.readyAt?.toISOString() ?? null,
    updatedAt: record.updatedAt.toISOString(),
    lastError: record.lastError,
  };
}

export function adminRouter(deps: AdminDeps): Router {
  const router = strictRouter({ prefix: '/admin' });
  const expected = deps.config.env.PREVIEWD_ADMIN_TOKEN;
  const scrub = createScrubber(configSecrets(deps.config as Pick<Config, 'env'>));

  const requireToken = async (ctx: Context, next: Next) => {
    const header = ctx.get('authorization');
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) {
      ctx.status = 401;
      ctx.set('WWW-Authenticate', 'Bearer realm="previewd-admin"');
      ctx.body = { status: 'error', reason: 'missing bearer token' };
      return;
    }
    if (!tokenMatches(match[1]!, expected)) {
      ctx.status = 403;
      ctx.body = { status: 'error', reason: 'wrong token' };
      return;
    }
    await next();
    if (ctx.body !== undefined && ctx.body !== null && typeof ctx.body === 'object') {
      ctx.body = JSON.parse(scrub(JSON.stringify(ctx.body)));
    }
  };

  const keyOf = (ctx: Context): EnvironmentKey | null => {
    if (!parse(ctx, noQuery, ctx.query)) return null;
    const params = parse(ctx, envParams, ctx.params);
    return params ? { repo: `${params.owner}/${params.repo}`, pr: params.pr } : null;
  };

  router.get('/environments', requireToken, async (ctx: Context) => {
    const query = parse(ctx, listQuery, ctx.query);
    if (!query) return;
    const records = await deps.store.list({ ...(query.repo ? { repo: query.repo } : {}), ...(query.status ? { status: query.status } : {}) });
    ctx.body = { environments: records.map(summary) };
  });

  router.get('/environments/:owner/:repo/:pr', requireToken, async (ctx: Context) => {
    const key = keyOf(ctx);
    if (!key) return;
    const record = await deps.store.get(key);
    if (!record) {
      ctx.status = 404;
      ctx.body = { status: 'error', reason: `no environment for ${keyString(key)}` };
      return;
    }
    const events = await deps.store.listEvents(key, 100);
    ctx.body = {
      ...summary(record),
      desiredReason: record.desiredReason,
      generation: { desired: record.desiredGeneration, observed: record.observedGeneration },
      components: record.components,
      resources: record.resources,
      github: { deploymentId: record.githubDeploymentId, commentId: record.githubCommentId },
      createdAt: record.createdAt.toISOString(),
      events: events.map((e) => ({ at: e.at.toISOString(), type: e.type, message: e.message, data: e.data })),
    };
  });

  router.post('/environments/:owner/:repo/:pr/redeploy', requireToken, async (ctx: Context) => {
    const key = keyOf(ctx);
    if (!key) return;
    const generation = await deps.store.requestReconcile(key, 'admin: redeploy');
    if (generation === null) {
      ctx.status = 404;
      ctx.body = { status: 'error', reason: `no environment for ${keyString(key)}` };
      return;
    }
    await deps.queue.enqueue(key, 'admin: redeploy');
    ctx.status = 202;
    ctx.body = { status: 'accepted', environment: keyString(key), generation };
  });

  router.post('/environments/:owner/:repo/:pr/teardown', requireToken, async (ctx: Context) => {
    const key = keyOf(ctx);
    if (!key) return;
    const recorded = await recordTeardownDecision(deps.store, key, 'admin: teardown');
    if (recorded.kind === 'missing') {
      ctx.status = 404;
      ctx.body = { status: 'error', reason: `no environment for ${keyString(key)}` };
      return;
    }
    if (recorded.kind === 'superseded') {
      ctx.status = 409;
      ctx.body = { status: 'error', reason: 'a newer change to this PR was recorded meanwhile; try again' };
      return;
    }
    await deps.queue.enqueue(key, 'admin: teardown');
    ctx.status = 202;
    ctx.body = { status: 'accepted', environment: keyString(key), generation: recorded.generation };
  });

  router.post('/environments/:owner/:repo/:pr/e2e/rerun', requireToken, async (ctx: Context) => {
    const key = keyOf(ctx);
    if (!key) return;
    if (!(await deps.store.get(key))) {
      ctx.status = 404;
      ctx.body = { status: 'error', reason: `no environment for ${keyString(key)}` };
      return;
    }
    const result = await requestE2eRerun(deps, key);
    ctx.status = result.ok ? 202 : 409;
    ctx.body = result.ok ? { status: 'accepted', environment: keyString(key) } : { status: 'error', reason: result.reason };
  });

  router.post('/gc', requireToken, async (ctx: Context) => {
    const query = parse(ctx, gcQuery, ctx.query);
    if (!query) return;
    const result = await deps.runGc({ dryRun: query.dryRun, filter: { repo: query.repo, pr: query.pr, olderThanMs: query.olderThan } });
    ctx.body = { dryRun: query.dryRun, plan: result.plan, applied: result.done.length, failed: result.failed };
  });

  router.get('/queue', requireToken, async (ctx: Context) => {
    if (!parse(ctx, noQuery, ctx.query)) return;
    const [counts, parked] = await Promise.all([deps.queue.counts(), deps.queue.listParked(100)]);
    ctx.body = {
      counts,
      parked: parked.map((p) => ({ ...p, environment: keyString(p.key), failedAt: p.failedAt?.toISOString() ?? null })),
    };
  });

  router.get('/readiness', requireToken, async (ctx: Context) => {
    if (!parse(ctx, noQuery, ctx.query)) return;
    // The reasons /readyz leaves out (scrubbed; the token check above keeps them internal).
    ctx.body = await checkReadiness(deps.readiness ?? []);
  });

  router.post('/queue/parked/:id/retry', requireToken, async (ctx: Context) => {
    if (!parse(ctx, noQuery, ctx.query)) return;
    const params = parse(ctx, parkedParams, ctx.params);
    if (!params) return;
    const retried = await deps.queue.retryParked(params.id);
    ctx.status = retried ? 202 : 404;
    ctx.body = retried ? { status: 'accepted', jobId: params.id } : { status: 'error', reason: 'no parked job with that ID' };
  });

  // A route added without the guard would be an open admin action: refuse to build.
  for (const layer of router.stack) {
    if (layer.stack[0] !== requireToken) throw new Error(`admin route ${String(layer.path)} does not start with the token check`);
  }

  return router;
}

// POST /webhooks/github: verify, dedupe, record the desired state, enqueue, answer 202.
// Everything slow happens in the queue; the request only touches Redis (claim,
// enqueue) and the state store (one upsert), each bounded, because GitHub gives up
// after 10 s. Every byte of the request is attacker-controlled until the signature
// checks out, and every field is attacker-controlled after (fork PRs).
import type { Context } from 'koa';
import type { Router } from '@koa/router';
import { strictRouter } from './strict-router.js';
import { Webhooks } from '@octokit/webhooks';
import type { Logger } from 'pino';
import type { RepoConfig } from '../config/schema.js';
import type { EnvironmentStore } from '../environments/types.js';
import { isValidKey, keyString, type EnvironmentKey } from '../environments/naming.js';
import { decidePull, isHandledAction, needsApproval, NOT_APPROVED, webhookTrigger } from '../github/policy.js';
import { pullFactsFromEvent } from '../github/pull-facts.js';
import { actionOnlySchema, isBuildHintEvent, parsePullRequestEvent } from '../github/webhook-payload.js';
import { handleBuildHint } from './build-hints.js';
import { DELIVERY_ID, type DeliveryDedupe } from '../queue/deliveries.js';
import type { PreviewdMetrics } from '../metrics.js';
import type { ReconcileQueue } from '../queue/reconcile-queue.js';
import { safeErrorLine } from '../secrets.js';
import { resolveForkTrust, type TrustDeps, type TrustResolution } from '../trust/intake.js';
import { withTimeout } from '../timeout.js';

export const WEBHOOK_PATH = '/webhooks/github';
const DEFAULT_BODY_LIMIT = 1024 * 1024;

export interface WebhookDeps {
  secret: string;
  repos: RepoConfig[];
  store: Pick<EnvironmentStore, 'recordDesired' | 'listAwaitingBuild'>;
  queue: Pick<ReconcileQueue, 'enqueue'>;
  deliveries: DeliveryDedupe;
  log: Logger;
  metrics: Pick<PreviewdMetrics, 'recordWebhook'>;
  /** Largest body accepted, in bytes (default 1 MiB; GitHub sends up to 25 MB, PR events are far smaller). */
  bodyLimitBytes?: number;
  /** Bound on record + enqueue, well inside GitHub's 10 s (default 5 s). */
  recordTimeoutMs?: number;
  /**
   * Fork approvals (issue 13 §3): without them no fork is approved, so under `forks: label`
   * forks stay undeployed (fail closed).
   */
  trust?: TrustDeps;
  /** `issue_comment` deliveries (commands, issue 13 §4); without it they are ignored. */
  comments?: (input: { delivery: string; data: unknown }) => Promise<{ status: number; outcome: Exclude<Outcome, 'pong'>; body: Record<string, unknown> }>;
}

type Outcome = 'accepted' | 'ignored' | 'duplicate' | 'in_progress' | 'pong' | 'rejected' | 'error';

/** Attacker text headed for a log line: printable ASCII only, bounded. */
function forLog(text: unknown, max = 100): string {
  const s = typeof text === 'string' ? text : String(text);
  const cleaned = s.slice(0, max * 2).replace(/[^\x20-\x7e]/g, '?');
  return cleaned.length > max ? `${cleaned.slice(0, max)}...` : cleaned;
}

class BodyTooLarge extends Error {}

async function readRawBody(ctx: Context, limit: number): Promise<Buffer> {
  const declared = Number(ctx.get('content-length'));
  if (Number.isFinite(declared) && declared > limit) throw new BodyTooLarge();
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of ctx.req) {
    const buf = chunk as Buffer;
    total += buf.length;
    if (total > limit) throw new BodyTooLarge();
    chunks.push(buf);
  }
  return Buffer.concat(chunks, total);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function createWebhookRouter(deps: WebhookDeps): Router {
  const webhooks = new Webhooks({ secret: deps.secret });
  const log = deps.log.child({ component: 'webhooks' });
  const bodyLimit = deps.bodyLimitBytes ?? DEFAULT_BODY_LIMIT;
  const recordTimeoutMs = deps.recordTimeoutMs ?? 5_000;
  const reposByName = new Map(deps.repos.map((r) => [r.name.toLowerCase(), r]));

  function answer(ctx: Context, status: number, outcome: Outcome, extra: Record<string, unknown> = {}): void {
    // Every answer passes here, so every delivery is counted once (labels are bounded in metrics.ts).
    deps.metrics.recordWebhook(ctx.get('x-github-event'), outcome);
    ctx.status = status;
    ctx.body = { status: outcome, ...extra };
  }

  async function handle(ctx: Context): Promise<void> {
    let raw: Buffer;
    try {
      raw = await readRawBody(ctx, bodyLimit);
    } catch (err) {
      if (err instanceof BodyTooLarge) {
        // Close the connection rather than read the rest of an oversized body.
        ctx.set('Connection', 'close');
        return answer(ctx, 413, 'rejected', { reason: `body larger than ${bodyLimit} bytes` });
      }
      throw err;
    }

    // Signature first: nothing about an unsigned request is looked at, let alone stored.
    const signature = ctx.get('x-hub-signature-256');
    if (!signature) return answer(ctx, 401, 'rejected', { reason: 'missing X-Hub-Signature-256' });
    if (raw.length === 0) return answer(ctx, 400, 'rejected', { reason: 'empty body' });
    let text: string;
    try {
      text = utf8.decode(raw);
    } catch {
      // GitHub signs UTF-8 JSON; octokit verifies strings, and a lossy decode could not match anyway.
      return answer(ctx, 400, 'rejected', { reason: 'body is not UTF-8' });
    }
    const verified = signature.length <= 100 && (await webhooks.verify(text, signature).catch(() => false));
    if (!verified) {
      log.warn({ ip: ctx.ip }, 'webhook signature mismatch');
      return answer(ctx, 401, 'rejected', { reason: 'signature does not match' });
    }

    const event = ctx.get('x-github-event');
    const delivery = ctx.get('x-github-delivery');
    if (!event || !delivery) return answer(ctx, 400, 'rejected', { reason: 'missing X-GitHub-Event or X-GitHub-Delivery' });
    if (!DELIVERY_ID.test(delivery)) return answer(ctx, 400, 'rejected', { reason: 'malformed X-GitHub-Delivery' });
    if (event === 'ping') return answer(ctx, 200, 'pong');
    const comments = event === 'issue_comment' ? deps.comments : undefined;
    if (!comments && !isBuildHintEvent(event) && event !== 'pull_request') return answer(ctx, 202, 'ignored', { reason: `event "${forLog(event, 40)}" not handled` });

    // Parsed once, for the events handled (an unhandled event's body is never read).
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      return answer(ctx, 400, 'rejected', { reason: 'malformed JSON' });
    }
    if (comments) {
      const handled = await comments({ delivery, data });
      return answer(ctx, handled.status, handled.outcome, handled.body);
    }
    if (isBuildHintEvent(event)) {
      const hinted = await handleBuildHint({ ...deps, log, reposByName, recordTimeoutMs }, event, data);
      return answer(ctx, hinted.status, hinted.outcome, hinted.body);
    }
    const action = actionOnlySchema.safeParse(data);
    if (!action.success) return answer(ctx, 400, 'rejected', { reason: 'action: expected a short string' });
    if (!isHandledAction(action.data.action)) {
      return answer(ctx, 202, 'ignored', { reason: `action "${forLog(action.data.action, 40)}" not handled` });
    }
    const parsed = parsePullRequestEvent(data);
    if (!parsed.ok) return answer(ctx, 400, 'rejected', { reason: parsed.reason });
    const payload = parsed.event;
    if (payload.pull_request.base.repo.full_name.toLowerCase() !== payload.repository.full_name.toLowerCase()) {
      return answer(ctx, 400, 'rejected', { reason: 'pull_request.base.repo: expected the delivering repository' });
    }

    const repo = reposByName.get(payload.repository.full_name.toLowerCase());
    if (!repo) {
      log.warn({ delivery, repo: forLog(payload.repository.full_name) }, 'webhook for a repository not in config.repos; ignored');
      return answer(ctx, 202, 'ignored', { reason: 'repository not configured' });
    }
    const key: EnvironmentKey = { repo: repo.name, pr: payload.number };
    if (!isValidKey(key)) return answer(ctx, 400, 'rejected', { reason: 'number: out of range' });
    const facts = pullFactsFromEvent(payload);
    const trigger = webhookTrigger(payload);
    // Decided once without the fork's trust first: an event ignored either way (a draft,
    // an unhandled label) costs no approval read and no GitHub permission call.
    const first = decidePull(facts, repo, trigger);
    if (first.kind === 'ignore') return answer(ctx, 202, 'ignored', { reason: first.reason });
    let resolution: TrustResolution = { trust: NOT_APPROVED, notice: null };
    if (deps.trust && needsApproval(facts, repo)) {
      try {
        resolution = await withTimeout(resolveForkTrust(deps.trust, repo, key, facts, trigger, payload.sender?.login ?? null), recordTimeoutMs);
      } catch (err) {
        log.error({ delivery, env: keyString(key), error: safeErrorLine(err) }, 'fork approval could not be checked');
        return answer(ctx, 503, 'error', { reason: 'cannot check the fork approval now; redeliver it later' });
      }
    }
    const decision = decidePull(facts, repo, trigger, resolution.trust);
    if (decision.kind === 'ignore') return answer(ctx, 202, 'ignored', { reason: decision.reason });

    let claim;
    const claiming = deps.deliveries.claim(delivery);
    try {
      claim = await withTimeout(claiming, recordTimeoutMs);
    } catch (err) {
      // The claim may still land after this answer (a stalled Redis runs it late): let it
      // go once it does, so the redelivery GitHub is told to send is not turned away.
      claiming.then((late) => (late.claimed ? deps.deliveries.release(delivery, late.token) : undefined)).catch(() => undefined);
      log.error({ delivery, error: safeErrorLine(err) }, 'delivery dedupe unavailable');
      return answer(ctx, 503, 'error', { reason: 'cannot record the delivery now; redeliver it later' });
    }
    if (!claim.claimed && claim.reason === 'done') return answer(ctx, 200, 'duplicate', { delivery });
    if (!claim.claimed) {
      // Not a duplicate: the other request has not recorded it (and may yet fail).
      return answer(ctx, 409, 'in_progress', { delivery, reason: 'this delivery is being handled by another request; redeliver it if it does not complete' });
    }

    try {
      const recorded = await withTimeout(
        (async () => {
          const result = await deps.store.recordDesired(key, decision.input);
          // Enqueue even when the store kept a newer state: a reconcile is idempotent and
          // coalesced, and a redelivery after a failed enqueue must still lead to one.
          await deps.queue.enqueue(key, decision.input.reason);
          return result;
        })(),
        recordTimeoutMs,
      );
      await deps.deliveries.confirm(delivery, claim.token).catch((err: unknown) => {
        // The work is recorded and queued; a redelivery would only repeat idempotent work.
        log.warn({ delivery, error: safeErrorLine(err) }, 'delivery could not be marked seen');
      });
      log.info(
        { delivery, env: keyString(key), action: payload.action, present: decision.input.present, sha: decision.input.sha, accepted: recorded.accepted },
        'desired state recorded',
      );
      return answer(ctx, 202, 'accepted', { delivery, present: decision.input.present, recorded: recorded.accepted });
    } catch (err) {
      await deps.deliveries.release(delivery, claim.token).catch(() => undefined);
      log.error({ delivery, env: keyString(key), error: safeErrorLine(err) }, 'recording desired state failed');
      return answer(ctx, 503, 'error', { reason: 'cannot record the delivery now; redeliver it later' });
    }
  }

  const router = strictRouter();
  router.post(WEBHOOK_PATH, handle);
  return router;
}

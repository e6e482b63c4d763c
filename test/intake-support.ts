// Shared by the intake tests: a running webhook server on a free port with the real
// Redis dedupe and queue, the real Postgres state store, signed requests and payload builders.
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createHmac } from 'node:crypto';
import { Writable } from 'node:stream';
import { repoSchema, type RepoConfig } from '../src/config/schema.js';
import type { EnvironmentKey } from '../src/environments/naming.js';
import { createEnvironmentStore } from '../src/environments/store.js';
import type { DesiredInput, EnvironmentStore } from '../src/environments/types.js';
import { createApp } from '../src/http/app.js';
import { createWebhookRouter, WEBHOOK_PATH } from '../src/http/webhooks.js';
import { createLogger } from '../src/log.js';
import { createMetrics } from '../src/metrics.js';
import { createDeliveryDedupe, type DeliveryDedupe } from '../src/queue/deliveries.js';
import { createReconcileQueue, type ReconcileQueue } from '../src/queue/reconcile-queue.js';
import { createTestRedis } from './support/services.js';
import { createTestDatabase } from './support/pg.js';
import { createApprovalStore, type ApprovalStore } from '../src/trust/approvals.js';
import type { TrustDeps } from '../src/trust/intake.js';
import type { WebhookDeps } from '../src/http/webhooks.js';

export const SECRET = 'test-webhook-secret-0123456789';

/**
 * The real Postgres state store, with a tap: it counts the recordDesired calls that
 * reach it (to prove "recorded once") and can be told to fail the next ones the way
 * a dropped connection does (the message carries a password, as pg errors can).
 */
export class TappedStore implements Pick<EnvironmentStore, 'recordDesired' | 'listAwaitingBuild'> {
  readonly calls: { key: EnvironmentKey; input: DesiredInput }[] = [];
  failNext = 0;
  constructor(readonly inner: EnvironmentStore) {}

  async recordDesired(key: EnvironmentKey, input: DesiredInput): Promise<{ accepted: boolean; generation: number }> {
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('connect ECONNREFUSED postgres://previewd:hunter2-db@127.0.0.1:5432/previewd');
    }
    this.calls.push({ key, input });
    return this.inner.recordDesired(key, input);
  }

  listAwaitingBuild(repo: string, sha: string): Promise<EnvironmentKey[]> {
    return this.inner.listAwaitingBuild(repo, sha);
  }

  /** The desired state the store holds for a PR, or null. */
  async desired(repo: string, pr: number): Promise<{ present: boolean; sha: string | null } | null> {
    const record = await this.inner.get({ repo, pr });
    return record ? { present: record.desiredPresent, sha: record.desiredSha } : null;
  }
}

/** One state database per test file; each harness gets its own schema in it. */
export async function createStateDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  return createTestDatabase('previewd_intake');
}

let schemaCounter = 0;

export interface IntakeHarness {
  url: string;
  store: TappedStore;
  queue: ReconcileQueue;
  deliveries: DeliveryDedupe;
  logLines: string[];
  redisPrefix: string;
  /** The fork approvals in the harness's schema. */
  approvals: ApprovalStore;
  /** The state schema of this harness's store. */
  schema: string;
  close(): Promise<void>;
}

export function repoConfig(name: string, overrides: Partial<RepoConfig> = {}): RepoConfig {
  return { ...repoSchema.parse({ name }), ...overrides };
}

export async function startIntake(options: {
  databaseUrl: string;
  repos?: RepoConfig[];
  bodyLimitBytes?: number;
  recordTimeoutMs?: number;
  /** Most desired-state facts per group commit of the store (its default otherwise). */
  desiredBatchMax?: number;
  /** Builds the dedupe (default: over the harness's Redis connection), e.g. over a stalling proxy. */
  deliveries?: (prefix: string) => DeliveryDedupe;
  /** The GitHub client fork trust asks for permissions; without it no fork is approved. */
  trustGitHub?: TrustDeps['github'];
  /** Builds the issue_comment handler from the harness's parts (commands). */
  comments?: (parts: { store: EnvironmentStore; queue: ReconcileQueue; deliveries: DeliveryDedupe; approvals: ApprovalStore; log: ReturnType<typeof createLogger> }) => WebhookDeps['comments'];
}): Promise<IntakeHarness> {
  const redis = await createTestRedis();
  const logLines: string[] = [];
  const log = createLogger({
    level: 'debug',
    destination: new Writable({
      write(chunk, _enc, done) {
        logLines.push(String(chunk));
        done();
      },
    }),
  });
  schemaCounter++;
  const schema = `intake_${process.pid}_${schemaCounter}`;
  const inner = createEnvironmentStore({
    databaseUrl: options.databaseUrl,
    schema,
    log,
    maxConnections: 4,
    ...(options.desiredBatchMax !== undefined ? { desiredBatchMax: options.desiredBatchMax } : {}),
  });
  await inner.migrate();
  const approvals = createApprovalStore({ databaseUrl: options.databaseUrl, schema, log });
  const store = new TappedStore(inner);
  const metrics = createMetrics();
  const queue = createReconcileQueue({ redisUrl: redis.url, prefix: redis.prefix, concurrency: 1, process: async () => undefined, log, metrics });
  const deliveries = options.deliveries?.(redis.prefix) ?? createDeliveryDedupe({ redis: redis.redis, prefix: redis.prefix });
  const app = createApp({
    log,
    routers: [
      createWebhookRouter({
        secret: SECRET,
        repos: options.repos ?? [repoConfig('acme/shop')],
        store,
        queue,
        deliveries,
        log,
        metrics,
        ...(options.bodyLimitBytes !== undefined ? { bodyLimitBytes: options.bodyLimitBytes } : {}),
        ...(options.recordTimeoutMs !== undefined ? { recordTimeoutMs: options.recordTimeoutMs } : {}),
        ...(options.trustGitHub ? { trust: { approvals, github: options.trustGitHub } } : {}),
        ...(options.comments ? { comments: options.comments({ store: inner, queue, deliveries, approvals, log }) } : {}),
      }),
    ],
  });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    store,
    queue,
    deliveries,
    logLines,
    redisPrefix: redis.prefix,
    approvals,
    schema,
    close: async () => {
      await approvals.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await queue.close({ graceMs: 100 });
      await inner.close();
      await redis.cleanup();
    },
  };
}

/** GitHub's signature, computed independently of the code under test: HMAC-SHA256 over the exact bytes sent. */
export async function sign(body: string | Buffer): Promise<string> {
  return `sha256=${createHmac('sha256', SECRET).update(typeof body === 'string' ? Buffer.from(body, 'utf8') : body).digest('hex')}`;
}

let deliveryCounter = 0;
export function newDeliveryId(): string {
  deliveryCounter++;
  return `72d3162e-cc78-11e3-81ab-${String(deliveryCounter).padStart(12, '0')}`;
}

export interface SendOptions {
  event?: string | null;
  delivery?: string | null;
  signature?: string | null;
  /** Sign this text instead of the body (to test a body altered after signing). */
  signedBody?: string;
}

export async function send(url: string, body: string | Buffer, options: SendOptions = {}): Promise<{ status: number; json: Record<string, unknown> }> {
  const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'GitHub-Hookshot/test' };
  const event = options.event === undefined ? 'pull_request' : options.event;
  const delivery = options.delivery === undefined ? newDeliveryId() : options.delivery;
  const signature =
    options.signature === undefined ? await sign(options.signedBody ?? body) : options.signature;
  if (event !== null) headers['x-github-event'] = event;
  if (delivery !== null) headers['x-github-delivery'] = delivery;
  if (signature !== null) headers['x-hub-signature-256'] = signature;
  const response = await fetch(`${url}${WEBHOOK_PATH}`, { method: 'POST', headers, body: typeof body === 'string' ? body : new Uint8Array(body) });
  const text = await response.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = { raw: text };
  }
  return { status: response.status, json };
}

export interface PullRequestOptions {
  action?: string;
  /** The label a `labeled`/`unlabeled` event is about. */
  label?: string;
  /** Who caused the event (default alice, the PR's author). */
  sender?: string;
  number?: number;
  repo?: string;
  sha?: string;
  before?: string;
  updatedAt?: string;
  draft?: boolean;
  labels?: string[];
  headRepo?: string | null;
  /** pull_request.state (default open); a real `closed` event says closed. */
  state?: 'open' | 'closed';
}

export function pullRequestPayload(o: PullRequestOptions = {}): Record<string, unknown> {
  const repo = o.repo ?? 'acme/shop';
  const number = o.number ?? 42;
  const sha = o.sha ?? 'ec26c3e57ca3a959ca5aad62de7213c562f8c821';
  return {
    action: o.action ?? 'opened',
    number,
    ...(o.action === 'synchronize' ? { before: o.before ?? 'f95f852bd8fca8fcc58a9a2d6c842781e32a215e', after: sha } : {}),
    pull_request: {
      id: 279147437,
      number,
      state: o.state ?? 'open',
      draft: o.draft ?? false,
      merged: false,
      title: 'Add {{ helper }} and <script>',
      updated_at: o.updatedAt ?? '2026-03-01T10:00:00Z',
      labels: (o.labels ?? []).map((name, i) => ({ id: i, name, color: 'd73a4a', default: false })),
      user: { login: 'alice', id: 7, type: 'User' },
      head: {
        label: 'alice:feature-x',
        ref: 'feature-x',
        sha,
        repo: o.headRepo === null ? null : { id: 9, full_name: o.headRepo ?? repo, fork: o.headRepo !== undefined && o.headRepo !== repo },
      },
      base: { label: 'acme:main', ref: 'main', sha: 'f95f852bd8fca8fcc58a9a2d6c842781e32a215e', repo: { id: 186853261, full_name: repo, fork: false } },
    },
    repository: { id: 186853261, name: repo.split('/')[1], full_name: repo, owner: { login: repo.split('/')[0] } },
    ...(o.label !== undefined ? { label: { id: 99, name: o.label, color: 'd73a4a', default: false } } : {}),
    sender: { login: o.sender ?? 'alice', id: 7 },
  };
}

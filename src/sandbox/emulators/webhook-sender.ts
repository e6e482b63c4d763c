// Sends GitHub webhooks the way GitHub does: realistic `pull_request` / `ping`
// payloads (shared/contracts/github.md §1), signed with HMAC-SHA256 over the exact
// body bytes, with every delivery header. Builders are pure; `send` does the POST
// and measures it against GitHub's 10 s budget.
import { createHmac, randomUUID } from 'node:crypto';

export type PullRequestAction =
  | 'opened'
  | 'reopened'
  | 'synchronize'
  | 'closed'
  | 'labeled'
  | 'unlabeled'
  | 'ready_for_review'
  | 'converted_to_draft'
  | 'edited'
  | 'assigned';

export interface PullRequestEventInput {
  action: PullRequestAction;
  repo: string; // base repository "owner/name"
  number: number;
  headSha: string;
  headRef?: string;
  baseRef?: string;
  baseSha?: string;
  state?: 'open' | 'closed';
  draft?: boolean;
  merged?: boolean;
  title?: string;
  labels?: string[];
  /** Head repository full name; default = base repo; null = deleted fork. */
  headRepo?: string | null;
  /** synchronize only: the previous head sha (default: a derived sha). */
  before?: string;
  /** labeled/unlabeled: the label added or removed. */
  label?: string;
  sender?: string;
  installationId?: number;
  updatedAt?: string;
}

const GITHUB_DELIVERY_TIMEOUT_MS = 10_000;

function labelObject(name: string, index: number) {
  return { id: 1_362_934_389 + index, node_id: `LA_${index}`, name, color: 'd73a4a', default: false, description: null };
}

function repoObject(fullName: string, id: number, fork: boolean) {
  const [owner = '', name = ''] = fullName.split('/');
  return { id, node_id: `R_${id}`, name, full_name: fullName, private: false, fork, owner: { login: owner, id: id + 1, type: 'User' }, default_branch: 'main' };
}

/** A `pull_request` payload with every field previewd reads. */
export function buildPullRequestPayload(input: PullRequestEventInput): Record<string, unknown> {
  const [owner = ''] = input.repo.split('/');
  const headRepoName = input.headRepo === undefined ? input.repo : input.headRepo;
  const isFork = headRepoName !== null && headRepoName.toLowerCase() !== input.repo.toLowerCase();
  const closed = input.action === 'closed' || input.state === 'closed';
  const merged = closed && (input.merged ?? false);
  const updatedAt = input.updatedAt ?? new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const sender = input.sender ?? 'alice';
  const base = repoObject(input.repo, 186_853_261, false);
  const headOwner = headRepoName?.split('/')[0] ?? 'ghost';
  const pullRequest = {
    url: `https://api.github.com/repos/${input.repo}/pulls/${input.number}`,
    id: 279_147_437 + input.number,
    node_id: `PR_${input.number}`,
    number: input.number,
    state: closed ? 'closed' : 'open',
    locked: false,
    title: input.title ?? `Change ${input.number}`,
    user: { login: sender, id: 7, type: 'User' },
    body: null,
    labels: (input.labels ?? []).map(labelObject),
    created_at: updatedAt,
    updated_at: updatedAt,
    closed_at: closed ? updatedAt : null,
    merged_at: merged ? updatedAt : null,
    merge_commit_sha: merged ? input.headSha : null,
    draft: input.draft ?? false,
    merged,
    author_association: isFork ? 'CONTRIBUTOR' : 'MEMBER',
    head: {
      label: `${headOwner}:${input.headRef ?? `feature-${input.number}`}`,
      ref: input.headRef ?? `feature-${input.number}`,
      sha: input.headSha,
      user: { login: headOwner },
      repo: headRepoName === null ? null : repoObject(headRepoName, isFork ? 9_000_000 + input.number : base.id, isFork),
    },
    base: {
      label: `${owner}:${input.baseRef ?? 'main'}`,
      ref: input.baseRef ?? 'main',
      sha: input.baseSha ?? 'f95f852bd8fca8fcc58a9a2d6c842781e32a215e',
      user: { login: owner },
      repo: base,
    },
  };
  const payload: Record<string, unknown> = {
    action: input.action,
    number: input.number,
    pull_request: pullRequest,
    repository: base,
    sender: { login: sender, id: 7, type: 'User' },
  };
  if (input.action === 'synchronize') {
    payload['before'] = input.before ?? input.headSha.split('').reverse().join('');
    payload['after'] = input.headSha;
  }
  if ((input.action === 'labeled' || input.action === 'unlabeled') && input.label !== undefined) {
    payload['label'] = labelObject(input.label, 99);
  }
  if (input.installationId !== undefined) {
    payload['installation'] = { id: input.installationId, node_id: `MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9u${input.installationId}` };
  }
  return payload;
}

/** `sha256=` + lowercase hex HMAC-SHA256 of the raw body bytes. */
export function signBody(secret: string, body: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export interface WebhookHeaderInput {
  event: string;
  body: string | Buffer;
  /** null = no signature header at all (a hook without a secret, or an attacker). */
  secret: string | null;
  /** Reuse to simulate a redelivery. */
  delivery?: string;
  hookId?: number;
}

export function buildWebhookHeaders(input: WebhookHeaderInput): Record<string, string> {
  const hookId = input.hookId ?? 109_948_940;
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': 'GitHub-Hookshot/a1b2c3d',
    'x-github-event': input.event,
    'x-github-delivery': input.delivery ?? randomUUID(),
    'x-github-hook-id': String(hookId),
    'x-github-hook-installation-target-type': 'repository',
    'x-github-hook-installation-target-id': '186853261',
  };
  if (input.secret !== null) {
    headers['x-hub-signature-256'] = signBody(input.secret, input.body);
    headers['x-hub-signature'] = `sha1=${createHmac('sha1', input.secret).update(input.body).digest('hex')}`;
  }
  return headers;
}

export interface SendInput {
  url: string;
  event: string;
  payload: unknown;
  secret: string | null;
  delivery?: string;
  /** Send these exact bytes instead of JSON.stringify(payload) (e.g. malformed JSON). */
  rawBody?: string | Buffer;
  /** Replace or add headers after signing (e.g. a forged signature). */
  headers?: Record<string, string>;
  timeoutMs?: number;
}

export interface SendResult {
  status: number;
  body: string;
  delivery: string;
  elapsedMs: number;
  /** GitHub marks a delivery failed when it takes longer than 10 s or is not 2xx. */
  withinBudget: boolean;
}

export async function sendWebhook(input: SendInput): Promise<SendResult> {
  const body = input.rawBody ?? JSON.stringify(input.payload);
  const headers = { ...buildWebhookHeaders({ event: input.event, body, secret: input.secret, delivery: input.delivery }), ...(input.headers ?? {}) };
  const delivery = headers['x-github-delivery']!;
  const started = performance.now();
  const res = await fetch(input.url, {
    method: 'POST',
    headers,
    body: typeof body === 'string' ? body : new Uint8Array(body),
    signal: AbortSignal.timeout(input.timeoutMs ?? GITHUB_DELIVERY_TIMEOUT_MS + 1_000),
  });
  const text = await res.text();
  const elapsedMs = performance.now() - started;
  return { status: res.status, body: text, delivery, elapsedMs, withinBudget: elapsedMs <= GITHUB_DELIVERY_TIMEOUT_MS && res.status >= 200 && res.status < 300 };
}

/** Shorthand: a signed `pull_request` delivery. */
export function sendPullRequestEvent(url: string, secret: string, event: PullRequestEventInput, options: { delivery?: string } = {}): Promise<SendResult> {
  return sendWebhook({ url, event: 'pull_request', payload: buildPullRequestPayload(event), secret, delivery: options.delivery });
}

/** Named export expected by callers as `send`. */
export const send = sendWebhook;

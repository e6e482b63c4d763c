// GitHubClient on node-fetch. The only module that knows GitHub's REST JSON.
// Auth is a PAT or a GitHub App (JWT → cached installation token). Errors map to
// previewd's classes: 5xx/network/rate limits → TransientError (with retryAfterMs),
// 409 → ConflictError, other 4xx → UserError, 404 → null/false where the method says so.
import nodeFetch from 'node-fetch';
import type { ZodType } from 'zod';
import { ConflictError, TransientError, unexpectedShapeError, UserError } from '../errors.js';
import { createAppJwt, createInstallationTokenCache } from './app-auth.js';
import * as wire from './schema.js';
import type { CheckRunInput, DeploymentState, EnvironmentDeletion, GitHubCheckRuns, GitHubClient, GitHubDeployment, ListingCache, PullSummary, RepoPermission } from './types.js';
import { REPO_NAME } from './repo-name.js';

export interface FetchResponseLike {
  status: number;
  headers: { get(name: string): string | null };
  text(): Promise<string>;
}
export type FetchLike = (url: string, init: { method: string; headers: Record<string, string>; body?: string; signal?: AbortSignal }) => Promise<FetchResponseLike>;

export type GitHubAuth = { token: string } | { appId: number | string; privateKey: string; installationId?: number };

export interface GitHubClientOptions {
  apiUrl: string;
  auth: GitHubAuth;
  userAgent: string;
  fetch?: FetchLike;
  now?: () => number;
  timeoutMs?: number;
  /** Told GitHub's x-ratelimit-remaining of every answer that carries one (the metrics gauge). */
  onRateLimit?: (remaining: number) => void;
}

const SHA = /^[0-9a-fA-F]{40}$/;
const MAX_DESCRIPTION = 140;
const MAX_PAGES = 200; // a bound against a server that links to itself forever
/** Listings of commits' check runs and statuses kept for conditional requests (LRU). */
const MAX_COMMIT_LISTINGS = 512;
const DEFAULT_SECONDARY_WAIT_MS = 60_000;

interface Answer {
  status: number;
  headers: FetchResponseLike['headers'];
  body: unknown;
}

/** Descriptions over 140 characters are a 422; cut them instead. */
export function truncateDescription(text: string): string {
  const chars = [...text];
  return chars.length <= MAX_DESCRIPTION ? text : `${chars.slice(0, MAX_DESCRIPTION - 1).join('')}…`;
}

/** The URL of rel="next" in a `link` header, or null. */
export function nextLink(link: string | null): string | null {
  if (!link) return null;
  for (const part of link.split(',')) {
    const m = /<([^>]+)>\s*;\s*rel="?([^";]+)"?/.exec(part.trim());
    if (m && m[2]!.split(/\s+/).includes('next')) return m[1]!;
  }
  return null;
}

function repoPath(repo: string): string {
  if (!REPO_NAME.test(repo)) throw new UserError(`invalid repository name ${JSON.stringify(repo.slice(0, 200))}`, { system: 'github' });
  const [owner, name] = repo.split('/') as [string, string];
  return `/repos/${encodeURIComponent(owner)}/${encodeURIComponent(name)}`;
}

function checkSha(sha: string): string {
  if (!SHA.test(sha)) throw new UserError(`invalid commit sha ${JSON.stringify(sha.slice(0, 80))}`, { system: 'github' });
  return sha.toLowerCase();
}

// GitHub logins: alphanumerics and single hyphens, at most 39 characters; an App's bot adds "[bot]".
const LOGIN = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:\[bot\])?$/;
// Environment names previewd makes ("pr-<n>"); GitHub allows more, previewd deletes only these.
const ENVIRONMENT = /^[A-Za-z0-9._-]{1,255}$/;
const ROLES: ReadonlySet<string> = new Set(['admin', 'maintain', 'write', 'triage', 'read', 'none']);

/** role_name when it is a built-in role, else the legacy base `permission` (a custom role inherits one). */
export function permissionOf(answer: { permission: string; role_name?: string | undefined }): RepoPermission {
  if (answer.role_name !== undefined && ROLES.has(answer.role_name)) return answer.role_name as RepoPermission;
  return ROLES.has(answer.permission) ? (answer.permission as RepoPermission) : 'none';
}

function checkId(value: number, what: string): number {
  if (!Number.isSafeInteger(value) || value <= 0) throw new UserError(`invalid ${what} ${String(value)}`, { system: 'github' });
  return value;
}

function messageOf(body: unknown): string {
  const parsed = wire.ErrorBody.safeParse(body);
  if (!parsed.success) return typeof body === 'string' ? body.slice(0, 200) : '';
  const details = (parsed.data.errors ?? [])
    .map((e) => (typeof e === 'string' ? e : typeof e === 'object' && e ? ((e as { message?: string }).message ?? [(e as { field?: string }).field, (e as { code?: string }).code].filter(Boolean).join(' ')) : ''))
    .filter(Boolean);
  return [parsed.data.message ?? '', ...details].filter(Boolean).join('; ').slice(0, 500);
}

export function createGitHubClient(options: GitHubClientOptions): GitHubClient & GitHubCheckRuns {
  const fetchFn: FetchLike = options.fetch ?? (nodeFetch as unknown as FetchLike);
  const now = options.now ?? Date.now;
  const api = options.apiUrl.replace(/\/+$/, '');
  const origin = new URL(api).origin;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const auth = options.auth;
  const app = 'appId' in auth ? { appId: auth.appId, privateKey: auth.privateKey, installationId: auth.installationId } : null;
  const installationIds = new Map<string, Promise<number>>();
  let ownLogin: Promise<string> | null = null;
  /** Repos where this token may not delete environments: asked once per process, not on every removal. */
  const environmentsForbidden = new Set<string>();

  const tokens = createInstallationTokenCache(async (installationId) => {
    const answer = await send('POST', `/app/installations/${installationId}/access_tokens`, { credential: jwt() });
    const parsed = expect2xx(answer, 'create installation token', wire.AccessToken);
    const expiresAt = Date.parse(parsed.expires_at);
    if (Number.isNaN(expiresAt)) throw new TransientError('github create installation token: unreadable expires_at', { system: 'github' });
    return { token: parsed.token, expiresAt };
  }, now);

  function jwt(): string {
    // Config decides the auth mode and previewd asks for an app JWT only in app mode:
    // reaching this is a bug in previewd, so a plain Error (the queue parks it as one).
    if (!app) throw new Error('app JWT requested without app credentials');
    return createAppJwt(app.appId, app.privateKey, now());
  }

  /** One HTTP exchange; never throws for HTTP statuses, only for the network. */
  async function send(method: string, pathOrUrl: string, init: { credential: string; body?: unknown; ifNoneMatch?: string }): Promise<Answer> {
    const url = pathOrUrl.startsWith('http') ? pathOrUrl : `${api}${pathOrUrl}`;
    const headers: Record<string, string> = {
      Accept: 'application/vnd.github+json',
      Authorization: `Bearer ${init.credential}`,
      'X-GitHub-Api-Version': '2022-11-28',
      'User-Agent': options.userAgent,
    };
    if (init.body !== undefined) headers['Content-Type'] = 'application/json';
    if (init.ifNoneMatch !== undefined) headers['If-None-Match'] = init.ifNoneMatch;
    let response: FetchResponseLike;
    let text: string;
    try {
      response = await fetchFn(url, { method, headers, body: init.body === undefined ? undefined : JSON.stringify(init.body), signal: AbortSignal.timeout(timeoutMs) });
      text = await response.text();
    } catch (err) {
      // Keep only the code: fetch errors can carry the request (and so the token).
      const code = (err as { code?: string; name?: string } | null)?.code ?? (err as { name?: string } | null)?.name ?? 'network error';
      throw new TransientError(`github ${method} ${new URL(url).pathname}: unreachable (${code})`, { system: 'github', code, cause: new Error(String(code)) });
    }
    const remaining = response.headers.get('x-ratelimit-remaining');
    if (options.onRateLimit && remaining !== null && /^\d+$/.test(remaining)) options.onRateLimit(Number(remaining));
    let body: unknown = text;
    if (text !== '') {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    }
    return { status: response.status, headers: response.headers, body };
  }

  function failure(answer: Answer, what: string): Error {
    const { status, headers } = answer;
    const message = messageOf(answer.body);
    const text = `github ${what}: ${status}${message ? ` ${message}` : ''}`;
    const retryAfter = Number(headers.get('retry-after'));
    const retryAfterMs = Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined;
    const remaining = headers.get('x-ratelimit-remaining');
    const rateLimited = status === 429 || (status === 403 && (remaining === '0' || /rate limit/i.test(message)));
    if (rateLimited) {
      let wait = retryAfterMs;
      if (wait === undefined && remaining === '0') {
        const reset = Number(headers.get('x-ratelimit-reset'));
        if (Number.isFinite(reset) && reset > 0) wait = Math.max(1000, reset * 1000 - now());
      }
      return new TransientError(text, { system: 'github', status, retryAfterMs: wait ?? DEFAULT_SECONDARY_WAIT_MS });
    }
    if (status >= 500) return new TransientError(text, { system: 'github', status, retryAfterMs });
    if (status === 409) return new ConflictError(text, { system: 'github', status });
    // 4xx that is not a rate limit or a conflict (422 "No ref found", 404, 403 without a
    // rate limit) answers the same next time: permanent.
    return new UserError(text, { system: 'github', status });
  }

  function parse<T>(answer: Answer, what: string, schema: ZodType<T>): T {
    const parsed = schema.safeParse(answer.body);
    if (!parsed.success) throw unexpectedShapeError('github', what, parsed.error.issues);
    return parsed.data;
  }

  function expect2xx<T>(answer: Answer, what: string, schema: ZodType<T>): T {
    if (answer.status < 200 || answer.status >= 300) throw failure(answer, what);
    return parse(answer, what, schema);
  }

  async function installationIdFor(repo: string): Promise<number> {
    if (app?.installationId !== undefined) return app.installationId;
    const key = repo.toLowerCase();
    let pending = installationIds.get(key);
    if (!pending) {
      pending = (async () => {
        const answer = await send('GET', `${repoPath(repo)}/installation`, { credential: jwt() });
        return expect2xx(answer, `find installation of ${repo}`, wire.Installation).id;
      })();
      installationIds.set(key, pending);
      pending.catch(() => installationIds.delete(key));
    }
    return pending;
  }

  /** A request on a repository as previewd (PAT or installation token); retries once after a refused token. */
  async function call(method: string, repo: string, pathOrUrl: string, body?: unknown, ifNoneMatch?: string): Promise<Answer> {
    const extra = ifNoneMatch === undefined ? {} : { ifNoneMatch };
    if (!app) return send(method, pathOrUrl, { credential: (auth as { token: string }).token, body, ...extra });
    const installationId = await installationIdFor(repo);
    const answer = await send(method, pathOrUrl, { credential: await tokens.get(installationId), body, ...extra });
    if (answer.status !== 401) return answer;
    tokens.invalidate(installationId); // revoked or expired early: fetch a new one, once
    return send(method, pathOrUrl, { credential: await tokens.get(installationId), body, ...extra });
  }

  /**
   * Every page of a listing. With a cache, each page is a conditional request
   * (GitHub docs, "Best practices for using the REST API: use conditional requests"):
   * a 304 is answered from the page kept, and costs no rate limit. Pages no longer
   * linked are dropped from the cache, so it holds one listing's worth at most.
   */
  // The build gate reads a waiting SHA's checks and statuses every poll: conditional
  // requests (a 304 costs no rate limit) from the pages kept per listing, for the most
  // recently read listings only (one per waiting SHA and kind).
  const commitListings = new Map<string, ListingCache>();
  function commitListing(path: string): ListingCache {
    const cache = commitListings.get(path) ?? new Map();
    commitListings.delete(path);
    commitListings.set(path, cache);
    if (commitListings.size > MAX_COMMIT_LISTINGS) commitListings.delete(commitListings.keys().next().value!);
    return cache;
  }

  async function listAll<T>(repo: string, path: string, what: string, schema: ZodType<T[]>, cache?: ListingCache): Promise<{ items: T[]; notModified: boolean }> {
    const items: T[] = [];
    let notModified = true;
    const visited = new Set<string>();
    let url: string | null = `${api}${path}`;
    for (let page = 0; url !== null; page++) {
      if (page >= MAX_PAGES) throw new TransientError(`github ${what}: more than ${MAX_PAGES} pages`, { system: 'github' });
      const current: string = url;
      const kept = cache?.get(current);
      visited.add(current);
      const answer = await call('GET', repo, current, undefined, kept?.etag);
      let next: string | null;
      if (answer.status === 304 && kept) {
        items.push(...parse({ ...answer, body: kept.body }, what, schema));
        next = kept.next;
      } else {
        notModified = false;
        items.push(...expect2xx(answer, what, schema));
        next = nextLink(answer.headers.get('link'));
        const etag = answer.headers.get('etag');
        if (cache) {
          if (etag) cache.set(current, { etag, body: answer.body, next });
          else cache.delete(current);
        }
      }
      // Never send our token to another host, whatever a link header says.
      if (next !== null && new URL(next).origin !== origin) throw new UserError(`github ${what}: pagination link leaves ${origin}`, { system: 'github' });
      url = next;
    }
    if (cache) for (const seen of [...cache.keys()]) if (!visited.has(seen)) cache.delete(seen);
    return { items, notModified: cache !== undefined && notModified };
  }

  /** Our own comments carrying `marker`, oldest first (ids grow with creation). */
  async function ourComments(repo: string, pr: number, marker: string): Promise<{ id: number; body: string }[]> {
    if (marker.trim() === '') throw new UserError('empty comment marker', { system: 'github' });
    const me = (await login(repo)).toLowerCase();
    const { items: comments } = await listAll(repo, `${repoPath(repo)}/issues/${checkId(pr, 'pull number')}/comments?per_page=100`, `list comments in ${repo}#${pr}`, wire.Comments);
    // Author check first: anyone can post a comment that quotes our marker.
    return comments
      .filter((c) => c.user?.login.toLowerCase() === me && (c.body ?? '').includes(marker))
      .map((c) => ({ id: c.id, body: c.body ?? '' }))
      .sort((a, b) => a.id - b.id);
  }

  async function login(repo: string): Promise<string> {
    if (!ownLogin) {
      ownLogin = (async () => {
        if (app) {
          const answer = await send('GET', '/app', { credential: jwt() });
          return `${expect2xx(answer, 'read app', wire.App).slug}[bot]`;
        }
        return expect2xx(await call('GET', repo, '/user'), 'read user', wire.User).login;
      })();
      ownLogin.catch(() => {
        ownLogin = null;
      });
    }
    return ownLogin;
  }

  function toSummary(p: wire.PullWire): PullSummary {
    const summary: PullSummary = {
      number: p.number,
      state: p.state,
      draft: p.draft ?? false,
      headSha: p.head.sha,
      baseRef: p.base.ref,
      headRepoFullName: p.head.repo?.full_name ?? null,
      labels: p.labels.map((l) => l.name),
      updatedAt: p.updated_at,
      merged: p.merged ?? (p.merged_at !== null && p.merged_at !== undefined),
    };
    // GitHub caps titles at 256 characters; git refs in practice at 255 bytes (as webhook-payload.ts).
    if (p.title !== undefined) summary.title = p.title.slice(0, 256);
    if (p.head.ref !== undefined) summary.headRef = p.head.ref.slice(0, 255);
    return summary;
  }

  const toDeployment = (d: { id: number; sha: string; environment: string; created_at: string }): GitHubDeployment => ({ id: d.id, sha: d.sha, environment: d.environment, createdAt: d.created_at });

  /** The check run body GitHub takes (docs.github.com/en/rest/checks/runs#create-a-check-run). */
  function checkRunBody(input: CheckRunInput): Record<string, unknown> {
    const body: Record<string, unknown> = { status: input.status };
    if (input.conclusion !== undefined) body['conclusion'] = input.conclusion;
    if (input.output) body['output'] = { title: input.output.title.slice(0, 255), summary: input.output.summary.slice(0, 65535) };
    if (input.detailsUrl !== undefined) body['details_url'] = input.detailsUrl;
    return body;
  }

  return {
    writesCheckRuns: app !== null,

    async createCheckRun(repo, sha, name, input) {
      const answer = await call('POST', repo, `${repoPath(repo)}/check-runs`, { name, head_sha: checkSha(sha), ...checkRunBody(input) });
      return { id: expect2xx(answer, `create check run in ${repo}`, wire.CheckRun).id };
    },

    async updateCheckRun(repo, id, input) {
      const answer = await call('PATCH', repo, `${repoPath(repo)}/check-runs/${checkId(id, 'check run id')}`, checkRunBody(input));
      if (answer.status === 404) return false;
      if (answer.status < 200 || answer.status >= 300) throw failure(answer, `update check run in ${repo}`);
      return true;
    },

    async createDeployment(repo, input) {
      const base = repoPath(repo);
      const answer = await call('POST', repo, `${base}/deployments`, {
        ref: input.ref,
        task: 'deploy',
        environment: input.environment,
        description: truncateDescription(input.description),
        transient_environment: true,
        production_environment: false,
        auto_merge: false,
        required_contexts: [],
        payload: input.payload,
      });
      if (answer.status === 202) {
        // Only happens with auto_merge; the ref moved, so observe again.
        throw new ConflictError(`github create deployment in ${repo}: ${messageOf(answer.body) || 'ref was merged'}`, { system: 'github' });
      }
      return toDeployment(expect2xx(answer, `create deployment in ${repo}`, wire.Deployment));
    },

    async listDeployments(repo, opts) {
      const q = new URLSearchParams({ environment: opts.environment, per_page: '100' });
      if (opts.sha) q.set('sha', checkSha(opts.sha));
      const { items: all } = await listAll(repo, `${repoPath(repo)}/deployments?${q.toString()}`, `list deployments in ${repo}`, wire.Deployments);
      return all.map(toDeployment).sort((a, b) => b.id - a.id);
    },

    async createDeploymentStatus(repo, deploymentId, input) {
      const body: Record<string, unknown> = { state: input.state, description: truncateDescription(input.description) };
      if (input.environmentUrl !== undefined) body['environment_url'] = input.environmentUrl;
      if (input.logUrl !== undefined) body['log_url'] = input.logUrl;
      if (input.environment !== undefined) body['environment'] = input.environment;
      const answer = await call('POST', repo, `${repoPath(repo)}/deployments/${checkId(deploymentId, 'deployment id')}/statuses`, body);
      if (answer.status < 200 || answer.status >= 300) throw failure(answer, `create deployment status in ${repo}`);
    },

    async getLatestDeploymentState(repo, deploymentId): Promise<DeploymentState | null> {
      const answer = await call('GET', repo, `${repoPath(repo)}/deployments/${checkId(deploymentId, 'deployment id')}/statuses?per_page=1`);
      if (answer.status === 404) return null;
      return expect2xx(answer, `list deployment statuses in ${repo}`, wire.DeploymentStatuses)[0]?.state ?? null;
    },

    async createCommitStatus(repo, sha, input) {
      const body: Record<string, unknown> = { state: input.state, description: truncateDescription(input.description), context: input.context };
      if (input.targetUrl !== undefined) body['target_url'] = input.targetUrl;
      const answer = await call('POST', repo, `${repoPath(repo)}/statuses/${checkSha(sha)}`, body);
      if (answer.status < 200 || answer.status >= 300) throw failure(answer, `create commit status in ${repo}`);
    },

    findComments: ourComments,

    async findComment(repo, pr, marker) {
      return (await ourComments(repo, pr, marker))[0] ?? null;
    },

    async createComment(repo, pr, body) {
      const answer = await call('POST', repo, `${repoPath(repo)}/issues/${checkId(pr, 'pull number')}/comments`, { body });
      return { id: expect2xx(answer, `create comment in ${repo}#${pr}`, wire.Comment).id };
    },

    async deleteComment(repo, commentId) {
      const answer = await call('DELETE', repo, `${repoPath(repo)}/issues/comments/${checkId(commentId, 'comment id')}`);
      // 204 No Content; 404 means it is already gone, which is what was asked.
      if (answer.status === 404) return;
      if (answer.status < 200 || answer.status >= 300) throw failure(answer, `delete comment in ${repo}`);
    },

    async updateComment(repo, commentId, body) {
      const answer = await call('PATCH', repo, `${repoPath(repo)}/issues/comments/${checkId(commentId, 'comment id')}`, { body });
      if (answer.status === 404) return false;
      expect2xx(answer, `update comment in ${repo}`, wire.Comment);
      return true;
    },

    async listOpenPulls(repo, cache) {
      const { items, notModified } = await listAll(repo, `${repoPath(repo)}/pulls?state=open&per_page=100`, `list pulls in ${repo}`, wire.Pulls, cache);
      return { pulls: items.map(toSummary), notModified };
    },

    async listCheckRuns(repo, ref) {
      // docs.github.com/en/rest/checks/runs#list-check-runs-for-a-git-reference (per_page max 100, link pagination).
      const path = `${repoPath(repo)}/commits/${checkSha(ref)}/check-runs?filter=latest&per_page=100`;
      const { items } = await listAll(repo, path, `list check runs in ${repo}`, wire.CheckRunsPage, commitListing(path));
      return items.map((c) => ({ id: c.id, name: c.name, status: c.status, conclusion: c.conclusion }));
    },

    async listCommitStatuses(repo, ref) {
      // docs.github.com/en/rest/commits/statuses#get-the-combined-status-for-a-specific-reference.
      const path = `${repoPath(repo)}/commits/${checkSha(ref)}/status?per_page=100`;
      const { items } = await listAll(repo, path, `read combined status in ${repo}`, wire.CombinedStatusPage, commitListing(path));
      return items.map((s) => ({ context: s.context, state: s.state }));
    },

    async getPull(repo, pr) {
      const answer = await call('GET', repo, `${repoPath(repo)}/pulls/${checkId(pr, 'pull number')}`);
      if (answer.status === 404) return null;
      return toSummary(expect2xx(answer, `read pull ${repo}#${pr}`, wire.Pull));
    },

    async getPermission(repo, login): Promise<RepoPermission> {
      // The login comes from a webhook (attacker-chosen): a malformed one has no rights here.
      if (!LOGIN.test(login)) return 'none';
      const answer = await call('GET', repo, `${repoPath(repo)}/collaborators/${encodeURIComponent(login)}/permission`);
      if (answer.status === 404) return 'none';
      return permissionOf(expect2xx(answer, `read permission in ${repo}`, wire.CollaboratorPermission));
    },

    async createReaction(repo, commentId, content) {
      const answer = await call('POST', repo, `${repoPath(repo)}/issues/comments/${checkId(commentId, 'comment id')}/reactions`, { content });
      expect2xx(answer, `react to a comment in ${repo}`, wire.Reaction);
    },

    async addLabels(repo, pr, labels) {
      const answer = await call('POST', repo, `${repoPath(repo)}/issues/${checkId(pr, 'pull number')}/labels`, { labels });
      expect2xx(answer, `add labels in ${repo}#${pr}`, wire.Labels);
    },

    async deleteEnvironment(repo, name): Promise<EnvironmentDeletion> {
      if (!ENVIRONMENT.test(name)) throw new UserError(`invalid environment name ${JSON.stringify(name.slice(0, 80))}`, { system: 'github' });
      if (environmentsForbidden.has(repo.toLowerCase())) return 'skipped';
      const answer = await call('DELETE', repo, `${repoPath(repo)}/environments/${encodeURIComponent(name)}`);
      if (answer.status === 204 || (answer.status >= 200 && answer.status < 300)) return 'deleted';
      if (answer.status === 404) return 'absent';
      // Deleting an environment needs admin rights (App: administration write); a rate limit is not that.
      const err = failure(answer, `delete environment in ${repo}`);
      if (answer.status === 403 && err instanceof UserError) {
        environmentsForbidden.add(repo.toLowerCase());
        return 'forbidden';
      }
      throw err;
    },
  };
}

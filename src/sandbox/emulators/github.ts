// GitHub REST emulator: the endpoints previewd calls (deployments and their statuses,
// commit statuses, issue comments, pulls) plus both ways to authenticate (a PAT, or a
// GitHub App's RS256 JWT exchanged for a one-hour installation token), built from
// shared/contracts/github.md. Tests create repos and PRs through the helpers; the
// emulator answers with GitHub's status codes, JSON error bodies, `link` pagination
// and rate-limit headers, and has knobs for primary and secondary rate limits.
import { createHash, createPublicKey, generateKeyPairSync, randomBytes, verify, type KeyObject } from 'node:crypto';
import { ADMIN_ROLE, hookJson, mayListHooks, scopesHeader, type Hook, type HookInput, type RepoRole } from './github-admin.js';
import { startEmulator, type Emulator, type EmulatorRequest, type EmulatorResponse } from './harness.js';

const DOCS = 'https://docs.github.com/rest';
const DEPLOYMENT_STATES = new Set(['error', 'failure', 'inactive', 'in_progress', 'queued', 'pending', 'success']);
const COMMIT_STATES = new Set(['pending', 'success', 'failure', 'error']);
const CHECK_CONCLUSIONS = new Set(['action_required', 'cancelled', 'failure', 'neutral', 'success', 'skipped', 'timed_out']);
const MAX_DESCRIPTION = 140;
const MAX_COMMENT = 65_536;
const MAX_STATUSES_PER_CONTEXT = 1000;
// docs.github.com/rest/reactions/reactions#about-reactions: the eight reaction types.
const REACTIONS = new Set(['+1', '-1', 'laugh', 'confused', 'heart', 'hooray', 'rocket', 'eyes']);
/** Built-in repository roles, highest first (docs.github.com/organizations/…/repository-roles-for-an-organization). */
export type CollaboratorRole = 'admin' | 'maintain' | 'write' | 'triage' | 'read';
// The legacy `permission` of each role: maintain reads as write, triage as read
// (docs.github.com/rest/collaborators/collaborators#get-repository-permissions-for-a-user).
const LEGACY_PERMISSION: Record<CollaboratorRole, string> = { admin: 'admin', maintain: 'write', write: 'write', triage: 'read', read: 'read' };

export interface GitHubAppOptions {
  appId: number;
  slug: string;
  installationId: number;
  /** The App's webhook URL (GET /app/hook/config). */
  webhookUrl?: string;
  /** The app's private key; the emulator derives the public key to verify JWTs. */
  privateKeyPem?: string;
  publicKey?: string | KeyObject;
}

export interface GitHubEmulatorOptions {
  /** A PAT accepted for `login` (default user "previewd-bot"). */
  token?: string;
  login?: string;
  /** The PAT's classic scopes, sent as X-OAuth-Scopes (default: repo); null = a fine-grained PAT (no header). */
  scopes?: string[] | null;
  app?: GitHubAppOptions;
  now?: () => number;
  port?: number;
}

export interface PullInput {
  number?: number;
  headSha: string;
  headRef?: string;
  baseRef?: string;
  baseSha?: string;
  title?: string;
  draft?: boolean;
  labels?: string[];
  author?: string;
  /** Head repository full name for a fork PR; null = the fork was deleted. Default: the base repo. */
  headRepo?: string | null;
}

interface Pull {
  number: number;
  state: 'open' | 'closed';
  draft: boolean;
  title: string;
  author: string;
  labels: string[];
  headRef: string;
  headSha: string;
  headRepo: string | null;
  baseRef: string;
  baseSha: string;
  createdAt: number;
  updatedAt: number;
  closedAt: number | null;
  mergedAt: number | null;
}

interface Actor {
  login: string;
  id: number;
  type: 'User' | 'Bot';
}

export interface DeploymentStatusRecord {
  id: number;
  state: string;
  description: string;
  environment: string;
  environmentUrl: string;
  logUrl: string;
  targetUrl: string;
  creator: string;
  createdAt: number;
}

export interface DeploymentRecord {
  id: number;
  sha: string;
  ref: string;
  task: string;
  payload: unknown;
  originalEnvironment: string;
  environment: string;
  description: string | null;
  transient: boolean;
  production: boolean;
  creator: string;
  createdAt: number;
  /** Oldest first. */
  statuses: DeploymentStatusRecord[];
}

export interface CommitStatusRecord {
  id: number;
  state: string;
  context: string;
  description: string | null;
  targetUrl: string | null;
  creator: string;
  createdAt: number;
}

/** A check run (GitHub REST "Check runs"; the emulator keeps what a listing shows). */
export interface CheckRunRecord {
  id: number;
  headSha: string;
  name: string;
  status: 'queued' | 'in_progress' | 'completed' | 'waiting' | 'requested' | 'pending';
  conclusion: 'action_required' | 'cancelled' | 'failure' | 'neutral' | 'success' | 'skipped' | 'stale' | 'timed_out' | null;
  startedAt: number;
  completedAt: number | null;
  appSlug: string;
  output?: { title: string; summary: string; text: string | null } | null;
  detailsUrl?: string | null;
  externalId?: string;
}

export interface ReactionRecord {
  id: number;
  commentId: number;
  content: string;
  user: string;
  createdAt: number;
}

export interface CommentRecord {
  id: number;
  issue: number;
  body: string;
  user: Actor;
  createdAt: number;
  updatedAt: number;
}

interface Repo {
  id: number;
  owner: string;
  name: string;
  fullName: string;
  defaultBranch: string;
  branches: Map<string, { sha: string; behindDefault: boolean }>;
  commits: Set<string>;
  pulls: Map<number, Pull>;
  deployments: DeploymentRecord[];
  statuses: Map<string, CommitStatusRecord[]>;
  checkRuns: CheckRunRecord[];
  comments: CommentRecord[];
  hooks: Hook[];
  /** Roles of other users, by lowercased login (GET …/collaborators/{u}/permission). */
  collaborators: Map<string, CollaboratorRole>;
  reactions: ReactionRecord[];
  /** Deployment environments, created by the first deployment naming one (GitHub does the same). */
  environments: Set<string>;
  /** What the PAT's user may do here (GET /repos `permissions`). */
  role: RepoRole;
}

type Caller =
  | { kind: 'user'; actor: Actor }
  | { kind: 'installation'; actor: Actor; repos: Set<string> | null; installationId: number }
  | { kind: 'app' };

export interface RateLimitKnobs {
  limit: number;
  remaining: number;
  /** epoch seconds */
  reset: number;
  /** status when the primary limit is exhausted */
  exceededStatus: 403 | 429;
}

export interface GitHubEmulator extends Emulator {
  readonly rateLimit: RateLimitKnobs;
  /** Permissions the App installation has (route checks use them). */
  readonly appPermissions: Record<string, 'read' | 'write'>;
  /** The next `times` authenticated requests hit a secondary rate limit. */
  secondaryLimit(options?: { status?: 403 | 429; retryAfterSec?: number; times?: number }): void;
  addRepo(fullName: string, options?: { defaultBranch?: string }): void;
  /** A repository webhook (what `GET /repos/{o}/{r}/hooks` lists). */
  addHook(repo: string, hook: HookInput): void;
  /** The PAT user's role on a repository (default: admin). */
  setRole(repo: string, role: Partial<RepoRole>): void;
  /** The PAT's classic scopes; null makes it a fine-grained token (no X-OAuth-Scopes). */
  setScopes(scopes: string[] | null): void;
  addBranch(repo: string, branch: string, sha: string, options?: { behindDefault?: boolean }): void;
  addCommit(repo: string, sha: string): void;
  openPull(repo: string, input: PullInput): number;
  updatePull(repo: string, number: number, patch: Partial<Omit<PullInput, 'number'>>): void;
  closePull(repo: string, number: number, options?: { merged?: boolean }): void;
  /** Adds a PAT for another user (e.g. a human quoting previewd's marker). */
  addUser(token: string, login: string): void;
  /** A user's role on a repository (GET …/collaborators/{u}/permission); null removes it. */
  setCollaborator(repo: string, login: string, role: CollaboratorRole | null): void;
  /** Reactions on an issue comment, oldest first. */
  reactions(repo: string, commentId: number): ReactionRecord[];
  /** The repository's deployment environments by name. */
  environments(repo: string): string[];
  /** Posts a comment directly, as any login. */
  addComment(repo: string, pr: number, input: { body: string; login: string; type?: 'User' | 'Bot' }): number;
  pull(repo: string, number: number): Record<string, unknown> | null;
  deployments(repo: string): DeploymentRecord[];
  comments(repo: string, pr: number): CommentRecord[];
  commitStatuses(repo: string, sha: string): CommitStatusRecord[];
  /**
   * Creates a check run on `sha` (as a CI app does; a re-run is a new one with the same
   * name), or with `id` updates that run's status and conclusion. Returns its id.
   */
  setCheckRun(repo: string, sha: string, input: { name: string; status: CheckRunRecord['status']; conclusion?: CheckRunRecord['conclusion']; id?: number; appSlug?: string }): number;
  /** Adds a commit status as another integration would (a CI context). */
  addCommitStatus(repo: string, sha: string, input: { context: string; state: 'pending' | 'success' | 'failure' | 'error'; description?: string }): void;
  checkRuns(repo: string, sha: string): CheckRunRecord[];
  /** How many installation tokens were issued (to test caching). */
  readonly installationTokensIssued: number;
  /** How many conditional requests were answered 304 Not Modified. */
  readonly notModifiedAnswers: number;
}

/** An RSA key pair for a test GitHub App. */
export function generateAppKeyPair(): { privateKeyPem: string; publicKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const isoSec = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');

function json(status: number, body: unknown, headers: Record<string, string> = {}): EmulatorResponse {
  return { status, body, headers: { 'content-type': 'application/json; charset=utf-8', ...headers } };
}

function error(status: number, message: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}): EmulatorResponse {
  return json(status, { message, ...extra, documentation_url: DOCS, status: String(status) }, headers);
}

const notFound = () => error(404, 'Not Found');
const validation = (errors: Record<string, unknown>[]) => error(422, 'Validation Failed', { errors });

export async function startGitHubEmulator(options: GitHubEmulatorOptions = {}): Promise<GitHubEmulator> {
  const now = options.now ?? Date.now;
  let nextId = 1000;
  const id = () => ++nextId;
  const repos = new Map<string, Repo>();
  const users = new Map<string, Actor>();
  if (options.token) users.set(options.token, { login: options.login ?? 'previewd-bot', id: id(), type: 'User' });
  let scopes: string[] | null = options.scopes === undefined ? ['repo'] : options.scopes;
  const installationTokens = new Map<string, { expiresAt: number; repos: Set<string> | null; installationId: number }>();
  let tokensIssued = 0;
  const app = options.app;
  const appKey: KeyObject | null = app
    ? app.publicKey
      ? typeof app.publicKey === 'string'
        ? createPublicKey(app.publicKey)
        : app.publicKey
      : app.privateKeyPem
        ? createPublicKey(app.privateKeyPem)
        : null
    : null;
  if (app && !appKey) throw new Error('github emulator: app needs privateKeyPem or publicKey');
  const botActor: Actor | null = app ? { login: `${app.slug}[bot]`, id: id(), type: 'Bot' } : null;
  const appPermissions: Record<string, 'read' | 'write'> = {
    deployments: 'write',
    statuses: 'write',
    checks: 'read',
    pull_requests: 'write',
    issues: 'write',
    metadata: 'read',
  };
  const rateLimit: RateLimitKnobs = { limit: 5000, remaining: 5000, reset: Math.floor(now() / 1000) + 3600, exceededStatus: 403 };
  let secondary: { status: 403 | 429; retryAfterSec: number; times: number } | null = null;
  let baseUrl = '';

  const repoKey = (fullName: string) => fullName.toLowerCase();
  function getRepo(fullName: string): Repo {
    const r = repos.get(repoKey(fullName));
    if (!r) throw new Error(`github emulator: unknown repo ${fullName}`);
    return r;
  }

  // --- auth -----------------------------------------------------------------

  function verifyJwt(token: string): Caller | EmulatorResponse {
    const undecodable = error(401, 'A JSON web token could not be decoded');
    if (!app || !appKey) return undecodable;
    const [h, p, s] = token.split('.');
    if (!h || !p || !s) return undecodable;
    let header: Record<string, unknown>;
    let claims: Record<string, unknown>;
    try {
      header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as Record<string, unknown>;
      claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Record<string, unknown>;
    } catch {
      return undecodable;
    }
    if (header['alg'] !== 'RS256') return undecodable;
    if (!verify('RSA-SHA256', Buffer.from(`${h}.${p}`), appKey, Buffer.from(s, 'base64url'))) return undecodable;
    const nowSec = Math.floor(now() / 1000);
    const iat = claims['iat'];
    const exp = claims['exp'];
    if (typeof iat !== 'number' || !Number.isInteger(iat) || iat > nowSec) {
      return error(401, "'Issued at' claim ('iat') must be an Integer representing a time in the past.");
    }
    if (typeof exp !== 'number' || exp <= nowSec) {
      return error(401, "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires.");
    }
    if (exp > nowSec + 600) return error(401, "'Expiration time' claim ('exp') is too far in the future.");
    if (String(claims['iss']) !== String(app.appId)) return error(401, "'Issuer' claim ('iss') must be an Integer.");
    return { kind: 'app' };
  }

  function authenticate(req: EmulatorRequest): Caller | EmulatorResponse | null {
    const header = req.headers['authorization'];
    if (typeof header !== 'string' || header.trim() === '') return null;
    const m = /^(?:bearer|token)\s+(\S+)$/i.exec(header.trim());
    if (!m) return error(401, 'Bad credentials');
    const token = m[1]!;
    if (token.split('.').length === 3 && token.startsWith('eyJ')) return verifyJwt(token);
    const inst = installationTokens.get(token);
    if (inst) {
      if (inst.expiresAt <= now()) return error(401, 'Bad credentials');
      return { kind: 'installation', actor: botActor!, repos: inst.repos, installationId: inst.installationId };
    }
    const user = users.get(token);
    if (user) return { kind: 'user', actor: user };
    return error(401, 'Bad credentials');
  }

  /** Whether the request being answered was counted against the primary rate limit. */
  let charged = false;
  let notModifiedCount = 0;

  function rateHeaders(): Record<string, string> {
    return {
      'x-ratelimit-limit': String(rateLimit.limit),
      'x-ratelimit-remaining': String(Math.max(0, rateLimit.remaining)),
      'x-ratelimit-used': String(Math.max(0, rateLimit.limit - rateLimit.remaining)),
      'x-ratelimit-reset': String(rateLimit.reset),
      'x-ratelimit-resource': 'core',
      'x-github-request-id': randomBytes(8).toString('hex').toUpperCase(),
      'x-github-api-version-selected': '2022-11-28',
    };
  }

  // --- pagination -----------------------------------------------------------

  function paginate<T>(req: EmulatorRequest, items: T[]): { page: T[]; headers: Record<string, string> } | EmulatorResponse {
    const perRaw = req.query.get('per_page');
    const pageRaw = req.query.get('page');
    const perPage = perRaw === null ? 30 : Math.min(100, Math.max(1, Number.parseInt(perRaw, 10) || 30));
    const page = pageRaw === null ? 1 : Math.max(1, Number.parseInt(pageRaw, 10) || 1);
    const last = Math.max(1, Math.ceil(items.length / perPage));
    const slice = items.slice((page - 1) * perPage, page * perPage);
    const headers: Record<string, string> = {};
    if (items.length > perPage) {
      const link = (p: number, rel: string) => {
        const q = new URLSearchParams(req.query);
        q.set('per_page', String(perPage));
        q.set('page', String(p));
        return `<${baseUrl}${req.path}?${q.toString()}>; rel="${rel}"`;
      };
      const parts: string[] = [];
      if (page > 1) parts.push(link(page - 1, 'prev'));
      if (page < last) parts.push(link(page + 1, 'next'), link(last, 'last'));
      if (page > 1) parts.push(link(1, 'first'));
      if (parts.length > 0) headers['link'] = parts.join(', ');
    }
    return { page: slice, headers };
  }

  function paged<T>(req: EmulatorRequest, items: T[], render: (item: T) => unknown): EmulatorResponse {
    const result = paginate(req, items);
    if ('status' in result) return result;
    return json(200, result.page.map(render), result.headers);
  }

  // --- JSON shapes ----------------------------------------------------------

  const userJson = (a: Actor) => ({ login: a.login, id: a.id, node_id: `U_${a.id}`, type: a.type, site_admin: false });
  const repoUrl = (r: Repo) => `${baseUrl}/repos/${r.fullName}`;
  const repoJson = (r: Repo) => ({
    id: r.id,
    node_id: `R_${r.id}`,
    name: r.name,
    full_name: r.fullName,
    private: true,
    owner: { login: r.owner, id: r.id + 1, type: 'Organization' },
    fork: false,
    default_branch: r.defaultBranch,
    url: repoUrl(r),
  });

  function pullJson(r: Repo, p: Pull, full: boolean): Record<string, unknown> {
    const headRepo = p.headRepo === null ? null : p.headRepo.toLowerCase() === r.fullName.toLowerCase() ? repoJson(r) : {
      id: 9_000_000 + p.number,
      name: p.headRepo.split('/')[1],
      full_name: p.headRepo,
      fork: true,
      owner: { login: p.headRepo.split('/')[0] },
    };
    const body: Record<string, unknown> = {
      url: `${repoUrl(r)}/pulls/${p.number}`,
      id: r.id * 10_000 + p.number,
      node_id: `PR_${p.number}`,
      number: p.number,
      state: p.state,
      locked: false,
      title: p.title,
      user: { login: p.author, id: 7, type: 'User' },
      body: null,
      labels: p.labels.map((name, i) => ({ id: 1_000_000 + i, name, color: 'd73a4a', default: false })),
      created_at: isoSec(p.createdAt),
      updated_at: isoSec(p.updatedAt),
      closed_at: p.closedAt === null ? null : isoSec(p.closedAt),
      merged_at: p.mergedAt === null ? null : isoSec(p.mergedAt),
      merge_commit_sha: null,
      draft: p.draft,
      head: { label: `${p.headRepo?.split('/')[0] ?? 'unknown'}:${p.headRef}`, ref: p.headRef, sha: p.headSha, repo: headRepo },
      base: { label: `${r.owner}:${p.baseRef}`, ref: p.baseRef, sha: p.baseSha, repo: repoJson(r) },
      author_association: 'CONTRIBUTOR',
    };
    if (full) Object.assign(body, { merged: p.mergedAt !== null, mergeable: p.state === 'open' ? true : null, comments: r.comments.filter((c) => c.issue === p.number).length });
    return body;
  }

  function deploymentJson(r: Repo, d: DeploymentRecord): Record<string, unknown> {
    return {
      url: `${repoUrl(r)}/deployments/${d.id}`,
      id: d.id,
      node_id: `DE_${d.id}`,
      sha: d.sha,
      ref: d.ref,
      task: d.task,
      payload: d.payload,
      original_environment: d.originalEnvironment,
      environment: d.environment,
      description: d.description,
      creator: { login: d.creator },
      created_at: isoSec(d.createdAt),
      updated_at: isoSec(d.statuses.at(-1)?.createdAt ?? d.createdAt),
      statuses_url: `${repoUrl(r)}/deployments/${d.id}/statuses`,
      repository_url: repoUrl(r),
      transient_environment: d.transient,
      production_environment: d.production,
      performed_via_github_app: null,
    };
  }

  function deploymentStatusJson(r: Repo, d: DeploymentRecord, s: DeploymentStatusRecord): Record<string, unknown> {
    return {
      url: `${repoUrl(r)}/deployments/${d.id}/statuses/${s.id}`,
      id: s.id,
      node_id: `DES_${s.id}`,
      state: s.state,
      creator: { login: s.creator },
      description: s.description,
      environment: s.environment,
      target_url: s.targetUrl,
      created_at: isoSec(s.createdAt),
      updated_at: isoSec(s.createdAt),
      deployment_url: `${repoUrl(r)}/deployments/${d.id}`,
      repository_url: repoUrl(r),
      environment_url: s.environmentUrl,
      log_url: s.logUrl,
      performed_via_github_app: null,
    };
  }

  const commitStatusJson = (r: Repo, sha: string, s: CommitStatusRecord) => ({
    url: `${repoUrl(r)}/statuses/${sha}`,
    avatar_url: null,
    id: s.id,
    node_id: `SC_${s.id}`,
    state: s.state,
    description: s.description,
    target_url: s.targetUrl,
    context: s.context,
    created_at: isoSec(s.createdAt),
    updated_at: isoSec(s.createdAt),
    creator: { login: s.creator },
  });

  const commentJson = (r: Repo, c: CommentRecord) => ({
    id: c.id,
    node_id: `IC_${c.id}`,
    url: `${repoUrl(r)}/issues/comments/${c.id}`,
    html_url: `https://github.com/${r.fullName}/pull/${c.issue}#issuecomment-${c.id}`,
    body: c.body,
    user: userJson(c.user),
    created_at: isoSec(c.createdAt),
    updated_at: isoSec(c.updatedAt),
    issue_url: `${repoUrl(r)}/issues/${c.issue}`,
    author_association: c.user.type === 'Bot' ? 'NONE' : 'MEMBER',
    performed_via_github_app: null,
  });

  // --- repo endpoints -------------------------------------------------------

  function latestStatusPerContext(r: Repo, sha: string): Map<string, CommitStatusRecord> {
    const latest = new Map<string, CommitStatusRecord>();
    for (const s of r.statuses.get(sha) ?? []) latest.set(s.context, s);
    return latest;
  }

  const checkRunJson = (r: Repo, c: CheckRunRecord) => ({
    id: c.id,
    node_id: `CR_${c.id}`,
    head_sha: c.headSha,
    external_id: c.externalId ?? '',
    url: `${repoUrl(r)}/check-runs/${c.id}`,
    html_url: `https://github.com/${r.fullName}/runs/${c.id}`,
    details_url: c.detailsUrl ?? null,
    status: c.status,
    conclusion: c.conclusion,
    started_at: isoSec(c.startedAt),
    completed_at: c.completedAt === null ? null : isoSec(c.completedAt),
    output: { title: c.output?.title ?? null, summary: c.output?.summary ?? null, text: c.output?.text ?? null, annotations_count: 0, annotations_url: `${repoUrl(r)}/check-runs/${c.id}/annotations` },
    name: c.name,
    check_suite: { id: c.id + 1 },
    app: { id: 1, slug: c.appSlug, name: c.appSlug },
    pull_requests: [],
  });

  /**
   * GET /repos/{o}/{r}/commits/{ref}/check-runs (docs.github.com/en/rest/checks/runs
   * #list-check-runs-for-a-git-reference): `{total_count, check_runs}`, paged by
   * per_page (max 100) and page with a link header; check_name and status filter;
   * filter=latest (the default) keeps the most recent run of each name, filter=all
   * every run. An unknown ref is a 422 "No commit found for SHA".
   */
  function listCheckRuns(req: EmulatorRequest, r: Repo, ref: string): EmulatorResponse {
    const resolved = resolveRef(r, ref);
    if (!resolved) return error(422, `No commit found for SHA: ${ref}`);
    const filter = req.query.get('filter') ?? 'latest';
    if (filter !== 'latest' && filter !== 'all') return validation([{ resource: 'CheckRun', field: 'filter', code: 'invalid' }]);
    let runs = r.checkRuns.filter((c) => c.headSha === resolved.sha).sort((x, y) => y.id - x.id);
    if (filter === 'latest') {
      const seen = new Set<string>();
      runs = runs.filter((c) => (seen.has(c.name) ? false : (seen.add(c.name), true)));
    }
    const name = req.query.get('check_name');
    const status = req.query.get('status');
    if (name !== null) runs = runs.filter((c) => c.name === name);
    if (status !== null) runs = runs.filter((c) => c.status === status);
    const result = paginate(req, runs);
    if ('status' in result) return result;
    return json(200, { total_count: runs.length, check_runs: result.page.map((c) => checkRunJson(r, c)) }, result.headers);
  }

  /**
   * POST /repos/{o}/{r}/check-runs and PATCH …/check-runs/{id} (docs.github.com/en/rest/
   * checks/runs#create-a-check-run, #update-a-check-run): only a GitHub App may write
   * them; name and head_sha are required on create; status queued, in_progress or
   * completed; a completed run needs a conclusion; output needs title and summary, the
   * summary at most 65535 characters. Completing sets completed_at; a run of the same
   * name on the SHA is a new run (the listing's filter=latest shows the newest).
   */
  function writeCheckRun(r: Repo, caller: Caller, body: Record<string, unknown>, existing: CheckRunRecord | null): EmulatorResponse {
    if (caller.kind !== 'installation') return error(403, 'You must authenticate via a GitHub App.');
    const invalid = (field: string, code = 'invalid') => validation([{ resource: 'CheckRun', code, field }]);
    let headSha = existing?.headSha ?? '';
    if (!existing) {
      if (typeof body['name'] !== 'string' || body['name'] === '') return invalid('name', 'missing_field');
      if (typeof body['head_sha'] !== 'string' || body['head_sha'] === '') return invalid('head_sha', 'missing_field');
      const resolved = resolveRef(r, body['head_sha']);
      if (!resolved) return error(422, `No commit found for SHA: ${body['head_sha']}`);
      headSha = resolved.sha;
    } else if (body['name'] !== undefined && (typeof body['name'] !== 'string' || body['name'] === '')) return invalid('name');
    const status = body['status'] ?? (body['conclusion'] !== undefined ? 'completed' : (existing?.status ?? 'queued'));
    if (typeof status !== 'string' || !['queued', 'in_progress', 'completed'].includes(status)) return invalid('status');
    const conclusion = body['conclusion'] ?? null;
    if (conclusion !== null && (typeof conclusion !== 'string' || !CHECK_CONCLUSIONS.has(conclusion))) return invalid('conclusion');
    if (status === 'completed' && conclusion === null) return invalid('conclusion', 'missing_field');
    let output = existing?.output ?? null;
    if (body['output'] !== undefined) {
      const o = body['output'];
      if (!isPlainObject(o) || typeof o['title'] !== 'string' || typeof o['summary'] !== 'string') return invalid('output');
      if (o['summary'].length > 65535) return validation([{ resource: 'CheckRun', code: 'custom', field: 'output.summary', message: 'summary is too long (maximum is 65535 characters)' }]);
      output = { title: o['title'], summary: o['summary'], text: typeof o['text'] === 'string' ? o['text'] : null };
    }
    const detailsUrl = body['details_url'] ?? existing?.detailsUrl ?? null;
    if (detailsUrl !== null && (typeof detailsUrl !== 'string' || !/^https?:\/\//.test(detailsUrl))) return invalid('details_url');
    const run: CheckRunRecord = existing ?? {
      id: id(),
      headSha,
      name: body['name'] as string,
      status: 'queued',
      conclusion: null,
      startedAt: now(),
      completedAt: null,
      appSlug: app!.slug,
    };
    if (typeof body['name'] === 'string') run.name = body['name'];
    run.status = status as CheckRunRecord['status'];
    run.conclusion = status === 'completed' ? (conclusion as CheckRunRecord['conclusion']) : null;
    run.completedAt = status === 'completed' ? now() : null;
    run.output = output;
    run.detailsUrl = detailsUrl as string | null;
    if (typeof body['external_id'] === 'string') run.externalId = body['external_id'];
    if (!existing) r.checkRuns.push(run);
    return json(existing ? 200 : 201, checkRunJson(r, run));
  }

  function resolveRef(r: Repo, ref: string): { sha: string; branch: string | null } | null {
    const branch = r.branches.get(ref);
    if (branch) return { sha: branch.sha, branch: ref };
    const lower = ref.toLowerCase();
    if (/^[0-9a-f]{40}$/.test(lower) && r.commits.has(lower)) return { sha: lower, branch: null };
    return null;
  }

  function createDeployment(r: Repo, caller: Actor, body: Record<string, unknown>): EmulatorResponse {
    const ref = body['ref'];
    if (typeof ref !== 'string' || ref === '') return error(422, 'Invalid request.\n\n"ref" wasn\'t supplied.');
    const resolved = resolveRef(r, ref);
    if (!resolved) return error(422, `No ref found for: ${ref}`);
    const environment = body['environment'] === undefined ? 'production' : body['environment'];
    if (typeof environment !== 'string' || environment === '') return error(422, 'Invalid request.\n\nFor \'properties/environment\', it is not a string.');
    const description = body['description'] ?? null;
    if (description !== null && typeof description !== 'string') return error(422, 'Invalid request.\n\nFor \'properties/description\', it is not a string.');
    if (typeof description === 'string' && description.length > MAX_DESCRIPTION) {
      return validation([{ resource: 'Deployment', code: 'custom', field: 'description', message: `description is too long (maximum is ${MAX_DESCRIPTION} characters)` }]);
    }
    let payload = body['payload'] ?? {};
    if (typeof payload === 'string') {
      try {
        payload = JSON.parse(payload);
      } catch {
        return validation([{ resource: 'Deployment', code: 'invalid', field: 'payload' }]);
      }
    }
    if (!isPlainObject(payload)) return validation([{ resource: 'Deployment', code: 'invalid', field: 'payload' }]);
    // auto_merge defaults to true: a branch behind the default branch gets it merged in first (202).
    if (body['auto_merge'] !== false && resolved.branch !== null) {
      const b = r.branches.get(resolved.branch)!;
      if (b.behindDefault) {
        b.behindDefault = false;
        return json(202, { message: `Auto-merged ${r.defaultBranch} into ${ref} on deployment.` });
      }
    }
    // required_contexts defaults to every context: all must be success.
    const latest = latestStatusPerContext(r, resolved.sha);
    const required = Array.isArray(body['required_contexts']) ? (body['required_contexts'] as unknown[]).map(String) : [...latest.keys()];
    const failing = required.filter((c) => latest.get(c)?.state !== 'success');
    if (failing.length > 0) {
      return error(409, `Conflict: Commit status checks failed for ${ref}.`, {
        errors: [{ contexts: failing.map((context) => ({ context, state: latest.get(context)?.state ?? 'missing' })), resource: 'Deployment', field: 'required_contexts', code: 'invalid' }],
      });
    }
    const d: DeploymentRecord = {
      id: id(),
      sha: resolved.sha,
      ref,
      task: typeof body['task'] === 'string' ? body['task'] : 'deploy',
      payload,
      originalEnvironment: environment,
      environment,
      description,
      transient: body['transient_environment'] === true,
      production: typeof body['production_environment'] === 'boolean' ? body['production_environment'] : environment === 'production',
      creator: caller.login,
      createdAt: now(),
      statuses: [],
    };
    r.deployments.push(d);
    // "If the environment does not exist, it is created" with the first deployment to it
    // (docs.github.com/actions/deployment/targeting-different-environments).
    r.environments.add(environment);
    return json(201, deploymentJson(r, d));
  }

  function createDeploymentStatus(r: Repo, d: DeploymentRecord, caller: Actor, body: Record<string, unknown>): EmulatorResponse {
    const state = body['state'];
    if (state === undefined) return validation([{ resource: 'DeploymentStatus', code: 'missing_field', field: 'state' }]);
    if (typeof state !== 'string' || !DEPLOYMENT_STATES.has(state)) return validation([{ resource: 'DeploymentStatus', code: 'invalid', field: 'state' }]);
    const description = body['description'] ?? '';
    if (typeof description !== 'string') return validation([{ resource: 'DeploymentStatus', code: 'invalid', field: 'description' }]);
    if (description.length > MAX_DESCRIPTION) {
      return validation([{ resource: 'DeploymentStatus', code: 'custom', field: 'description', message: `description is too long (maximum is ${MAX_DESCRIPTION} characters)` }]);
    }
    for (const f of ['environment_url', 'log_url', 'target_url']) {
      const v = body[f];
      if (v !== undefined && (typeof v !== 'string' || (v !== '' && !/^https?:\/\//.test(v)))) {
        return validation([{ resource: 'DeploymentStatus', code: 'invalid', field: f }]);
      }
    }
    if (typeof body['environment'] === 'string' && body['environment'] !== '') d.environment = body['environment'];
    const logUrl = (body['log_url'] as string | undefined) ?? (body['target_url'] as string | undefined) ?? '';
    const s: DeploymentStatusRecord = {
      id: id(),
      state,
      description,
      environment: d.environment,
      environmentUrl: (body['environment_url'] as string | undefined) ?? '',
      logUrl,
      targetUrl: logUrl,
      creator: caller.login,
      createdAt: now(),
    };
    d.statuses.push(s);
    // auto_inactive (default true): older successful non-transient, non-production
    // deployments of the same environment get an inactive status.
    if (state === 'success' && body['auto_inactive'] !== false) {
      for (const other of r.deployments) {
        if (other === d || other.environment !== d.environment || other.transient || other.production) continue;
        if (other.statuses.at(-1)?.state !== 'success') continue;
        other.statuses.push({ ...s, id: id(), state: 'inactive', description: '', environmentUrl: '', logUrl: '', targetUrl: '' });
      }
    }
    return json(201, deploymentStatusJson(r, d, s));
  }

  function createCommitStatus(r: Repo, sha: string, caller: Actor, body: Record<string, unknown>): EmulatorResponse {
    const lower = sha.toLowerCase();
    if (!/^[0-9a-f]{40}$/.test(lower) || !r.commits.has(lower)) return error(422, `No commit found for SHA: ${sha}`);
    const state = body['state'];
    if (state === undefined) return validation([{ resource: 'Status', code: 'missing_field', field: 'state' }]);
    if (typeof state !== 'string' || !COMMIT_STATES.has(state)) return validation([{ resource: 'Status', code: 'invalid', field: 'state' }]);
    const context = typeof body['context'] === 'string' && body['context'] !== '' ? body['context'] : 'default';
    const description = body['description'] ?? null;
    if (description !== null && (typeof description !== 'string' || description.length > MAX_DESCRIPTION)) {
      return validation([{ resource: 'Status', code: 'custom', field: 'description', message: `description is too long (maximum is ${MAX_DESCRIPTION} characters)` }]);
    }
    const targetUrl = body['target_url'] ?? null;
    if (targetUrl !== null && (typeof targetUrl !== 'string' || !/^https?:\/\//.test(targetUrl))) {
      return validation([{ resource: 'Status', code: 'invalid', field: 'target_url' }]);
    }
    const list = r.statuses.get(lower) ?? [];
    if (list.filter((s) => s.context === context).length >= MAX_STATUSES_PER_CONTEXT) {
      return validation([{ resource: 'Status', code: 'custom', field: 'context', message: 'This SHA and context has reached the maximum number of statuses.' }]);
    }
    const s: CommitStatusRecord = { id: id(), state, context, description, targetUrl, creator: caller.login, createdAt: now() };
    list.push(s);
    r.statuses.set(lower, list);
    return json(201, commitStatusJson(r, lower, s));
  }

  function commentBodyProblem(body: Record<string, unknown>): EmulatorResponse | null {
    const text = body['body'];
    if (text === undefined || text === null) return validation([{ resource: 'IssueComment', code: 'missing_field', field: 'body' }]);
    if (typeof text !== 'string') return validation([{ resource: 'IssueComment', code: 'invalid', field: 'body' }]);
    if (text.length > MAX_COMMENT) {
      return validation([{ resource: 'IssueComment', code: 'custom', field: 'body', message: `body is too long (maximum is ${MAX_COMMENT} characters)` }]);
    }
    return null;
  }

  /**
   * GET /repos/{o}/{r}/collaborators/{username}/permission: `permission` the legacy base
   * role, `role_name` the assigned one. A login with no role here reads as "none"; the
   * repository's own PAT user has its RepoRole.
   */
  function collaboratorPermission(r: Repo, caller: Caller, login: string): EmulatorResponse {
    if (!/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:\[bot\])?$/.test(login)) return notFound();
    let role: CollaboratorRole | null = r.collaborators.get(login.toLowerCase()) ?? null;
    if (role === null && caller.kind === 'user' && caller.actor.login.toLowerCase() === login.toLowerCase()) {
      const own = r.role;
      role = own.admin ? 'admin' : own.maintain ? 'maintain' : own.push ? 'write' : own.triage ? 'triage' : own.pull ? 'read' : null;
    }
    const user = { login, id: id(), type: login.endsWith('[bot]') ? 'Bot' : 'User' };
    return json(200, { permission: role ? LEGACY_PERMISSION[role] : 'none', role_name: role ?? 'none', user });
  }

  /** POST …/issues/comments/{id}/reactions: 201 for a new reaction, 200 with the existing one when the user already added that type. */
  function createReaction(r: Repo, comment: CommentRecord, caller: Actor, body: Record<string, unknown>): EmulatorResponse {
    const content = body['content'];
    if (content === undefined) return validation([{ resource: 'Reaction', code: 'missing_field', field: 'content' }]);
    if (typeof content !== 'string' || !REACTIONS.has(content)) return validation([{ resource: 'Reaction', code: 'invalid', field: 'content' }]);
    const reactionJson = (x: ReactionRecord) => ({ id: x.id, node_id: `REA_${x.id}`, user: { login: x.user }, content: x.content, created_at: isoSec(x.createdAt) });
    const existing = r.reactions.find((x) => x.commentId === comment.id && x.user === caller.login && x.content === content);
    if (existing) return json(200, reactionJson(existing));
    const created: ReactionRecord = { id: id(), commentId: comment.id, content, user: caller.login, createdAt: now() };
    r.reactions.push(created);
    return json(201, reactionJson(created));
  }

  /** POST …/issues/{n}/labels {labels: [...]}: adds (labels already there stay) and answers the issue's labels. */
  function addLabels(r: Repo, number: number, body: Record<string, unknown>): EmulatorResponse {
    const p = r.pulls.get(number);
    if (!p) return notFound();
    const labels = body['labels'];
    if (!Array.isArray(labels) || labels.some((l) => typeof l !== 'string' || l === '' || l.length > 50)) {
      return validation([{ resource: 'Label', code: 'invalid', field: 'labels' }]);
    }
    for (const l of labels as string[]) if (!p.labels.includes(l)) p.labels.push(l);
    p.updatedAt = now();
    return json(200, p.labels.map((name) => ({ name, color: 'ededed', default: false })));
  }

  function listPulls(req: EmulatorRequest, r: Repo): EmulatorResponse {
    const state = req.query.get('state') ?? 'open';
    if (!['open', 'closed', 'all'].includes(state)) return validation([{ resource: 'Search', field: 'state', code: 'invalid' }]);
    const sort = req.query.get('sort') ?? 'created';
    const direction = req.query.get('direction') ?? (sort === 'created' ? 'desc' : 'asc');
    const head = req.query.get('head');
    const base = req.query.get('base');
    let items = [...r.pulls.values()].filter((p) => state === 'all' || p.state === state);
    if (head) items = items.filter((p) => `${p.headRepo?.split('/')[0] ?? ''}:${p.headRef}`.toLowerCase() === head.toLowerCase());
    if (base) items = items.filter((p) => p.baseRef === base);
    const key = (p: Pull) => (sort === 'updated' ? p.updatedAt : p.createdAt) * 100_000 + p.number;
    items.sort((a, b) => (direction === 'asc' ? key(a) - key(b) : key(b) - key(a)));
    return paged(req, items, (p) => pullJson(r, p, false));
  }

  /** Which installation permission a route needs ([name, level]); null = metadata only. */
  function permissionFor(method: string, section: string, rest: string[] = []): [string, 'read' | 'write'] {
    const level: 'read' | 'write' = method === 'GET' ? 'read' : 'write';
    // docs.github.com/en/rest/checks/runs#list-check-runs-for-a-git-reference: "Checks" repository permissions (read).
    if ((section === 'commits' && rest[2] === 'check-runs') || section === 'check-runs') return ['checks', level];
    if (section === 'deployments') return ['deployments', level];
    if (section === 'statuses' || section === 'commits') return ['statuses', level];
    if (section === 'issues') return ['issues', level];
    if (section === 'pulls') return ['pull_requests', level];
    if (section === 'hooks') return ['repository_hooks', level];
    // docs.github.com/rest/deployments/environments#delete-an-environment: "Administration" repository permissions (write).
    if (section === 'environments') return ['administration', level];
    return ['metadata', 'read'];
  }

  function hasPermission(name: string, level: 'read' | 'write'): boolean {
    const granted = appPermissions[name] ?? (name === 'issues' ? appPermissions['pull_requests'] : undefined);
    if (!granted) return name === 'issues' ? hasPermission('pull_requests', level) : false;
    return level === 'read' || granted === 'write';
  }

  function handleRepo(req: EmulatorRequest, caller: Caller | null, owner: string, name: string, rest: string[]): EmulatorResponse {
    const r = repos.get(repoKey(`${owner}/${name}`));
    const method = req.method;
    // GET /repos/{o}/{r}/installation is the one repo route for the App JWT.
    if (rest.length === 1 && rest[0] === 'installation') {
      if (caller?.kind !== 'app') return error(401, 'A JSON web token could not be decoded');
      if (!r || method !== 'GET') return notFound();
      return json(200, { id: app!.installationId, app_id: app!.appId, app_slug: app!.slug, target_type: 'Organization', account: { login: r.owner }, permissions: appPermissions });
    }
    if (!caller) return notFound(); // private repositories look absent without credentials
    if (caller.kind === 'app') return error(403, 'Resource not accessible by integration');
    if (!r) return notFound();
    if (caller.kind === 'installation') {
      if (caller.repos && !caller.repos.has(r.name.toLowerCase())) return notFound();
      const [perm, level] = permissionFor(method, rest[0] ?? '', rest);
      if (!hasPermission(perm, level)) return error(403, 'Resource not accessible by integration');
    }
    const actor = caller.actor;
    const parsed = req.json();
    if (parsed instanceof SyntaxError) return error(400, 'Problems parsing JSON');
    const body = isPlainObject(parsed) ? parsed : {};
    if (parsed !== undefined && !isPlainObject(parsed) && method !== 'GET') return error(400, 'Body should be a JSON object');
    const [section, a, b, c] = rest;

    if (rest.length === 0 && method === 'GET') return json(200, caller.kind === 'user' ? { ...repoJson(r), permissions: { ...r.role } } : repoJson(r));
    if (section === 'hooks' && rest.length === 1 && method === 'GET') {
      if (caller.kind === 'user' && !mayListHooks(r.role, scopes)) return notFound();
      return paged(req, r.hooks, (h) => hookJson(repoUrl(r), h));
    }
    if (section === 'pulls') {
      if (rest.length === 1 && method === 'GET') return listPulls(req, r);
      if (rest.length === 2 && method === 'GET') {
        const p = /^\d+$/.test(a!) ? r.pulls.get(Number(a)) : undefined;
        return p ? json(200, pullJson(r, p, true)) : notFound();
      }
    }
    if (section === 'deployments') {
      if (rest.length === 1 && method === 'POST') return createDeployment(r, actor, body);
      if (rest.length === 1 && method === 'GET') {
        const q = req.query;
        const items = r.deployments
          .filter((d) => (!q.get('sha') || d.sha === q.get('sha')) && (!q.get('ref') || d.ref === q.get('ref')) && (!q.get('task') || d.task === q.get('task')) && (!q.get('environment') || d.environment === q.get('environment')))
          .reverse();
        return paged(req, items, (d) => deploymentJson(r, d));
      }
      const d = a && /^\d+$/.test(a) ? r.deployments.find((x) => x.id === Number(a)) : undefined;
      if (!d) return notFound();
      if (rest.length === 2 && method === 'GET') return json(200, deploymentJson(r, d));
      if (rest.length === 2 && method === 'DELETE') {
        // Only inactive deployments may be deleted, unless it is the repo's only one.
        const active = d.statuses.at(-1)?.state !== 'inactive';
        if (active && r.deployments.length > 1) {
          return error(422, 'We cannot delete an active deployment unless it is the only deployment in a given environment.');
        }
        r.deployments.splice(r.deployments.indexOf(d), 1);
        return { status: 204 };
      }
      if (b === 'statuses' && rest.length === 3) {
        if (method === 'POST') return createDeploymentStatus(r, d, actor, body);
        if (method === 'GET') return paged(req, [...d.statuses].reverse(), (s) => deploymentStatusJson(r, d, s));
      }
      if (b === 'statuses' && rest.length === 4 && method === 'GET') {
        const s = d.statuses.find((x) => String(x.id) === c);
        return s ? json(200, deploymentStatusJson(r, d, s)) : notFound();
      }
    }
    if (section === 'check-runs' && rest.length === 1 && method === 'POST') return writeCheckRun(r, caller, body, null);
    if (section === 'check-runs' && rest.length === 2) {
      const run = /^\d+$/.test(a!) ? r.checkRuns.find((x) => x.id === Number(a)) : undefined;
      if (!run) return notFound();
      if (method === 'PATCH') return writeCheckRun(r, caller, body, run);
      if (method === 'GET') return json(200, checkRunJson(r, run));
    }
    if (section === 'statuses' && rest.length === 2 && method === 'POST') return createCommitStatus(r, a!, actor, body);
    if (section === 'collaborators' && rest.length === 3 && b === 'permission' && method === 'GET') return collaboratorPermission(r, caller, a!);
    if (section === 'environments' && rest.length === 2 && method === 'DELETE') {
      // Admin-only for users (GitHub: 403 "Must have admin rights to Repository."); an installation passed the administration check above.
      if (caller.kind === 'user' && !r.role.admin) return error(403, 'Must have admin rights to Repository.');
      if (!r.environments.delete(a!)) return notFound();
      return { status: 204 };
    }
    if (section === 'commits' && rest.length === 3 && method === 'GET' && b === 'check-runs') return listCheckRuns(req, r, a!);
    if (section === 'commits' && rest.length === 3 && method === 'GET' && (b === 'status' || b === 'statuses')) {
      const resolved = resolveRef(r, a!);
      if (!resolved) return error(422, `No commit found for SHA: ${a}`);
      if (b === 'statuses') return paged(req, [...(r.statuses.get(resolved.sha) ?? [])].reverse(), (s) => commitStatusJson(r, resolved.sha, s));
      const latest = [...latestStatusPerContext(r, resolved.sha).values()];
      const states = latest.map((s) => s.state);
      const combined = states.some((s) => s === 'error' || s === 'failure') ? 'failure' : states.length === 0 || states.includes('pending') ? 'pending' : 'success';
      return json(200, { state: combined, sha: resolved.sha, total_count: latest.length, statuses: latest.map((s) => commitStatusJson(r, resolved.sha, s)), repository: repoJson(r) });
    }
    if (section === 'issues') {
      if (a === 'comments' && b && /^\d+$/.test(b) && rest.length === 3) {
        const comment = r.comments.find((x) => x.id === Number(b));
        if (!comment) return notFound();
        if (method === 'GET') return json(200, commentJson(r, comment));
        if (method === 'PATCH') {
          const problem = commentBodyProblem(body);
          if (problem) return problem;
          comment.body = body['body'] as string;
          comment.updatedAt = now();
          return json(200, commentJson(r, comment));
        }
        if (method === 'DELETE') {
          r.comments.splice(r.comments.indexOf(comment), 1);
          return { status: 204 };
        }
      }
      if (a === 'comments' && b && /^\d+$/.test(b) && c === 'reactions' && rest.length === 4 && method === 'POST') {
        const comment = r.comments.find((x) => x.id === Number(b));
        if (!comment) return notFound();
        return createReaction(r, comment, actor, body);
      }
      if (a && /^\d+$/.test(a) && b === 'labels' && rest.length === 3 && method === 'POST') return addLabels(r, Number(a), body);
      if (a && /^\d+$/.test(a) && b === 'comments' && rest.length === 3) {
        if (!r.pulls.has(Number(a))) return notFound();
        if (method === 'GET') {
          const since = req.query.get('since');
          const sinceMs = since ? Date.parse(since) : NaN;
          const items = r.comments.filter((x) => x.issue === Number(a) && (Number.isNaN(sinceMs) || x.updatedAt >= sinceMs));
          return paged(req, items, (x) => commentJson(r, x));
        }
        if (method === 'POST') {
          const problem = commentBodyProblem(body);
          if (problem) return problem;
          const comment: CommentRecord = { id: id(), issue: Number(a), body: body['body'] as string, user: actor, createdAt: now(), updatedAt: now() };
          r.comments.push(comment);
          return json(201, commentJson(r, comment));
        }
      }
    }
    return notFound();
  }

  // --- top-level routing ----------------------------------------------------

  function route(req: EmulatorRequest): EmulatorResponse {
    const ua = req.headers['user-agent'];
    if (typeof ua !== 'string' || ua.trim() === '') {
      // GitHub answers this one in plain text.
      return {
        status: 403,
        headers: { 'content-type': 'text/plain; charset=utf-8' },
        body: 'Request forbidden by administrative rules. Please make sure your request has a User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required). Check https://developer.github.com for other possible causes.\n',
      };
    }
    const auth = authenticate(req);
    if (auth && 'status' in auth) return auth;
    const caller = auth;

    if (caller) {
      if (secondary && secondary.times > 0) {
        secondary.times -= 1;
        return error(
          secondary.status,
          'You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID.',
          {},
          { 'retry-after': String(secondary.retryAfterSec) },
        );
      }
      if (rateLimit.remaining <= 0) {
        const who = caller.kind === 'installation' ? `installation ID ${caller.installationId}` : caller.kind === 'user' ? `user ID ${caller.actor.id}` : 'app';
        return error(rateLimit.exceededStatus, `API rate limit exceeded for ${who}. If you reach out to GitHub Support for help, please include the request ID.`);
      }
      rateLimit.remaining -= 1;
      charged = true;
    }

    const segments = req.path.split('/').filter((s) => s !== '').map((s) => decodeURIComponent(s));
    if (segments[0] === 'user' && segments.length === 1 && req.method === 'GET') {
      if (!caller) return error(401, 'Requires authentication');
      if (caller.kind !== 'user') return error(403, 'Resource not accessible by integration');
      return json(200, userJson(caller.actor));
    }
    if (segments[0] === 'app') {
      if (caller?.kind !== 'app') return error(401, 'A JSON web token could not be decoded');
      if (segments.length === 1 && req.method === 'GET') {
        return json(200, { id: app!.appId, slug: app!.slug, name: app!.slug, owner: { login: 'acme' }, permissions: appPermissions, events: ['pull_request'] });
      }
      // docs.github.com/en/rest/apps/webhooks#get-a-webhook-configuration-for-an-app (the secret masked).
      if (segments.length === 3 && segments[1] === 'hook' && segments[2] === 'config' && req.method === 'GET') {
        return json(200, { content_type: 'json', secret: '********', url: app!.webhookUrl ?? '', insecure_ssl: '0' });
      }
      if (segments.length === 4 && segments[1] === 'installations' && segments[3] === 'access_tokens' && req.method === 'POST') {
        if (segments[2] !== String(app!.installationId)) return notFound();
        const parsed = req.json();
        const body = isPlainObject(parsed) ? parsed : {};
        let repoSet: Set<string> | null = null;
        if (Array.isArray(body['repositories'])) {
          repoSet = new Set((body['repositories'] as unknown[]).map((x) => String(x).toLowerCase()));
          const known = new Set([...repos.values()].map((r) => r.name.toLowerCase()));
          if ([...repoSet].some((n) => !known.has(n))) return error(422, 'There is at least one repository that does not exist or is not accessible to the parent installation.');
        }
        const token = `ghs_${randomBytes(18).toString('base64url').replace(/[-_]/g, 'x')}`;
        const expiresAt = Math.floor(now() / 1000) * 1000 + 3_600_000;
        installationTokens.set(token, { expiresAt, repos: repoSet, installationId: app!.installationId });
        tokensIssued += 1;
        return json(201, { token, expires_at: isoSec(expiresAt), permissions: appPermissions, repository_selection: repoSet ? 'selected' : 'all' });
      }
      return notFound();
    }
    if (segments[0] === 'repos' && segments.length >= 3) return handleRepo(req, caller, segments[1]!, segments[2]!, segments.slice(3));
    return notFound();
  }

  /**
   * Conditional requests (docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api
   * #use-conditional-requests-if-appropriate): a GET answer carries an `etag`; the same
   * request with `If-None-Match` of it gets 304 Not Modified with no body, and an
   * authorized 304 "does not count against your primary rate limit".
   */
  function conditional(req: EmulatorRequest, response: EmulatorResponse): EmulatorResponse {
    if (req.method !== 'GET' || response.status !== 200 || response.body === undefined || typeof response.body === 'string') return response;
    // Weak, like GitHub's list ETags; the Authorization is part of it, as GitHub varies on it.
    const digest = createHash('sha256').update(String(req.headers['authorization'] ?? '')).update(JSON.stringify(response.body)).digest('hex').slice(0, 32);
    const etag = `W/"${digest}"`;
    const sent = String(req.headers['if-none-match'] ?? '').split(',').map((t) => t.trim());
    if (!sent.includes(etag)) return { ...response, headers: { ...(response.headers ?? {}), etag } };
    if (charged) rateLimit.remaining += 1;
    notModifiedCount += 1;
    return { status: 304, headers: { etag } };
  }

  const emulator = await startEmulator({
    name: 'github',
    handler: (req) => {
      charged = false;
      const response = conditional(req, route(req));
      // GitHub lists a classic token's scopes on every response to it.
      const bearer = /^(?:bearer|token)\s+(\S+)$/i.exec(String(req.headers['authorization'] ?? '').trim())?.[1];
      const classic = bearer !== undefined && users.has(bearer) && scopes !== null ? scopesHeader(scopes) : {};
      return { ...response, headers: { ...rateHeaders(), ...classic, ...(response.headers ?? {}) } };
    },
    randomErrorBody: { message: 'Server Error', documentation_url: DOCS, status: '500' },
    port: options.port,
  });
  baseUrl = emulator.url;

  function findPull(repo: string, number: number): Pull {
    const p = getRepo(repo).pulls.get(number);
    if (!p) throw new Error(`github emulator: no PR ${repo}#${number}`);
    return p;
  }

  const helpers = {
    rateLimit,
    appPermissions,
    secondaryLimit(opts: { status?: 403 | 429; retryAfterSec?: number; times?: number } = {}) {
      secondary = { status: opts.status ?? 403, retryAfterSec: opts.retryAfterSec ?? 60, times: opts.times ?? 1 };
    },
    addRepo(fullName: string, opts: { defaultBranch?: string } = {}) {
      const [owner, name] = fullName.split('/');
      if (!owner || !name) throw new Error(`github emulator: repo must be owner/name, got ${fullName}`);
      const defaultBranch = opts.defaultBranch ?? 'main';
      const sha = randomBytes(20).toString('hex');
      repos.set(repoKey(fullName), {
        id: id(),
        owner,
        name,
        fullName,
        defaultBranch,
        branches: new Map([[defaultBranch, { sha, behindDefault: false }]]),
        commits: new Set([sha]),
        pulls: new Map(),
        deployments: [],
        statuses: new Map(),
        checkRuns: [],
        comments: [],
        hooks: [],
        collaborators: new Map(),
        reactions: [],
        environments: new Set(),
        role: { ...ADMIN_ROLE },
      });
    },
    addHook(repo: string, hook: HookInput) {
      getRepo(repo).hooks.push({ id: id(), url: hook.url, events: hook.events ?? ['push'], active: hook.active ?? true, contentType: hook.contentType ?? 'json', createdAt: now() });
    },
    setRole(repo: string, role: Partial<RepoRole>) {
      Object.assign(getRepo(repo).role, role);
    },
    setScopes(next: string[] | null) {
      scopes = next;
    },
    addBranch(repo: string, branch: string, sha: string, opts: { behindDefault?: boolean } = {}) {
      const r = getRepo(repo);
      r.branches.set(branch, { sha: sha.toLowerCase(), behindDefault: opts.behindDefault ?? false });
      r.commits.add(sha.toLowerCase());
    },
    addCommit(repo: string, sha: string) {
      getRepo(repo).commits.add(sha.toLowerCase());
    },
    openPull(repo: string, input: PullInput): number {
      const r = getRepo(repo);
      const number = input.number ?? Math.max(0, ...r.pulls.keys()) + 1;
      const headRef = input.headRef ?? `feature-${number}`;
      r.pulls.set(number, {
        number,
        state: 'open',
        draft: input.draft ?? false,
        title: input.title ?? `PR ${number}`,
        author: input.author ?? 'alice',
        labels: input.labels ?? [],
        headRef,
        headSha: input.headSha.toLowerCase(),
        headRepo: input.headRepo === undefined ? r.fullName : input.headRepo,
        baseRef: input.baseRef ?? r.defaultBranch,
        baseSha: input.baseSha ?? r.branches.get(r.defaultBranch)!.sha,
        createdAt: now(),
        updatedAt: now(),
        closedAt: null,
        mergedAt: null,
      });
      // The PR's head commit is reachable in the base repo (refs/pull/N/head).
      r.commits.add(input.headSha.toLowerCase());
      if (input.headRepo === undefined) r.branches.set(headRef, { sha: input.headSha.toLowerCase(), behindDefault: false });
      return number;
    },
    updatePull(repo: string, number: number, patch: Partial<Omit<PullInput, 'number'>>) {
      const r = getRepo(repo);
      const p = findPull(repo, number);
      if (patch.headSha !== undefined) {
        p.headSha = patch.headSha.toLowerCase();
        r.commits.add(p.headSha);
      }
      if (patch.headRef !== undefined) p.headRef = patch.headRef;
      if (patch.baseRef !== undefined) p.baseRef = patch.baseRef;
      if (patch.title !== undefined) p.title = patch.title;
      if (patch.draft !== undefined) p.draft = patch.draft;
      if (patch.labels !== undefined) p.labels = patch.labels;
      if (patch.headRepo !== undefined) p.headRepo = patch.headRepo;
      p.updatedAt = now();
    },
    closePull(repo: string, number: number, opts: { merged?: boolean } = {}) {
      const p = findPull(repo, number);
      p.state = 'closed';
      p.closedAt = now();
      p.mergedAt = opts.merged ? now() : null;
      p.updatedAt = now();
    },
    addUser(token: string, login: string) {
      users.set(token, { login, id: id(), type: 'User' });
    },
    setCollaborator(repo: string, login: string, role: CollaboratorRole | null) {
      const r = getRepo(repo);
      if (role === null) r.collaborators.delete(login.toLowerCase());
      else r.collaborators.set(login.toLowerCase(), role);
    },
    reactions(repo: string, commentId: number) {
      return structuredClone(getRepo(repo).reactions.filter((x) => x.commentId === commentId));
    },
    environments(repo: string) {
      return [...getRepo(repo).environments].sort();
    },
    addComment(repo: string, pr: number, input: { body: string; login: string; type?: 'User' | 'Bot' }): number {
      const r = getRepo(repo);
      findPull(repo, pr);
      const c: CommentRecord = { id: id(), issue: pr, body: input.body, user: { login: input.login, id: id(), type: input.type ?? 'User' }, createdAt: now(), updatedAt: now() };
      r.comments.push(c);
      return c.id;
    },
    pull(repo: string, number: number) {
      const r = getRepo(repo);
      const p = r.pulls.get(number);
      return p ? pullJson(r, p, true) : null;
    },
    deployments(repo: string) {
      return structuredClone(getRepo(repo).deployments);
    },
    comments(repo: string, pr: number) {
      return structuredClone(getRepo(repo).comments.filter((c) => c.issue === pr));
    },
    commitStatuses(repo: string, sha: string) {
      return structuredClone(getRepo(repo).statuses.get(sha.toLowerCase()) ?? []);
    },
    setCheckRun(repo: string, sha: string, input: { name: string; status: CheckRunRecord['status']; conclusion?: CheckRunRecord['conclusion']; id?: number; appSlug?: string }): number {
      const r = getRepo(repo);
      const lower = sha.toLowerCase();
      r.commits.add(lower);
      const completed = input.status === 'completed';
      const existing = input.id === undefined ? undefined : r.checkRuns.find((c) => c.id === input.id);
      if (input.id !== undefined && !existing) throw new Error(`github emulator: no check run ${input.id}`);
      const run: CheckRunRecord = existing ?? { id: id(), headSha: lower, name: input.name, status: input.status, conclusion: null, startedAt: now(), completedAt: null, appSlug: input.appSlug ?? 'github-actions' };
      run.status = input.status;
      // A completed run has a conclusion (GitHub requires one); any other status has none.
      run.conclusion = completed ? (input.conclusion ?? 'success') : null;
      run.completedAt = completed ? now() : null;
      if (!existing) r.checkRuns.push(run);
      return run.id;
    },
    addCommitStatus(repo: string, sha: string, input: { context: string; state: 'pending' | 'success' | 'failure' | 'error'; description?: string }) {
      const r = getRepo(repo);
      const lower = sha.toLowerCase();
      r.commits.add(lower);
      const list = r.statuses.get(lower) ?? [];
      list.push({ id: id(), state: input.state, context: input.context, description: input.description ?? null, targetUrl: null, creator: 'ci-bot', createdAt: now() });
      r.statuses.set(lower, list);
    },
    checkRuns(repo: string, sha: string) {
      return structuredClone(getRepo(repo).checkRuns.filter((c) => c.headSha === sha.toLowerCase()));
    },
  };
  Object.defineProperty(emulator, 'installationTokensIssued', { get: () => tokensIssued, enumerable: true });
  Object.defineProperty(emulator, 'notModifiedAnswers', { get: () => notModifiedCount, enumerable: true });
  return Object.assign(emulator, helpers) as GitHubEmulator;
}

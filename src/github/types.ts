// previewd's view of the GitHub REST API. Only src/github/ knows its wire JSON.

export type DeploymentState = 'error' | 'failure' | 'inactive' | 'in_progress' | 'queued' | 'pending' | 'success';
export type CommitState = 'pending' | 'success' | 'failure' | 'error';

export interface GitHubDeployment {
  id: number;
  sha: string;
  environment: string;
  createdAt: string;
}

export interface PullSummary {
  number: number;
  state: 'open' | 'closed';
  draft: boolean;
  headSha: string;
  baseRef: string;
  headRepoFullName: string | null; // null when the fork was deleted
  labels: string[];
  updatedAt: string;
  merged: boolean;
  /** Display only (attacker-controlled), cut to GitHub's own sizes. */
  title?: string;
  headRef?: string;
}

/**
 * A listing's validators and pages as last seen, kept by the caller that wants
 * conditional requests (resync, in memory): each page URL's ETag goes back as
 * If-None-Match, and a 304, which costs no rate limit, answers from the page kept here.
 */
export type ListingCache = Map<string, { etag: string; body: unknown; next: string | null }>;

export interface PullListing {
  pulls: PullSummary[];
  /** Every page answered 304 Not Modified: nothing changed since the cache was filled. */
  notModified: boolean;
}

/** A check run on a commit as previewd reads it (the most recent run of each name). */
export interface CheckRunSummary {
  id: number;
  name: string;
  /** queued, in_progress, completed, waiting, requested, pending. */
  status: string;
  /** Set once completed: success, failure, cancelled, timed_out, neutral, skipped, action_required, stale. */
  conclusion: string | null;
}

/** The latest commit status of one context on a commit. */
export interface CommitStatusSummary {
  context: string;
  state: CommitState;
}

/** A user's role on a repository (GitHub's role_name, custom roles reduced to their base). */
export type RepoPermission = 'admin' | 'maintain' | 'write' | 'triage' | 'read' | 'none';

/** The reactions GitHub accepts (docs.github.com/rest/reactions/reactions#about-reactions). */
export type ReactionContent = '+1' | '-1' | 'laugh' | 'confused' | 'heart' | 'hooray' | 'rocket' | 'eyes';

/**
 * What deleting a GitHub environment came to: "forbidden" the first time the token may
 * not (no admin rights) in a repo, "skipped" after that (not asked again until restart).
 */
export type EnvironmentDeletion = 'deleted' | 'absent' | 'forbidden' | 'skipped';
export type CheckRunConclusion = 'success' | 'failure' | 'cancelled' | 'timed_out' | 'neutral';

export interface CheckRunInput {
  status: 'queued' | 'in_progress' | 'completed';
  conclusion?: CheckRunConclusion;
  output?: { title: string; summary: string };
  detailsUrl?: string;
}

/** Check runs previewd writes itself (only as a GitHub App: a PAT may not). */
export interface GitHubCheckRuns {
  /** Whether previewd authenticates as a GitHub App, the only way to write check runs. */
  readonly writesCheckRuns: boolean;
  /** POST /repos/{o}/{r}/check-runs. */
  createCheckRun(repo: string, sha: string, name: string, input: CheckRunInput): Promise<{ id: number }>;
  /** PATCH /repos/{o}/{r}/check-runs/{id}; false when the run is gone (404). */
  updateCheckRun(repo: string, id: number, input: CheckRunInput): Promise<boolean>;
}

export interface GitHubClient {
  /** POST /repos/{o}/{r}/deployments (auto_merge false, required_contexts [], transient, not production). */
  createDeployment(repo: string, input: { ref: string; environment: string; description: string; payload: Record<string, string> }): Promise<GitHubDeployment>;
  /** GET /repos/{o}/{r}/deployments?environment=… (all pages, newest first). */
  listDeployments(repo: string, options: { environment: string; sha?: string }): Promise<GitHubDeployment[]>;
  /** POST …/deployments/{id}/statuses. */
  createDeploymentStatus(
    repo: string,
    deploymentId: number,
    input: { state: DeploymentState; description: string; environmentUrl?: string; logUrl?: string; environment?: string },
  ): Promise<void>;
  /** GET …/deployments/{id}/statuses → newest state, or null when none. */
  getLatestDeploymentState(repo: string, deploymentId: number): Promise<DeploymentState | null>;
  /** POST /repos/{o}/{r}/statuses/{sha}. */
  createCommitStatus(repo: string, sha: string, input: { state: CommitState; description: string; context: string; targetUrl?: string }): Promise<void>;
  /** Our own comment on the PR carrying `marker` (author must be previewd's own login), the oldest, or null. */
  findComment(repo: string, pr: number, marker: string): Promise<{ id: number; body: string } | null>;
  /** Every one of our own comments on the PR carrying `marker`, oldest first. */
  findComments(repo: string, pr: number, marker: string): Promise<{ id: number; body: string }[]>;
  createComment(repo: string, pr: number, body: string): Promise<{ id: number }>;
  /** PATCH; returns false when the comment is gone (404) so the caller can recreate it. */
  updateComment(repo: string, commentId: number, body: string): Promise<boolean>;
  /** DELETE …/issues/comments/{id}; a comment already gone (404) is not an error. */
  deleteComment(repo: string, commentId: number): Promise<void>;
  /** GET /repos/{o}/{r}/pulls?state=open, every page; conditional when given a cache. */
  listOpenPulls(repo: string, cache?: ListingCache): Promise<PullListing>;
  /** GET /repos/{o}/{r}/commits/{ref}/check-runs (filter=latest), every page. */
  listCheckRuns(repo: string, ref: string): Promise<CheckRunSummary[]>;
  /** GET /repos/{o}/{r}/commits/{ref}/status: the latest status of each context, every page. */
  listCommitStatuses(repo: string, ref: string): Promise<CommitStatusSummary[]>;
  /** GET /repos/{o}/{r}/pulls/{n}; null on 404. */
  getPull(repo: string, pr: number): Promise<PullSummary | null>;
  /** GET /repos/{o}/{r}/collaborators/{user}/permission; a user GitHub does not know (404) has none. */
  getPermission(repo: string, login: string): Promise<RepoPermission>;
  /** POST /repos/{o}/{r}/issues/comments/{id}/reactions; a reaction already there (200) is not an error. */
  createReaction(repo: string, commentId: number, content: ReactionContent): Promise<void>;
  /** POST /repos/{o}/{r}/issues/{n}/labels (adds; labels already on it stay). */
  addLabels(repo: string, pr: number, labels: string[]): Promise<void>;
  /** DELETE /repos/{o}/{r}/environments/{name}: gone (404) is "absent", a token without admin rights (403) "forbidden", then "skipped". */
  deleteEnvironment(repo: string, name: string): Promise<EnvironmentDeletion>;
}

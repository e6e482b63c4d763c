// Pure: one neutral view of a pull request, built from either a `pull_request`
// webhook payload or an item of the REST listing (GET /repos/{o}/{r}/pulls), so the
// webhook intake and resync decide with the same policy (policy.ts decidePull) on the
// same facts. Whatever arrived, every string in here is attacker-controlled (fork PRs).
import type { PullSummary } from './types.js';
import type { PullRequestEvent } from './webhook-payload.js';

export interface PullFacts {
  /** The base repository ("owner/name"), where the PR lives. */
  repo: string;
  number: number;
  state: 'open' | 'closed';
  draft: boolean;
  merged: boolean;
  headSha: string;
  /** null when the fork was deleted. */
  headRepoFullName: string | null;
  baseRef: string;
  /** Deduplicated, in GitHub's order. */
  labels: string[];
  /** GitHub's pull_request.updated_at (one-second resolution). */
  updatedAt: Date;
  /** Display only; absent when the source did not carry it. */
  title?: string;
  headRef?: string;
}

/** A fork PR, including one whose fork was deleted (head.repo null). */
export function isFork(facts: PullFacts): boolean {
  return facts.headRepoFullName === null || facts.headRepoFullName.toLowerCase() !== facts.repo.toLowerCase();
}

const uniqueLabels = (names: string[]) => [...new Set(names)];

export function pullFactsFromEvent(event: PullRequestEvent): PullFacts {
  const pr = event.pull_request;
  const facts: PullFacts = {
    repo: pr.base.repo.full_name,
    number: pr.number,
    state: pr.state,
    draft: pr.draft,
    merged: pr.merged === true,
    headSha: pr.head.sha,
    headRepoFullName: pr.head.repo?.full_name ?? null,
    baseRef: pr.base.ref,
    labels: uniqueLabels(pr.labels.map((l) => l.name)),
    updatedAt: new Date(pr.updated_at),
  };
  if (pr.title !== undefined) facts.title = pr.title;
  if (pr.head.ref !== undefined) facts.headRef = pr.head.ref;
  return facts;
}

const SHA = /^[0-9a-f]{40}$/;

/**
 * From an item of the REST listing of `repo` (the client's PullSummary). null when the
 * item cannot be acted on (a head SHA or timestamp previewd would not accept from a
 * webhook either): such a PR is left as it is rather than guessed at.
 */
export function pullFactsFromListing(repo: string, pull: PullSummary): PullFacts | null {
  const headSha = pull.headSha.toLowerCase();
  const updatedAt = new Date(pull.updatedAt);
  if (!SHA.test(headSha) || Number.isNaN(updatedAt.getTime())) return null;
  const facts: PullFacts = {
    repo,
    number: pull.number,
    state: pull.state,
    draft: pull.draft,
    merged: pull.merged,
    headSha,
    headRepoFullName: pull.headRepoFullName,
    baseRef: pull.baseRef,
    labels: uniqueLabels(pull.labels),
    updatedAt,
  };
  if (pull.title !== undefined) facts.title = pull.title;
  if (pull.headRef !== undefined) facts.headRef = pull.headRef;
  return facts;
}

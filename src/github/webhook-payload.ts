// The fields of a `pull_request` webhook previewd reads, and nothing more. Every
// string here is attacker-controlled (anyone can open a PR from a fork), so each one
// is bounded; unknown fields are dropped by zod and never reach the rest of previewd.
import { z } from 'zod';
import { REPO_NAME } from './repo-name.js';

const SHA = /^[0-9a-f]{40}$/;
// GitHub's own limits: owner ≤ 39, repo ≤ 100 characters; we accept what config accepts.

const sha = z.string().regex(SHA, 'expected a 40-character hex SHA');
const repoRef = z.object({ full_name: z.string().regex(REPO_NAME, 'expected "owner/name"') });
// GitHub caps label names at 50 characters; the margin tolerates future changes, not junk.
const label = z.object({ name: z.string().min(1).max(100) });
// Display-only text (the dashboard shows it, escaped; no name, template or statement
// ever sees it): cut to GitHub's own sizes, and a malformed value is dropped rather
// than costing the PR its preview.
const displayText = (max: number) =>
  z
    .string()
    .transform((text) => text.slice(0, max))
    .optional()
    .catch(undefined);

const pullRequestEventSchema = z.object({
  action: z.string().min(1).max(50),
  number: z.number().int().positive().max(999_999_999),
  before: sha.optional(),
  after: sha.optional(),
  label: label.optional(),
  changes: z
    .object({
      base: z.object({ ref: z.object({ from: z.string().max(1024) }).optional() }).optional(),
    })
    .optional(),
  pull_request: z.object({
    number: z.number().int().positive().max(999_999_999),
    state: z.enum(['open', 'closed']),
    draft: z.boolean().default(false),
    merged: z.boolean().nullable().optional(),
    updated_at: z.iso.datetime({ offset: true }),
    labels: z.array(label).max(200).default([]),
    // GitHub caps titles at 256 characters; git refs in practice at 255 bytes.
    title: displayText(256),
    head: z.object({ sha, ref: displayText(255), repo: repoRef.nullable() }),
    base: z.object({ ref: z.string().min(1).max(1024), repo: repoRef }),
  }),
  repository: repoRef,
  // Who caused the event: under `forks: label` the labeler, whose permission previewd
  // asks GitHub for (trust/intake.ts). Malformed: treated as unknown, which approves nothing.
  sender: z
    .object({ login: z.string().min(1).max(100) })
    .optional()
    .catch(undefined),
});

export type PullRequestEvent = z.output<typeof pullRequestEventSchema>;

/** Only the action, read before the full schema so unhandled actions are ignored cheaply. */
export const actionOnlySchema = z.object({ action: z.string().max(50) });

export type PayloadResult = { ok: true; event: PullRequestEvent } | { ok: false; reason: string };

const MAX_ISSUES = 3;

/**
 * Validates a parsed `pull_request` payload. The reason names schema paths and
 * expectations only, never input values, so a hostile payload is not echoed back.
 */
export function parsePullRequestEvent(data: unknown): PayloadResult {
  const result = pullRequestEventSchema.safeParse(data);
  if (result.success) {
    if (result.data.number !== result.data.pull_request.number) {
      return { ok: false, reason: 'number: expected to equal pull_request.number' };
    }
    return { ok: true, event: result.data };
  }
  const lines = result.error.issues.slice(0, MAX_ISSUES).map((issue) => {
    // Paths come from our schema (object keys and array indexes), not from input keys.
    const path = issue.path.map(String).join('.') || '(root)';
    const expected = issue.message.replace(/^Invalid input: /, '').replace(/, received .*$/, '').slice(0, 80);
    return `${path}: ${expected}`;
  });
  const more = result.error.issues.length > MAX_ISSUES ? ` (+${result.error.issues.length - MAX_ISSUES} more)` : '';
  return { ok: false, reason: `${lines.join('; ')}${more}` };
}

// Build hints (issue 13 §1): `check_run`, `check_suite`, `workflow_run` and `status`
// events name a commit, not a PR. previewd reads only the repository and the head SHA
// from them (docs.github.com/en/webhooks/webhook-events-and-payloads: check_run.head_sha,
// check_suite.head_sha, workflow_run.head_sha; status has `sha` at the top level) and then
// asks GitHub's REST API for the truth, so nothing else in them is trusted or kept.
export const BUILD_HINT_EVENTS = ['check_run', 'check_suite', 'workflow_run', 'status'] as const;
export type BuildHintEvent = (typeof BUILD_HINT_EVENTS)[number];

const headSha = z.object({ head_sha: sha });
const buildHintSchemas: Record<BuildHintEvent, z.ZodType<{ repo: string; sha: string }>> = {
  check_run: z.object({ check_run: headSha, repository: repoRef }).transform((p) => ({ repo: p.repository.full_name, sha: p.check_run.head_sha })),
  check_suite: z.object({ check_suite: headSha, repository: repoRef }).transform((p) => ({ repo: p.repository.full_name, sha: p.check_suite.head_sha })),
  workflow_run: z.object({ workflow_run: headSha, repository: repoRef }).transform((p) => ({ repo: p.repository.full_name, sha: p.workflow_run.head_sha })),
  status: z.object({ sha, repository: repoRef }).transform((p) => ({ repo: p.repository.full_name, sha: p.sha })),
};

export function isBuildHintEvent(event: string): event is BuildHintEvent {
  return (BUILD_HINT_EVENTS as readonly string[]).includes(event);
}

export type BuildHint = { ok: true; repo: string; sha: string } | { ok: false; reason: string };

/** The repository and commit a build event is about; the reason names schema paths only. */
export function parseBuildHint(event: BuildHintEvent, data: unknown): BuildHint {
  const result = buildHintSchemas[event].safeParse(data);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    return { ok: false, reason: `${issue.path.map(String).join('.') || '(root)'}: ${issue.message.replace(/^Invalid input: /, '').replace(/, received .*$/, '').slice(0, 80)}` };
  }
  return { ok: true, ...result.data };
}

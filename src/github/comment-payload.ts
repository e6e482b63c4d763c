// The fields of an `issue_comment` webhook previewd reads (commands, issue 13 §4).
// Everything here is attacker-controlled (anyone can comment on a public PR): each
// field is bounded, unknown fields are dropped, and the body is only ever parsed by
// commands/parse.ts, never echoed.
import { z } from 'zod';
import { REPO_NAME } from './repo-name.js';

const issueCommentEventSchema = z.object({
  action: z.string().min(1).max(50),
  issue: z.object({
    number: z.number().int().positive().max(999_999_999),
    // Present (an object of URLs) only when the issue is a pull request.
    pull_request: z.object({}).optional(),
  }),
  comment: z.object({
    id: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
    // GitHub caps comments at 65536 characters; the body limit of the intake bounds the rest.
    body: z.string().nullable().default(''),
    user: z.object({ login: z.string().min(1).max(100), type: z.string().max(30).default('User') }),
  }),
  repository: z.object({ full_name: z.string().regex(REPO_NAME, 'expected "owner/name"') }),
});

export type IssueCommentEvent = z.output<typeof issueCommentEventSchema>;

export type CommentPayloadResult = { ok: true; event: IssueCommentEvent } | { ok: false; reason: string };

/** Validates a parsed payload; the reason names schema paths only, never input values. */
export function parseIssueCommentEvent(data: unknown): CommentPayloadResult {
  const result = issueCommentEventSchema.safeParse(data);
  if (result.success) return { ok: true, event: result.data };
  const first = result.error.issues[0];
  const path = first ? first.path.map(String).join('.') || '(root)' : '(root)';
  return { ok: false, reason: `${path}: invalid` };
}

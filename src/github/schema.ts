// GitHub's wire JSON, parsed only as far as previewd reads it (unknown keys dropped).
import { z } from 'zod';

export const Deployment = z.object({
  id: z.number().int(),
  sha: z.string(),
  environment: z.string(),
  created_at: z.string(),
});
export const Deployments = z.array(Deployment);

export const DeploymentStatus = z.object({
  state: z.enum(['error', 'failure', 'inactive', 'in_progress', 'queued', 'pending', 'success']),
});
export const DeploymentStatuses = z.array(DeploymentStatus);

export const Comment = z.object({
  id: z.number().int(),
  body: z.string().nullable().optional(),
  user: z.object({ login: z.string() }).nullable(),
});
export const Comments = z.array(Comment);

export const Pull = z.object({
  number: z.number().int(),
  state: z.enum(['open', 'closed']),
  draft: z.boolean().optional(),
  labels: z.array(z.object({ name: z.string() })).default([]),
  updated_at: z.string(),
  merged_at: z.string().nullable().optional(),
  merged: z.boolean().optional(),
  // Display only: a malformed value is dropped rather than costing the PR its resync.
  title: z.string().optional().catch(undefined),
  head: z.object({ sha: z.string(), ref: z.string().optional().catch(undefined), repo: z.object({ full_name: z.string() }).nullable() }),
  base: z.object({ ref: z.string() }),
});
export const Pulls = z.array(Pull);

// docs.github.com/en/rest/checks/runs#list-check-runs-for-a-git-reference: one page is
// {total_count, check_runs}; previewd reads each run's name, status and conclusion.
export const CheckRun = z.object({
  id: z.number().int(),
  name: z.string().max(1_000),
  status: z.string().max(50),
  conclusion: z.string().max(50).nullable(),
});
export const CheckRunsPage = z.object({ total_count: z.number().int(), check_runs: z.array(CheckRun) }).transform((page) => page.check_runs);

// docs.github.com/en/rest/commits/statuses#get-the-combined-status-for-a-specific-reference:
// the latest status of each context, paged like a listing.
export const CommitStatusEntry = z.object({ context: z.string().max(1_000), state: z.enum(['error', 'failure', 'pending', 'success']) });
export const CombinedStatusPage = z.object({ state: z.string(), statuses: z.array(CommitStatusEntry) }).transform((page) => page.statuses);

export const User = z.object({ login: z.string() });

// docs.github.com/rest/collaborators/collaborators#get-repository-permissions-for-a-user:
// `permission` is the legacy base role (maintain → write, triage → read); `role_name`
// names the assigned role, custom roles included.
export const CollaboratorPermission = z.object({ permission: z.string().max(50), role_name: z.string().max(100).optional() });

// docs.github.com/rest/reactions/reactions#create-reaction-for-an-issue-comment (201 new, 200 already there).
export const Reaction = z.object({ id: z.number().int(), content: z.string() });

// docs.github.com/rest/issues/labels#add-labels-to-an-issue: the labels after the change.
export const Labels = z.array(z.object({ name: z.string() }));
export const App = z.object({ slug: z.string() });
export const Installation = z.object({ id: z.number().int() });
export const AccessToken = z.object({ token: z.string(), expires_at: z.string() });

export const ErrorBody = z.object({
  message: z.string().optional(),
  errors: z.array(z.unknown()).optional(),
});

export type PullWire = z.infer<typeof Pull>;

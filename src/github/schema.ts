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

export const User = z.object({ login: z.string() });
export const App = z.object({ slug: z.string() });
export const Installation = z.object({ id: z.number().int() });
export const AccessToken = z.object({ token: z.string(), expires_at: z.string() });

export const ErrorBody = z.object({
  message: z.string().optional(),
  errors: z.array(z.unknown()).optional(),
});

export type PullWire = z.infer<typeof Pull>;

// Pure: who may approve a fork's commit or give previewd a command: a user whose
// repository role is write, maintain or admin (GitHub's role_name; triage and read may
// label and comment, but not vouch for code that runs with the cluster's credentials).
import type { RepoPermission } from '../github/types.js';

const WRITERS: ReadonlySet<RepoPermission> = new Set(['write', 'maintain', 'admin']);

export function mayApprove(permission: RepoPermission): boolean {
  return WRITERS.has(permission);
}

// What a GitHub preflight reads besides previewd's own routes, for the GitHub emulator:
// a classic PAT's scopes (the X-OAuth-Scopes header GitHub sends on every response to
// such a token), the caller's `permissions` on a repository (GET /repos/{o}/{r}), and
// the repository's webhooks (GET /repos/{o}/{r}/hooks). From GitHub's REST docs
// (docs.github.com/en/rest/repos/repos#get-a-repository, /rest/webhooks/repos#list-
// repository-webhooks: 200, or 404 "Not Found"; fine-grained tokens and App
// installations need the "Webhooks" repository permission, `repository_hooks`).

export interface RepoRole {
  admin: boolean;
  maintain: boolean;
  push: boolean;
  triage: boolean;
  pull: boolean;
}

export interface HookInput {
  url: string;
  events?: string[];
  active?: boolean;
  contentType?: 'json' | 'form';
}

export interface Hook {
  id: number;
  url: string;
  events: string[];
  active: boolean;
  contentType: 'json' | 'form';
  createdAt: number;
}

export const ADMIN_ROLE: RepoRole = { admin: true, maintain: true, push: true, triage: true, pull: true };

/** A classic PAT's scopes as GitHub lists them: comma and space separated. */
export const scopesHeader = (scopes: readonly string[]) => ({ 'x-oauth-scopes': scopes.join(', '), 'x-accepted-oauth-scopes': 'repo' });

export function hookJson(repoUrl: string, h: Hook): Record<string, unknown> {
  const at = new Date(h.createdAt).toISOString().replace(/\.\d{3}Z$/, 'Z');
  return {
    type: 'Repository',
    id: h.id,
    name: 'web',
    active: h.active,
    events: h.events,
    config: { content_type: h.contentType, insecure_ssl: '0', url: h.url },
    updated_at: at,
    created_at: at,
    url: `${repoUrl}/hooks/${h.id}`,
    test_url: `${repoUrl}/hooks/${h.id}/test`,
    ping_url: `${repoUrl}/hooks/${h.id}/pings`,
    deliveries_url: `${repoUrl}/hooks/${h.id}/deliveries`,
    last_response: { code: null, status: 'unused', message: null },
  };
}

/**
 * Who may list hooks: a user who administers the repository and, with a classic PAT,
 * holds `repo`, `admin:repo_hook` or `read:repo_hook`. Everyone else gets 404 (GitHub
 * hides what a caller may not administer).
 */
export function mayListHooks(role: RepoRole, scopes: readonly string[] | null): boolean {
  if (!role.admin) return false;
  return scopes === null || scopes.some((s) => s === 'repo' || s === 'admin:repo_hook' || s === 'read:repo_hook' || s === 'write:repo_hook');
}

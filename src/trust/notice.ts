// The PR's fork-trust notice: one sticky comment of previewd's own (found by its marker
// and author), saying what the last trust decision was: a label that approved nothing,
// a new commit awaiting approval, an approval given or withdrawn. Apart from the
// environment's sticky comment, which the reconcile owns and rewrites from its own state.
import type { GitHubClient } from '../github/types.js';
import type { EnvironmentKey } from '../environments/naming.js';

export type NoticeGitHub = Pick<GitHubClient, 'findComment' | 'createComment' | 'updateComment'>;

export function trustMarker(key: EnvironmentKey): string {
  return `<!-- previewd:trust ${key.repo}#${key.pr} -->`;
}

/** A login as shown in a notice: GitHub's own characters only, so it cannot inject markup. */
export function shownLogin(login: string): string {
  return `@${login.replace(/[^A-Za-z0-9[\]-]/g, '').slice(0, 45) || 'unknown'}`;
}

/** Edits the notice in place, or creates it. */
export async function ensureTrustNotice(github: NoticeGitHub, key: EnvironmentKey, text: string): Promise<void> {
  const marker = trustMarker(key);
  const body = [marker, `**Preview trust** (fork pull request): ${text}`].join('\n');
  const found = await github.findComment(key.repo, key.pr, marker);
  if (found && found.body === body) return;
  if (found && (await github.updateComment(key.repo, found.id, body))) return;
  await github.createComment(key.repo, key.pr, body);
}

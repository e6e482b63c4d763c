// The texts of a fork PR's trust notice (issue 13 §3): what the last trust decision was
// (a label that approved nothing, a new commit awaiting approval, an approval given or
// withdrawn). Pure. The notice is stored with the PR's approval (approvals.ts) in the
// step that decides it, and the environment's one sticky comment shows it on every
// render (environments/report.ts); there is no comment of its own.

/** A login as shown in a notice: GitHub's own characters only, so it cannot inject markup. */
export function shownLogin(login: string): string {
  return `@${login.replace(/[^A-Za-z0-9[\]-]/g, '').slice(0, 45) || 'unknown'}`;
}

const short = (sha: string) => `\`${sha.slice(0, 7)}\``;

/** How an approval came: the opt-in label or the command. */
export type ApprovalVia = { kind: 'label'; label: string } | { kind: 'command' };

const via = (how: ApprovalVia) => (how.kind === 'label' ? `label "${how.label}"` : '`/preview approve`');

export function approvedNotice(sha: string, login: string, how: ApprovalVia): string {
  return `commit ${short(sha)} approved by ${shownLogin(login)} (${via(how)}); later pushes wait for a new approval.`;
}

export function labelApprovesNothingNotice(label: string, login: string | null): string {
  const who = login === null ? 'an unknown user' : shownLogin(login);
  return `the label "${label}" applied by ${who} approves nothing: only users with write access to the repository can approve a fork's commits.`;
}

export function withdrawnNotice(label: string): string {
  return `approval withdrawn (label "${label}" removed); the preview is removed.`;
}

/** A push to an approved fork: the preview stays at `approvedSha` until a writer approves `headSha`. */
export function awaitsApprovalNotice(headSha: string, approvedSha: string | null, label: string): string {
  const staying = approvedSha === null ? '' : `; the preview stays at the approved ${short(approvedSha)}`;
  return `commit ${short(headSha)} awaits approval by a maintainer${staying}. A user with write access approves it with the label "${label}" or a \`/preview approve\` comment.`;
}

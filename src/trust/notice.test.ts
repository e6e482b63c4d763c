// The fork-trust notice as the PR sees it: a line of the environment's one sticky comment
// (report.ts renderComment), in every state, with logins reduced to GitHub's own characters.
import { describe, expect, it } from 'vitest';
import { renderComment, type CommentInput, type ReportState } from '../environments/report.js';
import { approvedNotice, awaitsApprovalNotice, labelApprovesNothingNotice, shownLogin, withdrawnNotice } from './notice.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const base: CommentInput = {
  marker: '<!-- previewd:previewd:acme-shop-pr-7 -->',
  state: 'ready',
  sha: A,
  urls: { frontend: 'https://pr-7.preview.example.com' },
  components: { frontend: 'healthy' },
  expiresAt: new Date('2026-05-08T10:00:00.000Z'),
  idleTtlMs: 7 * 86_400_000,
  logUrl: 'http://previewd.example.com/ui/pr/acme/shop/7?t=1.sig',
};

describe('shownLogin', () => {
  it.each([
    ['maya', '@maya'],
    ['previewd[bot]', '@previewd[bot]'],
    ['<img src=x>', '@imgsrcx'],
    ['**bold**\n@everyone', '@boldeveryone'],
    ['', '@unknown'],
    ['x'.repeat(500), `@${'x'.repeat(45)}`],
  ])('when the login is %j then the notice shows %j', (login, shown) => {
    expect(shownLogin(login)).toBe(shown);
  });
});

describe('the trust notice in the sticky comment', () => {
  it('when a fork was never deployed then the comment says not deployed and carries the notice under the marker, and nothing of an environment', () => {
    const body = renderComment({ ...base, state: 'not-deployed', sha: A, urls: {}, components: {}, expiresAt: null, trustNotice: awaitsApprovalNotice(A, null, 'preview') });
    const lines = body.split('\n');
    expect(lines[0]).toBe(base.marker);
    expect(lines[1]).toContain('not deployed');
    expect(body).toContain('**Fork pull request:** commit `aaaaaaa` awaits approval by a maintainer. A user with write access approves it with the label "preview" or a `/preview approve` comment.');
    expect(body).not.toContain('| commit |');
    expect(body).not.toContain('expires');
    expect(body.trimEnd().endsWith(`Details: ${base.logUrl}`)).toBe(true);
  });

  it.each<ReportState>(['waiting', 'build-failed', 'deploying', 'degraded', 'ready', 'failed', 'removed'])('when the environment is %s then the notice is carried once, beside the state', (state) => {
    const notice = awaitsApprovalNotice(B, A, 'preview');
    const body = renderComment({ ...base, state, error: 'boom', trustNotice: notice });
    expect(body.split(notice).length - 1).toBe(1);
    expect(body).toContain('the preview stays at the approved `aaaaaaa`');
    expect(body.split('\n')[0]).toBe(base.marker);
  });

  it('when there is no notice then the comment has no fork line', () => {
    expect(renderComment(base)).not.toContain('Fork pull request');
    expect(renderComment({ ...base, trustNotice: null })).toBe(renderComment(base));
  });

  it('when a hostile login is named then the comment shows only its GitHub characters: no markup, no mention, no marker', () => {
    const hostile = '<!-- previewd:x --> **@everyone** <img src=x onerror=alert(1)>';
    for (const notice of [approvedNotice(A, hostile, { kind: 'label', label: 'preview' }), approvedNotice(A, hostile, { kind: 'command' }), labelApprovesNothingNotice('preview', hostile)]) {
      const body = renderComment({ ...base, trustNotice: notice });
      expect(body).not.toContain('<img');
      expect(body).not.toContain('@everyone');
      expect(body.split('<!--').length - 1).toBe(1);
    }
  });

  it('when each decision is told then its text says what happened and what to do', () => {
    expect(approvedNotice(A, 'maya', { kind: 'label', label: 'preview' })).toBe('commit `aaaaaaa` approved by @maya (label "preview"); later pushes wait for a new approval.');
    expect(approvedNotice(A, 'maya', { kind: 'command' })).toContain('(`/preview approve`)');
    expect(labelApprovesNothingNotice('preview', null)).toContain('applied by an unknown user approves nothing');
    expect(withdrawnNotice('preview')).toBe('approval withdrawn (label "preview" removed); the preview is removed.');
  });
});

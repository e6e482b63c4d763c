import { describe, expect, it } from 'vitest';
import { parsePullRequestEvent } from './webhook-payload.js';

function valid(): Record<string, unknown> {
  return {
    action: 'opened',
    number: 42,
    pull_request: {
      number: 42,
      state: 'open',
      draft: false,
      updated_at: '2026-01-02T03:04:05Z',
      labels: [{ name: 'preview', color: 'd73a4a' }],
      title: 'anything at all',
      head: { sha: 'c'.repeat(40), ref: 'feature', repo: { full_name: 'alice/shop', fork: true } },
      base: { ref: 'main', repo: { full_name: 'acme/shop' } },
    },
    repository: { full_name: 'acme/shop', id: 1 },
  };
}

describe('parsePullRequestEvent', () => {
  it('when the payload has the fields previewd reads then it parses and drops the rest', () => {
    const result = parsePullRequestEvent(valid());
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.event.pull_request.head.sha).toBe('c'.repeat(40));
    expect(result.event.pull_request.labels).toEqual([{ name: 'preview' }]);
    expect(result.event.pull_request).not.toHaveProperty('user');
    expect(result.event.pull_request.head).not.toHaveProperty('label');
  });

  it('when the title and head branch come (display only) then they are kept, cut to GitHub-sized lengths, and a wrong type drops them instead of the webhook', () => {
    const payload = valid();
    const pr = payload.pull_request as { title: unknown; head: { ref: unknown } };
    pr.title = `<script>alert(1)</script>${'t'.repeat(2000)}`;
    pr.head.ref = `feat/<img src=x>${'r'.repeat(2000)}`;
    const result = parsePullRequestEvent(payload);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.event.pull_request.title).toBe(`<script>alert(1)</script>${'t'.repeat(256 - 25)}`);
    expect(result.event.pull_request.head.ref).toHaveLength(255);
    pr.title = { evil: true };
    pr.head.ref = 42;
    const odd = parsePullRequestEvent(payload);
    expect(odd.ok).toBe(true);
    if (!odd.ok) return;
    expect(odd.event.pull_request.title).toBeUndefined();
    expect(odd.event.pull_request.head.ref).toBeUndefined();
  });

  it('when the head sha is not a sha then it is refused with the path', () => {
    const payload = valid();
    (payload.pull_request as { head: { sha: string } }).head.sha = '; rm -rf /';
    const result = parsePullRequestEvent(payload);
    expect(result).toEqual({ ok: false, reason: expect.stringContaining('pull_request.head.sha') });
  });

  it('when a string is huge then the reason stays short and does not echo it', () => {
    const payload = valid();
    const huge = 'Z'.repeat(100_000);
    (payload.pull_request as { base: { ref: string } }).base.ref = huge;
    (payload.repository as { full_name: string }).full_name = huge;
    const result = parsePullRequestEvent(payload);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.reason.length).toBeLessThan(400);
    expect(result.reason).not.toContain('ZZZZ');
  });

  it('when the top-level number disagrees with pull_request.number then it is refused', () => {
    const payload = { ...valid(), number: 43 };
    expect(parsePullRequestEvent(payload).ok).toBe(false);
  });

  it('when updated_at is not a timestamp then it is refused', () => {
    const payload = valid();
    (payload.pull_request as { updated_at: string }).updated_at = 'yesterday';
    expect(parsePullRequestEvent(payload)).toEqual({ ok: false, reason: expect.stringContaining('pull_request.updated_at') });
  });

  it('when the fork was deleted (head.repo null) then it parses', () => {
    const payload = valid();
    (payload.pull_request as { head: { repo: unknown } }).head.repo = null;
    expect(parsePullRequestEvent(payload).ok).toBe(true);
  });

  it('when draft is missing then it defaults to false', () => {
    const payload = valid();
    delete (payload.pull_request as { draft?: boolean }).draft;
    const result = parsePullRequestEvent(payload);
    expect(result.ok && result.event.pull_request.draft).toBe(false);
  });

  it.each([null, 'text', 42, [], { action: 'opened' }])('when the payload is %j then it is refused', (payload) => {
    expect(parsePullRequestEvent(payload).ok).toBe(false);
  });
});

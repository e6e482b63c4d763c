import { describe, expect, it } from 'vitest';
import { ensureTrustNotice, shownLogin, trustMarker, type NoticeGitHub } from './notice.js';

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

describe('ensureTrustNotice', () => {
  function fakeGitHub() {
    const comments = new Map<number, string>();
    let next = 1;
    const github: NoticeGitHub = {
      findComment: async (_r, _pr, marker) => [...comments].map(([id, body]) => ({ id, body })).find((c) => c.body.includes(marker)) ?? null,
      createComment: async (_r, _pr, body) => {
        comments.set(next, body);
        return { id: next++ };
      },
      updateComment: async (_r, id, body) => (comments.has(id) ? (comments.set(id, body), true) : false),
    };
    return { github, comments };
  }
  const key = { repo: 'acme/shop', pr: 7 };

  it('when told twice then the PR has one notice, carrying the latest text under its marker', async () => {
    const { github, comments } = fakeGitHub();
    await ensureTrustNotice(github, key, 'first');
    await ensureTrustNotice(github, key, 'second');
    expect([...comments.values()]).toEqual([`${trustMarker(key)}\n**Preview trust** (fork pull request): second`]);
  });

  it('when the notice was deleted by someone then it is created again', async () => {
    const { github, comments } = fakeGitHub();
    await ensureTrustNotice(github, key, 'first');
    comments.clear();
    await ensureTrustNotice(github, key, 'again');
    expect([...comments.values()]).toHaveLength(1);
  });
});

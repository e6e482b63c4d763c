// Check runs written by previewd (docs.github.com/en/rest/checks/runs): only a GitHub App
// may create or update them; the emulator refuses what GitHub refuses.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGitHubClient } from '../../src/github/client.js';
import { generateAppKeyPair, startGitHubEmulator, type GitHubEmulator } from '../../src/sandbox/emulators/github.js';

const PAT = 'ghp_checkrunstest000000000000000000000';
const REPO = 'acme/shop';
const SHA = 'c'.repeat(40);
let gh: GitHubEmulator;
let keys: ReturnType<typeof generateAppKeyPair>;

beforeAll(async () => {
  keys = generateAppKeyPair();
  gh = await startGitHubEmulator({ token: PAT, app: { appId: 4242, slug: 'previewd-test', installationId: 77, privateKeyPem: keys.privateKeyPem } });
  gh.addRepo(REPO);
  gh.addCommit(REPO, SHA);
});
afterAll(async () => {
  await gh.close();
});

describe('check runs', () => {
  it('when previewd is an App with checks:write then it creates a run in progress and completes it with a summary', async () => {
    gh.appPermissions.checks = 'write';
    const client = createGitHubClient({ apiUrl: gh.url, userAgent: 'previewd-test', auth: { appId: 4242, privateKey: keys.privateKeyPem, installationId: 77 } });
    expect(client.writesCheckRuns).toBe(true);
    const { id } = await client.createCheckRun(REPO, SHA, 'previewd/e2e', { status: 'in_progress', output: { title: 'running', summary: 'started' } });
    expect(gh.checkRuns(REPO, SHA)).toMatchObject([{ id, name: 'previewd/e2e', status: 'in_progress', conclusion: null, appSlug: 'previewd-test' }]);
    expect(await client.updateCheckRun(REPO, id, { status: 'completed', conclusion: 'failure', output: { title: 'failed', summary: 'exit 1' } })).toBe(true);
    expect(gh.checkRuns(REPO, SHA)).toMatchObject([{ id, status: 'completed', conclusion: 'failure', output: { title: 'failed', summary: 'exit 1' } }]);
    expect(await client.listCheckRuns(REPO, SHA)).toEqual([{ id, name: 'previewd/e2e', status: 'completed', conclusion: 'failure' }]);
    expect(await client.updateCheckRun(REPO, 999_999, { status: 'queued' })).toBe(false);
  });

  it('refuses a PAT, an App without checks:write, a completed run without conclusion, and an unknown SHA', async () => {
    const post = async (auth: string, body: unknown) => {
      const res = await fetch(`${gh.url}/repos/${REPO}/check-runs`, { method: 'POST', headers: { authorization: auth, 'user-agent': 't' }, body: JSON.stringify(body) });
      return { status: res.status, body: (await res.json()) as { message: string } };
    };
    expect(await post(`token ${PAT}`, { name: 'x', head_sha: SHA })).toMatchObject({ status: 403, body: { message: 'You must authenticate via a GitHub App.' } });
    const app = createGitHubClient({ apiUrl: gh.url, userAgent: 'previewd-test', auth: { appId: 4242, privateKey: keys.privateKeyPem, installationId: 77 } });
    gh.appPermissions.checks = 'read';
    await expect(app.createCheckRun(REPO, SHA, 'x', { status: 'queued' })).rejects.toThrow(/not accessible by integration/);
    gh.appPermissions.checks = 'write';
    await expect(app.createCheckRun(REPO, SHA, 'x', { status: 'completed' })).rejects.toThrow(/Validation Failed|422/);
    await expect(app.createCheckRun(REPO, 'd'.repeat(40), 'x', { status: 'queued' })).rejects.toThrow(/No commit found/);
    const pat = createGitHubClient({ apiUrl: gh.url, userAgent: 'previewd-test', auth: { token: PAT } });
    expect(pat.writesCheckRuns).toBe(false);
  });
});

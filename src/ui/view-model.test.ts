import { describe, expect, it } from 'vitest';
import { buildConfig } from '../config/load.js';
import { environmentId } from '../environments/naming.js';
import type { EnvironmentRecord } from '../environments/types.js';
import { githubWebUrl, relativeTime, summarizeEnvironment } from './view-model.js';

const env = { VAULT_TOKEN: 'hvs.x', DATABASE_URL: 'postgres://x@h/x', GITHUB_WEBHOOK_SECRET: 'webhook-secret-0123456789', GITHUB_TOKEN: 'ghp_x', PREVIEWD_ADMIN_TOKEN: 'admin-token-0123456789' };
const config = buildConfig({ repos: [{ name: 'acme/shop', idleTtl: '2d' }] }, env);
const key = { repo: 'acme/shop', pr: 5 };
const pushed = new Date('2026-05-01T00:00:00Z');

function record(over: Partial<EnvironmentRecord> = {}): EnvironmentRecord {
  return {
    key,
    envId: environmentId(key),
    desiredPresent: true,
    desiredSha: 'a'.repeat(40),
    desiredReason: 'pull_request.synchronize',
    desiredGeneration: 1,
    observedGeneration: 1,
    prUpdatedAt: pushed,
    labels: [],
    title: null,
    branch: null,
    status: 'ready',
    observedSha: 'a'.repeat(40),
    lastError: null,
    components: { worker: 'healthy', frontend: 'healthy', api: 'healthy' },
    resources: {},
    githubDeploymentId: null,
    githubCommentId: null,
    lastPushAt: pushed,
    readyAt: pushed,
    createdAt: pushed,
    updatedAt: pushed,
    ...over,
  };
}

describe('environment summary', () => {
  it('when ready then the reason is what asked for it, routable components have URLs, and it expires idleTtl after the last push', () => {
    const s = summarizeEnvironment(config, record());
    expect(s).toMatchObject({ reason: 'pull_request.synchronize', failing: false, pendingSha: null, expiresAt: new Date('2026-05-03T00:00:00Z'), keptBy: null });
    expect(s.urls).toEqual([
      { component: 'api', url: 'https://api-pr-5.preview.localhost' },
      { component: 'frontend', url: 'https://pr-5.preview.localhost' },
    ]);
    expect(s.components.map((c) => c.name)).toEqual(['api', 'frontend', 'worker']);
    expect(s.githubUrl).toBe('https://github.com/acme/shop/pull/5');
  });

  it('when failing, kept by label, removed or pushed to then the summary says so', () => {
    expect(summarizeEnvironment(config, record({ status: 'failed', lastError: 'boom' }))).toMatchObject({ reason: 'boom', failing: true });
    expect(summarizeEnvironment(config, record({ labels: ['preview-keep'] }))).toMatchObject({ keptBy: 'preview-keep', expiresAt: null });
    expect(summarizeEnvironment(config, record({ status: 'removed', desiredPresent: false }))).toMatchObject({ expiresAt: null, urls: [] });
    expect(summarizeEnvironment(config, record({ desiredSha: 'b'.repeat(40) })).pendingSha).toBe('b'.repeat(40));
    expect(summarizeEnvironment(config, record({ key: { repo: 'gone/repo', pr: 5 } }))).toMatchObject({ urls: [], expiresAt: null });
  });

  it('when waiting for its build then the reason is what it waits for, not a failure', () => {
    const line = 'waiting for the build: check build-images (in_progress)';
    const waiting = record({ status: 'waiting_for_build', resources: { build: { sha: 'b'.repeat(40), checkedAt: '2026-05-01T00:00:00Z', line } } });
    expect(summarizeEnvironment(config, waiting)).toMatchObject({ status: 'waiting_for_build', reason: line, failing: false });
  });

  it('when GitHub is Enterprise then PR links go to its web host', () => {
    expect(githubWebUrl('https://api.github.com')).toBe('https://github.com');
    expect(githubWebUrl('https://ghe.example.com/api/v3')).toBe('https://ghe.example.com');
    expect(githubWebUrl('https://ghe.example.com/api/v3/')).toBe('https://ghe.example.com');
  });

  it('when times are shown then they are coarse, past or future', () => {
    const now = new Date('2026-05-01T12:00:00Z');
    expect(relativeTime(new Date('2026-05-01T11:59:50Z'), now)).toBe('just now');
    expect(relativeTime(new Date('2026-05-01T11:00:00Z'), now)).toBe('1h ago');
    expect(relativeTime(new Date('2026-05-03T12:00:00Z'), now)).toBe('in 2d');
    expect(relativeTime(new Date('2026-05-01T11:58:00Z'), now)).toBe('2m ago');
  });
});

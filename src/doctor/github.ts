// GitHub preconditions: the token's (or App installation's) permissions on every
// configured repository, and the webhook that brings pull_request events to previewd.
// Read-only: GET requests only (an App is checked with its JWT; no installation token
// is minted).
import type { Config } from '../config/schema.js';
import { createAppJwt } from '../github/app-auth.js';
import { WEBHOOK_PATH } from '../http/webhooks.js';
import { answerText, createProbe } from './http.js';
import { fail, pass, warn, type CheckResult, type Probe, type ProbeAnswer } from './types.js';

/** What previewd writes per PR: a deployment and its statuses, a commit status, one comment; and reads the PR. */
const APP_PERMISSIONS: Record<string, 'read' | 'write'> = { deployments: 'write', statuses: 'write', pull_requests: 'write', contents: 'read', metadata: 'read' };
/** Classic PAT scopes that cover those calls on a private repository. */
const CLASSIC_SCOPES = ['repo'];

interface HookView {
  active?: boolean;
  events?: string[];
  config?: { url?: string; content_type?: string };
}

/** The hook that delivers to previewd, judged; pure. */
export function judgeHooks(check: string, hooks: HookView[], expectedUrl: string, fixWhere: string): CheckResult {
  const same = (u: string | undefined) => (u ?? '').replace(/\/+$/, '') === expectedUrl;
  const ours = hooks.filter((h) => same(h.config?.url));
  const fix = `${fixWhere}: payload URL ${expectedUrl}, content type application/json, the webhook secret GITHUB_WEBHOOK_SECRET, event "Pull requests", active`;
  if (ours.length === 0) return fail(check, `no webhook points at ${expectedUrl} (${hooks.length} other hook(s))`, fix);
  const good = ours.find((h) => h.active !== false && (h.events ?? []).some((e) => e === 'pull_request' || e === '*') && (h.config?.content_type ?? 'json') === 'json');
  if (!good) return fail(check, `the webhook at ${expectedUrl} is inactive, sends form data, or lacks the pull_request event`, fix);
  return pass(check, `active webhook at ${expectedUrl} with pull_request`);
}

/**
 * The checks grant a repo needs on top: write where the e2e gate writes its check run
 * (docs.github.com/en/rest/checks/runs), read where the build gate reads the SHA's check
 * runs (build-wait), none otherwise.
 */
function checksNeeded(repo: Pick<Config['repos'][number], 'build' | 'e2e'>): 'read' | 'write' | null {
  if (repo.e2e) return 'write';
  return (repo.build?.checks.length ?? 0) > 0 ? 'read' : null;
}

function missingPermissions(granted: Record<string, string> | undefined, checks: 'read' | 'write' | null): string[] {
  const g = granted ?? {};
  return Object.entries({ ...APP_PERMISSIONS, ...(checks ? { checks } : {}) })
    .filter(([name, level]) => {
      // issues write also covers PR comments: either of the two is enough.
      const have = name === 'pull_requests' ? (g[name] ?? g['issues']) : g[name];
      return !have || (level === 'write' && have !== 'write');
    })
    .map(([name, level]) => `${name}:${level}`);
}

async function checkPat(http: Probe, config: Config, hookUrl: string): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const { name } of config.repos) {
    const repo = await http(`/repos/${name}`);
    if (repo.status !== 200) {
      results.push(fail(`github.repo ${name}`, `GET /repos/${name}: ${answerText(repo)}`, 'give GITHUB_TOKEN access to the repository (a classic PAT with the repo scope, or a fine-grained PAT selecting it)'));
      continue;
    }
    const scopes = repo.headers.get('x-oauth-scopes');
    const perms = (repo.body as { permissions?: { push?: boolean; admin?: boolean } }).permissions ?? {};
    const scopeList = scopes === null ? null : scopes.split(',').map((s) => s.trim()).filter(Boolean);
    const missingScopes = scopeList === null ? [] : CLASSIC_SCOPES.filter((s) => !scopeList.includes(s));
    if (!perms.push) {
      results.push(fail(`github.repo ${name}`, `the token's user cannot write to ${name} (permissions.push is false): deployments, statuses and comments need it`, `give the token's user write access to ${name}`));
    } else if (missingScopes.length > 0) {
      results.push(fail(`github.repo ${name}`, `classic token scopes "${scopes}" lack ${missingScopes.join(', ')}`, `create the token with the ${CLASSIC_SCOPES.join(', ')} scope`));
    } else {
      results.push(pass(`github.repo ${name}`, `write access${scopeList === null ? ' (fine-grained token: Deployments, Commit statuses, Pull requests write and Contents read assumed)' : `, scopes: ${scopes}`}`));
    }
    const hooks = await http(`/repos/${name}/hooks`);
    results.push(hookResult(name, hooks, hookUrl, 'admin:repo_hook (classic) or Webhooks: read (fine-grained), and admin on the repository'));
  }
  return results;
}

function hookResult(name: string, hooks: ProbeAnswer, hookUrl: string, permission: string): CheckResult {
  const check = `github.webhook ${name}`;
  if (hooks.status === 404 || hooks.status === 403) {
    return warn(check, `cannot list webhooks (${answerText(hooks)}); previewd does not need to, so the webhook was not verified`, `check it by hand in ${name}'s settings, or grant ${permission} to let doctor see it`);
  }
  if (hooks.status !== 200 || !Array.isArray(hooks.body)) return fail(check, `GET /repos/${name}/hooks: ${answerText(hooks)}`, 'check GITHUB_API_URL and the token');
  return judgeHooks(check, hooks.body as HookView[], hookUrl, `add a webhook in ${name}'s settings (Settings → Webhooks)`);
}

async function checkApp(config: Config, hookUrl: string, now: () => number): Promise<CheckResult[]> {
  const { env } = config;
  const jwt = createAppJwt(env.GITHUB_APP_ID!, env.GITHUB_APP_PRIVATE_KEY!, now());
  const http = createProbe(env.GITHUB_API_URL, { authorization: `Bearer ${jwt}`, accept: 'application/vnd.github+json', 'user-agent': 'previewd-doctor' });
  const app = await http('/app');
  if (app.status !== 200) return [fail('github.app', `GET /app: ${answerText(app)}`, 'check GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY (the App\'s private key, PEM)')];
  const body = app.body as { slug?: string; events?: string[] };
  const results: CheckResult[] = [
    (body.events ?? []).includes('pull_request')
      ? pass('github.app', `App ${body.slug ?? env.GITHUB_APP_ID} subscribes to pull_request`)
      : fail('github.app', `App ${body.slug ?? env.GITHUB_APP_ID} does not subscribe to the pull_request event`, 'App settings → Permissions & events → Subscribe to events: Pull request'),
  ];
  const hook = await http('/app/hook/config');
  if (hook.status === 200) {
    const cfg = hook.body as { url?: string; content_type?: string };
    results.push(judgeHooks('github.webhook app', [{ active: true, events: body.events, config: cfg }], hookUrl, 'App settings → Webhook'));
  } else {
    results.push(warn('github.webhook app', `GET /app/hook/config: ${answerText(hook)}`, `check the App's webhook URL is ${hookUrl}`));
  }
  for (const repo of config.repos) {
    const { name } = repo;
    const inst = await http(`/repos/${name}/installation`);
    if (inst.status !== 200) {
      results.push(fail(`github.repo ${name}`, `the App is not installed on ${name} (${answerText(inst)})`, `install the App on ${name}`));
      continue;
    }
    const missing = missingPermissions((inst.body as { permissions?: Record<string, string> }).permissions, checksNeeded(repo));
    results.push(
      missing.length === 0
        ? pass(`github.repo ${name}`, 'installation has deployments, statuses, pull_requests write and contents read')
        : fail(`github.repo ${name}`, `installation lacks ${missing.join(', ')}`, `App settings → Permissions: grant ${missing.join(', ')}, then accept the new permissions on the installation`),
    );
  }
  return results;
}

export async function checkGitHub(config: Config, now: () => number = Date.now): Promise<CheckResult[]> {
  const { env } = config;
  const hookUrl = `${config.publicUrl.replace(/\/+$/, '')}${WEBHOOK_PATH}`;
  if (config.repos.length === 0) return [fail('github.repos', 'no repositories are configured', 'add repos[] to the config file')];
  if (env.GITHUB_APP_ID && env.GITHUB_APP_PRIVATE_KEY) return checkApp(config, hookUrl, now);
  const http = createProbe(env.GITHUB_API_URL, { authorization: `token ${env.GITHUB_TOKEN ?? ''}`, accept: 'application/vnd.github+json', 'user-agent': 'previewd-doctor' });
  return checkPat(http, config, hookUrl);
}

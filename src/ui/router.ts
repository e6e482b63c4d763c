// The dashboard at /ui: server-rendered pages for operators (signed in with the admin
// token) and one read-only page per PR for its readers (a signed link). The rules:
// - routes are exact (case-sensitive, no trailing-slash variants), like the admin API;
// - operator pages need a session cookie (HttpOnly, SameSite=Strict, Secure behind
//   TLS); without one a request is sent to the sign-in page;
// - every POST carries the session's CSRF token (the sign-in form a pre-session one),
//   compared in constant time; a missing or wrong one is a 403 and changes nothing;
// - a reader link authorises exactly one repo and PR until its expiry; anything else
//   about it (tampered, expired, another PR) is a 403, and it opens no operator page;
// - every page is escaped by construction (html.ts), scrubbed of known secrets as a
//   last line of defence, served with a CSP that allows nothing but 'self', and never
//   sends a Referer (a reader's link must not leak to the preview it links to).
import type { Context } from 'koa';
import { Router } from '@koa/router';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { Clock } from '../deps.js';
import { configSecrets, createScrubber } from '../environments/credentials.js';
import { isValidKey, type EnvironmentKey } from '../environments/naming.js';
import type { EnvironmentStore } from '../environments/types.js';
import type { GcFilter, GcPlan } from '../gc/types.js';
import { tokenMatches } from '../http/admin.js';
import type { NomadClient } from '../nomad/types.js';
import type { ReconcileQueue } from '../queue/reconcile-queue.js';
import { safeErrorLine } from '../secrets.js';
import { linkKey, verifyLinkToken } from './links.js';
import { readComponentLive } from './live-components.js';
import { environmentPage, environmentsPage, gcPage, messagePage, queuePage, signInPage, STYLESHEET_PATH, UI_BASE, type Chrome, type ComponentView } from './pages.js';
import { randomToken, type Session, type SessionStore } from './sessions.js';
import { STYLESHEET } from './styles.js';
import { namesOf, summarizeEnvironment } from './view-model.js';
import { configuredRepo } from '../config/repos.js';

export interface UiDeps {
  config: Config;
  clock: Clock;
  log: Logger;
  store: Pick<EnvironmentStore, 'list' | 'get' | 'listEvents'>;
  queue: Pick<ReconcileQueue, 'counts' | 'listParked' | 'listPending' | 'retryParked'>;
  nomad: Pick<NomadClient, 'getLatestDeployment' | 'listAllocations'>;
  sessions: SessionStore;
  /** The same GC entry point as POST /admin/gc. */
  runGc(options: { dryRun: boolean; filter: GcFilter }): Promise<{ plan: GcPlan; done: unknown[]; failed: { error: string }[] }>;
  /** Bound on each Nomad read of an environment page (default 3 s). */
  nomadTimeoutMs?: number;
}

export const SESSION_COOKIE = 'previewd_session';
export const SIGN_IN_COOKIE = 'previewd_signin';
const SIGN_IN_TTL_MS = 3_600_000;
const FORM_LIMIT_BYTES = 16 * 1024;

const CSP = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'";
const PR_NUMBER = /^[1-9]\d{0,8}$/;
const NOTICES: Record<string, string> = {
  retried: 'Retry queued: the PR will be reconciled again.',
  gone: 'That job is no longer parked (already retried or removed).',
};

type Form = URLSearchParams;

class FormRejected extends Error {
  constructor(readonly status: number) {
    super('form rejected');
  }
}

async function readForm(ctx: Context): Promise<Form> {
  if (!/^application\/x-www-form-urlencoded\b/i.test(ctx.get('content-type'))) throw new FormRejected(415);
  const declared = Number(ctx.get('content-length'));
  if (Number.isFinite(declared) && declared > FORM_LIMIT_BYTES) throw new FormRejected(413);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of ctx.req) {
    total += (chunk as Buffer).length;
    if (total > FORM_LIMIT_BYTES) throw new FormRejected(413);
    chunks.push(chunk as Buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks, total).toString('utf8'));
}

export function uiRouter(deps: UiDeps): Router {
  const { config } = deps;
  const router = new Router({ sensitive: true, strict: true });
  const scrub = createScrubber(configSecrets(config));
  const key = linkKey(config.env);
  const nomadTimeoutMs = deps.nomadTimeoutMs ?? 3_000;

  const secureRequest = (ctx: Context): boolean => {
    if (config.publicUrl.startsWith('https:')) return true;
    if (config.ui.trustProxy && ctx.get('x-forwarded-proto').split(',')[0]!.trim().toLowerCase() === 'https') return true;
    return (ctx.req.socket as { encrypted?: boolean }).encrypted === true;
  };

  const setCookie = (ctx: Context, name: string, value: string, maxAgeMs: number) => {
    const parts = [`${name}=${value}`, `Path=${UI_BASE}`, `Max-Age=${Math.floor(maxAgeMs / 1000)}`, 'HttpOnly', 'SameSite=Strict'];
    if (secureRequest(ctx)) parts.push('Secure');
    ctx.append('Set-Cookie', parts.join('; '));
  };

  const send = (ctx: Context, status: number, page: string) => {
    ctx.status = status;
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = scrub(page);
  };

  const sessionOf = async (ctx: Context): Promise<Session | null> => {
    const id = ctx.cookies.get(SESSION_COOKIE);
    return id ? deps.sessions.get(id) : null;
  };

  /** The signed-in operator's session (with the form of a POST, its CSRF token checked), or null once answered. */
  const operator = async (ctx: Context): Promise<{ session: Session; form: Form | null } | null> => {
    const session = await sessionOf(ctx);
    if (!session) {
      ctx.status = 303;
      ctx.redirect(`${UI_BASE}/sign-in`);
      return null;
    }
    if (ctx.method !== 'POST') return { session, form: null };
    const form = await readForm(ctx);
    const given = form.get('csrf');
    if (!given || !tokenMatches(given, session.csrf)) {
      send(ctx, 403, messagePage({ audience: 'operator', csrf: session.csrf }, 'Request refused', 'The form was missing its CSRF token or carried a wrong one. Reload the page and try again.'));
      return null;
    }
    return { session, form };
  };

  const chrome = (session: Session, section?: 'environments' | 'queue' | 'gc'): Chrome & { audience: 'operator' } => ({
    audience: 'operator',
    csrf: session.csrf,
    ...(section ? { section } : {}),
  });

  const keyFromParams = (ctx: Context): EnvironmentKey | null => {
    const { owner, repo, pr } = ctx.params as Record<string, string | undefined>;
    if (!owner || !repo || !pr || !PR_NUMBER.test(pr)) return null;
    const key = { repo: `${owner}/${repo}`, pr: Number(pr) };
    return isValidKey(key) ? key : null;
  };

  const componentViews = async (envKey: EnvironmentKey, components: Record<string, string>, forOperator: boolean): Promise<ComponentView[]> => {
    const names = namesOf(config, envKey);
    if (!names) return [];
    const namespace = config.env.NOMAD_NAMESPACE;
    return Promise.all(
      Object.entries(components)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(async ([name, state]) => {
          const jobId = names.jobId(name);
          const routable = names.host(name) !== null;
          return {
            name,
            state,
            jobId,
            live: await readComponentLive(deps.nomad, jobId, nomadTimeoutMs),
            // Nomad UI: /ui/jobs/<id>@<namespace> (nomad ui/app/routes/jobs/job.js splits job_name on "@").
            nomadUrl: forOperator && config.ui.nomadUrl ? `${config.ui.nomadUrl.replace(/\/+$/, '')}/jobs/${encodeURIComponent(`${jobId}@${namespace}`)}` : null,
            consulUrl:
              forOperator && routable && config.ui.consulUrl
                ? `${config.ui.consulUrl.replace(/\/+$/, '')}/services/${encodeURIComponent(names.serviceName(name))}/instances`
                : null,
          };
        }),
    );
  };

  // Headers for every dashboard answer, and an HTML page (not JSON) when a route fails.
  router.use(async (ctx, next) => {
    ctx.set('Content-Security-Policy', CSP);
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('X-Frame-Options', 'DENY');
    ctx.set('Referrer-Policy', 'no-referrer');
    ctx.set('Cache-Control', 'no-store');
    try {
      await next();
    } catch (err) {
      if (err instanceof FormRejected) {
        send(ctx, err.status, messagePage({ audience: 'anonymous' }, 'Request refused', 'Expected a small form submitted from this dashboard.'));
        return;
      }
      deps.log.error({ error: safeErrorLine(err), method: ctx.method, path: ctx.path.slice(0, 200) }, 'dashboard request failed');
      send(ctx, 500, messagePage({ audience: 'anonymous' }, 'Something went wrong', 'The page could not be built; the error is in the daemon log.'));
    }
  });

  router.get(STYLESHEET_PATH, (ctx) => {
    ctx.type = 'text/css; charset=utf-8';
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.body = STYLESHEET;
  });

  router.get(`${UI_BASE}/sign-in`, async (ctx) => {
    if (await sessionOf(ctx)) return ctx.redirect(UI_BASE);
    const csrf = randomToken();
    setCookie(ctx, SIGN_IN_COOKIE, csrf, SIGN_IN_TTL_MS);
    send(ctx, 200, signInPage({ csrf, failed: false }));
  });

  router.post(`${UI_BASE}/sign-in`, async (ctx) => {
    const form = await readForm(ctx);
    const expected = ctx.cookies.get(SIGN_IN_COOKIE);
    const given = form.get('csrf');
    if (!expected || !given || !tokenMatches(given, expected)) {
      send(ctx, 403, messagePage({ audience: 'anonymous' }, 'Request refused', 'The sign-in form expired or did not come from this dashboard. Open the sign-in page again.'));
      return;
    }
    if (!tokenMatches(form.get('token') ?? '', config.env.PREVIEWD_ADMIN_TOKEN)) {
      deps.log.warn({ ip: ctx.ip }, 'dashboard sign-in with a wrong token');
      const csrf = randomToken();
      setCookie(ctx, SIGN_IN_COOKIE, csrf, SIGN_IN_TTL_MS);
      send(ctx, 403, signInPage({ csrf, failed: true }));
      return;
    }
    // A fresh session ID on every sign-in: a cookie planted before cannot be carried over.
    const { id } = await deps.sessions.create();
    deps.log.info({ ip: ctx.ip }, 'dashboard sign-in');
    setCookie(ctx, SESSION_COOKIE, id, config.ui.sessionTtl);
    setCookie(ctx, SIGN_IN_COOKIE, '', 0);
    ctx.status = 303;
    ctx.redirect(UI_BASE);
  });

  router.post(`${UI_BASE}/sign-out`, async (ctx) => {
    const auth = await operator(ctx);
    if (!auth) return;
    const id = ctx.cookies.get(SESSION_COOKIE);
    if (id) await deps.sessions.destroy(id);
    setCookie(ctx, SESSION_COOKIE, '', 0);
    ctx.status = 303;
    ctx.redirect(`${UI_BASE}/sign-in`);
  });

  router.get(UI_BASE, async (ctx) => {
    const auth = await operator(ctx);
    if (!auth) return;
    const records = await deps.store.list();
    const summaries = records
      .map((r) => summarizeEnvironment(config, r))
      .sort((a, b) => Number(a.status === 'removed') - Number(b.status === 'removed') || b.updatedAt.getTime() - a.updatedAt.getTime());
    send(ctx, 200, environmentsPage({ chrome: chrome(auth.session, 'environments'), environments: summaries, now: deps.clock.now() }));
  });

  router.get(`${UI_BASE}/environments/:owner/:repo/:pr`, async (ctx) => {
    const auth = await operator(ctx);
    if (!auth) return;
    const envKey = keyFromParams(ctx);
    const record = envKey ? await deps.store.get(envKey) : null;
    if (!envKey || !record) {
      send(ctx, 404, messagePage(chrome(auth.session, 'environments'), 'Not found', 'No environment for that repository and pull request.'));
      return;
    }
    const names = namesOf(config, envKey);
    const [events, components] = await Promise.all([deps.store.listEvents(envKey, 100), componentViews(envKey, record.components, true)]);
    const resources = names
      ? [
          { label: 'Database', name: names.database },
          { label: 'Database login', name: names.role },
          { label: 'Vault secret', name: `${config.vault.kvMount}/data/${names.vaultPath}` },
          { label: 'Vault policy', name: names.vaultPolicy },
          { label: 'Vault role', name: `auth/${config.vault.jwtMount}/role/${names.vaultRole}` },
          { label: 'GitHub environment', name: names.githubEnvironment },
        ]
      : null;
    send(ctx, 200, environmentPage({ chrome: chrome(auth.session, 'environments'), summary: summarizeEnvironment(config, record), events, components, resources, now: deps.clock.now() }));
  });

  router.get(`${UI_BASE}/queue`, async (ctx) => {
    const auth = await operator(ctx);
    if (!auth) return;
    const [counts, pending, parked] = await Promise.all([deps.queue.counts(), deps.queue.listPending(100), deps.queue.listParked(100)]);
    const notice = typeof ctx.query.notice === 'string' ? (NOTICES[ctx.query.notice] ?? null) : null;
    send(ctx, 200, queuePage({ chrome: chrome(auth.session, 'queue'), counts, pending, parked, now: deps.clock.now(), notice }));
  });

  router.post(`${UI_BASE}/queue/parked/:id/retry`, async (ctx) => {
    const auth = await operator(ctx);
    if (!auth) return;
    const id = String((ctx.params as Record<string, string>).id ?? '');
    const retried = /^[A-Za-z0-9:_-]{1,100}$/.test(id) && (await deps.queue.retryParked(id));
    if (retried) deps.log.info({ jobId: id }, 'parked job retried from the dashboard');
    ctx.status = 303;
    ctx.redirect(`${UI_BASE}/queue?notice=${retried ? 'retried' : 'gone'}`);
  });

  router.get(`${UI_BASE}/gc`, async (ctx) => {
    const auth = await operator(ctx);
    if (!auth) return;
    const result = await deps.runGc({ dryRun: true, filter: {} });
    send(ctx, 200, gcPage({ chrome: chrome(auth.session, 'gc'), plan: result.plan, applied: null }));
  });

  router.post(`${UI_BASE}/gc`, async (ctx) => {
    const auth = await operator(ctx);
    if (!auth) return;
    const result = await deps.runGc({ dryRun: false, filter: {} });
    deps.log.info({ applied: result.done.length, failed: result.failed.length }, 'GC applied from the dashboard');
    send(ctx, 200, gcPage({ chrome: chrome(auth.session, 'gc'), plan: result.plan, applied: { done: result.done.length, failed: result.failed.map((f) => f.error) } }));
  });

  // A PR reader's page: authorised by the signed link alone, for that one repo and PR.
  router.get(`${UI_BASE}/pr/:owner/:repo/:pr`, async (ctx) => {
    ctx.set('X-Robots-Tag', 'noindex');
    const envKey = keyFromParams(ctx);
    const configured = envKey !== null && configuredRepo(config, envKey.repo) !== undefined;
    const verdict = configured ? verifyLinkToken(key, envKey, ctx.query.t, deps.clock.now()) : null;
    if (!envKey || !verdict?.ok) {
      send(ctx, 403, messagePage({ audience: 'anonymous' }, 'Link not valid', 'This link has expired or is not valid for this pull request. The comment on the pull request always carries a current one.'));
      return;
    }
    const record = await deps.store.get(envKey);
    const subject = `${envKey.repo}#${envKey.pr}`;
    if (!record) {
      send(ctx, 404, messagePage({ audience: 'reader', subject }, 'Not found', 'This pull request has no preview environment.'));
      return;
    }
    const [events, components] = await Promise.all([deps.store.listEvents(envKey, 50), componentViews(envKey, record.components, false)]);
    send(ctx, 200, environmentPage({ chrome: { audience: 'reader', subject }, summary: summarizeEnvironment(config, record), events, components, resources: null, now: deps.clock.now() }));
  });

  return router;
}

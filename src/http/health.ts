// Readiness. /readyz checks every system previewd needs, each with a short timeout,
// and lists them ok or failing; any failure → 503. It is unauthenticated, so it says
// which system fails and nothing of why: an upstream error names internal addresses
// and hosts (`dial tcp 10.…`). The reason goes to the log when a check starts failing. Liveness (/healthz) is app.ts's and deliberately
// checks nothing, so an outage of Vault never gets the daemon restarted in a loop.
import type { Router } from '@koa/router';
import { strictRouter } from './strict-router.js';
import type { Logger } from 'pino';
import type { Deps } from '../deps.js';
import { safeErrorLine } from '../secrets.js';
import { withTimeout } from '../timeout.js';

export interface ReadinessCheck {
  name: string;
  check: () => Promise<unknown>;
}

export interface CheckResult {
  name: string;
  ok: boolean;
  ms: number;
  error?: string;
}

async function runCheck(check: ReadinessCheck, timeoutMs: number): Promise<CheckResult> {
  const started = performance.now();
  try {
    await withTimeout(check.check(), timeoutMs, () => new Error(`no answer within ${timeoutMs} ms`));
    return { name: check.name, ok: true, ms: Math.round(performance.now() - started) };
  } catch (err) {
    return { name: check.name, ok: false, ms: Math.round(performance.now() - started), error: safeErrorLine(err, 200) };
  }
}

export async function checkReadiness(checks: ReadinessCheck[], timeoutMs = 2000): Promise<{ ready: boolean; checks: CheckResult[] }> {
  const results = await Promise.all(checks.map((c) => runCheck(c, timeoutMs)));
  return { ready: results.every((r) => r.ok), checks: results };
}

/** The standard checks: Postgres, Redis, Nomad, Consul, Vault. */
export function standardChecks(deps: Pick<Deps, 'databases' | 'nomad' | 'consul' | 'vault'>, redis: { ping(): Promise<unknown> }): ReadinessCheck[] {
  return [
    { name: 'postgres', check: () => deps.databases.ping() },
    { name: 'redis', check: () => redis.ping() },
    { name: 'nomad', check: () => deps.nomad.ping() },
    { name: 'consul', check: () => deps.consul.ping() },
    { name: 'vault', check: () => deps.vault.ping() },
  ];
}

export function readinessRouter(checks: ReadinessCheck[], options: { timeoutMs?: number; log?: Logger } = {}): Router {
  const router = strictRouter();
  // Log a failing check when it starts failing (and again if its reason changes), not on every probe.
  const lastLogged = new Map<string, string | null>();
  router.get('/readyz', async (ctx) => {
    const result = await checkReadiness(checks, options.timeoutMs ?? 2000);
    for (const check of result.checks) {
      const reason = check.ok ? null : (check.error ?? 'failed');
      if ((lastLogged.get(check.name) ?? null) === reason) continue;
      lastLogged.set(check.name, reason);
      if (reason === null) options.log?.info({ check: check.name }, 'readiness check passing again');
      else options.log?.warn({ check: check.name, error: reason, ms: check.ms }, 'readiness check failing');
    }
    ctx.status = result.ready ? 200 : 503;
    ctx.body = {
      status: result.ready ? 'ready' : 'not ready',
      checks: result.checks.map((c) => ({ name: c.name, ok: c.ok, ms: c.ms })),
    };
  });
  return router;
}

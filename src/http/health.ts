// Readiness. /readyz checks every system previewd needs, each with a short timeout,
// and lists them; any failure → 503. Liveness (/healthz) is app.ts's and deliberately
// checks nothing, so an outage of Vault never gets the daemon restarted in a loop.
import type { Router } from '@koa/router';
import { strictRouter } from './strict-router.js';
import type { Deps } from '../deps.js';
import { safeErrorLine } from '../secrets.js';

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
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check.check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { name: check.name, ok: true, ms: Math.round(performance.now() - started) };
  } catch (err) {
    return { name: check.name, ok: false, ms: Math.round(performance.now() - started), error: safeErrorLine(err, 200) };
  } finally {
    clearTimeout(timer);
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

export function readinessRouter(checks: ReadinessCheck[], options: { timeoutMs?: number } = {}): Router {
  const router = strictRouter();
  router.get('/readyz', async (ctx) => {
    const result = await checkReadiness(checks, options.timeoutMs ?? 2000);
    ctx.status = result.ready ? 200 : 503;
    ctx.body = { status: result.ready ? 'ready' : 'not ready', checks: result.checks };
  });
  return router;
}

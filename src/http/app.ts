// The koa app factory. Each HTTP concern (webhooks, admin API, dashboard, metrics) is a
// router built elsewhere and passed in `routers`, so adding one is a line in the
// composition root. This file owns only what every route shares:
// the last-resort error handler and /healthz. Mount no app-wide body parser: the
// webhook route verifies its signature over the raw bytes and reads them itself.
import Koa from 'koa';
import type { Router } from '@koa/router';
import { strictRouter } from './strict-router.js';
import type { Logger } from 'pino';
import { safeErrorLine } from '../secrets.js';

export interface AppOptions {
  log: Logger;
  /** Routers mounted in order after the built-in ones. */
  routers?: Router[];
}

function mountRouter(app: Koa, router: Router): void {
  app.use(router.routes());
  app.use(router.allowedMethods());
}

/** GET /healthz: the process is up and serving HTTP; says nothing about dependencies (that is /readyz). */
function createHealthRouter(): Router {
  const router = strictRouter();
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  return router;
}

const ABORT_CODES = new Set(['ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ERR_STREAM_PREMATURE_CLOSE']);

/** A read that failed because the client's side of the connection is gone. */
function clientWentAway(ctx: Koa.Context, err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && ABORT_CODES.has(code)) return true;
  return ctx.req.destroyed && (err as { message?: unknown } | null)?.message === 'aborted';
}

export function createApp(options: AppOptions): Koa {
  const app = new Koa();
  // Our own handler answers every error; koa's default would print stacks to stderr.
  app.silent = true;
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      if (clientWentAway(ctx, err)) {
        // The client hung up (or Node closed a request that overran its timeout): there is
        // no one to answer and nothing went wrong on our side.
        options.log.debug({ method: ctx.method, path: ctx.path.slice(0, 200) }, 'client went away mid-request');
        ctx.respond = false;
        ctx.req.socket.destroy();
        return;
      }
      const status = (err as { status?: unknown }).status;
      const expose = (err as { expose?: unknown }).expose === true;
      if (typeof status === 'number' && status >= 400 && status < 500) {
        ctx.status = status;
        ctx.body = { status: 'error', reason: expose ? String((err as Error).message).slice(0, 200) : 'bad request' };
        return;
      }
      // The message may come from a library and is not vetted for secrets: log it, never send it.
      options.log.error({ error: safeErrorLine(err), method: ctx.method, path: ctx.path.slice(0, 200) }, 'request failed');
      ctx.status = 500;
      ctx.body = { status: 'error', reason: 'internal error' };
    }
  });
  mountRouter(app, createHealthRouter());
  for (const router of options.routers ?? []) mountRouter(app, router);
  return app;
}

// GET /metrics: the registry of the daemon's metrics (src/metrics.ts) in Prometheus text format.
import type { Router } from '@koa/router';
import type { PreviewdMetrics } from '../metrics.js';
import { strictRouter } from './strict-router.js';

export function metricsRouter(metrics: Pick<PreviewdMetrics, 'registry'>): Router {
  const router = strictRouter();
  router.get('/metrics', async (ctx) => {
    ctx.set('Content-Type', metrics.registry.contentType);
    ctx.body = await metrics.registry.metrics();
  });
  return router;
}

// /metrics as Prometheus reads it: the text is parsed by a real exposition-format
// parser, and the scrape-time gauges reflect their sources at scrape time.
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import Koa from 'koa';
// @ts-expect-error the parser ships no type declarations
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metricsRouter } from '../src/http/metrics.js';
import { createMetrics } from '../src/metrics.js';

interface Family {
  name: string;
  type: string;
  metrics: { labels?: Record<string, string>; value?: string; buckets?: Record<string, string>; count?: string }[];
}

const m = createMetrics();
let server: Server;
let base: string;
let environments: Record<string, number> = { ready: 3, failed: 1 };

beforeAll(async () => {
  m.bindSources({
    environmentsByState: async () => environments,
    queueStats: async () => ({ counts: { waiting: 4, active: 2, parked: 1 }, oldestWaitingAgeSeconds: 42 }),
  });
  const app = new Koa();
  const router = metricsRouter(m);
  app.use(router.routes());
  server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

async function scrape(): Promise<Map<string, Family>> {
  const res = await fetch(`${base}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
  const families = parsePrometheusTextFormat(await res.text()) as Family[];
  return new Map(families.map((f) => [f.name, f]));
}

const valueOf = (family: Family | undefined, labels: Record<string, string>) =>
  Number(family?.metrics.find((x) => Object.entries(labels).every(([k, v]) => x.labels?.[k] === v))?.value);

describe('/metrics', () => {
  it('when scraped then every previewd family parses with its type, and recorded values show up', async () => {
    m.stepFailures.inc({ system: 'nomad' });
    m.stepFailures.inc({ system: 'nomad' });
    m.gcRemovals.inc({ kind: 'idle' });
    m.provisioningDuration.observe(37);
    m.recordWebhook('pull_request', 'accepted');
    const families = await scrape();
    expect(families.get('previewd_environments')?.type).toBe('GAUGE');
    expect(families.get('previewd_provisioning_duration_seconds')?.type).toBe('HISTOGRAM');
    expect(valueOf(families.get('previewd_step_failures_total'), { system: 'nomad' })).toBe(2);
    expect(valueOf(families.get('previewd_gc_removals_total'), { kind: 'idle' })).toBe(1);
    expect(valueOf(families.get('previewd_webhooks_total'), { event: 'pull_request', outcome: 'accepted' })).toBe(1);
    const histogram = families.get('previewd_provisioning_duration_seconds')!.metrics[0]!;
    expect(histogram.count).toBe('1');
    expect(Number(histogram.buckets?.['60'])).toBe(1);
    expect(Number(histogram.buckets?.['30'])).toBe(0);
  });

  it('when the store and queue change then the next scrape reports the new state, and stale states vanish', async () => {
    let families = await scrape();
    expect(valueOf(families.get('previewd_environments'), { state: 'ready' })).toBe(3);
    expect(valueOf(families.get('previewd_queue_depth'), { state: 'waiting' })).toBe(4);
    expect(Number(families.get('previewd_queue_oldest_age_seconds')?.metrics[0]?.value)).toBe(42);
    environments = { ready: 5 };
    families = await scrape();
    expect(valueOf(families.get('previewd_environments'), { state: 'ready' })).toBe(5);
    expect(families.get('previewd_environments')!.metrics.some((x) => x.labels?.state === 'failed')).toBe(false);
  });

  it('when a webhook carries an unknown event or outcome then it is counted as "other", not as a new label', async () => {
    m.recordWebhook('x'.repeat(500), 'weird');
    const families = await scrape();
    const webhookLabels = families.get('previewd_webhooks_total')!.metrics.map((x) => x.labels?.event);
    expect(webhookLabels).toContain('other');
    expect(webhookLabels.every((e) => (e ?? '').length < 50)).toBe(true);
  });
});

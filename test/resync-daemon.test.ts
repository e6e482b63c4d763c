// Installing previewd on a repo with open PRs adopts them: the daemon's resync runs at
// start, with no webhook at all, against the emulators and real Postgres/Redis.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../src/daemon.js';
import { randomSha, type World } from '../src/sandbox/world.js';
import { startWorld } from './support/pg.js';
import { waitFor } from './support/wait.js';

let world: World;
let daemon: Daemon;
const sha = randomSha();

beforeAll(async () => {
  world = await startWorld();
  // Open before previewd starts: no webhook will ever be sent for it.
  world.github.openPull(world.key(61).repo, { number: 61, headSha: sha });
  world.github.openPull(world.key(62).repo, { number: 62, headSha: randomSha(), draft: true });
  daemon = await startDaemon(world.deps, { port: 0, host: '127.0.0.1', redisPrefix: world.redisPrefix, gc: false, resume: false });
}, 30_000);

afterAll(async () => {
  await daemon?.stop({ graceMs: 2_000 });
  await world?.cleanup();
}, 30_000);

describe('resync at daemon start', () => {
  it('when previewd starts on a repo with open PRs then the ones policy deploys are adopted and provisioned, without a webhook', async () => {
    const record = await waitFor('PR 61 adopted and ready', async () => {
      const r = await world.deps.store.get(world.key(61));
      return r?.status === 'ready' ? r : null;
    }, 60_000);
    expect(record).toMatchObject({ desiredPresent: true, desiredSha: sha, observedSha: sha });
    // The draft is skipped by the default policy (drafts: skip), so it gets no row.
    expect(await world.deps.store.get(world.key(62))).toBeNull();
    const metric = await world.deps.metrics.registry.getSingleMetric('previewd_resync_drift_repaired_total')!.get();
    expect(metric.values.find((v) => v.labels['kind'] === 'opened')?.value).toBe(1);
  }, 90_000);
});

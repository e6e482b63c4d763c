// The daemon runs the warm pool (issue 14 §1): with a version marker on the template,
// spares are cloned at start, a PR's reconcile claims one instead of cloning, and the
// refill replaces it; against the emulators and real Postgres/Redis, as the README role.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../src/daemon.js';
import { spareNamePrefix } from '../src/database/sql.js';
import { sweepGc } from '../src/gc/sweep.js';
import { randomSha, type World } from '../src/sandbox/world.js';
import { startWorld, withAdminClient, withRoleClient } from './support/pg.js';
import { waitFor } from './support/wait.js';

let world: World;
let daemon: Daemon;

async function markedSpares(): Promise<number> {
  const { rows } = await withAdminClient((c) =>
    c.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_database WHERE starts_with(datname, $1) AND shobj_description(oid, 'pg_database') IS NOT NULL`, [
      spareNamePrefix(world.config.instance, world.templateDatabase),
    ]),
  );
  return rows[0]!.n;
}

beforeAll(async () => {
  world = await startWorld({ config: { database: { poolInterval: '1s' } } });
  // The operator's version marker (README "Warm pool"): without it there is no pool.
  await withRoleClient((c) => c.query(`COMMENT ON DATABASE "${world.templateDatabase}" IS 'schema v1'`));
  daemon = await startDaemon(world.deps, { port: 0, host: '127.0.0.1', redisPrefix: world.redisPrefix, gc: false, resume: false, resync: false });
}, 60_000);

afterAll(async () => {
  await daemon?.stop({ graceMs: 2_000 });
  await world?.cleanup();
  // The world's clean-up dropped the spares with everything else previewd made.
  if (world) expect(await markedSpares()).toBe(0);
}, 60_000);

describe('warm pool in the daemon', () => {
  it('when the daemon starts then it fills the pool; a PR database is claimed from it, the environment gets ready, and the spare is replaced', async () => {
    await waitFor('two spares', async () => ((await markedSpares()) === 2 ? true : null), 60_000);
    const key = world.key(71);
    await world.open(71, randomSha());
    await daemon.queue.enqueue(key, 'opened');
    await waitFor('PR 71 ready', async () => ((await world.deps.store.get(key))?.status === 'ready' ? true : null), 90_000);
    const claimed = world.logLines.filter((line) => line.includes('preview database claimed from the warm pool'));
    expect(claimed).toHaveLength(1);
    expect(claimed[0]).toContain(world.names(71).database);
    await waitFor('the pool refilled', async () => ((await markedSpares()) === 2 ? true : null), 60_000);

    // A real GC sweep: the spares are in no environment's inventory, so nothing of theirs is planned.
    const gc = await sweepGc(world.deps, { dryRun: false, requestTeardown: async () => undefined });
    expect(gc.plan.actions).toEqual([]);
    expect(await markedSpares()).toBe(2);
  }, 200_000);
});

// Issue 11 §2 as the emulated client sees it: under Consul ACLs (default deny) a task's
// `range service` gets the cache's address only with a Consul identity, which Nomad
// gives a task only when it or its group has a `consul` block
// (nomad/job_endpoint_hook_implicit_identities.go). Without one the lookup is silently
// empty and REDIS_URL is missing; the task still runs (consul-template renders empty).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reconcileEnvironment } from '../src/environments/reconcile.js';
import { randomSha, type World } from '../src/sandbox/world.js';
import { startWorld } from './support/pg.js';
import { waitFor } from './support/wait.js';

describe('templates reading Consul under ACLs (emulated template runner)', () => {
  const PR = 5;
  let world: World;

  beforeAll(async () => {
    world = await startWorld();
    await world.open(PR, randomSha());
    expect((await reconcileEnvironment(world.deps, world.key(PR))).status).toBe('ready');
  });
  afterAll(async () => {
    await world?.cleanup();
  });

  it('when the group has no consul block then REDIS_URL is silently missing; with one the task gets the cache address', async () => {
    const n = world.names(PR);
    const ns = world.config.env.NOMAD_NAMESPACE;
    const id = n.jobId('worker');
    const rendered = structuredClone(world.cluster.getJob(ns, id)!);
    /**
     * Registers the worker as rendered (group `consul {}` plus its `consul_default`
     * identity), or as the templates were before issue 11 §2: neither, so the client
     * has no Consul identity to log in with (client consul_hook.go). The env its task rendered.
     */
    const deployWorker = async (consul: boolean) => {
      const job = structuredClone(rendered);
      if (!consul) {
        for (const group of job.TaskGroups as Record<string, unknown>[]) {
          group.Consul = null;
          for (const task of group.Tasks as Record<string, unknown>[]) {
            task.Identities = ((task.Identities as { Name: string }[] | null) ?? []).filter((i) => !i.Name.startsWith('consul_'));
          }
        }
      }
      world.cluster.registerJob(ns, job);
      const alloc = await waitFor(`the worker (consul block: ${consul}) running`, () => {
        const version = world.cluster.getJob(ns, id)!.Version;
        return world.cluster.listAllocations(ns, id).find((a) => a.DesiredStatus === 'run' && a.ClientStatus === 'running' && a.JobVersion === version);
      }, 15_000);
      return world.cluster.renderedEnv(alloc.ID as string, 'worker')!;
    };
    const without = await deployWorker(false);
    expect(without.DATABASE_URL).toBeDefined();
    expect(without.REDIS_URL).toBeUndefined();
    const cache = world.cluster.listServices().find((s) => s.Service === n.serviceName('cache'))!;
    expect((await deployWorker(true)).REDIS_URL).toBe(`redis://${cache.Address}:${cache.Port}`);
  });
});

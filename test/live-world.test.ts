// The live world's own wiring (src/sandbox/live-world.ts), without real agents: pointed
// at bare emulators that an "operator" has prepared as README "Live mode" says (Vault's
// JWT mount trusting Nomad's JWKS, a client that renders templates), it provisions and
// tears down a PR through previewd, and its cleanup finds, removes and reports what a
// run left behind, and only that.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reconcileEnvironment } from '../src/environments/reconcile.js';
import { createCluster, type Cluster } from '../src/sandbox/emulators/cluster.js';
import { startConsulEmulator, type ConsulEmulator } from '../src/sandbox/emulators/consul.js';
import { startNomadEmulator, type NomadEmulator } from '../src/sandbox/emulators/nomad.js';
import { startVaultEmulator, type VaultEmulator } from '../src/sandbox/emulators/vault.js';
import { createWorkloadRuntime } from '../src/sandbox/emulators/workload-runtime.js';
import { startLiveWorld } from '../src/sandbox/live-world.js';
import { randomSha } from '../src/sandbox/world.js';
import { LIVE_ENV_FILE, LIVE_TEMPLATES_DIR } from './support/live.js';
import { defaultServer } from './support/pg.js';
import { TEST_SERVICES } from './support/services.js';

describe('live world against agents that speak the real APIs (the emulators)', () => {
  let cluster: Cluster;
  let nomad: NomadEmulator;
  let consul: ConsulEmulator;
  let vault: VaultEmulator;
  const vaultToken = `hvs.live-${randomSha()}`;

  beforeAll(async () => {
    cluster = createCluster({ startDelayMs: 5, healthyDelayMs: 10 });
    nomad = await startNomadEmulator({ cluster });
    consul = await startConsulEmulator({ cluster });
    vault = await startVaultEmulator({ rootToken: vaultToken });
    // The one-time setup of README "Live mode".
    const res = await fetch(`${vault.url}/v1/auth/jwt-nomad/config`, {
      method: 'POST',
      headers: { 'X-Vault-Token': vaultToken },
      body: JSON.stringify({ jwks_url: `${nomad.url}/.well-known/jwks.json` }),
    });
    expect(res.status).toBe(204);
    cluster.attachTemplateRuntime(
      createWorkloadRuntime({ signingKey: cluster.identityKey, now: Date.now, vault: { address: vault.url, jwtMount: 'jwt-nomad' }, consul: { address: consul.url, login: async () => '' } }),
    );
  });
  afterAll(async () => {
    for (const e of [nomad, consul, vault]) await e?.close();
    cluster?.close();
  });

  const startLive = () =>
    startLiveWorld({
      server: defaultServer(),
      redisUrl: TEST_SERVICES.redisUrl,
      live: { nomad: { address: nomad.url, namespace: 'default' }, consul: { address: consul.url }, vault: { address: vault.url, token: vaultToken } },
      envFile: LIVE_ENV_FILE,
      repos: [{ templatesDir: LIVE_TEMPLATES_DIR }],
    });

  it('when a PR is provisioned and closed then the task got its env, everything goes, and cleanup finds nothing left', async () => {
    const world = await startLive();
    try {
      await world.open(3, randomSha());
      expect((await reconcileEnvironment(world.deps, world.key(3))).status).toBe('ready');
      const n = world.names(3);
      const secret = (await world.observe.secret(n.vaultPath))!;
      const alloc = (await world.observe.allocations(n.jobId('api'))).find((a) => a.DesiredStatus === 'run')!;
      expect((await world.observe.renderedEnv(alloc.ID as string, 'api'))?.DATABASE_URL).toBe(secret.data!.DATABASE_URL);
      await world.close(3);
      expect((await reconcileEnvironment(world.deps, world.key(3))).status).toBe('removed');
      expect(await world.observe.job(n.jobId('api'))).toBeNull();
    } finally {
      await world.cleanup();
    }
    expect(vault.policyNames().filter((p) => p.startsWith(world.config.instance))).toEqual([]);
  });

  it('when a run leaves an environment behind then cleanup removes its jobs and fails naming what it found, leaving another run’s job alone', async () => {
    const world = await startLive();
    const other = await startLive();
    let n: ReturnType<typeof world.names>;
    try {
      await other.open(5, randomSha());
      await reconcileEnvironment(other.deps, other.key(5));
      await world.open(4, randomSha());
      await reconcileEnvironment(world.deps, world.key(4));
      n = world.names(4);
    } catch (err) {
      await world.cleanup().catch(() => undefined);
      await other.cleanup().catch(() => undefined);
      throw err;
    }
    const error = await world.cleanup().then(() => null, (e: unknown) => e as Error);
    expect(error?.message).toContain(`Nomad job ${n.jobId('api')}`);
    expect(error?.message).toContain(`Vault policy ${n.vaultPolicy}`);
    expect(error?.message).toContain(`Vault JWT role ${n.vaultRole}`);
    expect(error?.message).toContain(`Vault secret ${n.vaultPath}`);
    expect(cluster.getJob('default', n.jobId('api'))).toBeUndefined();
    expect(cluster.getJob('default', other.names(5).jobId('api'))).toBeDefined();
    await other.close(5);
    await reconcileEnvironment(other.deps, other.key(5));
    await other.cleanup();
  });
});

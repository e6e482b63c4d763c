// A whole previewd world for integration tests: the Nomad, Consul, Vault and GitHub
// emulators, real Postgres (own state database, own template, own name prefix and
// instance) and real Redis (own key prefix), and a Deps built from the real clients.
// previewd's Postgres connection is the README's role on the given server
// (pg-server.ts), never a superuser; tests get their server from test/support/pg.ts.
//
//   const world = await startWorld({ server, repos: [{ name: world.repo... }] });
//   await world.open(42, sha); await reconcileEnvironment(world.deps, world.key(42));
//   ...; await world.cleanup();
//
// Everything a world creates carries its own unique suffix, so test files can run in
// parallel and a crashed run never collides with the next one.
import { Writable } from 'node:stream';
import pino from 'pino';
import { buildConfig } from '../config/load.js';
import type { Config, RepoConfig } from '../config/schema.js';
import { createConsulClient } from '../consul/client.js';
import { createPreviewDatabases } from '../database/preview-databases.js';
import { warmPoolSettings } from '../database/warm-pool-settings.js';
import { systemClock, type Clock, type Deps } from '../deps.js';
import { environmentNames, keyString, type EnvironmentKey, type EnvironmentNames } from '../environments/naming.js';
import { createTemplatesRenderer } from '../environments/render.js';
import { createEnvironmentStore } from '../environments/store.js';
import { createApprovalStore } from '../trust/approvals.js';
import { createGitHubClient } from '../github/client.js';
import { REDACT_PATHS } from '../log.js';
import { createMetrics } from '../metrics.js';
import { createNomadClient } from '../nomad/client.js';
import { createVaultClient } from '../vault/client.js';
import { createCluster, type Cluster, type ClusterOptions } from './emulators/cluster.js';
import { startConsulEmulator, type ConsulEmulator } from './emulators/consul.js';
import { generateAppKeyPair, startGitHubEmulator, type GitHubEmulator } from './emulators/github.js';
import { startNomadEmulator, type NomadEmulator } from './emulators/nomad.js';
import { startVaultEmulator, type VaultEmulator } from './emulators/vault.js';
import { startRegistryEmulator, type RegistryEmulator, type RegistryEmulatorOptions } from './emulators/registry.js';
import { createRegistryClient } from '../registry/client.js';
import { EMPTY_CREDENTIALS, type DockerCredentialStore } from '../registry/docker-config.js';
import { createWorkloadRuntime } from './emulators/workload-runtime.js';
import { emulatorObservation, type ClusterObservation } from './observation.js';
import { createPreviewdRole, type PgServer } from './pg-server.js';
import { createTestDatabase, createTestRedis, databaseUrl, uniqueSuffix, withAdminClient, withRoleClient } from './services.js';
import type { LocalServices } from '../config/sandbox-env.js';

export type RepoInput = Partial<Omit<RepoConfig, 'name' | 'database'>> & { name?: string; database?: Partial<RepoConfig['database']> };

export interface WorldOptions {
  /** Repos served; names default to "<unique owner>/shop", "<unique owner>/shop2"... */
  repos?: RepoInput[];
  /** Extra top-level file config (merged over the world's defaults). */
  config?: Record<string, unknown>;
  cluster?: ClusterOptions;
  clock?: Clock;
  /** SQL run in the template database after it is created (default: a small `items` table). */
  templateSql?: string;
  /** The Postgres server; previewd connects to it as the README's role only (pg-server.ts). */
  server: PgServer;
  /** The Redis the world's queue and locks use (under a key prefix of its own). */
  redisUrl: string;
  /**
   * Consul ACL rules of previewd's token (Consul runs with ACLs on, default deny).
   * Default: a management token, which may do anything.
   */
  consulRules?: string;
  /**
   * An OCI registry emulator standing for ghcr.io (where the world's images live): the
   * docker driver then pulls from it, so a job whose image it lacks fails. Default: none
   * (every image pulls).
   */
  registry?: Pick<RegistryEmulatorOptions, 'auth' | 'users'>;
  /** Registry credentials previewd holds (its Docker config.json); default none. */
  dockerCredentials?: DockerCredentialStore;
  /** previewd authenticates to GitHub as an App (with checks: write) instead of with a PAT. */
  githubApp?: boolean;
}

/**
 * The cluster a world deploys to: the emulators (startWorld) or real Nomad, Consul and
 * Vault agents (live-world.ts). The rest of a world (Postgres, Redis, GitHub emulator,
 * config, Deps) is the same for both.
 */
export interface WorldCluster {
  nomad: { url: string; token?: string; namespace?: string };
  consul: { url: string; token?: string; agentAddress: string };
  vault: { url: string; token: string };
  /** File config the cluster needs, under the test's own (options.config). */
  config?: Record<string, unknown>;
  /** Runs once the config is built: the cluster's own set-up, and how to observe it. */
  prepare(config: Config): Promise<ClusterObservation>;
}

/** What a world offers on any cluster; World adds the emulators' handles. */
export type BaseWorld = Omit<World, 'cluster' | 'nomad' | 'consul' | 'vault' | 'registry'>;

export interface World {
  readonly suffix: string;
  readonly config: Config;
  readonly deps: Deps;
  readonly repos: string[];
  readonly cluster: Cluster;
  /** The cluster's state as Nomad, Consul and Vault hold it (observation.ts), for assertions. */
  readonly observe: ClusterObservation;
  readonly nomad: NomadEmulator;
  readonly consul: ConsulEmulator;
  readonly vault: VaultEmulator;
  /** The ghcr.io registry emulator, when the world was asked for one. */
  readonly registry: RegistryEmulator | null;
  readonly github: GitHubEmulator;
  /** The template database every PR database is cloned from. */
  readonly templateDatabase: string;
  readonly server: PgServer;
  readonly redisPrefix: string;
  /** Every log line as written (JSON text), for secret scans. */
  readonly logLines: string[];
  /** The secrets the daemon holds (Vault token, webhook secret, GitHub token, admin token, Consul token). */
  readonly secrets: { vaultToken: string; webhookSecret: string; githubToken: string; adminToken: string; consulToken: string };
  key(pr: number, repo?: string): EnvironmentKey;
  names(pr: number, repo?: string): EnvironmentNames;
  /** Records desired "present at sha" for a PR (as a webhook would). */
  open(pr: number, sha: string, options?: { repo?: string; reason?: string; at?: Date }): Promise<void>;
  /** Records desired "absent" for a PR. */
  close(pr: number, options?: { repo?: string; at?: Date }): Promise<void>;
  /** Superuser URL of a database (for assertions only). */
  adminUrlFor(database: string): string;
  cleanup(): Promise<void>;
}

const DEFAULT_TEMPLATE_SQL = `
  CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL, price integer NOT NULL DEFAULT 0);
  INSERT INTO items (name, price) VALUES ('apple', 3), ('pear', 5);
`;

/** A random 40-hex SHA. */
export function randomSha(): string {
  return Array.from({ length: 40 }, () => '0123456789abcdef'[Math.floor(Math.random() * 16)]).join('');
}

export async function startWorld(options: WorldOptions): Promise<World> {
  const suffix = uniqueSuffix();
  const secretOf = (prefix: string) => `${prefix}${suffix}-${Math.random().toString(36).slice(2)}`;
  const vaultToken = secretOf('hvs.root-');
  const consulToken = secretOf('consul-');
  const cleanups: (() => Promise<void> | void)[] = [];
  try {
    const cluster = createCluster({ startDelayMs: 5, healthyDelayMs: 10, ...options.cluster });
    cleanups.push(() => cluster.close());
    const nomad = await startNomadEmulator({ cluster });
    cleanups.push(() => nomad.close());
    const consul = await startConsulEmulator({ cluster, acl: true });
    cleanups.push(() => consul.close());
    if (options.consulRules === undefined) {
      await cluster.consulAcl.createToken({ secretId: consulToken, management: true, description: 'previewd (world)' });
    } else {
      await cluster.consulAcl.createPolicy('previewd', options.consulRules);
      await cluster.consulAcl.createToken({ secretId: consulToken, policies: ['previewd'], description: 'previewd (world)' });
    }
    // Vault keeps time with the world's clock: a test that moves the clock moves KV
    // version deletion (delete_version_after) and token expiry with it.
    const clock = options.clock ?? systemClock;
    const vault = await startVaultEmulator({ rootToken: vaultToken, now: () => clock.now().getTime() });
    cleanups.push(() => vault.close());
    const registry = options.registry ? await startRegistryEmulator({ host: 'ghcr.io', ...options.registry }) : null;
    if (registry) {
      cleanups.push(() => registry.close());
      cluster.attachImageSource(registry);
    }

    const base = await assembleWorld(options, suffix, {
      nomad: { url: nomad.url },
      // Every node's agent answers on the emulator's port under /_agent/<node>.
      consul: { url: consul.url, token: consulToken, agentAddress: `${consul.url}/_agent/{node}` },
      vault: { url: vault.url, token: vaultToken },
      config: { deployTimeout: '20s', ...(registry ? { registry: { endpoints: { 'ghcr.io': registry.url } } } : {}) },
      async prepare(config) {
        // As an operator sets up a real cluster: Vault's JWT auth mount trusts Nomad's JWKS,
        // the servers give tasks with a vault block a vault_default identity (and a
        // consul_default one only with a consul block), and the client renders each task's
        // templates with what those identities may read.
        const jwks = await fetch(`${vault.url}/v1/auth/${config.vault.jwtMount}/config`, {
          method: 'POST',
          headers: { 'X-Vault-Token': vaultToken },
          body: JSON.stringify({ jwks_url: `${nomad.url}/.well-known/jwks.json` }),
        });
        if (jwks.status !== 204) throw new Error(`world: configuring the Vault JWT mount failed (${jwks.status})`);
        await cluster.consulAcl.createPolicy('nomad-tasks', 'service_prefix "" { policy = "read" }\nnode_prefix "" { policy = "read" }\n');
        const taskConsulToken = (await cluster.consulAcl.createToken({ policies: ['nomad-tasks'], description: 'Nomad task (world)' })).SecretID;
        cluster.attachTemplateRuntime(
          createWorkloadRuntime({
            signingKey: cluster.identityKey,
            now: () => clock.now().getTime(),
            vault: { address: vault.url, jwtMount: config.vault.jwtMount },
            // Consul's JWT auth method for Nomad tasks, as its binding rule would: a token that
            // reads the catalog. A task without a Consul identity gets none (anonymous, default deny).
            consul: { address: consul.url, login: async () => taskConsulToken },
          }),
        );
        return emulatorObservation({ cluster, vault, namespace: config.env.NOMAD_NAMESPACE, jwtMount: config.vault.jwtMount });
      },
    });
    return {
      ...base,
      cluster,
      nomad,
      consul,
      vault,
      registry,
      cleanup: async () => {
        await base.cleanup();
        await runAll(cleanups);
      },
    };
  } catch (err) {
    await runAll(cleanups);
    throw err;
  }
}

/** Runs clean-ups newest first; one failing does not stop the rest. */
async function runAll(cleanups: (() => Promise<void> | void)[]): Promise<void> {
  for (const fn of cleanups.reverse()) {
    try {
      await fn();
    } catch {
      // keep cleaning the rest
    }
  }
}

/** The cluster-independent part of a world (Postgres, Redis, GitHub, config, Deps) on `cluster`. */
export async function assembleWorld(options: Omit<WorldOptions, 'cluster' | 'consulRules' | 'registry'>, suffix: string, cluster: WorldCluster): Promise<BaseWorld> {
  const cleanups: (() => Promise<void> | void)[] = [];
  const runCleanups = () => runAll(cleanups);
  try {
    const secrets = {
      vaultToken: cluster.vault.token,
      webhookSecret: `whsec-${suffix}-${Math.random().toString(36).slice(2)}`,
      githubToken: `ghp_${suffix}${Math.random().toString(36).slice(2)}`,
      adminToken: `admin-${suffix}-${Math.random().toString(36).slice(2)}`,
      consulToken: cluster.consul.token ?? '',
    };
    const clock = options.clock ?? systemClock;
    const appKeys = options.githubApp ? generateAppKeyPair() : null;
    const github = await startGitHubEmulator({
      token: secrets.githubToken,
      ...(appKeys ? { app: { appId: 4242, slug: `previewd-${suffix}`, installationId: 77, privateKeyPem: appKeys.privateKeyPem } } : {}),
    });
    if (appKeys) github.appPermissions.checks = 'write';
    cleanups.push(() => github.close());

    const { server } = options;
    const stateDb = await createTestDatabase(server, 'previewd_world');
    cleanups.push(() => stateDb.drop());
    const redis = await createTestRedis(options.redisUrl);
    cleanups.push(() => redis.cleanup());

    // The template as the README has operators build it: created by previewd's role
    // (so it owns the database and every object in it), CONNECT revoked from PUBLIC.
    const templateDatabase = `tpl_${suffix}`;
    await withRoleClient(server, (c) => c.query(`CREATE DATABASE "${templateDatabase}"`));
    cleanups.push(() => withAdminClient(server, (c) => c.query(`DROP DATABASE IF EXISTS "${templateDatabase}" WITH (FORCE)`)).then(() => undefined));
    await withRoleClient(
      server,
      async (c) => {
        await c.query(options.templateSql ?? DEFAULT_TEMPLATE_SQL);
        await c.query(`REVOKE CONNECT ON DATABASE "${templateDatabase}" FROM PUBLIC`);
      },
      templateDatabase,
    );

    const repoInputs = options.repos ?? [{}];
    const repos = repoInputs.map((r, i) => ({
      ...r,
      name: r.name ?? `o${suffix}/shop${i === 0 ? '' : i + 1}`,
      images: r.images ?? { api: 'ghcr.io/acme/shop-api', frontend: 'ghcr.io/acme/shop-web', worker: 'ghcr.io/acme/shop-worker' },
      database: { template: templateDatabase, ...r.database },
    }));
    const admin = new URL(server.roleUrl);
    const config = buildConfig(
      {
        instance: `t${suffix}`,
        baseDomain: 'preview.test',
        publicUrl: 'http://previewd.test:8080',
        consul: { agentAddress: cluster.consul.agentAddress, deregisterTimeout: '10s' },
        ...cluster.config,
        ...options.config,
        // A test's database settings (poolInterval…) on top of the world's own names.
        database: { namePrefix: `p${suffix}_`, host: admin.hostname, port: Number(admin.port || 5432), ...(options.config?.database as object | undefined) },
        repos,
      },
      {
        NOMAD_ADDR: cluster.nomad.url,
        ...(cluster.nomad.token ? { NOMAD_TOKEN: cluster.nomad.token } : {}),
        ...(cluster.nomad.namespace ? { NOMAD_NAMESPACE: cluster.nomad.namespace } : {}),
        CONSUL_HTTP_ADDR: cluster.consul.url,
        ...(cluster.consul.token ? { CONSUL_HTTP_TOKEN: cluster.consul.token } : {}),
        VAULT_ADDR: cluster.vault.url,
        VAULT_TOKEN: cluster.vault.token,
        DATABASE_URL: stateDb.url,
        REDIS_URL: redis.url,
        GITHUB_WEBHOOK_SECRET: secrets.webhookSecret,
        GITHUB_TOKEN: secrets.githubToken,
        GITHUB_API_URL: github.url,
        PREVIEWD_ADMIN_TOKEN: secrets.adminToken,
        LOG_LEVEL: 'debug',
      },
      'world',
    );

    const observe = await cluster.prepare(config);

    const logLines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        logLines.push(String(chunk));
        done();
      },
    });
    const log = pino({ level: 'debug', redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, sink);

    // As in production (cli/compose.ts): previewd's own state database, as its role.
    const databases = createPreviewDatabases({
      adminUrl: stateDb.url,
      instance: config.instance,
      loginGroup: config.database.loginGroup,
      cloneMethod: config.database.cloneMethod,
      log,
    });
    cleanups.push(async () => {
      // Anything this world's instance still owns (a failed test) goes, then the connection.
      for (const db of await databases.listOwnedDatabases()) await databases.dropDatabase(db.name).catch(() => undefined);
      // Warm-pool spares carry no environment: dropped as a pool of size 0 drops them.
      await databases.refillWarmPools(warmPoolSettings(config).map((pool) => ({ ...pool, size: 0 }))).catch(() => undefined);
      for (const role of await databases.listOwnedRoles()) await databases.dropRole(role.name).catch(() => undefined);
      await databases.close();
    });
    const store = createEnvironmentStore({ databaseUrl: stateDb.url, log, maxConnections: 3 });
    await store.migrate();
    cleanups.push(() => store.close());
    const approvals = createApprovalStore({ databaseUrl: stateDb.url, log });
    cleanups.push(() => approvals.close());

    const metrics = createMetrics();
    const deps: Deps = {
      config,
      log,
      clock,
      nomad: createNomadClient({ address: cluster.nomad.url, token: cluster.nomad.token, namespace: config.env.NOMAD_NAMESPACE }),
      consul: createConsulClient({ address: cluster.consul.url, token: cluster.consul.token, agentAddress: config.consul.agentAddress }),
      vault: createVaultClient({ address: cluster.vault.url, token: cluster.vault.token, kvMount: config.vault.kvMount, jwtMount: config.vault.jwtMount }),
      github: createGitHubClient({
        apiUrl: github.url,
        auth: appKeys ? { appId: 4242, privateKey: appKeys.privateKeyPem, installationId: 77 } : { token: secrets.githubToken },
        userAgent: 'previewd-test',
        onRateLimit: (remaining) => metrics.githubRateLimitRemaining.set(remaining),
      }),
      registry: createRegistryClient({ endpoints: config.registry.endpoints, credentials: options.dockerCredentials ?? EMPTY_CREDENTIALS, timeoutMs: config.registry.timeout }),
      databases,
      store,
      approvals,
      metrics,
      renderer: createTemplatesRenderer(),
    };

    const repoNames = repos.map((r) => r.name);
    for (const name of repoNames) github.addRepo(name);
    const keyOf = (pr: number, repo?: string): EnvironmentKey => ({ repo: repo ?? repoNames[0]!, pr });
    // What a webhook would carry: GitHub's own updated_at of the PR (one-second
    // resolution), nudged forward by a millisecond only when this world records two
    // changes of one PR within one second, so the store (which orders by it) takes each.
    // A world-side clock running ahead of GitHub's made GC read GitHub's answer for a
    // closed PR as older than what was recorded, and keep the environment.
    const lastAt = new Map<string, number>();
    const nextAt = (key: EnvironmentKey): Date => {
      const fromGitHub = Date.parse(String(github.pull(key.repo, key.pr)?.updated_at ?? ''));
      const at = Math.max(Number.isNaN(fromGitHub) ? Date.now() : fromGitHub, (lastAt.get(keyString(key)) ?? 0) + 1);
      lastAt.set(keyString(key), at);
      return new Date(at);
    };

    return {
      suffix,
      config,
      deps,
      repos: repoNames,
      observe,
      github,
      templateDatabase,
      server,
      redisPrefix: redis.prefix,
      logLines,
      secrets,
      key: keyOf,
      names: (pr, repo) => environmentNames(config, keyOf(pr, repo)),
      async open(pr, sha, o = {}) {
        const repo = o.repo ?? repoNames[0]!;
        if (github.pull(repo, pr)) github.updatePull(repo, pr, { headSha: sha });
        else github.openPull(repo, { number: pr, headSha: sha });
        const result = await store.recordDesired(keyOf(pr, o.repo), { present: true, sha, reason: o.reason ?? 'opened', prUpdatedAt: o.at ?? nextAt(keyOf(pr, o.repo)) });
        if (!result.accepted) throw new Error(`desired present@${sha} for PR ${pr} was not accepted`);
      },
      async close(pr, o = {}) {
        const repo = o.repo ?? repoNames[0]!;
        if (github.pull(repo, pr)) github.closePull(repo, pr);
        const result = await store.recordDesired(keyOf(pr, o.repo), { present: false, sha: null, reason: 'closed', prUpdatedAt: o.at ?? nextAt(keyOf(pr, o.repo)) });
        if (!result.accepted) throw new Error(`desired absent for PR ${pr} was not accepted`);
      },
      adminUrlFor: (database) => databaseUrl(server, database),
      cleanup: runCleanups,
    };
  } catch (err) {
    await runCleanups();
    throw err;
  }
}

/**
 * A world on the local server (the sandbox command, the benchmarks) with its own
 * previewd role, made as the README says and removed again by cleanup().
 */
export async function startLocalWorld(options: Omit<WorldOptions, 'server' | 'redisUrl'> & { services: LocalServices }): Promise<World> {
  const { services, ...rest } = options;
  const role = await createPreviewdRole(services.postgresAdminUrl);
  let world: World;
  try {
    world = await startWorld({ ...rest, server: role.server, redisUrl: services.redisUrl });
  } catch (err) {
    await role.remove().catch(() => undefined);
    throw err;
  }
  return {
    ...world,
    cleanup: async () => {
      await world.cleanup();
      await role.remove();
    },
  };
}

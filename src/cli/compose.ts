// The composition root: the one place that turns configuration into live clients.
// Everything else receives a `Deps` and never builds a client itself.
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { createConsulClient } from '../consul/client.js';
import { createPreviewDatabases } from '../database/preview-databases.js';
import { systemClock, type Clock, type Deps } from '../deps.js';
import { createTemplatesRenderer } from '../environments/render.js';
import { createEnvironmentStore } from '../environments/store.js';
import { createGitHubClient } from '../github/client.js';
import type { GitHubAuth } from '../github/client.js';
import { createLogger } from '../log.js';
import { createMetrics } from '../metrics.js';
import { createNomadClient } from '../nomad/client.js';
import { createVaultClient } from '../vault/client.js';
import { createApprovalStore } from '../trust/approvals.js';
import { createRegistryClient } from '../registry/client.js';
import { EMPTY_CREDENTIALS } from '../registry/docker-config.js';
import { loadDockerCredentials } from '../registry/docker-config-file.js';
import { safeErrorLine } from '../secrets.js';
import { createE2eRunner } from '../e2e/runner.js';
import { createE2eStore } from '../e2e/store.js';
import { renderTestJob } from '../templates/render.js';

export interface OwnedDeps extends Deps {
  /** Closes the pools this root opened. */
  close(): Promise<void>;
}

function githubAuth(env: Config['env']): GitHubAuth {
  if (env.GITHUB_APP_ID && env.GITHUB_APP_PRIVATE_KEY) {
    return { appId: env.GITHUB_APP_ID, privateKey: env.GITHUB_APP_PRIVATE_KEY };
  }
  return { token: env.GITHUB_TOKEN ?? '' };
}

export function buildDeps(config: Config, options: { log?: Logger; clock?: Clock } = {}): OwnedDeps {
  const { env } = config;
  const log = options.log ?? createLogger({ level: env.LOG_LEVEL });
  const databases = createPreviewDatabases({
    adminUrl: env.DATABASE_URL,
    instance: config.instance,
    loginGroup: config.database.loginGroup,
    cloneMethod: config.database.cloneMethod,
    log,
  });
  const store = createEnvironmentStore({ databaseUrl: env.DATABASE_URL, log });
  const approvals = createApprovalStore({ databaseUrl: env.DATABASE_URL, log });
  const metrics = createMetrics();
  let credentials = EMPTY_CREDENTIALS;
  try {
    credentials = loadDockerCredentials(env).credentials;
  } catch (err) {
    // Anonymous probes still work for public images; doctor names the file and what is wrong.
    log.warn({ error: safeErrorLine(err) }, 'registry credentials unreadable; probing registries anonymously');
  }
  const clock = options.clock ?? systemClock;
  const nomad = createNomadClient({ address: env.NOMAD_ADDR, token: env.NOMAD_TOKEN, namespace: env.NOMAD_NAMESPACE });
  const vault = createVaultClient({ address: env.VAULT_ADDR, token: env.VAULT_TOKEN, kvMount: config.vault.kvMount, jwtMount: config.vault.jwtMount });
  const github = createGitHubClient({
    apiUrl: env.GITHUB_API_URL,
    auth: githubAuth(env),
    userAgent: 'previewd/0.1.0',
    onRateLimit: (remaining) => metrics.githubRateLimitRemaining.set(remaining),
  });
  // The e2e gate only where a repo has tests configured: its own table, the same clients.
  const e2eStore = config.repos.some((r) => r.e2e) ? createE2eStore({ databaseUrl: env.DATABASE_URL, log }) : null;
  const e2e = e2eStore ? createE2eRunner({ config, log, clock, nomad, github, vault, store: e2eStore, renderTestJob: (c, key, sha) => renderTestJob(c, key, sha) }) : undefined;
  return {
    config,
    log,
    clock,
    nomad,
    consul: createConsulClient({ address: env.CONSUL_HTTP_ADDR, token: env.CONSUL_HTTP_TOKEN, agentAddress: config.consul.agentAddress }),
    vault,
    github,
    registry: createRegistryClient({ endpoints: config.registry.endpoints, credentials, timeoutMs: config.registry.timeout }),
    databases,
    store,
    approvals,
    metrics,
    renderer: createTemplatesRenderer(),
    ...(e2e ? { e2e } : {}),
    async close() {
      await e2e?.stop();
      await Promise.allSettled([store.close(), approvals.close(), databases.close(), ...(e2eStore ? [e2eStore.close()] : [])]);
    },
  };
}

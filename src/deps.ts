// One object of interfaces, built in one composition root (src/cli/compose.ts);
// tests build it with emulator-backed clients. No DI container, no module singletons.
import type { Logger } from 'pino';
import type { Config } from './config/schema.js';
import type { ConsulClient } from './consul/types.js';
import type { PreviewDatabases } from './database/types.js';
import type { EnvironmentRenderer } from './environments/renderer.js';
import type { EnvironmentKey } from './environments/naming.js';
import type { EnvironmentStore } from './environments/types.js';
import type { PreviewdMetrics } from './metrics.js';
import type { GitHubClient } from './github/types.js';
import type { NomadClient } from './nomad/types.js';
import type { RegistryClient } from './registry/client.js';
import type { VaultClient } from './vault/types.js';
import type { ApprovalStore } from './trust/approvals.js';

export interface Clock {
  now(): Date;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => new Date(),
  sleep: (ms, signal) =>
    new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const timer = setTimeout(resolve, ms);
      signal?.addEventListener(
        'abort',
        () => {
          clearTimeout(timer);
          reject(signal.reason);
        },
        { once: true },
      );
    }),
};

export interface Deps {
  config: Config;
  log: Logger;
  clock: Clock;
  nomad: NomadClient;
  consul: ConsulClient;
  vault: VaultClient;
  github: GitHubClient;
  /** Image registries (OCI distribution API): the build gate asks whether <image>:<sha> exists. */
  registry: RegistryClient;
  databases: PreviewDatabases;
  store: EnvironmentStore;
  metrics: PreviewdMetrics;
  /**
   * Fork approvals (issue 13 §3). Optional so unit-test deps need not build one; without
   * it no fork is ever approved, so forks under `forks: label` never deploy (fail closed).
   */
  approvals?: ApprovalStore;
  /** Renders a PR's jobs and secret (the templates; a fake in unit tests). */
  renderer: EnvironmentRenderer;
  /** The e2e test gate (src/e2e/runner.ts), when running: woken when an environment becomes ready; its comment section. */
  e2e?: E2eHook;
}

export type E2eRerunResult = { ok: true } | { ok: false; reason: string };

/** The e2e gate as the rest of previewd sees it (src/e2e/runner.ts); the reconcile never waits for a test. */
export interface E2eHook {
  /** An environment changed (became ready, was removed): look at it soon. */
  notify(key: EnvironmentKey): void;
  /** The sticky comment's test section, or null when the PR has no run. */
  commentSection(key: EnvironmentKey): Promise<string | null>;
  /** Runs the PR's tests again at the SHA they last ran at (admin API, CLI, `/preview retest`). */
  requestRerun(key: EnvironmentKey): Promise<E2eRerunResult>;
  /** Runs passes every e2e.pollInterval until stop() (the daemon). */
  start(): void;
  stop(): Promise<void>;
}

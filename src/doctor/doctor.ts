// `previewd doctor`'s composition: one sample PR (names derived exactly as for a real
// one), each system's checks, run by the pure runner. Read-only against every system.
import type { Config } from '../config/schema.js';
import { environmentNames, type EnvironmentKey } from '../environments/naming.js';
import { checkConsul } from './consul.js';
import { checkGitHub } from './github.js';
import { checkNomad } from './nomad.js';
import { checkPostgres } from './postgres.js';
import { checkRegistries } from './registry.js';
import { runChecks } from './runner.js';
import type { CheckResult } from './types.js';
import { checkVault } from './vault.js';

/** A PR number no real repository reaches soon and a SHA no commit has: nothing is created for them anyway. */
const SAMPLE_PR = 999_999;
export const SAMPLE_SHA = '0000000000000000000000000000000000000000';

export async function runDoctor(config: Config, options: { now?: () => number } = {}): Promise<CheckResult[]> {
  const repo = config.repos[0]?.name ?? 'previewd/doctor';
  const key: EnvironmentKey = { repo, pr: SAMPLE_PR };
  const names = environmentNames(config, key);
  return runChecks([
    { system: 'nomad', run: () => checkNomad(config, key, SAMPLE_SHA) },
    { system: 'vault', run: () => checkVault(config, names) },
    { system: 'consul', run: () => checkConsul(config, names.serviceName('doctor')) },
    { system: 'postgres', run: () => checkPostgres(config) },
    { system: 'github', run: () => checkGitHub(config, options.now) },
    { system: 'registry', run: () => checkRegistries(config) },
  ]);
}

/** Every check doctor can report, by name (a repo, template or component follows some); the README lists each. */
export const CHECK_NAMES = [
  'nomad.leader', 'nomad.version', 'nomad.token', 'nomad.render', 'nomad.job',
  'vault.health', 'vault.kv-mount', 'vault.jwt-mount', 'vault.jwt-config', 'vault.capabilities',
  'consul.leader', 'consul.token', 'consul.rights',
  'postgres.connect', 'postgres.version', 'postgres.role', 'postgres.login-group', 'postgres.template', 'postgres.clone', 'postgres.pool',
  'github.repos', 'github.app', 'github.repo', 'github.webhook',
  'registry.config', 'registry.access',
] as const;

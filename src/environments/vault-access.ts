// What a PR's jobs may read in Vault, as data: the KV path, the ACL policy text and the
// JWT auth role binding that policy to the PR's Nomad jobs only. Pure.
import type { Config } from '../config/schema.js';
import type { EnvironmentNames } from './naming.js';

export const SECRET_META_MANAGED_BY = 'previewd_managed_by';
export const SECRET_META_ENV = 'previewd_env';

/** The first line of every policy previewd writes; a policy without it is not ours. */
export function policyMarker(instance: string, envId: string): string {
  return `# previewd managed-by=${instance} env=${envId}`;
}

export function isOwnedPolicy(text: string | null, instance: string, envId: string): boolean {
  if (text === null) return false;
  return text.split('\n', 1)[0]?.trim() === policyMarker(instance, envId);
}

export function secretMetadata(instance: string, envId: string): Record<string, string> {
  return { [SECRET_META_MANAGED_BY]: instance, [SECRET_META_ENV]: envId };
}

export function isOwnedSecretMetadata(meta: Record<string, string> | null | undefined, instance: string, envId: string): boolean {
  return meta?.[SECRET_META_MANAGED_BY] === instance && meta?.[SECRET_META_ENV] === envId;
}

/** Read on the PR's own secret (data and metadata); nothing else, no list, no write. */
export function renderPolicy(config: Pick<Config, 'instance' | 'vault'>, names: EnvironmentNames): string {
  const mount = config.vault.kvMount;
  return [
    policyMarker(config.instance, names.id),
    `path "${mount}/data/${names.vaultPath}" {`,
    '  capabilities = ["read"]',
    '}',
    `path "${mount}/metadata/${names.vaultPath}" {`,
    '  capabilities = ["read"]',
    '}',
    '',
  ].join('\n');
}

export const JWT_TOKEN_PERIOD = '30m';

/** The JWT auth role Nomad tasks of this PR (and only these job IDs) log in with. */
export function renderJwtRole(
  config: Pick<Config, 'vault' | 'env'>,
  names: EnvironmentNames,
  jobIds: string[],
): Record<string, unknown> {
  return {
    role_type: 'jwt',
    bound_audiences: [config.vault.audience],
    bound_claims: { nomad_namespace: config.env.NOMAD_NAMESPACE, nomad_job_id: [...jobIds].sort() },
    user_claim: '/nomad_job_id',
    user_claim_json_pointer: true,
    claim_mappings: { nomad_namespace: 'nomad_namespace', nomad_job_id: 'nomad_job_id', nomad_task: 'nomad_task' },
    token_type: 'service',
    token_policies: [names.vaultPolicy],
    token_period: JWT_TOKEN_PERIOD,
  };
}

/** A JWT role is ours when it grants exactly the PR's policy (roles carry no metadata). */
export function isOwnedJwtRole(role: Record<string, unknown> | null, names: EnvironmentNames): boolean {
  const policies = role?.token_policies;
  return Array.isArray(policies) && policies.length === 1 && policies[0] === names.vaultPolicy;
}

/** The job IDs a stored role is bound to, sorted; [] when unreadable. */
export function boundJobIds(role: Record<string, unknown> | null): string[] {
  const claims = role?.bound_claims as Record<string, unknown> | undefined;
  const ids = claims?.nomad_job_id;
  if (Array.isArray(ids)) return ids.map(String).sort();
  if (typeof ids === 'string') return [ids];
  return [];
}

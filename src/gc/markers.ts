// Ownership markers as GC reads them back. A resource is previewd's only when its
// marker names *this* instance exactly; a similar name, a missing marker or another
// instance's marker means "not ours", and GC never touches it (DESIGN invariant 1).
// Pure functions: the inventory (I/O) feeds them what each system returns.

/** Nomad job Meta keys (dots are allowed in job-level meta). */
export const NOMAD_META_MANAGED_BY = 'previewd.managed-by';
export const NOMAD_META_ENV = 'previewd.env';
/** Consul service Meta and Vault KV custom_metadata keys (no dots allowed there). */
export const META_MANAGED_BY = 'previewd_managed_by';
export const META_ENV = 'previewd_env';

// An environment ID as naming.ts builds it: "<slug>-pr-<n>", at most 40 characters.
const ENV_ID = /^[a-z0-9](?:[a-z0-9-]{0,38})-pr-\d{1,9}$/;

export function isEnvironmentId(text: string): boolean {
  return text.length <= 40 && ENV_ID.test(text);
}

function ownerFrom(meta: Record<string, string> | null | undefined, managedKey: string, envKey: string, instance: string): string | null {
  if (!meta) return null;
  if (meta[managedKey] !== instance) return null;
  const envId = meta[envKey];
  return typeof envId === 'string' && isEnvironmentId(envId) ? envId : null;
}

/** The env ID of a Nomad job carrying this instance's marker, else null. */
export function nomadJobEnv(meta: Record<string, string> | null | undefined, instance: string): string | null {
  return ownerFrom(meta, NOMAD_META_MANAGED_BY, NOMAD_META_ENV, instance);
}

/** The env ID of a Consul service instance carrying this instance's marker, else null. */
export function consulServiceEnv(meta: Record<string, string> | null | undefined, instance: string): string | null {
  return ownerFrom(meta, META_MANAGED_BY, META_ENV, instance);
}

/** The env ID of a Vault KV secret carrying this instance's custom_metadata, else null. */
export function vaultSecretEnv(customMetadata: Record<string, string> | null | undefined, instance: string): string | null {
  return ownerFrom(customMetadata, META_MANAGED_BY, META_ENV, instance);
}

/** First line of every policy previewd writes. */
export function policyMarkerLine(instance: string, envId: string): string {
  return `# previewd managed-by=${instance} env=${envId}`;
}

/** The env ID named by a policy's first-line marker when it names this instance, else null. */
export function vaultPolicyEnv(hcl: string | null | undefined, instance: string): string | null {
  if (!hcl) return null;
  const firstLine = hcl.split('\n', 1)[0]!.trim();
  const match = /^# previewd managed-by=(\S+) env=(\S+)$/.exec(firstLine);
  if (!match || match[1] !== instance) return null;
  return isEnvironmentId(match[2]!) ? match[2]! : null;
}

/**
 * A JWT role cannot carry metadata, so ownership is proven by its shape: named
 * "<instance>-<envId>", granting exactly the policy of the same name, and bound only
 * to that environment's job IDs. The last check keeps instance "previewd" off the roles
 * of an instance called "previewd-staging" ("previewd-staging-acme-pr-1").
 */
export function vaultJwtRoleEnv(name: string, role: Record<string, unknown> | null | undefined, instance: string): string | null {
  if (!role || !name.startsWith(`${instance}-`)) return null;
  const envId = name.slice(instance.length + 1);
  if (!isEnvironmentId(envId)) return null;
  const policies = role.token_policies;
  if (!Array.isArray(policies) || policies.length !== 1 || policies[0] !== name) return null;
  const claims = role.bound_claims as Record<string, unknown> | undefined;
  const jobIds = claims?.nomad_job_id;
  const list = Array.isArray(jobIds) ? jobIds : typeof jobIds === 'string' ? [jobIds] : [];
  if (list.length === 0 || !list.every((id) => typeof id === 'string' && id.startsWith(`${envId}-`))) return null;
  return envId;
}

// Whose a resource is, read from the markers markers.ts writes: per system,
// ownerOf…(resource) → { instance, envId } | null. null = not fully marked in
// previewd's format (no marker, one of the two halves missing or empty, a key in
// another case, a look-alike of the format); a marker of another instance is returned
// as such. What a caller may touch is decided by ownedBy (this environment) or
// ownedEnvId (GC: ours, some environment), never by a name. Pure.
import { CONSUL_META, NOMAD_META, POSTGRES_COMMENT_PREFIX, POSTGRES_MANAGED_BY, VAULT_POLICY_MARKER, VAULT_SECRET_META } from './markers.js';

export interface Owner {
  instance: string;
  envId: string;
}

// An environment ID as naming.ts builds it: "<slug>-pr-<n>", at most 40 characters.
const ENV_ID = /^[a-z0-9](?:[a-z0-9-]{0,38})-pr-\d{1,9}$/;

export function isEnvironmentId(text: string): boolean {
  return text.length <= 40 && ENV_ID.test(text);
}

/** Marked for this instance and exactly this environment. */
export function ownedBy(owner: Owner | null, instance: string, envId: string): boolean {
  return owner !== null && owner.instance === instance && owner.envId === envId;
}

/**
 * The environment of a resource marked for this instance, when the marker names one
 * previewd could have made; else null. GC derives every name it checks from this ID,
 * so an ID naming.ts cannot produce is never acted on.
 */
export function ownedEnvId(owner: Owner | null, instance: string): string | null {
  return owner !== null && owner.instance === instance && isEnvironmentId(owner.envId) ? owner.envId : null;
}

function nonEmpty(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}

function fromKeys(meta: Record<string, unknown> | null | undefined, keys: { managedBy: string; env: string }): Owner | null {
  if (!meta) return null;
  // Own properties only: a key named like Object.prototype's members is not a marker.
  const instance = Object.hasOwn(meta, keys.managedBy) ? meta[keys.managedBy] : undefined;
  const envId = Object.hasOwn(meta, keys.env) ? meta[keys.env] : undefined;
  return nonEmpty(instance) && nonEmpty(envId) ? { instance, envId } : null;
}

export function ownerOfNomadJob(meta: Record<string, string> | null | undefined): Owner | null {
  return fromKeys(meta, NOMAD_META);
}

export function ownerOfConsulService(meta: Record<string, string> | null | undefined): Owner | null {
  return fromKeys(meta, CONSUL_META);
}

export function ownerOfVaultSecret(customMetadata: Record<string, string> | null | undefined): Owner | null {
  return fromKeys(customMetadata, VAULT_SECRET_META);
}

/** The policy's first line, exactly the marker (surrounding blanks aside); a marker further down does not count. */
export function ownerOfVaultPolicy(hcl: string | null | undefined): Owner | null {
  if (!hcl) return null;
  const match = VAULT_POLICY_MARKER.exec(hcl.split('\n', 1)[0]!.trim());
  return match ? { instance: match[1]!, envId: match[2]! } : null;
}

/** The job IDs a JWT role's bound_claims.nomad_job_id names, sorted; [] when absent or unreadable. */
export function boundJobIds(role: Record<string, unknown> | null | undefined): string[] {
  const claims = role?.bound_claims as Record<string, unknown> | undefined;
  const ids = claims?.nomad_job_id;
  if (Array.isArray(ids)) return ids.map(String).sort();
  if (typeof ids === 'string') return [ids];
  return [];
}

/**
 * A JWT role carries no metadata, so its owner is recognised by shape, for one given
 * instance: named "<instance>-<envId>" (naming.ts vaultRole), granting exactly the
 * policy of the same name, and bound to at least one job ID, every one of them that
 * environment's ("<envId>-<component>"). The policy alone would let a role bound to
 * anyone's jobs pass; the jobs alone, one granting another policy. The binding also keeps
 * instance "previewd" off the roles of an instance "previewd-staging": the name
 * "previewd-staging-acme-pr-1" would read as env "staging-acme-pr-1", whose job IDs
 * those are not. A role of another instance reads as null: its shape cannot say whose.
 */
export function ownerOfVaultJwtRole(name: string, role: Record<string, unknown> | null | undefined, instance: string): Owner | null {
  if (!role || !name.startsWith(`${instance}-`)) return null;
  const envId = name.slice(instance.length + 1);
  if (envId.length === 0) return null;
  const policies = role.token_policies;
  if (!Array.isArray(policies) || policies.length !== 1 || policies[0] !== name) return null;
  const claims = role.bound_claims as Record<string, unknown> | undefined;
  const raw = claims?.nomad_job_id;
  const jobIds: unknown[] = Array.isArray(raw) ? raw : typeof raw === 'string' ? [raw] : [];
  if (jobIds.length === 0 || !jobIds.every((id) => typeof id === 'string' && id.startsWith(`${envId}-`) && id.length > envId.length + 1)) return null;
  return { instance, envId };
}

function postgresMarker(comment: string | null | undefined): Record<string, unknown> | null {
  if (!comment || !comment.startsWith(POSTGRES_COMMENT_PREFIX)) return null;
  let value: unknown;
  try {
    value = JSON.parse(comment.slice(POSTGRES_COMMENT_PREFIX.length));
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const marker = value as Record<string, unknown>;
  return marker.managedBy === POSTGRES_MANAGED_BY ? marker : null;
}

export interface SpareOwner {
  instance: string;
  template: string;
  /** The template's version marker (hashed) when the spare was cloned. */
  version: string;
}

/** The marker of a warm-pool spare (markers.ts postgresSpareComment); null for anything else, an environment's database included. */
export function ownerOfPostgresSpare(comment: string | null | undefined): SpareOwner | null {
  const marker = postgresMarker(comment);
  if (!marker || Object.hasOwn(marker, 'env')) return null;
  const { instance, spare, version } = marker;
  return nonEmpty(instance) && nonEmpty(spare) && nonEmpty(version) ? { instance, template: spare, version } : null;
}

/** The marker in a database's or role's COMMENT: null for no comment, someone else's text, or anything malformed. */
export function ownerOfPostgresObject(comment: string | null | undefined): Owner | null {
  const marker = postgresMarker(comment);
  if (!marker) return null;
  const { instance, env } = marker;
  if (!nonEmpty(instance) || !nonEmpty(env)) return null;
  return { instance, envId: env };
}

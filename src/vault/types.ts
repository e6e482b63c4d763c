// previewd's view of Vault (KV v2, ACL policies, JWT auth roles). Only src/vault/
// knows Vault's wire JSON; implemented with node-vault.

export interface KvSecret {
  data: Record<string, string>;
  customMetadata: Record<string, string>;
  version: number;
}

export interface KvMetadata {
  customMetadata: Record<string, string>;
  currentVersion: number;
}

export interface VaultClient {
  /** GET <mount>/data/<path>; null when never written, deleted or destroyed. */
  readSecret(path: string): Promise<KvSecret | null>;
  /** GET <mount>/metadata/<path>; null when absent. */
  readSecretMetadata(path: string): Promise<KvMetadata | null>;
  /**
   * Writes the metadata (custom_metadata, delete_version_after) first, then a new
   * version with `data`. The value never appears in errors or logs.
   */
  writeSecret(path: string, data: Record<string, string>, options: { customMetadata: Record<string, string>; deleteVersionAfterMs: number }): Promise<void>;
  /** DELETE <mount>/metadata/<path>: every version and the metadata. Absent is fine. */
  destroySecret(path: string): Promise<void>;
  /** LIST <mount>/metadata/<prefix>/ → child keys ("pr-41", "sub/"); [] when none. */
  listSecrets(prefix: string): Promise<string[]>;
  getPolicy(name: string): Promise<string | null>;
  putPolicy(name: string, hcl: string): Promise<void>;
  deletePolicy(name: string): Promise<void>;
  listPolicies(): Promise<string[]>;
  getJwtRole(name: string): Promise<Record<string, unknown> | null>;
  putJwtRole(name: string, role: Record<string, unknown>): Promise<void>;
  deleteJwtRole(name: string): Promise<void>;
  listJwtRoles(): Promise<string[]>;
  /** GET sys/health: active and unsealed. */
  ping(): Promise<void>;
}

// PR databases and login roles on the Postgres cluster of DATABASE_URL.
// Ownership: every database and role previewd creates carries a COMMENT with its
// marker (ownership/markers.ts postgresComment) besides the configured name prefix.
import type { PoolAction, PoolSettings } from './pool-plan.js';

export interface OwnedObject {
  name: string;
  instance: string; // previewd instance that created it
  envId: string;
}

export interface CreateDatabaseOptions {
  mode: 'template' | 'empty';
  template: string;
  strategy: 'FILE_COPY' | 'WAL_LOG';
  seedFile?: string | undefined;
  terminateTemplateSessions: boolean;
  /** How long to keep retrying while the template is busy (SQLSTATE 55006). */
  busyRetryMs: number;
  /** Ends the wait for a busy template at once (the caller is stopping). */
  signal?: AbortSignal | undefined;
  /** Claim a current spare of the template's warm pool first (warm-pool.ts); absent: always clone. */
  pool?: { versionQuery?: string | undefined } | undefined;
}

export interface PreviewDatabases {
  /** The database with its marker, or null when absent. A database without our marker is reported with `owned: false`. */
  getDatabase(name: string): Promise<{ name: string; owned: boolean; envId: string | null } | null>;
  getRole(name: string): Promise<{ name: string; owned: boolean; envId: string | null } | null>;
  /** Databases and roles carrying this instance's marker. */
  listOwnedDatabases(): Promise<OwnedObject[]>;
  listOwnedRoles(): Promise<OwnedObject[]>;
  /**
   * Creates the database (clone or empty+seed) with the marker; no-op if it exists and is ours; OwnershipError if not ours.
   * 'claimed': renamed from a current warm-pool spare (options.pool) instead of cloned.
   */
  ensureDatabase(name: string, envId: string, options: CreateDatabaseOptions): Promise<'created' | 'claimed' | 'exists'>;
  /** Brings each template's warm pool to its plan (pool-plan.ts): drops stale and surplus spares, clones missing ones. */
  refillWarmPools(pools: PoolSettings[], signal?: AbortSignal): Promise<PoolAction[]>;
  /**
   * Creates or updates the PR's login role (member of the login group): password,
   * VALID UNTIL, CONNECT/TEMPORARY/CREATE on the database (which previewd keeps owning) and
   * ownership of the schemas and objects in it; CONNECT revoked from PUBLIC.
   */
  ensureLoginRole(role: string, envId: string, database: string, password: string, validUntil: Date): Promise<void>;
  /** Terminates the database's sessions and drops it, whatever its PR did inside. Absent is fine; not ours → OwnershipError. */
  dropDatabase(name: string): Promise<void>;
  /** Drops the role. Absent is fine; not ours → OwnershipError. */
  dropRole(name: string): Promise<void>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

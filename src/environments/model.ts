// The reconciler's vocabulary: what should exist (desired), what does (observed), and
// the steps between them. Plain data only; no secret value is ever part of these.
import type { Config } from '../config/schema.js';
import type { EnvironmentNames } from './naming.js';
import type { EnvironmentRecord } from './types.js';

export interface DesiredEnvironment {
  present: boolean;
  sha: string | null;
  generation: number;
  reason: string;
}

/** What the plan needs to know of a rendered component (a subset of templates' RenderedComponent). */
export interface PlannedComponent {
  component: string;
  jobId: string;
  serviceName: string;
  /** Its job carries the head SHA; the others (stock images) are in place at any SHA. */
  builtFromPr: boolean;
  dependsOn: string[];
  routable: boolean;
  host: string | null;
  url: string | null;
}

export interface ObservedJob {
  id: string;
  /** Carries our ownership marker for this instance and environment. */
  owned: boolean;
  stop: boolean;
  status: string;
  jobModifyIndex: number;
  sha: string | null;
  /** Its generation marker (ownership/markers.ts), carried forward so an unchanged job stays unchanged. */
  generation: string | null;
}

export interface ObservedServiceInstance {
  node: string;
  serviceId: string;
  serviceName: string;
  owned: boolean;
  status: string;
}

export interface ObservedOwned {
  owned: boolean;
}

export interface ObservedEnvironment {
  database: ObservedOwned | null;
  role: ObservedOwned | null;
  /** From the secret's metadata; `hasData` = a live version exists. */
  secret: (ObservedOwned & { hasData: boolean }) | null;
  policy: (ObservedOwned & { upToDate: boolean }) | null;
  jwtRole: (ObservedOwned & { jobIds: string[] }) | null;
  /** The expected job IDs that exist, plus any other job marked as this environment's. */
  jobs: ObservedJob[];
  /** Consul instances registered under this environment's service names. */
  services: ObservedServiceInstance[];
}

export const EMPTY_OBSERVED: ObservedEnvironment = {
  database: null,
  role: null,
  secret: null,
  policy: null,
  jwtRole: null,
  jobs: [],
  services: [],
};

export interface PlanContext {
  config: Pick<Config, 'instance' | 'credentialTtl' | 'repos'>;
  names: EnvironmentNames;
  /** The stored record (null when the environment was never recorded). */
  record: Pick<EnvironmentRecord, 'status' | 'observedSha' | 'observedGeneration' | 'resources' | 'githubDeploymentId'> & { components?: Record<string, string> } | null;
  /** Rendered components in dependency order; [] when desired is absent. */
  components: PlannedComponent[];
  now: Date;
}

export type Step =
  | { kind: 'refuse'; target: string; reason: string; fatal: boolean }
  /** `group`: consecutive steps of one group run at once (applyPlan); the database and the Vault access steps are independent. */
  | { kind: 'ensure-database'; database: string; mode: 'template' | 'empty'; template: string; strategy: 'FILE_COPY' | 'WAL_LOG'; group: string }
  /** The PR's login (VALID UNTIL renewed) and the Vault secret holding its DATABASE_URL, as one step: the password never leaves it. */
  | { kind: 'ensure-credentials'; role: string; database: string; path: string; keepPassword: boolean }
  | { kind: 'ensure-policy'; name: string; group: string }
  | { kind: 'ensure-jwt-role'; name: string; jobIds: string[]; group: string }
  | { kind: 'register-job'; component: string; jobId: string; enforceIndex: number; group: string; generation: string | null }
  | { kind: 'watch-deployment'; component: string; jobId: string; group: string }
  | { kind: 'check-routing'; component: string; serviceName: string; host: string; group: string }
  | { kind: 'stop-job'; jobId: string }
  | { kind: 'deregister-services'; serviceNames: string[] }
  | { kind: 'drop-database'; database: string }
  | { kind: 'drop-role'; role: string }
  | { kind: 'destroy-secret'; path: string }
  | { kind: 'delete-policy'; name: string }
  | { kind: 'delete-jwt-role'; name: string };

export type Plan = Step[];

/** Resources kept in the store record (EnvironmentRecord.resources). */
export interface RecordedResources {
  database?: string;
  role?: string;
  vaultSecret?: string;
  vaultPolicy?: string;
  vaultRole?: string;
  jobs?: string[];
  /** ISO time the current login expires (VALID UNTIL). */
  credentialsValidUntil?: string;
  githubDeploymentSha?: string;
  /** Last state brought to GitHub (projection.ts GitHubProjection.reported): "ready:<sha>", "failed:<sha>", "removed". */
  githubReported?: string;
  /** The SHA whose deploy failed permanently; not retried until a push or a redeploy. */
  failedSha?: string;
}

export function recordedResources(record: { resources: Record<string, unknown> } | null): RecordedResources {
  return (record?.resources ?? {}) as RecordedResources;
}

// Every ownership marker previewd writes, one system at a time, and the only place
// their keys are spelled. What carries a marker is previewd's (DESIGN invariant 1);
// owners.ts reads them back. Pure: plain data in, plain data out.

/** Nomad job Meta keys: job-level keys may contain dots (the templates write them all). */
export const NOMAD_META = {
  managedBy: 'previewd.managed-by',
  env: 'previewd.env',
  repo: 'previewd.repo',
  pr: 'previewd.pr',
  component: 'previewd.component',
  /** Only on jobs built from the PR: a push changes it and so replaces their allocations. */
  sha: 'previewd.sha',
  /** Set to the desired generation when a failed component is deployed again (a new Nomad version). */
  generation: 'previewd.generation',
} as const;

/** Consul service Meta keys: Consul refuses dots in them (agent/structs ValidateServiceMetadata). */
export const CONSUL_META = {
  managedBy: 'previewd_managed_by',
  env: 'previewd_env',
  component: 'previewd_component',
} as const;

/** Consul tag on every routable service previewd registers (nothing decides ownership by it). */
export const CONSUL_MANAGED_TAG = 'previewd.managed=true';

/** Vault KV v2 custom_metadata keys (the same spelling as Consul's: no dots). */
export const VAULT_SECRET_META = {
  managedBy: 'previewd_managed_by',
  env: 'previewd_env',
} as const;

/** Postgres COMMENT ON DATABASE/ROLE: this prefix, then a JSON object. */
export const POSTGRES_COMMENT_PREFIX = 'previewd:';
/** The `managedBy` field of a Postgres marker: tells ours from any other tool's JSON comment. */
export const POSTGRES_MANAGED_BY = 'previewd';

export interface JobMarkerInput {
  instance: string;
  envId: string;
  repo: string;
  pr: number;
  component: string;
  /** The head SHA, for a job built from the PR; null for stock images (they stay at any SHA). */
  sha: string | null;
}

/** The Meta of a preview job. Job meta is part of every task's meta: a change replaces the allocations (scheduler/util.go tasksUpdated). */
export function nomadJobMeta(input: JobMarkerInput): Record<string, string> {
  return {
    [NOMAD_META.managedBy]: input.instance,
    [NOMAD_META.env]: input.envId,
    [NOMAD_META.repo]: input.repo,
    [NOMAD_META.pr]: String(input.pr),
    [NOMAD_META.component]: input.component,
    ...(input.sha !== null ? { [NOMAD_META.sha]: input.sha } : {}),
  };
}

/** A job's Meta with the generation marker: a new Nomad version of an otherwise identical spec. */
export function withGeneration(meta: Record<string, string> | null | undefined, generation: string): Record<string, string> {
  return { ...(meta ?? {}), [NOMAD_META.generation]: generation };
}

/** The head SHA a job was deployed at, from its Meta; null for stock-image jobs. */
export function jobSha(meta: Record<string, string> | null | undefined): string | null {
  return meta?.[NOMAD_META.sha] ?? null;
}

/** The generation marker of a job, carried forward so an unchanged job stays unchanged. */
export function jobGeneration(meta: Record<string, string> | null | undefined): string | null {
  return meta?.[NOMAD_META.generation] ?? null;
}

export function consulServiceMeta(instance: string, envId: string, component: string): Record<string, string> {
  return { [CONSUL_META.managedBy]: instance, [CONSUL_META.env]: envId, [CONSUL_META.component]: component };
}

export function vaultSecretMetadata(instance: string, envId: string): Record<string, string> {
  return { [VAULT_SECRET_META.managedBy]: instance, [VAULT_SECRET_META.env]: envId };
}

/** The first line of every policy previewd writes (policies carry no metadata: the text is all there is). */
export function vaultPolicyMarker(instance: string, envId: string): string {
  return `# previewd managed-by=${instance} env=${envId}`;
}

/** The marker line's shape, read back by owners.ts. */
export const VAULT_POLICY_MARKER = /^# previewd managed-by=(\S+) env=(\S+)$/;

/** The COMMENT previewd writes on every database and role it creates. */
export function postgresComment(instance: string, envId: string): string {
  return `${POSTGRES_COMMENT_PREFIX}${JSON.stringify({ managedBy: POSTGRES_MANAGED_BY, instance, env: envId })}`;
}

/**
 * The COMMENT of a warm-pool spare (database/warm-pool.ts): no environment yet, the
 * template it was cloned from and the template's version marker (hashed) at that
 * moment. No `env` field, so ownerOfPostgresObject (and with it GC) never takes a
 * spare for an environment's database.
 */
export function postgresSpareComment(instance: string, template: string, version: string): string {
  return `${POSTGRES_COMMENT_PREFIX}${JSON.stringify({ managedBy: POSTGRES_MANAGED_BY, instance, spare: template, version })}`;
}

/**
 * A string as a literal of a go-bexpr filter (Nomad's and Consul's `filter`), so a value
 * can never close the literal and add a clause of its own. go-bexpr grammar.peg:
 * StringLiteral is `"` DoubleStringChar* `"` with DoubleStringChar <- !'"' ., then
 * strconv.Unquote: Go's escapes (JSON's are a subset) but no escaped quote, as the
 * literal ends at the first `"`. A value with a `"` goes in a raw `…` literal instead
 * (RawStringChar <- !'`' ., carriage returns dropped); one that needs both is refused.
 */
export function quoteBexpr(value: string): string {
  if (!value.includes('"')) return JSON.stringify(value);
  if (!value.includes('`') && !value.includes('\r')) return `\`${value}\``;
  throw new Error(`quoteBexpr: ${JSON.stringify(value)} fits no go-bexpr string literal`);
}

// planEnvironment: desired + observed → the list of steps that makes them equal. Pure,
// so it can be table-tested and printed as a dry run (describePlan).
import { UserError } from '../errors.js';
import { credentialRenewalDue } from './credential-renewal.js';
import {
  recordedResources,
  type DesiredEnvironment,
  type ObservedEnvironment,
  type PlanContext,
  type PlannedComponent,
  type Plan,
  type Step,
} from './model.js';
import { repoConfig } from '../config/repos.js';
import { testJobId } from '../e2e/naming.js';

export function planEnvironment(desired: DesiredEnvironment | null, observed: ObservedEnvironment, context: PlanContext): Plan {
  if (desired?.present && desired.sha) return planPresent(desired, desired.sha, observed, context);
  return planAbsent(observed, context);
}

/** The routine renewal of the PR's login and secret: the running jobs keep their password. */
function renewCredentials(names: PlanContext['names']): Step {
  return { kind: 'ensure-credentials', role: names.role, database: names.database, path: names.vaultPath, keepPassword: true };
}

/**
 * While the build gate holds a new head back, the earlier SHA keeps running on the PR's
 * login and secret (named per PR, not per SHA): they are renewed by the same rule as a
 * running head's, and nothing else is planned (nothing of the held SHA is created).
 */
export function planHeldRenewal(record: PlanContext['record'], context: Pick<PlanContext, 'config' | 'names' | 'now'>): Plan {
  const resources = recordedResources(record);
  if (!record?.observedSha || !resources.role || !resources.vaultSecret) return [];
  return credentialRenewalDue(resources.credentialsValidUntil, context.now, context.config.credentialTtl) ? [renewCredentials(context.names)] : [];
}

function refusalsForPresent(observed: ObservedEnvironment, context: PlanContext): Step[] {
  const { names } = context;
  const refuse = (target: string, reason: string): Step => ({ kind: 'refuse', target, reason, fatal: true });
  const out: Step[] = [];
  if (observed.database && !observed.database.owned) out.push(refuse(`database ${names.database}`, 'exists without previewd ownership comment'));
  if (observed.role && !observed.role.owned) out.push(refuse(`role ${names.role}`, 'exists without previewd ownership comment'));
  if (observed.secret && !observed.secret.owned) out.push(refuse(`vault secret ${names.vaultPath}`, 'custom_metadata lacks our marker'));
  if (observed.policy && !observed.policy.owned) out.push(refuse(`vault policy ${names.vaultPolicy}`, 'first line lacks our marker'));
  if (observed.jwtRole && !observed.jwtRole.owned) out.push(refuse(`vault role ${names.vaultRole}`, 'is not bound to exactly this environment\'s policy and jobs'));
  const expected = new Set(context.components.map((c) => c.jobId));
  for (const job of observed.jobs) {
    if (expected.has(job.id) && !job.owned) out.push(refuse(`nomad job ${job.id}`, 'Meta lacks our ownership marker for this environment'));
  }
  return out;
}

/** Wave of each component: 0 without dependencies, else one after its latest dependency. */
export function dependencyWaves(components: PlannedComponent[]): Map<string, number> {
  const byName = new Map(components.map((c) => [c.component, c]));
  const waves = new Map<string, number>();
  const visit = (name: string, path: string[]): number => {
    const known = waves.get(name);
    if (known !== undefined) return known;
    if (path.includes(name)) throw new UserError(`component dependency cycle: ${[...path, name].join(' → ')}`, { system: 'templates' });
    const component = byName.get(name);
    if (!component) throw new UserError(`component "${path.at(-1)}" depends on unknown component "${name}"`, { system: 'templates' });
    const wave = component.dependsOn.reduce((max, dep) => Math.max(max, visit(dep, [...path, name]) + 1), 0);
    waves.set(name, wave);
    return wave;
  };
  for (const c of components) visit(c.component, []);
  return waves;
}

/** The group of the steps that prepare the data and secrets layers side by side. */
const PREPARE = 'prepare';

function planPresent(desired: DesiredEnvironment, sha: string, observed: ObservedEnvironment, context: PlanContext): Plan {
  const { names, record, components, config } = context;
  const refusals = refusalsForPresent(observed, context);
  if (refusals.length > 0) return refusals;

  const resources = recordedResources(record);
  // A permanent failure at this SHA stays until a push or a redeploy (a new generation).
  if (record?.status === 'failed' && resources.failedSha === sha && record.observedGeneration >= desired.generation) return [];
  const jobsById = new Map(observed.jobs.map((j) => [j.id, j]));
  // The e2e test job of this SHA reads the PR's secret too: the role binds it with the components.
  const testJob = repoConfig(config, names.key.repo).e2e ? [testJobId(names, sha)] : [];
  const jobIds = [...components.map((c) => c.jobId), ...testJob];
  const jobsInPlace = components.every((c) => {
    const job = jobsById.get(c.jobId);
    return job !== undefined && !job.stop && (job.sha === sha || !c.builtFromPr);
  });
  const coreInPlace =
    observed.database !== null && observed.role !== null && observed.secret?.hasData === true && observed.policy !== null && observed.jwtRole !== null;
  const deploying =
    record === null ||
    record.status !== 'ready' ||
    record.observedSha !== sha ||
    record.observedGeneration < desired.generation ||
    !jobsInPlace ||
    !coreInPlace;
  const renewalDue = credentialRenewalDue(resources.credentialsValidUntil, context.now, config.credentialTtl);
  const policyStale = observed.policy === null || !observed.policy.upToDate;
  const roleStale = observed.jwtRole === null || observed.jwtRole.jobIds.join(',') !== [...jobIds].sort().join(',');
  // The policy and the JWT role need nothing else in place: they are written while the
  // database is cloned (one group), the login and its secret once the database exists.
  const accessSteps: Step[] = [
    ...(policyStale ? [{ kind: 'ensure-policy', name: names.vaultPolicy, group: PREPARE } as const] : []),
    ...(roleStale ? [{ kind: 'ensure-jwt-role', name: names.vaultRole, jobIds, group: PREPARE } as const] : []),
  ];

  if (!deploying) {
    // Everything runs at the desired SHA: only drift and renewal remain (GitHub: projection.ts).
    const steps: Step[] = [];
    if (renewalDue) {
      // Same password, later VALID UNTIL; and a new secret version with identical data:
      // a KV metadata write would not move the current version's deletion_time
      // (vault-plugin-secrets-kv path_metadata.go), while consul-template re-reads the
      // secret every few minutes and, the file being identical, writes nothing, so no
      // change_mode fires (consul-template renderer.go, nomad template.go).
      steps.push(renewCredentials(names));
    }
    steps.push(...accessSteps);
    return steps;
  }

  const db = repoConfig(config, names.key.repo).database;
  const steps: Step[] = [];
  if (!observed.database) {
    steps.push({ kind: 'ensure-database', database: names.database, mode: db.mode, template: db.template, strategy: db.strategy, group: PREPARE });
  }
  steps.push(...accessSteps);
  // Renewed on every deploy; the password is kept when the secret holds a working one.
  steps.push({ kind: 'ensure-credentials', role: names.role, database: names.database, path: names.vaultPath, keepPassword: observed.secret?.hasData === true });

  const waves = dependencyWaves(components);
  const maxWave = Math.max(-1, ...waves.values());
  for (let wave = 0; wave <= maxWave; wave += 1) {
    const inWave = components.filter((c) => waves.get(c.component) === wave);
    for (const c of inWave) {
      const job = jobsById.get(c.jobId);
      // A component whose last deployment failed gets a new generation, hence a new Nomad
      // version even when its spec is unchanged; the others keep theirs (no restart).
      const generation = record?.components?.[c.component] === 'failed' ? String(desired.generation) : (job?.generation ?? null);
      steps.push({ kind: 'register-job', component: c.component, jobId: c.jobId, enforceIndex: job?.jobModifyIndex ?? 0, group: `register-${wave}`, generation });
    }
    for (const c of inWave) steps.push({ kind: 'watch-deployment', component: c.component, jobId: c.jobId, group: `watch-${wave}` });
  }
  for (const c of components) {
    if (c.routable && c.host) steps.push({ kind: 'check-routing', component: c.component, serviceName: c.serviceName, host: c.host, group: 'routing' });
  }
  return steps;
}

function planAbsent(observed: ObservedEnvironment, context: PlanContext): Plan {
  const { names } = context;
  const steps: Step[] = [];
  const skip = (target: string, reason: string): Step => ({ kind: 'refuse', target, reason, fatal: false });
  for (const job of observed.jobs) {
    if (job.owned) steps.push({ kind: 'stop-job', jobId: job.id });
    else steps.push(skip(`nomad job ${job.id}`, 'not ours: left alone'));
  }
  const serviceNames = [...new Set(observed.services.map((s) => s.serviceName))].sort();
  const ownedServices = observed.services.some((s) => s.owned);
  // Waiting for Nomad to deregister (and removing leftovers) comes after the database
  // and secret: a slow Nomad client or a Consul problem must not keep those alive.
  const servicesStep: Step[] =
    ownedServices || steps.some((s) => s.kind === 'stop-job')
      ? [{ kind: 'deregister-services', serviceNames: serviceNames.length > 0 ? serviceNames : observed.jobs.filter((j) => j.owned).map((j) => j.id) }]
      : [];
  if (observed.database) {
    steps.push(observed.database.owned ? { kind: 'drop-database', database: names.database } : skip(`database ${names.database}`, 'not ours: left alone'));
  }
  if (observed.role) steps.push(observed.role.owned ? { kind: 'drop-role', role: names.role } : skip(`role ${names.role}`, 'not ours: left alone'));
  if (observed.secret) {
    steps.push(observed.secret.owned ? { kind: 'destroy-secret', path: names.vaultPath } : skip(`vault secret ${names.vaultPath}`, 'not ours: left alone'));
  }
  if (observed.policy) {
    steps.push(observed.policy.owned ? { kind: 'delete-policy', name: names.vaultPolicy } : skip(`vault policy ${names.vaultPolicy}`, 'not ours: left alone'));
  }
  if (observed.jwtRole) {
    steps.push(observed.jwtRole.owned ? { kind: 'delete-jwt-role', name: names.vaultRole } : skip(`vault role ${names.vaultRole}`, 'not ours: left alone'));
  }
  steps.push(...servicesStep);
  return steps;
}

/** One line per step, for dry runs, events and logs. Never contains a secret. */
export function describeStep(step: Step): string {
  switch (step.kind) {
    case 'refuse':
      return `${step.fatal ? 'refuse' : 'skip'}: ${step.target} (${step.reason})`;
    case 'ensure-database':
      return step.mode === 'template'
        ? `create database ${step.database} from template ${step.template} (${step.strategy})`
        : `create empty database ${step.database} and seed it`;
    case 'ensure-credentials':
      return `ensure login role ${step.role} for ${step.database} (${step.keepPassword ? 'renew, keep working password' : 'new password'}) and write canonical environment to vault ${step.path}`;
    case 'ensure-policy':
      return `write vault policy ${step.name}`;
    case 'ensure-jwt-role':
      return `write vault jwt role ${step.name} bound to ${step.jobIds.join(', ')}`;
    case 'register-job':
      return `register nomad job ${step.jobId} (${step.enforceIndex === 0 ? 'create' : `update at index ${step.enforceIndex}`})`;
    case 'watch-deployment':
      return `wait for deployment of ${step.jobId} to succeed`;
    case 'check-routing':
      return `wait for a passing ${step.serviceName} instance routed to ${step.host}`;
    case 'stop-job':
      return `stop and purge nomad job ${step.jobId}`;
    case 'deregister-services':
      return `wait for Nomad to deregister consul instances of ${step.serviceNames.join(', ')}; remove leftovers of gone allocations through their agent`;
    case 'drop-database':
      return `drop database ${step.database} (terminating sessions)`;
    case 'drop-role':
      return `drop role ${step.role}`;
    case 'destroy-secret':
      return `destroy vault secret ${step.path} (all versions)`;
    case 'delete-policy':
      return `delete vault policy ${step.name}`;
    case 'delete-jwt-role':
      return `delete vault jwt role ${step.name}`;
  }
}

export function describePlan(plan: Plan): string[] {
  if (plan.length === 0) return ['nothing to do'];
  return plan.map((step, i) => `${i + 1}. ${describeStep(step)}`);
}

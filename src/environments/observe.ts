// observeEnvironment: what exists of one PR's environment in every layer, each object
// with its ownership verdict. Read-only; secret values are never part of the result.
import type { Deps } from '../deps.js';
import type { NomadJobState, NomadJobStub } from '../nomad/types.js';
import type { ObservedEnvironment, ObservedJob, ObservedServiceInstance } from './model.js';
import type { EnvironmentNames } from './naming.js';
import { renderPolicy } from './vault-access.js';
import { jobGeneration, jobSha } from '../ownership/markers.js';
import {
  boundJobIds,
  ownedBy,
  ownerOfConsulService,
  ownerOfNomadJob,
  ownerOfVaultJwtRole,
  ownerOfVaultPolicy,
  ownerOfVaultSecret,
} from '../ownership/owners.js';

function toObservedJob(job: NomadJobStub | NomadJobState, instance: string, envId: string): ObservedJob {
  return {
    id: job.id,
    owned: ownedBy(ownerOfNomadJob(job.meta), instance, envId),
    stop: job.stop,
    status: job.status,
    jobModifyIndex: job.jobModifyIndex,
    sha: jobSha(job.meta),
    generation: jobGeneration(job.meta),
  };
}

/**
 * `expectedJobIds`: the job IDs this environment uses or used (rendered components and
 * those recorded in the store). Jobs found under the environment's ID prefix count only
 * when their Meta names this environment, since another repo's IDs may share the prefix.
 */
export async function observeEnvironment(
  deps: Pick<Deps, 'config' | 'nomad' | 'consul' | 'vault' | 'databases'>,
  names: EnvironmentNames,
  expectedJobIds: string[],
): Promise<ObservedEnvironment> {
  const { config } = deps;
  const instance = config.instance;
  const envId = names.id;

  const [database, role, secretMeta, policyText, jwtRole, listed, expectedJobs] = await Promise.all([
    deps.databases.getDatabase(names.database),
    deps.databases.getRole(names.role),
    deps.vault.readSecretMetadata(names.vaultPath),
    deps.vault.getPolicy(names.vaultPolicy),
    deps.vault.getJwtRole(names.vaultRole),
    deps.nomad.listJobs({ prefix: `${envId}-` }),
    Promise.all([...new Set(expectedJobIds)].map((id) => deps.nomad.getJob(id))),
  ]);

  const jobs = new Map<string, ObservedJob>();
  for (const job of expectedJobs) if (job) jobs.set(job.id, toObservedJob(job, instance, envId));
  for (const stub of listed) {
    if (!jobs.has(stub.id) && ownedBy(ownerOfNomadJob(stub.meta), instance, envId)) jobs.set(stub.id, toObservedJob(stub, instance, envId));
  }

  const secretOwned = secretMeta !== null && ownedBy(ownerOfVaultSecret(secretMeta.customMetadata), instance, envId);
  // Only our own secret is read, and only to learn whether a live version exists.
  const hasData = secretOwned ? (await deps.vault.readSecret(names.vaultPath)) !== null : false;

  // Service name = job ID for every component; look at both expected and found jobs.
  const serviceNames = [...new Set([...expectedJobIds, ...jobs.keys()])].sort();
  const serviceLists = await Promise.all(serviceNames.map((name) => deps.consul.listServiceInstances(name)));
  const services: ObservedServiceInstance[] = serviceLists.flat().map((s) => ({
    node: s.node,
    serviceId: s.serviceId,
    serviceName: s.serviceName,
    owned: ownedBy(ownerOfConsulService(s.meta), instance, envId),
    status: s.status,
  }));

  return {
    // The adapter reads the COMMENT with ownerOfPostgresObject and this instance: owned
    // means marked by us, and then for exactly this environment, as everywhere else.
    database: database ? { owned: database.owned && database.envId === envId } : null,
    role: role ? { owned: role.owned && role.envId === envId } : null,
    secret: secretMeta ? { owned: secretOwned, hasData } : null,
    policy:
      policyText !== null
        ? { owned: ownedBy(ownerOfVaultPolicy(policyText), instance, envId), upToDate: policyText.trim() === renderPolicy(config, names).trim() }
        : null,
    jwtRole: jwtRole ? { owned: ownedBy(ownerOfVaultJwtRole(names.vaultRole, jwtRole, instance), instance, envId), jobIds: boundJobIds(jwtRole) } : null,
    jobs: [...jobs.values()].sort((a, b) => a.id.localeCompare(b.id)),
    services,
  };
}

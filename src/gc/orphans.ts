// Orphans are removed with the reconciler's own teardown steps (stop-job, drop-database,
// ...) and its applyStep, which re-checks every marker right before it deletes; GC only
// says which concrete resources, found by marker, to hand it.
import type { Config } from '../config/schema.js';
import type { Step } from '../environments/model.js';
import { namesOfId, type EnvironmentNames } from '../environments/naming.js';
import { KIND_ORDER } from './plan.js';
import type { OwnedResource } from './types.js';

/** Teardown steps for an orphan's resources, in the reconciler's teardown order. Pure. */
export function planOrphanRemoval(resources: OwnedResource[]): Step[] {
  const sorted = [...resources].sort((a, b) => KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind) || a.name.localeCompare(b.name));
  const steps: Step[] = [];
  const serviceNames = [...new Set(sorted.filter((r) => r.kind === 'consul-service').map((r) => r.serviceName ?? r.name))];
  for (const r of sorted) {
    switch (r.kind) {
      case 'nomad-job':
        steps.push({ kind: 'stop-job', jobId: r.name });
        break;
      case 'consul-service':
        // One step for all of the env's registrations, where the first one sorts.
        if (!steps.some((s) => s.kind === 'deregister-services')) steps.push({ kind: 'deregister-services', serviceNames });
        break;
      case 'vault-jwt-role':
        steps.push({ kind: 'delete-jwt-role', name: r.name });
        break;
      case 'vault-policy':
        steps.push({ kind: 'delete-policy', name: r.name });
        break;
      case 'vault-secret':
        steps.push({ kind: 'destroy-secret', path: r.name });
        break;
      case 'database':
        steps.push({ kind: 'drop-database', database: r.name });
        break;
      case 'database-role':
        steps.push({ kind: 'drop-role', role: r.name });
        break;
    }
  }
  return steps;
}

/**
 * The names of an environment known only by its ID (its repo is not recoverable from
 * the ID when the slug was shortened). Everything the teardown steps check ownership
 * against is derived from the ID alone, by naming.ts like every environment's; hosts
 * are not needed to remove anything and are reported as absent.
 */
export function orphanNames(config: Pick<Config, 'instance' | 'database' | 'vault'>, envId: string): EnvironmentNames {
  const pr = Number(/-pr-(\d+)$/.exec(envId)?.[1] ?? 0);
  const slug = envId.replace(/-pr-\d+$/, '');
  return { ...namesOfId(config, envId, pr), key: { repo: `${slug}/unknown`, pr }, host: () => null, url: () => null };
}

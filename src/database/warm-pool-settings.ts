// Which warm pools the configuration asks for: one per template that a repo clones
// (mode template, pool.size > 0). Repos naming one template share its pool; the first
// of them decides its settings, so no two sets of rules fight over the same spares.
import type { Config } from '../config/schema.js';
import type { PoolSettings } from './pool-plan.js';

export function warmPoolSettings(config: Pick<Config, 'repos'>): PoolSettings[] {
  const byTemplate = new Map<string, PoolSettings>();
  for (const repo of config.repos) {
    const { database } = repo;
    if (database.mode !== 'template' || byTemplate.has(database.template)) continue;
    byTemplate.set(database.template, {
      template: database.template,
      strategy: database.strategy,
      size: database.pool.size,
      maxBytes: database.pool.maxBytes,
      versionQuery: database.pool.versionQuery,
    });
  }
  return [...byTemplate.values()];
}

/** The pool a PR database of this template claims from, or undefined (no pool: always clone). */
export function warmPoolOf(config: Pick<Config, 'repos'>, template: string): { versionQuery?: string | undefined } | undefined {
  const settings = warmPoolSettings(config).find((p) => p.template === template);
  return settings && settings.size > 0 ? { versionQuery: settings.versionQuery } : undefined;
}

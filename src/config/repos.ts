// The one lookup of a repo's settings. Defaults live in repoSchema only: a repo that is
// not (or no longer) configured gets the schema's defaults, not values restated at the
// call site.
import { repoSchema, type FileConfig, type RepoConfig } from './schema.js';

type ReposConfig = Pick<FileConfig, 'repos'>;

/** The repo's configuration as loaded, or undefined when it is not configured. */
export function configuredRepo(config: ReposConfig, repo: string): RepoConfig | undefined {
  return config.repos.find((r) => r.name === repo);
}

/** The repo's configuration, or the schema's defaults for a repo that left the configuration. */
export function repoConfig(config: ReposConfig, repo: string): RepoConfig {
  return configuredRepo(config, repo) ?? defaultRepo(repo);
}

/** A repo with every setting at the schema's default. */
export function defaultRepo(repo: string): RepoConfig {
  return repoSchema.parse({ name: repo });
}

// Where Docker's config.json is and reading it: $DOCKER_CONFIG/config.json, else
// $HOME/.docker/config.json (docker/cli cli/config/config.go: Dir() is DOCKER_CONFIG or
// ~/.docker; ConfigFileName "config.json"). No file means no credentials (anonymous
// pulls), as for the docker CLI; a file that cannot be parsed is an error naming it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EMPTY_CREDENTIALS, parseDockerConfig, type DockerCredentialStore } from './docker-config.js';

export interface DockerConfigEnv {
  DOCKER_CONFIG?: string | undefined;
  HOME?: string | undefined;
}

export function dockerConfigPath(env: DockerConfigEnv): string | null {
  if (env.DOCKER_CONFIG) return join(env.DOCKER_CONFIG, 'config.json');
  if (env.HOME) return join(env.HOME, '.docker', 'config.json');
  return null;
}

export interface LoadedDockerConfig {
  credentials: DockerCredentialStore;
  /** The file read; null when there was none. */
  path: string | null;
}

/** Reads the credentials; throws DockerConfigError for a file that is not config.json. */
export function loadDockerCredentials(env: DockerConfigEnv): LoadedDockerConfig {
  const path = dockerConfigPath(env);
  if (!path) return { credentials: EMPTY_CREDENTIALS, path: null };
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { credentials: EMPTY_CREDENTIALS, path: null };
    throw err;
  }
  return { credentials: parseDockerConfig(text, path), path };
}

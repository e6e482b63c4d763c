// The templates-backed EnvironmentRenderer: rendered jobs and the canonical secret of
// one PR, both from the repo's template set (templates/render.ts). Built by the
// composition roots (cli/compose.ts, sandbox/world.ts) and passed in Deps.
import { renderEnvironment, renderEnvironmentSecret } from '../templates/render.js';
import type { EnvironmentRenderer } from './renderer.js';

export function createTemplatesRenderer(): EnvironmentRenderer {
  return {
    render: (config, key, sha) => renderEnvironment(config, key, sha),
    secretData: (config, key, sha, databaseUrl) => renderEnvironmentSecret(config, key, sha, databaseUrl),
  };
}

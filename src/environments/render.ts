// The templates-backed EnvironmentRenderer: rendered jobs and the canonical secret of
// one PR, both from the repo's template set (templates/render.ts).
import { renderEnvironment, renderEnvironmentSecret } from '../templates/render.js';
import type { EnvironmentRenderer } from './apply-context.js';

export const templatesRenderer: EnvironmentRenderer = {
  render: (deps, key, sha) => renderEnvironment(deps.config, key, sha),
  secretData: (deps, key, sha, databaseUrl) => renderEnvironmentSecret(deps.config, key, sha, databaseUrl),
};

// The seam between the reconcile loop and the templates: what a renderer produces and
// the interface Deps carries (built in the composition root, a fake in unit tests).
// Types only, importing nothing that imports Deps, so deps.ts can name it.
import type { Config } from '../config/schema.js';
import type { PlannedComponent } from './model.js';
import type { EnvironmentKey } from './naming.js';

export interface RenderedJob extends PlannedComponent {
  hcl: string;
  /** The image its task runs (<image>:<sha> when built from the PR): the build gate probes these. */
  image: string;
}

/** Renders a PR's jobs and its canonical secret from the configuration it is given. */
export interface EnvironmentRenderer {
  render(config: Config, key: EnvironmentKey, sha: string): Promise<RenderedJob[]>;
  secretData(config: Config, key: EnvironmentKey, sha: string, databaseUrl: string): Promise<Record<string, string>>;
}

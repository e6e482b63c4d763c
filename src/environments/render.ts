// The templates-backed EnvironmentRenderer (wired when templates/ exports renderEnvironment).
import type { EnvironmentRenderer } from './reconcile.js';

export const templatesRenderer: EnvironmentRenderer = {
  async render() {
    throw new Error('templates renderer not available yet');
  },
  async secretData() {
    throw new Error('templates renderer not available yet');
  },
};

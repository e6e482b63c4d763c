// Where previewd's run-time assets live: migrations/, job-templates/ and config/ sit
// at the package root, beside src/ (run through tsx) and dist/ (the compiled build).
// This file is one directory below the root in both layouts (src/package-root.ts,
// dist/package-root.js), so it is the one place that knows the way there.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** A path inside the package, e.g. packagePath('migrations'). */
export function packagePath(...parts: string[]): string {
  return join(PACKAGE_ROOT, ...parts);
}

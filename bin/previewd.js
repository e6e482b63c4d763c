#!/usr/bin/env node
// The installed command: runs the compiled build in dist/ (`npm run build`), so an
// operator's machine needs Node and the runtime dependencies only, no TypeScript.
// During development, `npm run previewd -- …` runs the sources through tsx instead.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('previewd: dist/ is missing; run `npm run build` first (or `npm run previewd -- …` from a source checkout)\n');
  process.exit(1);
}
const { runCli } = await import(entry.href);
process.exitCode = await runCli(process.argv.slice(2));

// `npm run bench` — runs every benchmark in turn, or the ones named:
//
//   npm run bench                      # intake, provisioning, gc, database, startup
//   npm run bench -- intake            # one
//   npm run bench -- gc provisioning --quick
//
// Each benchmark runs in its own Node process (so CPU and RSS figures are its own),
// gets the remaining arguments (--quick, --no-append, …), prints its table and
// appends it to bench/RESULTS.md. `database` takes its own flags (--sizes, --runs);
// --quick maps to `--sizes 10 --runs 1` for it.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BENCHMARKS = ['intake', 'provisioning', 'gc', 'database', 'startup'] as const;
type Name = (typeof BENCHMARKS)[number];

const args = process.argv.slice(2);
const named = args.filter((a) => (BENCHMARKS as readonly string[]).includes(a)) as Name[];
const unknown = args.filter((a) => !a.startsWith('-') && !(BENCHMARKS as readonly string[]).includes(a) && !/^\d[\d,]*$/.test(a));
if (unknown.length > 0) {
  console.error(`unknown benchmark ${unknown.join(', ')}; known: ${BENCHMARKS.join(', ')}`);
  process.exit(2);
}
const flags = args.filter((a) => !named.includes(a as Name));
const selected = named.length > 0 ? named : [...BENCHMARKS];

function argsFor(name: Name): string[] {
  if (name !== 'database') return flags;
  // bench/database.ts has no --quick; keep its other flags as given.
  return flags.flatMap((f) => (f === '--quick' ? ['--sizes', '10', '--runs', '1'] : [f]));
}

let failed = 0;
for (const name of selected) {
  const file = fileURLToPath(new URL(`./${name}.ts`, import.meta.url));
  console.error(`\n=== bench ${name} ${argsFor(name).join(' ')}`);
  const started = Date.now();
  const code = await new Promise<number>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file, ...argsFor(name)], { stdio: 'inherit' });
    child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0)));
  });
  console.error(`=== bench ${name}: ${code === 0 ? 'done' : `failed (exit ${code})`} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  if (code !== 0) failed++;
}
process.exit(failed > 0 ? 1 : 0);

// Layering rules checked in CI by test/layering.test.ts (and by hand: npm run lint:deps).
// Each rule is a promise of the architecture (issue 12): break one and the build fails.
/** Modules that decide without doing: they must not reach any system. */
const PURE = [
  '^src/environments/(plan|outcome|projection|naming|model)\\.ts$',
  '^src/ownership/',
  '^src/gc/plan\\.ts$',
  '^src/github/(policy|pull-facts)\\.ts$',
  '^src/resync/plan\\.ts$',
  '^src/database/(pool-plan|clone-method)\\.ts$',
  '^src/build/',
  '^src/e2e/(plan|judge|naming|report)\\.ts$',
];
/** What "a client" is: our adapters and the libraries that talk to a system. */
const CLIENTS = [
  '^src/(nomad|consul|vault|github|database|registry)/client\\.ts$',
  '^src/database/(preview-databases|warm-pool)\\.ts$',
  '^src/http-transport\\.ts$',
  '(^|/)node_modules/(pg|ioredis|bullmq|node-fetch|node-vault|koa|@koa/router)/',
];

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'An import circle in src/ hides which module depends on which.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'src-never-imports-test',
      severity: 'error',
      comment: 'Product code never imports test code; shared helpers live in src/sandbox.',
      from: { path: '^src/', pathNot: '\\.test\\.ts$' },
      to: { path: '^(test|bench)/' },
    },
    {
      name: 'pure-imports-no-client',
      severity: 'error',
      comment: 'Planning, outcome, projection, naming and ownership are pure: no client, no I/O library.',
      from: { path: PURE, pathNot: '\\.test\\.ts$' },
      to: { path: CLIENTS },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      from: { path: '^src/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};

// ESLint here has one job: the layering rule dependency-cruiser cannot see, because it
// is a property read and not an import. Only src/config/ reads process.env (issue 12):
// everything else takes its settings as arguments, built from the environment there.
// Checked in CI by test/layering.test.ts (and by hand: npm run lint:env).
import tsParser from '@typescript-eslint/parser';

const message = 'only src/config/ reads process.env: take the setting as an argument and read it from the environment in src/config/';

export default [
  {
    // Every source file is parsed, so src/config/ lints (clean) rather than being skipped.
    files: ['src/**/*.ts'],
    languageOptions: { parser: tsParser, sourceType: 'module' },
    // No eslint-disable comments: a rule switched off in one file would undo the layering silently.
    linterOptions: { noInlineConfig: true },
  },
  {
    files: ['src/**/*.ts'],
    ignores: ['src/config/**', 'src/**/*.test.ts'],
    rules: {
      // process.env, process['env'], and const { env } = process.
      'no-restricted-properties': ['error', { object: 'process', property: 'env', message }],
      // globalThis.process.env and the like, where the object is not the bare identifier.
      'no-restricted-syntax': ['error', { selector: "MemberExpression[object.type='MemberExpression'][object.property.name='process'][property.name='env']", message }],
      // import { env } from 'node:process'.
      'no-restricted-imports': [
        'error',
        { paths: ['process', 'node:process'].map((name) => ({ name, importNames: ['env'], message })) },
      ],
    },
  },
];

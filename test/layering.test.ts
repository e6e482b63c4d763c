// The layering promises of issue 12, checked with dependency-cruiser against the rules in
// .dependency-cruiser.cjs: no import circle in src/, src/ never imports test/ or bench/,
// and the pure modules (plan, naming, model, ownership, policy) import no client. Only
// src/config/ reads process.env: a property read, so ESLint checks it (eslint.config.js).
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

const run = promisify(execFile);

describe('layering', () => {
  it('when src/ is cruised with the project rules then nothing is violated', async () => {
    const result = await run('npx', ['depcruise', 'src', '--config', '.dependency-cruiser.cjs', '--output-type', 'err'], { encoding: 'utf8' }).then(
      (r) => ({ code: 0, out: r.stdout + r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout + e.stderr }),
    );
    expect(result.out).toContain('no dependency violations found');
    expect(result.code).toBe(0);
  }, 60_000);

  it('when src/ is linted with the project rules then nothing outside src/config/ reads process.env', async () => {
    const results = await new ESLint({ cwd: ROOT }).lintFiles(['src']);
    const problems = results.flatMap((r) => r.messages.map((m) => `${r.filePath.slice(ROOT.length)}:${m.line} ${m.message}`));
    expect(problems).toEqual([]);
    // The rule covers the product code: a lint that saw no file would pass as well.
    expect(results.some((r) => r.filePath.endsWith('/src/daemon.ts'))).toBe(true);
  }, 120_000);

  describe('the process.env rule', () => {
    const lint = async (code: string, filePath: string) => {
      const [result] = await new ESLint({ cwd: ROOT }).lintText(code, { filePath });
      return result!.messages.map((m) => m.ruleId);
    };

    it.each([
      ['a property read', 'export const port = process.env.PORT;'],
      ['a computed read', "export const env = process['env'];"],
      ['a destructuring', 'const { env } = process;\nexport const port = env.PORT;'],
      ['a read through globalThis', 'export const port = globalThis.process.env.PORT;'],
      ['an import of env', "import { env } from 'node:process';\nexport const port = env.PORT;"],
    ])('when a module outside src/config/ has %s then it is an error', async (_what, code) => {
      const rules = await lint(code, 'src/queue/example.ts');
      expect(rules).toHaveLength(1);
      expect(rules[0]).toMatch(/^no-restricted-(properties|syntax|imports)$/);
    });

    it('when the same read is in src/config/ or a test then it passes', async () => {
      expect(await lint('export const port = process.env.PORT;', 'src/config/example.ts')).toEqual([]);
      expect(await lint('export const port = process.env.PORT;', 'src/queue/example.test.ts')).toEqual([]);
    });

    it('when a file switches the rule off with a comment then the comment has no effect', async () => {
      const rules = await lint('// eslint-disable-next-line no-restricted-properties\nexport const port = process.env.PORT;', 'src/queue/example.ts');
      expect(rules).toContain('no-restricted-properties');
    });
  });
});

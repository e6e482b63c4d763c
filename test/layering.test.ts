// The layering promises of issue 12, checked with dependency-cruiser against the rules in
// .dependency-cruiser.cjs: no import circle in src/, src/ never imports test/ or bench/,
// and the pure modules (plan, naming, model, ownership, policy) import no client.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

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
});

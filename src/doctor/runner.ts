// The doctor's pure middle: run each system's checks (a system that throws becomes one
// failed check, never a crash), then format the lines and the exit code. No I/O here
// beyond calling the check functions it is given.
import type { CheckResult } from './types.js';
import { fail } from './types.js';

export type SystemChecks = { system: string; run: () => Promise<CheckResult[]> };

export async function runChecks(systems: SystemChecks[]): Promise<CheckResult[]> {
  // Systems are independent: probe them in parallel, report in the given order.
  const results = await Promise.all(
    systems.map(async ({ system, run }) => {
      try {
        return await run();
      } catch (err) {
        return [fail(`${system}.doctor`, `the check itself failed: ${(err as Error).message}`, 'report this as a previewd bug, with the line above')];
      }
    }),
  );
  return results.flat();
}

/** `ok|warn|FAIL <check>: <detail> — fix: <what to do>`; one line whatever the detail holds. */
export function formatLine(r: CheckResult): string {
  const flat = (text: string) => text.replace(/\s+/g, ' ').trim();
  const label = r.status === 'fail' ? 'FAIL' : r.status;
  return `${label} ${r.check}: ${flat(r.detail)}${r.fix ? ` — fix: ${flat(r.fix)}` : ''}`;
}

export function hasFailure(results: CheckResult[]): boolean {
  return results.some((r) => r.status === 'fail');
}

// The readable form of a GC plan (CLI --dry-run without --json, admin logs).
import { keyString } from '../environments/naming.js';
import type { GcPlan } from './types.js';

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((r) => r[col]!.length)));
  return rows.map((r) => r.map((cell, col) => (col === r.length - 1 ? cell : cell.padEnd(widths[col]!))).join('  ').trimEnd());
}

export function describeGcPlan(plan: GcPlan, options: { dryRun: boolean } = { dryRun: true }): string {
  const verb = options.dryRun ? 'would remove' : 'removes';
  const lines: string[] = [];
  if (plan.actions.length === 0) {
    lines.push('GC: nothing to remove.');
  } else {
    const rows: string[][] = [['ACTION', 'SUBJECT', 'REASON', 'DETAIL']];
    for (const action of plan.actions) {
      if (action.kind === 'teardown') {
        rows.push(['teardown', keyString(action.key), action.reason, action.detail]);
      } else {
        rows.push(['orphan', action.envId, 'orphan', action.detail]);
        for (const r of action.resources) rows.push(['', `  ${r.kind}`, '', r.name]);
      }
    }
    lines.push(`GC ${verb} ${plan.actions.length} item(s):`, ...table(rows));
  }
  if (plan.skipped.length > 0) {
    lines.push('', 'Left alone:', ...table([['SUBJECT', 'WHY'], ...plan.skipped.map((s) => [s.subject, s.reason])]));
  }
  return `${lines.join('\n')}\n`;
}

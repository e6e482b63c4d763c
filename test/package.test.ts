// The package as an operator installs it: `npm pack` (its prepack script builds dist/),
// then `npm install -g` of the tarball into a temporary prefix, outside this checkout,
// so nothing can resolve from the repo's node_modules (tsx and TypeScript included).
// Dependencies come from the npm cache that `npm ci` filled (--prefer-offline), the
// registry only for what the cache lacks. Then the installed bin must answer --help,
// check configuration and templates from the package's own assets, and serve
// /healthz with its migrations applied.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueSuffix } from '../src/sandbox/services.js';
import { createTestRedis } from './support/services.js';
import { createTestDatabase } from './support/pg.js';
import { waitFor } from './support/wait.js';

const run = promisify(execFile);
const ROOT = new URL('..', import.meta.url).pathname;
const INSTALL_TIMEOUT_MS = 240_000;

const secrets = {
  VAULT_TOKEN: 'hvs.package-test-vault-token',
  GITHUB_WEBHOOK_SECRET: 'package-test-webhook-secret',
  GITHUB_TOKEN: 'ghp_packageTestToken123456',
  PREVIEWD_ADMIN_TOKEN: 'package-test-admin-token-long',
};

let dir: string;
let prefix: string;
let bin: string;
let packed: string[];

// Only PATH (for node itself) and HOME: no NODE_OPTIONS, no NODE_PATH, nothing of the test's.
const cleanEnv = (extra: Record<string, string>) => ({ PATH: process.env.PATH ?? '', HOME: dir, ...extra });

async function previewd(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(bin, args, { env: cleanEnv(env), timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'previewd-package-'));
  prefix = join(dir, 'prefix');
  const npmEnv = { ...process.env, npm_config_update_notifier: 'false' };
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', dir], { cwd: ROOT, env: npmEnv, maxBuffer: 32 * 1024 * 1024 });
  // npm prints the prepack script's output before the JSON.
  const report = JSON.parse(stdout.slice(stdout.indexOf('\n[') + 1)) as Array<{ filename: string; files: Array<{ path: string }> }>;
  packed = report[0]!.files.map((f) => f.path);
  await run('npm', ['install', '-g', join(dir, report[0]!.filename), '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund'], {
    cwd: dir,
    env: npmEnv,
    maxBuffer: 32 * 1024 * 1024,
  });
  bin = join(prefix, 'bin', 'previewd');
}, INSTALL_TIMEOUT_MS);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the installed package', () => {
  it('when packed then it holds the compiled build and run-time assets, and no sources or tests', () => {
    expect(packed).toContain('bin/previewd.js');
    expect(packed).toContain('dist/cli/main.js');
    expect(packed).toContain('job-templates/manifest.json');
    expect(packed.some((p) => p.startsWith('migrations/') && p.endsWith('.sql'))).toBe(true);
    expect(packed.filter((p) => p.startsWith('src/') || p.startsWith('test/') || p.endsWith('.ts') && !p.endsWith('.d.ts'))).toEqual([]);
  });

  it('when installed globally then neither tsx nor TypeScript is installed with it', () => {
    const installed = join(prefix, 'lib', 'node_modules', 'previewd');
    expect(existsSync(join(installed, 'dist', 'cli', 'main.js'))).toBe(true);
    expect(existsSync(join(installed, 'node_modules', 'tsx'))).toBe(false);
    expect(existsSync(join(installed, 'node_modules', 'typescript'))).toBe(false);
  });

  it('when run from the global install then --help lists the commands and config check passes', async () => {
    const help = await previewd(['--help']);
    expect(help.code).toBe(0);
    for (const command of ['serve', 'config', 'templates', 'gc']) expect(help.stdout).toContain(command);

    const check = await previewd(['config', 'check'], { ...secrets, DATABASE_URL: 'postgres://previewd:pw@pg.internal:5432/previewd' });
    expect(check.stderr).toBe('');
    expect(check.code).toBe(0);
    const missing = await previewd(['config', 'check'], {});
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('VAULT_TOKEN');
  });

  it('when run from the global install then the job templates it ships check clean', async () => {
    const result = await previewd(['templates', 'check']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });

  it('when serve starts from the global install then it migrates its state and /healthz answers 200', async () => {
    const db = await createTestDatabase('previewd_pkg');
    const redis = await createTestRedis();
    const config = join(dir, 'previewd.yaml');
    // Own instance (so its Redis keys are its own), no GC sweep during the test (the longest
    // interval config check allows with the default credentialTtl), and the address PR jobs
    // would reach Postgres at (the local server is a loopback one).
    writeFileSync(config, `instance: pkg-${uniqueSuffix().slice(-8)}\ngc:\n  interval: 18h\ndatabase:\n  host: pg.internal\n`);
    const child = spawn(bin, ['--config', config, 'serve', '--port', '0', '--grace', '2'], {
      env: cleanEnv({ ...secrets, DATABASE_URL: db.url, REDIS_URL: redis.url, LOG_LEVEL: 'info' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const url = await waitFor('previewd serving', async () => /"url":"(http:[^"]+)"[^\n]*previewd serving/.exec(output)?.[1] ?? null, 60_000);
      const health = await fetch(`${url}/healthz`);
      expect(health.status).toBe(200);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(output).toContain('state migrations done');
      for (const secret of Object.values(secrets)) expect(output).not.toContain(secret);
    } finally {
      child.kill('SIGKILL');
      await redis.cleanup();
      await db.drop();
    }
  }, 90_000);
});

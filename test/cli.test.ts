// The CLI as operators run it: a real process, real exit codes, real stderr. It runs
// the sources through tsx, so it tests the code as it is now; the compiled, installed
// bin is tested in test/package.test.ts.
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const MAIN = new URL('../src/cli/main.ts', import.meta.url).pathname;

function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', MAIN, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const goodEnv = {
  VAULT_TOKEN: 'hvs.a-vault-token-value',
  DATABASE_URL: 'postgres://previewd:db-password-value@pg.internal:5432/previewd',
  GITHUB_WEBHOOK_SECRET: 'a-webhook-secret-value',
  GITHUB_TOKEN: 'ghp_aGitHubTokenValue123',
  PREVIEWD_ADMIN_TOKEN: 'an-admin-token-value-long',
};

describe('previewd CLI', () => {
  it('when the config file has two mistakes then serve prints two lines naming them and exits 2', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'previewd-cli-'));
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'concurrency: 0\nrepos:\n  - name: acme/shop\n    drafts: sometimes\n');
    const result = await run(['--config', file, 'serve'], goodEnv);
    expect(result.code).toBe(2);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^.*bad\.yaml: concurrency: .*found 0$/);
    expect(lines[1]).toMatch(/^.*bad\.yaml: repos\.0\.drafts: .*found "sometimes"$/);
    for (const secret of Object.values(goodEnv)) expect(result.stderr + result.stdout).not.toContain(secret);
  });

  for (const [option, value, says] of [
    ['--grace', 'abc', 'expected seconds from 0 to 3600'],
    ['--grace', '-5', 'expected seconds from 0 to 3600'],
    ['--port', '99999', 'expected a port number from 0 to 65535'],
  ] as const) {
    it(`when serve is given ${option} ${value} then it refuses it in one line before starting anything`, async () => {
      // Number('abc') was NaN: a grace of no wait at all, from a typo.
      const result = await run(['serve', option, value], goodEnv);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(`option '${option} <${option === '--grace' ? 'seconds' : 'port'}>' argument '${value}' is invalid. ${says}`);
      expect(result.stderr).not.toContain('previewd serving');
    });
  }

  it('when a secret is missing then config check names it without any value and exits 2', async () => {
    const { VAULT_TOKEN: _omit, ...env } = goodEnv;
    const result = await run(['config', 'check'], env);
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe('environment: VAULT_TOKEN: required (expected string); found nothing');
  });

  it('when a stock image is configured as built from the PR then config check refuses it with one line and exits 2', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'previewd-cli-'));
    const file = join(dir, 'stock.yaml');
    writeFileSync(file, 'repos:\n  - name: acme/shop\n    images:\n      api: ghcr.io/acme/shop-api\n      cache: docker.io/library/redis\n');
    const result = await run(['--config', file, 'config', 'check'], goodEnv);
    expect(result.code).toBe(2);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/stock\.yaml: repos\.0\.images\.cache: docker\.io\/library\/redis is a stock image .*move it to fixedImages/);
  });

  it('when the example configuration is checked then it passes', async () => {
    const example = new URL('../config/previewd.example.yaml', import.meta.url).pathname;
    const result = await run(['--config', example, 'config', 'check'], goodEnv);
    expect([result.code, result.stderr]).toEqual([0, '']);
  });

  it('when the command is unknown then the exit code is 2, and --help exits 0', async () => {
    expect((await run(['launch-rockets'])).code).toBe(2);
    const help = await run(['gc', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--dry-run');
  });

  it('when nothing is reachable then doctor prints one FAIL line per system naming it with a fix, no secret, and exits 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'previewd-cli-'));
    const file = join(dir, 'doctor.yaml');
    writeFileSync(file, 'repos:\n  - name: acme/shop\ndatabase:\n  host: pg.internal\n');
    const closed = 'http://127.0.0.1:9';
    const env = { ...goodEnv, DATABASE_URL: 'postgres://previewd:db-password-value@127.0.0.1:9/previewd', NOMAD_ADDR: closed, CONSUL_HTTP_ADDR: closed, VAULT_ADDR: closed, GITHUB_API_URL: closed, NOMAD_TOKEN: 'nomad-token-value', CONSUL_HTTP_TOKEN: 'consul-token-value' };
    const result = await run(['--config', file, 'doctor'], env);
    expect(result.code).toBe(1);
    const lines = result.stdout.trim().split('\n');
    for (const check of ['nomad.leader', 'vault.health', 'consul.leader', 'postgres.connect', 'github.repo acme/shop']) {
      expect(lines.find((l) => l.startsWith(`FAIL ${check}: `)), check).toMatch(/ — fix: /);
    }
    for (const secret of Object.values(env)) if (!secret.startsWith('http')) expect(result.stderr + result.stdout).not.toContain(secret);
  });
});

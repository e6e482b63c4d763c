// `previewd sandbox` on a machine without the local services: no Postgres answering
// (and no DATABASE_URL) starts an embedded one and the replay completes; no Redis is
// one line saying how to get one.
import { execFile } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { freePort } from '../src/sandbox/free-port.js';

const MAIN = new URL('../src/cli/main.ts', import.meta.url).pathname;

function sandbox(env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  const { DATABASE_URL: _db, REDIS_URL: _redis, TEST_DATABASE_URL: _tdb, TEST_REDIS_URL: _tredis, ...inherited } = process.env;
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', MAIN, 'sandbox', '--timeout', '120'], { env: { ...inherited, ...env }, timeout: 240_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('previewd sandbox without local services', () => {
  it('when DATABASE_URL is unset and no Postgres answers then it starts an embedded one and the lifecycle completes', async () => {
    const port = await freePort();
    const result = await sandbox({ TEST_DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/postgres` });
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain(`no Postgres answers at 127.0.0.1:${port} and DATABASE_URL is unset: starting an embedded PostgreSQL`);
    expect(result.stdout).toMatch(/embedded PostgreSQL pg\d+ on 127\.0\.0\.1:\d+/);
    expect(result.stdout).toContain('Left behind: {"nomadJobs":0,"consulServices":0,"vaultSecrets":0,"databases":0,"roles":0}');
    expect(result.stdout).toContain('sandbox finished: opened → ready → pushed → ready → closed → removed');
    expect(result.code).toBe(0);
  }, 300_000);

  it('when no Redis answers then it exits 1 with one line saying how to start one', async () => {
    const port = await freePort();
    const result = await sandbox({ REDIS_URL: `redis://127.0.0.1:${port}` });
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^previewd: Redis at redis://127\\.0\\.0\\.1:${port} is not reachable .*redis-server .*or set REDIS_URL$`));
  }, 60_000);
});

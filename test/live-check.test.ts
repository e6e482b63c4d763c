// `npm run test:live` must refuse, not fall back to the emulators, when the real agents
// are not named: scripts/live-check.ts runs before vitest and exits non-zero.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { liveClusterFromEnv } from '../src/config/live-env.js';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('live mode preflight', () => {
  it('when no agent variable is set then the check exits 2 naming every missing variable and the README section', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/live-check.ts'], { cwd: root, env: { PATH: process.env.PATH ?? '' }, encoding: 'utf8', timeout: 60_000 });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('not set: NOMAD_ADDR, CONSUL_HTTP_ADDR, VAULT_ADDR, VAULT_TOKEN');
    expect(run.stderr).toContain('"Live mode"');
    expect(run.stdout).toBe('');
  });

  it('when only some are set then it names just the missing ones', () => {
    const result = liveClusterFromEnv({ NOMAD_ADDR: 'http://127.0.0.1:4646', VAULT_ADDR: 'http://127.0.0.1:8200' });
    expect(result).toMatchObject({ ok: false, missing: ['CONSUL_HTTP_ADDR', 'VAULT_TOKEN'] });
  });

  it('when all are set then it gives the agents, with Consul’s bare host:port made a URL', () => {
    const result = liveClusterFromEnv({ NOMAD_ADDR: 'http://127.0.0.1:4646', CONSUL_HTTP_ADDR: '127.0.0.1:8500', VAULT_ADDR: 'http://127.0.0.1:8200', VAULT_TOKEN: 'root' });
    expect(result).toMatchObject({ ok: true, cluster: { nomad: { address: 'http://127.0.0.1:4646', namespace: 'default' }, consul: { address: 'http://127.0.0.1:8500' }, vault: { address: 'http://127.0.0.1:8200' } } });
  });
});

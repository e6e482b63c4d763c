// `previewd doctor`'s registry checks against the OCI registry emulator (bearer-token
// challenge, Basic credentials at its token endpoint) and a real config.json on disk:
// good credentials pass, wrong or missing ones fail naming the registry, an unreadable
// file fails naming the file, and no secret is ever printed.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildConfig } from '../src/config/load.js';
import { checkRegistries } from '../src/doctor/registry.js';
import { startRegistryEmulator, type RegistryEmulator } from '../src/sandbox/emulators/registry.js';

const PASSWORD = 'ghp_registry-secret-0123456789';

describe('doctor: registry credentials', () => {
  let registry: RegistryEmulator;
  let dir: string;
  beforeAll(async () => {
    registry = await startRegistryEmulator({ host: 'ghcr.io', auth: 'bearer', users: { ci: PASSWORD } });
    dir = await mkdtemp(join(tmpdir(), 'doctor-docker-'));
  });
  afterAll(async () => {
    await registry?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const config = (dockerConfig: string | undefined, waitForImages = true) =>
    buildConfig(
      {
        registry: { endpoints: { 'ghcr.io': registry.url } },
        repos: [{ name: 'acme/shop', images: { api: 'ghcr.io/acme/shop-api' }, build: { waitForImages } }],
      },
      { VAULT_TOKEN: 'hvs.x', DATABASE_URL: 'postgres://previewd@db.internal/previewd', GITHUB_WEBHOOK_SECRET: 'whsec-0123456789abcdef', GITHUB_TOKEN: 'ghp_x', PREVIEWD_ADMIN_TOKEN: 'admin-0123456789abcdef', ...(dockerConfig ? { DOCKER_CONFIG: dockerConfig } : {}) },
      'test',
    );
  const writeAuth = async (user: string, password: string) =>
    writeFile(join(dir, 'config.json'), JSON.stringify({ auths: { 'ghcr.io': { auth: Buffer.from(`${user}:${password}`).toString('base64') } } }));

  it('when config.json holds credentials the registry accepts then both checks pass, and the token was asked for the repo pull scope', async () => {
    await writeAuth('ci', PASSWORD);
    const results = await checkRegistries(config(dir));
    expect(results.map((r) => [r.check, r.status])).toEqual([
      ['registry.config', 'ok'],
      ['registry.access ghcr.io', 'ok'],
    ]);
    expect(results[1]!.detail).toContain('bearer');
    expect(registry.issued.at(-1)).toMatchObject({ user: 'ci', scope: 'repository:acme/shop-api:pull' });
    expect(JSON.stringify(results)).not.toContain(PASSWORD);
  });

  it('when the credentials are wrong or absent then registry.access fails naming the registry, with the fix', async () => {
    await writeAuth('ci', 'wrong-password-0123456789');
    const wrong = await checkRegistries(config(dir));
    expect(wrong.find((r) => r.check === 'registry.access ghcr.io')).toMatchObject({ status: 'fail', detail: expect.stringContaining("token service refused previewd's credentials (HTTP 401)") });
    expect(wrong.find((r) => r.check === 'registry.access ghcr.io')!.fix).toContain('docker login ghcr.io');
    expect(JSON.stringify(wrong)).not.toContain('wrong-password-0123456789');
    const none = await checkRegistries(config(join(dir, 'nowhere')));
    expect(none.map((r) => [r.check, r.status])).toEqual([
      ['registry.config', 'warn'],
      ['registry.access ghcr.io', 'fail'],
    ]);
  });

  it('when config.json is not JSON then registry.config fails naming the file, and nothing is asked', async () => {
    await writeFile(join(dir, 'config.json'), `{"auths": {"ghcr.io": {"auth": "${PASSWORD}"`);
    const before = registry.requests.length;
    const results = await checkRegistries(config(dir));
    expect(results).toEqual([expect.objectContaining({ check: 'registry.config', status: 'fail', detail: `${join(dir, 'config.json')}: not valid JSON` })]);
    expect(JSON.stringify(results)).not.toContain(PASSWORD);
    expect(registry.requests.length).toBe(before);
  });

  it('when no repo waits for images then there is nothing to check', async () => {
    expect(await checkRegistries(config(dir, false))).toEqual([]);
  });
});

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UserError } from '../errors.js';
import { DEFAULT_TEMPLATES_DIR } from './render.js';
import { dependencyOrder, loadManifest, parseManifest } from './manifest.js';

const base = () => ({
  components: {
    cache: { template: 'cache.hbs', port: { label: 'redis', to: 6379 }, canonicalEnv: false },
    api: { template: 'api.hbs', dependsOn: ['cache'], routable: true, port: { label: 'http', to: 3000 }, healthPath: '/healthz' },
    frontend: { template: 'frontend.hbs', dependsOn: ['api'], routable: true, port: { label: 'http', to: 80 }, healthPath: '/' },
  },
});

describe('parseManifest', () => {
  it('when the shipped manifest is loaded then cache comes before api and worker, api before frontend', async () => {
    const manifest = await loadManifest(DEFAULT_TEMPLATES_DIR);
    const order = dependencyOrder(manifest.components)!;
    expect(order.indexOf('cache')).toBeLessThan(order.indexOf('api'));
    expect(order.indexOf('cache')).toBeLessThan(order.indexOf('worker'));
    expect(order.indexOf('api')).toBeLessThan(order.indexOf('frontend'));
    expect(Object.entries(manifest.components).filter(([, c]) => c.routable).map(([n]) => n).sort()).toEqual(['api', 'frontend']);
  });

  it.each([
    ['a dependency cycle', (m: any) => (m.components.cache.dependsOn = ['frontend']), /cycle/],
    ['an unknown dependency', (m: any) => (m.components.api.dependsOn = ['db']), /unknown component "db"/],
    ['a routable component without health path', (m: any) => delete m.components.api.healthPath, /health-check path/],
    ['a template path outside the directory', (m: any) => (m.components.api.template = '../../etc/passwd.hbs'), /inside the templates directory/],
    ['an override of a canonical variable', (m: any) => (m.components.api.env = { DATABASE_URL: 'x' }), /previewd sets this variable/],
    ['a lower-case variable name', (m: any) => (m.components.api.env = { 'bad name': 'x' }), /env\.bad name: Invalid key/],
    ['two components giving one variable different values', (m: any) => ((m.components.api.env = { MODE: 'a' }), (m.components.frontend.env = { MODE: 'b' })), /differs/],
    ['a non-routable public component', (m: any) => (m.components.frontend.routable = false), /publicComponent: expected a routable component/],
    ['an unknown field', (m: any) => (m.components.api.driver = 'raw_exec'), /unrecognized key/i],
  ])('when the manifest has %s then it is refused naming the field', (_name, mutate, pattern) => {
    const data = base();
    mutate(data);
    expect(() => parseManifest(data)).toThrow(pattern);
    expect(() => parseManifest(data)).toThrow(UserError);
  });

  it('when the file is not JSON then loadManifest says which file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'previewd-manifest-'));
    try {
      await writeFile(join(dir, 'manifest.json'), '{ nope');
      await expect(loadManifest(dir)).rejects.toThrow(`${join(dir, 'manifest.json')} is not valid JSON`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

// Issue 10 item 11: lookups by a configured or manifest name must find only what was
// configured. `images[component]` with a component named `constructor` found
// Object.prototype.constructor and rendered `function Object() { [native code] }` as
// the image. Names that the schemas allow (`constructor`) must behave as unknown;
// names they cannot allow (`__proto__`, `toString`) must be refused, not half-applied.
import { describe, expect, it } from 'vitest';
import { fileConfigSchema } from '../src/config/schema.js';
import { environmentNames } from '../src/environments/naming.js';
import { UserError } from '../src/errors.js';
import { buildRenderContext } from '../src/templates/context.js';
import { parseManifest } from '../src/templates/manifest.js';
import { parseRule } from '../src/templates/traefik.js';
import { buildConfig } from '../src/config/load.js';

const SHA = 'deadbeef00000000000000000000000000000001';
const key = { repo: 'acme/shop', pr: 42 };
const PROTO_NAMES = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf'];

const web = (extra: Record<string, unknown> = {}) => ({ template: 'web.nomad.hcl.hbs', routable: true, port: { label: 'http', to: 80 }, healthPath: '/', ...extra });
const manifestWith = (extra: Record<string, unknown>, top: Record<string, unknown> = {}) => ({
  components: { frontend: web({ image: 'nginx:1' }), api: web({ image: 'nginx:1' }), cache: { template: 'cache.nomad.hcl.hbs', canonicalEnv: false, image: 'redis:7' }, ...extra },
  ...top,
});
const config = fileConfigSchema.parse({ repos: [{ name: 'acme/shop', images: { frontend: 'ghcr.io/acme/web' } }] });

describe('names that are also Object.prototype members', () => {
  it('when a component is named constructor and no image is configured for it then it is refused, not given a function as image', () => {
    const manifest = parseManifest(manifestWith({ constructor: { template: 'worker.nomad.hcl.hbs' } }));
    const build = () => buildRenderContext(config, key, SHA, manifest);
    expect(build).toThrow(UserError);
    expect(build).toThrow(/no image for component constructor/);
  });

  it('when a component named constructor has an image in the manifest then that image is used', () => {
    const manifest = parseManifest(manifestWith({ constructor: { template: 'worker.nomad.hcl.hbs', image: 'busybox:1' } }));
    expect(buildRenderContext(config, key, SHA, manifest).components['constructor']?.image).toBe('busybox:1');
  });

  it('when the host of a component named constructor is asked then it has none (no pattern), rather than a crash', () => {
    const names = environmentNames(buildConfig({ repos: [{ name: 'acme/shop' }] }, {
      VAULT_TOKEN: 'hvs.x', DATABASE_URL: 'postgres://x@y/z', GITHUB_WEBHOOK_SECRET: 'webhook-secret-0123456789', GITHUB_TOKEN: 'ghp_x', PREVIEWD_ADMIN_TOKEN: 'admin-token-0123456789',
    }), key);
    expect(names.host('constructor')).toBeNull();
  });

  it('when a manifest depends on, or names as cache, a constructor component it does not have then it is refused', () => {
    expect(() => parseManifest(manifestWith({ worker: { template: 'w.nomad.hcl.hbs', dependsOn: ['constructor'] } }))).toThrow(/unknown component "constructor"/);
    expect(() => parseManifest(manifestWith({}, { cacheComponent: 'constructor' }))).toThrow(/cacheComponent/);
    expect(() => parseManifest(manifestWith({}, { publicComponent: 'constructor' }))).toThrow(/publicComponent/);
  });

  it.each(PROTO_NAMES.filter((n) => n !== 'constructor'))('when a component, image or host pattern is named %s then the schema refuses it', (name) => {
    const json = (inner: string) => JSON.parse(inner) as unknown;
    expect(() => parseManifest(json(`{"components": {"${name}": {"template": "x.hbs"}}}`))).toThrow(UserError);
    // Refused, or (zod drops a `__proto__` key) absent: never applied as a pattern or image.
    const hosts = fileConfigSchema.safeParse(json(`{"hostPatterns": {"${name}": "pr-{pr}.{domain}"}}`));
    expect(!hosts.success || !Object.hasOwn(hosts.data.hostPatterns ?? {}, name)).toBe(true);
    const images = fileConfigSchema.safeParse(json(`{"repos": [{"name": "acme/shop", "images": {"${name}": "ghcr.io/x"}}]}`));
    expect(!images.success || !Object.hasOwn(images.data.repos[0]!.images, name)).toBe(true);
  });

  it.each(PROTO_NAMES.filter((n) => /^[A-Za-z]+$/.test(n)))('when a Traefik rule uses the matcher %s then it is an unknown matcher', (name) => {
    expect(() => parseRule(`${name}(\`x.example.com\`)`)).toThrow(`unknown matcher ${name}`);
  });
});

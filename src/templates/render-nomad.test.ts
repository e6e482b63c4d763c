// Every rendered job is accepted by the Nomad emulator's parse and register, the way
// the reconciler sends it (parse with Canonicalize, then register the returned Job).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCluster, type Cluster } from '../sandbox/emulators/cluster.js';
import { startNomadEmulator, type NomadEmulator } from '../sandbox/emulators/nomad.js';
import { consulTemplateIdentity, vaultTemplateIdentity } from '../sandbox/emulators/nomad-identities.js';
import { fileConfigSchema } from '../config/schema.js';
import { buildRenderContext } from './context.js';
import { loadManifest } from './manifest.js';
import { DEFAULT_TEMPLATES_DIR, renderEnvironment } from './render.js';

const SHA = '0badc0de00000000000000000000000000000099';
const repo = `acme-${process.pid}/shop`;
const key = { repo, pr: 42 };
const config = fileConfigSchema.parse({
  baseDomain: 'preview.example.com',
  repos: [{ name: repo, images: { api: 'ghcr.io/acme/api', worker: 'ghcr.io/acme/worker', frontend: 'ghcr.io/acme/web' } }],
});

let cluster: Cluster;
let nomad: NomadEmulator;
beforeAll(async () => {
  cluster = createCluster({ startDelayMs: 10, healthyDelayMs: 20 });
  nomad = await startNomadEmulator({ cluster });
});
afterAll(async () => {
  cluster.close();
  await nomad.close();
});

async function post(path: string, body: unknown): Promise<{ status: number; text: string; json: any }> {
  const res = await fetch(`${nomad.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json };
}

describe('rendered jobs against the Nomad emulator', () => {
  it('when every rendered job is parsed and registered then Nomad accepts it with its ownership meta, tags and canonical template intact', async () => {
    const rendered = await renderEnvironment(config, key, SHA);
    const context = buildRenderContext(config, key, SHA, await loadManifest(DEFAULT_TEMPLATES_DIR));
    for (const c of rendered) {
      const parsed = await post('/v1/jobs/parse', { JobHCL: c.hcl, Canonicalize: true });
      expect(parsed.status, `${c.component}: ${parsed.text}`).toBe(200);
      const job = parsed.json;
      expect(job.ID).toBe(c.jobId);
      expect(job.Meta).toMatchObject(context.components[c.component]!.jobMeta);

      const registered = await post('/v1/jobs', { Job: job, EnforceIndex: true, JobModifyIndex: 0 });
      expect(registered.status, `${c.component}: ${registered.text}`).toBe(200);
      expect(registered.json.EvalID).toMatch(/[0-9a-f-]{36}/);

      const tasks = job.TaskGroups.flatMap((g: any) => g.Tasks);
      for (const task of tasks) {
        if (!context.components[c.component]!.canonicalEnv) continue;
        expect(task.Vault.Role).toBe(context.vault.role);
        const template = task.Templates.find((t: any) => t.DestPath === 'secrets/preview.env');
        expect(template).toMatchObject({ Envvars: true, LeftDelim: '[[', RightDelim: ']]', EmbeddedTmpl: context.vault.envTemplate });
      }
      // The servers here have no default identities (the strict case): every task that
      // reads its Vault secret and the cache's Consul service must declare its own.
      const stored = cluster.getJob('default', c.jobId)!;
      for (const group of stored.TaskGroups as any[]) {
        for (const task of group.Tasks) {
          if (!context.components[c.component]!.canonicalEnv) continue;
          expect(vaultTemplateIdentity(task), `${c.component}.${task.Name} vault identity`).toMatchObject({ Name: 'vault_default', Audience: [config.vault.audience] });
          expect(consulTemplateIdentity(group, task), `${c.component}.${task.Name} consul identity`).toMatchObject({ Name: 'consul_default', Audience: [config.consul.audience] });
          expect(group.Consul ?? task.Consul, `${c.component} consul block`).toBeTruthy();
        }
      }
      if (c.routable) {
        const service = job.TaskGroups.flatMap((g: any) => g.Services ?? []).find((s: any) => s.Name === c.serviceName);
        expect(service.Tags).toEqual(context.components[c.component]!.tags);
        expect(service.Meta).toEqual(context.components[c.component]!.serviceMeta);
      }
    }
  });
});

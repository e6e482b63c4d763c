// A world on real Nomad, Consul and Vault agents (live mode, README "Live mode"): the
// same Postgres, Redis, GitHub emulator and Deps as the emulator world (world.ts), with
// previewd's clients and the test's observation pointed at the agents. Everything the
// run creates carries the world's unique instance and repo names; cleanup checks that
// none of it is left on the agents, removes what is (the run's own only), and then fails.
import type { LiveCluster } from '../config/live-env.js';
import { httpObservation } from './observation.js';
import { assembleWorld, type BaseWorld, type WorldOptions } from './world.js';
import { uniqueSuffix } from './services.js';

export interface LiveWorldOptions extends Omit<WorldOptions, 'cluster' | 'consulRules'> {
  live: LiveCluster;
  /** Where the (live) templates put a readable copy of each task's env (observation.ts envFile). */
  envFile: string;
}

export async function startLiveWorld(options: LiveWorldOptions): Promise<BaseWorld> {
  const { live } = options;
  const suffix = uniqueSuffix();
  const base = await assembleWorld(options, suffix, {
    nomad: { url: live.nomad.address, token: live.nomad.token, namespace: live.nomad.namespace },
    // A dev box has one Consul agent, which is also the one Nomad's client registers through.
    consul: { url: live.consul.address, token: live.consul.token, agentAddress: live.consul.address },
    vault: { url: live.vault.address, token: live.vault.token },
    // A real deploy pulls images and waits out min_healthy_time; the emulators take ms.
    config: { deployTimeout: '5m' },
    prepare: async (config) =>
      httpObservation({
        nomad: { address: live.nomad.address, token: live.nomad.token, namespace: config.env.NOMAD_NAMESPACE },
        consul: { address: live.consul.address, token: live.consul.token },
        vault: { address: live.vault.address, token: live.vault.token, kvMount: config.vault.kvMount, jwtMount: config.vault.jwtMount },
        envFile: options.envFile,
      }),
  });
  return {
    ...base,
    cleanup: async () => {
      let leftovers: string[] = [];
      try {
        leftovers = await removeLeftovers(base, live);
      } finally {
        await base.cleanup();
      }
      if (leftovers.length > 0) throw new Error(`live world: the run left behind (now removed): ${leftovers.join(', ')}`);
    },
  };
}

/** What of this world's names is still on the agents; jobs among it are purged. */
async function removeLeftovers(world: BaseWorld, live: LiveCluster): Promise<string[]> {
  const { config } = world;
  const idPrefixes = world.repos.map((repo) => world.names(1, repo).id.replace(/pr-1$/, ''));
  const ours = (name: string) => idPrefixes.some((p) => name.startsWith(p));
  const found: string[] = [];
  const get = async (url: string, headers: Record<string, string>): Promise<unknown> => {
    const res = await fetch(url, { headers });
    if (res.status === 404) return null;
    if (!res.ok) throw new Error(`live world: GET ${url} answered ${res.status}`);
    return res.json();
  };
  const nomadHeaders: Record<string, string> = live.nomad.token ? { 'X-Nomad-Token': live.nomad.token } : {};
  const ns = `namespace=${encodeURIComponent(config.env.NOMAD_NAMESPACE)}`;
  for (const job of ((await get(`${live.nomad.address}/v1/jobs?${ns}`, nomadHeaders)) as { ID: string }[] | null) ?? []) {
    if (!ours(job.ID)) continue;
    found.push(`Nomad job ${job.ID}`);
    await fetch(`${live.nomad.address}/v1/job/${encodeURIComponent(job.ID)}?purge=true&${ns}`, { method: 'DELETE', headers: nomadHeaders });
  }
  const consulHeaders: Record<string, string> = live.consul.token ? { 'X-Consul-Token': live.consul.token } : {};
  const services = ((await get(`${live.consul.address}/v1/catalog/services`, consulHeaders)) as Record<string, string[]> | null) ?? {};
  for (const name of Object.keys(services)) if (ours(name)) found.push(`Consul service ${name}`);
  const vaultHeaders = { 'X-Vault-Token': live.vault.token };
  // Vault lists with LIST or its equivalent GET ?list=true (http/logical.go); a list of nothing is a 404.
  const keys = (body: unknown) => (((body as { data?: { keys?: string[] } } | null)?.data?.keys) ?? []);
  const policies = ((await get(`${live.vault.address}/v1/sys/policy`, vaultHeaders)) as { policies?: string[] } | null)?.policies ?? [];
  for (const p of policies) if (p.startsWith(`${config.instance}-`)) found.push(`Vault policy ${p}`);
  for (const r of keys(await get(`${live.vault.address}/v1/auth/${config.vault.jwtMount}/role?list=true`, vaultHeaders))) {
    if (r.startsWith(`${config.instance}-`)) found.push(`Vault JWT role ${r}`);
  }
  for (const k of keys(await get(`${live.vault.address}/v1/${config.vault.kvMount}/metadata/${config.vault.pathPrefix}?list=true`, vaultHeaders))) {
    if (ours(k)) found.push(`Vault secret ${config.vault.pathPrefix}/${k}`);
  }
  return found;
}

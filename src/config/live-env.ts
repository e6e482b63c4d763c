// Live mode (`npm run test:live`, README "Live mode"): the lifecycle test against real
// Nomad, Consul and Vault dev agents. Their addresses and tokens are read here, once,
// with the names their own CLIs use; everything below takes them as a value.
type Env = Readonly<Record<string, string | undefined>>;

export interface LiveCluster {
  nomad: { address: string; token?: string; namespace: string };
  consul: { address: string; token?: string };
  vault: { address: string; token: string };
}

/** Variables live mode cannot run without (the tokens of a dev Nomad/Consul are optional: ACLs are off there). */
export const LIVE_REQUIRED = ['NOMAD_ADDR', 'CONSUL_HTTP_ADDR', 'VAULT_ADDR', 'VAULT_TOKEN'] as const;

const LIVE_README_SECTION = 'README.md, "Development" → "Live mode"';

export type LiveEnvResult = { ok: true; cluster: LiveCluster } | { ok: false; missing: string[]; message: string };

export function liveClusterFromEnv(env: Env = process.env): LiveEnvResult {
  const missing = LIVE_REQUIRED.filter((name) => !env[name]);
  if (missing.length > 0) {
    return {
      ok: false,
      missing,
      message:
        `test:live needs real Nomad, Consul and Vault agents; not set: ${missing.join(', ')}.\n` +
        `Start the dev agents and do the one-time setup as ${LIVE_README_SECTION} describes, then export the variables and run npm run test:live again.`,
    };
  }
  return {
    ok: true,
    cluster: {
      nomad: { address: env.NOMAD_ADDR!, token: env.NOMAD_TOKEN || undefined, namespace: env.NOMAD_NAMESPACE || 'default' },
      consul: { address: env.CONSUL_HTTP_ADDR!.includes('://') ? env.CONSUL_HTTP_ADDR! : `http://${env.CONSUL_HTTP_ADDR!}`, token: env.CONSUL_HTTP_TOKEN || undefined },
      vault: { address: env.VAULT_ADDR!, token: env.VAULT_TOKEN! },
    },
  };
}

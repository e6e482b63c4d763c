// Run before vitest by `npm run test:live`: refuses, naming what is missing, when the
// real agents' addresses are not set, so live mode never falls back to the emulators.
import { liveClusterFromEnv } from '../src/config/live-env.js';

const result = liveClusterFromEnv(process.env);
if (!result.ok) {
  process.stderr.write(`${result.message}\n`);
  process.exit(2);
}
process.stdout.write(`live mode: Nomad ${result.cluster.nomad.address}, Consul ${result.cluster.consul.address}, Vault ${result.cluster.vault.address}\n`);

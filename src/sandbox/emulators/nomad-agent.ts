// GET /v1/agent/self for the Nomad emulator: the parts a client reads to learn the
// agent's version (command/agent/agent_endpoint.go AgentSelfRequest: `config` is the
// agent's configuration with `Version`, `member` its serf member with the build tag).

/** The Nomad release the emulators follow (the behaviours cited across them are 1.10's). */
const EMULATED_NOMAD_VERSION = '1.10.3';

export function agentSelf(): Record<string, unknown> {
  return {
    config: { Version: { Revision: '', Version: EMULATED_NOMAD_VERSION, VersionMetadata: '', VersionPrerelease: '' }, Region: 'global', Datacenter: 'dc1' },
    member: { Name: 'server-1.global', Addr: '127.0.0.1', Port: 4648, Status: 'alive', Tags: { build: EMULATED_NOMAD_VERSION, region: 'global', dc: 'dc1', role: 'nomad' } },
    stats: {},
  };
}

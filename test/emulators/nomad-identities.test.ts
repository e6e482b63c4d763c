// Which workload identities Nomad gives a task (nomad/job_endpoint_hook_implicit_identities.go)
// and which one the client uses for a template's Consul and Vault reads.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCluster, type Cluster, type Json } from '../../src/sandbox/emulators/cluster.js';
import { applyImplicitIdentities, consulTemplateIdentity, taskIdentities, vaultTemplateIdentity } from '../../src/sandbox/emulators/nomad-identities.js';
import { startNomadEmulator, type NomadEmulator } from '../../src/sandbox/emulators/nomad.js';

const SERVER_DEFAULTS = { vault: { Audience: ['vault.io'], TTL: 3600e9 }, consulTask: { Audience: ['consul.io'], TTL: 3600e9 } };

function job(opts: { groupConsul?: boolean; taskConsul?: boolean; vault?: boolean; identities?: Json[] } = {}): Json {
  return {
    ID: 'j',
    TaskGroups: [
      {
        Name: 'g',
        Consul: opts.groupConsul ? { Namespace: '', Cluster: '', Partition: '' } : null,
        Tasks: [
          {
            Name: 't',
            Driver: 'docker',
            Consul: opts.taskConsul ? { Namespace: '', Cluster: '', Partition: '' } : null,
            Vault: opts.vault ? { Role: 'r', Cluster: 'default' } : null,
            Identities: opts.identities ?? null,
          },
        ],
      },
    ],
  };
}
const groupOf = (j: Json) => (j.TaskGroups as Json[])[0]!;
const taskOf = (j: Json) => (groupOf(j).Tasks as Json[])[0]!;
const names = (j: Json) => taskIdentities(taskOf(j)).map((w) => w.Name);

describe('implicit workload identities', () => {
  it('when a task has a vault block but the servers have no default identity and the job declares none then it gets no Vault identity', () => {
    const j = applyImplicitIdentities(job({ vault: true }), {});
    expect(names(j)).toEqual([]);
    expect(vaultTemplateIdentity(taskOf(j))).toBeUndefined();
  });

  it('when the servers have a default Vault identity then a task with a vault block gets vault_default', () => {
    const j = applyImplicitIdentities(job({ vault: true }), SERVER_DEFAULTS);
    expect(names(j)).toEqual(['vault_default']);
    expect(vaultTemplateIdentity(taskOf(j))).toMatchObject({ Name: 'vault_default', Audience: ['vault.io'] });
  });

  it('when neither the task nor its group has a consul block then no Consul identity is added, even with a server default', () => {
    const j = applyImplicitIdentities(job(), SERVER_DEFAULTS);
    expect(names(j)).toEqual([]);
    expect(consulTemplateIdentity(groupOf(j), taskOf(j))).toBeUndefined();
  });

  it('when the group has a consul block then each task gets consul_default from the server default', () => {
    const j = applyImplicitIdentities(job({ groupConsul: true }), SERVER_DEFAULTS);
    expect(names(j)).toEqual(['consul_default']);
    expect(groupOf(j).Constraints).toEqual([{ LTarget: '${attr.nomad.version}', RTarget: '>= 1.7.0-a', Operand: 'semver' }]);
  });

  it('when the job declares the identities itself then they are kept as written and used, with no server default needed', () => {
    const explicit = [
      { Name: 'vault_default', Audience: ['vault.example'], TTL: 60e9 },
      { Name: 'consul_default', Audience: ['consul.io'], TTL: 60e9 },
    ];
    const j = applyImplicitIdentities(job({ vault: true, taskConsul: true, identities: explicit }), SERVER_DEFAULTS);
    expect(names(j)).toEqual(['vault_default', 'consul_default']);
    expect(vaultTemplateIdentity(taskOf(j))?.Audience).toEqual(['vault.example']);
    expect(consulTemplateIdentity(groupOf(j), taskOf(j))?.Audience).toEqual(['consul.io']);
  });

  it('when a job is registered again as read back then the version constraint is not added twice (no new version)', () => {
    const once = applyImplicitIdentities(job({ groupConsul: true }), SERVER_DEFAULTS);
    const twice = applyImplicitIdentities(structuredClone(once), SERVER_DEFAULTS);
    expect(twice).toEqual(once);
  });
});

describe('nomad emulator: register applies the implicit identities hook', () => {
  let cluster: Cluster;
  let nomad: NomadEmulator;
  beforeAll(async () => {
    cluster = createCluster({ startDelayMs: 5, healthyDelayMs: 5, identityDefaults: { consulTask: SERVER_DEFAULTS.consulTask } });
    nomad = await startNomadEmulator({ cluster });
  });
  afterAll(async () => {
    cluster.close();
    await nomad.close();
  });

  it('when a job with a group consul block is registered then the stored task carries consul_default', async () => {
    const id = `ids-${process.pid}`;
    const res = await fetch(`${nomad.url}/v1/jobs`, { method: 'POST', body: JSON.stringify({ Job: { ...job({ groupConsul: true }), ID: id } }) });
    expect(res.status, await res.text()).toBe(200);
    const stored = cluster.getJob('default', id)!;
    expect(names(stored)).toEqual(['consul_default']);
  });
});

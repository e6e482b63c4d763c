// The Consul ACL policy previewd's token needs (requiredConsulPolicy, shown in the
// README), checked against the emulator's ACLs (default deny, hashicorp/consul rules):
// it is enough for a whole lifecycle, leftovers included, and each of its rules is needed.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reconcileEnvironment } from '../src/environments/reconcile.js';
import { requiredConsulPolicy } from '../src/consul/policy.js';
import { randomSha, type World } from '../src/sandbox/world.js';
import { startWorld } from './support/pg.js';

function documentedPolicy(): string {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const block = /<!-- consul-policy:start -->\n```hcl\n([\s\S]*?)```\n<!-- consul-policy:end -->/.exec(readme);
  if (!block) throw new Error('README lacks the consul-policy block');
  return block[1]!;
}

describe('the documented Consul policy', { timeout: 120_000 }, () => {
  let world: World;
  let policy: string;
  beforeAll(async () => {
    world = await startWorld({ consulRules: 'node_prefix "" { policy = "deny" }', config: { deployTimeout: '8s' } });
    policy = requiredConsulPolicy(world.repos);
  });
  afterAll(async () => {
    await world?.cleanup();
  });
  const usePolicy = (rules: string) => world.cluster.consulAcl.createPolicy('previewd', rules);

  /** Open, deploy, leave a registration of a gone allocation, close, tear down. */
  async function lifecycle(pr: number) {
    await world.open(pr, randomSha());
    const deployed = await reconcileEnvironment(world.deps, world.key(pr)).then(
      (r) => r.status,
      () => 'failed',
    );
    const deployError = (await world.deps.store.get(world.key(pr)))?.lastError ?? '';
    const n = world.names(pr);
    const leftover = `_nomad-task-${randomUUID()}-api-${n.serviceName('api')}-http`;
    world.cluster.agent('client-1').register({
      ID: leftover,
      Name: n.serviceName('api'),
      Tags: [],
      Meta: { 'external-source': 'nomad', previewd_managed_by: world.config.instance, previewd_env: n.id },
      Port: 1,
      Address: '10.0.0.9',
      Checks: [],
    });
    await world.close(pr);
    const removed = await reconcileEnvironment(world.deps, world.key(pr)).then(
      (r) => r.status,
      () => 'failed',
    );
    const record = await world.deps.store.get(world.key(pr));
    const left = world.cluster.agent('client-1').service(leftover) !== undefined;
    world.cluster.agent('client-1').deregister(leftover);
    return { deployed, deployError, removed, left, lastError: record?.lastError ?? '' };
  }

  it('when the README shows the policy then it is exactly the one previewd requires (for its example repo acme/shop)', () => {
    expect(documentedPolicy()).toBe(requiredConsulPolicy(['acme/shop']));
  });

  it('when previewd holds exactly the documented policy then a PR deploys, its leftovers go and the teardown completes', async () => {
    await usePolicy(policy);
    expect(await lifecycle(501)).toEqual({ deployed: 'ready', deployError: '', removed: 'removed', left: false, lastError: '' });
  });

  it('when node read is missing then instances are hidden and the routing check fails', async () => {
    await usePolicy(policy.replace(/node_prefix "" \{[^}]*\}/, ''));
    const result = await lifecycle(502);
    expect(result.deployed).toBe('failed');
    expect(result.deployError).toContain('no passing instance of');
    await usePolicy(policy);
  });

  it('when the services are only readable then the deploy works but a leftover cannot be removed, and says why', async () => {
    await usePolicy(policy.replace(/(service_prefix "[^"]*" \{\s*policy = )"write"/, '$1"read"'));
    const result = await lifecycle(503);
    expect(result.deployed).toBe('ready');
    expect(result.removed).not.toBe('removed');
    expect(result.left).toBe(true);
    expect(result.lastError).toContain("lacks permission 'service:write'");
    await usePolicy(policy);
  });

  it('when the service rule is missing then nothing of the PR can be seen and the routing check fails', async () => {
    await usePolicy(policy.replace(/service_prefix "[^"]*" \{[^}]*\}/, ''));
    const result = await lifecycle(504);
    expect(result.deployed).toBe('failed');
    expect(result.deployError).toContain('no passing instance of');
    await usePolicy(policy);
  });
});

import { describe, expect, it } from 'vitest';
import { consulError } from './consul/client.js';
import { ConflictError, OwnershipError, publicReason, redactInfrastructure, TransientError, UserError } from './errors.js';
import { nomadError } from './nomad/client.js';

const INTERNAL = /10\.20\.30\.40|prod\.internal|nomad-3|fd00:|4647/;

describe('publicReason: what a PR comment may say about a failure', () => {
  it.each([
    [nomadError('register job', 503, 'dial tcp 10.20.30.40:4647: connect: connection refused'), 'Nomad unavailable (HTTP 503)'],
    [nomadError('register job', 500, '1 error occurred: rpc error: failed to get conn: dial tcp nomad-3.prod.internal:4647'), 'Nomad rejected the request (HTTP 500)'],
    [nomadError('register job', 403, 'Permission denied on nomad-3.prod.internal'), "Nomad refused previewd's credentials (HTTP 403)"],
    [nomadError('register job', 500, 'Enforcing job modify index 12: job exists with conflicting job modify index: 13 (10.20.30.40)'), 'Nomad changed meanwhile (HTTP 500)'],
    [consulError('register service', 500, 'rpc error making call: dial tcp [fd00::3]:8300: i/o timeout'), 'Consul unavailable (HTTP 500)'],
    [new TransientError('postgres unavailable while trying to create database (57P03)', { system: 'postgres', code: '57P03' }), 'Postgres unavailable (57P03)'],
    [new TransientError('vault read secret: request failed (ECONNREFUSED 10.20.30.40:8200)', { system: 'vault', code: 'ECONNREFUSED' }), 'Vault unavailable (ECONNREFUSED)'],
    [new TransientError('github: 10.20.30.40 down', { system: 'github', code: 'weird code with 10.20.30.40' }), 'GitHub unavailable'],
    [new ConflictError('github 409 on nomad-3.prod.internal', { system: 'github', status: 409 }), 'GitHub changed meanwhile (HTTP 409)'],
    [new OwnershipError('nomad job api-7 lacks our marker (owner 10.20.30.40)', { system: 'nomad' }), 'Nomad: previewd refused to change an object it did not create'],
    [new Error('TypeError at 10.20.30.40'), 'internal error in previewd'],
  ])('when %s then the public reason is %j', (err, expected) => {
    const reason = publicReason(err, (err as Error).message);
    expect(reason).toBe(expected);
    expect(reason).not.toMatch(INTERNAL);
  });

  it('when the PR’s own workload fails then its task events are kept, without addresses or host names', () => {
    const err = new UserError(
      'deployment of pr-7-api failed: Failed due to unhealthy allocations; api: Driver Failure: failed to pull registry.prod.internal:5000/api:abc: dial tcp 10.20.30.40:443: i/o timeout',
      { system: 'nomad' },
    );
    const reason = publicReason(err, err.message);
    expect(reason).toContain('Driver Failure: failed to pull');
    expect(reason).toContain('unhealthy allocations');
    expect(reason).not.toMatch(INTERNAL);
  });

  it('when a template is wrong then the PR’s author gets the whole message', () => {
    const err = new UserError('template api.nomad.hcl: task "api.web" uses driver "raw_exec", which is not in nomad.allowedDrivers (docker)', { system: 'templates' });
    expect(publicReason(err, err.message)).toBe(err.message);
  });

  it('when infrastructure text is redacted then IPv4, IPv6, private and long host names go, ordinary words stay', () => {
    expect(redactInfrastructure('dial tcp 10.0.0.5:4646 and [fd00::1]:8300 via consul-1.node.dc1.consul, db.internal, a.b.example.com; image not found')).toBe(
      'dial tcp [host] and [host] via [host], [host], [host]; image not found',
    );
  });
});

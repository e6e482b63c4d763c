import { describe, expect, it } from 'vitest';
import { consulServiceEnv, isEnvironmentId, nomadJobEnv, policyMarkerLine, vaultJwtRoleEnv, vaultPolicyEnv, vaultSecretEnv } from './markers.js';

describe('ownership markers', () => {
  it.each([
    ['this instance and a valid env', { 'previewd.managed-by': 'previewd', 'previewd.env': 'acme-shop-pr-42' }, 'acme-shop-pr-42'],
    ['another instance', { 'previewd.managed-by': 'previewd-staging', 'previewd.env': 'acme-shop-pr-42' }, null],
    ['no marker at all', { owner: 'someone' }, null],
    ['the marker but a hostile env value', { 'previewd.managed-by': 'previewd', 'previewd.env': '../../etc' }, null],
    ['null meta', null, null],
  ])('when a Nomad job has %s then its env is %s', (_what, meta, expected) => {
    expect(nomadJobEnv(meta as Record<string, string> | null, 'previewd')).toBe(expected);
  });

  it('when Consul meta or Vault metadata use the dotted Nomad keys then they are not ours', () => {
    const dotted = { 'previewd.managed-by': 'previewd', 'previewd.env': 'acme-pr-1' };
    expect(consulServiceEnv(dotted, 'previewd')).toBeNull();
    expect(vaultSecretEnv(dotted, 'previewd')).toBeNull();
    expect(consulServiceEnv({ previewd_managed_by: 'previewd', previewd_env: 'acme-pr-1' }, 'previewd')).toBe('acme-pr-1');
    expect(vaultSecretEnv({ previewd_managed_by: 'previewd', previewd_env: 'acme-pr-1' }, 'previewd')).toBe('acme-pr-1');
  });

  it('when a policy starts with the marker line then its env is read, and only for the named instance', () => {
    const hcl = `${policyMarkerLine('previewd', 'acme-pr-7')}\npath "secret/data/previews/acme-pr-7" { capabilities = ["read"] }\n`;
    expect(vaultPolicyEnv(hcl, 'previewd')).toBe('acme-pr-7');
    expect(vaultPolicyEnv(hcl, 'other')).toBeNull();
    expect(vaultPolicyEnv(`path "x" {}\n${policyMarkerLine('previewd', 'acme-pr-7')}`, 'previewd')).toBeNull();
  });

  it('when a JWT role has the right shape then it is ours; a prefix-sharing instance or foreign binding is not', () => {
    const role = { token_policies: ['previewd-acme-pr-3'], bound_claims: { nomad_job_id: ['acme-pr-3-api', 'acme-pr-3-worker'] } };
    expect(vaultJwtRoleEnv('previewd-acme-pr-3', role, 'previewd')).toBe('acme-pr-3');
    const staging = { token_policies: ['previewd-staging-acme-pr-3'], bound_claims: { nomad_job_id: ['acme-pr-3-api'] } };
    expect(vaultJwtRoleEnv('previewd-staging-acme-pr-3', staging, 'previewd')).toBeNull();
    expect(vaultJwtRoleEnv('previewd-acme-pr-3', { ...role, token_policies: ['admin'] }, 'previewd')).toBeNull();
    expect(vaultJwtRoleEnv('previewd-acme-pr-3', { ...role, bound_claims: { nomad_job_id: ['payments-api'] } }, 'previewd')).toBeNull();
  });

  it('when a text is not shaped like an environment ID then it is rejected', () => {
    expect(isEnvironmentId('acme-shop-pr-42')).toBe(true);
    expect(isEnvironmentId('acme-shop')).toBe(false);
    expect(isEnvironmentId(`${'a'.repeat(40)}-pr-1`)).toBe(false);
    expect(isEnvironmentId('Acme-pr-1')).toBe(false);
  });
});

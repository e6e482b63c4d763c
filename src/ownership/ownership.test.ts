import { describe, expect, it } from 'vitest';
import { consulServiceMeta, nomadJobMeta, postgresComment, postgresSpareComment, vaultPolicyMarker, vaultSecretMetadata, withGeneration, jobGeneration, jobSha } from './markers.js';
import {
  boundJobIds,
  isEnvironmentId,
  ownedBy,
  ownedEnvId,
  ownerOfConsulService,
  ownerOfNomadJob,
  ownerOfPostgresObject,
  ownerOfPostgresSpare,
  ownerOfVaultJwtRole,
  ownerOfVaultPolicy,
  ownerOfVaultSecret,
  type Owner,
} from './owners.js';

const I = 'previewd';
const ENV = 'acme-shop-pr-42';
const JOB = { 'previewd.managed-by': I, 'previewd.env': ENV };
const META = { previewd_managed_by: I, previewd_env: ENV };
const POLICY_BODY = `path "secret/data/previews/${ENV}" {\n  capabilities = ["read"]\n}\n`;
const ROLE_NAME = `${I}-${ENV}`;
const role = (policies: unknown, jobIds: unknown) => ({ token_policies: policies, bound_claims: { nomad_namespace: 'default', nomad_job_id: jobIds } });
const pg = (value: unknown) => `previewd:${JSON.stringify(value)}`;

type System = 'nomad job' | 'consul service' | 'vault secret' | 'vault policy' | 'vault jwt role' | 'postgres';
/** [system, resource, owner read back, whether this instance's GC may act on it (its env ID)] */
type Row = [System, string, () => Owner | null, Owner | null, string | null];

const ours: Owner = { instance: I, envId: ENV };
const staging: Owner = { instance: 'previewd-staging', envId: ENV };

const rows: Row[] = [
  // ---- Nomad job Meta (dotted keys)
  ['nomad job', 'ours', () => ownerOfNomadJob(JOB), ours, ENV],
  ['nomad job', 'as the templates write it', () => ownerOfNomadJob(nomadJobMeta({ instance: I, envId: ENV, repo: 'acme/shop', pr: 42, component: 'api', sha: null })), ours, ENV],
  ['nomad job', 'another instance', () => ownerOfNomadJob({ ...JOB, 'previewd.managed-by': 'previewd-staging' }), staging, null],
  ['nomad job', 'unmarked', () => ownerOfNomadJob({ owner: 'someone' }), null, null],
  ['nomad job', 'null meta', () => ownerOfNomadJob(null), null, null],
  ['nomad job', 'instance without env', () => ownerOfNomadJob({ 'previewd.managed-by': I }), null, null],
  ['nomad job', 'env without instance', () => ownerOfNomadJob({ 'previewd.env': ENV }), null, null],
  ['nomad job', 'empty env', () => ownerOfNomadJob({ ...JOB, 'previewd.env': '' }), null, null],
  ['nomad job', "Consul's undotted keys", () => ownerOfNomadJob(META), null, null],
  ['nomad job', 'key in another case', () => ownerOfNomadJob({ 'Previewd.Managed-By': I, 'previewd.env': ENV }), null, null],
  ['nomad job', 'instance in another case', () => ownerOfNomadJob({ ...JOB, 'previewd.managed-by': 'Previewd' }), { instance: 'Previewd', envId: ENV }, null],
  ['nomad job', 'instance with blanks', () => ownerOfNomadJob({ ...JOB, 'previewd.managed-by': ' previewd ' }), { instance: ' previewd ', envId: ENV }, null],
  ['nomad job', 'a hostile env value', () => ownerOfNomadJob({ ...JOB, 'previewd.env': '../../etc' }), { instance: I, envId: '../../etc' }, null],
  ['nomad job', 'an env not shaped like an ID', () => ownerOfNomadJob({ ...JOB, 'previewd.env': 'Acme-Shop-pr-42' }), { instance: I, envId: 'Acme-Shop-pr-42' }, null],

  // ---- Consul service Meta (no dots)
  ['consul service', 'ours', () => ownerOfConsulService({ 'external-source': 'nomad', ...META }), ours, ENV],
  ['consul service', 'as the templates write it', () => ownerOfConsulService(consulServiceMeta(I, ENV, 'api')), ours, ENV],
  ['consul service', 'another instance', () => ownerOfConsulService({ ...META, previewd_managed_by: 'previewd-staging' }), staging, null],
  ['consul service', 'unmarked', () => ownerOfConsulService({ 'external-source': 'nomad' }), null, null],
  ['consul service', 'instance without env', () => ownerOfConsulService({ previewd_managed_by: I }), null, null],
  ['consul service', 'env without instance', () => ownerOfConsulService({ previewd_env: ENV }), null, null],
  ['consul service', "Nomad's dotted keys", () => ownerOfConsulService(JOB), null, null],
  ['consul service', 'a look-alike key (previewd_managed)', () => ownerOfConsulService({ previewd_managed: 'true', previewd_env: ENV }), null, null],
  ['consul service', 'instance in another case', () => ownerOfConsulService({ ...META, previewd_managed_by: 'PREVIEWD' }), { instance: 'PREVIEWD', envId: ENV }, null],
  ['consul service', 'an env not shaped like an ID', () => ownerOfConsulService({ ...META, previewd_env: 'acme-shop' }), { instance: I, envId: 'acme-shop' }, null],

  // ---- Vault KV custom_metadata
  ['vault secret', 'ours', () => ownerOfVaultSecret(META), ours, ENV],
  ['vault secret', 'as apply writes it', () => ownerOfVaultSecret(vaultSecretMetadata(I, ENV)), ours, ENV],
  ['vault secret', 'another instance', () => ownerOfVaultSecret({ ...META, previewd_managed_by: 'previewd-staging' }), staging, null],
  ['vault secret', 'unmarked', () => ownerOfVaultSecret({ previewd_managed: 'true', pr: 'acme/shop#1' }), null, null],
  ['vault secret', 'no metadata', () => ownerOfVaultSecret(undefined), null, null],
  ['vault secret', 'instance without env', () => ownerOfVaultSecret({ previewd_managed_by: I }), null, null],
  ['vault secret', 'env without instance', () => ownerOfVaultSecret({ previewd_env: ENV }), null, null],
  ['vault secret', "Nomad's dotted keys", () => ownerOfVaultSecret(JOB), null, null],
  ['vault secret', 'instance with a trailing blank', () => ownerOfVaultSecret({ ...META, previewd_managed_by: 'previewd ' }), { instance: 'previewd ', envId: ENV }, null],
  ['vault secret', 'an env longer than an ID can be', () => ownerOfVaultSecret({ ...META, previewd_env: `${'a'.repeat(40)}-pr-1` }), { instance: I, envId: `${'a'.repeat(40)}-pr-1` }, null],

  // ---- Vault policy: first-line marker
  ['vault policy', 'ours', () => ownerOfVaultPolicy(`${vaultPolicyMarker(I, ENV)}\n${POLICY_BODY}`), ours, ENV],
  ['vault policy', 'another instance', () => ownerOfVaultPolicy(`${vaultPolicyMarker('previewd-staging', ENV)}\n${POLICY_BODY}`), staging, null],
  ['vault policy', 'unmarked', () => ownerOfVaultPolicy(POLICY_BODY), null, null],
  ['vault policy', 'no policy', () => ownerOfVaultPolicy(null), null, null],
  ['vault policy', 'the marker below the first line', () => ownerOfVaultPolicy(`path "x" {}\n${vaultPolicyMarker(I, ENV)}`), null, null],
  ['vault policy', 'instance without env', () => ownerOfVaultPolicy(`# previewd managed-by=${I}\n${POLICY_BODY}`), null, null],
  ['vault policy', 'env without instance', () => ownerOfVaultPolicy(`# previewd env=${ENV}\n${POLICY_BODY}`), null, null],
  ['vault policy', 'a look-alike comment', () => ownerOfVaultPolicy(`# Previewd managed-by=${I} env=${ENV}\n${POLICY_BODY}`), null, null],
  ['vault policy', 'two blanks inside the marker', () => ownerOfVaultPolicy(`# previewd managed-by=${I}  env=${ENV}\n${POLICY_BODY}`), null, null],
  ['vault policy', 'blanks around the marker line', () => ownerOfVaultPolicy(`  ${vaultPolicyMarker(I, ENV)} \n${POLICY_BODY}`), ours, ENV],
  ['vault policy', 'an env not shaped like an ID', () => ownerOfVaultPolicy(`${vaultPolicyMarker(I, 'prod')}\n${POLICY_BODY}`), { instance: I, envId: 'prod' }, null],

  // ---- Vault JWT role: no metadata, recognised by shape for one instance
  ['vault jwt role', 'ours', () => ownerOfVaultJwtRole(ROLE_NAME, role([ROLE_NAME], [`${ENV}-api`, `${ENV}-worker`]), I), ours, ENV],
  ['vault jwt role', 'one job ID as a string', () => ownerOfVaultJwtRole(ROLE_NAME, role([ROLE_NAME], `${ENV}-api`), I), ours, ENV],
  ['vault jwt role', "another instance's (prefix-sharing name)", () => ownerOfVaultJwtRole(`previewd-staging-${ENV}`, role([`previewd-staging-${ENV}`], [`${ENV}-api`]), I), null, null],
  ['vault jwt role', "another instance's, read by it", () => ownerOfVaultJwtRole(`previewd-staging-${ENV}`, role([`previewd-staging-${ENV}`], [`${ENV}-api`]), 'previewd-staging'), staging, null],
  ['vault jwt role', 'no role', () => ownerOfVaultJwtRole(ROLE_NAME, null, I), null, null],
  ['vault jwt role', 'a name outside our prefix', () => ownerOfVaultJwtRole(`ci-${ENV}`, role([`ci-${ENV}`], [`${ENV}-api`]), I), null, null],
  ['vault jwt role', 'our name, granting another policy', () => ownerOfVaultJwtRole(ROLE_NAME, role(['admin'], [`${ENV}-api`]), I), null, null],
  ['vault jwt role', 'our name, granting our policy and another', () => ownerOfVaultJwtRole(ROLE_NAME, role([ROLE_NAME, 'admin'], [`${ENV}-api`]), I), null, null],
  ['vault jwt role', 'our policy without bound job IDs', () => ownerOfVaultJwtRole(ROLE_NAME, role([ROLE_NAME], []), I), null, null],
  ['vault jwt role', 'our policy, no bound_claims at all', () => ownerOfVaultJwtRole(ROLE_NAME, { token_policies: [ROLE_NAME] }, I), null, null],
  ['vault jwt role', 'our policy, bound to a foreign job', () => ownerOfVaultJwtRole(ROLE_NAME, role([ROLE_NAME], [`${ENV}-api`, 'payments-api']), I), null, null],
  ['vault jwt role', 'our policy, bound to a bare prefix', () => ownerOfVaultJwtRole(ROLE_NAME, role([ROLE_NAME], [`${ENV}-`]), I), null, null],
  ['vault jwt role', 'our bound jobs without the policy', () => ownerOfVaultJwtRole(ROLE_NAME, role([], [`${ENV}-api`]), I), null, null],
  ['vault jwt role', 'our bound jobs, no token_policies at all', () => ownerOfVaultJwtRole(ROLE_NAME, { bound_claims: { nomad_job_id: [`${ENV}-api`] } }, I), null, null],
  ['vault jwt role', 'a policy in another case', () => ownerOfVaultJwtRole(ROLE_NAME, role([ROLE_NAME.toUpperCase()], [`${ENV}-api`]), I), null, null],
  ['vault jwt role', 'a name whose rest is not an env ID', () => ownerOfVaultJwtRole(`${I}-prod`, role([`${I}-prod`], ['prod-api']), I), { instance: I, envId: 'prod' }, null],

  // ---- Postgres database or role COMMENT
  ['postgres', 'ours', () => ownerOfPostgresObject(postgresComment(I, ENV)), ours, ENV],
  ['postgres', 'another instance', () => ownerOfPostgresObject(postgresComment('previewd-staging', ENV)), staging, null],
  ['postgres', 'unmarked', () => ownerOfPostgresObject('production database, do not drop'), null, null],
  ['postgres', 'no comment', () => ownerOfPostgresObject(null), null, null],
  ['postgres', 'instance without env', () => ownerOfPostgresObject(pg({ managedBy: 'previewd', instance: I })), null, null],
  ['postgres', 'env without instance', () => ownerOfPostgresObject(pg({ managedBy: 'previewd', env: ENV })), null, null],
  ['postgres', 'another tool’s JSON in our format', () => ownerOfPostgresObject(pg({ managedBy: 'someone-else', instance: I, env: ENV })), null, null],
  ['postgres', 'managedBy in another case', () => ownerOfPostgresObject(pg({ managedBy: 'Previewd', instance: I, env: ENV })), null, null],
  ['postgres', 'a blank before the prefix', () => ownerOfPostgresObject(` ${postgresComment(I, ENV)}`), null, null],
  ['postgres', 'truncated JSON', () => ownerOfPostgresObject(postgresComment(I, ENV).slice(0, -1)), null, null],
  ['postgres', 'an array', () => ownerOfPostgresObject('previewd:[]'), null, null],
  ['postgres', 'a non-string instance', () => ownerOfPostgresObject(pg({ managedBy: 'previewd', instance: 1, env: ENV })), null, null],
  ['postgres', 'an empty comment', () => ownerOfPostgresObject(''), null, null],
  ['postgres', 'the bare prefix', () => ownerOfPostgresObject('previewd:'), null, null],
  ['postgres', 'the prefix and no JSON', () => ownerOfPostgresObject('previewd:{not json'), null, null],
  ['postgres', 'a JSON string', () => ownerOfPostgresObject('previewd:"string"'), null, null],
  ['postgres', 'an empty instance', () => ownerOfPostgresObject(pg({ managedBy: 'previewd', instance: '', env: ENV })), null, null],
  ['postgres', 'an env not shaped like an ID', () => ownerOfPostgresObject(postgresComment(I, 'env-a')), { instance: I, envId: 'env-a' }, null],
];

describe('ownership: who owns a resource, per system', () => {
  it.each(rows)('%s, %s: owner and GC verdict', (_system, _what, read, owner, gcEnv) => {
    const got = read();
    expect(got).toEqual(owner);
    expect(ownedEnvId(got, I)).toBe(gcEnv);
    // ownedBy (observe/apply: this very environment) agrees with the marker, and never
    // holds for another environment of the same instance.
    expect(ownedBy(got, I, ENV)).toBe(owner !== null && owner.instance === I && owner.envId === ENV);
    expect(ownedBy(got, I, 'acme-shop-pr-43')).toBe(false);
  });

  it('every system appears with ours, another instance, unmarked and both half-marked cases', () => {
    const systems = new Set(rows.map((r) => r[0]));
    expect(systems.size).toBe(6);
    for (const system of systems) {
      const whats = rows.filter((r) => r[0] === system).map((r) => r[1]);
      expect(whats).toContain('ours');
      expect(whats.some((w) => w.startsWith('another instance'))).toBe(true);
    }
  });
});

describe('ownership of a warm-pool spare (no environment yet)', () => {
  const spare = postgresSpareComment(I, 'preview_template', 'v1hash');
  it('when a spare is marked then it reads back as a spare of that template, and as no environment: GC never takes it for one', () => {
    expect(spare).toBe(`previewd:{"managedBy":"previewd","instance":"${I}","spare":"preview_template","version":"v1hash"}`);
    expect(ownerOfPostgresSpare(spare)).toEqual({ instance: I, template: 'preview_template', version: 'v1hash' });
    expect(ownerOfPostgresObject(spare)).toBeNull();
  });
  it.each([
    ['an environment database', postgresComment(I, ENV)],
    ['a spare that also names an env', pg({ managedBy: 'previewd', instance: I, env: ENV, spare: 't', version: 'v' })],
    ['no version', pg({ managedBy: 'previewd', instance: I, spare: 't' })],
    ['another tool', pg({ managedBy: 'other', instance: I, spare: 't', version: 'v' })],
    ['no comment', null],
    ['malformed', 'previewd:{'],
  ])('when the comment is %s then it is no spare', (_what, comment) => {
    expect(ownerOfPostgresSpare(comment)).toBeNull();
  });
});

describe('ownership markers as written', () => {
  it('when a job is built from the PR then its meta carries the SHA; a stock image does not', () => {
    const built = nomadJobMeta({ instance: I, envId: ENV, repo: 'acme/shop', pr: 42, component: 'api', sha: 'a'.repeat(40) });
    expect(built).toEqual({ 'previewd.managed-by': I, 'previewd.env': ENV, 'previewd.repo': 'acme/shop', 'previewd.pr': '42', 'previewd.component': 'api', 'previewd.sha': 'a'.repeat(40) });
    expect(jobSha(built)).toBe('a'.repeat(40));
    expect(jobSha(nomadJobMeta({ instance: I, envId: ENV, repo: 'acme/shop', pr: 42, component: 'cache', sha: null }))).toBeNull();
  });

  it('when a generation is set then it is added to the meta and read back', () => {
    const meta = withGeneration(JOB, '3');
    expect(meta).toEqual({ ...JOB, 'previewd.generation': '3' });
    expect(jobGeneration(meta)).toBe('3');
    expect(jobGeneration(JOB)).toBeNull();
    expect(withGeneration(undefined, '1')).toEqual({ 'previewd.generation': '1' });
  });

  it('when Consul and Vault markers are written then their keys hold no dots (Consul refuses them)', () => {
    expect(consulServiceMeta(I, ENV, 'api')).toEqual({ previewd_managed_by: I, previewd_env: ENV, previewd_component: 'api' });
    expect(vaultSecretMetadata(I, ENV)).toEqual({ previewd_managed_by: I, previewd_env: ENV });
  });

  it('when a policy marker or a Postgres comment is written then it has its documented text', () => {
    expect(vaultPolicyMarker(I, ENV)).toBe(`# previewd managed-by=${I} env=${ENV}`);
    expect(postgresComment(I, ENV)).toBe(`previewd:{"managedBy":"previewd","instance":"${I}","env":"${ENV}"}`);
  });

  it('when a role binds job IDs as a list, a string or not at all then boundJobIds reads them sorted', () => {
    expect(boundJobIds(role([ROLE_NAME], [`${ENV}-worker`, `${ENV}-api`]))).toEqual([`${ENV}-api`, `${ENV}-worker`]);
    expect(boundJobIds(role([ROLE_NAME], `${ENV}-api`))).toEqual([`${ENV}-api`]);
    expect(boundJobIds({ token_policies: [ROLE_NAME] })).toEqual([]);
    expect(boundJobIds(null)).toEqual([]);
  });

  it('when a text is not shaped like an environment ID then it is rejected', () => {
    expect(isEnvironmentId('acme-shop-pr-42')).toBe(true);
    expect(isEnvironmentId('acme-shop')).toBe(false);
    expect(isEnvironmentId(`${'a'.repeat(40)}-pr-1`)).toBe(false);
    expect(isEnvironmentId('Acme-pr-1')).toBe(false);
  });
});

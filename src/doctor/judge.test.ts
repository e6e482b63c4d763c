import { describe, expect, it } from 'vitest';
import { judgeHooks } from './github.js';
import { judgeNomadVersion, namespaceCapabilities } from './nomad.js';
import { judgePostgres, type PostgresFacts } from './postgres.js';
import { formatLine, hasFailure, runChecks } from './runner.js';
import { fail, pass, warn } from './types.js';

const facts = (patch: Partial<PostgresFacts['role']> = {}, template: Partial<PostgresFacts['templates'][number]> = {}): PostgresFacts => ({
  role: { serverVersionNum: 180001, serverVersion: '18.1', role: 'previewd', superuser: false, createdb: true, createrole: true, memberOf: [], createroleSelfGrant: '', loginGroupExists: false, ...patch },
  templates: [{ name: 'tpl', exists: true, owner: 'previewd', isTemplate: false, publicCanConnect: false, ...template }],
  fileCopy: { serverVersionNum: 180001, serverVersion: '18.1', methods: ['copy', 'clone'], serverDefault: 'copy' },
});
const statusOf = (results: ReturnType<typeof judgePostgres>, check: string) => results.find((r) => r.check === check)?.status;

describe('doctor runner', () => {
  it('prints one line per check whatever the detail holds, and fails only on FAIL', async () => {
    expect(formatLine(fail('x.y', 'bad\nthing', 'do  it'))).toBe('FAIL x.y: bad thing — fix: do it');
    expect(formatLine(pass('x.y', 'fine'))).toBe('ok x.y: fine');
    expect(hasFailure([pass('a.b', ''), warn('a.c', '', 'f')])).toBe(false);
    const results = await runChecks([{ system: 'nomad', run: () => Promise.reject(new Error('boom')) }, { system: 'vault', run: async () => [pass('vault.health', 'ok')] }]);
    expect(results.map((r) => [r.check, r.status])).toEqual([['nomad.doctor', 'fail'], ['vault.health', 'ok']]);
  });
});

describe('doctor judgements', () => {
  it('Postgres warm pool: a template without a version marker, or a failing versionQuery, warns that PRs clone; with one it shows the spares ready', () => {
    const withPool = (pool: Partial<NonNullable<PostgresFacts['pools']>[number]>) =>
      judgePostgres({ ...facts(), pools: [{ template: 'tpl', size: 2, source: 'COMMENT', version: 'abc', ready: 1, ...pool }] }, 'g');
    expect(withPool({}).find((r) => r.check === 'postgres.pool tpl')).toMatchObject({ status: 'ok', detail: expect.stringContaining('1 of 2 spare(s) ready') });
    const unmarked = withPool({ version: null, ready: 0 }).find((r) => r.check === 'postgres.pool tpl');
    expect(unmarked).toMatchObject({ status: 'warn', detail: expect.stringContaining('no version marker') });
    expect(unmarked?.fix).toContain('COMMENT ON DATABASE "tpl"');
    expect(statusOf(withPool({ source: 'versionQuery', version: null, error: 'relation "schema_migrations" does not exist' }), 'postgres.pool tpl')).toBe('warn');
    expect(judgePostgres(facts(), 'g').some((r) => r.check.startsWith('postgres.pool'))).toBe(false);
  });

  it('Postgres: the README role passes; a missing attribute, a superuser, a group without admin, and each template defect are named', () => {
    expect(judgePostgres(facts(), 'g').every((r) => r.status === 'ok')).toBe(true);
    expect(statusOf(judgePostgres(facts({ createrole: false }), 'g'), 'postgres.role')).toBe('fail');
    expect(statusOf(judgePostgres(facts({ superuser: true }), 'g'), 'postgres.role')).toBe('warn');
    expect(statusOf(judgePostgres(facts({ loginGroupExists: true, memberOf: [{ role: 'g', admin: false }] }), 'g'), 'postgres.login-group')).toBe('fail');
    expect(statusOf(judgePostgres(facts({ loginGroupExists: true, memberOf: [{ role: 'g', admin: true }] }), 'g'), 'postgres.login-group')).toBe('ok');
    expect(statusOf(judgePostgres(facts({}, { owner: 'someone', isTemplate: true }), 'g'), 'postgres.template tpl')).toBe('fail');
    expect(statusOf(judgePostgres(facts({}, { publicCanConnect: true }), 'g'), 'postgres.template tpl')).toBe('fail');
    expect(statusOf(judgePostgres(facts({ serverVersionNum: 140010, serverVersion: '14.10' }), 'g'), 'postgres.version')).toBe('warn');
  });

  it('Postgres: whether clones are constant-time, informational unless the configured method cannot apply', () => {
    const clone = (f: PostgresFacts, cloneMethod: 'auto' | 'clone' | 'copy', strategies: ('FILE_COPY' | 'WAL_LOG')[] = ['FILE_COPY']) =>
      judgePostgres(f, 'g', { cloneMethod, strategies }).find((r) => r.check === 'postgres.clone');
    const pg15 = { ...facts(), fileCopy: { serverVersionNum: 150014, serverVersion: '15.14', methods: null, serverDefault: null } };
    expect(clone(facts(), 'auto')).toMatchObject({ status: 'ok' });
    expect(clone(facts(), 'auto')!.detail).toMatch(/^constant-time on a reflink filesystem: .*file_copy_method = clone/);
    expect(clone(pg15, 'auto')).toMatchObject({ status: 'ok' });
    expect(clone(pg15, 'auto')!.detail).toMatch(/^not constant-time: .*PostgreSQL 18\+ with database\.cloneMethod auto or clone.*reflink=1/);
    expect(clone(facts(), 'copy')!.detail).toMatch(/^not constant-time: .*cloneMethod: copy/);
    expect(clone(facts(), 'auto', ['WAL_LOG'])!.detail).toMatch(/^not constant-time: STRATEGY WAL_LOG/);
    expect(clone(pg15, 'clone')).toMatchObject({ status: 'fail', fix: 'upgrade to PostgreSQL 18, or set database.cloneMethod: auto or copy' });
    // No repo clones a template: nothing to say.
    expect(clone(facts(), 'auto', [])).toBeUndefined();
  });

  it('GitHub: the hook must be ours, active, JSON and carry pull_request', () => {
    const url = 'https://p.example/webhooks/github';
    expect(judgeHooks('c', [{ active: true, events: ['pull_request'], config: { url: `${url}/`, content_type: 'json' } }], url, 'x').status).toBe('ok');
    expect(judgeHooks('c', [{ active: true, events: ['*'], config: { url } }], url, 'x').status).toBe('ok');
    expect(judgeHooks('c', [{ active: false, events: ['pull_request'], config: { url } }], url, 'x').status).toBe('fail');
    expect(judgeHooks('c', [{ active: true, events: ['push'], config: { url } }], url, 'x').status).toBe('fail');
    expect(judgeHooks('c', [{ active: true, events: ['pull_request'], config: { url, content_type: 'form' } }], url, 'x').status).toBe('fail');
    expect(judgeHooks('c', [{ active: true, events: ['pull_request'], config: { url: 'https://other/webhooks/github' } }], url, 'x').status).toBe('fail');
  });

  it('Nomad: capabilities of a namespace from policies (acl/policy.go): policy shorthands, exact over glob, deny wins', async () => {
    expect([...(await namespaceCapabilities(['namespace "default" { policy = "read" }'], 'default'))]).not.toContain('submit-job');
    expect(await namespaceCapabilities(['namespace "default" { policy = "write" }'], 'default')).toContain('submit-job');
    expect(await namespaceCapabilities(['namespace "pre*" { capabilities = ["submit-job"] }'], 'previews')).toContain('submit-job');
    const exact = await namespaceCapabilities(['namespace "*" { policy = "write" }', 'namespace "previews" { policy = "read" }'], 'previews');
    expect(exact.has('submit-job')).toBe(false);
    expect([...(await namespaceCapabilities(['namespace "previews" { policy = "write" }', 'namespace "previews" { policy = "deny" }'], 'previews'))]).toEqual(['deny']);
    expect((await namespaceCapabilities(['namespace "other" { policy = "write" }'], 'previews')).size).toBe(0);
  });

  it('Nomad: 1.10 or newer, an unknown version passes with a note', () => {
    expect(judgeNomadVersion('1.10.3').status).toBe('ok');
    expect(judgeNomadVersion('2.0.0').status).toBe('ok');
    expect(judgeNomadVersion('1.9.7').status).toBe('fail');
    expect(judgeNomadVersion(null).status).toBe('ok');
  });
});

// The live observation (HTTP against the agents' APIs) against the emulators, which
// speak the same APIs: for a provisioned PR it must give the answers the emulator
// world's own observation gives. This is what proves live mode's plumbing without real
// agents; the world deploys the live templates (test/live/job-templates), so they pass
// the emulators' jobspec and admission checks too.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reconcileEnvironment } from '../src/environments/reconcile.js';
import type { Json } from '../src/sandbox/emulators/cluster.js';
import { httpObservation, type ClusterObservation } from '../src/sandbox/observation.js';
import { randomSha, type World } from '../src/sandbox/world.js';
import { LIVE_ENV_FILE, LIVE_TEMPLATES_DIR } from './support/live.js';
import { startWorld } from './support/pg.js';

const PR = 7;
const stub = (a: Json) => ({ ID: a.ID, TaskGroup: a.TaskGroup, DesiredStatus: a.DesiredStatus, ClientStatus: a.ClientStatus, ModifyIndex: a.ModifyIndex });
const roleView = (r: Record<string, unknown> | null) => r && { token_policies: r.token_policies, bound_audiences: r.bound_audiences, bound_claims: r.bound_claims, role_type: r.role_type };

describe('HTTP observation against the emulators', () => {
  let world: World;
  let http: ClusterObservation;

  beforeAll(async () => {
    world = await startWorld({ repos: [{ templatesDir: LIVE_TEMPLATES_DIR }] });
    http = httpObservation({
      nomad: { address: world.nomad.url, namespace: world.config.env.NOMAD_NAMESPACE },
      consul: { address: world.consul.url, token: world.secrets.consulToken },
      vault: { address: world.vault.url, token: world.secrets.vaultToken, kvMount: world.config.vault.kvMount, jwtMount: world.config.vault.jwtMount },
      envFile: LIVE_ENV_FILE,
    });
    await world.open(PR, randomSha());
    expect((await reconcileEnvironment(world.deps, world.key(PR))).status).toBe('ready');
  });
  afterAll(async () => {
    await world?.cleanup();
  });

  it('when a PR is provisioned then both observations see the same jobs, allocations, deployments and rendered env', async () => {
    const n = world.names(PR);
    const emu = world.observe;
    for (const component of ['cache', 'api', 'worker', 'frontend']) {
      const job = await http.job(n.jobId(component));
      expect(job, component).not.toBeNull();
      expect(job).toEqual(await emu.job(n.jobId(component)));
      const allocs = (await http.allocations(n.jobId(component))).map(stub);
      expect(allocs.length, component).toBeGreaterThan(0);
      expect(allocs).toEqual((await emu.allocations(n.jobId(component))).map(stub));
      expect((await http.deployments(n.jobId(component))).map((d) => [d.ID, d.JobVersion, d.Status])).toEqual(
        (await emu.deployments(n.jobId(component))).map((d) => [d.ID, d.JobVersion, d.Status]),
      );
    }
    expect((await http.jobs()).map((j) => j.ID).sort()).toEqual((await emu.jobs()).map((j) => j.ID).sort());
    expect(await http.job(`${n.id}-nothing`)).toBeNull();

    for (const [component, task] of [['api', 'migrate'], ['api', 'api'], ['worker', 'worker'], ['frontend', 'frontend']] as const) {
      const alloc = (await emu.allocations(n.jobId(component))).find((a) => a.DesiredStatus === 'run')!;
      const env = await http.renderedEnv(alloc.ID as string, task);
      expect(env?.DATABASE_URL, `${component}/${task}`).toMatch(/^postgres/);
      expect(env, `${component}/${task}`).toEqual(await emu.renderedEnv(alloc.ID as string, task));
    }
  });

  it('when a PR is provisioned then both observations see the same services, secret, policy and JWT role', async () => {
    const n = world.names(PR);
    const emu = world.observe;
    for (const component of ['cache', 'api', 'frontend']) {
      const services = await http.services(n.serviceName(component));
      expect(services.length, component).toBeGreaterThan(0);
      expect(services).toEqual(await emu.services(n.serviceName(component)));
    }
    expect(await http.services(`${n.id}-nothing`)).toEqual([]);

    const secret = await http.secret(n.vaultPath);
    expect(secret?.data?.DATABASE_URL).toEqual(expect.any(String));
    expect(secret).toEqual(await emu.secret(n.vaultPath));
    expect(await http.secret(`${n.vaultPath}-nothing`)).toBeNull();

    const policy = await http.policy(n.vaultPolicy);
    expect(policy).toContain(`${world.config.vault.kvMount}/data/${n.vaultPath}`);
    expect(policy).toBe(await emu.policy(n.vaultPolicy));
    expect(await http.policy(`${n.vaultPolicy}-nothing`)).toBeNull();

    const role = await http.jwtRole(n.vaultRole);
    expect(role).toMatchObject({ token_policies: [n.vaultPolicy] });
    expect(roleView(role)).toEqual(roleView(await emu.jwtRole(n.vaultRole)));
    expect(await http.jwtRole(`${n.vaultRole}-nothing`)).toBeNull();
  });

  it('when the PR closes then both observations see nothing of it', async () => {
    await world.close(PR);
    expect((await reconcileEnvironment(world.deps, world.key(PR))).status).toBe('removed');
    const n = world.names(PR);
    for (const obs of [http, world.observe]) {
      for (const component of ['cache', 'api', 'worker', 'frontend']) {
        expect(await obs.job(n.jobId(component))).toBeNull();
        expect(await obs.services(n.serviceName(component))).toEqual([]);
      }
      expect(await obs.secret(n.vaultPath)).toBeNull();
      expect(await obs.policy(n.vaultPolicy)).toBeNull();
      expect(await obs.jwtRole(n.vaultRole)).toBeNull();
    }
  });

  it('when a rendered file lies in a task’s secrets directory then Nomad’s fs API refuses it, as the real client does', async () => {
    const pr = PR + 1;
    await world.open(pr, randomSha());
    await reconcileEnvironment(world.deps, world.key(pr));
    const alloc = (await world.observe.allocations(world.names(pr).jobId('api'))).find((a) => a.DesiredStatus === 'run')!;
    const res = await fetch(`${world.nomad.url}/v1/client/fs/cat/${alloc.ID as string}?path=api/secrets/preview.env`);
    expect(res.status).toBe(500);
    expect(await res.text()).toBe('Reading secret file prohibited: api/secrets/preview.env');
    const observed = await fetch(`${world.nomad.url}/v1/client/fs/cat/${alloc.ID as string}?path=api/${LIVE_ENV_FILE}`);
    expect(observed.status).toBe(200);
    await world.close(pr);
    await reconcileEnvironment(world.deps, world.key(pr));
  });
});

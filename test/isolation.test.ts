// Two PRs side by side: neither can reach the other's database, secret or cache.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reconcileEnvironment } from '../src/environments/reconcile.js';
import { randomSha, type World } from '../src/sandbox/world.js';
import { pgServers, startWorld, withAdminClient, type PgServer } from './support/pg.js';
import { waitFor } from './support/wait.js';

const A = 11;
const B = 12;

describe.each(pgServers())('isolation between two PR environments on $label (previewd as the README role)', (server: PgServer) => {
  let world: World;
  const urls: Record<number, URL> = {};

  beforeAll(async () => {
    world = await startWorld({ server });
    await world.open(A, randomSha());
    await world.open(B, randomSha());
    await Promise.all([reconcileEnvironment(world.deps, world.key(A)), reconcileEnvironment(world.deps, world.key(B))]);
    for (const pr of [A, B]) urls[pr] = new URL(world.vault.secret(world.names(pr).vaultPath)!.data!.DATABASE_URL as string);
  });
  afterAll(async () => {
    await world?.cleanup();
  });

  async function connect(url: URL): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: url.toString(), connectionTimeoutMillis: 5000 });
    try {
      await client.connect();
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
    return client;
  }

  const columns = (database: string) =>
    withAdminClient(async (c) => (await c.query("SELECT column_name FROM information_schema.columns WHERE table_name = 'items' ORDER BY column_name")).rows.map((r) => r.column_name), database, server);

  it('when PR A runs a migration dropping a column then PR B’s table keeps it', async () => {
    const client = await connect(urls[A]!);
    try {
      await client.query('ALTER TABLE items DROP COLUMN price');
    } finally {
      await client.end();
    }
    expect(await columns(world.names(A).database)).toEqual(['id', 'name']);
    expect(await columns(world.names(B).database)).toEqual(['id', 'name', 'price']);
  });

  it('when PR A’s role tries PR B’s database with its password then the connection is refused', async () => {
    const crossed = new URL(urls[A]!);
    crossed.pathname = `/${world.names(B).database}`;
    await expect(connect(crossed)).rejects.toThrow(/permission denied|not permitted|authentication failed/i);
  });

  it('when PR B’s role presents PR A’s password then authentication fails (scram for the login group)', async () => {
    const wrong = new URL(urls[B]!);
    wrong.password = urls[A]!.password;
    await expect(connect(wrong)).rejects.toThrow(/password authentication failed/i);
    // The control: B's own credentials do work, so the refusal above is about the password.
    const own = await connect(urls[B]!);
    await own.end();
  });

  it('when PR A’s Vault policy is checked against PR B’s secret then only A’s own path is readable', () => {
    const a = world.names(A);
    const b = world.names(B);
    const mount = world.config.vault.kvMount;
    expect(world.vault.allowed([a.vaultPolicy], 'read', `${mount}/data/${a.vaultPath}`)).toBe(true);
    expect(world.vault.allowed([a.vaultPolicy], 'read', `${mount}/data/${b.vaultPath}`)).toBe(false);
    expect(world.vault.allowed([a.vaultPolicy], 'update', `${mount}/data/${a.vaultPath}`)).toBe(false);
    expect(world.vault.allowed([a.vaultPolicy], 'list', `${mount}/metadata/${world.config.vault.pathPrefix}`)).toBe(false);
    // A's Vault role is bound to A's jobs only, and grants only A's policy.
    const role = world.vault.jwtRole(a.vaultRole)!;
    const boundJobs = (role.bound_claims as { nomad_job_id: string[] }).nomad_job_id;
    expect(boundJobs.length).toBe(4);
    expect(boundJobs.every((id) => id.startsWith(`${a.id}-`))).toBe(true);
    expect(role.token_policies).toEqual([a.vaultPolicy]);
  });

  it('when PR A’s jobs look up their cache then they name only A’s cache service and A’s Vault path', () => {
    const a = world.names(A);
    const b = world.names(B);
    const specs = world.cluster
      .listJobs()
      .filter((j) => String(j.ID).startsWith(`${a.id}-`))
      .map((j) => JSON.stringify(j));
    expect(specs.length).toBe(4);
    const text = specs.join('\n');
    expect(text).toContain(a.serviceName('cache'));
    expect(text).toContain(a.vaultPath);
    expect(text).not.toContain(b.id);
  });
  it('when a job of PR A names PR B’s Vault role or reads PR B’s secret then its task never starts and gets nothing of B', async () => {
    const a = world.names(A);
    const b = world.names(B);
    const ns = world.config.env.NOMAD_NAMESPACE;
    const mount = world.config.vault.kvMount;
    const tamper = (component: string, change: (task: Record<string, unknown>) => void) => {
      const job = structuredClone(world.cluster.getJob(ns, a.jobId(component))!);
      for (const group of job.TaskGroups as { Tasks: Record<string, unknown>[] }[]) for (const task of group.Tasks) if (task.Vault) change(task);
      world.cluster.registerJob(ns, job);
      return waitFor(`a failed allocation of ${a.jobId(component)}`, () => world.cluster.listAllocations(ns, a.jobId(component)).find((al) => al.ClientStatus === 'failed'), 15_000);
    };
    const lastEvent = (alloc: Record<string, unknown>) =>
      Object.values(alloc.TaskStates as Record<string, { Failed: boolean; Events: { DisplayMessage: string }[] }>)
        .filter((t) => t.Failed)
        .map((t) => t.Events.at(-1)!.DisplayMessage)[0]!;

    // B's role is bound to B's job IDs: A's job cannot log in with it.
    const withBRole = await tamper('worker', (task) => ((task.Vault as Record<string, unknown>).Role = b.vaultRole));
    expect(lastEvent(withBRole)).toContain('error validating claims: claim "nomad_job_id" does not match any associated bound claim values');
    // A's own role only grants A's policy: B's secret is denied.
    const readsB = await tamper('frontend', (task) => {
      for (const t of task.Templates as { EmbeddedTmpl: string }[]) t.EmbeddedTmpl = t.EmbeddedTmpl.replaceAll(a.vaultPath, b.vaultPath);
    });
    expect(lastEvent(readsB)).toContain(`Template failed: vault.read(${mount}/data/${b.vaultPath})`);
    expect(lastEvent(readsB)).toContain('* permission denied');
    for (const alloc of [withBRole, readsB]) {
      for (const task of Object.keys(alloc.TaskStates as object)) expect(world.cluster.renderedEnv(alloc.ID as string, task)).toBeNull();
    }
  });
});

// What a test reads of the cluster to check previewd's work, apart from previewd's own
// clients: the state as Nomad, Consul and Vault hold it. Two implementations answer the
// same questions: one reads the emulators' memory (the emulator world), the other asks
// the agents over their HTTP APIs (live mode against real dev agents, see README "Live
// mode"). Parity between the two against the emulators is tested in
// test/observation.test.ts, which is what lets the lifecycle test run unchanged on both.
import type { Cluster, Json } from './emulators/cluster.js';
import type { VaultEmulator } from './emulators/vault.js';
import { parseEnvFile } from './emulators/workload-runtime.js';

export interface ObservedSecret {
  /** The latest live version's data; null when it is deleted or destroyed. */
  data: Record<string, unknown> | null;
  customMetadata: Record<string, string> | null;
}

export interface ObservedService {
  ID: string;
  Service: string;
  /** The service's own address, else its node's (as consul-template's `service` gives it). */
  Address: string;
  Port: number;
}

export interface ClusterObservation {
  /** The job as Nomad stores it (GET /v1/job/:id), null when there is none. */
  job(id: string): Promise<Json | null>;
  /** Every job of the namespace, in full. */
  jobs(): Promise<Json[]>;
  /** The job's allocations (ID, TaskGroup, DesiredStatus, ClientStatus, ModifyIndex, …). */
  allocations(jobId: string): Promise<Json[]>;
  /** The job's deployments, newest first. */
  deployments(jobId: string): Promise<Json[]>;
  /** The environment a task's templates gave it (KEY=VALUE), null when nothing was rendered. */
  renderedEnv(allocId: string, task: string): Promise<Record<string, string> | null>;
  /** The catalog's instances of a service. */
  services(name: string): Promise<ObservedService[]>;
  /** A KV v2 secret below the mount, null when it has no metadata (never written, or deleted with its metadata). */
  secret(path: string): Promise<ObservedSecret | null>;
  /** A Vault ACL policy's rules, null when there is none. */
  policy(name: string): Promise<string | null>;
  /** A role of the JWT auth mount as Vault reads it back, null when there is none. */
  jwtRole(name: string): Promise<Record<string, unknown> | null>;
}

/** The emulator world's observation: the emulators' own state, no HTTP. */
export function emulatorObservation(options: { cluster: Cluster; vault: VaultEmulator; namespace: string; jwtMount: string }): ClusterObservation {
  const { cluster, vault, namespace } = options;
  return {
    job: async (id) => cluster.getJob(namespace, id) ?? null,
    jobs: async () => cluster.listJobs(namespace),
    allocations: async (jobId) => cluster.listAllocations(namespace, jobId),
    deployments: async (jobId) => cluster.listDeployments(namespace, jobId),
    renderedEnv: async (allocId, task) => cluster.renderedEnv(allocId, task),
    services: async (name) =>
      cluster
        .listServices()
        .filter((s) => s.Service === name)
        .map((s) => ({ ID: s.ID, Service: s.Service, Address: s.Address || (cluster.getNode(s.Node)?.Address ?? ''), Port: s.Port })),
    secret: async (path) => {
      const view = vault.secret(path);
      return view ? { data: view.data, customMetadata: view.customMetadata } : null;
    },
    policy: async (name) => vault.policy(name),
    jwtRole: async (name) => vault.jwtRole(name, options.jwtMount),
  };
}

export interface HttpObservationOptions {
  nomad: { address: string; token?: string; namespace: string };
  consul: { address: string; token?: string };
  vault: { address: string; token: string; kvMount: string; jwtMount: string };
  /**
   * Where, relative to a task's directory, a copy of its rendered environment can be read.
   * Nomad refuses reads below a task's secrets/ (client/allocdir/alloc_dir.go ReadAt:
   * "Reading secret file prohibited"), where the canonical env lives, so the live
   * templates (test/live/job-templates) render the same text a second time into local/.
   */
  envFile: string;
  fetch?: typeof fetch;
}

/** The live observation: the agents' HTTP APIs, read-only. */
export function httpObservation(options: HttpObservationOptions): ClusterObservation {
  const doFetch = options.fetch ?? fetch;
  const { nomad, consul, vault } = options;

  async function get(base: string, path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
    const res = await doFetch(`${base.replace(/\/+$/, '')}${path}`, { headers });
    return { status: res.status, body: await res.text() };
  }
  const fail = (what: string, r: { status: number; body: string }) => new Error(`observation: ${what} answered ${r.status}: ${r.body.slice(0, 300)}`);

  const nomadHeaders: Record<string, string> = nomad.token ? { 'X-Nomad-Token': nomad.token } : {};
  const ns = `namespace=${encodeURIComponent(nomad.namespace)}`;
  async function nomadJson(path: string, allow404: boolean): Promise<unknown> {
    const r = await get(nomad.address, path, nomadHeaders);
    if (r.status === 404 && allow404) return null;
    if (r.status !== 200) throw fail(`Nomad ${path}`, r);
    return JSON.parse(r.body);
  }
  const consulHeaders: Record<string, string> = consul.token ? { 'X-Consul-Token': consul.token } : {};
  const vaultHeaders: Record<string, string> = { 'X-Vault-Token': vault.token };
  async function vaultJson(path: string): Promise<Json | null> {
    const r = await get(vault.address, `/v1/${path}`, vaultHeaders);
    if (r.status === 404) return null;
    if (r.status !== 200) throw fail(`Vault ${path}`, r);
    return JSON.parse(r.body) as Json;
  }
  const id = (s: string) => encodeURIComponent(s);

  return {
    // command/agent/job_endpoint.go jobQuery: GET /v1/job/:id, 404 "job not found".
    job: async (jobId) => (await nomadJson(`/v1/job/${id(jobId)}?${ns}`, true)) as Json | null,
    // command/agent/job_endpoint.go JobsRequest lists stubs; each job is then read in full.
    jobs: async () => {
      const stubs = (await nomadJson(`/v1/jobs?${ns}`, false)) as Json[];
      const jobs: Json[] = [];
      for (const stub of stubs) {
        const job = (await nomadJson(`/v1/job/${id(stub.ID as string)}?${ns}`, true)) as Json | null;
        if (job) jobs.push(job);
      }
      return jobs;
    },
    // command/agent/job_endpoint.go jobAllocations: AllocListStubs of the job.
    allocations: async (jobId) => ((await nomadJson(`/v1/job/${id(jobId)}/allocations?${ns}`, true)) as Json[] | null) ?? [],
    // command/agent/job_endpoint.go jobDeployments: newest first.
    deployments: async (jobId) => ((await nomadJson(`/v1/job/${id(jobId)}/deployments?${ns}`, true)) as Json[] | null) ?? [],
    // command/agent/fs_endpoint.go FileCatRequest: the file's bytes, errors as text.
    renderedEnv: async (allocId, task) => {
      const r = await get(nomad.address, `/v1/client/fs/cat/${id(allocId)}?path=${encodeURIComponent(`${task}/${options.envFile}`)}&${ns}`, nomadHeaders);
      if (r.status !== 200) return null;
      return parseEnvFile(r.body);
    },
    // agent/catalog_endpoint.go CatalogServiceNodes: GET /v1/catalog/service/:name, [] when none.
    services: async (name) => {
      const r = await get(consul.address, `/v1/catalog/service/${id(name)}`, consulHeaders);
      if (r.status !== 200) throw fail(`Consul catalog/service/${name}`, r);
      return (JSON.parse(r.body) as Json[]).map((e) => ({
        ID: e.ServiceID as string,
        Service: e.ServiceName as string,
        Address: (e.ServiceAddress as string) || (e.Address as string),
        Port: e.ServicePort as number,
      }));
    },
    // vault-plugin-secrets-kv path_metadata.go (read: custom_metadata, 404 without metadata)
    // and path_data.go (read: 404 for a deleted or destroyed latest version, data null).
    secret: async (path) => {
      const meta = await vaultJson(`${vault.kvMount}/metadata/${path}`);
      if (!meta) return null;
      const data = await vaultJson(`${vault.kvMount}/data/${path}`);
      const inner = (data?.data as Json | undefined)?.data as Record<string, unknown> | null | undefined;
      return { data: inner ?? null, customMetadata: ((meta.data as Json).custom_metadata as Record<string, string> | null) ?? null };
    },
    // vault/logical_system.go handlePoliciesRead: GET sys/policy/:name → { rules }, 404 when absent.
    policy: async (name) => {
      const body = await vaultJson(`sys/policy/${id(name)}`);
      if (!body) return null;
      return ((body.data as Json | undefined)?.rules as string | undefined) ?? (body.rules as string);
    },
    // vault-plugin-auth-jwt path_role.go pathRoleRead: the role's fields under data, 404 when absent.
    jwtRole: async (name) => ((await vaultJson(`auth/${vault.jwtMount}/role/${id(name)}`))?.data as Record<string, unknown> | undefined) ?? null,
  };
}

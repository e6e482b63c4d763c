// Jobspec handling for the Nomad emulator: HCL (via hcl2json's real HCL parser) → Job
// JSON, Canonicalize defaults, and the server-side validation texts (nomad.md §10, §13).
import { parse as parseHcl } from '@cdktf/hcl2json';
import type { Json } from './cluster.js';
import { checkJobspecSchema, diagnosticsText } from './nomad-hcl-schema.js';

/** The file name the agent gives the submitted text (command/agent/job_endpoint.go JobsParseRequest). */
const PARSE_PATH = 'input.hcl';

type Body = Record<string, unknown>;

/** Go's time.ParseDuration for the units jobspecs use; NaN when malformed. */
export function parseGoDuration(text: string): number {
  // Go's time.ParseDuration (src/time/format.go): `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+`, each
  // number with a digit on at least one side of the dot, or the bare "0" (signed too).
  const sign = text.startsWith('-') ? -1 : 1;
  const body = text.startsWith('-') || text.startsWith('+') ? text.slice(1) : text;
  if (body === '0') return 0;
  const re = /(\d*)(?:\.(\d*))?(ns|us|µs|μs|ms|s|m|h)/g;
  const units: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, μs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
  let total = 0;
  let consumed = 0;
  for (const m of body.matchAll(re)) {
    if (m.index !== consumed) return NaN;
    const whole = m[1] ?? '';
    const frac = m[2] ?? '';
    if (whole === '' && frac === '') return NaN; // "time: invalid duration"
    total += Number(`${whole || '0'}.${frac || '0'}`) * units[m[3]!]!;
    consumed += m[0].length;
  }
  return consumed === body.length && consumed > 0 ? sign * Math.round(total) : NaN;
}

export class JobspecError extends Error {}

function first(v: unknown): Body | undefined {
  if (Array.isArray(v)) return v[0] as Body | undefined;
  return v && typeof v === 'object' ? (v as Body) : undefined;
}
function all(v: unknown): Body[] {
  if (Array.isArray(v)) return v as Body[];
  return v && typeof v === 'object' ? [v as Body] : [];
}
/** `meta = {...}` (attribute) is an object; `meta {...}` (block) is a list of objects. */
function stringMap(v: unknown): Record<string, string> | null {
  if (v === undefined || v === null) return null;
  const parts = Array.isArray(v) ? (v as Body[]) : [v as Body];
  const out: Record<string, string> = {};
  for (const p of parts) for (const [k, val] of Object.entries(p)) out[k] = typeof val === 'string' ? val : JSON.stringify(val);
  return out;
}
function dur(v: unknown): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number') return v;
  const ns = parseGoDuration(String(v));
  if (Number.isNaN(ns)) throw new JobspecError(`time: invalid duration "${String(v)}"`);
  return ns;
}
function compact(o: Body): Body {
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return o;
}

function mapCheck(c: Body): Body {
  return compact({
    Name: c.name,
    Type: c.type,
    Path: c.path,
    Method: c.method,
    Protocol: c.protocol,
    PortLabel: c.port,
    Interval: dur(c.interval),
    Timeout: dur(c.timeout),
    InitialStatus: c.initial_status,
  });
}
function mapService(s: Body): Body {
  return compact({
    Name: s.name,
    PortLabel: s.port === undefined ? undefined : String(s.port),
    Provider: s.provider,
    Tags: s.tags,
    CanaryTags: s.canary_tags,
    Meta: stringMap(s.meta) ?? undefined,
    AddressMode: s.address_mode,
    TaskName: s.task,
    Checks: s.check === undefined ? undefined : all(s.check).map(mapCheck),
    Identity: first(s.identity) ? mapIdentity(first(s.identity)!) : undefined,
  });
}
function mapTemplate(t: Body): Body {
  return compact({
    SourcePath: t.source,
    DestPath: t.destination,
    EmbeddedTmpl: t.data,
    ChangeMode: t.change_mode,
    ChangeSignal: t.change_signal,
    Splay: dur(t.splay),
    Perms: t.perms,
    LeftDelim: t.left_delimiter,
    RightDelim: t.right_delimiter,
    Envvars: t.env,
  });
}
function mapVault(vault: Body | undefined): Body | undefined {
  if (!vault) return undefined;
  return compact({ Role: vault.role, Namespace: vault.namespace, Cluster: vault.cluster, ChangeMode: vault.change_mode, ChangeSignal: vault.change_signal, Env: vault.env, DisableFile: vault.disable_file });
}
function mapConsul(consul: Body | undefined): Body | undefined {
  if (!consul) return undefined;
  return { Namespace: consul.namespace ?? '', Cluster: consul.cluster ?? '', Partition: consul.partition ?? '' };
}
/** api/tasks.go WorkloadIdentity. */
function mapIdentity(w: Body): Body {
  return compact({
    Name: w.name ?? '',
    Audience: w.aud,
    ChangeMode: w.change_mode,
    ChangeSignal: w.change_signal,
    Env: w.env,
    File: w.file,
    Filepath: w.filepath,
    ServiceName: w.service_name,
    TTL: dur(w.ttl),
    ExtraClaims: w.extra_claims,
  });
}
function mapTask(name: string, t: Body, groupVault?: Body): Body {
  const lc = first(t.lifecycle);
  // jobspec2 decodeTaskGroup: a group-level vault block applies to tasks without their own.
  const vault = first(t.vault) ?? groupVault;
  const res = first(t.resources);
  // jobspec2 normalizeJob: an identity named "" or "default" is the task's Identity, the rest Identities.
  const identities = all(t.identity).map(mapIdentity);
  const defaultIdentity = identities.find((w) => w.Name === '' || w.Name === 'default');
  return compact({
    Name: name,
    Driver: t.driver,
    User: t.user,
    Config: first(t.config),
    Env: stringMap(t.env) ?? undefined,
    Meta: stringMap(t.meta) ?? undefined,
    Lifecycle: lc ? compact({ Hook: lc.hook, Sidecar: lc.sidecar }) : undefined,
    Vault: mapVault(vault),
    Consul: mapConsul(first(t.consul)),
    Identity: defaultIdentity,
    Identities: t.identity === undefined ? undefined : identities.filter((w) => w !== defaultIdentity),
    Templates: t.template === undefined ? undefined : all(t.template).map(mapTemplate),
    Resources: res ? compact({ CPU: res.cpu, Cores: res.cores, MemoryMB: res.memory, MemoryMaxMB: res.memory_max }) : undefined,
    Services: t.service === undefined ? undefined : all(t.service).map(mapService),
    KillTimeout: dur(t.kill_timeout),
    Leader: t.leader,
  });
}
function mapUpdate(u: Body | undefined): Body | undefined {
  if (!u) return undefined;
  return compact({
    MaxParallel: u.max_parallel,
    HealthCheck: u.health_check,
    MinHealthyTime: dur(u.min_healthy_time),
    HealthyDeadline: dur(u.healthy_deadline),
    ProgressDeadline: dur(u.progress_deadline),
    AutoRevert: u.auto_revert,
    AutoPromote: u.auto_promote,
    Canary: u.canary,
  });
}
function mapGroup(name: string, g: Body): Body {
  const restart = first(g.restart);
  const reschedule = first(g.reschedule);
  return compact({
    Name: name,
    Count: g.count,
    Meta: stringMap(g.meta) ?? undefined,
    Networks:
      g.network === undefined
        ? undefined
        : all(g.network).map((n) => {
            const dynamic: Body[] = [];
            const reserved: Body[] = [];
            for (const [label, spec] of Object.entries((n.port as Body | undefined) ?? {})) {
              const p = first(spec) ?? {};
              if (p.static !== undefined) reserved.push(compact({ Label: label, Value: p.static, To: p.to ?? 0 }));
              else dynamic.push(compact({ Label: label, Value: 0, To: p.to ?? 0 }));
            }
            return { Mode: n.mode ?? 'host', DynamicPorts: dynamic.length ? dynamic : null, ReservedPorts: reserved.length ? reserved : null };
          }),
    Services: g.service === undefined ? undefined : all(g.service).map(mapService),
    Consul: mapConsul(first(g.consul)),
    Update: mapUpdate(first(g.update)),
    RestartPolicy: restart ? compact({ Attempts: restart.attempts, Interval: dur(restart.interval), Delay: dur(restart.delay), Mode: restart.mode }) : undefined,
    ReschedulePolicy: reschedule
      ? compact({ Attempts: reschedule.attempts, Interval: dur(reschedule.interval), Delay: dur(reschedule.delay), DelayFunction: reschedule.delay_function, MaxDelay: dur(reschedule.max_delay), Unlimited: reschedule.unlimited })
      : undefined,
    Tasks: Object.entries((g.task as Body | undefined) ?? {}).map(([tn, tb]) => mapTask(tn, first(tb) ?? {}, first(g.vault))),
  });
}

/** Replaces `${var.x}` and unescapes `$${` / `%%{` in every string, as HCL evaluation does. */
function evaluateStrings(v: unknown, vars: Record<string, unknown>): unknown {
  if (typeof v === 'string') {
    const whole = /^\$\{var\.([A-Za-z0-9_-]+)\}$/.exec(v);
    if (whole && whole[1]! in vars) return vars[whole[1]!];
    return v
      .replace(/(\$?)\$\{var\.([A-Za-z0-9_-]+)\}/g, (m, esc: string, name: string) => {
        if (esc) return m;
        if (!(name in vars)) throw new JobspecError(`Unsupported attribute; This object does not have an attribute named "${name}".`);
        const value = vars[name];
        return typeof value === 'string' ? value : JSON.stringify(value);
      })
      .replace(/\$\$\{/g, '${')
      .replace(/%%\{/g, '%{');
  }
  if (Array.isArray(v)) return v.map((x) => evaluateStrings(x, vars));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, evaluateStrings(x, vars)]));
  return v;
}

/** HCL jobspec → Job JSON (not canonicalized). Throws JobspecError with HCL diagnostics. */
export async function hclToJob(hcl: string, variables?: string): Promise<Json> {
  let doc: Body;
  try {
    doc = (await parseHcl(PARSE_PATH, hcl)) as Body;
  } catch (err) {
    throw new JobspecError(String((err as Error).message ?? err).replace(/^parse config: /, ''));
  }
  // The syntax is valid; now what gohcl's decoding into the api structs refuses.
  const diags = checkJobspecSchema(hcl);
  if (diags.length > 0) throw new JobspecError(diagnosticsText(PARSE_PATH, diags));
  const vars: Record<string, unknown> = {};
  for (const [name, decl] of Object.entries((doc.variable as Body | undefined) ?? {})) {
    const d = first(decl);
    if (d && 'default' in d) vars[name] = d.default;
  }
  if (variables && variables.trim() !== '') {
    try {
      Object.assign(vars, (await parseHcl('vars.hcl', variables)) as Body);
    } catch (err) {
      throw new JobspecError(String((err as Error).message ?? err).replace(/^parse config: /, ''));
    }
  }
  const jobs = Object.entries((doc.job as Body | undefined) ?? {});
  // types.config.go decodeJob: "Missing job block" has no Subject, which fmt prints as <nil>.
  if (jobs.length !== 1) throw new JobspecError(jobs.length === 0 ? '<nil>: Missing job block; A job block is required' : `${PARSE_PATH}:1,1-1: Duplicate job block; Only one job block is allowed`);
  const [id, bodies] = jobs[0]!;
  const j = evaluateStrings(first(bodies) ?? {}, vars) as Body;
  return compact({
    ID: id,
    Name: j.name ?? id,
    Type: j.type,
    Namespace: j.namespace,
    Region: j.region,
    Priority: j.priority,
    Datacenters: j.datacenters,
    NodePool: j.node_pool,
    Meta: stringMap(j.meta) ?? undefined,
    Update: mapUpdate(first(j.update)),
    TaskGroups: Object.entries((j.group as Body | undefined) ?? {}).map(([gn, gb]) => mapGroup(gn, first(gb) ?? {})),
  }) as Json;
}

const SEC = 1e9;

/** api.Job.Canonicalize: fill the defaults Nomad fills (nomad.md §2, §3). Mutates and returns. */
export function canonicalizeJob(job: Json, namespace: string): Json {
  job.Name ??= job.ID;
  job.Namespace = namespace;
  job.Region ??= 'global';
  job.Type ??= 'service';
  job.Priority ??= 50;
  job.NodePool ??= 'default';
  job.AllAtOnce ??= false;
  job.Stop ??= false;
  job.ParentID ??= '';
  job.Periodic ??= null;
  job.ParameterizedJob ??= null;
  job.Meta ??= null;
  if (!Array.isArray(job.Datacenters) || job.Datacenters.length === 0) job.Datacenters = ['*'];
  const isService = job.Type === 'service';
  const jobUpdate = (job.Update as Json | null | undefined) ?? {};
  job.Update = { Stagger: 30 * SEC, MaxParallel: 1, ...jobUpdate };
  for (const g of (job.TaskGroups as Json[] | null | undefined) ?? []) {
    g.Count ??= 1;
    g.Meta ??= null;
    g.Networks ??= null;
    g.Services ??= null;
    g.Consul ??= null;
    g.EphemeralDisk ??= { Sticky: false, Migrate: false, SizeMB: 300 };
    g.RestartPolicy = isService
      ? { Attempts: 2, Interval: 1800 * SEC, Delay: 15 * SEC, Mode: 'fail', RenderTemplates: false, ...((g.RestartPolicy as Json) ?? {}) }
      : { Attempts: 3, Interval: 86400 * SEC, Delay: 15 * SEC, Mode: 'fail', RenderTemplates: false, ...((g.RestartPolicy as Json) ?? {}) };
    g.ReschedulePolicy = isService
      ? { Attempts: 0, Interval: 0, Delay: 30 * SEC, DelayFunction: 'exponential', MaxDelay: 3600 * SEC, Unlimited: true, ...((g.ReschedulePolicy as Json) ?? {}) }
      : { Attempts: 1, Interval: 86400 * SEC, Delay: 5 * SEC, DelayFunction: 'constant', MaxDelay: 0, Unlimited: false, ...((g.ReschedulePolicy as Json) ?? {}) };
    g.Update = isService
      ? {
          Stagger: 30 * SEC,
          MaxParallel: 1,
          HealthCheck: 'checks',
          MinHealthyTime: 10 * SEC,
          HealthyDeadline: 300 * SEC,
          ProgressDeadline: 600 * SEC,
          AutoRevert: false,
          AutoPromote: false,
          Canary: 0,
          ...jobUpdate,
          ...((g.Update as Json) ?? {}),
        }
      : null;
    for (const s of (g.Services as Json[] | null) ?? []) canonicalizeService(s);
    for (const t of (g.Tasks as Json[] | null | undefined) ?? []) {
      t.Config ??= null;
      t.Env ??= null;
      t.Meta ??= null;
      t.Lifecycle ??= null;
      t.Consul ??= null;
      t.Identity ??= null;
      t.Identities ??= null;
      t.Vault = t.Vault ? { Role: '', Namespace: '', Cluster: 'default', Env: true, DisableFile: false, ChangeMode: 'restart', AllowTokenExpiration: false, ...(t.Vault as Json) } : null;
      t.KillTimeout ??= 5 * SEC;
      t.LogConfig ??= { MaxFiles: 10, MaxFileSizeMB: 10, Disabled: false };
      t.Resources = { CPU: 100, Cores: 0, MemoryMB: 300, MemoryMaxMB: 0, ...((t.Resources as Json) ?? {}) };
      t.Templates = ((t.Templates as Json[] | null | undefined) ?? null)?.map((tp) => ({
        SourcePath: '',
        ChangeMode: 'restart',
        ChangeSignal: '',
        Splay: 5 * SEC,
        Perms: '0644',
        LeftDelim: '{{',
        RightDelim: '}}',
        Envvars: false,
        ErrMissingKey: false,
        ...tp,
      })) ?? null;
      t.Services ??= null;
      for (const s of (t.Services as Json[] | null) ?? []) canonicalizeService(s);
    }
  }
  return job;
}

function canonicalizeService(s: Json) {
  s.Provider ||= 'consul';
  s.Tags ??= null;
  s.Meta ??= null;
  s.AddressMode ??= 'auto';
  s.Checks ??= null;
  for (const c of (s.Checks as Json[] | null) ?? []) {
    c.Name ??= '';
    c.Path ??= '';
    c.Interval ??= 0;
    c.Timeout ??= 0;
  }
}

/** go-multierror's ListFormatFunc. */
function multierror(errors: string[]): string {
  const points = errors.map((e) => `* ${e}`);
  return `${errors.length} error${errors.length === 1 ? '' : 's'} occurred:\n\t${points.join('\n\t')}\n\n`;
}

const serviceNameRe = /^(?:[a-z0-9]|[a-z0-9][a-z0-9-]{0,61}[a-z0-9])$/i;

function validateServices(services: Json[] | null | undefined, errs: string[]) {
  (services ?? []).forEach((s, i) => {
    const problems: string[] = [];
    const name = String(s.Name ?? '');
    if (!serviceNameRe.test(name)) problems.push(`Service name must be valid per RFC 1123 and can contain only alphanumeric characters or dashes: "${name}"`);
    if (s.Provider !== 'consul' && s.Provider !== 'nomad') problems.push(`Service provider must be one of "consul" or "nomad"`);
    for (const c of (s.Checks as Json[] | null) ?? []) {
      if ((c.Type === 'http' || c.Type === 'tcp') && !((c.Interval as number) > 0)) problems.push(`Check ${String(c.Name)} invalid: missing required value interval. Interval cannot be less than 1s`);
    }
    if (problems.length) errs.push(`Service[${i}] ${name} validation failed: ${multierror(problems)}`);
  });
}

/** nomad/structs/workload_id.go WorkloadIdentity.Validate, as a go-multierror text; null when valid. */
function identityProblems(wi: Json): string | null {
  const errs: string[] = [];
  const name = String(wi.Name ?? '');
  if (!/^[a-zA-Z0-9-_]{1,128}$/.test(name)) errs.push(`invalid name "${name}". Must match regex ^[a-zA-Z0-9-_]{1,128}$`);
  ((wi.Audience as string[] | null) ?? []).forEach((aud, i) => {
    if (aud === '') errs.push(`an empty string is an invalid audience (${i + 1})`);
  });
  const mode = String(wi.ChangeMode ?? '');
  if (mode === '' || mode === 'noop' || mode === 'restart') {
    if (wi.ChangeSignal) errs.push('can only use change_signal="signal" with change_mode="signal"');
  } else if (mode === 'signal') {
    if (!wi.ChangeSignal) errs.push('change_signal must be specified when using change_mode="signal"');
  } else errs.push(`invalid change_mode: ${mode}`);
  const ttl = (wi.TTL as number | undefined) ?? 0;
  if (ttl > 0 && (name === '' || name === 'default')) errs.push('ttl for default identity not yet supported');
  if (ttl < 0) errs.push('ttl must be >= 0');
  if (wi.Filepath && !wi.File) errs.push('file parameter must be true in order to specify filepath');
  return errs.length ? multierror(errs) : null;
}

/**
 * structs.Job.Validate as the register RPC applies it; returns the go-multierror text of
 * the failures (HTTP 500) or null. Service Meta keys are NOT checked here: Nomad accepts
 * them and the Consul registration fails at run time (see cluster.ts).
 */
export function validateJob(job: Json): string | null {
  const errs: string[] = [];
  // nomad/structs/structs.go Job.Validate: ID then Name, each an if/else-if chain.
  const id = String(job.ID ?? '');
  if (id === '') errs.push('Missing job ID');
  else if (id.includes(' ')) errs.push('Job ID contains a space');
  else if (id.includes('\0')) errs.push('Job ID contains a null character');
  const name = String(job.Name ?? '');
  if (name === '') errs.push('Missing job name');
  else if (name.includes('\0')) errs.push('Job Name contains a null character');
  if (!['service', 'batch', 'system', 'sysbatch'].includes(String(job.Type))) errs.push(`Invalid job type: "${String(job.Type)}"`);
  const prio = job.Priority as number;
  if (prio < 1 || prio > 100) errs.push('Job priority must be between [1, 100]');
  const groups = (job.TaskGroups as Json[] | null | undefined) ?? [];
  if (groups.length === 0) errs.push('Missing job task groups');
  const seenGroups = new Map<string, number>();
  groups.forEach((g, gi) => {
    const gname = String(g.Name ?? '');
    const prev = seenGroups.get(gname);
    if (prev !== undefined) errs.push(`Job task group ${gi + 1} redefines '${gname}' from group ${prev + 1}`);
    else seenGroups.set(gname, gi);
    const gerrs: string[] = [];
    if (gname === '') gerrs.push('Missing task group name');
    if ((g.Count as number) < 0) gerrs.push("Task group count can't be negative");
    const tasks = (g.Tasks as Json[] | null | undefined) ?? [];
    if (tasks.length === 0) gerrs.push('Missing tasks for task group');
    else if (tasks.every((t) => t.Lifecycle && (t.Lifecycle as Json).Hook)) gerrs.push('Must have at least one non-lifecycle (main) task in the task group');
    validateServices(g.Services as Json[] | null, gerrs);
    const seenTasks = new Map<string, number>();
    tasks.forEach((t, ti) => {
      const tname = String(t.Name ?? '');
      const prevT = seenTasks.get(tname);
      if (prevT !== undefined) gerrs.push(`Task ${ti + 1} redefines '${tname}' from task ${prevT + 1}`);
      else seenTasks.set(tname, ti);
      const terrs: string[] = [];
      if (tname === '') terrs.push('Missing task name');
      if (/[/\0]/.test(tname)) terrs.push('Task name cannot include slashes or null characters');
      if (!t.Driver) terrs.push('Missing task driver');
      const hook = (t.Lifecycle as Json | null)?.Hook;
      if (t.Lifecycle && !['prestart', 'poststart', 'poststop'].includes(String(hook))) terrs.push(`invalid hook: ${String(hook)}`);
      const dests = new Map<string, number>();
      ((t.Templates as Json[] | null) ?? []).forEach((tp, i) => {
        const tperrs: string[] = [];
        if (!tp.SourcePath && !tp.EmbeddedTmpl) tperrs.push('Must specify a source path or have an embedded template');
        if (!tp.DestPath) tperrs.push('Must specify a destination for the template');
        if (!['restart', 'signal', 'noop', 'script'].includes(String(tp.ChangeMode))) tperrs.push('Invalid change mode specified');
        if (tperrs.length) terrs.push(`Template ${i + 1} validation failed: ${multierror(tperrs)}`);
        const other = dests.get(String(tp.DestPath));
        if (other !== undefined) terrs.push(`Template ${i + 1} has same destination as ${other}`);
        else dests.set(String(tp.DestPath), i + 1);
      });
      validateServices(t.Services as Json[] | null, terrs);
      // nomad/structs/structs.go Task.Validate → workload_id.go WorkloadIdentity.Validate.
      if (t.Identity) {
        const problem = identityProblems(t.Identity as Json);
        if (problem) terrs.push(`Identity "${String((t.Identity as Json).Name ?? '')}" is invalid: ${problem}`);
      }
      for (const wid of (t.Identities as Json[] | null) ?? []) {
        if (wid.Name === 'default') terrs.push('Duplicate default identities found');
        const problem = identityProblems(wid);
        if (problem) terrs.push(`Identity "${String(wid.Name ?? '')}" is invalid: ${problem}`);
      }
      if (terrs.length) gerrs.push(`Task ${tname} validation failed: ${multierror(terrs)}`);
    });
    if (gerrs.length) errs.push(`Task group ${gname} validation failed: ${multierror(gerrs)}`);
  });
  return errs.length ? multierror(errs) : null;
}

// Whether a new job version replaces a group's allocations (destructive) or updates them
// in place — the scheduler's tasksUpdated (hashicorp/nomad scheduler/util.go), for the
// fields the emulator's jobs carry. Pure: two job versions in, a reason or null out.
/** Job JSON as the emulator stores it (cluster.ts Json; not imported, so no import circle). */
type Json = Record<string, unknown>;

/** A stable JSON text (sorted keys, undefined dropped, null ≡ absent) for deep comparison. */
export function stableStringify(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Json;
    return `{${Object.keys(o)
      .sort()
      .filter((k) => o[k] !== undefined && o[k] !== null)
      .map((k) => `${JSON.stringify(k)}:${stableStringify(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

const same = (a: unknown, b: unknown) => stableStringify(a ?? null) === stableStringify(b ?? null);
const groupsOf = (job: Json) => (job.TaskGroups as Json[] | null) ?? [];
const tasksOf = (group: Json) => (group.Tasks as Json[] | null) ?? [];
/** Go's maps.Equal treats a nil and an empty map alike. */
const mapOf = (v: unknown) => (v && typeof v === 'object' ? (v as Record<string, string>) : {});

/** structs.Job.CombinedTaskMeta: task meta over group meta over job meta. */
function combinedTaskMeta(job: Json, group: Json, task: Json): Record<string, string> {
  return { ...mapOf(job.Meta), ...mapOf(group.Meta), ...mapOf(task.Meta) };
}

/** scheduler/util.go networkPortMap: a dynamic port's value is disregarded. */
function portMap(networks: unknown): unknown {
  return ((networks as Json[] | null) ?? []).map((n) => ({
    Mode: n.Mode ?? '',
    MBits: n.MBits ?? 0,
    Hostname: n.Hostname ?? '',
    DNS: n.DNS ?? null,
    Ports: [
      ...((n.ReservedPorts as Json[] | null) ?? []).map((p) => ({ Label: p.Label, Value: p.Value, To: p.To ?? 0, HostIP: p.HostNetwork ?? '' })),
      ...((n.DynamicPorts as Json[] | null) ?? []).map((p) => ({ Label: p.Label, Value: -1, To: p.To ?? 0, HostIP: p.HostNetwork ?? '' })),
    ],
  }));
}

/** scheduler/util.go consulUpdated: namespace always; cluster/partition only when both are set. */
function consulUpdated(a: Json | null | undefined, b: Json | null | undefined): string | null {
  if ((a?.Namespace ?? '') !== (b?.Namespace ?? '')) return 'consul namespace';
  if (a && b && ((a.Cluster ?? '') !== (b.Cluster ?? '') || (a.Partition ?? '') !== (b.Partition ?? ''))) return 'consul cluster';
  return null;
}

const renderTemplates = (policy: unknown) => !!(policy as Json | null)?.RenderTemplates;

/**
 * scheduler/util.go tasksUpdated: the first difference that makes an update of `group`
 * from `older` to `newer` destructive, or null when its allocations update in place
 * (services, tags, count, update strategy and the like).
 */
export function destructiveChange(older: Json, newer: Json, groupName: string): string | null {
  const a = groupsOf(older).find((g) => g.Name === groupName);
  const b = groupsOf(newer).find((g) => g.Name === groupName);
  if (!a || !b) return 'task group';
  if (tasksOf(a).length !== tasksOf(b).length) return 'number of tasks';
  if (!same(a.EphemeralDisk, b.EphemeralDisk)) return 'ephemeral disk';
  if (!same(portMap(a.Networks), portMap(b.Networks))) return 'network';
  const groupConsul = consulUpdated(a.Consul as Json | null, b.Consul as Json | null);
  if (groupConsul) return groupConsul;
  if (renderTemplates(a.RestartPolicy) !== renderTemplates(b.RestartPolicy)) return 'group restart render_templates';
  for (const at of tasksOf(a)) {
    const bt = tasksOf(b).find((t) => t.Name === at.Name);
    if (!bt) return 'task deleted';
    if (at.Driver !== bt.Driver) return 'task driver';
    if ((at.User ?? '') !== (bt.User ?? '')) return 'task user';
    if (!same(at.Config, bt.Config)) return 'task config';
    if (!same(mapOf(at.Env), mapOf(bt.Env))) return 'task env';
    if (!same(at.Vault, bt.Vault)) return 'task vault';
    const taskConsul = consulUpdated(at.Consul as Json | null, bt.Consul as Json | null);
    if (taskConsul) return taskConsul;
    if (!same(at.Templates, bt.Templates)) return 'task templates';
    if (!same(combinedTaskMeta(older, a, at), combinedTaskMeta(newer, b, bt))) return 'task meta';
    const ra = (at.Resources as Json | null) ?? {};
    const rb = (bt.Resources as Json | null) ?? {};
    if (!same(portMap(ra.Networks), portMap(rb.Networks))) return 'task network';
    for (const field of ['CPU', 'Cores', 'MemoryMB', 'MemoryMaxMB']) if ((ra[field] ?? 0) !== (rb[field] ?? 0)) return `task ${field}`;
    if (!same(at.Identity, bt.Identity) || !same(at.Identities, bt.Identities)) return 'task identity';
    if (!!(at.LogConfig as Json | null)?.Disabled !== !!(bt.LogConfig as Json | null)?.Disabled) return 'task log disabled';
    if (renderTemplates(at.RestartPolicy) !== renderTemplates(bt.RestartPolicy)) return 'task restart render_templates';
  }
  return null;
}

// Nomad's workload identities, as the job register admission hook gives them to tasks
// (hashicorp/nomad nomad/job_endpoint_hook_implicit_identities.go) and as the client
// picks them to log into Consul and Vault (client/allocrunner/consul_hook.go
// prepareConsulTokensForTask; taskrunner vault hook). The consul-template simulation
// asks `taskIdentity` which identity a task's template may use. Pure.
/** Job JSON as the emulator stores it (cluster.ts Json; not imported, so no import circle). */
type Json = Record<string, unknown>;

/** The servers' `vault.default_identity` and `consul.task_identity` (absent by default). */
export interface IdentityDefaults {
  vault?: Json | null;
  consulTask?: Json | null;
}

const tasksOf = (group: Json) => (group.Tasks as Json[] | null) ?? [];
const VERSION_CONSTRAINT = { LTarget: '${attr.nomad.version}', RTarget: '>= 1.7.0-a', Operand: 'semver' };

/** structs.Vault.IdentityName: "vault_" + cluster ("default" after canonicalize). */
function vaultIdentityName(task: Json): string | null {
  const vault = task.Vault as Json | null | undefined;
  return vault ? `vault_${(vault.Cluster as string) || 'default'}` : null;
}

/**
 * structs.Consul.IdentityName of the task's, else its group's, consul block:
 * "consul_" + cluster (ConsulDefaultCluster "default"); null when neither has one.
 */
function consulIdentityName(group: Json, task: Json): string | null {
  const consul = (task.Consul as Json | null | undefined) ?? (group.Consul as Json | null | undefined);
  return consul ? `consul_${(consul.Cluster as string) || 'default'}` : null;
}

/** Every identity a task carries: the default one (Task.Identity) and the named ones. */
export function taskIdentities(task: Json): Json[] {
  return [...(task.Identity ? [task.Identity as Json] : []), ...((task.Identities as Json[] | null) ?? [])];
}

/** structs.Task.GetIdentity. */
function taskIdentity(task: Json, name: string): Json | undefined {
  return taskIdentities(task).find((w) => w.Name === name);
}

/**
 * The identity the client logs into Consul with for this task's templates
 * (consul_hook.go: the task's "consul_<cluster>" identity; none → no token, and under
 * Consul ACLs default deny a template's `service`/`key` lookups come back empty).
 */
export function consulTemplateIdentity(group: Json, task: Json): Json | undefined {
  const consul = (task.Consul as Json | null | undefined) ?? (group.Consul as Json | null | undefined);
  return taskIdentity(task, `consul_${(consul?.Cluster as string) || 'default'}`);
}

/** The identity the task logs into Vault with; none → the task cannot get a Vault token. */
export function vaultTemplateIdentity(task: Json): Json | undefined {
  const name = vaultIdentityName(task);
  return name ? taskIdentity(task, name) : undefined;
}

/**
 * The register hook (Mutate): a task with a vault block gets "vault_<cluster>" from the
 * servers' default unless it declares one; a task whose task or group has a consul block
 * gets "consul_<cluster>" likewise; without a server default nothing is added. Groups
 * with any identity get the client version constraint. Mutates and returns the job.
 */
export function applyImplicitIdentities(job: Json, defaults: IdentityDefaults = {}): Json {
  for (const group of (job.TaskGroups as Json[] | null) ?? []) {
    let hasIdentity = false;
    for (const task of tasksOf(group)) {
      const add = (name: string | null, fallback: Json | null | undefined) => {
        if (!name || taskIdentity(task, name) || !fallback) return;
        task.Identities = [...((task.Identities as Json[] | null) ?? []), { ...structuredClone(fallback), Name: name }];
      };
      add(consulIdentityName(group, task), defaults.consulTask);
      add(vaultIdentityName(task), defaults.vault);
      hasIdentity ||= ((task.Identities as Json[] | null) ?? []).length > 0;
    }
    const constraints = (group.Constraints as Json[] | null) ?? [];
    const present = constraints.some((c) => c.LTarget === VERSION_CONSTRAINT.LTarget && c.RTarget === VERSION_CONSTRAINT.RTarget);
    // implicitIdentityClientVersionConstraint (once: a job read back and registered again keeps one)
    if (hasIdentity && !present) group.Constraints = [...constraints, { ...VERSION_CONSTRAINT }];
  }
  return job;
}

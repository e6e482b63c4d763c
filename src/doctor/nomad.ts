// Nomad preconditions: a leader, the token's capabilities in previewd's namespace, and
// a sample PR's rendered jobs through Nomad's own validation (/v1/jobs/parse) and its
// scheduler's dry run (/v1/job/:id/plan). Plan registers nothing: that is the point.
import { parse as parseHcl } from '@cdktf/hcl2json';
import type { Config } from '../config/schema.js';
import type { EnvironmentKey } from '../environments/naming.js';
import { renderEnvironment } from '../templates/render.js';
import { answerText, createProbe } from './http.js';
import { fail, pass, type CheckResult, type Probe } from './types.js';
import { configuredRepo } from '../config/repos.js';

/** What previewd does in its namespace: register and stop jobs, read them, list them for GC, parse. */
const NOMAD_CAPABILITIES = ['submit-job', 'read-job', 'list-jobs', 'parse-job'];

// hashicorp/nomad acl/policy.go expandNamespacePolicy: what `policy = "read"|"write"` grants.
const READ = ['list-jobs', 'parse-job', 'read-job', 'csi-list-volume', 'csi-read-volume', 'read-job-scaling', 'list-scaling-policies', 'read-scaling-policy', 'host-volume-read'];
const WRITE = [...READ, 'scale-job', 'submit-job', 'dispatch-job', 'read-logs', 'read-fs', 'alloc-exec', 'alloc-lifecycle', 'csi-mount-volume', 'csi-write-volume', 'submit-recommendation', 'host-volume-create'];

/** A namespace's capabilities from policies' rules (exact namespace rule, else the closest glob; deny wins). Pure. */
export async function namespaceCapabilities(rules: string[], namespace: string): Promise<Set<string>> {
  const merged = new Map<string, Set<string>>();
  for (const [i, text] of rules.entries()) {
    const parsed = (await parseHcl(`policy${i}.hcl`, text)) as { namespace?: Record<string, Record<string, unknown>[]> };
    for (const [pattern, blocks] of Object.entries(parsed.namespace ?? {})) {
      const set = merged.get(pattern) ?? new Set<string>();
      for (const b of blocks) {
        const p = b['policy'];
        if (p === 'deny') set.add('deny');
        for (const c of p === 'read' ? READ : p === 'write' ? WRITE : []) set.add(c);
        if (Array.isArray(b['capabilities'])) for (const c of b['capabilities']) set.add(String(c));
      }
      merged.set(pattern, set);
    }
  }
  let caps = merged.get(namespace);
  if (!caps) {
    let best = -1;
    for (const [pattern, set] of merged) {
      if (!pattern.includes('*')) continue;
      const re = new RegExp(`^${pattern.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
      const len = pattern.replace(/\*/g, '').length;
      if (re.test(namespace) && len > best) [best, caps] = [len, set];
    }
  }
  return caps?.has('deny') ? new Set(['deny']) : (caps ?? new Set());
}

/** Nomad 1.10 gives tasks Vault and Consul tokens only through workload identities, as previewd's templates declare them. */
export function judgeNomadVersion(v: string | null): CheckResult {
  if (v === null) return pass('nomad.version', 'not visible to the token (agent:read); previewd needs Nomad 1.10 or newer');
  const [major = 0, minor = 0] = v.split('.').map(Number);
  return major > 1 || (major === 1 && minor >= 10)
    ? pass('nomad.version', `Nomad ${v}`)
    : fail('nomad.version', `Nomad ${v}: previewd's jobs use workload identities for Vault and Consul as Nomad 1.10 does`, 'upgrade the Nomad servers and clients to 1.10 or newer');
}

async function version(http: Probe): Promise<CheckResult> {
  const self = await http('/v1/agent/self');
  const v = self.status === 200 ? ((self.body as { config?: { Version?: { Version?: string } } }).config?.Version?.Version ?? null) : null;
  return judgeNomadVersion(v);
}

/**
 * What previewd's token needs: the jobs, and with an e2e gate the test jobs' logs
 * (command/agent/fs_endpoint.go: /v1/client/fs/logs needs read-logs, or read-fs).
 */
export function nomadCapabilities(config: Pick<Config, 'repos'>): string[] {
  return config.repos.some((r) => r.e2e) ? [...NOMAD_CAPABILITIES, 'read-logs'] : NOMAD_CAPABILITIES;
}

const policyFix = (ns: string, needed: string[]) => `nomad acl policy apply previewd previewd.hcl with: namespace "${ns}" { capabilities = [${needed.map((c) => `"${c}"`).join(', ')}] }, and attach it to NOMAD_TOKEN`;

async function token(http: Probe, ns: string, needed: string[]): Promise<CheckResult> {
  const check = 'nomad.token';
  const self = await http('/v1/acl/token/self');
  if (self.status !== 200 && typeof self.body === 'string' && self.body.includes('ACL support disabled')) {
    return pass(check, 'ACLs are off: every request is allowed (turn them on for a shared cluster)');
  }
  if (self.status !== 200) return fail(check, `/v1/acl/token/self: ${answerText(self)}`, 'set NOMAD_TOKEN to a valid token (nomad acl token create -name previewd -policy previewd)');
  const t = self.body as { Name?: string; Type?: string; Policies?: string[] | null };
  if (t.Type === 'management') return pass(check, `management token ${t.Name ?? ''}: every capability (a client token with only previewd's policy is enough)`);
  const rules: string[] = [];
  for (const name of t.Policies ?? []) {
    const p = await http(`/v1/acl/policy/${encodeURIComponent(name)}`);
    if (p.status === 200) rules.push(String((p.body as { Rules?: string }).Rules ?? ''));
  }
  const caps = await namespaceCapabilities(rules, ns);
  const missing = needed.filter((c) => !caps.has(c) && !(c === 'parse-job' && caps.has('submit-job')) && !(c === 'read-logs' && caps.has('read-fs')));
  if (missing.length > 0) return fail(check, `token ${t.Name ?? ''} (policies: ${(t.Policies ?? []).join(', ') || 'none'}) lacks ${missing.join(', ')} in namespace ${ns}`, policyFix(ns, needed));
  return pass(check, `token ${t.Name ?? ''} may ${needed.join(', ')} in namespace ${ns}`);
}

interface PlanAnswer {
  FailedTGAllocs?: Record<string, { NodesEvaluated?: number; ConstraintFiltered?: Record<string, number> | null; DimensionExhausted?: Record<string, number> | null; ClassExhausted?: Record<string, number> | null }> | null;
}

function placementProblems(plan: PlanAnswer): string[] {
  return Object.entries(plan.FailedTGAllocs ?? {}).map(([group, m]) => {
    const reasons = [m.ConstraintFiltered, m.DimensionExhausted, m.ClassExhausted].flatMap((r) => Object.entries(r ?? {}).map(([k, n]) => `${k} (${n})`));
    return `group ${group} cannot be placed on ${m.NodesEvaluated ?? 0} evaluated node(s)${reasons.length ? `: ${reasons.join(', ')}` : ''}`;
  });
}

async function jobs(http: Probe, config: Config, key: EnvironmentKey, sha: string, ns: string): Promise<CheckResult[]> {
  let rendered;
  try {
    rendered = await renderEnvironment(config, key, sha);
  } catch (err) {
    return [fail('nomad.render', `the job templates of ${key.repo} do not render: ${(err as Error).message}`, 'previewd templates check, then fix the templates')];
  }
  const results: CheckResult[] = [];
  for (const c of rendered) {
    const check = `nomad.job ${c.component}`;
    const parsed = await http(`/v1/jobs/parse?namespace=${encodeURIComponent(ns)}`, { method: 'POST', body: { JobHCL: c.hcl, Canonicalize: true } });
    if (parsed.status !== 200) {
      results.push(fail(check, `Nomad refuses the rendered job ${c.jobId}: ${answerText(parsed)}`, `previewd render --repo ${key.repo} --pr ${key.pr} --sha ${sha} shows the HCL; fix the ${c.component} template`));
      continue;
    }
    const plan = await http(`/v1/job/${encodeURIComponent(c.jobId)}/plan?namespace=${encodeURIComponent(ns)}`, { method: 'POST', body: { Job: parsed.body, Diff: false } });
    if (plan.status !== 200) {
      results.push(fail(check, `plan of ${c.jobId}: ${answerText(plan)}`, 'fix what Nomad names (templates, namespace, or the token for submit-job)'));
      continue;
    }
    const problems = placementProblems(plan.body as PlanAnswer);
    results.push(
      problems.length > 0
        ? fail(check, `${c.jobId} would not be placed: ${problems.join('; ')}`, 'add client capacity or relax the template\'s constraints and resources, or check nomad.datacenters')
        : pass(check, `${c.jobId} parses and plans (placement dry run, nothing registered)`),
    );
  }
  return results;
}

export async function checkNomad(config: Config, key: EnvironmentKey, sha: string): Promise<CheckResult[]> {
  const { env } = config;
  const http = createProbe(env.NOMAD_ADDR, env.NOMAD_TOKEN ? { 'x-nomad-token': env.NOMAD_TOKEN } : {});
  const leader = await http('/v1/status/leader');
  if (leader.status !== 200 || typeof leader.body !== 'string' || leader.body === '') {
    return [fail('nomad.leader', leader.status === 200 ? 'no cluster leader' : answerText(leader), 'check NOMAD_ADDR and that the servers have a leader (nomad server members)')];
  }
  const results = [pass('nomad.leader', `leader ${leader.body}`), await version(http), await token(http, env.NOMAD_NAMESPACE, nomadCapabilities(config))];
  // No repository, no templates to try (github.repos names that).
  return configuredRepo(config, key.repo) ? [...results, ...(await jobs(http, config, key, sha, env.NOMAD_NAMESPACE))] : results;
}

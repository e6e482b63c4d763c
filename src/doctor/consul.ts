// Consul preconditions: a leader, and what previewd's token may do on a sample PR's
// services: read them and their nodes (routing checks, teardown waits) and write them
// (removing leftovers of gone allocations through their agent). Asked through
// /v1/internal/acl/authorize (agent/acl_endpoint.go ACLAuthorize), which answers the
// same authorizer decisions the real endpoints make, without making a change.
import type { Config } from '../config/schema.js';
import { requiredConsulPolicy } from '../consul/policy.js';
import { answerText, createProbe } from './http.js';
import { fail, pass, type CheckResult } from './types.js';

/** The policy of README "Consul ACL token", from the one place that renders it, on one line. */
const policyFix = (repos: string[]) =>
  `consul acl policy create -name previewd -rules '${requiredConsulPolicy(repos).split('\n').filter((l) => !l.startsWith('#')).join(' ')}', attached to CONSUL_HTTP_TOKEN (README "Consul ACL token")`;

export async function checkConsul(config: Config, sampleService: string): Promise<CheckResult[]> {
  const fix = policyFix(config.repos.map((r) => r.name));
  const { env } = config;
  const base = /^https?:\/\//.test(env.CONSUL_HTTP_ADDR) ? env.CONSUL_HTTP_ADDR : `http://${env.CONSUL_HTTP_ADDR}`;
  const http = createProbe(base, env.CONSUL_HTTP_TOKEN ? { 'x-consul-token': env.CONSUL_HTTP_TOKEN } : {});
  const leader = await http('/v1/status/leader');
  if (leader.status !== 200 || typeof leader.body !== 'string' || leader.body === '') {
    return [fail('consul.leader', leader.status === 200 ? 'no cluster leader' : answerText(leader), 'check CONSUL_HTTP_ADDR and that the servers have a leader (consul operator raft list-peers)')];
  }
  const results: CheckResult[] = [pass('consul.leader', `leader ${leader.body}`)];
  const self = await http('/v1/acl/token/self');
  const disabled = self.status !== 200 && typeof self.body === 'string' && self.body.includes('ACL support disabled');
  if (disabled) {
    results.push(pass('consul.token', 'ACLs are off: every request is allowed'));
    return results;
  }
  if (self.status !== 200) {
    results.push(fail('consul.token', `/v1/acl/token/self: ${answerText(self)}`, 'set CONSUL_HTTP_TOKEN to a valid token (consul acl token create -description previewd -policy-name previewd)'));
    return results;
  }
  const t = self.body as { Description?: string; Policies?: { Name?: string }[] | null };
  results.push(pass('consul.token', `token "${t.Description ?? ''}" (policies: ${(t.Policies ?? []).map((p) => p.Name).join(', ') || 'none'})`));
  const asks = [
    { Resource: 'service', Segment: sampleService, Access: 'read' },
    { Resource: 'node', Segment: 'any-node', Access: 'read' },
    { Resource: 'service', Segment: sampleService, Access: 'write' },
  ];
  const auth = await http('/v1/internal/acl/authorize', { method: 'POST', body: asks });
  if (auth.status !== 200 || !Array.isArray(auth.body)) {
    results.push(fail('consul.rights', `/v1/internal/acl/authorize: ${answerText(auth)}`, 'check CONSUL_HTTP_TOKEN'));
    return results;
  }
  const allowed = (auth.body as { Allow?: boolean }[]).map((a) => a.Allow === true);
  const missing = [!allowed[0] && `service:read on ${sampleService}`, !allowed[1] && 'node:read'].filter((x): x is string => !!x);
  if (missing.length > 0) {
    results.push(fail('consul.rights', `the token lacks ${missing.join(' and ')}: routing checks and teardown cannot see the PR's services`, fix));
  } else if (!allowed[2]) {
    results.push(fail('consul.rights', `service:write on ${sampleService} is missing: teardown cannot remove leftovers of gone allocations`, fix));
  } else {
    results.push(pass('consul.rights', `service read and write on ${sampleService}, node read`));
  }
  return results;
}

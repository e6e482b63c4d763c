// The emulator's Consul ACL model against the rules of hashicorp/consul acl/policy*.go:
// exact beats prefix, longest prefix wins, deny wins a merge, default deny.
import { describe, expect, it } from 'vitest';
import { AclRulesError, createConsulAcl, mergeRules, parseAclRules, permissionDeniedText, policyAuthorizer } from '../../src/sandbox/emulators/consul-acl.js';

describe('consul ACL rules', () => {
  it('when a service has an exact rule and prefix rules then the exact rule wins, else the longest prefix, else the default', async () => {
    const rules = await parseAclRules(`
      service_prefix "" { policy = "read" }
      service_prefix "shop-pr-" { policy = "write" }
      service_prefix "shop-pr-9" { policy = "deny" }
      service "shop-pr-90-api" { policy = "read" }
    `);
    const authz = policyAuthorizer(rules, 'deny', 'a-1');
    expect(authz.serviceWrite('shop-pr-1-api')).toBe(true);
    expect(authz.serviceRead('shop-pr-91-api')).toBe(false); // deny prefix, longer than "shop-pr-"
    expect(authz.serviceRead('shop-pr-90-api')).toBe(true); // exact beats the deny prefix
    expect(authz.serviceWrite('shop-pr-90-api')).toBe(false);
    expect(authz.serviceRead('billing')).toBe(true);
    expect(authz.serviceWrite('billing')).toBe(false);
    expect(authz.nodeRead('client-1')).toBe(false); // no node rule: default deny
    expect(policyAuthorizer(rules, 'allow', 'a-1').nodeRead('client-1')).toBe(true);
  });

  it('when policies are merged then deny beats write beats list beats read per segment', async () => {
    const a = await parseAclRules('key_prefix "app/" { policy = "read" }\nservice "web" { policy = "write" }');
    const b = await parseAclRules('key_prefix "app/" { policy = "list" }\nservice "web" { policy = "deny" }');
    const authz = policyAuthorizer(mergeRules([a, b]), 'deny', 'x');
    expect(authz.keyList('app/x')).toBe(true);
    expect(authz.keyWrite('app/x')).toBe(false);
    expect(authz.serviceRead('web')).toBe(false);
  });

  it('when rules are malformed or use an unknown level then Consul refuses them', async () => {
    await expect(parseAclRules('service "web" { policy = "admin" }')).rejects.toThrow(new AclRulesError('Invalid service policy for "web": "admin"'));
    await expect(parseAclRules('service "web" { policy = "list" }')).rejects.toThrow(/Invalid service policy/);
    await expect(parseAclRules('service_prefix "" { policy = ')).rejects.toThrow(/^Failed to parse ACL rules: /);
    await expect(parseAclRules('nodes "x" { policy = "read" }')).rejects.toThrow(/Failed to parse ACL rules/);
    expect((await parseAclRules('key "k" { policy = "list" }')).segments.key.exact.get('k')).toBe('list');
  });

  it('when tokens are resolved then unknown secrets are null, no secret is anonymous, management may do anything', async () => {
    const acl = createConsulAcl();
    expect(acl.authorizer('whatever')!.serviceWrite('x')).toBe(true); // ACLs disabled
    acl.enable();
    expect(acl.defaultPolicy).toBe('deny');
    await acl.createPolicy('ro', 'service_prefix "" { policy = "read" }\nnode_prefix "" { policy = "read" }');
    const ro = await acl.createToken({ policies: ['ro'], description: 'read-only' });
    const mgmt = await acl.createToken({ management: true });
    const svc = await acl.createToken({ serviceIdentities: ['web'] });
    expect(acl.authorizer('nope')).toBeNull();
    expect(acl.authorizer(undefined)!.accessorId).toBe('anonymous');
    expect(acl.authorizer(undefined)!.serviceRead('web')).toBe(false);
    expect(acl.authorizer(ro.SecretID)!.serviceRead('web')).toBe(true);
    expect(acl.authorizer(ro.SecretID)!.serviceWrite('web')).toBe(false);
    expect(acl.authorizer(mgmt.SecretID)!.aclWrite()).toBe(true);
    expect(acl.authorizer(mgmt.SecretID)!.nodeWrite('client-1')).toBe(true);
    // agent/structs/acl_ce.go: a service identity writes its service (and sidecar), reads all.
    const id = acl.authorizer(svc.SecretID)!;
    expect([id.serviceWrite('web'), id.serviceWrite('web-sidecar-proxy'), id.serviceWrite('db'), id.serviceRead('db'), id.nodeRead('n')]).toEqual([true, true, false, true, true]);
    expect(acl.token(ro.SecretID)).toMatchObject({ Description: 'read-only', Policies: [{ Name: 'ro' }] });
  });

  it('when a permission is denied then the text names the accessor, the permission and the segment like Consul', () => {
    expect(permissionDeniedText({ accessorId: 'a-1' }, 'service', 'write', 'web')).toBe(`Permission denied: token with AccessorID 'a-1' lacks permission 'service:write' on "web"`);
    expect(permissionDeniedText({ accessorId: 'anonymous' }, 'node', 'write', 'n1')).toBe(
      `Permission denied: anonymous token lacks permission 'node:write' on "n1". The anonymous token is used implicitly when a request does not specify a token.`,
    );
  });
});

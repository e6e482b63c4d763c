// Vault API paths previewd calls, and what each call needs: the one place both the
// client (src/vault/client.ts) and `previewd doctor`'s capability check take them from.
export interface VaultMounts {
  kvMount: string;
  jwtMount: string;
}

export const vaultPaths = {
  secretData: (m: Pick<VaultMounts, 'kvMount'>, path: string) => `${m.kvMount}/data/${path}`,
  secretMetadata: (m: Pick<VaultMounts, 'kvMount'>, path: string) => `${m.kvMount}/metadata/${path}`,
  /** A LIST is ACL-checked on its path with a trailing slash (vault http/logical.go). */
  secretList: (m: Pick<VaultMounts, 'kvMount'>, prefix: string) => `${m.kvMount}/metadata/${prefix}/`,
  policy: (name: string) => `sys/policies/acl/${name}`,
  policyList: () => 'sys/policies/acl',
  jwtRole: (m: Pick<VaultMounts, 'jwtMount'>, name: string) => `auth/${m.jwtMount}/role/${name}`,
  jwtRoleList: (m: Pick<VaultMounts, 'jwtMount'>) => `auth/${m.jwtMount}/role`,
} as const;

/**
 * Every path one environment's reconcile, teardown and GC touch, with the capabilities
 * those calls need (writeSecret: metadata then data, both create or update;
 * destroySecret: DELETE metadata; listSecrets/listPolicies/listJwtRoles: list).
 */
export function requiredCapabilities(m: VaultMounts, names: { vaultPath: string; vaultPolicy: string; vaultRole: string }, listPrefix: string): { path: string; capabilities: string[] }[] {
  return [
    { path: vaultPaths.secretData(m, names.vaultPath), capabilities: ['create', 'read', 'update'] },
    { path: vaultPaths.secretMetadata(m, names.vaultPath), capabilities: ['create', 'read', 'update', 'delete'] },
    { path: vaultPaths.secretList(m, listPrefix), capabilities: ['list'] },
    { path: vaultPaths.policy(names.vaultPolicy), capabilities: ['create', 'read', 'update', 'delete'] },
    { path: `${vaultPaths.policyList()}/`, capabilities: ['list'] },
    { path: vaultPaths.jwtRole(m, names.vaultRole), capabilities: ['create', 'read', 'update', 'delete'] },
    { path: `${vaultPaths.jwtRoleList(m)}/`, capabilities: ['list'] },
  ];
}

// The Consul ACL policy previewd's token needs, for the repositories it serves: the one
// place this fact lives (README "Consul ACL token" shows it for acme/shop, and a test
// holds the two equal and checks the policy against the emulator's ACLs).
import { environmentId } from '../environments/naming.js';

/**
 * Service names are `<env id>-<component>`, env IDs `<repo slug>-pr-<n>`: the prefix is
 * what every env ID of the repo starts with. A long slug is shortened by how many digits
 * the PR number has (naming.ts), so that is the common start of each such variant.
 */
function servicePrefix(repo: string): string {
  const ids = Array.from({ length: 9 }, (_, digits) => environmentId({ repo, pr: 10 ** digits }));
  let prefix = ids[0]!.slice(0, -1); // "<slug>-pr-" for PR 1
  for (const id of ids) while (!id.startsWith(prefix)) prefix = prefix.slice(0, -1);
  return prefix;
}

export function requiredConsulPolicy(repos: string[]): string {
  const services = [...new Set(repos.map(servicePrefix))]
    .sort()
    .map((prefix) => `service_prefix ${JSON.stringify(prefix)} {\n  policy = "write"\n}\n`)
    .join('\n');
  return `# Reading a service instance also needs read on the node it runs on.
node_prefix "" {
  policy = "read"
}

# Read for routing checks and teardown; write to remove leftovers of gone allocations.
${services}`;
}

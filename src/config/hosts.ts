// Which host each routable component of a PR gets, and which host patterns are
// refused. One place for the rule that two repos never get the same hosts: with one
// repo on a domain the short defaults (pr-42.<domain>) stay; as soon as two repos
// share a domain the defaults carry {repo}, and explicit patterns without {repo} are
// refused. (The reconciler still refuses a host another environment holds: a pattern
// check cannot see other previewd instances or hand-made routes.)
import type { FileConfig } from './schema.js';
import { configuredRepo } from './repos.js';

type HostConfig = Pick<FileConfig, 'hostPatterns' | 'baseDomain' | 'repos'>;

const HOST_PLACEHOLDERS = ['{pr}', '{repo}', '{domain}'] as const;

/** Defaults while the repo is alone on its domain. */
const SINGLE_REPO_HOST_PATTERNS: Readonly<Record<string, string>> = { frontend: 'pr-{pr}.{domain}', api: 'api-pr-{pr}.{domain}' };
/** Defaults once another configured repo shares the domain. */
const SHARED_DOMAIN_HOST_PATTERNS: Readonly<Record<string, string>> = { frontend: 'pr-{pr}-{repo}.{domain}', api: 'api-pr-{pr}-{repo}.{domain}' };

export function repoDomain(config: Pick<FileConfig, 'baseDomain' | 'repos'>, repo: string): string {
  return configuredRepo(config, repo)?.baseDomain ?? config.baseDomain;
}

/** Configured repos (by name) whose hosts live under the same domain as `repo`'s, itself included. */
function reposOnDomain(config: Pick<FileConfig, 'baseDomain' | 'repos'>, domain: string): string[] {
  return config.repos.filter((r) => (r.baseDomain ?? config.baseDomain) === domain).map((r) => r.name);
}

export function hostPatternsFor(config: HostConfig, repo: string): Readonly<Record<string, string>> {
  if (config.hostPatterns) return config.hostPatterns;
  return reposOnDomain(config, repoDomain(config, repo)).length > 1 ? SHARED_DOMAIN_HOST_PATTERNS : SINGLE_REPO_HOST_PATTERNS;
}

// A placeholder must be cut off from the text around it ("pr-{pr}-{repo}"): in
// "pr-{pr}{repo}" PR 1 of repo "2x" and PR 12 of repo "x" both give "pr-12x".
const DELIMITED = /(^|[-.])\{(pr|repo)\}(?=$|[-.])/g;

/** Problems with the host patterns, each as "<path>: <what is expected>" (config check prints them). */
export function hostPatternProblems(config: HostConfig): string[] {
  if (!config.hostPatterns) return [];
  const problems: string[] = [];
  const seen = new Map<string, string>();
  for (const [component, pattern] of Object.entries(config.hostPatterns)) {
    const path = `hostPatterns.${component}`;
    const unknown = (pattern.match(/\{[^}]*\}/g) ?? []).filter((p) => !(HOST_PLACEHOLDERS as readonly string[]).includes(p));
    if (unknown.length > 0) problems.push(`${path}: expected only the placeholders ${HOST_PLACEHOLDERS.join(', ')}; found ${unknown.join(', ')}`);
    const placed = (pattern.match(/\{(pr|repo)\}/g) ?? []).length;
    if ((pattern.match(DELIMITED) ?? []).length !== placed) {
      problems.push(`${path}: expected {pr} and {repo} each between "-", "." or the ends of the host (as in "pr-{pr}-{repo}.{domain}"), so no two PRs can spell the same host`);
    }
    const twin = seen.get(pattern);
    if (twin !== undefined) problems.push(`${path}: expected a pattern of its own; ${twin} has the same one, so both would claim one host`);
    seen.set(pattern, path);
  }
  const domains = [...new Set(config.repos.map((r) => r.baseDomain ?? config.baseDomain))];
  for (const [component, pattern] of Object.entries(config.hostPatterns)) {
    if (pattern.includes('{repo}') || config.repos.length < 2) continue;
    if (!pattern.includes('{domain}')) {
      // Neither the repo nor its domain is in the host: every repo spells the same one.
      const all = config.repos.map((r) => r.name).join(' and ');
      problems.push(`hostPatterns.${component}: expected a {repo} placeholder, because PR 1 of ${all} would get the same host from "${pattern}"`);
      continue;
    }
    for (const domain of domains) {
      const sharing = reposOnDomain(config, domain);
      if (sharing.length < 2) continue;
      problems.push(
        `hostPatterns.${component}: expected a {repo} placeholder, because ${sharing.join(' and ')} share the domain ${domain} and PR 1 of each would get the same host from "${pattern}"`,
      );
    }
  }
  return problems;
}

// Checks Consul tags the way Traefik v3's Consul Catalog provider reads them
// (shared/contracts/traefik.md §2, §4, §5, §7). Pure; table-tested.
import { ownValue } from '../own.js';

const NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export interface TagCheckOptions {
  /** The Consul service the tags belong to (Traefik's automatic service is named after it). */
  serviceName: string;
  /** Every router/service/middleware name must embed it (the environment ID). */
  envId: string;
  entrypoints: string[];
  certResolvers: string[];
}

export interface TagSet extends TagCheckOptions {
  tags: string[];
}

/** Traefik's name normalization: non letters/digits become "-", runs collapse, edges trimmed. */
export function normalizeName(name: string): string {
  return name
    .split(/[^\p{L}\p{N}]+/u)
    .filter(Boolean)
    .join('-');
}

// ---- rule grammar (v3) ----------------------------------------------------

const ARITY: Record<string, number[]> = {
  Host: [1],
  HostRegexp: [1],
  Path: [1],
  PathPrefix: [1],
  PathRegexp: [1],
  Method: [1],
  ClientIP: [1],
  Header: [2],
  HeaderRegexp: [2],
  Query: [1, 2],
  QueryRegexp: [2],
};

export interface ParsedRule {
  hosts: string[];
}

/** Parses a v3 rule; returns the Host values, or throws with the reason. */
export function parseRule(rule: string): ParsedRule {
  let i = 0;
  const hosts: string[] = [];
  const ws = () => {
    while (rule[i] === ' ' || rule[i] === '\t') i++;
  };
  const expect = (text: string) => {
    ws();
    if (!rule.startsWith(text, i)) throw new Error(`expected "${text}" at ${i}`);
    i += text.length;
  };
  const value = (): string => {
    ws();
    const quote = rule[i];
    if (quote === '`') {
      const end = rule.indexOf('`', i + 1);
      if (end < 0) throw new Error('unterminated `value`');
      const v = rule.slice(i + 1, end);
      i = end + 1;
      return v;
    }
    if (quote === '"') {
      let v = '';
      i++;
      while (i < rule.length && rule[i] !== '"') {
        if (rule[i] === '\\') i++;
        v += rule[i] ?? '';
        i++;
      }
      if (rule[i] !== '"') throw new Error('unterminated "value"');
      i++;
      return v;
    }
    throw new Error(`expected a value in backticks or double quotes at ${i}`);
  };
  const matcher = () => {
    ws();
    const name = /^[A-Za-z]+/.exec(rule.slice(i))?.[0];
    if (!name) throw new Error(`expected a matcher at ${i}`);
    const arity = ownValue(ARITY, name);
    if (!arity) throw new Error(`unknown matcher ${name}`);
    i += name.length;
    expect('(');
    const args = [value()];
    ws();
    while (rule[i] === ',') {
      i++;
      args.push(value());
      ws();
    }
    expect(')');
    if (!arity.includes(args.length)) throw new Error(`${name} takes ${arity.join(' or ')} value(s) in v3; found ${args.length}`);
    if (name === 'Host') hosts.push(args[0]!);
  };
  const unary = (): void => {
    ws();
    if (rule[i] === '!') {
      i++;
      return unary();
    }
    if (rule[i] === '(') {
      i++;
      or();
      expect(')');
      return;
    }
    matcher();
  };
  const and = () => {
    unary();
    ws();
    while (rule.startsWith('&&', i)) {
      i += 2;
      unary();
      ws();
    }
  };
  const or = () => {
    and();
    ws();
    while (rule.startsWith('||', i)) {
      i += 2;
      and();
      ws();
    }
  };
  or();
  ws();
  if (i !== rule.length) throw new Error(`unexpected text at ${i}`);
  return { hosts };
}

function isValidHost(host: string): boolean {
  return host.length > 0 && host.length <= 253 && host.split('.').every((l) => DNS_LABEL.test(l));
}

// ---- one tag set -------------------------------------------------------------

interface Parsed {
  routers: Map<string, Map<string, string>>;
  services: Set<string>;
  middlewares: Set<string>;
}

function parseTags(tags: string[], problems: string[]): Parsed {
  const parsed: Parsed = { routers: new Map(), services: new Set(), middlewares: new Set() };
  const seen = new Map<string, string>();
  for (const tag of tags) {
    if (!tag.startsWith('traefik.')) continue;
    const eq = tag.indexOf('=');
    if (eq < 0) {
      problems.push(`tag "${tag}": has no "="; Traefik ignores it`);
      continue;
    }
    const key = tag.slice(0, eq);
    const value = tag.slice(eq + 1);
    const lower = key.toLowerCase();
    const before = seen.get(lower);
    if (before !== undefined && before !== value) problems.push(`tag ${key}: given twice with different values`);
    seen.set(lower, value);
    const parts = key.split('.');
    if (lower === 'traefik.enable') {
      if (value !== 'true' && value !== 'false') problems.push(`tag ${key}: expected true or false`);
      continue;
    }
    if (parts[1] === 'consulcatalog') continue;
    const [, proto, kind, name, ...rest] = parts;
    if (!['http', 'tcp', 'udp'].includes(proto ?? '') || !['routers', 'services', 'middlewares'].includes(kind ?? '') || !name || rest.length === 0) {
      problems.push(`tag ${key}: not a Traefik router, service or middleware option`);
      continue;
    }
    if (!NAME.test(name)) problems.push(`tag ${key}: name "${name}" must match ${NAME.source}`);
    if (kind === 'routers') {
      const options = parsed.routers.get(name) ?? new Map<string, string>();
      options.set(rest.join('.').toLowerCase(), value);
      parsed.routers.set(name, options);
    } else if (kind === 'services') parsed.services.add(name);
    else parsed.middlewares.add(name);
  }
  return parsed;
}

const references = (value: string) => value.split(',').map((v) => v.trim()).filter(Boolean);

/** Every problem with one Consul service's tags; empty when Traefik would route them as meant. */
export function checkTraefikTags(tags: string[], options: TagCheckOptions): string[] {
  const problems: string[] = [];
  const parsed = parseTags(tags, problems);
  // Without tag-defined services Traefik creates one named after the Consul service.
  const services = parsed.services.size > 0 ? parsed.services : new Set([normalizeName(options.serviceName)]);
  for (const name of [...parsed.routers.keys(), ...parsed.services, ...parsed.middlewares]) {
    if (!name.includes(options.envId)) problems.push(`name "${name}" does not embed the environment ID ${options.envId}`);
  }
  for (const [router, opts] of parsed.routers) {
    const rule = opts.get('rule');
    if (rule === undefined) problems.push(`router ${router}: has no rule (Traefik's default rule is not a public host)`);
    else {
      try {
        const { hosts } = parseRule(rule);
        for (const host of hosts) if (!isValidHost(host)) problems.push(`router ${router}: Host "${host}" is not a valid lower-case DNS name`);
      } catch (err) {
        problems.push(`router ${router}: rule ${rule}: ${(err as Error).message}`);
      }
    }
    for (const ep of references(opts.get('entrypoints') ?? '')) {
      if (!options.entrypoints.includes(ep)) problems.push(`router ${router}: entrypoint "${ep}" is not configured`);
    }
    const resolver = opts.get('tls.certresolver');
    if (resolver !== undefined && !options.certResolvers.includes(resolver)) problems.push(`router ${router}: cert resolver "${resolver}" is not configured`);
    const service = opts.get('service');
    if (service !== undefined && !service.includes('@') && !services.has(service)) problems.push(`router ${router}: service "${service}" is not defined`);
    if (service === undefined && services.size > 1) problems.push(`router ${router}: names no service while several exist`);
    for (const mw of references(opts.get('middlewares') ?? '')) {
      if (!mw.includes('@') && !parsed.middlewares.has(mw)) problems.push(`router ${router}: middleware "${mw}" is not defined`);
    }
  }
  return problems;
}

/**
 * Problems across the tag sets of many services (several PRs): no two PRs may share
 * a router, service or middleware name or a Host, and every instance of one Consul
 * service must carry the same set.
 */
export function checkTraefikTagSets(sets: TagSet[]): string[] {
  const problems: string[] = [];
  const owners = new Map<string, string>();
  const byService = new Map<string, string>();
  for (const set of sets) {
    problems.push(...checkTraefikTags(set.tags, set).map((p) => `${set.serviceName}: ${p}`));
    const canonical = JSON.stringify([...set.tags].sort());
    const previous = byService.get(set.serviceName);
    if (previous !== undefined && previous !== canonical) problems.push(`${set.serviceName}: instances carry different tag sets`);
    byService.set(set.serviceName, canonical);
    const parsed = parseTags(set.tags, []);
    const claims = [
      ...[...parsed.routers.keys()].map((n) => `router ${n}`),
      ...[...parsed.services].map((n) => `service ${n}`),
      ...[...parsed.middlewares].map((n) => `middleware ${n}`),
      ...[...parsed.routers.values()].flatMap((o) => {
        try {
          return parseRule(o.get('rule') ?? '').hosts.map((h) => `Host ${h}`);
        } catch {
          return [];
        }
      }),
    ];
    for (const claim of new Set(claims)) {
      const owner = owners.get(claim);
      if (owner !== undefined && owner !== set.envId) problems.push(`${claim} is used by both ${owner} and ${set.envId}`);
      else owners.set(claim, set.envId);
    }
  }
  return problems;
}

import { describe, expect, it } from 'vitest';
import { traefikTags } from './context.js';
import { checkTraefikTags, checkTraefikTagSets, normalizeName, parseRule } from './traefik.js';

const options = { serviceName: 'acme-shop-pr-42-api', envId: 'acme-shop-pr-42', entrypoints: ['websecure'], certResolvers: ['le'] };
const valid = traefikTags({ router: 'acme-shop-pr-42-api', host: 'api-pr-42.preview.example.com', domain: 'preview.example.com', entrypoint: 'websecure', certResolver: 'le', wildcardCert: true });
const r = 'traefik.http.routers.acme-shop-pr-42-api';
const replace = (from: string, to: string) => valid.map((t) => (t.startsWith(from) ? to : t));

describe('traefikTags certificates', () => {
  const base = { router: 'acme-shop-pr-42-api', host: 'api-pr-42.preview.example.com', domain: 'preview.example.com', entrypoint: 'websecure', certResolver: 'le' };
  it('when wildcard certificates are off then the router asks for its own host only (HTTP-01 can issue that)', () => {
    const tags = traefikTags({ ...base, wildcardCert: false });
    expect(tags.some((t) => t.includes('.tls.domains['))).toBe(false);
    expect(tags).toContain(`${r}.tls.certresolver=le`);
  });
  it('when wildcard certificates are on then the router names *.<domain>, which only a DNS-01 resolver can obtain', () => {
    const tags = traefikTags({ ...base, wildcardCert: true });
    expect(tags).toContain(`${r}.tls.domains[0].main=preview.example.com`);
    expect(tags).toContain(`${r}.tls.domains[0].sans=*.preview.example.com`);
    expect(checkTraefikTags(tags, options)).toEqual([]);
  });
  it('when a host is two labels below the domain then no wildcard is named even when on (a wildcard covers one label)', () => {
    const tags = traefikTags({ ...base, host: 'a.b.preview.example.com', wildcardCert: true });
    expect(tags.some((t) => t.includes('.tls.domains['))).toBe(false);
  });
});

describe('checkTraefikTags', () => {
  it('when given the canonical tag set then it has no problem', () => {
    expect(valid).toContain(`${r}.rule=Host(\`api-pr-42.preview.example.com\`)`);
    expect(checkTraefikTags(valid, options)).toEqual([]);
  });

  it.each([
    ['a traefik tag without "="', [...valid, `${r}.tls`], /has no "="/],
    ['a bad router name', [...valid, 'traefik.http.routers.Acme_Shop-pr-42.rule=Host(`a.example.com`)'], /must match/],
    ['a router name without the environment ID', [...valid, 'traefik.http.routers.other-api.rule=Host(`a.example.com`)'], /does not embed/],
    ['a v2-style Host with two values', replace(`${r}.rule=`, `${r}.rule=Host(\`a.example.com\`,\`b.example.com\`)`), /Host takes 1 value/],
    ['a v2-style Headers matcher', replace(`${r}.rule=`, `${r}.rule=Headers(\`X\`, \`y\`)`), /unknown matcher Headers/],
    ['single quotes in a rule', replace(`${r}.rule=`, `${r}.rule=Host('a.example.com')`), /expected a value/],
    ['an invalid host', replace(`${r}.rule=`, `${r}.rule=Host(\`bad_host.example.com\`)`), /not a valid lower-case DNS name/],
    ['an unbalanced rule', replace(`${r}.rule=`, `${r}.rule=(Host(\`a.example.com\`)`), /expected "\)"/],
    ['an unknown entrypoint', replace(`${r}.entrypoints=`, `${r}.entrypoints=websecure,web`), /entrypoint "web" is not configured/],
    ['an unknown cert resolver', replace(`${r}.tls.certresolver=`, `${r}.tls.certresolver=other`), /cert resolver "other"/],
    ['a router linked to an undefined service', replace(`${r}.service=`, `${r}.service=acme-shop-pr-42-web`), /service "acme-shop-pr-42-web" is not defined/],
    ['an undefined middleware', [...valid, `${r}.middlewares=acme-shop-pr-42-auth`], /middleware "acme-shop-pr-42-auth" is not defined/],
    ['a router without a rule', valid.filter((t) => !t.startsWith(`${r}.rule=`)), /has no rule/],
    ['one key given twice with different values', [...valid, `${r}.tls=false`], /given twice/],
  ])('when the set has %s then a problem is reported', (_name, tags, pattern) => {
    const problems = checkTraefikTags(tags, options);
    expect(problems.some((p) => pattern.test(p)), problems.join('\n')).toBe(true);
  });

  it('when a middleware is defined in the set or referenced @provider then it is accepted', () => {
    const tags = [...valid, `${r}.middlewares=acme-shop-pr-42-auth,secure-headers@file`, 'traefik.http.middlewares.acme-shop-pr-42-auth.basicauth.users=u:h'];
    expect(checkTraefikTags(tags, options)).toEqual([]);
  });
});

describe('checkTraefikTagSets', () => {
  const pr43 = traefikTags({ router: 'acme-shop-pr-43-api', host: 'api-pr-43.preview.example.com', domain: 'preview.example.com', entrypoint: 'websecure', certResolver: 'le', wildcardCert: true });
  const set43 = { ...options, serviceName: 'acme-shop-pr-43-api', envId: 'acme-shop-pr-43', tags: pr43 };

  it('when two PRs have their own names and hosts then there is no problem', () => {
    expect(checkTraefikTagSets([{ ...options, tags: valid }, set43])).toEqual([]);
  });

  it('when two PRs produce the same router name or host then both collisions are reported', () => {
    const stolen = { ...set43, envId: 'acme-shop-pr-4', tags: valid };
    const problems = checkTraefikTagSets([{ ...options, tags: valid }, { ...stolen, serviceName: 'acme-shop-pr-4-api' }]);
    expect(problems).toContainEqual(expect.stringMatching(/router acme-shop-pr-42-api is used by both acme-shop-pr-42 and acme-shop-pr-4/));
    expect(problems).toContainEqual(expect.stringMatching(/Host api-pr-42.preview.example.com is used by both/));
  });

  it('when two instances of one service carry different tags then it is reported', () => {
    const problems = checkTraefikTagSets([{ ...options, tags: valid }, { ...options, tags: valid.slice(0, -1) }]);
    expect(problems).toContainEqual(expect.stringMatching(/instances carry different tag sets/));
  });
});

describe('parseRule and normalizeName', () => {
  it('when a rule combines matchers then every Host value is returned', () => {
    expect(parseRule('Host(`a.example.com`) || (Host("b.example.com") && !PathPrefix(`/x`)) && Query(`k`)').hosts).toEqual(['a.example.com', 'b.example.com']);
  });
  it('when a name has separators then it is normalized like Traefik does', () => {
    expect(normalizeName('pr_42.web')).toBe('pr-42-web');
    expect(normalizeName('--a..b--')).toBe('a-b');
  });
});

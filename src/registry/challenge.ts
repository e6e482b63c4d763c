// The registry's 401 challenge, as the token spec has it (distribution/distribution
// docs/spec/auth/token.md, "How to authenticate"): `WWW-Authenticate: Bearer
// realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull"`.
// The header is the remote's text: parsed strictly (RFC 7235 auth-params, quoted or
// token values), bounded, and a realm that is not an absolute http(s) URL is refused.

export interface BearerChallenge {
  realm: string;
  service: string | null;
  scope: string | null;
}

export type ChallengeResult = { kind: 'bearer'; challenge: BearerChallenge } | { kind: 'basic' } | { kind: 'invalid'; reason: string };

const MAX_HEADER = 4_096;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** name=value pairs after the scheme; null when the syntax is broken. */
function authParams(text: string): Map<string, string> | null {
  const params = new Map<string, string>();
  let i = 0;
  while (i < text.length) {
    while (text[i] === ' ' || text[i] === ',') i++;
    if (i >= text.length) break;
    const eq = text.indexOf('=', i);
    if (eq < 0) return null;
    const name = text.slice(i, eq).trim().toLowerCase();
    if (!TOKEN.test(name)) return null;
    i = eq + 1;
    let value = '';
    if (text[i] === '"') {
      i++;
      let closed = false;
      while (i < text.length) {
        const c = text[i]!;
        if (c === '\\' && i + 1 < text.length) {
          value += text[i + 1];
          i += 2;
          continue;
        }
        if (c === '"') {
          closed = true;
          i++;
          break;
        }
        value += c;
        i++;
      }
      if (!closed) return null;
    } else {
      const end = text.indexOf(',', i);
      value = (end < 0 ? text.slice(i) : text.slice(i, end)).trim();
      i = end < 0 ? text.length : end;
      if (!TOKEN.test(value)) return null;
    }
    if (params.has(name)) return null; // a parameter given twice is ambiguous
    params.set(name, value);
  }
  return params;
}

export function parseChallenge(header: string | null): ChallengeResult {
  if (header === null || header.trim() === '') return { kind: 'invalid', reason: 'no WWW-Authenticate header' };
  if (header.length > MAX_HEADER) return { kind: 'invalid', reason: `WWW-Authenticate longer than ${MAX_HEADER} characters` };
  if (/[\u0000-\u001f\u007f]/.test(header)) return { kind: 'invalid', reason: 'WWW-Authenticate carries control characters' };
  const match = /^\s*([A-Za-z]+)(?:\s+(.*))?$/.exec(header);
  if (!match) return { kind: 'invalid', reason: 'WWW-Authenticate has no scheme' };
  const scheme = match[1]!.toLowerCase();
  if (scheme === 'basic') return { kind: 'basic' };
  if (scheme !== 'bearer') return { kind: 'invalid', reason: `unsupported authentication scheme ${match[1]!.slice(0, 20)}` };
  const params = authParams(match[2] ?? '');
  if (!params) return { kind: 'invalid', reason: 'WWW-Authenticate is not a valid list of parameters' };
  const realm = params.get('realm');
  if (!realm) return { kind: 'invalid', reason: 'Bearer challenge without a realm' };
  let url: URL;
  try {
    url = new URL(realm);
  } catch {
    return { kind: 'invalid', reason: 'Bearer realm is not a URL' };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return { kind: 'invalid', reason: 'Bearer realm is not an http(s) URL' };
  if (url.username || url.password) return { kind: 'invalid', reason: 'Bearer realm carries credentials' };
  return { kind: 'bearer', challenge: { realm: url.toString(), service: params.get('service') ?? null, scope: params.get('scope') ?? null } };
}

// The JWT auth method's config and login, as hashicorp/vault-plugin-auth-jwt does them:
// path_config.go (which keys verify signatures), path_login.go (the order of checks and
// their texts), claims.go (bound claims, claim mappings, JSON pointers) and the token
// validator it calls, hashicorp/cap jwt/jwt.go (signature, alg, iss/sub/aud, time with
// leeway). Every refusal is a 400 with the plugin's text (logical.ErrorResponse).
// No HTTP here except fetching a JWKS; vault.ts routes requests and issues the token.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { keysFromJwks, parseJws, verifyJws, type JwtClaims } from './jws.js';

export interface JwtAuthConfig {
  jwks_url: string;
  jwt_validation_pubkeys: string[];
  bound_issuer: string;
  jwt_supported_algs: string[];
  default_role: string;
}

/** Validates a config write (path_config.go pathConfigWrite); a string is the 400 text. */
export async function validateJwtConfig(body: Record<string, unknown>, fetchJson: (url: string) => Promise<unknown>): Promise<JwtAuthConfig | string> {
  const str = (k: string) => (typeof body[k] === 'string' ? (body[k] as string) : '');
  const list = (k: string) => (Array.isArray(body[k]) ? (body[k] as unknown[]).map(String) : typeof body[k] === 'string' && body[k] !== '' ? (body[k] as string).split(',') : []);
  const config: JwtAuthConfig = {
    jwks_url: str('jwks_url'),
    jwt_validation_pubkeys: list('jwt_validation_pubkeys'),
    bound_issuer: str('bound_issuer'),
    jwt_supported_algs: list('jwt_supported_algs'),
    default_role: str('default_role').toLowerCase(),
  };
  const sources = [config.jwks_url !== '', config.jwt_validation_pubkeys.length > 0, str('oidc_discovery_url') !== '', Array.isArray(body['jwks_pairs'])].filter(Boolean).length;
  if (sources !== 1) return "exactly one of 'jwt_validation_pubkeys', 'jwks_url', 'jwks_pairs' or 'oidc_discovery_url' must be set";
  if (str('oidc_discovery_url') !== '' || Array.isArray(body['jwks_pairs'])) return 'the emulator supports jwks_url and jwt_validation_pubkeys only';
  for (const pem of config.jwt_validation_pubkeys) {
    try {
      createPublicKey(pem);
    } catch {
      // path_config.go: ParsePublicKeyPEM failure (cap jwt/keyset.go text)
      return 'error parsing public key: data does not contain any valid RSA or ECDSA public keys';
    }
  }
  if (config.jwks_url !== '') {
    // path_config.go validateJWKSURL: the key set must be reachable when the config is written.
    const doc = await fetchJson(config.jwks_url).catch(() => null);
    if (doc === null || keysFromJwks(doc).length === 0) return `error checking jwks URL ${config.jwks_url}`;
  }
  return config;
}

export interface JwtLoginGrant {
  displayName: string;
  /** Alias metadata: the claim mappings plus "role" (path_login.go createIdentity). */
  metadata: Record<string, string>;
}

const DEFAULT_ALGS = ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512', 'EdDSA'];

/** RFC 6901 JSON pointer, as github.com/mitchellh/pointerstructure resolves it (claims.go getClaim). */
function claimAt(claims: JwtClaims, claim: string): unknown {
  if (!claim.startsWith('/')) return claims[claim];
  let value: unknown = claims;
  for (const raw of claim.slice(1).split('/')) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(value)) value = value[Number(part)];
    else if (value && typeof value === 'object') value = (value as Record<string, unknown>)[part];
    else return undefined;
  }
  return value;
}

/** claims.go normalizeList: a string, bool or number is a list of one. */
function normalizeList(raw: unknown): unknown[] | null {
  if (Array.isArray(raw)) return raw;
  if (typeof raw === 'string' || typeof raw === 'boolean' || typeof raw === 'number') return [raw];
  return null;
}

/** ryanuber/go-glob: `*` matches any run of characters, nothing else is special. */
function globMatch(pattern: string, value: string): boolean {
  const re = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 's');
  return re.test(value);
}

/** claims.go validateBoundClaims; null when every bound claim matches. */
function boundClaimsProblem(boundClaimsType: string, boundClaims: Record<string, unknown> | null, claims: JwtClaims): string | null {
  for (const [claim, expected] of Object.entries(boundClaims ?? {})) {
    const actual = claimAt(claims, claim);
    if (actual === undefined || actual === null) return `claim "${claim}" is missing`;
    const actVals = normalizeList(actual);
    if (!actVals) return `received claim is not a string, bool, int or list: ${JSON.stringify(actual)}`;
    const expVals = normalizeList(expected);
    if (!expVals) return `bound claim is not a string, bool, int or list: ${JSON.stringify(expected)}`;
    const found = expVals.some((e) =>
      actVals.some((a) => (boundClaimsType === 'glob' ? typeof e === 'string' && typeof a === 'string' && globMatch(e, a) : a === e)),
    );
    if (!found) return `claim "${claim}" does not match any associated bound claim values`;
  }
  return null;
}

const seconds = (v: unknown, fallback: number) => (typeof v === 'number' && Number.isFinite(v) ? v : fallback);

/** cap jwt/jwt.go: a role's leeway of 0 means the default, a negative one none. */
function leeway(value: number, fallback: number): number {
  if (value < 0) return 0;
  return value === 0 ? fallback : value;
}

/**
 * path_login.go pathLogin after the role was found: validate the JWT against the config
 * and the role. Returns the grant, or the 400 text.
 */
export async function checkJwtLogin(input: {
  config: JwtAuthConfig;
  roleName: string;
  role: Record<string, unknown>;
  jwt: unknown;
  nowMs: number;
  fetchJson: (url: string) => Promise<unknown>;
}): Promise<JwtLoginGrant | string> {
  const { config, role, roleName } = input;
  if (role.role_type === 'oidc') return 'role with oidc role_type is not allowed';
  if (typeof input.jwt !== 'string' || input.jwt === '') return 'missing token';

  // cap jwt/jwt.go validateAll: signature first, against every key of the key set.
  let jws;
  try {
    jws = parseJws(input.jwt);
  } catch (e) {
    return `error validating token: error verifying token signature: ${(e as Error).message}`;
  }
  let keys: KeyObject[];
  let noKeyText: string;
  if (config.jwt_validation_pubkeys.length > 0) {
    keys = config.jwt_validation_pubkeys.map((pem) => createPublicKey(pem));
    noKeyText = 'no known key successfully validated the token signature'; // cap jwt/keyset.go staticKeySet
  } else {
    const fetched = keysFromJwks(await input.fetchJson(config.jwks_url).catch(() => null));
    const kid = typeof jws.header.kid === 'string' ? jws.header.kid : null;
    keys = fetched.filter((k) => kid === null || k.kid === null || k.kid === kid).map((k) => k.key);
    noKeyText = 'failed to verify id token signature'; // go-oidc RemoteKeySet (path_config.go validateJWKSURL expects this text)
  }
  if (!keys.some((k) => verifyJws(jws, k))) return `error validating token: error verifying token signature: ${noKeyText}`;
  const algs = config.jwt_supported_algs.length > 0 ? config.jwt_supported_algs : DEFAULT_ALGS;
  if (!algs.includes(String(jws.header.alg))) return 'error validating token: invalid algorithm (alg) header parameter: token signed with unexpected algorithm';

  const claims = jws.claims;
  if (config.bound_issuer !== '' && claims.iss !== config.bound_issuer) return 'error validating token: invalid issuer (iss) claim';
  const boundSubject = typeof role.bound_subject === 'string' ? role.bound_subject : '';
  if (boundSubject !== '' && claims.sub !== boundSubject) return 'error validating token: invalid subject (sub) claim';
  const audiences = Array.isArray(role.bound_audiences) ? (role.bound_audiences as string[]) : [];
  const aud = typeof claims.aud === 'string' ? [claims.aud] : Array.isArray(claims.aud) ? claims.aud.map(String) : [];
  if (audiences.length > 0 && !audiences.some((a) => aud.includes(a))) {
    return 'error validating token: invalid audience (aud) claim: audience claim does not match any expected audience';
  }

  // Time claims (seconds since the epoch), with the role's leeways.
  const num = (v: unknown) => (typeof v === 'number' ? v : 0);
  const iat = num(claims.iat);
  let exp = num(claims.exp);
  let nbf = num(claims.nbf);
  if (iat === 0 && exp === 0 && nbf === 0) return 'error validating token: no issued at (iat), not before (nbf), or expiration time (exp) claims in token';
  if (exp === 0) exp = Math.max(iat, nbf) + leeway(seconds(role.expiration_leeway, 150), 150);
  if (nbf === 0) nbf = iat !== 0 ? iat : exp - leeway(seconds(role.not_before_leeway, 150), 150);
  const skew = leeway(seconds(role.clock_skew_leeway, 60), 60);
  const now = input.nowMs / 1000;
  if (now + skew < nbf) return 'error validating token: invalid not before (nbf) claim: token not yet valid';
  if (now - skew > exp) return 'error validating token: invalid expiration time (exp) claim: token is expired';
  if (iat !== 0 && now + skew < iat) return 'error validating token: invalid issued at (iat) claim: token issued in the future';

  // path_login.go: with no bound audience, any audience in the token is refused.
  if (audiences.length === 0 && aud.some((a) => a !== '')) return 'audience claim found in JWT but no audiences bound to the role';

  // createIdentity: the user claim, then the claim mappings.
  const userClaim = String(role.user_claim ?? '');
  const userValue = role.user_claim_json_pointer === true ? claimAt(claims, userClaim) : claims[userClaim];
  if (userValue === undefined || userValue === null) return `claim "${userClaim}" not found in token`;
  if (typeof userValue !== 'string') return `claim "${userClaim}" could not be converted to string`;
  const metadata: Record<string, string> = {};
  for (const [source, target] of Object.entries((role.claim_mappings as Record<string, string> | null) ?? {})) {
    const value = claimAt(claims, source);
    if (value === undefined || value === null) continue;
    if (typeof value !== 'string') return `error converting claim '${source}' to string`;
    metadata[target] = value;
  }
  metadata.role = roleName;

  const problem = boundClaimsProblem(String(role.bound_claims_type ?? 'string'), role.bound_claims as Record<string, unknown> | null, claims);
  if (problem) return `error validating claims: ${problem}`;
  return { displayName: userValue, metadata };
}

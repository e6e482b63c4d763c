// JWS compact serialization (RFC 7515) with RS256, over node:crypto: what the Nomad
// emulator needs to sign workload identities and the Vault emulator to verify them.
// (No JOSE library is installed; this is the few lines both sides share.)
import { createPublicKey, generateKeyPairSync, randomUUID, sign, verify, type KeyObject } from 'node:crypto';

export type JwtClaims = Record<string, unknown>;

export interface SigningKey {
  /** Key ID, in every token's header and in the JWKS (Nomad: the keyring key's ID). */
  kid: string;
  sign(claims: JwtClaims): string;
  /** The public half as a JSON Web Key Set, as Nomad serves it at /.well-known/jwks.json. */
  jwks(): { keys: Record<string, unknown>[] };
  /** The public half as PEM (SPKI), for `jwt_validation_pubkeys`. */
  publicKeyPem(): string;
}

const b64url = (data: Buffer | string) => Buffer.from(data).toString('base64url');

/** A fresh RSA key: Nomad's keyring signs workload identities with RS256 (nomad/encrypter.go). */
export function createSigningKey(): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = randomUUID();
  return {
    kid,
    sign(claims) {
      const input = `${b64url(JSON.stringify({ alg: 'RS256', kid, typ: 'JWT' }))}.${b64url(JSON.stringify(claims))}`;
      return `${input}.${b64url(sign('RSA-SHA256', Buffer.from(input), privateKey))}`;
    },
    jwks: () => ({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid, use: 'sig', alg: 'RS256' }] }),
    publicKeyPem: () => publicKey.export({ format: 'pem', type: 'spki' }).toString(),
  };
}

export interface ParsedJws {
  header: Record<string, unknown>;
  claims: JwtClaims;
  signingInput: string;
  signature: Buffer;
}

/** Splits and decodes a compact JWS; throws with go-jose's text when it is not one. */
export function parseJws(token: string): ParsedJws {
  const parts = token.split('.');
  // go-jose/go-jose jws.go parseCompact
  if (parts.length !== 3) throw new Error('go-jose/go-jose: compact JWS format must have three parts');
  try {
    const header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')) as unknown;
    const claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as unknown;
    if (typeof header !== 'object' || header === null || typeof claims !== 'object' || claims === null || Array.isArray(claims)) throw new Error('not an object');
    return { header: header as Record<string, unknown>, claims: claims as JwtClaims, signingInput: `${parts[0]}.${parts[1]}`, signature: Buffer.from(parts[2]!, 'base64url') };
  } catch {
    throw new Error('go-jose/go-jose: invalid JWS payload');
  }
}

const RSA_ALGS: Record<string, string> = { RS256: 'RSA-SHA256', RS384: 'RSA-SHA384', RS512: 'RSA-SHA512' };

/** True when `key` verifies the JWS signature (RSA PKCS#1 v1.5 algorithms). */
export function verifyJws(jws: ParsedJws, key: KeyObject): boolean {
  const alg = RSA_ALGS[String(jws.header.alg)];
  if (!alg || key.asymmetricKeyType !== 'rsa') return false;
  try {
    return verify(alg, Buffer.from(jws.signingInput), key, jws.signature);
  } catch {
    return false;
  }
}

/** Public keys from a JWKS document (keys it cannot use are skipped, as go-oidc does). */
export function keysFromJwks(doc: unknown): { kid: string | null; key: KeyObject }[] {
  const keys = (doc as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys)) return [];
  const out: { kid: string | null; key: KeyObject }[] = [];
  for (const jwk of keys) {
    try {
      out.push({ kid: typeof jwk?.kid === 'string' ? jwk.kid : null, key: createPublicKey({ key: jwk, format: 'jwk' }) });
    } catch {
      // not a usable key
    }
  }
  return out;
}

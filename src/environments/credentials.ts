// Per-PR database credentials: generation, the DATABASE_URL the PR's jobs read from
// Vault, and the scrubber that keeps those values out of every stored or logged text.
import { randomBytes } from 'node:crypto';
import type { Config } from '../config/schema.js';

/** A random password that needs no escaping in a URL (base64url, 192 bits). */
export function generatePassword(): string {
  return randomBytes(24).toString('base64url');
}

export interface DatabaseEndpoint {
  host: string;
  port: number;
  /** Connection parameters of DATABASE_URL (sslmode, connect_timeout…) as a query string, "" when none. */
  params: string;
}

// libpq parameters that would name another login, database or server than the PR's own.
const IDENTITY_PARAMS = new Set(['user', 'password', 'passfile', 'dbname', 'host', 'hostaddr', 'port', 'service', 'servicefile']);

/**
 * Where and how PR jobs reach Postgres: config.database.host/port, else those of
 * DATABASE_URL, with DATABASE_URL's connection parameters (an `sslmode=require` server
 * refuses a plain connection from a PR job just as from previewd).
 */
export function databaseEndpoint(config: Pick<Config, 'database' | 'env'>): DatabaseEndpoint {
  const admin = new URL(config.env.DATABASE_URL);
  const host = config.database.host ?? admin.hostname;
  const port = config.database.port ?? (admin.port ? Number(admin.port) : 5432);
  const params = new URLSearchParams([...admin.searchParams].filter(([name]) => !IDENTITY_PARAMS.has(name.toLowerCase())));
  return { host, port, params: params.toString() };
}

export function buildDatabaseUrl(input: { user: string; password: string; database: string } & DatabaseEndpoint): string {
  // An IPv6 literal needs brackets; a hostname that already has them is left alone.
  const host = input.host.includes(':') && !input.host.startsWith('[') ? `[${input.host}]` : input.host;
  const query = input.params ? `?${input.params}` : '';
  return `postgres://${encodeURIComponent(input.user)}:${encodeURIComponent(input.password)}@${host}:${input.port}/${encodeURIComponent(input.database)}${query}`;
}

/**
 * The password held in a PR secret, when that secret's DATABASE_URL is for exactly this
 * role, database and endpoint; null otherwise (then a new password is generated).
 */
export function reusablePassword(
  secretData: Record<string, string> | null | undefined,
  expected: { user: string; database: string } & Omit<DatabaseEndpoint, 'params'>,
): string | null {
  const text = secretData?.DATABASE_URL;
  if (!text) return null;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return null;
  }
  const password = decodeURIComponent(url.password);
  const sameTarget =
    /^postgres(ql)?:$/.test(url.protocol) &&
    decodeURIComponent(url.username) === expected.user &&
    decodeURIComponent(url.pathname.replace(/^\//, '')) === expected.database &&
    url.hostname.replace(/^\[|\]$/g, '') === expected.host.replace(/^\[|\]$/g, '') &&
    Number(url.port || 5432) === expected.port;
  return sameTarget && password.length >= 16 ? password : null;
}

export { createGrowingScrubber, createScrubber, type GrowingScrubber, type Scrubber } from '../secrets.js';

/** The daemon's own secrets from the environment: always scrubbed. */
export function configSecrets(config: Pick<Config, 'env'>): string[] {
  const env = config.env;
  const values: (string | undefined)[] = [
    env.VAULT_TOKEN,
    env.NOMAD_TOKEN,
    env.CONSUL_HTTP_TOKEN,
    env.GITHUB_TOKEN,
    env.GITHUB_WEBHOOK_SECRET,
    env.PREVIEWD_ADMIN_TOKEN,
    env.PREVIEWD_LINK_SECRET,
    env.GITHUB_APP_PRIVATE_KEY,
  ];
  try {
    const admin = new URL(env.DATABASE_URL);
    if (admin.password) values.push(decodeURIComponent(admin.password));
  } catch {
    // not a URL: nothing more to hide
  }
  return values.filter((v): v is string => !!v);
}

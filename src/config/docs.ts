// Generates the configuration reference from the zod schema itself, so the README
// table cannot drift from what previewd accepts (a test compares the two).
import { z } from 'zod';
import { envConfigSchema, fileConfigSchema } from './schema.js';

interface JsonSchemaNode {
  type?: string | string[];
  description?: string;
  default?: unknown;
  enum?: unknown[];
  properties?: Record<string, JsonSchemaNode>;
  items?: JsonSchemaNode;
  additionalProperties?: JsonSchemaNode | boolean;
  anyOf?: JsonSchemaNode[];
}

const ENV_DOCS: Record<string, string> = {
  NOMAD_ADDR: 'Nomad HTTP API address',
  NOMAD_TOKEN: 'Nomad ACL token (secret)',
  NOMAD_NAMESPACE: 'Nomad namespace of preview jobs',
  CONSUL_HTTP_ADDR: 'Consul agent address, with or without scheme',
  CONSUL_HTTP_TOKEN: 'Consul ACL token (secret)',
  VAULT_ADDR: 'Vault address',
  VAULT_TOKEN: 'Vault token of previewd (secret)',
  DATABASE_URL: "Postgres cluster for previewd's state and the PR databases (secret)",
  REDIS_URL: 'Redis for the work queue and delivery dedupe',
  GITHUB_WEBHOOK_SECRET: 'webhook HMAC secret (secret)',
  GITHUB_TOKEN: 'a PAT, or use the App variables (secret)',
  GITHUB_APP_ID: 'GitHub App ID (with GITHUB_APP_PRIVATE_KEY)',
  GITHUB_APP_PRIVATE_KEY: 'GitHub App private key, PEM (secret)',
  GITHUB_API_URL: 'GitHub REST API base (GitHub Enterprise: https://HOST/api/v3)',
  PREVIEWD_ADMIN_TOKEN: 'bearer token of the admin API and the dashboard sign-in (secret)',
  PREVIEWD_LINK_SECRET: 'HMAC key of the read-only dashboard links on PRs, 32+ characters, the same on every replica; unset: derived from PREVIEWD_ADMIN_TOKEN, so rotating that token also invalidates the links (secret)',
  PORT: 'HTTP port of webhooks, admin API, health and metrics',
  DOCKER_CONFIG: "directory of Docker's config.json, whose `auths` hold image registry credentials (build.waitForImages, doctor); default ~/.docker",
  HOME: 'home directory; ~/.docker/config.json is read when DOCKER_CONFIG is unset',
  LOG_LEVEL: 'pino log level',
  PREVIEWD_CONFIG: 'config file path when --config is not given',
};

function typeOf(node: JsonSchemaNode): string {
  if (node.enum) return node.enum.map((v) => JSON.stringify(v)).join(' \\| ');
  if (node.anyOf) return node.anyOf.map(typeOf).join(' \\| ');
  const t = Array.isArray(node.type) ? node.type.join('|') : (node.type ?? 'any');
  if (t === 'array' && node.items) return `${typeOf(node.items)}[]`;
  return t;
}

function rows(node: JsonSchemaNode, prefix: string, out: string[][]): void {
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    const path = prefix ? `${prefix}.${key}` : key;
    const itemProps = child.type === 'array' ? child.items?.properties : undefined;
    if (child.properties && child.type === 'object') {
      rows(child, path, out);
    } else if (itemProps && child.items) {
      out.push([path, 'list', '`[]`', (child.description ?? '').replace(/\|/g, '\\|')]);
      rows(child.items, `${path}[]`, out);
    } else {
      const def = child.default === undefined ? '' : `\`${JSON.stringify(child.default)}\``;
      out.push([path, typeOf(child), def, (child.description ?? '').replace(/\|/g, '\\|')]);
    }
  }
}

export function configReferenceMarkdown(): string {
  const fileSchema = z.toJSONSchema(fileConfigSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchemaNode;
  const fileRows: string[][] = [];
  rows(fileSchema, '', fileRows);
  const envShape = (envConfigSchema as unknown as { _zod: { def: { in?: { shape: Record<string, unknown> }; shape?: Record<string, unknown> } } })._zod.def;
  const envKeys = Object.keys(envShape.shape ?? envShape.in?.shape ?? {});
  const lines = [
    '| key | type | default | meaning |',
    '| --- | --- | --- | --- |',
    ...fileRows.map((r) => `| \`${r[0]}\` | ${r[1]} | ${r[2]} | ${r[3]} |`),
    '',
    '| environment variable | meaning |',
    '| --- | --- |',
    ...[...envKeys, 'PREVIEWD_CONFIG'].map((k) => `| \`${k}\` | ${ENV_DOCS[k] ?? ''} |`),
  ];
  return lines.join('\n');
}

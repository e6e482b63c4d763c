// The single source of truth for every setting previewd reads. Defaults and the
// documentation in README.md ("Configuration reference") come from here; `previewd
// config docs` prints the table generated from the `describe()` texts below.
import { z } from 'zod';
import { CLONE_METHOD_SETTINGS } from '../database/clone-method.js';
import { parseDuration } from './duration.js';
import { REPO_NAME } from '../github/repo-name.js';

const duration = (fallback: string, what: string) =>
  z
    .string()
    .default(fallback)
    .describe(`${what} (a duration such as "90s", "30m", "72h", "7d")`)
    .transform((text, ctx) => {
      const ms = parseDuration(text);
      if (ms === null || ms <= 0) {
        ctx.addIssue({ code: 'custom', message: "expected a duration such as \"72h\"" });
        return z.NEVER;
      }
      return ms;
    });

const DNS_NAME = /^(?=.{1,200}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
const IMAGE = /^[a-z0-9][a-z0-9._\-/:]{0,250}$/;
// A fixed image names its version: a tag after the last "/" or a digest.
const FIXED_IMAGE = /^[a-z0-9][a-z0-9._\-/:]{0,250}(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[0-9a-f]{64})$/;
const IDENT = /^[a-z][a-z0-9_]{0,40}$/;
const LABEL = /^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/;

export const repoSchema = z
  .object({
    name: z.string().regex(REPO_NAME, 'expected "owner/name"').describe('GitHub repository served, "owner/name"'),
    templatesDir: z
      .string()
      .optional()
      .describe('directory of this repo\'s own job templates (manifest.json + *.nomad.hcl.hbs); default: job-templates/'),
    baseDomain: z
      .string()
      .regex(DNS_NAME, 'expected a lower-case DNS name')
      .optional()
      .describe('base domain of preview hosts for this repo; default: the top-level baseDomain'),
    images: z
      .record(z.string().regex(LABEL), z.string().regex(IMAGE, 'expected an image name without tag'))
      .default({})
      .describe('images built from the PR, per component, without tag, e.g. {"api": "ghcr.io/acme/shop-api"}; the tag is the PR head SHA'),
    fixedImages: z
      .record(z.string().regex(LABEL), z.string().regex(FIXED_IMAGE, 'expected an image with its own tag or digest, e.g. "docker.io/library/redis:7.2"'))
      .default({})
      .describe('images not built from the PR (stock images such as the cache), with their own tag, e.g. {"cache": "docker.io/library/redis:7.2"}; never re-tagged, not restarted by a push'),
    database: z
      .object({
        mode: z.enum(['template', 'empty']).default('template').describe('clone a template database, or create empty and seed'),
        template: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/).default('preview_template').describe('template database name'),
        strategy: z
          .enum(['FILE_COPY', 'WAL_LOG'])
          .default('FILE_COPY')
          .describe('CREATE DATABASE … STRATEGY; FILE_COPY is fastest for large templates (see bench/RESULTS.md)'),
        seedFile: z.string().optional().describe('SQL file run in a new database in "empty" mode'),
        terminateTemplateSessions: z
          .boolean()
          .default(false)
          .describe('terminate sessions on the template database when it is busy (off: retry, then fail)'),
        pool: z
          .object({
            size: z.number().int().min(0).max(20).default(2).describe('spare databases kept cloned from the template (warm pool); a PR database is then a rename; 0: no pool'),
            maxBytes: z
              .number()
              .int()
              .positive()
              .default(10 * 1024 ** 3)
              .describe("bound on the spares' pg_database_size together, in bytes (default 10 GiB); fewer spares when the template is large"),
            versionQuery: z
              .string()
              .min(1)
              .max(2000)
              .optional()
              .describe(
                "SQL run read-only in the template whose first value is its version (e.g. SELECT max(version) FROM public.schema_migrations); default: the template's COMMENT. A spare of another version is dropped, never used; with neither, no pool",
              ),
          })
          .prefault({})
          .describe('warm pool of this repo\'s template; repos naming one template share the pool of the first of them'),
      })
      .prefault({})
      .describe('how the PR database is created'),
    idleTtl: duration('7d', 'an environment with no push for this long is removed by GC'),
    maxEnvironments: z.number().int().positive().default(20).describe('cap on environments of this repo; GC removes the oldest idle first'),
    drafts: z.enum(['skip', 'deploy']).default('skip').describe('draft PRs: skipped or deployed'),
    forks: z
      .enum(['never', 'label', 'always'])
      .default('label')
      .describe('fork PRs: never, only at a commit approved by a user with write access (the opt-in label or /preview approve), or always'),
    optInLabel: z.string().min(1).max(50).default('preview').describe('label that opts a fork PR in (forks: label)'),
    optOutLabel: z.string().min(1).max(50).default('no-preview').describe('label that opts any PR out'),
    keepLabel: z.string().min(1).max(50).default('preview-keep').describe('label that exempts an environment from GC'),
    baseBranches: z.array(z.string().min(1)).default([]).describe('deploy only PRs into these base branches (empty: all)'),
    build: z
      .object({
        checks: z
          .array(z.string().min(1).max(200))
          .max(50)
          .default([])
          .describe('check runs (by name) or commit status contexts that must succeed on the head SHA before it is deployed'),
        waitForImages: z
          .boolean()
          .default(false)
          .describe('deploy only once every image built from the PR (<image>:<head SHA>) exists in its registry (OCI distribution API)'),
        timeout: duration('30m', 'after this long since the push without the build done, the PR is told the build failed, naming what was missing'),
        pollInterval: duration('30s', 'a PR waiting for its build is looked at again this often even without a webhook, so a lost event only delays'),
      })
      .strict()
      .optional()
      .describe('wait for CI before deploying a head SHA (absent: deploy at once)'),
    e2e: z
      .object({
        template: z
          .string()
          .regex(/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,100}\.nomad\.hcl\.hbs$/, 'expected a file name such as "e2e.nomad.hcl.hbs"')
          .default('e2e.nomad.hcl.hbs')
          .describe('the Nomad batch job (in the repo\'s templates directory) that runs the end-to-end tests against the PR\'s environment'),
        timeout: duration('15m', 'a test job still running this long after it was submitted is stopped and reported as failed'),
        context: z.string().min(1).max(100).default('previewd/e2e').describe('commit status context and check run name of the tests (what branch protection requires)'),
      })
      .strict()
      .optional()
      .describe("run the repo's end-to-end tests against each ready preview and report them on the head commit (absent: no tests)"),
  })
  .strict()
  .superRefine((repo, ctx) => {
    for (const [component, image] of Object.entries(repo.images)) {
      if (Object.hasOwn(repo.fixedImages, component)) {
        ctx.addIssue({ code: 'custom', path: ['images', component], message: 'is also in fixedImages; a component is either built from the PR or not' });
      }
      if (/:[^/]*$/.test(image)) {
        ctx.addIssue({
          code: 'custom',
          path: ['images', component],
          message: 'has a tag; an image built from the PR is given without one (its tag is the head SHA), an image with its own tag belongs in fixedImages',
        });
      } else if (isStockImage(image)) {
        // Docker Hub's official images (docker.io/library/x, or a bare "x") are never built
        // from a PR: "<image>:<sha>" would not exist.
        ctx.addIssue({
          code: 'custom',
          path: ['images', component],
          message: `${image} is a stock image a PR does not build, so ${image}:<sha> does not exist; move it to fixedImages with its own tag (e.g. ${image}:<version>)`,
        });
      }
    }
  });

/** A Docker Hub official image: "redis", "library/redis", "docker.io/library/redis". */
function isStockImage(image: string): boolean {
  const name = image.replace(/^(docker\.io|index\.docker\.io|registry-1\.docker\.io)\//, '');
  return /^(library\/)?[a-z0-9._-]+$/.test(name);
}

export const fileConfigSchema = z
  .object({
    instance: z
      .string()
      .regex(/^[a-z][a-z0-9-]{0,19}$/, 'expected a short lower-case name')
      .default('previewd')
      .describe('owner name written into every ownership marker; GC touches only resources carrying it'),
    baseDomain: z.string().regex(DNS_NAME, 'expected a lower-case DNS name').default('preview.localhost').describe('base domain of preview hosts'),
    hostPatterns: z
      .record(z.string().regex(LABEL), z.string().includes('{pr}'))
      .optional()
      .describe(
        'host per routable component; {pr}, {repo} (the repo\'s slug) and {domain} are substituted. Default: {"frontend": "pr-{pr}.{domain}", "api": "api-pr-{pr}.{domain}"} for a repo alone on its domain, "pr-{pr}-{repo}.{domain}" and "api-pr-{pr}-{repo}.{domain}" when repos share a domain; patterns without {repo} are refused then',
      ),
    publicUrl: z
      .string()
      .url()
      .default('http://127.0.0.1:8080')
      .describe("previewd's own external URL: the dashboard's links on PRs (log_url, target_url, the comment) start with it; https makes session cookies Secure"),
    credentialTtl: duration('72h', 'lifetime of per-PR database logins and Vault secret versions; the daemon renews them once half of it has passed, at a GC sweep'),
    concurrency: z.number().int().min(1).max(64).default(4).describe('environments reconciled in parallel: rendering, planning and the steps that call Postgres, Vault, Nomad, Consul and GitHub'),
    waitConcurrency: z
      .number()
      .int()
      .min(0)
      .max(2000)
      .default(256)
      .describe(
        'environments that may wait at once for a Nomad deployment or Consul routing (blocking queries), beside the `concurrency` working ones; a waiting environment holds no work slot. 0: a wait keeps its slot (each waiting environment counts against `concurrency`)',
      ),
    deployTimeout: duration('10m', 'bounded wait for a Nomad deployment and Consul routing to become healthy'),
    repos: z.array(repoSchema).default([]).describe('repositories served'),
    nomad: z
      .object({
        datacenters: z.array(z.string().min(1)).default(['dc1']).describe('datacenters preview jobs run in'),
        allowedDrivers: z.array(z.string()).default(['docker']).describe('task drivers templates may use'),
      })
      .prefault({}),
    traefik: z
      .object({
        entrypoint: z.string().regex(/^[A-Za-z0-9-]+$/).default('websecure').describe('Traefik entry point of preview routers'),
        certResolver: z.string().regex(/^[A-Za-z0-9-]+$/).default('le').describe('Traefik certificate resolver'),
        wildcardCert: z
          .boolean()
          .default(false)
          .describe(
            'ask the resolver for one *.<domain> certificate shared by all PRs (needs an ACME DNS-01 resolver; HTTP-01 cannot issue wildcards); off: one certificate per PR host, which works with any resolver but counts against Let\'s Encrypt\'s 50 certificates per registered domain per week',
          ),
      })
      .prefault({}),
    consul: z
      .object({
        agentAddress: z
          .string()
          .regex(/^https?:\/\/\S+$/, 'expected an http(s) URL template such as "http://{address}:8500"')
          .optional()
          .describe(
            "URL of a node's own Consul agent, where teardown deregisters leftovers of gone allocations; {address} is the node's address in the catalog, {node} its name; default: CONSUL_HTTP_ADDR's scheme and port on {address} (the agents' HTTP API must listen there, client_addr)",
          ),
        deregisterTimeout: duration('2m', 'bounded wait at teardown for Nomad to deregister the services of stopped jobs'),
        audience: z
          .string()
          .regex(/^[A-Za-z0-9._:/-]{1,200}$/)
          .default('consul.io')
          .describe("audience of the consul_default workload identity the jobs declare; the Consul auth method 'nomad-workloads' binds it"),
      })
      .prefault({}),
    vault: z
      .object({
        kvMount: z.string().regex(/^[a-z0-9_-]+$/).default('secret').describe('KV v2 mount'),
        pathPrefix: z.string().regex(/^[a-z0-9_-]+(\/[a-z0-9_-]+)*$/).default('previews').describe('path under the mount for PR secrets'),
        jwtMount: z.string().regex(/^[a-z0-9_-]+(\/[a-z0-9_-]+)*$/).default('jwt-nomad').describe("auth mount of Nomad's workload identity"),
        audience: z
          .string()
          .regex(/^[A-Za-z0-9._:/-]{1,200}$/)
          .default('vault.io')
          .describe('audience of the vault_default workload identity the jobs declare; the JWT role binds it'),
      })
      .prefault({}),
    database: z
      .object({
        namePrefix: z.string().regex(IDENT).default('preview_').describe('prefix of PR database and role names'),
        loginGroup: z
          .string()
          .regex(IDENT)
          .default('previewd_pr_login')
          .describe('group role every PR login joins (pg_hba can require scram-sha-256 for +group)'),
        host: z
          .string()
          .optional()
          .describe("host PR jobs use to reach Postgres; default: the host of DATABASE_URL, which then must not be a loopback address (refused: PR jobs run elsewhere); DATABASE_URL's connection parameters (sslmode…) are kept"),
        port: z.number().int().positive().optional().describe('port PR jobs use to reach Postgres; default: that of DATABASE_URL'),
        cloneMethod: z
          .enum(CLONE_METHOD_SETTINGS)
          .default('auto')
          .describe(
            "file_copy_method of STRATEGY FILE_COPY clones: auto = clone on PostgreSQL 18+ when the server offers it, else copy; clone = always (refused before 18); copy = never. clone is constant-time on a data directory with reflinks (XFS reflink=1, btrfs, ZFS), a full copy on ext4",
          ),
        poolInterval: duration('30s', 'period of the warm-pool refill (repos[].database.pool): stale spares dropped, used ones replaced'),
      })
      .prefault({}),
    gc: z
      .object({
        interval: duration('10m', 'period of the GC sweep'),
        readsInFlight: z
          .number()
          .int()
          .min(1)
          .max(256)
          .default(16)
          .describe('per system (Consul, Vault, GitHub), at most this many reads of a GC sweep at once (the inventory lists in bulk; the reads left are per Consul node, per Vault object of an environment that is not live, per PR missing from the open list)'),
      })
      .prefault({}),
    ui: z
      .object({
        nomadUrl: z
          .string()
          .url()
          .optional()
          .describe('base URL of the Nomad web UI, e.g. "https://nomad.example.com/ui"; the dashboard links each job there'),
        consulUrl: z
          .string()
          .url()
          .optional()
          .describe('base URL of the Consul web UI with its datacenter, e.g. "https://consul.example.com/ui/dc1"; the dashboard links each service there'),
        sessionTtl: duration('12h', 'lifetime of a dashboard sign-in'),
        linkTtl: duration('30d', 'lifetime of the signed read-only links previewd puts on a PR (renewed whenever the PR is reported to)'),
        trustProxy: z
          .boolean()
          .default(false)
          .describe('trust X-Forwarded-Proto from the reverse proxy in front of previewd (https there makes session cookies Secure)'),
      })
      .prefault({}),
    resume: z
      .object({
        interval: duration(
          '1m',
          'period (and once at start) of the sweep that enqueues every environment whose observed state lags its desired state; Postgres is the truth, the queue only a hint',
        ),
        parkedRetryInterval: duration('30m', 'parked work (its retries used up) whose environment still lags is retried this long after it was parked'),
        parkedRetryLimit: z
          .number()
          .int()
          .min(0)
          .max(100)
          .default(6)
          .describe('retries of parked work per desired change; then the environment is marked failed with its reason until a push or an operator'),
      })
      .prefault({}),
    resync: z
      .object({
        interval: duration(
          '5m',
          "period (and once at start) of the sweep that lists each repo's open PRs and records what webhooks missed (opened, pushes, labels, drafts), decided by the same policy; conditional requests, so an unchanged listing costs no rate limit",
        ),
      })
      .prefault({}),
    eventRetention: duration('30d', "environment events (the admin view's history) older than this are deleted with each GC sweep"),
    http: z
      .object({
        maxConnections: z.number().int().min(1).max(100_000).default(512).describe('open client connections at most; more are closed on accept'),
        headersTimeout: duration('10s', "time a client has to send a request's headers, from the moment it connects"),
        requestTimeout: duration('30s', 'time a client has to send a whole request, body included; then 408 and the connection is closed'),
      })
      .prefault({}),
    registry: z
      .object({
        endpoints: z
          .record(z.string().regex(/^[a-z0-9.-]+(:\d{1,5})?$/, 'expected a registry host such as "ghcr.io"'), z.string().regex(/^https?:\/\/[^/?#\s]+$/, 'expected a base URL such as "https://registry.example.com"'))
          .default({})
          .describe('base URL per image registry host, for a mirror or a registry served over plain http; default: https://<host> (Docker Hub: https://registry-1.docker.io)'),
        timeout: duration('10s', 'bound on one registry request (manifest probe or token)'),
      })
      .prefault({}),
    e2e: z
      .object({
        concurrency: z.number().int().min(1).max(64).default(2).describe('end-to-end test jobs running at once across all PRs (one per PR at most)'),
        pollInterval: duration('5s', 'how often a running test job is looked at (allocation state, placement failure, timeout)'),
      })
      .prefault({}),
    github: z
      .object({
        statusContext: z.string().min(1).max(100).default('previewd/preview').describe('commit status context'),
      })
      .prefault({}),
  })
  .strict();

const url = (what: string) => z.string().url(`expected a URL (${what})`);

/** Addresses and secrets: from the conventional environment variables only. */
export const envConfigSchema = z
  .object({
    NOMAD_ADDR: url('e.g. http://127.0.0.1:4646').default('http://127.0.0.1:4646'),
    NOMAD_TOKEN: z.string().optional(),
    NOMAD_NAMESPACE: z.string().regex(/^[A-Za-z0-9_-]+$/).default('default'),
    CONSUL_HTTP_ADDR: z
      .string()
      .default('127.0.0.1:8500')
      .transform((v) => (/^https?:\/\//.test(v) ? v : `http://${v}`))
      .pipe(url('host:port or http(s)://host:port')),
    CONSUL_HTTP_TOKEN: z.string().optional(),
    VAULT_ADDR: url('e.g. http://127.0.0.1:8200').default('http://127.0.0.1:8200'),
    VAULT_TOKEN: z.string().min(1, 'expected a Vault token'),
    DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'expected a postgres:// URL'),
    REDIS_URL: z.string().regex(/^rediss?:\/\//, 'expected a redis:// URL').default('redis://127.0.0.1:6379'),
    GITHUB_WEBHOOK_SECRET: z.string().min(16, 'expected at least 16 characters'),
    GITHUB_TOKEN: z.string().optional(),
    GITHUB_APP_ID: z.string().regex(/^\d+$/, 'expected a numeric App ID').optional(),
    GITHUB_APP_PRIVATE_KEY: z.string().includes('PRIVATE KEY', { message: 'expected a PEM private key' }).optional(),
    GITHUB_API_URL: url('e.g. https://api.github.com').default('https://api.github.com'),
    PREVIEWD_ADMIN_TOKEN: z.string().min(16, 'expected at least 16 characters'),
    PREVIEWD_LINK_SECRET: z.string().min(32, 'expected at least 32 characters').optional(),
    PORT: z.coerce.number().int().min(0).max(65535).default(8080),
    DOCKER_CONFIG: z.string().min(1).optional(),
    HOME: z.string().min(1).optional(),
    LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  })
  .superRefine((env, ctx) => {
    const hasApp = env.GITHUB_APP_ID !== undefined || env.GITHUB_APP_PRIVATE_KEY !== undefined;
    if (!env.GITHUB_TOKEN && !hasApp) {
      ctx.addIssue({ code: 'custom', path: ['GITHUB_TOKEN'], message: 'expected GITHUB_TOKEN, or GITHUB_APP_ID with GITHUB_APP_PRIVATE_KEY' });
    }
    if (hasApp && (!env.GITHUB_APP_ID || !env.GITHUB_APP_PRIVATE_KEY)) {
      ctx.addIssue({
        code: 'custom',
        path: [env.GITHUB_APP_ID ? 'GITHUB_APP_PRIVATE_KEY' : 'GITHUB_APP_ID'],
        message: 'expected GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY together',
      });
    }
  });

/** Environment variables whose values must never be printed. */
export const SECRET_ENV_KEYS = [
  'NOMAD_TOKEN',
  'CONSUL_HTTP_TOKEN',
  'VAULT_TOKEN',
  'DATABASE_URL',
  'REDIS_URL',
  'GITHUB_WEBHOOK_SECRET',
  'GITHUB_TOKEN',
  'GITHUB_APP_PRIVATE_KEY',
  'PREVIEWD_ADMIN_TOKEN',
  'PREVIEWD_LINK_SECRET',
] as const;

export type RepoConfig = z.output<typeof repoSchema>;
export type FileConfig = z.output<typeof fileConfigSchema>;
export type EnvConfig = z.output<typeof envConfigSchema>;
export interface Config extends FileConfig {
  env: EnvConfig;
}

// Where the sandbox, the tests and the benchmarks find the local Postgres and Redis:
// read from the environment here, once, and passed down as a value (src/sandbox never
// reads process.env). The daemon's own settings are envConfigSchema's, not these.
export interface LocalServices {
  /** The local Postgres as superuser: set-up only (previewd is given a role: sandbox/pg-server.ts). */
  postgresAdminUrl: string;
  redisUrl: string;
}

type Env = Readonly<Record<string, string | undefined>>;

const DEFAULT_POSTGRES_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** The tests' and benchmarks' servers: TEST_DATABASE_URL / TEST_REDIS_URL, else the machine's defaults. */
export function localServicesFromEnv(env: Env = process.env): LocalServices {
  return {
    postgresAdminUrl: env.TEST_DATABASE_URL || DEFAULT_POSTGRES_ADMIN_URL,
    redisUrl: env.TEST_REDIS_URL || DEFAULT_REDIS_URL,
  };
}

export interface SandboxSettings {
  services: LocalServices;
  /**
   * DATABASE_URL was given: the operator named a Postgres, so the sandbox uses it or
   * fails, never starting an embedded one in its place.
   */
  postgresGiven: boolean;
}

/** `previewd sandbox`: the tests' servers; DATABASE_URL / REDIS_URL stand in for unset TEST_DATABASE_URL / TEST_REDIS_URL. */
export function sandboxSettingsFromEnv(env: Env = process.env): SandboxSettings {
  const services = localServicesFromEnv({
    TEST_DATABASE_URL: env.TEST_DATABASE_URL || env.DATABASE_URL,
    TEST_REDIS_URL: env.TEST_REDIS_URL || env.REDIS_URL,
  });
  return { services, postgresGiven: Boolean(env.DATABASE_URL) };
}

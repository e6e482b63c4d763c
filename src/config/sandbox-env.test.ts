import { describe, expect, it } from 'vitest';
import { localServicesFromEnv, sandboxSettingsFromEnv } from './sandbox-env.js';

describe('local services from the environment', () => {
  it("the tests' servers: TEST_* or the machine's defaults", () => {
    expect(localServicesFromEnv({})).toEqual({ postgresAdminUrl: 'postgres://postgres@127.0.0.1:5432/postgres', redisUrl: 'redis://127.0.0.1:6379' });
    expect(localServicesFromEnv({ TEST_DATABASE_URL: 'postgres://a@h:1/p', TEST_REDIS_URL: 'redis://h:2', DATABASE_URL: 'postgres://ignored@x/y' })).toEqual({
      postgresAdminUrl: 'postgres://a@h:1/p',
      redisUrl: 'redis://h:2',
    });
  });

  it('the sandbox: DATABASE_URL / REDIS_URL stand in for unset TEST_*, and a given Postgres is never replaced by an embedded one', () => {
    expect(sandboxSettingsFromEnv({ DATABASE_URL: 'postgres://op@db:5432/postgres', REDIS_URL: 'redis://r:6379' })).toEqual({
      services: { postgresAdminUrl: 'postgres://op@db:5432/postgres', redisUrl: 'redis://r:6379' },
      postgresGiven: true,
    });
    expect(sandboxSettingsFromEnv({ TEST_DATABASE_URL: 'postgres://t@h:1/p', DATABASE_URL: 'postgres://op@db/postgres' }).services.postgresAdminUrl).toBe('postgres://t@h:1/p');
    expect(sandboxSettingsFromEnv({}).postgresGiven).toBe(false);
  });
});

// The local Postgres and Redis of this test run, as config/sandbox-env.ts reads them
// from the environment (TEST_DATABASE_URL, TEST_REDIS_URL), and the service helpers
// bound to them.
import { localServicesFromEnv } from '../../src/config/sandbox-env.js';
import * as services from '../../src/sandbox/services.js';

export const TEST_SERVICES = localServicesFromEnv(process.env);

/** A Redis connection of the run's Redis under a unique key prefix. */
export const createTestRedis = () => services.createTestRedis(TEST_SERVICES.redisUrl);

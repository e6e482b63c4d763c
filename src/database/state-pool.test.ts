import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createE2eStore } from '../e2e/store.js';
import { createEnvironmentStore } from '../environments/store.js';
import { UserError } from '../errors.js';
import { createApprovalStore } from '../trust/approvals.js';
import { stateSchema } from './state-pool.js';

const log = pino({ level: 'silent' });
// Never connected to: each store checks its schema before it opens anything.
const databaseUrl = 'postgres://previewd@127.0.0.1:1/none';

describe('state schema name', () => {
  it('when the name is plain then it is used, and the default is previewd', () => {
    expect(stateSchema()).toBe('previewd');
    expect(stateSchema('previewd_staging')).toBe('previewd_staging');
  });

  for (const bad of ['x"; DROP SCHEMA previewd; --', 'Previewd', '1abc', '', 'a'.repeat(64)]) {
    it(`when the name is ${JSON.stringify(bad.slice(0, 30))} then every store of the state schema refuses it with a UserError`, () => {
      for (const open of [
        () => createEnvironmentStore({ databaseUrl, log, schema: bad }),
        () => createApprovalStore({ databaseUrl, log, schema: bad }),
        () => createE2eStore({ databaseUrl, log, schema: bad }),
      ]) {
        expect(open).toThrow(UserError);
        expect(open).toThrow(`invalid state schema name "${bad}"`);
      }
    });
  }
});

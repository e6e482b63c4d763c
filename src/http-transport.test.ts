// The shared HTTP plumbing: which failures are worth retrying and which are not.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { TransientError, UserError } from './errors.js';
import { createTransport, type FetchLike } from './http-transport.js';
import { createNomadClient } from './nomad/client.js';
import { classifyFailure } from './queue/retry-policy.js';

/** A fetch that always answers `body` with 200, counting the calls. */
function answering(body: string): { fetch: FetchLike; calls: () => number } {
  let calls = 0;
  const fetch: FetchLike = async () => {
    calls++;
    return { status: 200, headers: { get: () => null }, text: async () => body };
  };
  return { fetch, calls: () => calls };
}

const transport = (fetch: FetchLike) => createTransport({ system: 'nomad', address: 'http://nomad.test', headers: {}, fetch, timeoutMs: 1_000 });

describe('parse', () => {
  const Job = z.object({ ID: z.string(), Version: z.number(), Meta: z.record(z.string(), z.string()).nullable() });

  it('when a JSON answer has an unexpected shape then it is a permanent UserError saying where, what was expected and what came, without the value', () => {
    const body = JSON.stringify({ ID: 'web-1', Version: 'hvs.secret-looking-value', Meta: null });
    const err = (() => {
      try {
        transport(answering(body).fetch).parse(Job, body, 'job read web-1');
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).system).toBe('nomad');
    expect(classifyFailure(err)).toBe('permanent');
    expect((err as Error).message).toMatch(/^Nomad answered job read web-1 with an unexpected shape: Version: .*expected number, received string/);
    expect((err as Error).message).not.toContain('hvs.secret-looking-value');
  });

  it('when many places are wrong then three are named and the rest counted', () => {
    const Wide = z.object({ a: z.string(), b: z.string(), c: z.string(), d: z.string(), e: z.string() });
    expect(() => transport(answering('{}').fetch).parse(Wide, '{}', 'x')).toThrow(/a: .*; b: .*; c: .*; and 2 more/);
  });

  it('when the top level is wrong then the answer itself is named', () => {
    expect(() => transport(answering('[]').fetch).parse(Job, '[]', 'x')).toThrow(/unexpected shape: \(the answer\): .*expected object, received array/);
  });

  it('when the answer is not JSON (a proxy error page) then it is transient', () => {
    let err: unknown;
    try {
      transport(answering('<html>bad gateway</html>').fetch).parse(Job, '<html>bad gateway</html>', 'x');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TransientError);
    expect(classifyFailure(err)).toBe('transient');
  });
});

describe('a client meeting an unexpected shape', () => {
  it('when Nomad answers a job read in a shape previewd does not know then the client asks once and fails permanently', async () => {
    const fake = answering(JSON.stringify({ ID: 7, Version: 'one' }));
    const nomad = createNomadClient({ address: 'http://nomad.test', namespace: 'default', fetch: fake.fetch, timeoutMs: 1_000 });
    const err = await nomad.getJob('web-1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(classifyFailure(err)).toBe('permanent');
    expect(fake.calls()).toBe(1);
  });
});

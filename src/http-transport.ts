// The HTTP plumbing the HashiCorp clients share: a fetch with a per-request timeout
// (blocking reads add their wait), network failures as TransientError, and JSON
// answers checked against a zod schema. Each client keeps its own error mapping.
import nodeFetch from 'node-fetch';
import type { z } from 'zod';
import { TransientError, unexpectedShapeError, type SystemName } from './errors.js';

export interface FetchResponseLike {
  status: number;
  headers: { get(name: string): string | null };
  text(): Promise<string>;
}
export type FetchLike = (
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string; signal: AbortSignal },
) => Promise<FetchResponseLike>;

export interface TransportOptions {
  system: SystemName;
  address: string;
  /** Sent with every request (the token header goes here). */
  headers: Record<string, string>;
  fetch?: FetchLike | undefined;
  timeoutMs: number;
}

export interface RawAnswer {
  status: number;
  body: string;
  headers: FetchResponseLike['headers'];
}

export interface Transport {
  request(
    method: string,
    path: string,
    what: string,
    init?: { query?: URLSearchParams; body?: unknown; extraTimeoutMs?: number; signal?: AbortSignal | undefined },
  ): Promise<RawAnswer>;
  /** Parses a JSON answer; not JSON → TransientError (a proxy's error page); wrong shape → UserError (a version mismatch). */
  parse<T extends z.ZodType>(schema: T, body: string, what: string): z.infer<T>;
}

function withCallerSignal(timeout: AbortSignal, caller: AbortSignal | undefined): AbortSignal {
  return caller ? AbortSignal.any([timeout, caller]) : timeout;
}

export function createTransport(options: TransportOptions): Transport {
  const base = options.address.replace(/\/+$/, '');
  const fetchImpl: FetchLike = options.fetch ?? (nodeFetch as unknown as FetchLike);
  const { system } = options;
  return {
    async request(method, path, what, init = {}) {
      const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
      if (init.body !== undefined) headers['content-type'] = 'application/json';
      const qs = init.query?.toString() ?? '';
      try {
        const res = await fetchImpl(`${base}${path}${qs ? `?${qs}` : ''}`, {
          method,
          headers,
          body: init.body === undefined ? undefined : JSON.stringify(init.body),
          // The caller's signal (the daemon stopping, the PR lock lost) ends a blocking read at once.
          signal: withCallerSignal(AbortSignal.timeout(Math.ceil(options.timeoutMs + (init.extraTimeoutMs ?? 0))), init.signal),
        });
        return { status: res.status, body: await res.text(), headers: res.headers };
      } catch (err) {
        const reason = (err as { code?: string }).code ?? (err as { name?: string }).name ?? 'error';
        throw new TransientError(`${system} ${what}: request failed (${reason})`, { system, code: reason, cause: err });
      }
    },
    parse(schema, body, what) {
      let raw: unknown;
      try {
        raw = JSON.parse(body);
      } catch (err) {
        throw new TransientError(`${system} ${what}: answer is not JSON`, { system, cause: err });
      }
      const parsed = schema.safeParse(raw);
      // JSON in a shape we do not understand: an incompatible server, and it will answer
      // the same next time, so not something to retry (see unexpectedShapeError).
      if (!parsed.success) throw unexpectedShapeError(system, what, parsed.error.issues);
      return parsed.data;
    },
  };
}

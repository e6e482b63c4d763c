// The HTTP shell every emulator runs in: a node:http server on 127.0.0.1 and a free
// port, request-body reading, and the fault knobs tests use to make a system slow,
// flaky or down. The emulators themselves only see parsed requests.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface EmulatorRequest {
  method: string;
  path: string; // without query string, URL-decoded segments left as sent
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  rawBody: Buffer;
  /** The body parsed as JSON; undefined when empty; a SyntaxError instance when malformed. */
  json(): unknown;
}

export interface EmulatorResponse {
  status: number;
  headers?: Record<string, string>;
  /** string → sent as is; Buffer → raw; anything else → JSON. undefined → empty body. */
  body?: unknown;
}

export type EmulatorHandler = (req: EmulatorRequest) => EmulatorResponse | Promise<EmulatorResponse>;

/** A fixed failure for matching requests, `times` times (Infinity by default). */
export interface FailureRule {
  method?: string;
  path: string | RegExp;
  status: number;
  body: unknown;
  headers?: Record<string, string>;
  times?: number;
}

export interface FaultKnobs {
  /** Added to every request before it is handled. */
  latencyMs: number;
  /** Per-route extra latency (first matching rule wins). */
  routeLatency: { method?: string; path: string | RegExp; ms: number }[];
  /** Fraction 0..1 of requests answered with `randomError`. */
  errorRate: number;
  randomError: { status: number; body: unknown; headers?: Record<string, string> };
  failures: FailureRule[];
}

export interface RequestLogEntry {
  method: string;
  path: string;
  query: string;
  status: number;
  at: number;
}

export interface Emulator {
  readonly name: string;
  readonly url: string; // http://127.0.0.1:<port>
  readonly port: number;
  readonly faults: FaultKnobs;
  /** Every request answered, oldest first (for assertions). */
  readonly requests: RequestLogEntry[];
  /** Refuse connections (the port stays reserved) until up() is called. */
  down(): Promise<void>;
  up(): Promise<void>;
  resetFaults(): void;
  close(): Promise<void>;
}

function matches(rule: { method?: string; path: string | RegExp }, method: string, path: string): boolean {
  if (rule.method && rule.method.toUpperCase() !== method) return false;
  return typeof rule.path === 'string' ? rule.path === path : rule.path.test(path);
}

function send(res: ServerResponse, response: EmulatorResponse, defaultContentType: string): void {
  const headers: Record<string, string> = { ...(response.headers ?? {}) };
  let payload: string | Buffer | undefined;
  if (response.body === undefined) payload = undefined;
  else if (Buffer.isBuffer(response.body)) payload = response.body;
  else if (typeof response.body === 'string') {
    payload = response.body;
    headers['content-type'] ??= defaultContentType;
  } else {
    payload = JSON.stringify(response.body);
    headers['content-type'] ??= 'application/json';
  }
  res.writeHead(response.status, headers);
  res.end(payload);
}

function defaultFaults(errorBody: unknown): FaultKnobs {
  return { latencyMs: 0, routeLatency: [], errorRate: 0, randomError: { status: 500, body: errorBody }, failures: [] };
}

/**
 * Starts an emulator. `textErrorContentType` is what a string body is sent as
 * (Nomad and Consul answer errors as text/plain).
 */
export async function startEmulator(options: {
  name: string;
  handler: EmulatorHandler;
  randomErrorBody?: unknown;
  textContentType?: string;
  port?: number;
  random?: () => number;
}): Promise<Emulator> {
  const random = options.random ?? Math.random;
  const textType = options.textContentType ?? 'text/plain; charset=utf-8';
  const faults = defaultFaults(options.randomErrorBody ?? 'emulated failure');
  const requests: RequestLogEntry[] = [];
  const sockets = new Set<Socket>();
  let isDown = false;

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const url = new URL(req.url ?? '/', 'http://emulator');
        const method = (req.method ?? 'GET').toUpperCase();
        const rawBody = Buffer.concat(chunks);
        const request: EmulatorRequest = {
          method,
          path: url.pathname,
          query: url.searchParams,
          headers: req.headers,
          rawBody,
          json() {
            if (rawBody.length === 0) return undefined;
            try {
              return JSON.parse(rawBody.toString('utf8'));
            } catch (err) {
              return err as SyntaxError;
            }
          },
        };
        let response: EmulatorResponse;
        try {
          const extra = faults.routeLatency.find((r) => matches(r, method, url.pathname))?.ms ?? 0;
          const delay = faults.latencyMs + extra;
          if (delay > 0) await new Promise((r) => setTimeout(r, delay));
          const rule = faults.failures.find((f) => matches(f, method, url.pathname) && (f.times ?? Infinity) > 0);
          if (rule) {
            if (rule.times !== undefined) rule.times -= 1;
            response = { status: rule.status, body: rule.body, headers: rule.headers };
          } else if (faults.errorRate > 0 && random() < faults.errorRate) {
            response = { ...faults.randomError };
          } else {
            response = await options.handler(request);
          }
        } catch (err) {
          response = { status: 500, body: `emulator ${options.name} bug: ${(err as Error).stack ?? String(err)}` };
        }
        requests.push({ method, path: url.pathname, query: url.search, status: response.status, at: Date.now() });
        if (!res.destroyed) send(res, response, textType);
      })();
    });
  });
  server.keepAliveTimeout = 1000;
  server.on('connection', (socket) => {
    if (isDown) {
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  const closeServer = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      if (!server.listening) return resolve();
      server.close(() => resolve());
    });

  return {
    name: options.name,
    url: `http://127.0.0.1:${port}`,
    port,
    faults,
    requests,
    async down() {
      // Closing the listener makes new connections fail with ECONNREFUSED, as a dead agent does.
      isDown = true;
      await closeServer();
    },
    async up() {
      if (server.listening) return;
      isDown = false;
      await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    },
    resetFaults() {
      Object.assign(faults, defaultFaults(options.randomErrorBody ?? 'emulated failure'));
    },
    close: closeServer,
  };
}

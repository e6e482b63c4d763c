// The HTTP server previewd listens with, and the limits that keep unauthenticated
// clients from holding connections and memory: headers must arrive within
// `headersTimeout` (counted from the connection's start, so an idle or slowly-typed
// connection is closed), the whole request, body included, within `requestTimeout`
// (Node answers 408 and closes), and at most `maxConnections` sockets are open at once
// (further ones are closed on accept). Node checks the two timeouts every
// `connectionsCheckingInterval`; its default of 30 s would let each run that much late.
import http from 'node:http';
import type Koa from 'koa';

export interface HttpLimits {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  maxConnections: number;
}

export function createHttpServer(app: Koa, limits: HttpLimits): http.Server {
  const server = http.createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(limits.headersTimeoutMs / 4))),
    },
    app.callback(),
  );
  server.maxConnections = limits.maxConnections;
  return server;
}

// The few error classes previewd uses. Each one tells the caller what to do;
// anything else thrown is a bug. Adapters turn HTTP statuses into these and keep `cause`.

export type SystemName = 'nomad' | 'consul' | 'vault' | 'github' | 'registry' | 'postgres' | 'redis' | 'templates' | 'config';

interface ErrorOptions {
  system?: SystemName;
  /** The HTTP status the remote answered with, when the error came from one. */
  status?: number;
  cause?: unknown;
}

/** Retry later: 5xx, timeouts, refused connections, rate limits. */
export class TransientError extends Error {
  readonly system: SystemName | undefined;
  readonly status: number | undefined;
  /** Milliseconds the remote asked us to wait (Retry-After), when it said so. */
  readonly retryAfterMs: number | undefined;
  /** A failure code that names no host or address: a SQLSTATE, ECONNREFUSED, TimeoutError. */
  readonly code: string | undefined;
  constructor(message: string, options: ErrorOptions & { retryAfterMs?: number; code?: string } = {}) {
    super(message, { cause: options.cause });
    this.name = 'TransientError';
    this.system = options.system;
    this.status = options.status;
    this.retryAfterMs = options.retryAfterMs;
    this.code = options.code;
  }
}

/** Someone else changed the object since we read it: observe again, once. */
export class ConflictError extends Error {
  readonly system: SystemName | undefined;
  readonly status: number | undefined;
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = 'ConflictError';
    this.system = options.system;
    this.status = options.status;
  }
}

/** Bad configuration, template or input: report it, never retry. */
export class UserError extends Error {
  readonly system: SystemName | undefined;
  readonly status: number | undefined;
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = 'UserError';
    this.system = options.system;
    this.status = options.status;
  }
}

/** An operation would touch something previewd did not create. Never retried. */
export class OwnershipError extends UserError {
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, options);
    this.name = 'OwnershipError';
  }
}

/**
 * A newer holder of the PR's lock has written this environment: the write carrying the
 * older fencing token was refused. Not retried and not a failure of the PR: the run
 * stops, and the newer holder (which read the state after this one) owns the PR.
 */
export class StaleFenceError extends Error {
  /** This run's fencing token. */
  readonly token: number;
  /** The token of the newer holder that wrote the environment. */
  readonly fence: number;
  constructor(message: string, options: { token: number; fence: number }) {
    super(message);
    this.name = 'StaleFenceError';
    this.token = options.token;
    this.fence = options.fence;
  }
}

/** What a schema check says about one place in an answer (a zod issue has this shape). */
export interface ShapeIssue {
  readonly path: readonly PropertyKey[];
  readonly message: string;
}

/**
 * A remote answered 2xx with a body previewd does not understand. Not transient: the
 * same server answers the same way next time, because previewd and it disagree on the
 * API (a server upgraded past what previewd knows, a proxy rewriting answers). It is
 * the operator's to fix, so it is a UserError: the queue parks it at once and the
 * environment's status shows it. The text names the request and, per issue, where in
 * the answer and what was expected; the schema's messages name types and allowed
 * values, never the value received, so no answer content (tokens, secrets) is copied.
 */
export function unexpectedShapeError(system: SystemName, what: string, issues: readonly ShapeIssue[], cause?: unknown): UserError {
  const shown = issues.slice(0, 3).map((i) => `${i.path.length > 0 ? i.path.map(String).join('.') : '(the answer)'}: ${i.message}`);
  const more = issues.length > shown.length ? `; and ${issues.length - shown.length} more` : '';
  return new UserError(
    `${SYSTEM_LABEL[system]} answered ${what} with an unexpected shape: ${shown.join('; ')}${more} (is this ${SYSTEM_LABEL[system]} version supported?)`,
    { system, cause },
  );
}

export function errorSystem(err: unknown): SystemName | 'unknown' {
  if (err instanceof TransientError || err instanceof ConflictError || err instanceof UserError) {
    return err.system ?? 'unknown';
  }
  return 'unknown';
}

/** Network-level failures from fetch/pg/ioredis that mean "try again". */
export function isNetworkError(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  return (
    code === 'ECONNREFUSED' ||
    code === 'ECONNRESET' ||
    code === 'ETIMEDOUT' ||
    code === 'EPIPE' ||
    code === 'EHOSTUNREACH' ||
    code === 'ENOTFOUND' ||
    code === 'EAI_AGAIN' ||
    code === 'UND_ERR_SOCKET' ||
    (err as { type?: string } | null)?.type === 'request-timeout' ||
    (err as { name?: string } | null)?.name === 'AbortError'
  );
}

const SYSTEM_LABEL: Record<SystemName, string> = {
  nomad: 'Nomad',
  consul: 'Consul',
  vault: 'Vault',
  github: 'GitHub',
  registry: 'The image registry',
  postgres: 'Postgres',
  redis: 'Redis',
  templates: 'Templates',
  config: 'previewd configuration',
};

// Addresses and host names as infrastructure text carries them: IPv4 (with a port),
// IPv6, names under private suffixes, and any name of three labels or more.
const INFRASTRUCTURE: RegExp[] = [
  /\b\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?\b/g,
  /\[?\b[0-9a-f]{1,4}(?::[0-9a-f]{0,4}){2,7}\b\]?(?::\d{1,5})?/gi,
  /\b(?:[a-z0-9-]+\.)+(?:internal|local|localdomain|lan|corp|intranet|consul|home\.arpa)\b(?::\d{1,5})?/gi,
  /\b(?:[a-z0-9-]+\.){2,}[a-z]{2,63}\b(?::\d{1,5})?/gi,
];

/** Replaces addresses and host names in a text headed for a public place. */
export function redactInfrastructure(text: string): string {
  return INFRASTRUCTURE.reduce((acc, pattern) => acc.replace(pattern, '[host]'), text);
}

/**
 * The reason shown where anyone can read it (the PR comment, commit and deployment
 * statuses): which system and what kind of failure, e.g. "Nomad unavailable (HTTP 503)".
 * Upstream error bodies carry internal addresses and host names (`dial tcp 10.…`,
 * `….prod.internal`), so none of an upstream answer's text is used; the full, scrubbed
 * message goes to the log, the store's lastError and the admin view. Two kinds of
 * message previewd wrote itself are kept, because the PR's author needs them to fix
 * the PR: template errors (about the PR's own files) and failures of the PR's own
 * workload (a failed deployment with its task events, a health check that never
 * passed), the latter with addresses and host names taken out.
 */
export function publicReason(err: unknown, scrubbedMessage: string): string {
  const system = errorSystem(err);
  const who = system === 'unknown' ? 'previewd' : SYSTEM_LABEL[system];
  const status = (err as { status?: unknown } | null)?.status;
  const http = typeof status === 'number' ? ` (HTTP ${status})` : '';
  if (err instanceof OwnershipError) return `${who}: previewd refused to change an object it did not create`;
  if (err instanceof UserError) {
    if (system === 'templates') return scrubbedMessage;
    if (status === 401 || status === 403) return `${who} refused previewd's credentials${http}`;
    if (http) return `${who} rejected the request${http}`;
    return redactInfrastructure(scrubbedMessage);
  }
  if (err instanceof ConflictError) return `${who} changed meanwhile${http}`;
  if (err instanceof TransientError) {
    const code = err.code && /^[A-Za-z0-9_]{1,40}$/.test(err.code) ? ` (${err.code})` : '';
    return `${who} unavailable${http || code}`;
  }
  return 'internal error in previewd';
}

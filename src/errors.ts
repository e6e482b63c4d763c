// The few error classes previewd uses. Each one tells the caller what to do;
// anything else thrown is a bug. Adapters turn HTTP statuses into these and keep `cause`.

export type SystemName = 'nomad' | 'consul' | 'vault' | 'github' | 'postgres' | 'redis' | 'templates' | 'config';

interface ErrorOptions {
  system?: SystemName;
  cause?: unknown;
}

/** Retry later: 5xx, timeouts, refused connections, rate limits. */
export class TransientError extends Error {
  readonly system: SystemName | undefined;
  /** Milliseconds the remote asked us to wait (Retry-After), when it said so. */
  readonly retryAfterMs: number | undefined;
  constructor(message: string, options: ErrorOptions & { retryAfterMs?: number } = {}) {
    super(message, { cause: options.cause });
    this.name = 'TransientError';
    this.system = options.system;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** Someone else changed the object since we read it: observe again, once. */
export class ConflictError extends Error {
  readonly system: SystemName | undefined;
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = 'ConflictError';
    this.system = options.system;
  }
}

/** Bad configuration, template or input: report it, never retry. */
export class UserError extends Error {
  readonly system: SystemName | undefined;
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = 'UserError';
    this.system = options.system;
  }
}

/** An operation would touch something previewd did not create. Never retried. */
export class OwnershipError extends UserError {
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, options);
    this.name = 'OwnershipError';
  }
}

export function isTransient(err: unknown): err is TransientError {
  return err instanceof TransientError;
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

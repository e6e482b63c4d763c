// What `previewd doctor` reports: one result per precondition of one system. A check
// names the precondition ("vault.kv-mount"), what was found, and — when it is not
// met — what the operator runs to meet it. A warning is printed but does not fail.
export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface CheckResult {
  /** "<system>.<precondition>", stable: scripts and the README refer to it. */
  check: string;
  status: CheckStatus;
  detail: string;
  /** What to do; empty when the check passed. */
  fix: string;
}

export const pass = (check: string, detail: string): CheckResult => ({ check, status: 'ok', detail, fix: '' });
export const fail = (check: string, detail: string, fix: string): CheckResult => ({ check, status: 'fail', detail, fix });
export const warn = (check: string, detail: string, fix: string): CheckResult => ({ check, status: 'warn', detail, fix });

/** One HTTP answer as the checks see it: never thrown, a transport failure is `error`. */
export type ProbeAnswer =
  | { status: number; headers: Headers; body: unknown; error?: undefined }
  | { status: 0; headers?: undefined; body?: undefined; error: string };

/** Read-only HTTP against one system; GET unless a read-style POST (parse, plan, capabilities) is named. */
export type Probe = (path: string, options?: { method?: 'GET' | 'POST' | 'PUT'; body?: unknown }) => Promise<ProbeAnswer>;

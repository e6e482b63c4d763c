// The one place that removes secret material from text before it is logged, stored,
// answered or thrown. Two layers: known values (tokens and passwords previewd holds)
// and patterns (credentials in URLs, token shapes) for what a library echoes back.

const REDACTED = '[redacted]';

// Shorter values would redact ordinary words; every real secret here is far longer.
const MIN_SECRET_LENGTH = 6;

/** Patterns of secret material that could ride along in a message from a library. */
const PATTERNS: [RegExp, string][] = [
  [/([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*):[^@\s/]+@/gi, `$1:${REDACTED}@`], // postgres://user:pass@host
  [/\/\/[^/@\s:]+@/g, `//${REDACTED}@`], // a bare token as URL user info
  [/\b(gh[pousr]_[A-Za-z0-9]{10,}|github_pat_[A-Za-z0-9_]{10,})/g, REDACTED], // GitHub tokens
  [/\bhv[sbr]\.[A-Za-z0-9_-]{10,}/g, REDACTED], // Vault tokens
  [/\b(bearer|token)\s+[A-Za-z0-9._~+/=-]{8,}/gi, `$1 ${REDACTED}`],
  [/\b(password|passwd|secret|token|apikey|api_key)(["']?\s*[=:]\s*["']?)[^\s"',;&]+/gi, `$1$2${REDACTED}`],
];

export type Scrubber = (text: string) => string;

/** Removes secret-looking material by pattern only (no known values). */
export function redactPatterns(text: string): string {
  return PATTERNS.reduce((acc, [pattern, replacement]) => acc.replace(pattern, replacement), text);
}

/**
 * A scrubber for known secret values (raw and URL-encoded, longest first) followed
 * by the patterns above.
 */
export function createScrubber(secrets: Iterable<string | null | undefined>): Scrubber {
  const needles = new Set<string>();
  for (const secret of secrets) {
    if (!secret || secret.length < MIN_SECRET_LENGTH) continue;
    needles.add(secret);
    needles.add(encodeURIComponent(secret));
  }
  const sorted = [...needles].sort((a, b) => b.length - a.length);
  return (text: string) => {
    let out = text;
    for (const needle of sorted) out = out.split(needle).join(REDACTED);
    return redactPatterns(out);
  };
}

/** A scrubber that learns secrets as they become known (a new password during a reconcile). */
export interface GrowingScrubber {
  scrub: Scrubber;
  add(secret: string): void;
}

export function createGrowingScrubber(initial: Iterable<string | null | undefined>): GrowingScrubber {
  const secrets = new Set(initial);
  let current = createScrubber(secrets);
  return {
    scrub: (text) => current(text),
    add(secret) {
      secrets.add(secret);
      current = createScrubber(secrets);
    },
  };
}

/** Shorthand for a one-off text. */
export function scrub(text: string, secrets: Iterable<string | null | undefined> = []): string {
  return createScrubber(secrets)(text);
}

/** One line of an error, scrubbed and bounded: for failure reasons, listings and logs. */
export function safeErrorLine(err: unknown, max = 300): string {
  const name = err instanceof Error ? err.name : 'Error';
  const message = err instanceof Error ? err.message : String(err);
  const line = redactPatterns(`${name}: ${message}`).replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 3)}...` : line;
}

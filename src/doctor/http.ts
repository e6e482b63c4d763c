// The doctor's one side effect towards HTTP systems: a bounded request that answers
// status, headers and parsed body, or the transport error, and never throws. Tokens go
// in headers only; no answer text is ever logged here.
import type { Probe, ProbeAnswer } from './types.js';

export function createProbe(baseUrl: string, headers: Record<string, string>, timeoutMs = 10_000): Probe {
  const base = baseUrl.replace(/\/+$/, '');
  return async (path, options = {}): Promise<ProbeAnswer> => {
    try {
      const res = await fetch(`${base}${path}`, {
        method: options.method ?? 'GET',
        headers: { ...headers, ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}) },
        body: options.body !== undefined ? JSON.stringify(options.body) : undefined,
        signal: AbortSignal.timeout(timeoutMs),
      });
      const text = await res.text();
      let body: unknown = text;
      try {
        body = text === '' ? null : JSON.parse(text);
      } catch {
        // Nomad and Consul answer errors as plain text: keep it as a string.
      }
      return { status: res.status, headers: res.headers, body };
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause;
      return { status: 0, error: cause?.code ?? (err as Error).name ?? 'request failed' };
    }
  };
}

/** A short, single-line excerpt of an answer's error text for a check's detail. */
export function answerText(answer: ProbeAnswer): string {
  if (answer.error !== undefined) return `unreachable (${answer.error})`;
  const body = answer.body as { errors?: unknown; message?: unknown } | string | null;
  let text = '';
  if (typeof body === 'string') text = body;
  else if (body && Array.isArray(body.errors)) text = body.errors.map(String).join('; ');
  else if (body && typeof body.message === 'string') text = body.message;
  text = text.replace(/\s+/g, ' ').trim();
  return `HTTP ${answer.status}${text ? `: ${text.length > 200 ? `${text.slice(0, 199)}…` : text}` : ''}`;
}

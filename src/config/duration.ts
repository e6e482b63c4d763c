// Durations in config and CLI flags are written the way operators write them
// ("90s", "30m", "72h", "7d"); inside previewd they are milliseconds.
const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;

/** Parses "90s" / "72h" / "7d" into milliseconds; null when the text is not a duration. */
export function parseDuration(text: string): number | null {
  const match = DURATION.exec(text.trim());
  if (!match) return null;
  return Math.round(Number(match[1]) * UNIT_MS[match[2]!]!);
}

/** Formats milliseconds as the Go-style duration string Vault and Nomad accept ("259200s"). */
export function toGoDuration(ms: number): string {
  return `${Math.max(0, Math.round(ms / 1000))}s`;
}

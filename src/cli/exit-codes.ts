// The CLI's exit codes, documented in README.md. A module of their own so the commands
// and main.ts (which registers them) both import downwards, never each other.
export const EXIT = { ok: 0, failed: 1, usage: 2, changes: 3 } as const;

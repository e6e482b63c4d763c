// Pure: the previewd command a PR comment gives, read from its first line only (issue
// 13 §4). Comments are attacker-controlled text of any size and script: only a first
// line that starts with "/preview" is addressed to previewd, and only one of the known
// words, in plain ASCII, after it is a command. Anything else addressed to previewd is
// "unknown" (answered with a confused reaction); a comment not addressed to it is none.

export const COMMANDS = ['approve', 'redeploy', 'destroy', 'keep', 'help', 'retest'] as const;
export type CommandName = (typeof COMMANDS)[number];

export type ParsedComment = { kind: 'none' } | { kind: 'unknown' } | { kind: 'command'; name: CommandName };

const PREFIX = '/preview';
/** Longer first lines are not commands: nothing is split or scanned past this. */
const MAX_LINE = 200;
const KNOWN: ReadonlySet<string> = new Set(COMMANDS);

export function parseCommand(body: string): ParsedComment {
  // Cut before splitting, so a megabyte without a newline costs no more than a short one.
  const head = body.slice(0, MAX_LINE + 2);
  const raw = head.split(/\r\n|\r|\n/, 1)[0] ?? '';
  // Longer than the cut: whatever follows is unseen, so it is not a command (blanks included).
  const tooLong = raw.length > MAX_LINE;
  const line = raw.replace(/^[ \t]+|[ \t]+$/g, '');
  if (!line.toLowerCase().startsWith(PREFIX)) return { kind: 'none' };
  // "/previewer" or "/preview-bot" are other words, not previewd's prefix.
  const after = line.slice(PREFIX.length);
  if (/^[A-Za-z0-9_-]/.test(after)) return { kind: 'none' };
  if (tooLong) return { kind: 'unknown' };
  // One known word after ASCII blanks: zero-width characters, look-alike letters or
  // other scripts, extra arguments and a bare "/preview" are not understood.
  const match = /^[ \t]+([A-Za-z]+)$/.exec(after);
  const word = match?.[1]?.toLowerCase();
  if (word === undefined || !KNOWN.has(word)) return { kind: 'unknown' };
  return { kind: 'command', name: word as CommandName };
}

/** The reply to `/preview help`. */
export function helpText(optInLabel: string): string {
  return [
    'previewd commands (first line of a comment, from a user with write access to the repository):',
    '',
    '- `/preview approve`: deploy this fork pull request at its current head commit (later pushes wait for a new approval)',
    `  (applying the label \`${optInLabel}\` does the same)`,
    '- `/preview redeploy`: deploy the current commit again',
    '- `/preview destroy`: remove the preview environment (a later push brings it back)',
    '- `/preview keep`: keep the environment however long it sits idle',
    '- `/preview retest`: run the end-to-end tests against the preview again',
    '- `/preview help`: this list',
    '',
    'Each command is answered with a reaction: 👍 done, 😕 not understood, 👎 not permitted.',
  ].join('\n');
}

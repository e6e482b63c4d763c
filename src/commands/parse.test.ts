import { describe, expect, it } from 'vitest';
import { COMMANDS, parseCommand, type ParsedComment } from './parse.js';

describe('parseCommand', () => {
  const command = (name: string): ParsedComment => ({ kind: 'command', name } as ParsedComment);
  const none: ParsedComment = { kind: 'none' };
  const unknown: ParsedComment = { kind: 'unknown' };
  const cases: [string, string, ParsedComment][] = [
    ['a plain command', '/preview approve', command('approve')],
    ['leading and trailing blanks', '  \t/preview redeploy \t', command('redeploy')],
    ['capitals', '/Preview DESTROY', command('destroy')],
    ['several blanks between the words', '/preview    keep', command('keep')],
    ['the command on the first line, prose after', '/preview help\nWhat can you do?\n/preview destroy', command('help')],
    ['CRLF line ends', '/preview retest\r\nthanks', command('retest')],
    ['a lone CR line end', '/preview keep\rmore', command('keep')],
    ['a command on a later line only', 'LGTM\n/preview destroy', none],
    ['text that is not addressed to previewd', 'please approve', none],
    ['another word starting with the prefix', '/previewer approve', none],
    ['another bot sharing the prefix', '/preview-bot approve', none],
    ['a fullwidth slash', '／preview approve', none],
    ['a zero-width space before the slash', '\u200b/preview approve', none],
    ['a quoted command', '> /preview destroy', none],
    ['an empty comment', '', none],
    ['a bare prefix', '/preview', unknown],
    ['an unknown word', '/preview deploy-everything', unknown],
    ['extra arguments', '/preview destroy now', unknown],
    ['a zero-width space inside the word', '/preview appr\u200bove', unknown],
    ['a no-break space as separator', '/preview\u00a0approve', unknown],
    ['a Cyrillic look-alike letter', '/preview аpprove', unknown],
    ['a right-to-left override', '/preview \u202eevorppa', unknown],
    ['a NUL byte', '/preview approve\0', unknown],
    ['markdown around the word', '/preview `approve`', unknown],
    ['a very long first line', `/preview approve ${'x'.repeat(10_000)}`, unknown],
  ];

  it.each(cases)('when the comment has %s then it parses as expected', (_name, body, expected) => {
    expect(parseCommand(body)).toEqual(expected);
  });

  it('when each command is given then each is recognised', () => {
    for (const name of COMMANDS) expect(parseCommand(`/preview ${name}`)).toEqual(command(name));
  });

  it('when a comment is megabytes long on one line or many then only its start decides', () => {
    expect(parseCommand(`/preview keep\n${'a\n'.repeat(2_000_000)}`)).toEqual(command('keep'));
    expect(parseCommand(`/preview keep${' '.repeat(4_000_000)}destroy`)).toEqual(unknown);
    expect(parseCommand(`/preview keep${' '.repeat(4_000_000)}`)).toEqual(unknown);
    expect(parseCommand('x'.repeat(4_000_000))).toEqual(none);
  });
});

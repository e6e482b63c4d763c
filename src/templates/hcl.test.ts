import { parse } from '@cdktf/hcl2json';
import { describe, expect, it } from 'vitest';
import { UserError } from '../errors.js';
import { hasLiveTemplateSequence, hclList, hclString, hclValue, unescapeParsedTemplate } from './hcl.js';

async function roundTrip(value: string): Promise<string> {
  const parsed = (await parse('t.hcl', `x = ${hclString(value)}\n`)) as { x: string };
  return parsed.x;
}

describe('hclString', () => {
  const values = [
    'plain',
    'quote " and backslash \\ and \\"',
    'interp ${var.x} and $${x} and $$${y}',
    'directive %{ if true }x%{ endif } and %%{',
    'handlebars {{x}} and consul [[ .Data ]]',
    'lines\nand\r\ncarriage\ttab',
    'control \u0001\u001f\u007f\u0085 separators \u2028\u2029',
    'unicode é 你好 🚀 \u202e',
    'x'.repeat(10_000),
    '"\n}\njob "evil" {\n',
  ];
  it.each(values.map((v) => [v.slice(0, 40), v]))('when given %j then HCL reads back exactly the same string', async (_label, value) => {
    const parsed = await roundTrip(value);
    expect(hasLiveTemplateSequence(parsed)).toBe(false);
    expect(unescapeParsedTemplate(parsed)).toBe(value);
  });

  it('when a value holds "${" then it is written as "$${" so HCL never interpolates it', () => {
    expect(hclString('a${b}')).toBe('"a$${b}"');
    expect(hclString('a%{b}')).toBe('"a%%{b}"');
  });

  it('when a value holds a NUL or a lone surrogate then it is refused with a UserError', () => {
    expect(() => hclString('a\u0000b', 'datacenter')).toThrow(/datacenter contains a NUL/);
    expect(() => hclString('a\uD800b')).toThrow(UserError);
    expect(hclString('\uD83D\uDE80')).toBe('"\uD83D\uDE80"');
  });
});

describe('hclValue and hclList', () => {
  it('when given numbers and booleans then they are bare literals; objects and undefined are refused', () => {
    expect(hclValue(3000)).toBe('3000');
    expect(hclValue(true)).toBe('true');
    expect(() => hclValue(undefined)).toThrow(/undefined/);
    expect(() => hclValue({ a: 1 })).toThrow(UserError);
    expect(() => hclValue(Number.NaN)).toThrow(UserError);
  });

  it('when given a list with hostile strings then every element stays one string', async () => {
    const list = ['dc1', '", "injected', '${x}'];
    const parsed = (await parse('t.hcl', `x = ${hclList(list)}\n`)) as { x: string[] };
    expect(parsed.x.map(unescapeParsedTemplate)).toEqual(list);
    expect(() => hclList('dc1')).toThrow(/not a list/);
  });
});

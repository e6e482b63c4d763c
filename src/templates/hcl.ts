// Safe HCL literals. Every value a template writes into a job file goes through
// here, so no value can end a string, open a block or start an interpolation,
// whatever it contains. Pure; no Handlebars in this module.
import { UserError } from '../errors.js';

const SIMPLE_ESCAPES: Record<string, string> = {
  '\\': '\\\\',
  '"': '\\"',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
};

function hex4(code: number): string {
  return `\\u${code.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** Why a string cannot be written into HCL at all, or null when it can. */
export function unrepresentable(value: string): string | null {
  if (value.includes('\u0000')) return 'contains a NUL character';
  // A lone surrogate cannot be encoded as UTF-8; HCL refuses "\uD800" too.
  if (/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(value)) return 'contains an unpaired surrogate';
  return null;
}

/**
 * A double-quoted HCL string whose value is exactly `value`: quotes, backslashes
 * and control characters are escaped, and the template sequences `${` and `%{`
 * are doubled (`$${`, `%%{`) so HCL reads them literally.
 */
export function hclString(value: string, what = 'value'): string {
  const problem = unrepresentable(value);
  if (problem) throw new UserError(`${what} ${problem}; it cannot be written into a job file`, { system: 'templates' });
  let out = '"';
  for (let i = 0; i < value.length; i++) {
    const ch = value[i]!;
    const code = ch.charCodeAt(0);
    const next = value[i + 1];
    if (SIMPLE_ESCAPES[ch] !== undefined) out += SIMPLE_ESCAPES[ch];
    else if ((ch === '$' || ch === '%') && next === '{') out += `${ch}${ch}`;
    else if (code < 0x20 || code === 0x7f || (code >= 0x80 && code <= 0x9f) || code === 0x2028 || code === 0x2029) out += hex4(code);
    else out += ch;
  }
  return `${out}"`;
}

/** An HCL literal for a string, finite number or boolean; anything else is refused. */
export function hclValue(value: unknown, what = 'value'): string {
  if (typeof value === 'string') return hclString(value, what);
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value === 'boolean') return String(value);
  throw new UserError(`${what} is ${value === undefined ? 'undefined' : `not a string, number or boolean (${typeof value})`}`, {
    system: 'templates',
  });
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/**
 * A bare HCL identifier, for argument names inside a block (`meta { key = "v" }`): a
 * block body cannot quote its names, so anything but an identifier is refused.
 */
export function hclIdentifier(value: unknown, what = 'name'): string {
  if (typeof value !== 'string' || !IDENTIFIER.test(value)) {
    throw new UserError(`${what} ${JSON.stringify(value)} is not an HCL identifier (letters, digits, "_" and "-")`, { system: 'templates' });
  }
  return value;
}

/** An HCL list literal `["a", "b"]` of safe scalar literals. */
export function hclList(values: unknown, what = 'list'): string {
  if (!Array.isArray(values)) throw new UserError(`${what} is not a list`, { system: 'templates' });
  return `[${values.map((v, i) => hclValue(v, `${what}[${i}]`)).join(', ')}]`;
}

/**
 * Reverses the escaping @cdktf/hcl2json leaves in string values (it returns the
 * source of template sequences, so a literal "${" reads "$${"). Tests use it to
 * compare a parsed value with the input that produced it.
 */
export function unescapeParsedTemplate(value: string): string {
  return value.replace(/\$\$\{/g, '${').replace(/%%\{/g, '%{');
}

/** True when a string parsed by @cdktf/hcl2json holds a live `${` or `%{` sequence (not escaped). */
export function hasLiveTemplateSequence(value: string): boolean {
  return value.replace(/\$\$\{/g, '').includes('${') || value.replace(/%%\{/g, '').includes('%{');
}

// A go-bexpr subset, enough for the filters Nomad (`GET /v1/jobs?filter=`) and Consul
// (`GET /v1/health/service/:name?filter=`) evaluate: ==, !=, is [not] empty,
// [not] in, [not] contains, [not] matches, and/or/not, parentheses; selectors as
// `A.B.C` and `Meta["dotted.key"]`. Evaluated over plain JSON data.
//
// Semantics kept from go-bexpr: a selector that walks through an array collects the
// values of every element (so `Checks.Status == "passing"` holds when any check is
// passing, and `"passing" in Checks.Status` too); a missing *first* selector segment is
// an error (`error finding value in datum`), a missing map key is simply no match.

export class BexprError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BexprError';
  }
}

type Selector = string[];
type Node =
  | { kind: 'and' | 'or'; left: Node; right: Node }
  | { kind: 'not'; expr: Node }
  | { kind: 'eq' | 'ne' | 'contains' | 'notContains' | 'matches' | 'notMatches'; selector: Selector; value: string }
  | { kind: 'in' | 'notIn'; selector: Selector; value: string }
  | { kind: 'empty' | 'notEmpty'; selector: Selector };

type Token = { t: 'ident'; v: string } | { t: 'str'; v: string } | { t: 'op'; v: string };

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '"' || c === '`') {
      let j = i + 1;
      let v = '';
      while (j < src.length && src[j] !== c) {
        if (c === '"' && src[j] === '\\' && j + 1 < src.length) {
          const n = src[j + 1]!;
          v += n === 'n' ? '\n' : n === 't' ? '\t' : n;
          j += 2;
        } else {
          v += src[j];
          j++;
        }
      }
      if (j >= src.length) throw new BexprError(`1:${i + 1}: unterminated string`);
      out.push({ t: 'str', v });
      i = j + 1;
    } else if (src.startsWith('==', i) || src.startsWith('!=', i)) {
      out.push({ t: 'op', v: src.slice(i, i + 2) });
      i += 2;
    } else if ('()[].'.includes(c)) {
      out.push({ t: 'op', v: c });
      i++;
    } else if (/[A-Za-z0-9_\-\/]/.test(c)) {
      let j = i;
      while (j < src.length && /[A-Za-z0-9_\-\/]/.test(src[j]!)) j++;
      out.push({ t: 'ident', v: src.slice(i, j) });
      i = j;
    } else {
      throw new BexprError(`1:${i + 1}: no match found, unexpected "${c}"`);
    }
  }
  return out;
}

class Parser {
  private pos = 0;
  constructor(private readonly toks: Token[]) {}

  parse(): Node {
    const node = this.or();
    if (this.pos < this.toks.length) throw new BexprError(`unexpected token "${this.toks[this.pos]!.v}"`);
    return node;
  }
  private peek(): Token | undefined {
    return this.toks[this.pos];
  }
  private isWord(w: string, offset = 0): boolean {
    const t = this.toks[this.pos + offset];
    return t?.t === 'ident' && t.v === w;
  }
  private isOp(o: string): boolean {
    const t = this.peek();
    return t?.t === 'op' && t.v === o;
  }
  private expectOp(o: string): void {
    if (!this.isOp(o)) throw new BexprError(`expected "${o}"`);
    this.pos++;
  }
  private or(): Node {
    let left = this.and();
    while (this.isWord('or')) {
      this.pos++;
      left = { kind: 'or', left, right: this.and() };
    }
    return left;
  }
  private and(): Node {
    let left = this.not();
    while (this.isWord('and')) {
      this.pos++;
      left = { kind: 'and', left, right: this.not() };
    }
    return left;
  }
  private not(): Node {
    if (this.isWord('not')) {
      this.pos++;
      return { kind: 'not', expr: this.not() };
    }
    if (this.isOp('(')) {
      this.pos++;
      const inner = this.or();
      this.expectOp(')');
      return inner;
    }
    return this.match();
  }
  private value(): string {
    const t = this.peek();
    if (!t || t.t === 'op') throw new BexprError('expected a value');
    this.pos++;
    return t.v;
  }
  private selector(): Selector {
    const t = this.peek();
    if (t?.t !== 'ident') throw new BexprError('expected a selector');
    this.pos++;
    const sel = [t.v];
    for (;;) {
      if (this.isOp('.')) {
        this.pos++;
        const n = this.peek();
        if (n?.t !== 'ident') throw new BexprError('expected a field name after "."');
        this.pos++;
        sel.push(n.v);
      } else if (this.isOp('[')) {
        this.pos++;
        const n = this.peek();
        if (n?.t !== 'str') throw new BexprError('expected a quoted key inside []');
        this.pos++;
        this.expectOp(']');
        sel.push(n.v);
      } else return sel;
    }
  }
  private match(): Node {
    // `"v" in Sel` / `"v" not in Sel`: a value first.
    const first = this.peek();
    if (first?.t === 'str' || (first?.t === 'ident' && (this.isWord('in', 1) || (this.isWord('not', 1) && this.isWord('in', 2))))) {
      const value = this.value();
      let negate = false;
      if (this.isWord('not')) {
        negate = true;
        this.pos++;
      }
      if (!this.isWord('in')) throw new BexprError('expected "in"');
      this.pos++;
      return { kind: negate ? 'notIn' : 'in', selector: this.selector(), value };
    }
    const selector = this.selector();
    if (this.isOp('==') || this.isOp('!=')) {
      const op = this.peek()!.v;
      this.pos++;
      return { kind: op === '==' ? 'eq' : 'ne', selector, value: this.value() };
    }
    if (this.isWord('is')) {
      this.pos++;
      let negate = false;
      if (this.isWord('not')) {
        negate = true;
        this.pos++;
      }
      if (!this.isWord('empty')) throw new BexprError('expected "empty"');
      this.pos++;
      return { kind: negate ? 'notEmpty' : 'empty', selector };
    }
    let negate = false;
    if (this.isWord('not')) {
      negate = true;
      this.pos++;
    }
    if (this.isWord('contains')) {
      this.pos++;
      return { kind: negate ? 'notContains' : 'contains', selector, value: this.value() };
    }
    if (this.isWord('matches')) {
      this.pos++;
      return { kind: negate ? 'notMatches' : 'matches', selector, value: this.value() };
    }
    throw new BexprError(`expected an operator after selector "${selector.join('.')}"`);
  }
}

function parseBexpr(src: string): Node {
  if (src.trim() === '') throw new BexprError('empty filter expression');
  return new Parser(tokenize(src)).parse();
}

/** Values reached by the selector; arrays met on the way are flattened (one level per step). */
function resolve(datum: unknown, sel: Selector): { found: boolean; values: unknown[] } {
  if (datum === null || typeof datum !== 'object' || !(sel[0]! in (datum as object))) {
    throw new BexprError('error finding value in datum');
  }
  let current: unknown[] = [datum];
  let crossedArray = false;
  for (const key of sel) {
    const next: unknown[] = [];
    for (const v of current) {
      if (Array.isArray(v)) {
        crossedArray = true;
        for (const el of v) if (el && typeof el === 'object' && key in el) next.push((el as Record<string, unknown>)[key]);
      } else if (v && typeof v === 'object' && key in v) {
        next.push((v as Record<string, unknown>)[key]);
      }
    }
    current = next;
  }
  return { found: current.length > 0 || crossedArray, values: current };
}

function asString(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function isEmpty(v: unknown): boolean {
  if (v === null || v === undefined || v === '') return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === 'object') return Object.keys(v).length === 0;
  return false;
}

function evaluate(node: Node, datum: unknown): boolean {
  switch (node.kind) {
    case 'and':
      return evaluate(node.left, datum) && evaluate(node.right, datum);
    case 'or':
      return evaluate(node.left, datum) || evaluate(node.right, datum);
    case 'not':
      return !evaluate(node.expr, datum);
    default:
  }
  const { values } = resolve(datum, node.selector);
  // Scalars reached through arrays collapse into a set of candidates.
  const scalars = values.flatMap((v) => (Array.isArray(v) ? v : [v]));
  switch (node.kind) {
    case 'eq':
      return values.some((v) => !Array.isArray(v) && asString(v) === node.value);
    case 'ne':
      return !values.some((v) => !Array.isArray(v) && asString(v) === node.value);
    case 'in':
      return containsValue(values, node.value);
    case 'notIn':
      return !containsValue(values, node.value);
    case 'contains':
      return containsValue(values, node.value);
    case 'notContains':
      return !containsValue(values, node.value);
    case 'matches':
      return scalars.some((v) => typeof v === 'string' && new RegExp(node.value).test(v));
    case 'notMatches':
      return !scalars.some((v) => typeof v === 'string' && new RegExp(node.value).test(v));
    case 'empty':
      return values.length === 0 || values.every(isEmpty);
    case 'notEmpty':
      return !(values.length === 0 || values.every(isEmpty));
  }
}

/** `"v" in X` / `X contains "v"`: element of a list, key of a map, or substring of a string. */
function containsValue(values: unknown[], needle: string): boolean {
  return values.some((v) => {
    if (Array.isArray(v)) return v.some((el) => asString(el) === needle);
    if (typeof v === 'string') return v.includes(needle);
    if (v && typeof v === 'object') return needle in v;
    return false;
  });
}

/** Compiles a filter once; the returned predicate throws BexprError for unknown selectors. */
export function compileBexpr(src: string): (datum: unknown) => boolean {
  const ast = parseBexpr(src);
  return (datum) => evaluate(ast, datum);
}

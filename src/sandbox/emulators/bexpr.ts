// go-bexpr, the filter language of Nomad's and Consul's `filter=` query parameter, as
// hashicorp/go-bexpr v0.1.14 parses and evaluates it (the version Consul and Nomad pin).
// Sources, all in hashicorp/go-bexpr unless named:
// - grammar/grammar.peg: the grammar, transcribed rule by rule below (a PEG: ordered
//   choice, no memo), and grammar/grammar.go (pigeon's generated runtime): how a failed
//   parse is reported. A parse that fails without a rule's own error names the farthest
//   position any literal or character class failed at, and everything expected there:
//   `1:10 (9): no match found, expected: "and", "or", [ \t\r\n] or EOF` (failAt,
//   parse, listJoin: deduplicated, sorted, `!.` shown last as EOF; `line:col (byte
//   offset)`). A rule's own error (`&{ return false, errors.New(…) }`, or an action's
//   error) is `<pos>: rule <display name>: <text>`, e.g. `1:12 (11): rule "string":
//   Unterminated string literal` (addErrAt); several are joined by newlines, deduplicated
//   (errList). The texts are checked against grammar/grammar_test.go's cases.
// - evaluate.go: the match operators, their type rules and error texts; the selector is a
//   JSON pointer walked by mitchellh/pointerstructure (get.go, errors.go, pointer.go),
//   whose errors are wrapped as `error finding value in datum: …`. A missing key counts as
//   "not present" (grammar/ast.go NotPresentDisposition) only when its parent is a Go map
//   (evaluateNotPresent); a missing struct field is an error. Nothing walks into a list's
//   elements: `Checks.Status` is a slice indexed by "Status", an error.
// - filter.go CreateFilter (Consul): `Failed to create boolean expression evaluator: %v`
//   (capitalised in v0.1.14); nomad/state/paginator/paginator.go (Nomad): `failed to read
//   filter expression: %v`. Both callers add their own prefixes (consul.ts, nomad.ts).
//
// The real datum is a Go value; here it is the JSON of one. What JSON cannot tell is
// whether an object was a struct or a map: an object reached through one of `mapFields`
// (Meta, NodeMeta, …: map-typed fields of the structs Consul and Nomad filter) is a map,
// every other object a struct (the top-level datum, list elements, map values). JSON
// numbers are Go `int` when whole, `float64` otherwise (the real field may be uint64 or
// int32: only the kind names in error texts can differ), a JSON null is a nil pointer
// (kind "invalid") unless it stands for a map. Known differences, all in error texts or
// corners no caller here reaches: Go type names in "Value of type … is not convertible"
// are approximated for structs and mixed lists; regular expressions run as JavaScript
// ones (RE2 syntax JavaScript lacks is refused, RE2's own error texts are not copied);
// `is empty` on a kind without a length panics in v0.1.14 and answers v0.1.16's error
// text here; the 2,000,000 expression limit of v0.1.15 is not kept; `is nil` (v0.1.16)
// does not parse, as in v0.1.14.

export class BexprError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BexprError';
  }
}

/** Map-typed fields of the structs the emulators filter (agent/structs, nomad/structs). */
export const DEFAULT_MAP_FIELDS: readonly string[] = ['Meta', 'NodeMeta', 'ServiceMeta', 'TaggedAddresses', 'ServiceTaggedAddresses', 'Env', 'Config'];

type Op = 'eq' | 'ne' | 'in' | 'notIn' | 'empty' | 'notEmpty' | 'matches' | 'notMatches';
interface Sel {
  type: 'bexpr' | 'pointer';
  path: string[];
}
interface Binding {
  mode: 'default' | 'index' | 'value' | 'indexAndValue';
  def?: string;
  index?: string;
  value?: string;
}
type Expr =
  | { k: 'and' | 'or'; l: Expr; r: Expr }
  | { k: 'not'; e: Expr }
  | { k: 'match'; sel: Sel; op: Op; value: string | null }
  | { k: 'coll'; all: boolean; sel: Sel; bind: Binding; inner: Expr };

const FAIL: unique symbol = Symbol('fail');
type R<T> = T | typeof FAIL;

// grammar/ast.go Selector.String: a bexpr selector joins with ".", a JSON pointer with "/".
function selString(sel: Sel): string {
  return sel.type === 'bexpr' ? sel.path.join('.') : sel.path.join('/');
}

/** Go's %q / strconv.Quote, as far as JSON's quoting agrees with it (printable text). */
function goQuote(s: string): string {
  return JSON.stringify(s);
}

/**
 * strconv.Unquote of a literal the grammar matched (`…` or "…"), or null on ErrSyntax:
 * a raw string drops carriage returns; a quoted one takes Go's escapes and no newline.
 */
function goUnquote(text: string): string | null {
  if (text.startsWith('`')) return text.slice(1, -1).replace(/\r/g, '');
  const body = text.slice(1, -1);
  if (body.includes('\n')) return null;
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const n = body[++i];
    const simple: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\', '"': '"' };
    if (n === undefined) return null;
    if (n in simple) {
      out += simple[n];
    } else if (n === 'x' || n === 'u' || n === 'U') {
      const len = n === 'x' ? 2 : n === 'u' ? 4 : 8;
      const hex = body.slice(i + 1, i + 1 + len);
      if (!new RegExp(`^[0-9a-fA-F]{${len}}$`).test(hex)) return null;
      const v = parseInt(hex, 16);
      // UnquoteChar: \x is a byte (only ASCII keeps its meaning as text here), \u and \U a rune.
      if (n !== 'x' && (v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))) return null;
      out += String.fromCodePoint(v);
      i += len;
    } else if (n >= '0' && n <= '7') {
      const oct = body.slice(i, i + 3);
      if (!/^[0-7]{3}$/.test(oct) || parseInt(oct, 8) > 255) return null;
      out += String.fromCharCode(parseInt(oct, 8));
      i += 2;
    } else {
      return null;
    }
  }
  return out;
}

/** pigeon's runtime (grammar/grammar.go): positions, farthest-failure tracking, rule errors. */
class Peg {
  i = 0;
  private maxFail = 0;
  private maxFailExpected: string[] = [];
  private invert = false;
  readonly errs: string[] = [];
  private readonly rstack: string[] = [];
  private readonly cp: string[];
  private readonly bo: number[];

  constructor(src: string) {
    this.cp = [...src];
    this.bo = [0];
    for (const c of this.cp) this.bo.push(this.bo[this.bo.length - 1]! + Buffer.byteLength(c));
  }

  /** `line:col (offset)`: read() counts columns in runes, offsets in bytes; a newline rune is column 0 of the next line. */
  position(at: number): string {
    let line = 1;
    let lastNl = -1;
    for (let j = 0; j <= at && j < this.cp.length; j++) {
      if (this.cp[j] === '\n') {
        line++;
        if (j < at) lastNl = j;
      }
    }
    const col = this.cp[at] === '\n' ? 0 : lastNl >= 0 ? at - lastNl : at + 1;
    return `${line}:${col} (${this.bo[at]})`;
  }

  // failAt: only failures (or, under a `!`, successes) at the farthest offset are kept.
  private failAt(fail: boolean, at: number, want: string): void {
    if (fail !== this.invert) return;
    if (at < this.maxFail) return;
    if (at > this.maxFail) {
      this.maxFail = at;
      this.maxFailExpected = [];
    }
    this.maxFailExpected.push(this.invert ? `!${want}` : want);
  }

  lit(s: string): boolean {
    const start = this.i;
    const want = goQuote(s);
    for (const c of s) {
      if (this.cp[this.i] !== c) {
        this.failAt(false, start, want);
        this.i = start;
        return false;
      }
      this.i++;
    }
    this.failAt(true, start, want);
    return true;
  }

  cls(want: string, re: RegExp): boolean {
    const c = this.cp[this.i];
    if (c !== undefined && re.test(c)) {
      this.i++;
      this.failAt(true, this.i - 1, want);
      return true;
    }
    this.failAt(false, this.i, want);
    return false;
  }

  anyChar(): boolean {
    if (this.i >= this.cp.length) {
      this.failAt(false, this.i, '.');
      return false;
    }
    this.i++;
    this.failAt(true, this.i - 1, '.');
    return true;
  }

  not(f: () => unknown): boolean {
    const start = this.i;
    this.invert = !this.invert;
    const r = f();
    this.invert = !this.invert;
    this.i = start;
    return r === false || r === FAIL;
  }

  and(f: () => unknown): boolean {
    const start = this.i;
    const r = f();
    this.i = start;
    return !(r === false || r === FAIL);
  }

  /** A sequence: restores the position when it fails. */
  seq<T>(f: () => R<T>): R<T> {
    const start = this.i;
    const r = f();
    if (r === FAIL) this.i = start;
    return r;
  }

  rule<T>(display: string, f: () => R<T>): R<T> {
    this.rstack.push(display);
    try {
      return f();
    } finally {
      this.rstack.pop();
    }
  }

  addErrAt(message: string, at: number): void {
    const rule = this.rstack[this.rstack.length - 1];
    this.errs.push(`${this.position(at)}${rule ? `: rule ${rule}` : ''}: ${message}`);
  }

  /** `&{ return false, errors.New(message) }`: records the error where the parse stands, fails. */
  andCode(message: string): typeof FAIL {
    this.addErrAt(message, this.i);
    return FAIL;
  }

  text(from: number): string {
    return this.cp.slice(from, this.i).join('');
  }

  /** parse: no rule error and no match → the farthest failure's expectations. */
  noMatch(): string {
    const set = new Set(this.maxFailExpected);
    const eof = set.delete('!.');
    const expected = [...set].sort();
    if (eof) expected.push('EOF');
    const list = expected.length <= 1 ? expected.join('') : `${expected.slice(0, -1).join(', ')} or ${expected[expected.length - 1]!}`;
    return `${this.position(this.maxFail)}: no match found, expected: ${list}`;
  }
}

/** grammar/grammar.peg, one method per rule, alternatives in the grammar's order. */
class Parser extends Peg {
  private opt(f: () => unknown): void {
    f();
  }

  // _ "whitespace" <- [ \t\r\n]+
  private ws = (): boolean => {
    if (!this.cls('[ \\t\\r\\n]', /[ \t\r\n]/)) return false;
    while (this.cls('[ \\t\\r\\n]', /[ \t\r\n]/));
    return true;
  };

  // EOF <- !.
  private eof = (): boolean => this.not(() => this.anyChar());

  // Input <- _? "(" _? OrExpression _? ")" _? EOF / _? OrExpression _? EOF
  input(): R<Expr> {
    const a = this.seq(() => {
      this.opt(this.ws);
      if (!this.lit('(')) return FAIL;
      this.opt(this.ws);
      const e = this.orExpr();
      if (e === FAIL) return FAIL;
      this.opt(this.ws);
      if (!this.lit(')')) return FAIL;
      this.opt(this.ws);
      return this.eof() ? e : FAIL;
    });
    if (a !== FAIL) return a;
    return this.seq(() => {
      this.opt(this.ws);
      const e = this.orExpr();
      if (e === FAIL) return FAIL;
      this.opt(this.ws);
      return this.eof() ? e : FAIL;
    });
  }

  // OrExpression <- AndExpression _ "or" _ OrExpression / AndExpression / CollectionExpression
  private orExpr = (): R<Expr> => {
    const a = this.seq<Expr>(() => {
      const l = this.andExpr();
      if (l === FAIL || !this.ws() || !this.lit('or') || !this.ws()) return FAIL;
      const r = this.orExpr();
      return r === FAIL ? FAIL : { k: 'or', l, r };
    });
    if (a !== FAIL) return a;
    const b = this.andExpr();
    if (b !== FAIL) return b;
    return this.collection();
  };

  // AndExpression <- NotExpression _ "and" _ AndExpression / NotExpression
  private andExpr = (): R<Expr> => {
    const a = this.seq<Expr>(() => {
      const l = this.notExpr();
      if (l === FAIL || !this.ws() || !this.lit('and') || !this.ws()) return FAIL;
      const r = this.andExpr();
      return r === FAIL ? FAIL : { k: 'and', l, r };
    });
    if (a !== FAIL) return a;
    return this.notExpr();
  };

  // NotExpression <- "not" _ NotExpression / ParenthesizedExpression (`not not x` is x)
  private notExpr = (): R<Expr> => {
    const a = this.seq<Expr>(() => {
      if (!this.lit('not') || !this.ws()) return FAIL;
      const e = this.notExpr();
      if (e === FAIL) return FAIL;
      return e.k === 'not' ? e.e : { k: 'not', e };
    });
    if (a !== FAIL) return a;
    return this.parenthesized();
  };

  // CollectionExpression <- (CollectionOpAny / CollectionOpAll) Selector _ "as" _
  //   CollectionIdentifiers _? "{" _? OrExpression _? "}";  CollectionOpAny <- "any" _
  private collection = (): R<Expr> =>
    this.seq<Expr>(() => {
      let all: boolean;
      if (this.seq(() => (this.lit('any') && this.ws() ? true : FAIL)) !== FAIL) all = false;
      else if (this.seq(() => (this.lit('all') && this.ws() ? true : FAIL)) !== FAIL) all = true;
      else return FAIL;
      const sel = this.selector();
      if (sel === FAIL || !this.ws() || !this.lit('as') || !this.ws()) return FAIL;
      const bind = this.collectionIdentifiers();
      if (bind === FAIL) return FAIL;
      this.opt(this.ws);
      if (!this.lit('{')) return FAIL;
      this.opt(this.ws);
      const inner = this.orExpr();
      if (inner === FAIL) return FAIL;
      this.opt(this.ws);
      return this.lit('}') ? { k: 'coll', all, sel, bind, inner } : FAIL;
    });

  // CollectionIdentifiers "collection-identifiers" <- Identifier _? "," _? Identifier
  //   / Identifier _? "," _? "_" / "_" _? "," _? Identifier / Identifier
  private collectionIdentifiers = (): R<Binding> =>
    this.rule('"collection-identifiers"', () => {
      const comma = () => {
        this.opt(this.ws);
        const ok = this.lit(',');
        if (ok) this.opt(this.ws);
        return ok;
      };
      const a = this.seq<Binding>(() => {
        const i = this.identifier();
        if (i === FAIL || !comma()) return FAIL;
        const v = this.identifier();
        return v === FAIL ? FAIL : { mode: 'indexAndValue', index: i, value: v };
      });
      if (a !== FAIL) return a;
      const b = this.seq<Binding>(() => {
        const i = this.identifier();
        return i !== FAIL && comma() && this.lit('_') ? { mode: 'index', index: i } : FAIL;
      });
      if (b !== FAIL) return b;
      const c = this.seq<Binding>(() => {
        if (!this.lit('_') || !comma()) return FAIL;
        const v = this.identifier();
        return v === FAIL ? FAIL : { mode: 'value', value: v };
      });
      if (c !== FAIL) return c;
      const d = this.identifier();
      return d === FAIL ? FAIL : { mode: 'default', def: d };
    });

  // ParenthesizedExpression "grouping" <- "(" _? OrExpression _? ")" / MatchExpression
  //   / "(" _? OrExpression _? !")" &{ "Unmatched parentheses" }
  private parenthesized = (): R<Expr> =>
    this.rule('"grouping"', () => {
      const group = (close: boolean) =>
        this.seq(() => {
          if (!this.lit('(')) return FAIL;
          this.opt(this.ws);
          const e = this.orExpr();
          if (e === FAIL) return FAIL;
          this.opt(this.ws);
          if (close) return this.lit(')') ? e : FAIL;
          return this.not(() => this.lit(')')) ? this.andCode('Unmatched parentheses') : FAIL;
        });
      const a = group(true);
      if (a !== FAIL) return a;
      const b = this.matchExpr();
      if (b !== FAIL) return b;
      return group(false);
    });

  // MatchExpression "match" <- MatchSelectorOpValue / MatchSelectorOp / MatchValueOpSelector
  private matchExpr = (): R<Expr> => {
    // MatchSelectorOpValue <- Selector (MatchEqual / MatchNotEqual / MatchContains /
    //   MatchNotContains / MatchMatches / MatchNotMatches) Value
    const a = this.seq<Expr>(() => {
      const sel = this.selector();
      if (sel === FAIL) return FAIL;
      const op = this.firstOp([
        ['eq', () => this.padded('==')],
        ['ne', () => this.padded('!=')],
        ['in', () => this.words(['contains'])],
        ['notIn', () => this.words(['not', 'contains'])],
        ['matches', () => this.words(['matches'])],
        ['notMatches', () => this.words(['not', 'matches'])],
      ]);
      if (op === FAIL) return FAIL;
      const value = this.value();
      return value === FAIL ? FAIL : { k: 'match', sel, op, value };
    });
    if (a !== FAIL) return a;
    // MatchSelectorOp <- Selector (MatchIsEmpty / MatchIsNotEmpty)
    const b = this.seq<Expr>(() => {
      const sel = this.selector();
      if (sel === FAIL) return FAIL;
      const op = this.firstOp([
        ['empty', () => this.ws() && this.lit('is') && this.ws() && this.lit('empty')],
        ['notEmpty', () => this.ws() && this.lit('is') && this.ws() && this.lit('not') && this.ws() && this.lit('empty')],
      ]);
      return op === FAIL ? FAIL : { k: 'match', sel, op, value: null };
    });
    if (b !== FAIL) return b;
    // MatchValueOpSelector "match" <- Value (MatchIn / MatchNotIn) Selector
    //   / Value (MatchIn / MatchNotIn) !Selector &{ "Invalid selector" }
    return this.rule('"match"', () => {
      const inOps: [Op, () => boolean][] = [
        ['in', () => this.words(['in'])],
        ['notIn', () => this.words(['not', 'in'])],
      ];
      const c = this.seq<Expr>(() => {
        const value = this.value();
        if (value === FAIL) return FAIL;
        const op = this.firstOp(inOps);
        if (op === FAIL) return FAIL;
        const sel = this.selector();
        return sel === FAIL ? FAIL : { k: 'match', sel, op, value };
      });
      if (c !== FAIL) return c;
      return this.seq<Expr>(() => {
        if (this.value() === FAIL || this.firstOp(inOps) === FAIL) return FAIL;
        return this.not(() => this.selector()) ? this.andCode('Invalid selector') : FAIL;
      });
    });
  };

  private firstOp(ops: [Op, () => boolean][]): R<Op> {
    for (const [op, f] of ops) if (this.seq(() => (f() ? op : FAIL)) !== FAIL) return op;
    return FAIL;
  }

  // MatchEqual <- _? "==" _?
  private padded(op: string): boolean {
    this.opt(this.ws);
    if (!this.lit(op)) return false;
    this.opt(this.ws);
    return true;
  }

  // MatchIn <- _ "in" _; MatchNotIn <- _ "not" _ "in" _; MatchContains <- _ "contains" _ …
  private words(ws: string[]): boolean {
    if (!this.ws()) return false;
    for (const w of ws) if (!this.lit(w) || !this.ws()) return false;
    return true;
  }

  // Selector "selector" <- Identifier SelectorOrIndex* / '"' JsonPointerSegment* '"'
  // (the second: pointerstructure.Parse of "/" + segments, ~1 → "/", ~0 → "~")
  private selector = (): R<Sel> => {
    const a = this.seq<Sel>(() => {
      const first = this.identifier();
      if (first === FAIL) return FAIL;
      const path = [first];
      for (;;) {
        const part = this.selectorOrIndex();
        if (part === FAIL) return { type: 'bexpr', path };
        path.push(part);
      }
    });
    if (a !== FAIL) return a;
    return this.seq<Sel>(() => {
      if (!this.lit('"')) return FAIL;
      const segs: string[] = [];
      for (;;) {
        // JsonPointerSegment <- '/' [\pL\pN-_.~:|]+
        const seg = this.seq(() => {
          if (!this.lit('/')) return FAIL;
          const from = this.i;
          if (!this.cls('[\\pL\\pN-_.~:|]', /[\p{L}\p{N}\-_.~:|]/u)) return FAIL;
          while (this.cls('[\\pL\\pN-_.~:|]', /[\p{L}\p{N}\-_.~:|]/u));
          return this.text(from);
        });
        if (seg === FAIL) break;
        segs.push(seg);
      }
      if (!this.lit('"')) return FAIL;
      const parts = ('/' + segs.join('/'))
        .slice(1)
        .split('/')
        .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
      return { type: 'pointer', path: parts };
    });
  };

  // Identifier <- [a-zA-Z] [a-zA-Z0-9_/]*
  private identifier = (): R<string> => {
    const from = this.i;
    if (!this.cls('[a-zA-Z]', /[a-zA-Z]/)) return FAIL;
    while (this.cls('[a-zA-Z0-9_/]', /[a-zA-Z0-9_/]/));
    return this.text(from);
  };

  // SelectorOrIndex <- "." Identifier / IndexExpression / "." [0-9]+
  private selectorOrIndex(): R<string> {
    const a = this.seq(() => (this.lit('.') ? this.identifier() : FAIL));
    if (a !== FAIL) return a;
    const b = this.indexExpr();
    if (b !== FAIL) return b;
    return this.seq(() => {
      if (!this.lit('.')) return FAIL;
      const from = this.i;
      if (!this.cls('[0-9]', /[0-9]/)) return FAIL;
      while (this.cls('[0-9]', /[0-9]/));
      return this.text(from);
    });
  }

  // IndexExpression "index" <- "[" _? StringLiteral _? "]" / "[" _? !StringLiteral
  //   &{ "Invalid index" } / "[" _? StringLiteral _? !"]" &{ "Unclosed index expression" }
  private indexExpr(): R<string> {
    return this.rule<string>('"index"', () => {
      const a = this.seq<string>(() => {
        if (!this.lit('[')) return FAIL;
        this.opt(this.ws);
        const s = this.stringLit();
        if (s === FAIL) return FAIL;
        this.opt(this.ws);
        return this.lit(']') ? s : FAIL;
      });
      if (a !== FAIL) return a;
      const b = this.seq<string>(() => {
        if (!this.lit('[')) return FAIL;
        this.opt(this.ws);
        return this.not(() => this.stringLit()) ? this.andCode('Invalid index') : FAIL;
      });
      if (b !== FAIL) return b;
      return this.seq<string>(() => {
        if (!this.lit('[')) return FAIL;
        this.opt(this.ws);
        if (this.stringLit() === FAIL) return FAIL;
        this.opt(this.ws);
        return this.not(() => this.lit(']')) ? this.andCode('Unclosed index expression') : FAIL;
      });
    });
  }

  // Value "value" <- Selector (its String() is the raw value) / NumberLiteral / StringLiteral
  private value = (): R<string> => {
    const sel = this.selector();
    if (sel !== FAIL) return selString(sel);
    const n = this.numberLit();
    if (n !== FAIL) return n;
    return this.stringLit();
  };

  // NumberLiteral "number" <- "-"? IntegerOrFloat &AfterNumbers
  //   / "-"? IntegerOrFloat !AfterNumbers &{ "Invalid number literal" }
  // AfterNumbers <- &(_ / EOF / ")");  IntegerOrFloat <- ("0" / [1-9][0-9]*) ("." [0-9]+)?
  private numberLit(): R<string> {
    return this.rule<string>('"number"', () => {
      const after = () => this.and(() => this.ws() || this.eof() || this.lit(')'));
      const intOrFloat = () =>
        this.seq(() => {
          if (!this.lit('0')) {
            if (!this.cls('[1-9]', /[1-9]/)) return FAIL;
            while (this.cls('[0-9]', /[0-9]/));
          }
          this.seq(() => {
            if (!this.lit('.') || !this.cls('[0-9]', /[0-9]/)) return FAIL;
            while (this.cls('[0-9]', /[0-9]/));
            return true;
          });
          return true;
        });
      const from = this.i;
      const a = this.seq(() => {
        this.lit('-');
        return intOrFloat() !== FAIL && after() ? this.text(from) : FAIL;
      });
      if (a !== FAIL) return a;
      return this.seq(() => {
        this.lit('-');
        if (intOrFloat() === FAIL) return FAIL;
        return this.not(after) ? this.andCode('Invalid number literal') : FAIL;
      });
    });
  }

  // StringLiteral "string" <- ('`' RawStringChar* '`' / '"' DoubleStringChar* '"')
  //   { strconv.Unquote } / ('`' RawStringChar* / '"' DoubleStringChar*) EOF
  //   &{ "Unterminated string literal" };  RawStringChar <- !'`' .;  DoubleStringChar <- !'"' .
  // No escape can hide a `"`: the literal ends at the first one.
  private stringLit = (): R<string> =>
    this.rule<string>('"string"', () => {
      const body = (q: string) => {
        if (!this.lit(q)) return false;
        while (this.seq(() => (this.not(() => this.lit(q)) && this.anyChar() ? true : FAIL)) !== FAIL);
        return true;
      };
      const from = this.i;
      const a = this.seq(() => {
        const closed = this.seq(() => (body('`') && this.lit('`') ? true : FAIL)) !== FAIL || this.seq(() => (body('"') && this.lit('"') ? true : FAIL)) !== FAIL;
        if (!closed) return FAIL;
        const v = goUnquote(this.text(from));
        if (v === null) {
          // An action's error (strconv.ErrSyntax) is recorded at the rule's start; the parse goes on.
          this.addErrAt('invalid syntax', from);
          return '';
        }
        return v;
      });
      if (a !== FAIL) return a;
      return this.seq(() => {
        const open = this.seq(() => (body('`') ? true : FAIL)) !== FAIL || this.seq(() => (body('"') ? true : FAIL)) !== FAIL;
        if (!open || !this.eof()) return FAIL;
        return this.andCode('Unterminated string literal');
      });
    });
}

function parseBexpr(src: string): Expr {
  const p = new Parser(src);
  const ast = p.input();
  // parse: rule errors win; none and no match: the farthest failure.
  if (p.errs.length > 0) throw new BexprError([...new Set(p.errs)].join('\n'));
  if (ast === FAIL) throw new BexprError(p.noMatch());
  return ast;
}

// ---- evaluation (evaluate.go) ----

type Kind = 'struct' | 'map' | 'slice' | 'string' | 'bool' | 'int' | 'float64' | 'invalid';

interface Local {
  name: string;
  path?: string[];
  value?: unknown;
}

class Evaluation {
  constructor(
    private readonly datum: unknown,
    private readonly mapFields: ReadonlySet<string>,
  ) {}

  /** reflect.Kind of a JSON value reached through `key` (a map-typed field makes its object a map). */
  private kindOf(v: unknown, key: string | null): Kind {
    if (typeof v === 'string') return 'string';
    if (typeof v === 'boolean') return 'bool';
    if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float64';
    if (Array.isArray(v)) return 'slice';
    const isMapField = key !== null && this.mapFields.has(key);
    if (v === null || v === undefined) return isMapField ? 'map' : 'invalid';
    return isMapField ? 'map' : 'struct';
  }

  private goType(v: unknown, kind: Kind): string {
    if (kind === 'slice') {
      const a = v as unknown[];
      return a.length > 0 && a.every((e) => typeof e === 'string') ? '[]string' : '[]interface {}';
    }
    if (kind === 'map') return Object.values((v ?? {}) as object).every((e) => typeof e === 'string') ? 'map[string]string' : 'map[string]interface {}';
    return kind;
  }

  /**
   * pointerstructure Get: each part indexes a map (key must exist), a struct (field must
   * exist) or a slice (part coerced to an int, then bounds-checked); anything else is an
   * invalid kind. Returns the value and the key it was reached by.
   */
  private get(path: string[]): { ok: true; value: unknown; key: string | null } | { ok: false; notFound: boolean; error: string } {
    const ptr = path.length === 0 ? '' : '/' + path.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');
    let cur: unknown = this.datum;
    let key: string | null = null;
    for (let i = 0; i < path.length; i++) {
      const part = path[i]!;
      const kind = this.kindOf(cur, key);
      if (kind === 'map' || kind === 'struct') {
        const obj = (cur ?? {}) as Record<string, unknown>;
        if (!Object.prototype.hasOwnProperty.call(obj, part)) {
          const what = kind === 'map' ? `couldn't find key ${goQuote(part)}` : `couldn't find key: struct field with name ${goQuote(part)}`;
          return { ok: false, notFound: true, error: `${ptr} at part ${i}: ${what}` };
        }
        cur = obj[part];
        key = part;
      } else if (kind === 'slice') {
        // coerce → mapstructure.WeakDecode of the string into an int.
        const arr = cur as unknown[];
        const idx = part === '' ? 0n : /^[+-]?\d+$/.test(part) ? BigInt(part) : null;
        if (idx === null) return { ok: false, notFound: false, error: `${ptr} at part ${i}: couldn't convert value ${goQuote(part)} to type int` };
        if (idx < 0n || idx >= BigInt(arr.length)) return { ok: false, notFound: false, error: `${ptr} at part ${i}: index ${idx} is out of range (length = ${arr.length})` };
        cur = arr[Number(idx)];
        key = null;
      } else {
        return { ok: false, notFound: false, error: `${ptr}: at part ${i}, invalid value kind: ${kind}` };
      }
    }
    return { ok: true, value: cur, key };
  }

  /** getValue: local variables of any/all first, then the datum; a missing key of a map is "not present". */
  private getValue(path: string[], locals: Local[]): { present: false } | { present: true; value: unknown; key: string | null } {
    let p = path;
    for (let i = locals.length - 1; i >= 0 && p.length > 0; i--) {
      const lv = locals[i]!;
      if (p[0] !== lv.name) continue;
      if (!lv.path) {
        if (p.length > 1) {
          throw new BexprError(`/${lv.name} references a ${this.goType(lv.value, this.kindOf(lv.value, null))} so /${p.join('/')} is invalid`);
        }
        return { present: true, value: lv.value, key: null };
      }
      p = [...lv.path, ...p.slice(1)];
    }
    const got = this.get(p);
    if (got.ok) return { present: true, value: got.value, key: got.key };
    if (got.notFound && p.length >= 2) {
      // evaluateNotPresent: the parent is a map, so the key is merely absent.
      const parent = this.get(p.slice(0, -1));
      if (parent.ok && this.kindOf(parent.value, parent.key) === 'map') return { present: false };
    }
    throw new BexprError(`error finding value in datum: ${got.error}`);
  }

  evaluate(node: Expr, locals: Local[]): boolean {
    switch (node.k) {
      case 'not':
        return !this.evaluate(node.e, locals);
      case 'and':
        return this.evaluate(node.l, locals) && this.evaluate(node.r, locals);
      case 'or':
        return this.evaluate(node.l, locals) || this.evaluate(node.r, locals);
      case 'coll':
        return this.collection(node, locals);
      case 'match':
        return this.match(node, locals);
    }
  }

  // evaluateCollectionExpression: any/all over a list's elements or a map's keys.
  private collection(node: Extract<Expr, { k: 'coll' }>, locals: Local[]): boolean {
    const got = this.getValue(node.sel.path, locals);
    if (!got.present) return node.all;
    const kind = this.kindOf(got.value, got.key);
    if (kind !== 'slice' && kind !== 'map') throw new BexprError(`${selString(node.sel)} is not a list or a map`);
    const b = node.bind;
    const entries: [string | number, string[]][] =
      kind === 'slice' ? (got.value as unknown[]).map((_, i) => [i, [...node.sel.path, String(i)]]) : Object.keys((got.value ?? {}) as object).map((k) => [k, [...node.sel.path, k]]);
    for (const [k, path] of entries) {
      if (b.mode === 'indexAndValue' && b.index === b.value) throw new BexprError(`${goQuote(b.index!)} cannot be used as a placeholder for both the index and the value`);
      const inner = [...locals];
      if (kind === 'map') {
        if (b.def) inner.push({ name: b.def, value: k });
        if (b.index) inner.push({ name: b.index, value: k });
        if (b.value) inner.push({ name: b.value, path });
      } else {
        if (b.index) inner.push({ name: b.index, value: k });
        if (b.def) inner.push({ name: b.def, path });
        if (b.value) inner.push({ name: b.value, path });
      }
      const r = this.evaluate(node.inner, inner);
      if (r && !node.all) return true;
      if (!r && node.all) return false;
    }
    return node.all;
  }

  private match(node: Extract<Expr, { k: 'match' }>, locals: Local[]): boolean {
    const got = this.getValue(node.sel.path, locals);
    // grammar/ast.go NotPresentDisposition: nothing equals, contains or matches a missing key.
    if (!got.present) return node.op === 'ne' || node.op === 'notIn' || node.op === 'empty' || node.op === 'notMatches';
    const v = got.value;
    const kind = this.kindOf(v, got.key);
    const raw = node.value ?? '';
    const sel = goQuote(selString(node.sel));
    switch (node.op) {
      case 'eq':
        return this.equal(v, kind, raw);
      case 'ne':
        return !this.equal(v, kind, raw);
      case 'in':
        return this.contains(v, kind, raw, sel);
      case 'notIn':
        return !this.contains(v, kind, raw, sel);
      case 'empty':
        return this.isEmpty(v, kind, sel);
      case 'notEmpty':
        return !this.isEmpty(v, kind, sel);
      case 'matches':
        return this.matches(v, kind, raw);
      case 'notMatches':
        return !this.matches(v, kind, raw);
    }
  }

  // doMatchEqual: primitive kinds only, the raw value coerced to the field's kind (coerce.go).
  private equal(v: unknown, kind: Kind, raw: string): boolean {
    if (kind !== 'bool' && kind !== 'int' && kind !== 'float64' && kind !== 'string') {
      throw new BexprError('unable to find suitable primitive comparison function for matching');
    }
    const want = coerce(raw, kind);
    if (want.error) throw new BexprError(`error getting match value in expression: ${want.error}`);
    return kind === 'int' ? BigInt(v as number) === want.value : v === want.value;
  }

  // doMatchIn: a map's keys, a list's elements (coerced to their kind), a string's substrings.
  private contains(v: unknown, kind: Kind, raw: string, sel: string): boolean {
    if (kind === 'map') return Object.prototype.hasOwnProperty.call(v ?? {}, raw);
    if (kind === 'string') return (v as string).includes(raw);
    if (kind === 'slice') {
      const arr = v as unknown[];
      if (arr.length === 0) return false;
      const elemKind = this.kindOf(arr[0], null);
      if (elemKind !== 'bool' && elemKind !== 'int' && elemKind !== 'float64' && elemKind !== 'string') {
        throw new BexprError('unable to find suitable primitive comparison function for "in" comparison');
      }
      const want = coerce(raw, elemKind);
      if (want.error) throw new BexprError(`error getting match value in expression: ${want.error}`);
      return arr.some((e) => (elemKind === 'int' ? typeof e === 'number' && BigInt(e) === want.value : e === want.value));
    }
    throw new BexprError(`Cannot perform in/contains operations on type ${kind} for selector: ${sel}`);
  }

  private isEmpty(v: unknown, kind: Kind, sel: string): boolean {
    if (kind === 'map') return Object.keys(v ?? {}).length === 0;
    if (kind === 'slice' || kind === 'string') return (v as unknown[] | string).length === 0;
    throw new BexprError(`cannot perform is-empty operations on type ${kind} for selector: ${sel}`);
  }

  // doMatchMatches: only a string (convertible to []byte) matches; the pattern compiles at evaluation.
  private matches(v: unknown, kind: Kind, raw: string): boolean {
    if (kind !== 'string') throw new BexprError(`Value of type ${this.goType(v, kind)} is not convertible to []byte`);
    return compileGoRegexp(raw).test(v as string);
  }
}

const BOOLS: Record<string, boolean> = { '1': true, t: true, T: true, TRUE: true, true: true, True: true, '0': false, f: false, F: false, FALSE: false, false: false, False: false };

/** coerce.go: strconv.ParseBool, ParseInt(s, 0, 64), ParseFloat(s, 64) and their error texts. */
function coerce(raw: string, kind: 'bool' | 'int' | 'float64' | 'string'): { value?: unknown; error?: string } {
  if (kind === 'string') return { value: raw };
  if (kind === 'bool') return raw in BOOLS ? { value: BOOLS[raw] } : { error: `strconv.ParseBool: parsing ${goQuote(raw)}: invalid syntax` };
  if (kind === 'int') {
    const m = /^([+-]?)(0[xX](?:_?[0-9a-fA-F])+|0[bB](?:_?[01])+|0[oO](?:_?[0-7])+|0(?:_?[0-7])*|[1-9](?:_?[0-9])*)$/.exec(raw);
    if (!m) return { error: `strconv.ParseInt: parsing ${goQuote(raw)}: invalid syntax` };
    let digits = m[2]!.replace(/_/g, '');
    if (/^0[0-7]+$/.test(digits)) digits = `0o${digits.slice(1)}`;
    const n = BigInt(digits) * (m[1] === '-' ? -1n : 1n);
    if (n !== BigInt.asIntN(64, n)) return { error: `strconv.ParseInt: parsing ${goQuote(raw)}: value out of range` };
    return { value: n };
  }
  if (!/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(raw) && !/^[+-]?(inf|infinity|nan)$/i.test(raw)) {
    return { error: `strconv.ParseFloat: parsing ${goQuote(raw)}: invalid syntax` };
  }
  return { value: /nan/i.test(raw) ? NaN : /inf/i.test(raw) ? (raw.startsWith('-') ? -Infinity : Infinity) : Number(raw) };
}

/**
 * regexp.Compile (RE2) run as a JavaScript RegExp: a leading flag group `(?i)`/`(?s)`/`(?m)`
 * becomes flags, and what RE2 refuses (lookaround, backreferences) is refused.
 */
function compileGoRegexp(raw: string): RegExp {
  const fail = (why: string) => new BexprError(`Failed to compile regular expression ${goQuote(raw)}: error parsing regexp: ${why}`);
  let pattern = raw;
  let flags = '';
  const lead = /^\(\?([ims]+)\)/.exec(pattern);
  if (lead) {
    flags = [...new Set(lead[1]!)].join('');
    pattern = pattern.slice(lead[0].length);
  }
  const perl = /\(\?<?[=!]|\\[1-9]/.exec(pattern);
  if (perl) throw fail(`invalid or unsupported Perl syntax: \`${perl[0]}\``);
  try {
    return new RegExp(pattern, flags);
  } catch (err) {
    throw fail((err as Error).message);
  }
}

export interface BexprOptions {
  /** Object-valued fields that are Go maps (a missing key is not an error); default DEFAULT_MAP_FIELDS. */
  mapFields?: Iterable<string>;
}

/**
 * Parses a filter once (bexpr.CreateEvaluator); the predicate evaluates it over one datum
 * (Evaluator.Evaluate). Both throw BexprError with go-bexpr's text.
 */
export function compileBexpr(src: string, options: BexprOptions = {}): (datum: unknown) => boolean {
  const ast = parseBexpr(src);
  const mapFields = new Set(options.mapFields ?? DEFAULT_MAP_FIELDS);
  return (datum) => new Evaluation(datum, mapFields).evaluate(ast, []);
}

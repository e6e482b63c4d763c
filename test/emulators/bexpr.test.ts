import { describe, expect, it } from 'vitest';
import { BexprError, compileBexpr } from '../../src/sandbox/emulators/bexpr.js';
import { quoteBexpr } from '../../src/ownership/markers.js';

function parseError(src: string): string | null {
  try {
    compileBexpr(src);
    return null;
  } catch (err) {
    expect(err).toBeInstanceOf(BexprError);
    return (err as Error).message;
  }
}

function evalError(src: string, datum: unknown): string | boolean {
  try {
    return compileBexpr(src)(datum);
  } catch (err) {
    expect(err).toBeInstanceOf(BexprError);
    return (err as Error).message;
  }
}

describe('bexpr grammar: what parses and the parse errors, as go-bexpr grammar/grammar_test.go has them', () => {
  const cases: [string, string | null][] = [
    ['foo == 3', null],
    ['"/foo" == 3', null],
    ['"/hy-phen/under_score/pi|pe/do.t/ti~lde/" == 3', '1:43 (42): no match found, expected: "in", "not" or [ \\t\\r\\n]'],
    ['foo/bar == 3', null],
    ['environment in foo["abc-def ghi åß∂ƒ"]', null],
    ['foo == "12x', '1:12 (11): rule "string": Unterminated string literal'],
    ['foo == `12x', '1:12 (11): rule "string": Unterminated string literal'],
    ['foo == 3x', '1:9 (8): rule "number": Invalid number literal'],
    ['foo[3] == abc', '1:5 (4): rule "index": Invalid index'],
    ['x in foo["abc"', '1:15 (14): rule "index": Unclosed index expression'],
    ['foo["abc" == 3', '1:11 (10): rule "index": Unclosed index expression'],
    ['x in 32', '1:6 (5): rule "match": Invalid selector'],
    ['32 == 32', '1:4 (3): no match found, expected: "in", "not" or [ \\t\\r\\n]'],
    ['32 is empty', '1:4 (3): no match found, expected: "in", "not" or [ \\t\\r\\n]'],
    ['x in foo abc', '1:10 (9): no match found, expected: "and", "or", [ \\t\\r\\n] or EOF'],
    ['x in foo and ', '1:14 (13): no match found, expected: "(", "-", "0", "\\"", "`", "not", [ \\t\\r\\n], [1-9] or [a-zA-Z]'],
    ['x in foo or ', '1:13 (12): no match found, expected: "(", "-", "0", "\\"", "`", "all", "any", "not", [ \\t\\r\\n], [1-9] or [a-zA-Z]'],
    [
      'x in foo or not ',
      '1:17 (16): no match found, expected: "!=", "(", "-", "0", "==", "\\"", "`", "contains", "in", "is", "matches", "not", [ \\t\\r\\n], [1-9] or [a-zA-Z]',
    ],
    ['foo == 0.2', null],
    ['foo == -0.2', null],
    ['(foo == 4', '1:10 (9): rule "grouping": Unmatched parentheses'],
    ['not not foo == 3', null],
    ['all group.tasks as t { t.name == "hello" }', null],
    ['all group.tasks as { t.name == "hello" }', '1:20 (19): no match found, expected: "_", [ \\t\\r\\n] or [a-zA-Z]'],
    ['all as t { t.name == "hello" }', '1:8 (7): no match found, expected: "as" or [ \\t\\r\\n]'],
  ];
  for (const [src, err] of cases) {
    it(`when ${src} is parsed then ${err ?? 'it parses'}`, () => {
      expect(parseError(src)).toBe(err);
    });
  }

  // The old emulator tokenised loosely; each of these parsed there and does not in go-bexpr.
  const refused: [string, string][] = [
    // DoubleStringChar <- !'"' .: the literal ends at the first quote, strconv.Unquote("\"x\\\"") fails.
    ['a == "x\\"y"', '1:6 (5): rule "string": invalid syntax'],
    // NotExpression <- "not" _ NotExpression: whitespace must follow `not`.
    ['not(a == "b")', '1:4 (3): no match found, expected: "!=", ".", "==", "[", [ \\t\\r\\n] or [a-zA-Z0-9_/]'],
    // Identifier <- [a-zA-Z] [a-zA-Z0-9_/]*: no hyphen, no leading digit.
    ['my-field == "x"', '1:3 (2): no match found, expected: "!=", ".", "==", "[", [ \\t\\r\\n] or [a-zA-Z0-9_/]'],
    // An empty filter is not a parse error but no filter at all (callers skip ""); blanks are.
    ['  ', '1:3 (2): no match found, expected: "(", "-", "0", "\\"", "`", "all", "any", "not", [ \\t\\r\\n], [1-9] or [a-zA-Z]'],
    // OrExpression <- AndExpression _ "or" _ OrExpression / AndExpression / CollectionExpression:
    // any/all is a whole OrExpression, never the left operand (parenthesised, it may be).
    ['any Checks as c { c.Status == "w" } or A == "b"', '1:37 (36): no match found, expected: [ \\t\\r\\n] or EOF'],
    // `is nil` came with v0.1.16; v0.1.14's MatchSelectorOp knows only is [not] empty.
    ['Meta is nil', '1:9 (8): no match found, expected: "empty", "not" or [ \\t\\r\\n]'],
  ];
  for (const [src, err] of refused) {
    it(`when ${src} is parsed then go-bexpr refuses it: ${err}`, () => {
      expect(parseError(src)).toBe(err);
    });
  }

  it('when literals use escapes or backticks then they unquote as strconv.Unquote does', () => {
    const datum = { Name: 'a\tb', Raw: 'x\\ny' };
    expect(compileBexpr('Name == "a\\tb"')(datum)).toBe(true);
    expect(compileBexpr('Raw == `x\\ny`')(datum)).toBe(true);
    expect(compileBexpr('Name == "a\\u0009b"')(datum)).toBe(true);
  });
});

describe('bexpr evaluation: evaluate.go over a Go struct (JSON objects are structs unless a map-typed field)', () => {
  const datum = {
    Name: 'svc-1',
    Port: 8080,
    Enabled: true,
    Tags: ['t1', 't2'],
    Ports: [80, 443],
    Meta: { 'a.b': 'x', owner: 'me' },
    Checks: [{ Status: 'passing' }, { Status: 'critical' }],
    Service: { ID: 'web-1', Meta: {} },
  };
  const cases: [string, string | boolean][] = [
    ['Meta["a.b"] == "x"', true],
    ['Meta.owner == me', true],
    // NotPresentDisposition: a map's missing key is no match for ==, a match for !=.
    ['Meta["missing"] == "x"', false],
    ['Meta["missing"] != "x"', true],
    ['Meta["missing"] is empty', true],
    ['"x" in Meta["missing"]', false],
    // evaluateNotPresent: only when the parent is a map; a struct's missing field is an error.
    ['Service.Nope == "x"', 'error finding value in datum: /Service/Nope at part 1: couldn\'t find key: struct field with name "Nope"'],
    ['Nope == "x"', 'error finding value in datum: /Nope at part 0: couldn\'t find key: struct field with name "Nope"'],
    ['Meta.a.b == "x"', 'error finding value in datum: /Meta/a/b at part 1: couldn\'t find key "a"'],
    // No walking into list elements (pointerstructure getSlice); any/all do that.
    ['Checks.Status == "passing"', 'error finding value in datum: /Checks/Status at part 1: couldn\'t convert value "Status" to type int'],
    ['Checks.1.Status == "critical"', true],
    ['Checks.5.Status == "critical"', 'error finding value in datum: /Checks/5/Status at part 1: index 5 is out of range (length = 2)'],
    ['Name.x == "a"', 'error finding value in datum: /Name/x: at part 1, invalid value kind: string'],
    ['any Checks as c { c.Status == "critical" }', true],
    ['all Checks as c { c.Status == "critical" }', false],
    ['any Meta as k { k == "owner" }', true],
    ['all Name as c { c == "x" }', 'Name is not a list or a map'],
    // doMatchEqual coerces the raw value to the field's kind; only primitive kinds compare.
    ['Port == 8080', true],
    ['Port == "8080"', true],
    // ParseInt(s, 0, 64) takes Go's base prefixes, but a bare 0x… is no NumberLiteral.
    ['Port == "0x1f90"', true],
    ['Port == abc', 'error getting match value in expression: strconv.ParseInt: parsing "abc": invalid syntax'],
    ['Enabled == true', true],
    ['Enabled == T', true],
    ['Enabled == yes', 'error getting match value in expression: strconv.ParseBool: parsing "yes": invalid syntax'],
    ['Tags == "t1"', 'unable to find suitable primitive comparison function for matching'],
    ['Service == "x"', 'unable to find suitable primitive comparison function for matching'],
    // doMatchIn: list elements, map keys, substrings; nothing else.
    ['"t1" in Tags', true],
    ['"t3" not in Tags', true],
    ['Tags contains "t2" and Name == "svc-1"', true],
    ['443 in Ports', true],
    ['"x" in Ports', 'error getting match value in expression: strconv.ParseInt: parsing "x": invalid syntax'],
    ['"owner" in Meta', true],
    ['"vc" in Name', true],
    ['"x" in Checks', 'unable to find suitable primitive comparison function for "in" comparison'],
    ['"8" in Port', 'Cannot perform in/contains operations on type int for selector: "Port"'],
    ['"x" in Service', 'Cannot perform in/contains operations on type struct for selector: "Service"'],
    // doMatchIsEmpty: lengths of maps, lists, strings.
    ['Meta is not empty', true],
    ['Service.Meta is empty', true],
    ['Tags is empty', false],
    ['Port is empty', 'cannot perform is-empty operations on type int for selector: "Port"'],
    // doMatchMatches: strings only; the pattern is compiled when evaluated.
    ['Name matches "^svc-[0-9]+$"', true],
    ['Name not matches "^svc"', false],
    ['Name matches "(?i)^SVC"', true],
    ['Port matches "80"', 'Value of type int is not convertible to []byte'],
    ['Name matches "(?=s)"', 'Failed to compile regular expression "(?=s)": error parsing regexp: invalid or unsupported Perl syntax: `(?=`'],
    ['not (Name == "svc-1")', false],
    ['(Name == "x" or Port == 8080) and not Enabled == false', true],
  ];
  for (const [src, expected] of cases) {
    it(`when ${src} is evaluated then ${String(expected)}`, () => {
      expect(evalError(src, datum)).toBe(expected);
    });
  }

  it('when a caller names other map-typed fields then their missing keys are absent, not errors', () => {
    const job = { Labels: { a: '1' } };
    expect(evalError('Labels.b == "1"', job)).toBe('error finding value in datum: /Labels/b at part 1: couldn\'t find key: struct field with name "b"');
    expect(compileBexpr('Labels.b == "1"', { mapFields: ['Labels'] })(job)).toBe(false);
  });
});

describe('previewd quoteBexpr against the grammar', () => {
  it('when a value holds quotes, backslashes or control characters then its literal reads back as the value', () => {
    for (const value of ['plain', 'back\\slash', 'tab\tnew\nline', 'say "hi"', 'ünï']) {
      const src = `Meta["k"] == ${quoteBexpr(value)}`;
      expect([value, compileBexpr(src)({ Meta: { k: value } })]).toEqual([value, true]);
    }
  });

  it('when a value holds both a double quote and a backtick then no literal fits and it is refused', () => {
    expect(() => quoteBexpr('a"b`c')).toThrow(/fits no go-bexpr string literal/);
  });
});

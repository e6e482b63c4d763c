// How Vault's framework turns a request's JSON fields into typed values, and the
// texts it answers when it cannot. Every backend path (KV v2, sys/policies, JWT roles)
// declares its fields with a framework.FieldType; before the handler runs,
// sdk/framework/backend.go HandleRequest calls FieldData.Validate() and answers
//   logical.ErrorResponse("Field validation failed: " + err) → 400
// where err is sdk/framework/field_data.go Validate's
//   `error converting input %v for field %q: <decode error>`.
// The decoding is mapstructure.WeakDecode (WeaklyTypedInput); Vault parses request
// JSON with UseNumber, so every JSON number reaches mapstructure as a json.Number,
// whose reflect kind is string (mitchellh/mapstructure mapstructure.go).

export type Decoded<T> = { ok: true; value: T } | { ok: false; reason: string };

const good = <T>(value: T): Decoded<T> => ({ ok: true, value });
const bad = <T>(reason: string): Decoded<T> => ({ ok: false, reason });

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The Go type name mapstructure prints for a decoded JSON value. */
function goType(value: unknown): string {
  if (Array.isArray(value)) return '[]interface {}';
  if (isMap(value)) return 'map[string]interface {}';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'number') return 'json.Number';
  return 'string';
}

/** The reflect.Kind mapstructure prints ("expected a map, got '%s'"); a json.Number is a string kind. */
function goKind(value: unknown): string {
  if (Array.isArray(value)) return 'slice';
  if (isMap(value)) return 'map';
  if (typeof value === 'boolean') return 'bool';
  return 'string';
}

/** Go's %v of a decoded JSON value (fmt/print.go): strings bare, maps sorted as map[k:v], slices as [a b]. */
export function goValue(value: unknown): string {
  if (value === null || value === undefined) return '<nil>';
  if (Array.isArray(value)) return `[${value.map(goValue).join(' ')}]`;
  if (isMap(value)) {
    return `map[${Object.keys(value)
      .sort()
      .map((k) => `${k}:${goValue(value[k])}`)
      .join(' ')}]`;
  }
  return String(value);
}

/** The text a JSON number has on the wire (json.Number keeps it; 5 and 5.0 differ in Go, not here). */
const numberText = (n: number) => String(n);

/** strconv.ParseInt(s, 0, 64): optional sign, then 0x / 0o / 0b / leading-0 octal, or decimal; "_" only after a prefix. */
function parseGoInt(text: string): number | null {
  const m = /^([+-]?)(0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|0[0-7_]*|[1-9][0-9]*)$/.exec(text);
  if (!m) return null;
  const sign = m[1] === '-' ? -1 : 1;
  const body = m[2]!.replace(/_/g, '');
  let n: number;
  if (/^0[xX]/.test(body)) n = parseInt(body.slice(2), 16);
  else if (/^0[bB]/.test(body)) n = parseInt(body.slice(2), 2);
  else if (/^0[oO]/.test(body)) n = parseInt(body.slice(2), 8);
  else if (body.length > 1 && body.startsWith('0')) n = parseInt(body.slice(1), 8);
  else n = Number(body);
  return Number.isSafeInteger(n) ? sign * n : null;
}

/** mapstructure decodeInt, weakly typed: bools are 1/0, strings go through strconv.ParseInt, "" is 0, nil leaves 0. */
export function weakInt(value: unknown): Decoded<number> {
  if (value === null || value === undefined) return good(0);
  if (typeof value === 'boolean') return good(value ? 1 : 0);
  if (typeof value === 'number' || typeof value === 'string') {
    const text = typeof value === 'number' ? numberText(value) : value;
    if (text === '') return good(0);
    const n = parseGoInt(text);
    if (n === null) return bad(`cannot parse '' as int: strconv.ParseInt: parsing ${JSON.stringify(text)}: invalid syntax`);
    return good(n);
  }
  return bad(`'' expected type 'int', got unconvertible type '${goType(value)}'`);
}

const GO_TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const GO_FALSE = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

/** mapstructure decodeBool, weakly typed: numbers are != 0, strings go through strconv.ParseBool, "" is false. */
export function weakBool(value: unknown): Decoded<boolean> {
  if (value === null || value === undefined) return good(false);
  if (typeof value === 'boolean') return good(value);
  if (typeof value === 'number' || typeof value === 'string') {
    // A json.Number is a string kind: "5" is not a ParseBool word, so 5 fails as Vault's does.
    const text = typeof value === 'number' ? numberText(value) : value;
    if (GO_TRUE.has(text)) return good(true);
    if (GO_FALSE.has(text) || text === '') return good(false);
    return bad(`cannot parse '' as bool: strconv.ParseBool: parsing ${JSON.stringify(text)}: invalid syntax`);
  }
  return bad(`'' expected type 'bool', got unconvertible type '${goType(value)}'`);
}

/** mapstructure decodeString, weakly typed: bools are "1"/"0", numbers their text, nil leaves "". */
export function weakString(value: unknown): Decoded<string> {
  if (value === null || value === undefined) return good('');
  if (typeof value === 'string') return good(value);
  if (typeof value === 'boolean') return good(value ? '1' : '0');
  if (typeof value === 'number') return good(numberText(value));
  return bad(`'' expected type 'string', got unconvertible type '${goType(value)}'`);
}

/**
 * mapstructure decodeMap, weakly typed: a map as is, nil as nil, and a slice of maps
 * merged into one (decodeMapFromSlice; an empty slice is an empty map).
 */
export function weakMap(value: unknown): Decoded<Record<string, unknown> | null> {
  if (value === null || value === undefined) return good(null);
  if (isMap(value)) return good(value);
  if (Array.isArray(value)) {
    const merged: Record<string, unknown> = {};
    for (const [i, item] of value.entries()) {
      if (item === null) continue;
      if (!isMap(item)) return bad(`'[${i}]' expected a map, got '${goKind(item)}'`);
      Object.assign(merged, item);
    }
    return good(merged);
  }
  return bad(`'' expected a map, got '${goKind(value)}'`);
}

const UNIT_SECONDS: Record<string, number> = { ns: 1e-9, us: 1e-6, 'µs': 1e-6, 'μs': 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };

/** Go time.ParseDuration in seconds (time/format.go), with its error texts. */
function goParseDuration(text: string): Decoded<number> {
  const quoted = JSON.stringify(text);
  let rest = text;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    sign = rest.startsWith('-') ? -1 : 1;
    rest = rest.slice(1);
  }
  if (rest === '0') return good(0);
  if (rest === '') return bad(`time: invalid duration ${quoted}`);
  let total = 0;
  while (rest.length > 0) {
    const num = /^(\d*)(?:\.(\d*))?/.exec(rest)!;
    if (num[0] === '' || num[0] === '.') return bad(`time: invalid duration ${quoted}`);
    rest = rest.slice(num[0].length);
    const unit = /^[^\d.]*/.exec(rest)![0];
    if (unit === '') return bad(`time: missing unit in duration ${quoted}`);
    const scale = UNIT_SECONDS[unit];
    if (scale === undefined) return bad(`time: unknown unit ${JSON.stringify(unit)} in duration ${quoted}`);
    total += Number(num[0].startsWith('.') ? `0${num[0]}` : num[0]) * scale;
    rest = rest.slice(unit.length);
  }
  return good(sign * total);
}

/**
 * go-secure-stdlib parseutil.ParseDurationSecond: a json.Number or string; "" is 0; a
 * plain integer is seconds; "<n>d" is days; anything else is time.ParseDuration.
 * Whole seconds, truncated as framework's int(dur.Seconds()) does.
 */
export function durationSecond(value: unknown): Decoded<number> {
  if (value === null || value === undefined) return good(0);
  if (typeof value !== 'string' && typeof value !== 'number') return bad('could not parse duration from input');
  const text = typeof value === 'number' ? numberText(value) : value;
  if (text === '') return good(0);
  if (/^[+-]?\d+$/.test(text)) return good(Number(text));
  if (text.endsWith('d')) {
    const days = text.slice(0, -1);
    if (!/^[+-]?\d+$/.test(days)) return bad(`strconv.ParseInt: parsing ${JSON.stringify(days)}: invalid syntax`);
    return good(Number(days) * 86400);
  }
  const parsed = goParseDuration(text);
  return parsed.ok ? good(Math.trunc(parsed.value)) : parsed;
}

/** The framework field types the emulated paths use (sdk/framework/field_type.go). */
export type FieldType =
  | 'string'
  | 'lowerCaseString'
  | 'int'
  | 'bool'
  | 'map'
  | 'durationSecond'
  | 'signedDurationSecond'
  | 'commaIntSlice'
  | 'commaStringSlice'
  | 'kvPairs';

/**
 * go-secure-stdlib parseutil.ParseCommaStringSlice: "" is empty; a string splits on ","; a
 * list's items (and a lone scalar) weak-decode to strings; every item is trimmed.
 */
function commaStringSlice(value: unknown): Decoded<string[]> {
  if (value === null || value === undefined || value === '') return good([]);
  if (typeof value === 'string') return good(value.split(',').map((s) => s.trim()));
  if (isMap(value)) return bad(`'' source data must be an array or slice, got map`);
  const items = Array.isArray(value) ? value : [value];
  const out: string[] = [];
  for (const [i, item] of items.entries()) {
    const s = weakString(item);
    if (!s.ok) return bad(s.reason.replace(/^'' /, `'[${i}]' `));
    out.push(s.value.trim());
  }
  return good(out);
}

/**
 * field_data.go TypeKVPairs: a map whose values weak-decode to strings, else a list of
 * "key=value" strings (`invalid key pair %q` when one has no "=" or an empty key).
 */
function kvPairs(value: unknown): Decoded<Record<string, string>> {
  if (value === null || value === undefined) return good({});
  if (isMap(value)) {
    const out: Record<string, string> = {};
    let failed = false;
    for (const [k, v] of Object.entries(value)) {
      const s = weakString(v);
      if (!s.ok) failed = true;
      else out[k] = s.value;
    }
    if (!failed) return good(out);
    return bad(`'' source data must be an array or slice, got map`);
  }
  const list = commaStringSlice(Array.isArray(value) ? value : [value]);
  if (!list.ok) return list;
  const out: Record<string, string> = {};
  for (const pair of list.value) {
    const at = pair.indexOf('=');
    if (at <= 0) return bad(`invalid key pair ${JSON.stringify(pair)}`);
    out[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return good(out);
}

/** field_data.go getPrimitive for one field type. */
export function decodeField(type: FieldType, value: unknown): Decoded<unknown> {
  switch (type) {
    case 'string':
      return weakString(value);
    case 'lowerCaseString': {
      const s = weakString(value);
      return s.ok ? good(s.value.toLowerCase()) : s;
    }
    case 'int':
      return weakInt(value);
    case 'bool':
      return weakBool(value);
    case 'map':
      return weakMap(value);
    case 'durationSecond':
    case 'signedDurationSecond': {
      const d = durationSecond(value);
      if (d.ok && type === 'durationSecond' && d.value < 0) return bad(`cannot provide negative value '${d.value}'`);
      return d;
    }
    case 'commaStringSlice':
      return commaStringSlice(value);
    case 'kvPairs':
      return kvPairs(value);
    case 'commaIntSlice': {
      // mapstructure with StringToSliceHookFunc(","): "1,2" → [1 2]; a list's items decode as ints.
      if (value === null || value === undefined) return good([]);
      const items = typeof value === 'string' ? (value === '' ? [] : value.split(',')) : Array.isArray(value) ? value : [value];
      const out: number[] = [];
      for (const [i, item] of items.entries()) {
        const n = weakInt(item);
        if (!n.ok) return bad(n.reason.replace(/^'' /, `'[${i}]' `).replace(/^cannot parse '' /, `cannot parse '[${i}]' `));
        out.push(n.value);
      }
      return good(out);
    }
  }
}

/**
 * sdk/framework/field_data.go Validate, as backend.go HandleRequest reports it: the
 * first field (in body order; Go's map order is random) whose value does not decode.
 * Fields outside the schema are not checked. null when every field decodes.
 */
export function fieldValidationError(body: Record<string, unknown>, schema: Record<string, FieldType>): string | null {
  for (const [field, value] of Object.entries(body)) {
    const type = schema[field];
    if (!type) continue;
    const decoded = decodeField(type, value);
    if (!decoded.ok) return `Field validation failed: error converting input ${goValue(value)} for field ${JSON.stringify(field)}: ${decoded.reason}`;
  }
  return null;
}

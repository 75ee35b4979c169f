/**
 * Compile-time type checks of built-in calls whose arguments are literals (OPA's `rego_type_error`,
 * opa:v1/ast/check.go): `count(1)` or `concat(",", [1])` can never succeed, so OPA refuses the module, with
 * the argument types it has and the signature it wants:
 *
 *     count: invalid argument(s)
 *         have: (number)
 *         want: (any<array[any], object[any: any], set[any], string>)
 *
 * Only literal arguments are typed here (scalars and composites of literals); a variable, reference or call
 * is of unknown type and accepted, so the check never refuses a module OPA would accept for a builtin whose
 * signature is listed below. Builtins not listed are not checked at compile time (their run-time type errors
 * still apply). Signatures follow OPA's builtin declarations (opa:v1/ast/builtins.go).
 */
import type { Term } from './ast.js';
import { type Value, isNumber, typeName } from './value.js';

type T =
  | { k: 'any' | 'string' | 'number' | 'boolean' | 'null' }
  | { k: 'array' | 'set'; of: T }
  | { k: 'object'; key: T; value: T }
  | { k: 'union'; of: T[] };

/** The type of a literal argument; undefined when the argument is not a literal. */
type L =
  | { k: 'string' | 'number' | 'boolean' | 'null' }
  | { k: 'array' | 'set'; items: Array<L | undefined> }
  | { k: 'object'; entries: Array<[L | undefined, L | undefined]> };

const any: T = { k: 'any' };
const str: T = { k: 'string' };
const num: T = { k: 'number' };
const arr = (of: T): T => ({ k: 'array', of });
const set = (of: T): T => ({ k: 'set', of });
const obj = (key: T, value: T): T => ({ k: 'object', key, value });
const union = (...of: T[]): T => ({ k: 'union', of });
const collection = union(arr(any), obj(any, any), set(any));

const SIGNATURES: Record<string, T[]> = {
  count: [union(arr(any), obj(any, any), set(any), str)],
  sum: [union(arr(num), set(num))],
  product: [union(arr(num), set(num))],
  max: [union(arr(any), set(any))],
  min: [union(arr(any), set(any))],
  sort: [union(arr(any), set(any))],
  upper: [str],
  lower: [str],
  trim_space: [str],
  'strings.reverse': [str],
  startswith: [str, str],
  endswith: [str, str],
  contains: [str, str],
  indexof: [str, str],
  trim: [str, str],
  trim_left: [str, str],
  trim_right: [str, str],
  trim_prefix: [str, str],
  trim_suffix: [str, str],
  split: [str, str],
  concat: [str, union(arr(str), set(str))],
  replace: [str, str, str],
  substring: [str, num, num],
  sprintf: [str, arr(any)],
  format_int: [num, num],
  to_number: [union({ k: 'null' }, { k: 'boolean' }, num, str)],
  abs: [num],
  ceil: [num],
  floor: [num],
  round: [num],
  'numbers.range': [num, num],
  'json.unmarshal': [str],
  'yaml.unmarshal': [str],
  'base64.encode': [str],
  'base64.decode': [str],
  'base64url.encode': [str],
  'base64url.decode': [str],
  'hex.encode': [str],
  'hex.decode': [str],
  'urlquery.encode': [str],
  'urlquery.decode': [str],
  'crypto.md5': [str],
  'crypto.sha1': [str],
  'crypto.sha256': [str],
  'time.parse_rfc3339_ns': [str],
  'time.parse_duration_ns': [str],
  'units.parse': [str],
  'units.parse_bytes': [str],
  'regex.match': [str, str],
  'array.concat': [arr(any), arr(any)],
  'array.slice': [arr(any), num, num],
  'array.reverse': [arr(any)],
  'object.get': [obj(any, any), any, any],
  'object.keys': [obj(any, any)],
  'object.union': [obj(any, any), obj(any, any)],
  'object.remove': [obj(any, any), collection],
  'net.cidr_contains': [str, str],
  'strings.replace_n': [obj(str, str), str],
  intersection: [set(set(any))],
  union: [set(set(any))],
};

function scalarType(v: Value): L | undefined {
  if (v === null) return { k: 'null' };
  if (typeof v === 'boolean') return { k: 'boolean' };
  if (typeof v === 'string') return { k: 'string' };
  if (isNumber(v)) return { k: 'number' };
  const n = typeName(v);
  return n === 'string' || n === 'number' || n === 'boolean' || n === 'null' ? { k: n } : undefined;
}

function literalType(t: Term): L | undefined {
  switch (t.type) {
    case 'scalar':
      return scalarType(t.value);
    case 'array':
    case 'set':
      return { k: t.type, items: t.items.map(literalType) };
    case 'object':
      return { k: 'object', entries: t.entries.map(([k, v]) => [literalType(k), literalType(v)]) };
    case 'template':
      return { k: 'string' };
    default:
      return undefined;
  }
}

function accepts(want: T, have: L | undefined): boolean {
  if (have === undefined || want.k === 'any') return true;
  switch (want.k) {
    case 'union':
      return want.of.some((w) => accepts(w, have));
    case 'array':
    case 'set':
      return have.k === want.k && have.items.every((i) => accepts(want.of, i));
    case 'object':
      return have.k === 'object' && have.entries.every(([k, v]) => accepts(want.key, k) && accepts(want.value, v));
    default:
      return have.k === want.k;
  }
}

function showT(t: T): string {
  switch (t.k) {
    case 'union':
      return `any<${t.of.map(showT).join(', ')}>`;
    case 'array':
    case 'set':
      return `${t.k}[${showT(t.of)}]`;
    case 'object':
      return `object[${showT(t.key)}: ${showT(t.value)}]`;
    default:
      return t.k;
  }
}

function showL(l: L | undefined): string {
  if (l === undefined) return 'any';
  switch (l.k) {
    case 'array':
      return l.items.length === 0 ? 'array[any]' : `array<${l.items.map(showL).join(', ')}>`;
    case 'set': {
      const kinds = [...new Set(l.items.map(showL))].sort();
      return kinds.length === 0 ? 'set[any]' : kinds.length === 1 ? `set[${kinds[0]}]` : `set[any<${kinds.join(', ')}>]`;
    }
    case 'object':
      return l.entries.length === 0 ? 'object[any: any]' : `object<${l.entries.map(([k, v]) => `${showL(k)}: ${showL(v)}`).join(', ')}>`;
    default:
      return l.k;
  }
}

/**
 * OPA's message for a call of builtin `name` whose literal arguments cannot match its signature, or
 * undefined when the call type-checks (or the builtin is not listed). `args` are the input arguments only.
 */
export function builtinArgTypeError(name: string, args: Term[]): string | undefined {
  const sig = SIGNATURES[name];
  if (!sig || args.length !== sig.length) return undefined;
  const have = args.map(literalType);
  if (have.every((h, i) => accepts(sig[i]!, h))) return undefined;
  return `${name}: invalid argument(s)\n\thave: (${have.map(showL).join(', ')})\n\twant: (${sig.map(showT).join(', ')})`;
}

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
  | { k: 'tuple'; items: T[]; rest: T | undefined }
  | { k: 'object'; key: T; value: T }
  | { k: 'sobject'; entries: Array<[string, T]>; rest: [T, T] | undefined }
  | { k: 'union'; of: T[] };

/** The type of a literal argument; undefined when the argument is not a literal. */
type L =
  | { k: 'string' | 'number' | 'boolean' | 'null' }
  | { k: 'array' | 'set'; items: Array<L | undefined> }
  | { k: 'object'; entries: Array<[L | undefined, L | undefined]> };

const any: T = { k: 'any' };
const str: T = { k: 'string' };
const num: T = { k: 'number' };
const bool: T = { k: 'boolean' };
const nul: T = { k: 'null' };
const arr = (of: T): T => ({ k: 'array', of });
const set = (of: T): T => ({ k: 'set', of });
const obj = (key: T, value: T): T => ({ k: 'object', key, value });
const union = (...of: T[]): T => ({ k: 'union', of });
/** An array with a fixed prefix of element types (OPA's `static`), optionally followed by any number of `rest`. */
const tuple = (items: T[], rest?: T): T => ({ k: 'tuple', items, rest });
/** An object with named keys of given types (OPA's `static`) and optionally more keys of `key`: `value`. */
const sobj = (entries: Array<[string, T]>, key?: T, value?: T): T => ({ k: 'sobject', entries, rest: key && value ? [key, value] : undefined });

/**
 * Argument types of every builtin whose declaration constrains at least one argument (opa:v1/ast/builtins.go;
 * the same declarations OPA publishes as `capabilities.json`). Builtins taking only `any` are left out, as are
 * the infix operators that have no callable name.
 */
const SIGNATURES: Record<string, T[]> = {
  abs: [num],
  all: [union(arr(any), set(any))],
  and: [set(any), set(any)],
  any: [union(arr(any), set(any))],
  'array.concat': [arr(any), arr(any)],
  'array.flatten': [arr(any)],
  'array.reverse': [arr(any)],
  'array.slice': [arr(any), num, num],
  'base64.decode': [str],
  'base64.encode': [str],
  'base64.is_valid': [str],
  'base64url.decode': [str],
  'base64url.encode': [str],
  'base64url.encode_no_pad': [str],
  'bits.and': [num, num],
  'bits.lsh': [num, num],
  'bits.negate': [num],
  'bits.or': [num, num],
  'bits.rsh': [num, num],
  'bits.xor': [num, num],
  ceil: [num],
  concat: [str, union(arr(str), set(str))],
  contains: [str, str],
  count: [union(str, arr(any), obj(any, any), set(any))],
  'crypto.hmac.equal': [str, str],
  'crypto.hmac.md5': [str, str],
  'crypto.hmac.sha1': [str, str],
  'crypto.hmac.sha256': [str, str],
  'crypto.hmac.sha512': [str, str],
  'crypto.md5': [str],
  'crypto.parse_private_keys': [str],
  'crypto.sha1': [str],
  'crypto.sha256': [str],
  'crypto.x509.parse_and_verify_certificates': [str],
  'crypto.x509.parse_and_verify_certificates_with_options': [str, obj(str, any)],
  'crypto.x509.parse_certificate_request': [str],
  'crypto.x509.parse_certificates': [str],
  'crypto.x509.parse_keypair': [str, str],
  'crypto.x509.parse_rsa_private_key': [str],
  div: [num, num],
  endswith: [str, str],
  floor: [num],
  format_int: [num, num],
  'glob.match': [str, union(nul, arr(str)), str],
  'glob.quote_meta': [str],
  'graph.reachable': [obj(any, union(arr(any), set(any))), union(arr(any), set(any))],
  'graph.reachable_paths': [obj(any, union(arr(any), set(any))), union(arr(any), set(any))],
  'graphql.is_valid': [union(str, obj(any, any)), union(str, obj(any, any))],
  'graphql.parse': [union(str, obj(any, any)), union(str, obj(any, any))],
  'graphql.parse_and_verify': [union(str, obj(any, any)), union(str, obj(any, any))],
  'graphql.parse_query': [str],
  'graphql.parse_schema': [str],
  'graphql.schema_is_valid': [union(str, obj(any, any))],
  'hex.decode': [str],
  'hex.encode': [str],
  'http.send': [obj(str, any)],
  indexof: [str, str],
  indexof_n: [str, str],
  'internal.print': [arr(set(any))],
  'internal.template_string': [arr(any)],
  'internal.test_case': [arr(any)],
  intersection: [set(set(any))],
  'io.jwt.decode': [str],
  'io.jwt.decode_verify': [str, obj(str, any)],
  'io.jwt.encode_sign': [obj(str, any), obj(str, any), obj(str, any)],
  'io.jwt.encode_sign_raw': [str, str, str],
  'io.jwt.verify_eddsa': [str, str],
  'io.jwt.verify_es256': [str, str],
  'io.jwt.verify_es384': [str, str],
  'io.jwt.verify_es512': [str, str],
  'io.jwt.verify_hs256': [str, str],
  'io.jwt.verify_hs384': [str, str],
  'io.jwt.verify_hs512': [str, str],
  'io.jwt.verify_ps256': [str, str],
  'io.jwt.verify_ps384': [str, str],
  'io.jwt.verify_ps512': [str, str],
  'io.jwt.verify_rs256': [str, str],
  'io.jwt.verify_rs384': [str, str],
  'io.jwt.verify_rs512': [str, str],
  'json.filter': [obj(any, any), union(arr(union(str, arr(any))), set(union(str, arr(any))))],
  'json.is_valid': [str],
  'json.marshal_with_options': [any, sobj([["indent", str], ["prefix", str], ["pretty", bool]], str, any)],
  'json.match_schema': [union(str, obj(any, any)), union(str, obj(any, any))],
  'json.patch': [any, arr(sobj([["op", str], ["path", any]], any, any))],
  'json.remove': [obj(any, any), union(arr(union(str, arr(any))), set(union(str, arr(any))))],
  'json.unmarshal': [str],
  'json.verify_schema': [union(str, obj(any, any))],
  lower: [str],
  max: [union(arr(any), set(any))],
  min: [union(arr(any), set(any))],
  minus: [union(num, set(any)), union(num, set(any))],
  mul: [num, num],
  'net.cidr_contains': [str, str],
  'net.cidr_contains_matches': [union(str, arr(union(str, arr(any))), obj(str, union(str, arr(any))), set(union(str, arr(any)))), union(str, arr(union(str, arr(any))), obj(str, union(str, arr(any))), set(union(str, arr(any))))],
  'net.cidr_expand': [str],
  'net.cidr_intersects': [str, str],
  'net.cidr_is_valid': [str],
  'net.cidr_merge': [union(arr(union(str)), set(str))],
  'net.cidr_overlap': [str, str],
  'net.lookup_ip_addr': [str],
  'numbers.range': [num, num],
  'numbers.range_step': [num, num, num],
  'object.filter': [obj(any, any), union(arr(any), obj(any, any), set(any))],
  'object.get': [obj(any, any), any, any],
  'object.keys': [obj(any, any)],
  'object.remove': [obj(any, any), union(arr(any), obj(any, any), set(any))],
  'object.subset': [union(arr(any), obj(any, any), set(any)), union(arr(any), obj(any, any), set(any))],
  'object.union': [obj(any, any), obj(any, any)],
  'object.union_n': [arr(obj(any, any))],
  or: [set(any), set(any)],
  plus: [num, num],
  product: [union(arr(num), set(num))],
  'providers.aws.sign_req': [obj(str, any), obj(str, any), num],
  'rand.intn': [str, num],
  re_match: [str, str],
  'regex.find_all_string_submatch_n': [str, str, num],
  'regex.find_n': [str, str, num],
  'regex.globs_match': [str, str],
  'regex.is_valid': [str],
  'regex.match': [str, str],
  'regex.replace': [str, str, str],
  'regex.split': [str, str],
  'regex.template_match': [str, str, str, str],
  'rego.parse_module': [str, str],
  rem: [num, num],
  replace: [str, str, str],
  round: [num],
  'semver.compare': [str, str],
  set_diff: [set(any), set(any)],
  sort: [union(arr(any), set(any))],
  split: [str, str],
  sprintf: [str, arr(any)],
  startswith: [str, str],
  'strings.any_prefix_match': [union(str, arr(str), set(str)), union(str, arr(str), set(str))],
  'strings.any_suffix_match': [union(str, arr(str), set(str)), union(str, arr(str), set(str))],
  'strings.count': [str, str],
  'strings.render_template': [str, obj(str, any)],
  'strings.replace_n': [obj(str, str), str],
  'strings.reverse': [str],
  'strings.split_n': [str, str, num],
  substring: [str, num, num],
  sum: [union(arr(num), set(num))],
  'time.add_date': [num, num, num, num],
  'time.clock': [union(num, tuple([num, str]))],
  'time.date': [union(num, tuple([num, str]))],
  'time.diff': [union(num, tuple([num, str])), union(num, tuple([num, str]))],
  'time.format': [union(num, tuple([num, str]), tuple([num, str, str]))],
  'time.parse_duration_ns': [str],
  'time.parse_ns': [str, str],
  'time.parse_rfc3339_ns': [str],
  'time.weekday': [union(num, tuple([num, str]))],
  to_number: [union(nul, bool, num, str)],
  trace: [str],
  trim: [str, str],
  trim_left: [str, str],
  trim_prefix: [str, str],
  trim_right: [str, str],
  trim_space: [str],
  trim_suffix: [str, str],
  union: [set(set(any))],
  'units.parse': [str],
  'units.parse_bytes': [str],
  upper: [str],
  'uri.is_valid': [str],
  'uri.parse': [str],
  'urlquery.decode': [str],
  'urlquery.decode_object': [str],
  'urlquery.encode': [str],
  'urlquery.encode_object': [obj(str, union(str, arr(str), set(str)))],
  'uuid.parse': [str],
  'uuid.rfc4122': [str],
  'yaml.is_valid': [str],
  'yaml.unmarshal': [str],

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
    case 'tuple':
      // Element types are checked where both sides have them; the length is left to run time (the time.*
      // builtins take `[ns]` and longer arrays as well as the declared `[ns, tz]`).
      if (have.k !== 'array') return false;
      return have.items.every((i, n) => (n < want.items.length ? accepts(want.items[n]!, i) : want.rest === undefined || accepts(want.rest, i)));
    case 'object':
      return have.k === 'object' && have.entries.every(([k, v]) => accepts(want.key, k) && accepts(want.value, v));
    case 'sobject':
      // Only the kind is checked: which literal keys a static object type admits is left to run time.
      return have.k === 'object';
    default:
      return have.k === want.k;
  }
}

function showT(t: T): string {
  switch (t.k) {
    case 'union':
      return `any<${t.of.map(showT).sort().join(', ')}>`;
    case 'array':
    case 'set':
      return `${t.k}[${showT(t.of)}]`;
    case 'tuple':
      return `array<${t.items.map(showT).join(', ')}>` + (t.rest ? `[${showT(t.rest)}]` : '');
    case 'object':
      return `object[${showT(t.key)}: ${showT(t.value)}]`;
    case 'sobject':
      return `object<${t.entries.map(([k, v]) => `${k}: ${showT(v)}`).join(', ')}>` + (t.rest ? `[${showT(t.rest[0])}: ${showT(t.rest[1])}]` : '');
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

/** The builtins the compile-time check covers, with their input arity. */
export function checkedBuiltins(): Array<[string, number]> {
  return Object.entries(SIGNATURES).map(([name, sig]) => [name, sig.length]);
}

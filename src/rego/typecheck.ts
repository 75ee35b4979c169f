/**
 * OPA's compile-time type checker (opa:v1/ast/check.go, types/types.go), run after the safety reordering
 * like OPA's `CheckTypes` stage. Types flow through each body in evaluation order: literals have their
 * structural types (`[1, "a"]` is `array<number, string>`), a variable takes the type of what it is first
 * unified with (`x := 1`), a built-in call yields its declared result type, a comprehension its element
 * type. A built-in argument whose type cannot unify with the declared one is refused as OPA refuses it:
 *
 *     count: invalid argument(s)
 *         have: (number, ???)
 *         want: (collection: any<string, array[any], object[any: any], set[any]>, n: number)
 *
 * (the operand list includes the call's output, `???` while it is unbound), and `a = b` whose sides have
 * types that cannot unify is a `match error`. A user function has the type its definitions infer: each
 * parameter the type of the first builtin argument it is passed as (`any` if none), the result the type of
 * its value; calls are checked against it as builtin calls are (`data.t.f: invalid argument(s)`).
 * A parameter that is a pattern (`f({"a": x})`, `f([a, b])`) has the pattern's type, its untyped
 * variables `any`. `some k, v in xs` types `k` as the keys and `v` as the elements of `xs`, as does a
 * variable key in a reference. A reference selecting what its value's type cannot have is an `undefined
 * ref`, with OPA's caret rendering of the failing part. `data` references walk the tree of packages and
 * rules: a package's document is an object of the documents below it (and any other string key), a
 * function among them of function type (`(number) => number`), which meets no other type; a reference
 * reaching a function without calling it is an `undefined ref`. Patterns on either side of `=` bind their
 * variables part by part, through arrays, objects and unions. An `every` is checked as OPA checks it:
 * its domain in full, its body only for references and comprehensions.
 *
 * The checker only ever refuses what OPA refuses: whatever it cannot type exactly (input and base-data
 * refs, a rule's document with rules below it) is `any`, which unifies with every type.
 */
import type { Loc } from './ast.js';
import { refKey, type Locals } from './opa-locals.js';
import type { CExpr, CLit, CRule, CTerm, CWith, RuleNode } from './compiled.js';
import { type Value, RObject, RSet, isNumber, compare, keyOf, toRegoString } from './value.js';

/** An OPA type; `undefined` stands for OPA's unknown (nil) type, printed `???`. */
export type Ty =
  | { k: 'null' | 'boolean' | 'number' | 'string' }
  | { k: 'array'; items: Array<Ty | undefined>; dyn: Ty | undefined }
  | { k: 'object'; props: Array<[string | number | boolean | null, Ty | undefined]>; dyn: [Ty | undefined, Ty | undefined] | undefined }
  | { k: 'set'; of: Ty | undefined }
  | { k: 'any'; of: Ty[] }
  /** A user function's type (types.Function): only ever a document of the `data` tree, never a value. */
  | { k: 'fn'; args: Array<Ty | undefined>; result: Ty | undefined };

const ANY: Ty = { k: 'any', of: [] };
const NUM: Ty = { k: 'number' };
const STR: Ty = { k: 'string' };
const BOOL: Ty = { k: 'boolean' };
const NULL: Ty = { k: 'null' };

// ------------------------------------------------------------------------------------------- notation

/** Parses a type in OPA's notation (`any<string, array[any]>`, `object<op: string>[any: any]`). */
export function parseType(text: string): Ty {
  let i = 0;
  const ws = (): void => {
    while (text[i] === ' ') i++;
  };
  const eat = (s: string): boolean => {
    ws();
    if (text.startsWith(s, i)) {
      i += s.length;
      return true;
    }
    return false;
  };
  const expect = (s: string): void => {
    if (!eat(s)) throw new Error(`type ${text}: expected ${s} at ${i}`);
  };
  const list = <T>(item: () => T, close: string): T[] => {
    const out: T[] = [];
    do out.push(item());
    while (eat(','));
    expect(close);
    return out;
  };
  const type = (): Ty => {
    ws();
    const m = /^[a-z]+/.exec(text.slice(i));
    if (!m) throw new Error(`type ${text}: expected a type at ${i}`);
    i += m[0].length;
    switch (m[0]) {
      case 'null':
      case 'boolean':
      case 'number':
      case 'string':
        return { k: m[0] };
      case 'any':
        return eat('<') ? { k: 'any', of: sortTypes(list(type, '>')) } : ANY;
      case 'set': {
        expect('[');
        const of = type();
        expect(']');
        return { k: 'set', of };
      }
      case 'array': {
        const items = eat('<') ? list(type, '>') : [];
        let dyn: Ty | undefined;
        if (eat('[')) {
          dyn = type();
          expect(']');
        }
        return { k: 'array', items, dyn };
      }
      case 'object': {
        const props = eat('<')
          ? list((): [string, Ty] => {
              ws();
              const j = text.indexOf(':', i);
              const key = text.slice(i, j);
              i = j + 1;
              return [key, type()];
            }, '>')
          : [];
        let dyn: [Ty, Ty] | undefined;
        if (eat('[')) {
          const k = type();
          expect(':');
          dyn = [k, type()];
          expect(']');
        }
        return { k: 'object', props, dyn };
      }
      default:
        throw new Error(`type ${text}: unknown type ${m[0]}`);
    }
  };
  const t = type();
  if (i !== text.length) throw new Error(`type ${text}: trailing text at ${i}`);
  return t;
}

/** A type as OPA prints it (types.Sprint). */
export function showType(t: Ty | undefined): string {
  if (t === undefined) return '???';
  switch (t.k) {
    case 'any':
      return t.of.length === 0 ? 'any' : `any<${t.of.map(showType).join(', ')}>`;
    case 'set':
      return `set[${showType(t.of)}]`;
    case 'array':
      return 'array' + (t.items.length ? `<${t.items.map(showType).join(', ')}>` : '') + (t.dyn ? `[${showType(t.dyn)}]` : '');
    case 'fn':
      return `(${t.args.map(showType).join(', ')}) => ${showType(t.result)}`;
    case 'object':
      return (
        'object' +
        (t.props.length ? `<${t.props.map(([k, v]) => `${String(k)}: ${showType(v)}`).join(', ')}>` : '') +
        (t.dyn ? `[${showType(t.dyn[0])}: ${showType(t.dyn[1])}]` : '')
      );
    default:
      return t.k;
  }
}

// ------------------------------------------------------------------------------------------- algebra

const ORDER = { null: 0, boolean: 1, number: 2, string: 3, array: 4, object: 5, set: 6, any: 7, fn: 8 } as const;

function cmpKey(a: string | number | boolean | null, b: string | number | boolean | null): number {
  return compare(a, b);
}

/** OPA's total order of types (types.Compare), which also orders the members of `any<…>`. */
export function compareTypes(a: Ty | undefined, b: Ty | undefined): number {
  const x = a === undefined ? -1 : ORDER[a.k];
  const y = b === undefined ? -1 : ORDER[b.k];
  if (x !== y) return x < y ? -1 : 1;
  if (a === undefined || b === undefined) return 0;
  const slices = (p: Array<Ty | undefined>, q: Array<Ty | undefined>): number => {
    for (let i = 0; i < Math.min(p.length, q.length); i++) {
      const c = compareTypes(p[i], q[i]);
      if (c !== 0) return c;
    }
    return p.length === q.length ? 0 : p.length < q.length ? -1 : 1;
  };
  switch (a.k) {
    case 'array': {
      const bb = b as Extract<Ty, { k: 'array' }>;
      if (a.dyn && !bb.dyn) return 1;
      if (!a.dyn && bb.dyn) return -1;
      if (a.dyn && bb.dyn) {
        const c = compareTypes(a.dyn, bb.dyn);
        if (c !== 0) return c;
      }
      return slices(a.items, bb.items);
    }
    case 'object': {
      const bb = b as Extract<Ty, { k: 'object' }>;
      if (a.dyn && !bb.dyn) return 1;
      if (!a.dyn && bb.dyn) return -1;
      if (a.dyn && bb.dyn) {
        const c = compareTypes(a.dyn[0], bb.dyn[0]) || compareTypes(a.dyn[1], bb.dyn[1]);
        if (c !== 0) return c;
      }
      for (let i = 0; i < Math.min(a.props.length, bb.props.length); i++) {
        const c = cmpKey(a.props[i]![0], bb.props[i]![0]) || compareTypes(a.props[i]![1], bb.props[i]![1]);
        if (c !== 0) return c;
      }
      return a.props.length === bb.props.length ? 0 : a.props.length < bb.props.length ? -1 : 1;
    }
    case 'set': {
      const bb = b as Extract<Ty, { k: 'set' }>;
      return compareTypes(a.of, bb.of);
    }
    case 'any':
      return slices(a.of, (b as Extract<Ty, { k: 'any' }>).of);
    case 'fn': {
      const bb = b as Extract<Ty, { k: 'fn' }>;
      if (a.args.length !== bb.args.length) return a.args.length < bb.args.length ? -1 : 1;
      return slices(a.args, bb.args) || compareTypes(a.result, bb.result);
    }
    default:
      return 0;
  }
}

function sortTypes(ts: Ty[]): Ty[] {
  return [...ts].sort(compareTypes);
}

function anyContains(a: Extract<Ty, { k: 'any' }>, t: Ty | undefined): boolean {
  // No union holds a function, not even `any` (types.Any.Contains).
  if (t?.k === 'fn') return false;
  return a.of.length === 0 || a.of.some((x) => compareTypes(x, t) === 0);
}

/** The union of two types (types.Or). */
export function or(a: Ty | undefined, b: Ty | undefined): Ty | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  // Functions only unite with functions of their arity, argument by argument; with anything else the
  // union is unknown (types.Or, Function.Union).
  if (a.k === 'fn' || b.k === 'fn') {
    if (a.k !== 'fn' || b.k !== 'fn' || a.args.length !== b.args.length) return undefined;
    return { k: 'fn', args: a.args.map((x, i) => or(x, b.args[i])), result: or(a.result, b.result) };
  }
  const merge = (x: Extract<Ty, { k: 'any' }>, y: Ty): Ty => {
    if (y.k === 'any') {
      if (x.of.length === 0 || y.of.length === 0) return ANY;
      const out = [...x.of];
      for (const t of y.of) if (!out.some((o) => compareTypes(o, t) === 0)) out.push(t);
      return { k: 'any', of: sortTypes(out) };
    }
    return anyContains(x, y) ? x : { k: 'any', of: sortTypes([...x.of, y]) };
  };
  if (a.k === 'any') return merge(a, b);
  if (b.k === 'any') return merge(b, a);
  return compareTypes(a, b) === 0 ? a : { k: 'any', of: sortTypes([a, b]) };
}

function propKey(v: Value): string | number | boolean | null | undefined {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') return v;
  return undefined;
}

/** The type of the element a constant key selects (types.Select). */
function select(t: Ty | undefined, key: Value): Ty | undefined {
  if (t === undefined) return undefined;
  switch (t.k) {
    case 'array': {
      if (!isNumber(key) || typeof key === 'object') return undefined;
      const n = Number(key);
      if (!Number.isInteger(n) || n < 0) return undefined;
      return n < t.items.length ? t.items[n] : t.dyn;
    }
    case 'object': {
      const k = propKey(key);
      const p = t.props.find(([pk]) => k !== undefined && compare(pk, k) === 0);
      if (p) return p[1];
      const dk = t.dyn?.[0];
      if (t.dyn && (dk === undefined || (dk.k === 'any' ? anyContains(dk, valueType(key)) : compareTypes(dk, valueType(key)) === 0))) return t.dyn[1];
      return undefined;
    }
    case 'set': {
      const kt = valueType(key);
      if (compareTypes(t.of, kt) === 0) return t.of;
      if (t.of?.k === 'any' && anyContains(t.of, kt)) return kt;
      return undefined;
    }
    case 'any': {
      if (t.of.length === 0) return ANY;
      let r: Ty | undefined;
      for (const x of t.of) r = or(select(x, key), r);
      return r;
    }
    default:
      return undefined;
  }
}

/** The type of the values a collection enumerates (types.Values). */
function values(t: Ty | undefined): Ty | undefined {
  if (t === undefined) return undefined;
  switch (t.k) {
    case 'array': {
      let r: Ty | undefined;
      for (const x of t.items) r = or(r, x);
      return or(r, t.dyn);
    }
    case 'object': {
      let r: Ty | undefined;
      for (const [, v] of t.props) r = or(r, v);
      return t.dyn ? or(r, t.dyn[1]) : r;
    }
    case 'set':
      return t.of;
    case 'any': {
      if (t.of.length === 0) return ANY;
      let r: Ty | undefined;
      for (const x of t.of) r = or(values(x), r);
      return r;
    }
    default:
      return undefined;
  }
}

/** The type of the keys a collection has (types.Keys): indexes, object keys, set members. */
function keys(t: Ty | undefined): Ty | undefined {
  if (t === undefined) return undefined;
  switch (t.k) {
    case 'array':
      return NUM;
    case 'object': {
      let r: Ty | undefined;
      for (const [k] of t.props) r = or(r, valueType(k));
      return t.dyn ? or(r, t.dyn[0]) : r;
    }
    case 'set':
      return t.of;
    case 'any': {
      if (t.of.length === 0) return ANY;
      let r: Ty | undefined;
      for (const x of t.of) r = or(r, keys(x));
      return r;
    }
    default:
      return undefined;
  }
}

/** Some part of the type is unknown (types.Nil). */
function isNil(t: Ty | undefined): boolean {
  if (t === undefined) return true;
  switch (t.k) {
    case 'array':
      return t.items.some(isNil) || (t.dyn !== undefined && isNil(t.dyn));
    case 'object':
      return t.props.some(([, v]) => isNil(v)) || (t.dyn !== undefined && (isNil(t.dyn[0]) || isNil(t.dyn[1])));
    case 'set':
      return isNil(t.of);
    case 'fn':
      return t.args.some(isNil) || isNil(t.result);
    default:
      return false;
  }
}

/**
 * Two types have a value in common (check.go `unifies`). An unknown part is taken to unify with anything:
 * it is what this checker could not type, and must not cause a refusal.
 */
function unifies(a: Ty | undefined, b: Ty | undefined): boolean {
  if (a === undefined || b === undefined) return true;
  return unifiesStrict(a, b);
}

function unifiesStrict(a: Ty, b: Ty): boolean {
  // A function meets only a function of its arity whose arguments meet its own; not even `any`.
  if (a.k === 'fn' || b.k === 'fn') {
    if (a.k !== 'fn' || b.k !== 'fn' || a.args.length !== b.args.length) return false;
    return a.args.every((x, i) => unifies(x, b.args[i]));
  }
  if (a.k === 'any' && (a.of.length === 0 || a.of.some((x) => unifies(x, b)))) return true;
  if (b.k === 'any' && (b.of.length === 0 || b.of.some((x) => unifies(x, a)))) return true;
  if (a.k === 'any' || b.k === 'any') return false;
  if (a.k !== b.k) return false;
  switch (a.k) {
    case 'array': {
      const bb = b as Extract<Ty, { k: 'array' }>;
      const stat = (p: Extract<Ty, { k: 'array' }>, q: Extract<Ty, { k: 'array' }>): boolean =>
        p.items.every((x, i) => {
          const y = i < q.items.length ? q.items[i] : q.dyn;
          return y !== undefined || i < q.items.length ? unifies(x, y) : false;
        });
      if (!stat(a, bb) || !stat(bb, a)) return false;
      return a.dyn === undefined || bb.dyn === undefined || unifies(a.dyn, bb.dyn);
    }
    case 'object': {
      const bb = b as Extract<Ty, { k: 'object' }>;
      const stat = (p: Extract<Ty, { k: 'object' }>, q: Extract<Ty, { k: 'object' }>): boolean =>
        p.props.every(([k, v]) => {
          const w = select(q, k);
          if (w === undefined && !(q.props.some(([qk]) => compare(qk, k) === 0) || q.dyn)) return false;
          return unifies(v, w);
        });
      if (!stat(a, bb) || !stat(bb, a)) return false;
      return a.dyn === undefined || bb.dyn === undefined || unifies(a.dyn[1], bb.dyn[1]);
    }
    case 'set':
      return unifies(a.of, (b as Extract<Ty, { k: 'set' }>).of);
    default:
      return true;
  }
}

/** The type of a constant value (TypeEnv.GetByValue on a ground term). */
export function valueType(v: Value): Ty {
  if (v === null) return NULL;
  if (typeof v === 'boolean') return BOOL;
  if (typeof v === 'string') return STR;
  if (isNumber(v)) return NUM;
  if (Array.isArray(v)) return v.length === 0 ? { k: 'array', items: [], dyn: ANY } : { k: 'array', items: v.map(valueType), dyn: undefined };
  if (v instanceof RSet) {
    let of: Ty | undefined;
    for (const x of v.values()) of = or(of, valueType(x));
    return { k: 'set', of: of ?? ANY };
  }
  if (v instanceof RObject) {
    const props: Array<[string | number | boolean | null, Ty]> = [];
    let dyn: [Ty, Ty] | undefined;
    for (const [k, x] of v.entries()) {
      const pk = propKey(k);
      if (pk !== undefined) props.push([pk, valueType(x)]);
      else dyn = [valueType(k), valueType(x)];
    }
    props.sort((p, q) => cmpKey(p[0], q[0]));
    return { k: 'object', props, dyn: props.length === 0 && !dyn ? [ANY, ANY] : dyn };
  }
  return ANY;
}

// ------------------------------------------------------------------------------------------- signatures

/**
 * Every builtin's declaration as OPA publishes it (opa:v1/ast/builtins.go, capabilities.json and the
 * builtin metadata): `[arguments, result]`, each `name: type` (deprecated builtins have unnamed types).
 */
const SIGNATURES: Record<string, [string[], string?]> = {
  abs: [['x: number'], 'y: number'],
  all: [['any<array[any], set[any]>'], 'boolean'],
  and: [['x: set[any]', 'y: set[any]'], 'z: set[any]'],
  any: [['any<array[any], set[any]>'], 'boolean'],
  'array.concat': [['x: array[any]', 'y: array[any]'], 'z: array[any]'],
  'array.flatten': [['arr: array[any]'], 'flattened: array[any]'],
  'array.reverse': [['arr: array[any]'], 'rev: array[any]'],
  'array.slice': [['arr: array[any]', 'start: number', 'stop: number'], 'slice: array[any]'],
  'base64.decode': [['x: string'], 'y: string'],
  'base64.encode': [['x: string'], 'y: string'],
  'base64.is_valid': [['x: string'], 'result: boolean'],
  'base64url.decode': [['x: string'], 'y: string'],
  'base64url.encode': [['x: string'], 'y: string'],
  'base64url.encode_no_pad': [['x: string'], 'y: string'],
  'bits.and': [['x: number', 'y: number'], 'z: number'],
  'bits.lsh': [['x: number', 's: number'], 'z: number'],
  'bits.negate': [['x: number'], 'z: number'],
  'bits.or': [['x: number', 'y: number'], 'z: number'],
  'bits.rsh': [['x: number', 's: number'], 'z: number'],
  'bits.xor': [['x: number', 'y: number'], 'z: number'],
  cast_array: [['any'], 'array[any]'],
  cast_boolean: [['any'], 'boolean'],
  cast_null: [['any'], 'null'],
  cast_object: [['any'], 'object[any: any]'],
  cast_set: [['any'], 'set[any]'],
  cast_string: [['any'], 'string'],
  ceil: [['x: number'], 'y: number'],
  concat: [['delimiter: string', 'collection: any<array[string], set[string]>'], 'output: string'],
  contains: [['haystack: string', 'needle: string'], 'result: boolean'],
  count: [['collection: any<string, array[any], object[any: any], set[any]>'], 'n: number'],
  'crypto.hmac.equal': [['mac1: string', 'mac2: string'], 'result: boolean'],
  'crypto.hmac.md5': [['x: string', 'key: string'], 'y: string'],
  'crypto.hmac.sha1': [['x: string', 'key: string'], 'y: string'],
  'crypto.hmac.sha256': [['x: string', 'key: string'], 'y: string'],
  'crypto.hmac.sha512': [['x: string', 'key: string'], 'y: string'],
  'crypto.md5': [['x: string'], 'y: string'],
  'crypto.parse_private_keys': [['keys: string'], 'output: array[object[string: any]]'],
  'crypto.sha1': [['x: string'], 'y: string'],
  'crypto.sha256': [['x: string'], 'y: string'],
  'crypto.x509.parse_and_verify_certificates': [['certs: string'], 'output: array<boolean, array[object[string: any]]>'],
  'crypto.x509.parse_and_verify_certificates_with_options': [['certs: string', 'options: object[string: any]'], 'output: array<boolean, array[object[string: any]]>'],
  'crypto.x509.parse_certificate_request': [['csr: string'], 'output: object[string: any]'],
  'crypto.x509.parse_certificates': [['certs: string'], 'output: array[object[string: any]]'],
  'crypto.x509.parse_keypair': [['cert: string', 'pem: string'], 'output: object[string: any]'],
  'crypto.x509.parse_rsa_private_key': [['pem: string'], 'output: object[string: any]'],
  div: [['x: number', 'y: number'], 'z: number'],
  endswith: [['search: string', 'base: string'], 'result: boolean'],
  equal: [['x: any', 'y: any'], 'result: boolean'],
  floor: [['x: number'], 'y: number'],
  format_int: [['number: number', 'base: number'], 'output: string'],
  'glob.match': [['pattern: string', 'delimiters: any<null, array[string]>', 'match: string'], 'result: boolean'],
  'glob.quote_meta': [['pattern: string'], 'output: string'],
  'graph.reachable': [['graph: object[any: any<array[any], set[any]>]', 'initial: any<array[any], set[any]>'], 'output: set[any]'],
  'graph.reachable_paths': [['graph: object[any: any<array[any], set[any]>]', 'initial: any<array[any], set[any]>'], 'output: set[array[any]]'],
  'graphql.is_valid': [['query: any<string, object[any: any]>', 'schema: any<string, object[any: any]>'], 'output: boolean'],
  'graphql.parse': [['query: any<string, object[any: any]>', 'schema: any<string, object[any: any]>'], 'output: array<object[any: any], object[any: any]>'],
  'graphql.parse_and_verify': [['query: any<string, object[any: any]>', 'schema: any<string, object[any: any]>'], 'output: array<boolean, object[any: any], object[any: any]>'],
  'graphql.parse_query': [['query: string'], 'output: object[any: any]'],
  'graphql.parse_schema': [['schema: string'], 'output: object[any: any]'],
  'graphql.schema_is_valid': [['schema: any<string, object[any: any]>'], 'output: boolean'],
  gt: [['x: any', 'y: any'], 'result: boolean'],
  gte: [['x: any', 'y: any'], 'result: boolean'],
  'hex.decode': [['x: string'], 'y: string'],
  'hex.encode': [['x: string'], 'y: string'],
  'http.send': [['request: object[string: any]'], 'response: object[any: any]'],
  indexof: [['haystack: string', 'needle: string'], 'output: number'],
  indexof_n: [['haystack: string', 'needle: string'], 'output: array[number]'],
  'internal.member_2': [['any', 'any'], 'boolean'],
  'internal.member_3': [['any', 'any', 'any'], 'boolean'],
  intersection: [['xs: set[set[any]]'], 'y: set[any]'],
  'io.jwt.decode': [['jwt: string'], 'output: array<object[any: any], object[any: any], string>'],
  'io.jwt.decode_verify': [['jwt: string', 'constraints: object[string: any]'], 'output: array<boolean, object[any: any], object[any: any]>'],
  'io.jwt.encode_sign': [['headers: object[string: any]', 'payload: object[string: any]', 'key: object[string: any]'], 'output: string'],
  'io.jwt.encode_sign_raw': [['headers: string', 'payload: string', 'key: string'], 'output: string'],
  'io.jwt.verify_eddsa': [['jwt: string', 'certificate: string'], 'result: boolean'],
  'io.jwt.verify_es256': [['jwt: string', 'certificate: string'], 'result: boolean'],
  'io.jwt.verify_es384': [['jwt: string', 'certificate: string'], 'result: boolean'],
  'io.jwt.verify_es512': [['jwt: string', 'certificate: string'], 'result: boolean'],
  'io.jwt.verify_hs256': [['jwt: string', 'secret: string'], 'result: boolean'],
  'io.jwt.verify_hs384': [['jwt: string', 'secret: string'], 'result: boolean'],
  'io.jwt.verify_hs512': [['jwt: string', 'secret: string'], 'result: boolean'],
  'io.jwt.verify_ps256': [['jwt: string', 'certificate: string'], 'result: boolean'],
  'io.jwt.verify_ps384': [['jwt: string', 'certificate: string'], 'result: boolean'],
  'io.jwt.verify_ps512': [['jwt: string', 'certificate: string'], 'result: boolean'],
  'io.jwt.verify_rs256': [['jwt: string', 'certificate: string'], 'result: boolean'],
  'io.jwt.verify_rs384': [['jwt: string', 'certificate: string'], 'result: boolean'],
  'io.jwt.verify_rs512': [['jwt: string', 'certificate: string'], 'result: boolean'],
  is_array: [['x: any'], 'result: boolean'],
  is_boolean: [['x: any'], 'result: boolean'],
  is_null: [['x: any'], 'result: boolean'],
  is_number: [['x: any'], 'result: boolean'],
  is_object: [['x: any'], 'result: boolean'],
  is_set: [['x: any'], 'result: boolean'],
  is_string: [['x: any'], 'result: boolean'],
  'json.filter': [['object: object[any: any]', 'paths: any<array[any<string, array[any]>], set[any<string, array[any]>]>'], 'filtered: object[any: any]'],
  'json.is_valid': [['x: string'], 'result: boolean'],
  'json.marshal': [['x: any'], 'y: string'],
  'json.marshal_with_options': [['x: any', 'opts: object<indent: string, prefix: string, pretty: boolean>[string: any]'], 'y: string'],
  'json.match_schema': [['document: any<string, object[any: any]>', 'schema: any<string, object[any: any]>'], 'output: array<boolean, array[object<desc: string, error: string, field: string, type: string>]>'],
  'json.patch': [['target: any', 'patches: array[object<op: string, path: any>[any: any]]'], 'output: any'],
  'json.remove': [['object: object[any: any]', 'paths: any<array[any<string, array[any]>], set[any<string, array[any]>]>'], 'output: object[any: any]'],
  'json.unmarshal': [['x: string'], 'y: any'],
  'json.verify_schema': [['schema: any<string, object[any: any]>'], 'output: array<boolean, any<null, string>>'],
  lower: [['x: string'], 'y: string'],
  lt: [['x: any', 'y: any'], 'result: boolean'],
  lte: [['x: any', 'y: any'], 'result: boolean'],
  max: [['collection: any<array[any], set[any]>'], 'n: any'],
  min: [['collection: any<array[any], set[any]>'], 'n: any'],
  minus: [['x: any<number, set[any]>', 'y: any<number, set[any]>'], 'z: any<number, set[any]>'],
  mul: [['x: number', 'y: number'], 'z: number'],
  neq: [['x: any', 'y: any'], 'result: boolean'],
  'net.cidr_contains': [['cidr: string', 'cidr_or_ip: string'], 'result: boolean'],
  'net.cidr_contains_matches': [['cidrs: any<string, array[any<string, array[any]>], object[string: any<string, array[any]>], set[any<string, array[any]>]>', 'cidrs_or_ips: any<string, array[any<string, array[any]>], object[string: any<string, array[any]>], set[any<string, array[any]>]>'], 'output: set[array<any, any>]'],
  'net.cidr_expand': [['cidr: string'], 'hosts: set[string]'],
  'net.cidr_intersects': [['cidr1: string', 'cidr2: string'], 'result: boolean'],
  'net.cidr_is_valid': [['cidr: string'], 'result: boolean'],
  'net.cidr_merge': [['addrs: any<array[any<string>], set[string]>'], 'output: set[string]'],
  'net.cidr_overlap': [['string', 'string'], 'boolean'],
  'net.lookup_ip_addr': [['name: string'], 'addrs: set[string]'],
  'numbers.range': [['a: number', 'b: number'], 'range: array[number]'],
  'numbers.range_step': [['a: number', 'b: number', 'step: number'], 'range: array[number]'],
  'object.filter': [['object: object[any: any]', 'keys: any<array[any], object[any: any], set[any]>'], 'filtered: object[any: any]'],
  'object.get': [['object: object[any: any]', 'key: any', 'default: any'], 'value: any'],
  'object.keys': [['object: object[any: any]'], 'value: set[any]'],
  'object.remove': [['object: object[any: any]', 'keys: any<array[any], object[any: any], set[any]>'], 'output: object[any: any]'],
  'object.subset': [['super: any<array[any], object[any: any], set[any]>', 'sub: any<array[any], object[any: any], set[any]>'], 'result: boolean'],
  'object.union': [['a: object[any: any]', 'b: object[any: any]'], 'output: object[any: any]'],
  'object.union_n': [['objects: array[object[any: any]]'], 'output: object[any: any]'],
  'opa.runtime': [[], 'output: object[string: any]'],
  or: [['x: set[any]', 'y: set[any]'], 'z: set[any]'],
  plus: [['x: number', 'y: number'], 'z: number'],
  product: [['collection: any<array[number], set[number]>'], 'n: number'],
  'providers.aws.sign_req': [['request: object[string: any]', 'aws_config: object[string: any]', 'time_ns: number'], 'signed_request: object[any: any]'],
  'rand.intn': [['str: string', 'n: number'], 'y: number'],
  re_match: [['string', 'string'], 'boolean'],
  'regex.find_all_string_submatch_n': [['pattern: string', 'value: string', 'number: number'], 'output: array[array[string]]'],
  'regex.find_n': [['pattern: string', 'value: string', 'number: number'], 'output: array[string]'],
  'regex.globs_match': [['glob1: string', 'glob2: string'], 'result: boolean'],
  'regex.is_valid': [['pattern: string'], 'result: boolean'],
  'regex.match': [['pattern: string', 'value: string'], 'result: boolean'],
  'regex.replace': [['s: string', 'pattern: string', 'value: string'], 'output: string'],
  'regex.split': [['pattern: string', 'value: string'], 'output: array[string]'],
  'regex.template_match': [['template: string', 'value: string', 'delimiter_start: string', 'delimiter_end: string'], 'result: boolean'],
  'rego.parse_module': [['filename: string', 'rego: string'], 'output: object[string: any]'],
  rem: [['x: number', 'y: number'], 'z: number'],
  replace: [['x: string', 'old: string', 'new: string'], 'y: string'],
  round: [['x: number'], 'y: number'],
  'semver.compare': [['a: string', 'b: string'], 'result: number'],
  'semver.is_valid': [['vsn: any'], 'result: boolean'],
  set_diff: [['set[any]', 'set[any]'], 'set[any]'],
  sort: [['collection: any<array[any], set[any]>'], 'n: array[any]'],
  split: [['x: string', 'delimiter: string'], 'ys: array[string]'],
  sprintf: [['format: string', 'values: array[any]'], 'output: string'],
  startswith: [['search: string', 'base: string'], 'result: boolean'],
  'strings.any_prefix_match': [['search: any<string, array[string], set[string]>', 'base: any<string, array[string], set[string]>'], 'result: boolean'],
  'strings.any_suffix_match': [['search: any<string, array[string], set[string]>', 'base: any<string, array[string], set[string]>'], 'result: boolean'],
  'strings.count': [['search: string', 'substring: string'], 'output: number'],
  'strings.render_template': [['value: string', 'vars: object[string: any]'], 'result: string'],
  'strings.replace_n': [['patterns: object[string: string]', 'value: string'], 'output: string'],
  'strings.reverse': [['x: string'], 'y: string'],
  'strings.split_n': [['x: string', 'delimiter: string', 'n: number'], 'ys: array[string]'],
  substring: [['value: string', 'offset: number', 'length: number'], 'output: string'],
  sum: [['collection: any<array[number], set[number]>'], 'n: number'],
  // not an OPA builtin (a test helper): its argument is not declared, so nothing is refused at compile time
  'test.sleep': [['duration: any']],
  'time.add_date': [['ns: number', 'years: number', 'months: number', 'days: number'], 'output: number'],
  'time.clock': [['x: any<number, array<number, string>>'], 'output: array<number, number, number>'],
  'time.date': [['x: any<number, array<number, string>>'], 'date: array<number, number, number>'],
  'time.diff': [['ns1: any<number, array<number, string>>', 'ns2: any<number, array<number, string>>'], 'output: array<number, number, number, number, number, number>'],
  'time.format': [['x: any<number, array<number, string>, array<number, string, string>>'], 'formatted timestamp: string'],
  'time.now_ns': [[], 'now: number'],
  'time.parse_duration_ns': [['duration: string'], 'ns: number'],
  'time.parse_ns': [['layout: string', 'value: string'], 'ns: number'],
  'time.parse_rfc3339_ns': [['value: string'], 'ns: number'],
  'time.weekday': [['x: any<number, array<number, string>>'], 'day: string'],
  to_number: [['value: any<null, boolean, number, string>'], 'num: number'],
  trace: [['note: string'], 'result: boolean'],
  trim: [['value: string', 'cutset: string'], 'output: string'],
  trim_left: [['value: string', 'cutset: string'], 'output: string'],
  trim_prefix: [['value: string', 'prefix: string'], 'output: string'],
  trim_right: [['value: string', 'cutset: string'], 'output: string'],
  trim_space: [['value: string'], 'output: string'],
  trim_suffix: [['value: string', 'suffix: string'], 'output: string'],
  type_name: [['x: any'], 'type: string'],
  union: [['xs: set[set[any]]'], 'y: set[any]'],
  'units.parse': [['x: string'], 'y: number'],
  'units.parse_bytes': [['x: string'], 'y: number'],
  upper: [['x: string'], 'y: string'],
  'uri.is_valid': [['uri: string'], 'result: boolean'],
  'uri.parse': [['uri: string'], 'output: object[string: string]'],
  'urlquery.decode': [['x: string'], 'y: string'],
  'urlquery.decode_object': [['x: string'], 'object: object[string: array[string]]'],
  'urlquery.encode': [['x: string'], 'y: string'],
  'urlquery.encode_object': [['object: object[string: any<string, array[string], set[string]>]'], 'y: string'],
  'uuid.parse': [['uuid: string'], 'result: object[string: any]'],
  'uuid.rfc4122': [['k: string'], 'output: string'],
  walk: [['x: any'], 'output: array<array[any], any>'],
  'yaml.is_valid': [['x: string'], 'result: boolean'],
  'yaml.marshal': [['x: any'], 'y: string'],
  'yaml.unmarshal': [['x: string'], 'y: any'],
};

interface Sig {
  /** `name: type` texts as OPA prints them in `want:`. */
  shown: string[];
  args: Ty[];
  result: Ty | undefined;
}

const parsed = new Map<string, Sig>();

function splitNamed(s: string): Ty {
  const j = s.indexOf(': ');
  const name = j < 0 ? '' : s.slice(0, j);
  return parseType(/[<[]/.test(name) || j < 0 ? s : s.slice(j + 2));
}

/** The declared signature of builtin `name`, or undefined for a name this table does not list. */
export function signature(name: string): Sig | undefined {
  let s = parsed.get(name);
  if (s) return s;
  const d = SIGNATURES[name];
  if (!d) return undefined;
  const [args, result] = d;
  s = { shown: [...args, ...(result ? [result] : [])], args: args.map(splitNamed), result: result ? splitNamed(result) : undefined };
  parsed.set(name, s);
  return s;
}

/** The builtins with a declared signature: name → `[argument texts, result text]`. */
export function signatures(): ReadonlyMap<string, [string[], string | undefined]> {
  return new Map(Object.entries(SIGNATURES).map(([n, [a, r]]) => [n, [a, r]]));
}

// ------------------------------------------------------------------------------------------- checker

export interface TypeError {
  loc: Loc;
  message: string;
}

type Env = Map<number, Ty | undefined>;

class Checker {
  readonly errors: TypeError[] = [];

  constructor(
    private readonly world: World | undefined,
    private readonly refChecks = true,
    /** The node of the rule whose body is checked. */
    private readonly self?: RuleNode,
    /** The variables OPA's compiler moves reference subjects and nested calls into (opa-locals.ts). */
    private readonly locals?: Locals,
  ) {}

  /** A reference's parts as OPA prints it, its generated variables by their names. */
  private refTexts(ref: Extract<CTerm, { t: 'ref' }>): string[] | undefined {
    const locals = this.locals;
    const named = (t: CTerm, i: number): string | undefined => {
      if (locals === undefined) return undefined;
      if (t.t === 'call') return locals.get(`call:${refKey(t.loc)}`);
      if (t.t === 'ref' && i > 0) return locals.get(`dyn:${refKey(t.loc)}`);
      return i === 0 && ['const', 'array', 'set', 'object', 'arraycompr', 'setcompr', 'objectcompr'].includes(t.t) ? locals.get(refKey(ref.loc)) : undefined;
    };
    return refTexts([ref.head, ...ref.path], named);
  }

  /** Checks a body in evaluation order; returns the environment after it. */
  body(env: Env, lits: CLit[]): Env {
    for (const l of lits) this.literal(env, l);
    return env;
  }

  private literal(env: Env, l: CLit): void {
    if (l.notBody) {
      // OPA checks a negated expression in the body's environment: a parameter it types keeps the type.
      // Variables bound only inside are local to it and never read outside.
      const inner = this.body(new Map(env), l.notBody);
      for (const [slot, t] of inner) if (t !== undefined && env.get(slot) === undefined) env.set(slot, t);
      return;
    }
    if (!this.refsOnly) for (const w of l.withs) this.withFn(w);
    // A builtin replaced with `with` may be given other types; such literals are left alone.
    if (l.withs.some((w) => w.target.kind === 'fn')) {
      this.bindRest(env, l);
      return;
    }
    this.expr(env, l.expr, l.loc);
    this.bindRest(env, l);
  }

  /**
   * A function replaced by a function must be replaced by one of its arity taking arguments its own could
   * be (check.go checkExprWith: the two function types unify); OPA calls any mismatch an arity mismatch.
   */
  private withFn(w: CWith): void {
    if (w.target.kind !== 'fn' || w.value.kind !== 'fn') return;
    const node = w.target.node;
    const user = node && this.world?.funcType(node);
    const target = node ? user && { args: user.args, shown: user.args.map(showType) } : signature(w.target.name);
    if (!target) return;
    const fn = w.value.fn;
    const args = fn.kind === 'builtin' ? signature(fn.name)?.args : this.world?.funcType(fn.node)?.args;
    if (args === undefined) return;
    if (args.length === target.args.length && args.every((a, i) => unifies(a, target.args[i]))) return;
    const want = target.shown.slice(0, target.args.length);
    this.errors.push({ loc: w.loc, message: `${w.target.name}: arity mismatch\n\thave: (${args.map(showType).join(', ')})\n\twant: (${want.join(', ')})` });
  }

  /** Whatever a literal binds that was not typed precisely is `any` from here on. */
  private bindRest(env: Env, l: CLit): void {
    const visit = (t: CTerm): void => {
      switch (t.t) {
        case 'var':
          if (!env.has(t.slot) || env.get(t.slot) === undefined) env.set(t.slot, ANY);
          break;
        case 'ref':
          visit(t.head);
          t.path.forEach(visit);
          break;
        case 'array':
        case 'set':
          t.items.forEach(visit);
          break;
        case 'object':
          t.entries.forEach(([k, v]) => (visit(k), visit(v)));
          break;
        case 'call':
          t.args.forEach(visit);
          if (t.out) visit(t.out);
          break;
        default:
          break;
      }
    };
    const e = l.expr;
    switch (e.k) {
      case 'term':
        visit(e.term);
        break;
      case 'unify':
        visit(e.a);
        visit(e.b);
        break;
      case 'somein':
        if (e.key) visit(e.key);
        visit(e.value);
        visit(e.coll);
        break;
      default:
        break;
    }
  }

  private expr(env: Env, e: CExpr, loc: Loc): void {
    if (this.refsOnly && (e.k === 'term' || e.k === 'unify' || e.k === 'somein')) {
      // Inside `every`: only the references are checked (see everyBody).
      for (const t of e.k === 'term' ? [e.term] : e.k === 'unify' ? [e.a, e.b] : [e.coll, ...(e.key ? [e.key] : []), e.value]) this.type(env, t);
      return;
    }
    switch (e.k) {
      case 'term':
        if (e.objects) this.unify(env, e.objects[0], e.objects[1], loc);
        else if (e.term.t === 'call') this.call(env, e.term, true);
        else this.type(env, e.term);
        break;
      case 'unify':
        if (e.objects) this.unify(env, e.objects[0], e.objects[1], loc);
        else this.unify(env, e.a, e.b, loc);
        break;
      case 'somein': {
        // `some k, v in xs` is `v = xs[k]` to OPA (`some v in xs`: `v = xs[_]`): the key is typed as the
        // collection's keys, the value unified with the type of its elements.
        const ct = this.type(env, e.coll);
        if (e.key?.t === 'var' && env.get(e.key.slot) === undefined) env.set(e.key.slot, keys(ct));
        const vt = values(ct);
        if (isNil(vt)) break;
        const tv = this.type(env, e.value);
        if (!this.unify2(env, e.value, tv, e.coll, vt)) this.errors.push({ loc, message: `match error\n\tleft  : ${showType(tv)}\n\tright : ${showType(vt)}` });
        break;
      }
      case 'every': {
        // OPA assigns the domain to a variable of its own before the `every` (checked as any other
        // unification), then checks the expression itself only for its references (everyBody).
        this.type(env, e.domain);
        const inner = new Map(env);
        for (const t of [e.key, e.value]) if (t?.t === 'var') inner.delete(t.slot);
        this.everyBody(inner, e.body);
        break;
      }
      case 'logic':
        this.body(new Map(env), e.a);
        this.body(new Map(env), e.b);
        break;
      default:
        break;
    }
  }

  /**
   * An `every` body as OPA's checker sees it (check.go CheckBody): the `every` is one expression of the
   * enclosing body, not a call, so nothing in its body is checked as an expression — no built-in call, no
   * unification, and its key and value are never typed. Its references are, by the reference checker that
   * walks into it, against the types of the enclosing body (`undefined ref`, a function without a call),
   * and so are the bodies of the comprehensions in it.
   */
  private everyBody(env: Env, lits: CLit[]): void {
    const was = this.refsOnly;
    this.refsOnly = true;
    try {
      this.body(env, lits);
    } finally {
      this.refsOnly = was;
    }
  }

  /** Checking an `every` body: references only. */
  private refsOnly = false;

  /** `a = b` (and `:=`): OPA's checkExprEq. */
  private unify(env: Env, a: CTerm, b: CTerm, loc: Loc): void {
    const ta = this.type(env, a);
    const tb = this.type(env, b);
    if (!this.unify2(env, a, ta, b, tb)) {
      this.errors.push({ loc, message: `match error\n\tleft  : ${showType(ta)}\n\tright : ${showType(tb)}` });
    }
  }

  /**
   * `a = b` with the types the sides had before (check.go unify2): when one side is fully typed, the other
   * is matched against it as a pattern; when neither is, arrays and objects of the same shape are matched
   * element by element, and a variable meeting an array or object pattern gets the pattern's type.
   */
  private unify2(env: Env, a: CTerm, ta: Ty | undefined, b: CTerm, tb: Ty | undefined): boolean {
    const nilA = isNil(ta);
    const nilB = isNil(tb);
    if (nilA && !nilB) return this.unify1(env, a, tb);
    if (nilB && !nilA) return this.unify1(env, b, ta);
    if (!nilA && !nilB) return unifies(ta, tb);
    const toVar = (pattern: CTerm, v: CTerm): boolean => this.unify1(env, pattern, ANY) && this.unify1(env, v, this.type(env, pattern));
    const sides = (x: CTerm, y: CTerm): boolean => this.unify2(env, x, this.type(env, x), y, this.type(env, y));
    const pair = (x: CTerm, y: CTerm): boolean | undefined => {
      if (x.t === 'array') {
        if (y.t === 'array') return x.items.length === y.items.length && x.items.every((e, i) => sides(e, y.items[i]!));
        if (y.t === 'var') return toVar(x, y);
        return undefined;
      }
      if (x.t === 'object') {
        if (y.t === 'object') {
          // Same constant keys on both sides, values matched key by key.
          const keyed = (o: Extract<CTerm, { t: 'object' }>): Map<string, CTerm> | undefined => {
            const m = new Map<string, CTerm>();
            for (const [k, v] of o.entries) {
              if (k.t !== 'const') return undefined;
              m.set(keyOf(k.v), v);
            }
            return m;
          };
          const mx = keyed(x);
          const my = keyed(y);
          if (mx === undefined || my === undefined) return undefined;
          if (mx.size !== my.size || [...mx.keys()].some((k) => !my.has(k))) return false;
          return [...mx].every(([k, v]) => sides(v, my.get(k)!));
        }
        if (y.t === 'var') return toVar(x, y);
        return undefined;
      }
      return undefined;
    };
    if (a.t === 'var' && b.t === 'var') return this.unify1(env, a, ANY) && this.unify1(env, b, env.get(a.slot) ?? ANY);
    // What OPA would refuse for want of a type (a reference or call this checker did not type) is accepted.
    return pair(a, b) ?? pair(b, a) ?? true;
  }

  /**
   * Binds the untyped variables of a pattern to the parts of `t` (check.go unify1); false when a typed part
   * cannot match. Against a union (`any<…>`) a composite pattern is tried with every member, its variables
   * getting the union of what each member gives them.
   */
  private unify1(env: Env, term: CTerm, t: Ty | undefined, union = false): boolean {
    if (t === undefined) return true;
    const anyOf = (): boolean => {
      const a = t as Extract<Ty, { k: 'any' }>;
      if (a.of.length === 0) {
        this.eachPart(term, (x) => this.unify1(env, x, ANY, true));
        return true;
      }
      let ok = false;
      for (const m of a.of) ok = this.unify1(env, term, m, true) || ok;
      return ok;
    };
    switch (term.t) {
      case 'var': {
        const have = env.get(term.slot);
        if (union) env.set(term.slot, or(have, t));
        else if (have !== undefined) return unifies(have, t);
        else env.set(term.slot, t);
        return true;
      }
      case 'array':
        if (t.k === 'any') return anyOf();
        if (t.k !== 'array') return false;
        if (term.items.length !== t.items.length && t.dyn === undefined) return false;
        return term.items.every((x, i) => this.unify1(env, x, i < t.items.length ? t.items[i] : t.dyn, union));
      case 'object':
        if (t.k === 'any') return anyOf();
        if (t.k !== 'object') return false;
        if (term.entries.length !== t.props.length && t.dyn === undefined) return false;
        return term.entries.every(([k, v]) => {
          // A value under a key that is not constant is typed any (unify1Object).
          if (k.t !== 'const') return this.unify1(env, v, ANY, union);
          const child = select(t, k.v);
          return child !== undefined && this.unify1(env, v, child, union);
        });
      case 'set':
        if (t.k === 'any') return anyOf();
        if (t.k !== 'set') return false;
        return term.items.every((x) => this.unify1(env, x, t.of, union));
      default:
        return unifies(this.peek(env, term), t);
    }
  }

  /** Calls `f` on the element terms of a composite (keys and values of an object). */
  private eachPart(term: CTerm, f: (x: CTerm) => void): void {
    if (term.t === 'array' || term.t === 'set') term.items.forEach(f);
    else if (term.t === 'object') term.entries.forEach(([k, v]) => (f(k), f(v)));
  }

  /** A built-in operand can take a value of type `want` (check.go unify1, without binding). */
  private fits(env: Env, term: CTerm, want: Ty): boolean {
    if (want.k === 'any' && want.of.length === 0) return true;
    if (term.t === 'const' && (Array.isArray(term.v) || term.v instanceof RObject || term.v instanceof RSet)) return this.fitsValue(term.v, want);
    if (term.t === 'array' || term.t === 'set' || term.t === 'object') {
      if (want.k === 'any') return want.of.some((w) => this.fits(env, term, w));
      if (term.t === 'array' && want.k === 'array') {
        if (term.items.length !== want.items.length && want.dyn === undefined) return false;
        return term.items.every((x, i) => {
          const w = i < want.items.length ? want.items[i] : want.dyn;
          return w === undefined || this.fits(env, x, w);
        });
      }
      if (term.t === 'set' && want.k === 'set') {
        const of = want.of;
        return of === undefined || term.items.every((x) => this.fits(env, x, of));
      }
      if (term.t === 'object' && want.k === 'object') {
        if (term.entries.length !== want.props.length && want.dyn === undefined) return false;
        return term.entries.every(([k, v]) => {
          if (k.t !== 'const') return true;
          const w = select(want, k.v);
          return w !== undefined && this.fits(env, v, w);
        });
      }
      return false;
    }
    return unifies(this.peek(env, term), want);
  }

  private fitsValue(v: Value, want: Ty): boolean {
    if (want.k === 'any') return want.of.length === 0 || want.of.some((w) => this.fitsValue(v, w));
    if (Array.isArray(v)) {
      if (want.k !== 'array') return false;
      if (v.length !== want.items.length && want.dyn === undefined) return false;
      return v.every((x, i) => {
        const w = i < want.items.length ? want.items[i] : want.dyn;
        return w === undefined || this.fitsValue(x, w);
      });
    }
    if (v instanceof RSet) {
      if (want.k !== 'set') return false;
      const of = want.of;
      return of === undefined || v.values().every((x) => this.fitsValue(x, of));
    }
    if (v instanceof RObject) {
      if (want.k !== 'object') return false;
      if (v.size !== want.props.length && want.dyn === undefined) return false;
      return v.entries().every(([k, x]) => {
        const w = select(want, k);
        return w !== undefined && this.fitsValue(x, w);
      });
    }
    return unifies(valueType(v), want);
  }

  /** The type of a term already typed (no calls evaluated again). */
  private peek(env: Env, t: CTerm): Ty | undefined {
    return t.t === 'call' ? this.results.get(t) : this.typeOf(env, t, false);
  }

  private readonly results = new Map<CTerm, Ty | undefined>();

  /** The type of a term already checked, with the variables' types as they are now. */
  typeTyped(env: Env, t: CTerm): Ty | undefined {
    return this.peek(env, t);
  }

  peekTerm(t: CTerm): Ty | undefined {
    return this.peek(new Map(), t);
  }

  /** The type of a term, checking the calls and comprehensions in it (in evaluation order). */
  type(env: Env, t: CTerm): Ty | undefined {
    return this.typeOf(env, t, true);
  }

  private typeOf(env: Env, t: CTerm, check: boolean): Ty | undefined {
    switch (t.t) {
      case 'const':
        return valueType(t.v);
      case 'var':
        return env.get(t.slot);
      case 'root':
        return ANY;
      case 'ref': {
        let cur = this.typeOf(env, t.head, check);
        let path = t.path;
        let skipped = 0;
        if (t.head.t === 'root' && t.head.root === 'data' && this.world) {
          const found = this.dataRef(env, t, check);
          if (found === undefined) {
            if (check) for (const p of path) if (p.t !== 'const' && p.t !== 'var') this.typeOf(env, p, check);
            return ANY;
          }
          [cur, path, skipped] = [found[0], path.slice(found[1]), found[1]];
        }
        for (let i = 0; i < path.length; i++) {
          const p = path[i]!;
          const partType = check && p.t !== 'const' && p.t !== 'var' ? this.typeOf(env, p, check) : undefined;
          const from = cur;
          const scalarKey = p.t === 'const' && (p.v === null || typeof p.v !== 'object' || isNumber(p.v));
          if (check && this.refChecks && from !== undefined && !isNil(from)) {
            // OPA's refChecker: the part selected from a typed value must be one it can have.
            // A call there is OPA's variable for its value, typed as the call's result.
            // So is a reference there (RewriteDynamicTerms), typed as what it refers to.
            // (In an `every` body that variable is assigned by an expression never checked: untyped.)
            const have = p.t === 'var' ? env.get(p.slot) : p.t === 'call' ? this.results.get(p) : p.t === 'ref' && !this.refsOnly ? partType : undefined;
            // A composite key is a pattern matched against the keys (unify1), binding its variables.
            const composite = p.t === 'array' || p.t === 'set' || p.t === 'object' || (p.t === 'const' && !scalarKey);
            let bad = keys(from) === undefined || (scalarKey && select(from, (p as { v: Value }).v) === undefined) || (have !== undefined && !unifies(have, keys(from)));
            if (!bad && composite) bad = !this.unify1(env, p, keys(from));
            if (bad) this.refError(t, skipped + i + 1, from, composite && keys(from) !== undefined ? this.peek(env, p) : have, composite);
          }
          // An unbound variable in a reference ranges over the keys of what it selects from.
          if (check && p.t === 'var' && env.get(p.slot) === undefined && cur !== undefined) env.set(p.slot, keys(cur));
          cur = scalarKey ? select(cur, (p as { v: Value }).v) : values(cur);
          if (cur === undefined) return undefined;
        }
        // A reference to a function that does not call it (a package's document taken apart) is refused
        // as OPA's checkApply refuses it.
        if (check && this.refChecks && cur?.k === 'fn') this.refErrorFn(t, t.path.length, cur);
        return cur;
      }
      case 'array': {
        const items = t.items.map((x) => this.typeOf(env, x, check));
        return items.length === 0 ? { k: 'array', items: [], dyn: ANY } : { k: 'array', items, dyn: undefined };
      }
      case 'set': {
        let of: Ty | undefined;
        for (const x of t.items) of = or(of, this.typeOf(env, x, check));
        return { k: 'set', of: t.items.length === 0 ? ANY : of };
      }
      case 'object': {
        const props: Array<[string | number | boolean | null, Ty | undefined]> = [];
        let dyn: [Ty | undefined, Ty | undefined] | undefined;
        for (const [k, v] of t.entries) {
          const kt = this.typeOf(env, k, check);
          const vt = this.typeOf(env, v, check);
          const pk = k.t === 'const' ? propKey(k.v) : undefined;
          if (pk !== undefined) props.push([pk, vt]);
          else dyn = [kt, vt];
        }
        props.sort((p, q) => cmpKey(p[0], q[0]));
        return { k: 'object', props, dyn: props.length === 0 && !dyn ? [ANY, ANY] : dyn };
      }
      case 'arraycompr':
      case 'setcompr':
      case 'objectcompr': {
        // Typed once, when checked; later looks (a call's argument checked against its declaration) see
        // that type.
        if (!check) return this.results.get(t);
        const inner = new Map(env);
        const before = this.errors.length;
        // A comprehension is checked in full wherever it is, an `every` body included (checkClosures).
        const was = this.refsOnly;
        this.refsOnly = false;
        let type: Ty | undefined;
        try {
          this.body(inner, t.body);
          if (this.errors.length === before) {
            if (t.t === 'arraycompr') type = { k: 'array', items: [], dyn: this.type(inner, t.term) };
            else if (t.t === 'setcompr') type = { k: 'set', of: this.type(inner, t.term) };
            else type = { k: 'object', props: [], dyn: [this.type(inner, t.key), this.type(inner, t.value)] };
          }
        } finally {
          this.refsOnly = was;
        }
        this.results.set(t, type);
        return type;
      }
      case 'call':
        return check ? this.call(env, t, false) : this.results.get(t);
      case 'template':
        if (check) for (const p of t.parts) if (typeof p !== 'string') this.typeOf(env, p, check);
        return STR;
      case 'print':
        if (check) for (const a of t.args) this.typeOf(env, a, check);
        return undefined;
    }
  }

  /**
   * A `data` reference walked down the tree of packages and rules (check.go checkRef over the type
   * environment): returns the type of the longest prefix that is a rule's document (or a package's whole
   * document) and its length, for the parts after it to be selected from; undefined when the rest is
   * base data or what OPA does not type (`any`). Before a rule's document is reached, a part right below
   * `data` or a package root must be a string or a variable (`data.t[1]` is refused), and a variable
   * ranges over the names of the documents there (strings).
   */
  private dataRef(env: Env, ref: Extract<CTerm, { t: 'ref' }>, check: boolean): [Ty, number] | undefined {
    const world = this.world!;
    let node = world.root;
    const path = ref.path;
    // OPA's type environment holds the rules checked before this one: a part of the tree holding none it
    // depends on may not be there yet (no error, any).
    if (!this.others(node)) return undefined;
    for (let i = 0; ; i++) {
      if (node.declared) {
        const f = node.isFunction ? world.funcType(node) : undefined;
        if (node.isFunction) {
          // A function is only ever called: selecting it, or from it, is not a value (check.go checkApply).
          if (check && this.refChecks && f) this.refErrorFn(ref, i, { k: 'fn', args: f.args, result: f.result });
          return undefined;
        }
        return [world.nodeType(node) ?? ANY, i];
      }
      if (i === path.length) return [world.extent(node) ?? ANY, i];
      const p = path[i]!;
      if (p.t === 'const') {
        if (i < 2 && typeof p.v !== 'string') {
          if (check && this.refChecks) this.refErrorNode(ref, i + 1, valueType(p.v), STR, node);
          return undefined;
        }
        const child = node.children.get(keyOf(p.v));
        if (child === undefined || !this.others(child)) return undefined;
        node = child;
        continue;
      }
      if (p.t === 'var' && check) {
        // The names below a package are strings; a variable there ranges over them.
        const ext = world.extent(node);
        const ks = ext === undefined ? undefined : keys(ext);
        const have = env.get(p.slot);
        if (have === undefined) env.set(p.slot, ks ?? ANY);
        else if (this.refChecks && ks !== undefined && !unifies(have, ks)) this.refErrorNode(ref, i + 1, have, ks, node);
      } else if (p.t === 'ref' && check && this.refChecks && !this.refsOnly) {
        // A reference there is OPA's variable for its value (RewriteDynamicTerms), typed as it.
        const ext = world.extent(node);
        const ks = ext === undefined ? undefined : keys(ext);
        const have = this.typeOf(env, p, false);
        if (ks !== undefined && have !== undefined && !unifies(have, ks)) this.refErrorNode(ref, i + 1, have, ks, node);
      }
      return undefined;
    }
  }

  /** A rule at or below the node is surely typed before the one being checked (World.present). */
  private others(node: RuleNode): boolean {
    return this.world !== undefined && this.world.present(node, this.self);
  }

  /** `undefined ref` for a part of a `data` reference naming no document of a package (newRefErrInvalid). */
  private refErrorNode(ref: Extract<CTerm, { t: 'ref' }>, idx: number, have: Ty, want: Ty, node: RuleNode): void {
    if (this.refErrors.has(ref)) return;
    this.refErrors.add(ref);
    const texts = this.refTexts(ref);
    if (texts === undefined) return;
    const whole = texts.join('');
    const pad = ' '.repeat(texts.slice(0, idx).join('').length + 1);
    // Only the names of what is surely typed before the rule being checked are listed.
    const oneOf = [...node.children.values()]
      .filter((c) => this.others(c))
      .map((c) => c.key)
      .sort(compare);
    const lines = [whole, `${pad}^`, `${pad}have (type): ${showType(have)}`, oneOf.length > 0 ? `${pad}want (one of): [${oneOf.map(toRegoString).join(' ')}]` : `${pad}want (type): ${showType(want)}`];
    this.errors.push({ loc: ref.loc, message: `undefined ref: ${whole}\n\t${lines.join('\n\t')}` });
  }

  /** `undefined ref` for a function referred to without a call (check.go checkApply): its type is shown. */
  private refErrorFn(ref: Extract<CTerm, { t: 'ref' }>, n: number, f: Extract<Ty, { k: 'fn' }>): void {
    if (this.refErrors.has(ref)) return;
    this.refErrors.add(ref);
    const texts = this.refTexts(ref);
    if (texts === undefined) return;
    const whole = texts.join('');
    const carets = '^'.repeat(texts.slice(0, n + 1).join('').length);
    this.errors.push({ loc: ref.loc, message: `undefined ref: ${whole}\n\t${whole}\n\t${carets}\n\thave: ${showType(f)}` });
  }

  private readonly refErrors = new Set<CTerm>();

  /**
   * `undefined ref` (check.go newRefErrUnsupported / newRefErrInvalid): part `idx` of the reference
   * (the head is part 0) cannot select anything from a value of type `from`; `have` is the type of a
   * variable used there. Each reference is reported once, and only when it prints as OPA prints it
   * (no generated or wildcard variables in it).
   */
  private refError(ref: Extract<CTerm, { t: 'ref' }>, idx: number, from: Ty, have: Ty | undefined, composite = false): void {
    if (this.refErrors.has(ref)) return;
    this.refErrors.add(ref);
    const parts = [ref.head, ...ref.path];
    const texts = this.refTexts(ref);
    if (texts === undefined) return;
    const upTo = (n: number): string => texts.slice(0, n).join('');
    const whole = upTo(parts.length);
    const lines = [whole];
    const ks = keys(from);
    if (ks === undefined) {
      lines.push('^'.repeat(upTo(idx).length), `have: ${showType(from)}`);
    } else {
      const pad = ' '.repeat(upTo(idx).length + 1);
      lines.push(`${pad}^`);
      lines.push(have !== undefined ? `${pad}have (type): ${showType(have)}` : `${pad}have: ${termText(parts[idx]!)}`);
      // A composite key is reported with the keys' type, not the keys a type lists.
      const oneOf = composite ? [] : oneOfKeys(from);
      lines.push(oneOf.length > 0 ? `${pad}want (one of): [${oneOf.map(toRegoString).join(' ')}]` : `${pad}want (type): ${showType(ks)}`);
    }
    this.errors.push({ loc: ref.loc, message: `undefined ref: ${whole}\n\t${lines.join('\n\t')}` });
  }

  /**
   * A call: its arguments first (nested calls before the call itself, as OPA rewrites them), then the
   * arguments against the declaration. `stmt` is a call that is a whole expression (no output operand).
   */
  private call(env: Env, t: Extract<CTerm, { t: 'call' }>, stmt: boolean): Ty | undefined {
    const have = t.args.map((a) => this.type(env, a));
    if (this.refsOnly) {
      // In an `every` body a call is not checked and its result not typed; its arguments' references are.
      if (t.out) this.type(env, t.out);
      this.results.set(t, undefined);
      return undefined;
    }
    let result: Ty | undefined;
    let sig: Pick<Sig, 'args' | 'result' | 'shown'> | undefined = t.fn.kind === 'builtin' ? signature(t.fn.name) : undefined;
    if (t.fn.kind === 'user' && this.world) {
      const f = this.world.funcType(t.fn.node);
      if (f && f.args.length === t.args.length) sig = { args: f.args, result: f.result, shown: [...f.args, f.result].map(showType) };
      else result = this.world.nodeType(t.fn.node);
    }
    if (sig) {
      const ok = t.args.every((a, i) => i >= sig.args.length || this.fits(env, a, sig.args[i]!)) && (t.out === undefined || sig.result === undefined || this.fitsOut(env, t.out, sig.result));
      if (!ok) {
        const operands = [...have];
        if (t.out) operands.push(this.peek(env, t.out));
        else if (!stmt && sig.result) operands.push(undefined);
        this.errors.push({ loc: t.loc, message: `${t.fn.name}: invalid argument(s)\n\thave: (${operands.map(showType).join(', ')})\n\twant: (${sig.shown.join(', ')})` });
      } else {
        result = sig.result;
        // A variable not typed yet (a function's parameter) takes the declared type (check.go unify1).
        t.args.forEach((a, i) => {
          const want = sig.args[i];
          if (want !== undefined) bindPattern(env, a, want);
        });
      }
    }
    this.results.set(t, result);
    if (t.out) {
      if (result !== undefined) this.unify1(env, t.out, result);
    }
    return result;
  }

  private fitsOut(env: Env, out: CTerm, want: Ty): boolean {
    if (out.t === 'var' && env.get(out.slot) === undefined) return true;
    return this.fits(env, out, want);
  }
}

const KEYWORDS = new Set(['as', 'contains', 'default', 'else', 'every', 'false', 'if', 'import', 'in', 'not', 'null', 'package', 'some', 'true', 'with']);

/** A scalar term as Rego prints it; undefined for what this checker does not print. */
function termText(t: CTerm): string | undefined {
  if (t.t === 'const') return toRegoString(t.v);
  const all = (ts: CTerm[]): string[] | undefined => {
    const out = ts.map(termText);
    return out.every((x) => x !== undefined) ? (out as string[]) : undefined;
  };
  if (t.t === 'array') {
    const items = all(t.items);
    return items && `[${items.join(', ')}]`;
  }
  if (t.t === 'set') {
    const items = all(t.items);
    return items && `{${items.join(', ')}}`;
  }
  if (t.t === 'object') {
    const parts = all(t.entries.flat());
    return parts && `{${t.entries.map((_, i) => `${parts[2 * i]!}: ${parts[2 * i + 1]!}`).join(', ')}}`;
  }
  // A wildcard prints as `_` (OPA's Var.String); variables the compiler made up have no text of their own.
  if (t.t === 'var') return t.name.includes('$') ? undefined : t.name;
  if (t.t === 'root') return t.root;
  return undefined;
}

/** The parts of a reference as Ref.String() joins them (`x.a`, `x[1]`, `x["a-b"]`, `x[i]`). */
function refTexts(parts: CTerm[], named?: (t: CTerm, i: number) => string | undefined): string[] | undefined {
  const out: string[] = [];
  for (const [i, p] of parts.entries()) {
    // A subject that is no variable or scalar is OPA's generated variable (named), never its value.
    const subject = i === 0 && (['array', 'set', 'object'].includes(p.t) || (p.t === 'const' && typeof p.v === 'object' && p.v !== null && !isNumber(p.v)));
    const text = (subject ? undefined : termText(p)) ?? named?.(p, i);
    if (text === undefined) return undefined;
    if (i === 0) out.push(text);
    else if (p.t === 'const' && typeof p.v === 'string' && /^[a-zA-Z_][a-zA-Z0-9_]*$/.test(p.v) && !KEYWORDS.has(p.v)) out.push(`.${p.v}`);
    else out.push(`[${text}]`);
  }
  return out;
}

/** The keys an object type lists, sorted (check.go getOneOfForType). */
function oneOfKeys(t: Ty): Value[] {
  const out: Value[] = [];
  const visit = (x: Ty): void => {
    if (x.k === 'object') for (const [k] of x.props) out.push(k);
    else if (x.k === 'any') x.of.forEach(visit);
  };
  visit(t);
  return out.sort(compare).filter((v, i, a) => i === 0 || compare(a[i - 1]!, v) !== 0);
}

/**
 * Binds the untyped variables of an argument to the parts of the declared type they meet (check.go unify1):
 * `x` to the type, `[a, b]` element by element, `{"k": v}` by constant key; a composite meeting a union
 * (`any<…>`) binds its variables to the union of what each member gives them.
 */
function bindPattern(env: Env, term: CTerm, want: Ty, union = false): void {
  if (term.t === 'var') {
    const have = env.get(term.slot);
    if (union) env.set(term.slot, or(have, want));
    else if (have === undefined) env.set(term.slot, want);
    return;
  }
  if (want.k === 'any' && want.of.length > 0 && (term.t === 'array' || term.t === 'set' || term.t === 'object')) {
    for (const w of want.of) if (w.k === term.t) bindPattern(env, term, w, true);
    return;
  }
  switch (term.t) {
    case 'array':
      if (want.k === 'array') {
        term.items.forEach((x, i) => {
          const w = i < want.items.length ? want.items[i] : want.dyn;
          if (w !== undefined) bindPattern(env, x, w, union);
        });
      }
      break;
    case 'set':
      if (want.k === 'set' && want.of !== undefined) for (const x of term.items) bindPattern(env, x, want.of, union);
      break;
    case 'object':
      if (want.k === 'object') {
        for (const [k, v] of term.entries) {
          const w = k.t === 'const' ? select(want, k.v) : undefined;
          if (w !== undefined) bindPattern(env, v, w, union);
        }
      }
      break;
    default:
      break;
  }
}

/**
 * The type of a document two definitions give values to (env.go mergeTypes): objects without constant
 * keys merge their key types and, recursively, their value types; sets merge their members; anything
 * else is the union.
 */
function mergeTypes(a: Ty | undefined, b: Ty | undefined): Ty | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  const dynOnly = (x: Ty): x is Extract<Ty, { k: 'object' }> => x.k === 'object' && x.props.length === 0 && x.dyn !== undefined;
  if (dynOnly(a) && dynOnly(b)) return { k: 'object', props: [], dyn: [or(a.dyn![0], b.dyn![0]), mergeTypes(a.dyn![1], b.dyn![1])] };
  if (dynOnly(a) && b.k === 'any') {
    const i = b.of.findIndex(dynOnly);
    if (i >= 0) {
      const o = b.of[i] as Extract<Ty, { k: 'object' }>;
      const merged: Ty = { k: 'object', props: [], dyn: [or(o.dyn![0], a.dyn![0]), or(o.dyn![1], a.dyn![1])] };
      return { k: 'any', of: b.of.map((x, j) => (j === i ? merged : x)) };
    }
  }
  if (a.k === 'set' && b.k === 'set') return { k: 'set', of: or(a.of, b.of) };
  if (a.k === 'any' && b.k !== 'any') return mergeTypes(b, a);
  return or(a, b);
}

/** A function's parameters not typed by its body are `any` (check.go checkRule). */
function typeParams(rule: CRule, env: Env): void {
  const visit = (t: CTerm): void => {
    if (t.t === 'var') {
      if (env.get(t.slot) === undefined) env.set(t.slot, ANY);
    } else if (t.t === 'array' || t.t === 'set') t.items.forEach(visit);
    else if (t.t === 'object') t.entries.forEach(([k, v]) => (visit(k), visit(v)));
  };
  rule.params?.forEach(visit);
}

/** A user function's type: its parameters' and its result's, as its definitions infer them. */
interface FnTy {
  args: Ty[];
  result: Ty;
}

/**
 * The rules being compiled, typed on demand (OPA checks rules in dependency order): the type of a rule's
 * document is the union of its definitions' values — a complete rule's value, `set[key]` for a multi-value
 * rule, `object[key: value]` for a one-variable object rule, a function's result — and `any` when a
 * definition has a type error or a shape this checker does not type.
 */
class World {
  private readonly types = new Map<RuleNode, Ty | undefined | 'busy'>();
  private readonly checked = new Map<CRule, { errors: TypeError[]; type: Ty | undefined; fn: FnTy | undefined }>();
  private readonly fns = new Map<RuleNode, FnTy | undefined>();

  private readonly extents = new Map<RuleNode, Ty | undefined>();

  constructor(
    private readonly rules: readonly CRule[],
    readonly root: RuleNode,
    private readonly refChecks: boolean,
    private readonly deps: ReadonlyMap<RuleNode, ReadonlySet<RuleNode>> | undefined,
    private readonly locals: Locals | undefined,
  ) {}

  private readonly before = new Map<RuleNode, Set<RuleNode>>();

  /**
   * Whether OPA's type environment surely holds a rule at or below `node` when the rule at `self` is
   * checked: one it depends on, however indirectly (rules are checked in dependency order; the order of
   * the others is not fixed). For a query every rule is there.
   */
  present(node: RuleNode, self: RuleNode | undefined): boolean {
    let seen: Set<RuleNode> | undefined;
    if (self !== undefined) {
      seen = this.before.get(self);
      if (seen === undefined) {
        seen = new Set();
        const stack = [...(this.deps?.get(self) ?? [])];
        while (stack.length > 0) {
          const d = stack.pop()!;
          if (d === self || seen.has(d)) continue;
          seen.add(d);
          stack.push(...(this.deps?.get(d) ?? []));
        }
        this.before.set(self, seen);
      }
    }
    const visit = (n: RuleNode): boolean => (n.declared && (seen === undefined ? true : seen.has(n))) || [...n.children.values()].some(visit);
    return visit(node);
  }

  /**
   * The type of the whole document at a node of the tree (TypeEnv getRefRecExtent): a rule's document, or
   * for a package (or any prefix of rule paths) an object with one property per document below it and
   * any other string key, as base data may be there too; a function below it is a property of function
   * type (`f: (number) => number`). Undefined when a part cannot be typed.
   */
  extent(node: RuleNode): Ty | undefined {
    if (this.extents.has(node)) return this.extents.get(node);
    this.extents.set(node, undefined);
    let t: Ty | undefined;
    if (node.declared && node.isFunction) {
      // A function is a property of its package's document with its function type (env.go
      // getRefRecExtent): the package is still an object, which no built-in argument can take whole.
      const f = this.funcType(node);
      t = f && { k: 'fn', args: f.args, result: f.result };
    } else if (node.declared) t = node.children.size > 0 ? undefined : this.nodeType(node);
    else {
      const props: Array<[string | number | boolean | null, Ty | undefined]> = [];
      let ok = true;
      for (const c of node.children.values()) {
        const ct = this.extent(c);
        if (ct === undefined) ok = false;
        const k = propKey(c.key);
        if (k !== undefined && k !== null) props.push([k, ct]);
      }
      props.sort((p, q) => cmpKey(p[0], q[0]));
      t = ok ? { k: 'object', props, dyn: [STR, ANY] } : undefined;
    }
    this.extents.set(node, t);
    return t;
  }

  nodeType(node: RuleNode): Ty | undefined {
    const have = this.types.get(node);
    if (have === 'busy') return ANY;
    if (have !== undefined || this.types.has(node)) return have;
    // A document with rules below it as well merges their values in; that is left as `any`.
    if ([...node.children.values()].some((c) => c.declared)) {
      this.types.set(node, ANY);
      return ANY;
    }
    this.types.set(node, 'busy');
    const defs = [...node.rules, ...node.funcs, ...(node.defaultRule ? [node.defaultRule] : []), ...(node.defaultFunc ? [node.defaultFunc] : [])];
    let t: Ty | undefined;
    for (const r of defs) {
      const rt = this.rule(r).type;
      if (rt === undefined) {
        t = ANY;
        break;
      }
      t = mergeTypes(t, rt);
    }
    t ??= ANY;
    this.types.set(node, t);
    return t;
  }

  /**
   * The type of a function from its definitions (check.go checkRule): each parameter has the type its
   * body gave it (`any` if none did), the result the type of the value; definitions, `else` branches
   * included, are united parameter by parameter. Undefined (`any`: nothing checked) when one of them has a
   * type error or a part this checker cannot type.
   */
  funcType(node: RuleNode): FnTy | undefined {
    if (this.fns.has(node)) return this.fns.get(node);
    this.fns.set(node, undefined);
    let f: FnTy | undefined;
    for (const r of [...node.funcs, ...(node.defaultFunc ? [node.defaultFunc] : [])]) {
      const rf = this.rule(r).fn;
      if (rf === undefined || (f !== undefined && f.args.length !== rf.args.length)) return undefined;
      f = f === undefined ? rf : { args: f.args.map((a, i) => or(a, rf.args[i]) ?? ANY), result: or(f.result, rf.result) ?? ANY };
    }
    this.fns.set(node, f);
    return f;
  }

  rule(r: CRule): { errors: TypeError[]; type: Ty | undefined; fn: FnTy | undefined } {
    let done = this.checked.get(r);
    if (done) return done;
    const c = new Checker(this, this.refChecks, r.node, this.locals);
    const branches: Array<[Env, Ty | undefined, CTerm]> = [];
    const env = c.body(new Map(), r.body);
    const rest = r.rest.map((t) => c.type(env, t));
    const key = r.key ? c.type(env, r.key) : undefined;
    let value = c.type(env, r.value);
    branches.push([env, value, r.value]);
    for (const e of r.elseChain) {
      const ee = c.body(new Map(), e.body);
      const ev = c.type(ee, e.value);
      branches.push([ee, ev, e.value]);
      value = or(value, ev) ?? ANY;
    }
    let type: Ty | undefined;
    if (r.kind === 'complete' || r.kind === 'func') type = value;
    else if (r.kind === 'multi' && rest.length === 0) type = { k: 'set', of: key };
    else if (r.kind === 'object' && rest.length > 0 && rest.every((k) => k !== undefined)) {
      // A head with variables after its ground prefix nests one object per part (check.go nestedObject):
      // `o[x][y] := v` is object[typeof x: object[typeof y: typeof v]].
      type = rest.reduceRight<Ty | undefined>((t, k) => (t === undefined ? undefined : { k: 'object', props: [], dyn: [k, t] }), value);
    }
    let fn: FnTy | undefined;
    if (r.params && c.errors.length === 0) {
      const params = r.params;
      const each = branches.map(([benv, bvalue, vterm]) => {
        typeParams(r, benv);
        // The value is typed again once the parameters are (`f({"a": x}) := x` returns what x is: any).
        return { args: params.map((p) => c.type(benv, p)), result: isNil(bvalue) ? c.typeTyped(benv, vterm) : bvalue };
      });
      if (each.every((b) => !isNil(b.result) && b.args.every((a) => !isNil(a)))) {
        fn = each.reduce((x, y) => ({ args: x.args.map((a, i) => or(a, y.args[i]) ?? ANY), result: or(x.result, y.result) ?? ANY })) as FnTy;
      }
    }
    done = { errors: c.errors, type: c.errors.length > 0 || isNil(type) ? undefined : type, fn };
    this.checked.set(r, done);
    return done;
  }

  errors(): TypeError[] {
    return this.rules.flatMap((r) => this.rule(r).errors);
  }

  query(body: CLit[], locals?: Locals): TypeError[] {
    const c = new Checker(this, this.refChecks, undefined, locals);
    c.body(new Map(), body);
    return c.errors;
  }
}

/** The types of compiled rules, for checking them and the queries asked of them. */
export interface RuleTypes {
  /** OPA's type errors of the rules: bodies and heads, `else` bodies and values. */
  errors(): TypeError[];
  /** OPA's type errors of a query body, with references to the rules typed as their documents. */
  query(body: CLit[], locals?: Locals): TypeError[];
}

/**
 * @param opts.deps what each rule's document depends on: OPA checks rules in dependency order, so only
 * what a rule depends on is surely typed when it is checked.
 * @param opts.locals the names of OPA's generated variables in the modules (opa-locals.ts moduleRefHeads).
 */
export function ruleTypes(
  rules: readonly CRule[],
  root: RuleNode,
  opts: { refs?: boolean; deps?: ReadonlyMap<RuleNode, ReadonlySet<RuleNode>>; locals?: Locals } = {},
): RuleTypes {
  return new World(rules, root, opts.refs ?? true, opts.deps, opts.locals);
}


/** The type of a term before any variable, rule or call result is typed. */
export function termTypeUntyped(t: CTerm): Ty | undefined {
  return new Checker(undefined).peekTerm(t);
}

/** OPA's type errors of a query body (rules' documents are not typed: `any`). */
export function checkQuery(body: CLit[], opts: { refs?: boolean; locals?: Locals } = {}): TypeError[] {
  const c = new Checker(undefined, opts.refs ?? true, undefined, opts.locals);
  c.body(new Map(), body);
  return c.errors;
}

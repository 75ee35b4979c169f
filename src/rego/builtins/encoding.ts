/**
 * Encodings (opa:v1/topdown/encoding.go): `base64.*`, `base64url.*`, `hex.*`, `urlquery.*`, `json.marshal*`,
 * `json.unmarshal`, `json.is_valid`, `yaml.*`.
 *
 * Rego strings are Go strings, i.e. byte strings that are usually UTF-8. Decoders here produce bytes; those
 * become a JS string through `bytesToString`, which follows Go's UTF-8 decoding (each invalid byte is one
 * U+FFFD), so `count(base64.decode(x))` counts what Go counts. Decoding errors reproduce Go's texts
 * (`illegal base64 data at input byte 13`, `encoding/hex: invalid byte: U+0067 'g'`), which the suite checks.
 */
import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';
import { GO_YAML_V2, goYamlAliasError, goYamlQuoted, goYamlSyntaxError, goYamlTabError } from './goyaml.js';
import { type Value, RObject, fromJson, isObject, isSet, parseJsonValue, toJs, toJsonText } from '../value.js';
import { type BuiltinDef, BuiltinError, argObject, argString, builtinError, typeError } from './registry.js';
import { firstValueText, goJsonError } from './gojson.js';
import { goQuoteBytes } from './sprintf.js';
import { CocoError } from '../../errors.js';

/** Go's string(bytes) as seen through utf8.DecodeRune: every byte of an invalid sequence is one U+FFFD. */
export function bytesToString(b: Uint8Array): string {
  let out = '';
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    if (c < 0x80) {
      out += String.fromCharCode(c);
      i++;
      continue;
    }
    let need = 0;
    let cp = 0;
    let min = 0;
    if (c >= 0xc2 && c <= 0xdf) [need, cp, min] = [1, c & 0x1f, 0x80];
    else if (c >= 0xe0 && c <= 0xef) [need, cp, min] = [2, c & 0x0f, 0x800];
    else if (c >= 0xf0 && c <= 0xf4) [need, cp, min] = [3, c & 0x07, 0x10000];
    let ok = need > 0 && i + need < b.length;
    if (ok) {
      for (let k = 1; k <= need; k++) {
        const d = b[i + k];
        if (d === undefined || (d & 0xc0) !== 0x80) {
          ok = false;
          break;
        }
        cp = (cp << 6) | (d & 0x3f);
      }
    }
    if (ok && (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))) ok = false;
    if (ok) {
      out += String.fromCodePoint(cp);
      i += need + 1;
    } else {
      out += '\ufffd';
      i++;
    }
  }
  return out;
}

export function stringToBytes(s: string): Buffer {
  return Buffer.from(s, 'utf8');
}

// --- base64 (a port of Go's encoding/base64 decodeQuantum, non-strict, newlines ignored) ---------------

const STD = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

class CorruptInput extends Error {
  constructor(readonly at: number) {
    super(`illegal base64 data at input byte ${at}`);
  }
}

/** Go's base64 Encoding.DecodeString; throws CorruptInput with Go's byte offset. */
export function goBase64Decode(src: string, alphabet: 'std' | 'url', padded: boolean): Buffer {
  const map = new Map<number, number>();
  [...(alphabet === 'std' ? STD : URL)].forEach((ch, i) => map.set(ch.charCodeAt(0), i));
  const bytes = stringToBytes(src);
  const out: number[] = [];
  let si = 0;
  const n = bytes.length;
  const isNl = (x: number | undefined): boolean => x === 0x0a || x === 0x0d;
  for (;;) {
    const dbuf = [0, 0, 0, 0];
    let dlen = 4;
    let trailingErr: number | undefined;
    let j = 0;
    for (; j < 4; j++) {
      if (si === n) {
        if (j === 0) return Buffer.from(out);
        if (j === 1 || padded) throw new CorruptInput(si - j);
        dlen = j;
        break;
      }
      const inb = bytes[si]!;
      si++;
      const v = map.get(inb);
      if (v !== undefined) {
        dbuf[j] = v;
        continue;
      }
      if (isNl(inb)) {
        j--;
        continue;
      }
      if (!padded || inb !== 0x3d) throw new CorruptInput(si - 1);
      // Padding reached.
      if (j === 0 || j === 1) throw new CorruptInput(si - 1);
      if (j === 2) {
        while (si < n && isNl(bytes[si])) si++;
        if (si === n) throw new CorruptInput(n);
        if (bytes[si] !== 0x3d) throw new CorruptInput(si - 1);
        si++;
      }
      while (si < n && isNl(bytes[si])) si++;
      if (si < n) trailingErr = si;
      dlen = j;
      break;
    }
    const val = (dbuf[0]! << 18) | (dbuf[1]! << 12) | (dbuf[2]! << 6) | dbuf[3]!;
    const b = [(val >> 16) & 0xff, (val >> 8) & 0xff, val & 0xff];
    if (dlen >= 2) out.push(b[0]!);
    if (dlen >= 3) out.push(b[1]!);
    if (dlen >= 4) out.push(b[2]!);
    if (trailingErr !== undefined) throw new CorruptInput(trailingErr);
    if (dlen < 4) return Buffer.from(out);
  }
}

function base64Encode(s: string, alphabet: 'std' | 'url', padded: boolean): string {
  let r = stringToBytes(s).toString(alphabet === 'std' ? 'base64' : 'base64url');
  if (alphabet === 'url' && padded) while (r.length % 4 !== 0) r += '=';
  return r;
}

function decodeWith(name: string, f: () => Buffer): string {
  try {
    return bytesToString(f());
  } catch (e) {
    if (e instanceof CorruptInput) throw builtinError(name, e.message);
    throw e;
  }
}

// --- hex ------------------------------------------------------------------------------------------------

function goHexDecode(name: string, s: string): Buffer {
  const b = stringToBytes(s);
  const val = (x: number): number => {
    if (x >= 0x30 && x <= 0x39) return x - 0x30;
    if (x >= 0x61 && x <= 0x66) return x - 0x61 + 10;
    if (x >= 0x41 && x <= 0x46) return x - 0x41 + 10;
    return -1;
  };
  const invalid = (x: number): BuiltinError => {
    // %#U of the byte as a rune.
    const hexs = x.toString(16).toUpperCase().padStart(4, '0');
    const ch = String.fromCodePoint(x);
    const printable = x >= 0x20 && x !== 0x7f && !(x >= 0x80 && x < 0xa0);
    return builtinError(name, `encoding/hex: invalid byte: U+${hexs}${printable ? ` '${ch}'` : ''}`);
  };
  const out = Buffer.alloc(b.length >> 1);
  let j = 1;
  for (; j < b.length; j += 2) {
    const p = val(b[j - 1]!);
    const q = val(b[j]!);
    if (p < 0) throw invalid(b[j - 1]!);
    if (q < 0) throw invalid(b[j]!);
    out[(j - 1) >> 1] = (p << 4) | q;
  }
  if (b.length % 2 === 1) {
    if (val(b[j - 1]!) < 0) throw invalid(b[j - 1]!);
    throw builtinError(name, 'encoding/hex: odd length hex string');
  }
  return out;
}

// --- url query (Go net/url) ---------------------------------------------------------------------------

/** url.QueryEscape: unreserved bytes stay, space becomes '+', everything else %XX (upper case). */
export function queryEscape(s: string): string {
  let out = '';
  for (const byte of stringToBytes(s)) {
    const c = String.fromCharCode(byte);
    if (/[A-Za-z0-9\-_.~]/.test(c)) out += c;
    else if (byte === 0x20) out += '+';
    else out += '%' + byte.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

class EscapeError extends Error {}

/** url.QueryUnescape. */
export function queryUnescape(s: string): string {
  const b = stringToBytes(s);
  const out: number[] = [];
  const isHex = (x: number | undefined): boolean => x !== undefined && /[0-9a-fA-F]/.test(String.fromCharCode(x));
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    if (c === 0x25) {
      if (i + 2 >= b.length || !isHex(b[i + 1]) || !isHex(b[i + 2])) {
        // net/url's EscapeError quotes up to three bytes with strconv.Quote, cutting a character if need be.
        throw new EscapeError(`invalid URL escape ${goQuoteBytes(b.subarray(i, Math.min(i + 3, b.length)))}`);
      }
      out.push(parseInt(String.fromCharCode(b[i + 1]!, b[i + 2]!), 16));
      i += 2;
    } else if (c === 0x2b) out.push(0x20);
    else out.push(c);
  }
  return bytesToString(Buffer.from(out));
}

function parseQuery(name: string, q: string): RObject {
  const acc = new Map<string, string[]>();
  let firstErr: string | undefined;
  for (const part of q.split('&')) {
    if (part === '') continue;
    if (part.includes(';')) {
      firstErr ??= 'invalid semicolon separator in query';
      continue;
    }
    const eq = part.indexOf('=');
    const [k, v] = eq >= 0 ? [part.slice(0, eq), part.slice(eq + 1)] : [part, ''];
    try {
      const key = queryUnescape(k);
      const val = queryUnescape(v);
      const list = acc.get(key) ?? [];
      list.push(val);
      acc.set(key, list);
    } catch (e) {
      if (!(e instanceof EscapeError)) throw e;
      firstErr ??= e.message;
    }
  }
  if (firstErr !== undefined) throw builtinError(name, firstErr);
  const o = new RObject();
  for (const [k, vs] of acc) o.set(k, vs);
  return o;
}

function encodeObject(name: string, o: RObject): string {
  const err = (): BuiltinError => new BuiltinError('eval_type_error', `${name}: operand 1 values must be string, array[string], or set[string]`);
  const keyed = new Map<string, string[]>();
  for (const [k, v] of o.entries()) {
    const key = typeof k === 'string' ? k : toJsonText(k);
    if (typeof v === 'string') keyed.set(key, [v]);
    else if (Array.isArray(v) || isSet(v)) {
      const xs = Array.isArray(v) ? v : v.values();
      keyed.set(
        key,
        xs.map((x) => {
          if (typeof x !== 'string') throw err();
          return x;
        }),
      );
    } else throw err();
  }
  const keys = [...keyed.keys()].sort();
  const parts: string[] = [];
  for (const k of keys) for (const v of keyed.get(k)!) parts.push(`${queryEscape(k)}=${queryEscape(v)}`);
  return parts.join('&');
}

// --- JSON (Go encoding/json output) -------------------------------------------------------------------

/** Go's json.Marshal escapes HTML-significant characters and the JS line separators. */
function goJsonEscape(text: string): string {
  return text.replace(/[<>&\u2028\u2029]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}

export function goJsonMarshal(v: Value): string {
  return goJsonEscape(toJsonText(v));
}

/** json.MarshalIndent(v, prefix, indent): every line after the first gets `prefix`, nesting gets `indent`. */
function goJsonIndent(v: Value, prefix: string, indent: string, depth = 0): string {
  const nl = (d: number): string => '\n' + prefix + indent.repeat(d);
  if (Array.isArray(v) || isSet(v)) {
    const xs = Array.isArray(v) ? v : v.values();
    if (xs.length === 0) return '[]';
    return '[' + xs.map((x) => nl(depth + 1) + goJsonIndent(x, prefix, indent, depth + 1)).join(',') + nl(depth) + ']';
  }
  if (isObject(v)) {
    if (v.size === 0) return '{}';
    const es = v.entries().map(([k, x]) => {
      const key = goJsonEscape(JSON.stringify(typeof k === 'string' ? k : toJsonText(k)));
      return nl(depth + 1) + key + ': ' + goJsonIndent(x, prefix, indent, depth + 1);
    });
    return '{' + es.join(',') + nl(depth) + '}';
  }
  return goJsonMarshal(v);
}

function marshalWithOptions(args: Value[]): Value {
  const name = 'json.marshal_with_options';
  const v = args[0]!;
  const opts = argObject(name, args, 1);
  let indent = '\t';
  let prefix = '';
  let implicit = false;
  let explicit: boolean | undefined;
  for (const [k, val] of opts.entries()) {
    if (typeof k !== 'string') throw new BuiltinError('eval_type_error', `${name}: operand 2 failed to stringify key`);
    switch (k) {
      case 'prefix':
        if (typeof val !== 'string') throw new BuiltinError('eval_type_error', `${name}: operand 2 key ${k} failed cast to string`);
        prefix = val;
        implicit = true;
        break;
      case 'indent':
        if (typeof val !== 'string') throw new BuiltinError('eval_type_error', `${name}: operand 2 key ${k} failed cast to string`);
        indent = val;
        implicit = true;
        break;
      case 'pretty':
        if (typeof val !== 'boolean') throw new BuiltinError('eval_type_error', `${name}: operand 2 key ${k} failed cast to bool`);
        explicit = val;
        break;
      default:
        throw new BuiltinError('eval_type_error', `${name}: operand 2 object contained unknown key ${k}`);
    }
  }
  const pretty = explicit ?? implicit;
  return pretty ? prefix + goJsonIndent(v, prefix, indent) : goJsonMarshal(v);
}

function isValidJson(s: string): boolean {
  try {
    parseJsonValue(s);
    return true;
  } catch {
    return false;
  }
}

// --- YAML (sigs.k8s.io/yaml over go-yaml v2: YAML 1.1 scalars, block style, sequences not indented) ------

function yamlParse(name: string, s: string): Value {
  // Quoted scalars go by go-yaml's scanner; the text parsed holds them rewritten to the same values.
  const dq = goYamlQuoted(s, () => new (yaml().Lexer)());
  const docs = yaml().parseAllDocuments(dq.text, GO_YAML_V2);
  const list = Array.isArray(docs) ? docs : [docs];
  const doc = list[0];
  if (!doc) {
    if (dq.error) throw builtinError(name, dq.error.message);
    return null;
  }
  // Whichever go-yaml meets first: a tab it cannot skip, or the problem the parser here found.
  const tab = goYamlTabError(s);
  const problem = doc.errors[0];
  if (tab !== undefined && (!problem || tab.line <= lineBefore(s, problem.pos[0]))) throw builtinError(name, tab.message);
  // A quoted scalar go-yaml's scanner fails on, unless a problem comes before it; go-yaml reads the
  // first document only.
  if (dq.error && (!problem || problem.pos[0] >= dq.error.at) && dq.error.at <= doc.range[2]) throw builtinError(name, dq.error.message);
  if (problem) throw builtinError(name, goYamlSyntaxError(dq.text, { code: problem.code, message: problem.message, offset: problem.pos[0] }));
  // go-yaml's parser fails on the first alias to no anchor; its decoder then on an alias inside the node
  // its anchor names (which, anchors being registered as their node starts, includes a redefined anchor).
  let unknown: string | undefined;
  let recursive: string | undefined;
  yaml().visit(doc, {
    Alias(_key, node, path) {
      const target = node.resolve(doc);
      if (!target) unknown ??= node.source;
      else if (path.includes(target as never)) recursive ??= node.source;
    },
  });
  if (unknown !== undefined) throw builtinError(name, `yaml: unknown anchor '${unknown}' referenced`);
  if (recursive !== undefined) throw builtinError(name, `yaml: anchor '${recursive}' value contains itself`);
  let js: unknown;
  try {
    js = doc.toJS({ maxAliasCount: 1000 });
  } catch (e) {
    // Alias bombs and the like surface while building the value.
    const msg = (e as Error).message;
    throw builtinError(name, goYamlAliasError(msg) ?? `yaml: ${msg.split('\n')[0]}`);
  }
  return fromYaml(js);
}

function lineBefore(s: string, offset: number): number {
  return (s.slice(0, offset).match(/\r\n|\r|\n/g) ?? []).length;
}

/** YAML → JSON as YAMLToJSON does: map keys become strings. */
function fromYaml(x: unknown): Value {
  if (x instanceof Map) {
    const o = new RObject();
    for (const [k, v] of x) o.set(typeof k === 'string' ? k : String(k), fromYaml(v));
    return o;
  }
  if (Array.isArray(x)) return x.map(fromYaml);
  if (x instanceof Date) return x.toISOString();
  if (x !== null && typeof x === 'object' && !(x instanceof Set)) {
    const o = new RObject();
    for (const [k, v] of Object.entries(x)) o.set(k, fromYaml(v));
    return o;
  }
  if (typeof x === 'number' && !Number.isFinite(x)) throw new BuiltinError('eval_builtin_error', 'json: unsupported value: ' + String(x));
  return fromJson(x as never);
}

function yamlMarshal(v: Value): string {
  if (isObject(v) && v.size === 0) return '{}\n';
  if ((Array.isArray(v) && v.length === 0) || (isSet(v) && v.size === 0)) return '[]\n';
  return yaml().stringify(toJs(v), { version: '1.1', indentSeq: false, lineWidth: 0 });
}

export const builtins: BuiltinDef[] = [
  { name: 'base64.encode', arity: 1, fn: (a) => base64Encode(argString('base64.encode', a, 0), 'std', true) },
  {
    name: 'base64.decode',
    arity: 1,
    fn: (a) => decodeWith('base64.decode', () => goBase64Decode(argString('base64.decode', a, 0), 'std', true)),
  },
  {
    name: 'base64.is_valid',
    arity: 1,
    fn: (a) => {
      const s = a[0]!;
      if (typeof s !== 'string') return false;
      try {
        goBase64Decode(s, 'std', true);
        return true;
      } catch {
        return false;
      }
    },
  },
  { name: 'base64url.encode', arity: 1, fn: (a) => base64Encode(argString('base64url.encode', a, 0), 'url', true) },
  { name: 'base64url.encode_no_pad', arity: 1, fn: (a) => base64Encode(argString('base64url.encode_no_pad', a, 0), 'url', false) },
  {
    name: 'base64url.decode',
    arity: 1,
    fn: (a) => {
      let s = argString('base64url.decode', a, 0);
      // RFC 7515 Appendix C: restore the padding some encoders omit.
      if (!s.endsWith('=')) {
        const r = stringToBytes(s).length % 4;
        if (r === 2) s += '==';
        else if (r === 3) s += '=';
        else if (r === 1) throw builtinError('base64url.decode', `illegal base64url string: ${s}`);
      }
      return decodeWith('base64url.decode', () => goBase64Decode(s, 'url', true));
    },
  },
  { name: 'hex.encode', arity: 1, fn: (a) => stringToBytes(argString('hex.encode', a, 0)).toString('hex') },
  { name: 'hex.decode', arity: 1, fn: (a) => bytesToString(goHexDecode('hex.decode', argString('hex.decode', a, 0))) },
  { name: 'urlquery.encode', arity: 1, fn: (a) => queryEscape(argString('urlquery.encode', a, 0)) },
  {
    name: 'urlquery.decode',
    arity: 1,
    fn: (a) => {
      try {
        return queryUnescape(argString('urlquery.decode', a, 0));
      } catch (e) {
        if (e instanceof EscapeError) throw builtinError('urlquery.decode', e.message);
        throw e;
      }
    },
  },
  {
    name: 'urlquery.encode_object',
    arity: 1,
    fn: (a) => {
      const v = a[0]!;
      if (!isObject(v)) throw typeError('urlquery.encode_object', 1, 'object', v);
      return encodeObject('urlquery.encode_object', v);
    },
  },
  { name: 'urlquery.decode_object', arity: 1, fn: (a) => parseQuery('urlquery.decode_object', argString('urlquery.decode_object', a, 0)) },
  { name: 'json.marshal', arity: 1, fn: (a) => goJsonMarshal(a[0]!) },
  { name: 'json.marshal_with_options', arity: 2, fn: marshalWithOptions },
  {
    name: 'json.unmarshal',
    arity: 1,
    fn: (a) => {
      const s = argString('json.unmarshal', a, 0);
      try {
        return parseJsonValue(s);
      } catch (e) {
        if (!(e instanceof CocoError)) throw e;
        // Worded as Go's decoder words it; OPA accepts a value followed by `null` (it checks one more token).
        const goErr = goJsonError(s);
        if (goErr !== undefined) throw builtinError('json.unmarshal', goErr);
        try {
          return parseJsonValue(firstValueText(s));
        } catch (e2) {
          // Valid to Go but beyond this engine's limits (nesting depth).
          throw builtinError('json.unmarshal', (e2 as Error).message);
        }
      }
    },
  },
  { name: 'json.is_valid', arity: 1, fn: (a) => typeof a[0] === 'string' && isValidJson(a[0]) },
  { name: 'yaml.marshal', arity: 1, fn: (a) => yamlMarshal(a[0]!) },
  { name: 'yaml.unmarshal', arity: 1, fn: (a) => yamlParse('yaml.unmarshal', argString('yaml.unmarshal', a, 0)) },
  {
    name: 'yaml.is_valid',
    arity: 1,
    fn: (a) => {
      if (typeof a[0] !== 'string') return false;
      try {
        yamlParse('yaml.is_valid', a[0]);
        return true;
      } catch (e) {
        if (e instanceof BuiltinError) return false;
        return false;
      }
    },
  },
];

/** The YAML package, loaded by the first call that needs it rather than with the Rego engine. */
let yamlModule: typeof Yaml | undefined;
function yaml(): typeof Yaml {
  return (yamlModule ??= createRequire(import.meta.url)('yaml') as typeof Yaml);
}

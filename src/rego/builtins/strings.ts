/**
 * String built-ins (opa:v1/topdown/strings.go, specs/rego.md §2.13 "global" and `strings.*`).
 *
 * Go strings are UTF-8 and OPA counts *code points* wherever it reports positions or lengths (`indexof`,
 * `substring`, `count`), so every index here is a code-point index, never a UTF-16 one. Go's `strings` package
 * semantics are kept where they differ from JS: `trim*` cut sets are sets of code points, `trim_space` uses
 * Go's `unicode.IsSpace`, `upper`/`lower` map code point by code point (no `ß` → `SS` expansion), and
 * `strings.replace_n` follows `strings.NewReplacer` (leftmost match, ties to the first pattern in key order).
 */
import { floatInt } from '../bigfloat.js';
import { type Value, BigNum, decimalOf, isInteger, isNumber, isSet, normNum, numFromText, numText, parseLiteral, toBigInt, typeName } from '../value.js';
import {
  type BuiltinDef,
  BuiltinError,
  argInteger,
  argNum,
  argObject,
  argString,
  builtinError,
  typeError,
  typeErrorOneOf,
} from './registry.js';
import { goSprintf, toGoArg } from './sprintf.js';

function cps(s: string): string[] {
  return Array.from(s);
}

/** Code-point index of the first `needle` at or after UTF-16 offset `from`; -1 when absent. */
function cpIndexOf(hay: string, needle: string, from = 0): number {
  const u = hay.indexOf(needle, from);
  if (u < 0) return -1;
  return cps(hay.slice(0, u)).length;
}

/** Go's unicode.IsSpace. */
const GO_SPACE = /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/gu;

function trimLeftSet(s: string, cut: Set<string>): string {
  const a = cps(s);
  let i = 0;
  while (i < a.length && cut.has(a[i]!)) i++;
  return a.slice(i).join('');
}

function trimRightSet(s: string, cut: Set<string>): string {
  const a = cps(s);
  let j = a.length;
  while (j > 0 && cut.has(a[j - 1]!)) j--;
  return a.slice(0, j).join('');
}

function mapCodePoints(s: string, f: (c: string) => string): string {
  let out = '';
  for (const c of s) {
    const m = f(c);
    out += cps(m).length === 1 ? m : c;
  }
  return out;
}

/** Go strings.Split: an empty separator splits into code points; an empty input with one gives `[]`. */
export function goSplit(s: string, sep: string): string[] {
  if (sep === '') return cps(s);
  return s.split(sep);
}

/** Go strings.Replace(s, old, new, -1): an empty `old` inserts `new` at every code-point boundary. */
function goReplaceAll(s: string, old: string, neu: string): string {
  if (old === '') return neu + cps(s).join(neu) + (s === '' ? '' : neu);
  return s.split(old).join(neu);
}

/** Go strings.Count: an empty needle counts code points + 1. */
function goCount(s: string, sub: string): number {
  if (sub === '') return cps(s).length + 1;
  let n = 0;
  let i = s.indexOf(sub);
  while (i >= 0) {
    n++;
    i = s.indexOf(sub, i + sub.length);
  }
  return n;
}

/**
 * A string, or an array/set of strings, as a list (opa:v1/topdown/strings.go `getStringSliceFromOperand`).
 * An element of the wrong type gives OPA's `operand 1 must be array of strings but got array containing number`.
 */
export function stringsOperand(name: string, args: Value[], i: number): string[] {
  const v = args[i]!;
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) || isSet(v)) {
    const xs = Array.isArray(v) ? v : v.values();
    return xs.map((x) => {
      if (typeof x !== 'string') {
        const t = typeName(v);
        throw new BuiltinError('eval_type_error', `${name}: operand ${i + 1} must be ${t} of strings but got ${t} containing ${typeName(x)}`);
      }
      return x;
    });
  }
  throw typeErrorOneOf(name, i + 1, ['string', 'set', 'array'], v);
}

function formatInt(args: Value[]): Value {
  const name = 'format_int';
  const n = argNum(name, args, 0);
  const base = argNum(name, args, 1);
  // OPA matches the base's text ("2", "8", "10", "16"), so `16.0` is refused like 17.
  const bt = numText(base);
  if (bt !== '2' && bt !== '8' && bt !== '10' && bt !== '16') throw new BuiltinError('eval_type_error', `${name}: operand 2 must be one of {2, 8, 10, 16}`);
  // An integer prints exactly in every base (a literal written otherwise, `12.0` or `1e21`, as the integer it
  // is); a fraction is truncated toward zero (big.Float.Int), a non-integer no double holds read at 64 bits.
  const int = n instanceof BigNum && n.alias !== undefined && isInteger(n.alias) ? n.alias : n;
  let i: bigint;
  if (isInteger(int)) i = toBigInt(int);
  else if (typeof int === 'number') i = BigInt(Math.trunc(int));
  else i = floatInt(decimalOf(int), 'trunc');
  return i.toString(Number(bt));
}

function substring(args: Value[]): Value {
  const name = 'substring';
  const s = argString(name, args, 0);
  const start = argInteger(name, args, 1);
  const len = argInteger(name, args, 2);
  if (typeof start === 'bigint' ? start < 0n : start < 0) throw builtinError(name, 'negative offset');
  const a = cps(s);
  const st = typeof start === 'bigint' ? a.length : start;
  if (st >= a.length) return '';
  const l = typeof len === 'bigint' ? (len < 0n ? -1 : a.length) : len;
  if (l < 0) return a.slice(st).join('');
  return a.slice(st, st + l).join('');
}

function replaceN(args: Value[]): Value {
  const name = 'strings.replace_n';
  const patterns = argObject(name, args, 0);
  const s = argString(name, args, 1);
  const pairs: Array<[string, string]> = [];
  for (const [k, v] of patterns.entries()) {
    if (typeof k !== 'string') throw new BuiltinError('eval_type_error', `${name}: operand 1 non-string key found in pattern object`);
    if (typeof v !== 'string') throw new BuiltinError('eval_type_error', `${name}: operand 1 non-string value found in pattern object`);
    pairs.push([k, v]);
  }
  let out = '';
  let i = 0;
  const hasEmpty = pairs.some(([k]) => k === '');
  while (i <= s.length) {
    let matched = false;
    for (const [k, v] of pairs) {
      if (k !== '' && s.startsWith(k, i)) {
        out += v;
        i += k.length;
        matched = true;
        break;
      }
      if (k === '') break;
    }
    if (matched) continue;
    if (hasEmpty && !pairs.some(([k]) => k !== '' && s.startsWith(k, i))) out += pairs.find(([k]) => k === '')![1];
    if (i >= s.length) break;
    const cp = String.fromCodePoint(s.codePointAt(i)!);
    out += cp;
    i += cp.length;
  }
  return out;
}

function splitN(args: Value[]): Value {
  const name = 'strings.split_n';
  const s = argString(name, args, 0);
  const sep = argString(name, args, 1);
  const nn = argInteger(name, args, 2);
  const parts = goSplit(s, sep);
  const n = typeof nn === 'bigint' ? (nn < 0n ? -parts.length : parts.length) : nn;
  if (n === 0) return [];
  if (n > 0) return parts.slice(0, n);
  return parts.slice(Math.max(0, parts.length + n));
}

function indexofN(args: Value[]): Value {
  const name = 'indexof_n';
  const s = argString(name, args, 0);
  const needle = argString(name, args, 1);
  const out: Value[] = [];
  if (needle === '') throw builtinError(name, 'empty search character');
  let u = s.indexOf(needle);
  while (u >= 0) {
    out.push(cps(s.slice(0, u)).length);
    u = s.indexOf(needle, u + 1);
  }
  return out;
}

/**
 * Go's strconv.ParseFloat syntax, less the infinities and NaN (refused before): a sign, then decimal digits with
 * an optional point and `e` exponent, or `0x` hex digits with an optional point and a mandatory `p` exponent;
 * `_` between digits (and after a base prefix) as Go's underscoreOK allows. Returns the text without
 * underscores and whether it is hex, or undefined for invalid syntax.
 */
function goFloatSyntax(t: string): { text: string; hex: boolean } | undefined {
  const hexText = /^[+-]?0[xX]/.test(t);
  const m = hexText
    ? /^([+-]?)(0[xX])([0-9a-fA-F_]*)(?:\.([0-9a-fA-F_]*))?(?:([pP])([+-]?)([0-9_]+))?$/.exec(t)
    : /^([+-]?)()([0-9_]*)(?:\.([0-9_]*))?(?:([eE])([+-]?)([0-9_]+))?$/.exec(t);
  if (!m) return undefined;
  const [, sign, , int = '', frac, expChar, , exp] = m;
  const hex = hexText;
  const digit = hex ? /[0-9a-fA-F]/ : /[0-9]/;
  const mantissa = int + (frac ?? '');
  if (![...mantissa].some((c) => digit.test(c))) return undefined;
  if (hex && expChar === undefined) return undefined;
  if (exp !== undefined && !/^[0-9]/.test(exp)) return undefined;
  if (t.includes('_')) {
    // underscoreOK: every underscore sits between digits (a base prefix counts as one).
    let saw: '^' | '0' | '_' | '!' = hex ? '0' : '^';
    for (const c of t.slice(sign.length + (hex ? 2 : 0))) {
      if (digit.test(c)) saw = '0';
      else if (c === '_') {
        if (saw !== '0') return undefined;
        saw = '_';
      } else {
        if (saw === '_') return undefined;
        saw = '!';
      }
    }
    if (saw === '_') return undefined;
  }
  return { text: t.replace(/_/g, ''), hex };
}

/** The double a hex float text (`0x1.8p3`, underscores removed) denotes, as ParseFloat rounds it. */
function hexFloat(t: string): number {
  const m = /^([+-]?)0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?[pP]([+-]?[0-9]+)$/.exec(t)!;
  const digits = (m[2] ?? '') + (m[3] ?? '');
  const shift = 4 * (m[3] ?? '').length;
  const mant = BigInt(`0x${digits.replace(/^0+/, '') || '0'}`);
  const e = Number(m[4]) - shift;
  let v: number;
  if (mant === 0n) v = 0;
  else {
    // Scale exactly in binary: the value is mant * 2^e; Number() of a BigInt rounds to nearest even.
    const bits = mant.toString(2).length;
    const cut = Math.max(0, bits - 1100);
    v = Number(mant >> BigInt(cut)) * 2 ** (e + cut);
    if (!Number.isFinite(v) && e + cut < 0) v = (Number(mant >> BigInt(cut)) * 2 ** (e + cut + 600)) / 2 ** 600;
  }
  return m[1] === '-' ? -v : v;
}

function toNumber(args: Value[]): Value {
  const name = 'to_number';
  const v = args[0]!;
  if (v === null) return 0;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (isNumber(v)) return v;
  if (typeof v === 'string') {
    const t = v;
    // OPA (topdown/casts.go) refuses the spellings ParseFloat would read as infinities or NaN with a type
    // error, after stripping every leading sign and ignoring case.
    if (/^(inf|infinity|nan)$/i.test(t.replace(/^[+-]+/, ''))) throw typeError(name, 1, 'valid number string', v);
    const syntax = goFloatSyntax(t);
    if (syntax === undefined) throw builtinError(name, `strconv.ParseFloat: parsing ${JSON.stringify(t)}: invalid syntax`);
    const plain = syntax.text.replace(/^\+/, '');
    if (/^-?\d+$/.test(plain)) return normNum(BigInt(plain));
    const f = syntax.hex ? hexFloat(syntax.text) : Number(plain);
    if (!Number.isFinite(f)) throw builtinError(name, `strconv.ParseFloat: parsing ${JSON.stringify(t)}: value out of range`);
    if (syntax.hex) return normNum(f);
    // The number is the text itself (OPA returns ast.Number of the string): `1.0` and `1.50` print as given,
    // and the value is exact beyond a double's precision.
    return parseLiteral(plain) ?? numFromText(plain, f);
  }
  throw typeErrorOneOf(name, 1, ['null', 'boolean', 'number', 'string'], v);
}

function str2(name: string, f: (a: string, b: string) => Value): BuiltinDef {
  return { name, arity: 2, fn: (a) => f(argString(name, a, 0), argString(name, a, 1)) };
}

function str1(name: string, f: (a: string) => Value): BuiltinDef {
  return { name, arity: 1, fn: (a) => f(argString(name, a, 0)) };
}

function anyMatch(name: string, test: (s: string, p: string) => boolean): BuiltinDef {
  return {
    name,
    arity: 2,
    fn: (a) => {
      const xs = stringsOperand(name, a, 0);
      const ps = stringsOperand(name, a, 1);
      return xs.some((x) => ps.some((p) => test(x, p)));
    },
  };
}

export const builtins: BuiltinDef[] = [
  {
    name: 'concat',
    arity: 2,
    fn: (a) => {
      const sep = argString('concat', a, 0);
      const v = a[1]!;
      if (!Array.isArray(v) && !isSet(v)) throw typeErrorOneOf('concat', 2, ['set', 'array'], v);
      return stringsOperand('concat', a, 1).join(sep);
    },
  },
  str2('contains', (s, sub) => s.includes(sub)),
  str2('startswith', (s, p) => s.startsWith(p)),
  str2('endswith', (s, p) => s.endsWith(p)),
  { name: 'format_int', arity: 2, fn: formatInt },
  str2('indexof', (s, sub) => {
    // OPA refuses an empty needle rather than answering 0 (v1/topdown/strings.go builtinIndexOf).
    if (sub === '') throw builtinError('indexof', 'empty search character');
    return cpIndexOf(s, sub);
  }),
  { name: 'indexof_n', arity: 2, fn: indexofN },
  str1('lower', (s) => mapCodePoints(s, (c) => c.toLowerCase())),
  str1('upper', (s) => mapCodePoints(s, (c) => c.toUpperCase())),
  {
    name: 'replace',
    arity: 3,
    fn: (a) => goReplaceAll(argString('replace', a, 0), argString('replace', a, 1), argString('replace', a, 2)),
  },
  { name: 'strings.replace_n', arity: 2, fn: replaceN },
  str2('split', (s, sep) => goSplit(s, sep)),
  { name: 'strings.split_n', arity: 3, fn: splitN },
  {
    name: 'sprintf',
    arity: 2,
    fn: (a) => {
      const f = argString('sprintf', a, 0);
      const v = a[1]!;
      if (!Array.isArray(v)) throw typeError('sprintf', 2, 'array', v);
      return goSprintf(f, v.map(toGoArg));
    },
  },
  { name: 'substring', arity: 3, fn: substring },
  str2('trim', (s, cut) => {
    const c = new Set(cps(cut));
    return trimRightSet(trimLeftSet(s, c), c);
  }),
  str2('trim_left', (s, cut) => trimLeftSet(s, new Set(cps(cut)))),
  str2('trim_right', (s, cut) => trimRightSet(s, new Set(cps(cut)))),
  str2('trim_prefix', (s, p) => (s.startsWith(p) ? s.slice(p.length) : s)),
  str2('trim_suffix', (s, p) => (p !== '' && s.endsWith(p) ? s.slice(0, s.length - p.length) : s)),
  str1('trim_space', (s) => s.replace(GO_SPACE, '')),
  {
    name: 'strings.reverse',
    arity: 1,
    // OPA reports this builtin as `reverse` in its operand errors.
    fn: (a) => cps(argString('strings.reverse', a, 0)).reverse().join(''),
  },
  str2('strings.count', (s, sub) => goCount(s, sub)),
  anyMatch('strings.any_prefix_match', (s, p) => s.startsWith(p)),
  anyMatch('strings.any_suffix_match', (s, p) => s.endsWith(p)),
  { name: 'to_number', arity: 1, fn: toNumber },
];

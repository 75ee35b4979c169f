/**
 * `sprintf` — Go `fmt.Sprintf` applied to Rego values (opa:v1/topdown/strings.go `builtinSprintf`).
 *
 * OPA converts each argument before handing it to Go's fmt: a number that fits an int64 becomes an `int`, a
 * larger integer a `*big.Int`, any other number a `float64`; a string stays a `string`; every other value
 * (boolean, null, array, object, set) becomes its Rego literal text, i.e. a `string`. So `%s` of `true` is
 * `true`, `%v` of an array is `["a", 5]`, and `%d` of a string is Go's `%!d(string=…)`. This module ports the
 * verbs, flags, width and precision of Go's fmt for those three kinds, including Go's error annotations
 * (`%!verb(type=value)`, `%!verb(MISSING)`, `%!(EXTRA …)`, `%!(NOVERB)`).
 */
import { type Value, BigNum, isInteger, literalText, toBigInt, toDouble, toRegoString } from '../value.js';

type GoArg = { k: 'int'; v: bigint; big: boolean } | { k: 'float'; v: number } | { k: 'string'; v: string };

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

export function toGoArg(v: Value): GoArg {
  if (typeof v === 'number' || typeof v === 'bigint') {
    // A literal beyond float64 range formats as its text, as OPA's sprintf does when a number fits
    // neither an integer parse of its text nor a float64 (opa:v1/topdown/strings.go).
    const text = literalText(v);
    if (text !== undefined) return { k: 'string', v: text };
    if (isInteger(v)) {
      const b = toBigInt(v);
      return { k: 'int', v: b, big: b < INT64_MIN || b > INT64_MAX };
    }
    return { k: 'float', v: v as number };
  }
  // A non-integer no double holds formats as the float64 its text parses to, as OPA's does.
  if (v instanceof BigNum) return { k: 'float', v: toDouble(v) };
  if (typeof v === 'string') return { k: 'string', v };
  return { k: 'string', v: toRegoString(v) };
}

interface Spec {
  minus: boolean;
  plus: boolean;
  sharp: boolean;
  space: boolean;
  zero: boolean;
  width: number | undefined;
  prec: number | undefined;
}

function goTypeName(a: GoArg): string {
  return a.k === 'int' ? (a.big ? '*big.Int' : 'int') : a.k === 'float' ? 'float64' : 'string';
}

function plainV(a: GoArg): string {
  if (a.k === 'int') return a.v.toString();
  if (a.k === 'float') return formatFloat(a.v, 'g', undefined);
  return a.v;
}

/** Pads to the width; zero padding goes after the sign (Go's fmt.pad / fmtInteger). */
function pad(s: string, sp: Spec, numeric: boolean): string {
  const w = sp.width ?? 0;
  const len = [...s].length;
  if (len >= w) return s;
  if (sp.minus) return s + ' '.repeat(w - len);
  if (sp.zero && numeric) {
    const sign = /^[+\- ]/.test(s) ? s[0]! : '';
    return sign + '0'.repeat(w - len) + s.slice(sign.length);
  }
  return ' '.repeat(w - len) + s;
}

function signed(neg: boolean, body: string, sp: Spec): string {
  return (neg ? '-' : sp.plus ? '+' : sp.space ? ' ' : '') + body;
}

function fmtInt(v: bigint, verb: string, sp: Spec): string {
  const neg = v < 0n;
  const abs = neg ? -v : v;
  let digits: string;
  let prefix = '';
  switch (verb) {
    case 'd':
    case 'v':
      digits = abs.toString(10);
      break;
    case 'b':
      digits = abs.toString(2);
      if (sp.sharp) prefix = '0b';
      break;
    case 'o':
      digits = abs.toString(8);
      if (sp.sharp) prefix = '0';
      break;
    case 'O':
      digits = abs.toString(8);
      prefix = '0o';
      break;
    case 'x':
      digits = abs.toString(16);
      if (sp.sharp) prefix = '0x';
      break;
    case 'X':
      digits = abs.toString(16).toUpperCase();
      if (sp.sharp) prefix = '0X';
      break;
    default:
      digits = abs.toString(10);
  }
  if (sp.prec !== undefined) {
    if (sp.prec === 0 && abs === 0n) digits = '';
    if (digits.length < sp.prec) digits = '0'.repeat(sp.prec - digits.length) + digits;
    // An explicit precision disables zero padding (Go fmt).
    return pad(signed(neg, prefix + digits, sp), { ...sp, zero: false }, true);
  }
  const body = signed(neg, prefix + digits, sp);
  if (sp.zero && !sp.minus && sp.width !== undefined && body.length < sp.width) {
    const head = body.length - digits.length;
    return body.slice(0, head) + '0'.repeat(sp.width - body.length) + digits;
  }
  return pad(body, sp, false);
}

/** Go's exponent form: at least two exponent digits (`1e+06`, `1.5e-07`). */
function goExp(s: string): string {
  return s.replace(/e([+-])(\d)$/, 'e$10$2');
}

/** strconv.FormatFloat for verbs e/f/g (`prec` undefined = shortest round-trip digits). */
export function formatFloat(f: number, verb: 'e' | 'f' | 'g', prec: number | undefined): string {
  if (Number.isNaN(f)) return 'NaN';
  if (!Number.isFinite(f)) return f > 0 ? '+Inf' : '-Inf';
  switch (verb) {
    case 'e':
      return goExp(prec === undefined ? f.toExponential() : f.toExponential(Math.min(prec, 100)));
    case 'f':
      if (prec === undefined) {
        // Shortest representation without exponent.
        return plainDecimal(f);
      }
      return toFixedExact(f, prec);
    case 'g': {
      if (f === 0) return Object.is(f, -0) ? '-0' : '0';
      let digits: string;
      let exp: number;
      if (prec === undefined) {
        const e = f.toExponential();
        const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(e)!;
        digits = m[2]! + (m[3] ?? '');
        exp = Number(m[4]);
      } else {
        const p = prec === 0 ? 1 : prec;
        const e = f.toExponential(p - 1);
        const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(e)!;
        digits = (m[2]! + (m[3] ?? '')).replace(/0+$/, '') || '0';
        exp = Number(m[4]);
      }
      // strconv: shortest %g (and %v) switches to an exponent from 1e+06 on.
      const eprec = prec === undefined ? 6 : prec === 0 ? 1 : prec;
      const neg = f < 0 ? '-' : '';
      if (exp < -4 || exp >= eprec) {
        const mant = digits.length > 1 ? digits[0] + '.' + digits.slice(1) : digits;
        const es = exp < 0 ? '-' : '+';
        const ed = String(Math.abs(exp)).padStart(2, '0');
        return `${neg}${mant}e${es}${ed}`;
      }
      if (exp < 0) return `${neg}0.${'0'.repeat(-exp - 1)}${digits}`;
      if (digits.length <= exp + 1) return neg + digits + '0'.repeat(exp + 1 - digits.length);
      return `${neg}${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`;
    }
  }
}

function plainDecimal(f: number): string {
  const e = f.toExponential();
  const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(e)!;
  const digits = m[2]! + (m[3] ?? '');
  const exp = Number(m[4]);
  const neg = m[1]!;
  if (exp < 0) return `${neg}0.${'0'.repeat(-exp - 1)}${digits}`;
  if (digits.length <= exp + 1) return neg + digits + '0'.repeat(exp + 1 - digits.length);
  return `${neg}${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`;
}

/** `toFixed` is exact in V8 for precisions ≤ 100 but switches to exponent form at 1e21; Go never does. */
function toFixedExact(f: number, prec: number): string {
  if (Math.abs(f) < 1e21) return f.toFixed(Math.min(prec, 100)) + '0'.repeat(Math.max(0, prec - 100));
  const int = BigInt(f).toString();
  return prec > 0 ? `${int}.${'0'.repeat(prec)}` : int;
}

function fmtFloat(f: number, verb: string, sp: Spec): string {
  let s: string;
  const lower = verb.toLowerCase();
  switch (lower) {
    case 'e':
      s = formatFloat(f, 'e', sp.prec ?? 6);
      break;
    case 'f':
      s = formatFloat(f, 'f', sp.prec ?? 6);
      break;
    case 'g':
      s = formatFloat(f, 'g', sp.prec);
      break;
    default:
      s = formatFloat(f, 'g', sp.prec);
  }
  if (verb === 'E' || verb === 'G') s = s.toUpperCase();
  if (!s.startsWith('-') && !s.startsWith('+')) {
    if (sp.plus) s = '+' + s;
    else if (sp.space) s = ' ' + s;
  } else if (s.startsWith('+') && !sp.plus) {
    s = s.slice(1); // +Inf prints as "+Inf" only with the plus flag
  }
  if (!Number.isFinite(f)) return pad(s, { ...sp, zero: false }, false);
  return pad(s, sp, true);
}

/**
 * strconv.FormatFloat(f, 'x', prec): `0x1.8p+01`, the mantissa's hex digits after the point (shortest when
 * `prec` is undefined, else rounded half-to-even to `prec` digits) and a binary exponent of at least 2 digits.
 */
export function hexFloat(f: number, prec: number | undefined): string {
  if (Number.isNaN(f)) return 'NaN';
  if (!Number.isFinite(f)) return f > 0 ? '+Inf' : '-Inf';
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, f);
  const bits = view.getBigUint64(0);
  const neg = bits >> 63n === 1n;
  let exp = Number((bits >> 52n) & 0x7ffn);
  let mant = bits & ((1n << 52n) - 1n);
  if (exp === 0 && mant === 0n) {
    exp = 0;
  } else if (exp === 0) {
    // Subnormal: shift the leading 1 into the implicit bit's place.
    exp = -1022;
    while ((mant & (1n << 52n)) === 0n) {
      mant <<= 1n;
      exp--;
    }
    mant &= (1n << 52n) - 1n;
  } else {
    exp -= 1023;
  }
  let lead = f === 0 ? 0n : 1n;
  let digits: string;
  if (prec === undefined) {
    digits = mant.toString(16).padStart(13, '0').replace(/0+$/, '');
  } else {
    // Keep prec hex digits (4 bits each) of the 52-bit fraction, rounding half to even on the whole mantissa.
    const keep = BigInt(Math.min(prec, 13) * 4);
    const drop = 52n - keep;
    const full = (lead << 52n) | mant;
    let q = full >> drop;
    const rem = full & ((1n << drop) - 1n);
    const half = drop > 0n ? 1n << (drop - 1n) : 0n;
    if (drop > 0n && (rem > half || (rem === half && (q & 1n) === 1n))) q++;
    if (q >> keep === 2n) {
      // Rounded up past 0x1.ff…: renormalised to 0x1.00…p+(e+1).
      q = 1n << keep;
      exp++;
    }
    lead = q >> keep;
    const frac = q & ((1n << keep) - 1n);
    digits = keep > 0n ? frac.toString(16).padStart(Number(keep / 4n), '0') : '';
    if (prec > 13) digits += '0'.repeat(prec - 13);
  }
  const e = Math.abs(exp).toString().padStart(2, '0');
  return `${neg ? '-' : ''}0x${lead}${digits ? '.' + digits : ''}p${exp < 0 ? '-' : '+'}${e}`;
}

function fmtHexFloat(f: number, verb: string, sp: Spec): string {
  let s = hexFloat(f, sp.prec);
  if (verb === 'X') s = s.toUpperCase().replace('INF', 'Inf').replace('NAN', 'NaN');
  if (!s.startsWith('-') && !s.startsWith('+')) {
    if (sp.plus) s = '+' + s;
    else if (sp.space) s = ' ' + s;
  } else if (s.startsWith('+') && !sp.plus) s = s.slice(1);
  return pad(s, Number.isFinite(f) ? sp : { ...sp, zero: false }, Number.isFinite(f));
}

/** Go's strconv.Quote for the characters it escapes (printable Unicode stays as is). */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (c === 7) out += '\\a';
    else if (c === 8) out += '\\b';
    else if (c === 12) out += '\\f';
    else if (c === 10) out += '\\n';
    else if (c === 13) out += '\\r';
    else if (c === 9) out += '\\t';
    else if (c === 11) out += '\\v';
    else if (c < 0x20 || c === 0x7f) out += '\\x' + c.toString(16).padStart(2, '0');
    else out += ch;
  }
  return out + '"';
}

function fmtString(s: string, verb: string, sp: Spec): string | undefined {
  let t = s;
  if (sp.prec !== undefined && (verb === 's' || verb === 'v' || verb === 'q')) t = [...t].slice(0, sp.prec).join('');
  switch (verb) {
    case 's':
      return pad(t, sp, false);
    case 'v':
      return pad(sp.sharp ? goQuote(t) : t, sp, false); // %#v is Go syntax: a quoted string
    case 'q':
      return pad(sp.sharp && !/[`\u0000-\u001f\u007f]/.test(t) ? '`' + t + '`' : goQuote(t), sp, false);
    case 'x':
    case 'X': {
      // fmtSbx: `#` prefixes 0x (0X) once, or before every byte when the space flag separates them.
      let bytes = [...Buffer.from(s, 'utf8')];
      if (sp.prec !== undefined) bytes = bytes.slice(0, sp.prec);
      const digits = bytes.map((b) => b.toString(16).padStart(2, '0'));
      const prefix = sp.sharp ? '0x' : '';
      let h = sp.space ? digits.map((d) => prefix + d).join(' ') : (digits.length > 0 ? prefix : '') + digits.join('');
      if (verb === 'X') h = h.toUpperCase();
      return pad(h, sp, false);
    }
    default:
      return undefined;
  }
}

function bad(verb: string, a: GoArg): string {
  return `%!${verb}(${goTypeName(a)}=${plainV(a)})`;
}

function formatOne(verb: string, sp: Spec, a: GoArg): string {
  if (a.k === 'int') {
    if ('dvbBoOxX'.includes(verb)) return fmtInt(a.v, verb, sp);
    if (verb === 's' && a.big) return fmtInt(a.v, 'd', sp); // *big.Int accepts %s
    if (verb === 'c' && !a.big) return pad(String.fromCodePoint(Number(a.v) >= 0 && Number(a.v) <= 0x10ffff ? Number(a.v) : 0xfffd), sp, false);
    if (verb === 'q' && !a.big) {
      const c = Number(a.v);
      return pad("'" + (c >= 0 && c <= 0x10ffff ? String.fromCodePoint(c) : '\ufffd') + "'", sp, false);
    }
    if (verb === 'U' && !a.big) return pad('U+' + a.v.toString(16).toUpperCase().padStart(4, '0'), sp, false);
    return bad(verb, a);
  }
  if (a.k === 'float') {
    if ('veEfFgG'.includes(verb)) return fmtFloat(a.v, verb, sp);
    if (verb === 'x' || verb === 'X') return fmtHexFloat(a.v, verb, sp);
    return bad(verb, a);
  }
  const r = fmtString(a.v, verb, sp);
  return r ?? bad(verb, a);
}

/** fmt's parseArgNumber on `[n]` at the start of `s`: the 0-based index, the bytes used, and whether it parsed. */
function parseArgNumber(s: string): { index: number; width: number; ok: boolean } {
  if (s.length < 3) return { index: 0, width: 1, ok: false };
  const close = s.indexOf(']', 1);
  if (close < 0) return { index: 0, width: 1, ok: false };
  const digits = s.slice(1, close);
  if (!/^\d+$/.test(digits) || digits.length > 7) return { index: 0, width: close + 1, ok: false };
  return { index: Number(digits) - 1, width: close + 1, ok: true };
}

/** fmt's intFromArg: only an `int` within ±1e6 is a width or precision. */
function intFromArg(args: GoArg[], argNum: number): { num: number; ok: boolean; next: number } {
  if (argNum >= args.length) return { num: 0, ok: false, next: argNum };
  const a = args[argNum]!;
  if (a.k !== 'int' || a.big || a.v > 1_000_000n || a.v < -1_000_000n) return { num: 0, ok: false, next: argNum + 1 };
  return { num: Number(a.v), ok: true, next: argNum + 1 };
}

/** Go's fmt.Sprintf over already-converted arguments (fmt's doPrintf, explicit `[n]` argument indexes included). */
export function goSprintf(format: string, args: GoArg[]): string {
  let out = '';
  let argNum = 0;
  let reordered = false;
  const n = format.length;
  let i = 0;
  while (i < n) {
    const c = format[i]!;
    if (c !== '%') {
      out += c;
      i++;
      continue;
    }
    i++;
    let goodArgNum = true;
    let afterIndex = false;
    const argIndex = (): void => {
      if (format[i] !== '[') {
        afterIndex = false;
        return;
      }
      reordered = true;
      const r = parseArgNumber(format.slice(i));
      i += r.width;
      if (r.ok && r.index >= 0 && r.index < args.length) {
        argNum = r.index;
        afterIndex = true;
        return;
      }
      goodArgNum = false;
      afterIndex = r.ok;
    };
    const sp: Spec = { minus: false, plus: false, sharp: false, space: false, zero: false, width: undefined, prec: undefined };
    for (; i < n; i++) {
      const f = format[i]!;
      if (f === '-') sp.minus = true;
      else if (f === '+') sp.plus = true;
      else if (f === '#') sp.sharp = true;
      else if (f === ' ') sp.space = true;
      else if (f === '0') sp.zero = !sp.minus;
      else break;
    }
    argIndex();
    if (format[i] === '*') {
      i++;
      const r = intFromArg(args, argNum);
      argNum = r.next;
      if (!r.ok) out += '%!(BADWIDTH)';
      else {
        sp.width = Math.abs(r.num);
        if (r.num < 0) sp.minus = true;
      }
      afterIndex = false;
    } else {
      const m = /^\d+/.exec(format.slice(i));
      if (m) {
        sp.width = Number(m[0]);
        i += m[0].length;
        if (afterIndex) goodArgNum = false; // "%[3]2d"
      }
    }
    if (i + 1 < n && format[i] === '.') {
      i++;
      if (afterIndex) goodArgNum = false; // "%[3].2d"
      argIndex();
      if (format[i] === '*') {
        i++;
        const r = intFromArg(args, argNum);
        argNum = r.next;
        if (r.ok && r.num >= 0) sp.prec = r.num;
        else out += '%!(BADPREC)';
        afterIndex = false;
      } else {
        const m = /^\d+/.exec(format.slice(i));
        sp.prec = m ? Number(m[0]) : 0;
        if (m) i += m[0].length;
      }
    }
    if (!afterIndex) argIndex();
    if (sp.minus) sp.zero = false;
    if (i >= n) {
      out += '%!(NOVERB)';
      break;
    }
    const verb = String.fromCodePoint(format.codePointAt(i)!);
    i += verb.length;
    if (verb === '%') {
      out += '%';
      continue;
    }
    if (!goodArgNum) {
      out += `%!${verb}(BADINDEX)`;
      continue;
    }
    const a = args[argNum];
    if (a === undefined) {
      out += `%!${verb}(MISSING)`;
      continue;
    }
    argNum++;
    out += verb === 'T' ? pad(goTypeName(a), sp, false) : formatOne(verb, sp, a);
  }
  if (!reordered && argNum < args.length) {
    out += '%!(EXTRA ' + args.slice(argNum).map((a) => `${goTypeName(a)}=${plainV(a)}`).join(', ') + ')';
  }
  return out;
}

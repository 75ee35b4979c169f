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
  /** `%+v` and `%#v`: fmt moves the `+` and `#` flags here for the `v` verb. */
  plusV: boolean;
  sharpV: boolean;
  width: number | undefined;
  prec: number | undefined;
}

function goTypeName(a: GoArg): string {
  return a.k === 'int' ? (a.big ? '*big.Int' : 'int') : a.k === 'float' ? 'float64' : 'string';
}

/** The operand as `%v` prints it with no flags (the EXTRA list). */
function plainV(a: GoArg): string {
  if (a.k === 'int') return a.v.toString();
  if (a.k === 'float') return formatFloat(a.v, 'g', -1);
  return a.v;
}

/** fmt.pad: width counted in runes, `0` pads on the left only, `-` pads on the right with spaces. */
function pad(s: string, sp: Spec): string {
  const w = sp.width ?? 0;
  if (w === 0) return s;
  const n = w - [...s].length;
  if (n <= 0) return s;
  if (sp.minus) return s + ' '.repeat(n);
  return (sp.zero ? '0' : ' ').repeat(n) + s;
}

const noZero = (sp: Spec): Spec => ({ ...sp, zero: false });

/** fmt.fmtInteger for an int64: precision or zero padding as leading digits, then `0b`/`0`/`0x`/`0o`, then the sign. */
function fmtInteger(v: bigint, base: 2 | 8 | 10 | 16, verb: string, sp: Spec): string {
  const neg = v < 0n;
  const u = neg ? -v : v;
  let prec = 0;
  if (sp.prec !== undefined) {
    prec = sp.prec;
    // Precision 0 and value 0 print nothing but the padding.
    if (prec === 0 && u === 0n) return ' '.repeat(sp.width ?? 0);
  } else if (sp.zero && !sp.minus && sp.width !== undefined) {
    prec = sp.width;
    if (neg || sp.plus || sp.space) prec--;
  }
  let digits = u.toString(base);
  if (verb === 'X') digits = digits.toUpperCase();
  if (digits.length < prec) digits = '0'.repeat(prec - digits.length) + digits;
  if (sp.sharp) {
    if (base === 2) digits = '0b' + digits;
    else if (base === 8 && digits[0] !== '0') digits = '0' + digits;
    else if (base === 16) digits = (verb === 'X' ? '0X' : '0x') + digits;
  }
  if (verb === 'O') digits = '0o' + digits;
  const sign = neg ? '-' : sp.plus ? '+' : sp.space ? ' ' : '';
  return pad(sign + digits, noZero(sp));
}

/** math/big's Int.Format: the flags come from fmt.State, where `+` and `#` include `%+v` and `%#v`. */
function fmtBigInt(x: bigint, verb: string, sp: Spec): string {
  const base = verb === 'b' ? 2 : verb === 'o' || verb === 'O' ? 8 : 'dsv'.includes(verb) ? 10 : verb === 'x' || verb === 'X' ? 16 : 0;
  if (base === 0) return `%!${verb}(big.Int=${x.toString()})`;
  const sign = x < 0n ? '-' : sp.plus || sp.plusV ? '+' : sp.space ? ' ' : '';
  let prefix = '';
  if (sp.sharp || sp.sharpV) prefix = verb === 'b' ? '0b' : verb === 'o' ? '0' : verb === 'x' ? '0x' : verb === 'X' ? '0X' : '';
  if (verb === 'O') prefix = '0o';
  let digits = (x < 0n ? -x : x).toString(base);
  if (verb === 'X') digits = digits.toUpperCase();
  let zeros = 0;
  if (sp.prec !== undefined) {
    if (digits.length < sp.prec) zeros = sp.prec - digits.length;
    else if (digits === '0' && sp.prec === 0) return '';
  }
  const length = sign.length + prefix.length + zeros + digits.length;
  let left = 0;
  let right = 0;
  if (sp.width !== undefined && length < sp.width) {
    const d = sp.width - length;
    if (sp.minus) right = d;
    else if (sp.zero && sp.prec === undefined) zeros = d;
    else left = d;
  }
  return ' '.repeat(left) + sign + prefix + '0'.repeat(zeros) + digits + ' '.repeat(right);
}

/** unicode.IsPrint as strconv uses it: letters, marks, numbers, punctuation, symbols and the ASCII space. */
function isPrint(cp: number): boolean {
  return cp === 0x20 || /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u.test(String.fromCodePoint(cp));
}

const validRune = (cp: number): boolean => cp >= 0 && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);

/** strconv's appendEscapedRune. */
function escapeRune(cp: number, quote: string, asciiOnly: boolean): string {
  const ch = String.fromCodePoint(cp);
  if (ch === quote || ch === '\\') return '\\' + ch;
  if (asciiOnly ? cp < 0x80 && isPrint(cp) : isPrint(cp)) return ch;
  switch (cp) {
    case 7:
      return '\\a';
    case 8:
      return '\\b';
    case 12:
      return '\\f';
    case 10:
      return '\\n';
    case 13:
      return '\\r';
    case 9:
      return '\\t';
    case 11:
      return '\\v';
  }
  if (cp < 0x20 || cp === 0x7f) return '\\x' + cp.toString(16).padStart(2, '0');
  const r = validRune(cp) ? cp : 0xfffd;
  return r < 0x10000 ? '\\u' + r.toString(16).padStart(4, '0') : '\\U' + r.toString(16).padStart(8, '0');
}

/** strconv.Quote (and QuoteToASCII): a lone surrogate, which no UTF-8 string holds, is escaped as U+FFFD. */
export function goQuote(s: string, asciiOnly = false): string {
  let out = '"';
  for (const ch of s) out += escapeRune(ch.codePointAt(0)!, '"', asciiOnly);
  return out + '"';
}

/**
 * strconv.Quote of raw bytes (a Go string need not be UTF-8): each well-formed UTF-8 sequence is quoted as its
 * rune, any other byte as `\xNN`.
 */
export function goQuoteBytes(b: Uint8Array): string {
  let out = '"';
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    const n = c < 0x80 ? 1 : c >= 0xc2 && c < 0xe0 ? 2 : c >= 0xe0 && c < 0xf0 ? 3 : c >= 0xf0 && c < 0xf5 ? 4 : 0;
    let ok = n > 0 && i + n <= b.length;
    for (let k = 1; ok && k < n; k++) ok = (b[i + k]! & 0xc0) === 0x80;
    let cp = -1;
    if (ok) {
      cp = n === 1 ? c : c & (0xff >> (n + 1));
      for (let k = 1; k < n; k++) cp = (cp << 6) | (b[i + k]! & 0x3f);
      // Overlong forms, surrogates and values past U+10FFFF are not runes to Go's decoder.
      const min = [0, 0, 0x80, 0x800, 0x10000][n]!;
      if (cp < min || !validRune(cp)) ok = false;
    }
    if (!ok) {
      out += `\\x${c.toString(16).padStart(2, '0')}`;
      i++;
      continue;
    }
    out += escapeRune(cp, '"', false);
    i += n;
  }
  return out + '"';
}

/** strconv.CanBackquote: no backquote, no control character but tab, no U+FEFF. */
function canBackquote(s: string): boolean {
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '`' || c === 0xfeff || (c < 0x20 && c !== 9) || c === 0x7f || !validRune(c)) return false;
  }
  return true;
}

/** fmt.truncateString: at most `prec` runes. */
function truncate(s: string, sp: Spec): string {
  return sp.prec === undefined ? s : [...s].slice(0, sp.prec).join('');
}

function fmtQ(s: string, sp: Spec): string {
  const t = truncate(s, sp);
  if (sp.sharp && canBackquote(t)) return pad('`' + t + '`', sp);
  return pad(goQuote(t, sp.plus), sp);
}

/** fmt.fmtSbx: the bytes of the string in hex, `#` adding 0x (per byte with the space flag). */
function fmtSx(s: string, verb: string, sp: Spec): string {
  let bytes = [...Buffer.from(s, 'utf8')];
  if (sp.prec !== undefined && sp.prec < bytes.length) bytes = bytes.slice(0, sp.prec);
  if (bytes.length === 0) return sp.width !== undefined ? pad('', sp) : '';
  const x = verb === 'X' ? '0X' : '0x';
  const hex = bytes.map((b) => {
    const h = b.toString(16).padStart(2, '0');
    return verb === 'X' ? h.toUpperCase() : h;
  });
  const body = sp.space ? hex.map((h) => (sp.sharp ? x : '') + h).join(' ') : (sp.sharp ? x : '') + hex.join('');
  return pad(body, sp);
}

function fmtString(s: string, verb: string, sp: Spec): string | undefined {
  switch (verb) {
    case 'v':
      return sp.sharpV ? fmtQ(s, sp) : pad(truncate(s, sp), sp);
    case 's':
      return pad(truncate(s, sp), sp);
    case 'x':
    case 'X':
      return fmtSx(s, verb, sp);
    case 'q':
      return fmtQ(s, sp);
    default:
      return undefined;
  }
}

/** The decimal digits of a non-negative double: value = 0.d × 10^dp, `d` without trailing zeros ('' for 0). */
interface Digits {
  d: string;
  dp: number;
}

/** The exact decimal expansion (every double is a finite decimal). */
function exactDigits(abs: number): Digits {
  if (abs === 0) return { d: '', dp: 0 };
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, abs);
  const bits = view.getBigUint64(0);
  const bexp = Number((bits >> 52n) & 0x7ffn);
  let mant = bits & ((1n << 52n) - 1n);
  let e: number;
  if (bexp === 0) e = -1074;
  else {
    mant |= 1n << 52n;
    e = bexp - 1075;
  }
  const text = e >= 0 ? (mant << BigInt(e)).toString() : (mant * 5n ** BigInt(-e)).toString();
  const dp = e >= 0 ? text.length : text.length + e;
  return { d: text.replace(/0+$/, ''), dp };
}

/** The shortest digits that read back as the same double (strconv's shortest mode). */
function shortestDigits(abs: number): Digits {
  if (abs === 0) return { d: '', dp: 0 };
  const m = /^(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(abs.toExponential())!;
  return { d: (m[1]! + (m[2] ?? '')).replace(/0+$/, ''), dp: Number(m[3]) + 1 };
}

/** strconv's decimal.Round: to `nd` digits, an exact half rounding to even; `nd` < 0 leaves the digits alone. */
function roundDigits(x: Digits, nd: number): Digits {
  if (nd < 0 || nd >= x.d.length) return x;
  const half = x.d[nd] === '5' && nd + 1 === x.d.length;
  const up = half ? nd > 0 && Number(x.d[nd - 1]) % 2 === 1 : x.d[nd]! >= '5';
  if (!up) return { d: x.d.slice(0, nd).replace(/0+$/, ''), dp: x.dp };
  for (let i = nd - 1; i >= 0; i--) {
    if (x.d[i] !== '9') return { d: x.d.slice(0, i) + String(Number(x.d[i]) + 1), dp: x.dp };
  }
  return { d: '1', dp: x.dp + 1 };
}

function fmtE(neg: boolean, x: Digits, prec: number, e: string): string {
  let out = (neg ? '-' : '') + (x.d[0] ?? '0');
  if (prec > 0) out += '.' + x.d.slice(1, prec + 1).padEnd(prec, '0');
  let exp = x.d.length === 0 ? 0 : x.dp - 1;
  const sign = exp < 0 ? '-' : '+';
  exp = Math.abs(exp);
  return `${out}${e}${sign}${exp < 10 ? '0' + exp : exp}`;
}

function fmtF(neg: boolean, x: Digits, prec: number): string {
  let out = neg ? '-' : '';
  out += x.dp > 0 ? x.d.slice(0, x.dp).padEnd(x.dp, '0') : '0';
  if (prec > 0) {
    out += '.';
    for (let i = 1; i <= prec; i++) {
      const j = x.dp + i - 1;
      out += j >= 0 && j < x.d.length ? x.d[j] : '0';
    }
  }
  return out;
}

/** The IEEE 754 fields of a double: sign, biased exponent and the 52 stored fraction bits. */
function float64Fields(f: number): { neg: boolean; exp: number; mant: bigint } {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, f);
  const bits = view.getBigUint64(0);
  return { neg: bits >> 63n === 1n, exp: Number((bits >> 52n) & 0x7ffn), mant: bits & ((1n << 52n) - 1n) };
}

/** strconv 'b': decimal mantissa, `p`, binary exponent (`4503599627370496p-52`). */
function binaryFloat(f: number): string {
  const fields = float64Fields(f);
  const neg = fields.neg;
  let { exp, mant } = fields;
  if (exp === 0) exp++;
  else mant |= 1n << 52n;
  exp += -1023 - 52;
  return `${neg ? '-' : ''}${mant}p${exp >= 0 ? '+' : '-'}${Math.abs(exp)}`;
}

/**
 * strconv.FormatFloat(f, verb, prec, 64): `prec` -1 is the shortest form that reads back; otherwise digits are
 * cut from the exact decimal value, an exact half rounding to even (`%.0f` of 2.5 is `2`).
 */
export function formatFloat(f: number, verb: string, prec: number): string {
  if (Number.isNaN(f)) return 'NaN';
  if (!Number.isFinite(f)) return f > 0 ? '+Inf' : '-Inf';
  if (verb === 'b') return binaryFloat(f);
  if (verb === 'x' || verb === 'X') {
    const h = hexFloat(f, prec < 0 ? undefined : prec);
    return verb === 'X' ? h.toUpperCase() : h;
  }
  const neg = f < 0 || Object.is(f, -0);
  const abs = Math.abs(f);
  const shortest = prec < 0;
  let x: Digits;
  if (shortest) {
    x = shortestDigits(abs);
    prec = verb === 'e' || verb === 'E' ? Math.max(x.d.length - 1, 0) : verb === 'f' ? Math.max(x.d.length - x.dp, 0) : x.d.length;
  } else if (verb === 'f') {
    x = roundDigits(exactDigits(abs), exactDigits(abs).dp + prec);
  } else {
    if ((verb === 'g' || verb === 'G') && prec === 0) prec = 1;
    x = roundDigits(exactDigits(abs), verb === 'e' || verb === 'E' ? prec + 1 : prec);
  }
  switch (verb) {
    case 'e':
    case 'E':
      return fmtE(neg, x, prec, verb);
    case 'f':
      return fmtF(neg, x, prec);
    default: {
      let eprec = prec;
      if (eprec > x.d.length && x.d.length >= x.dp) eprec = x.d.length;
      if (shortest) eprec = 6;
      const exp = x.dp - 1;
      if (exp < -4 || exp >= eprec) return fmtE(neg, x, Math.min(prec, x.d.length) - 1, verb === 'G' ? 'E' : 'e');
      return fmtF(neg, x, Math.max((prec > x.dp ? x.d.length : prec) - x.dp, 0));
    }
  }
}

/** fmt.fmtFloat: strconv's text, then the `#` flag's decimal point and trailing zeros, the sign and the padding. */
function fmtFloat(v: number, verb: string, defaultPrec: number, sp: Spec): string {
  const prec = sp.prec ?? defaultPrec;
  let num = formatFloat(v, verb, prec);
  if (num[0] !== '-' && num[0] !== '+') num = '+' + num;
  if (sp.space && num[0] === '+' && !sp.plus) num = ' ' + num.slice(1);
  if (num[1] === 'I' || num[1] === 'N') {
    if (num[1] === 'N' && !sp.space && !sp.plus) num = num.slice(1);
    return pad(num, noZero(sp));
  }
  if (sp.sharp && verb !== 'b') {
    let digits = 0;
    if (verb === 'v' || verb === 'g' || verb === 'G' || verb === 'x') digits = prec === -1 ? 6 : prec;
    let tail = '';
    let hasPoint = false;
    let sawNonzero = false;
    for (let i = 1; i < num.length; i++) {
      const c = num[i]!;
      if (c === '.') hasPoint = true;
      else if (c === 'p' || c === 'P' || ((c === 'e' || c === 'E') && verb !== 'x' && verb !== 'X')) {
        tail = num.slice(i);
        num = num.slice(0, i);
        break;
      } else {
        if (c !== '0') sawNonzero = true;
        if (sawNonzero) digits--;
      }
    }
    if (!hasPoint) {
      if (num.length === 2 && num[1] === '0') digits--;
      num += '.';
    }
    if (digits > 0) num += '0'.repeat(digits);
    num += tail;
  }
  if (sp.plus || num[0] !== '+') {
    if (sp.zero && !sp.minus && sp.width !== undefined && sp.width > num.length) {
      return num[0] + '0'.repeat(sp.width - num.length) + num.slice(1);
    }
    return pad(num, sp);
  }
  return pad(num.slice(1), sp);
}

/**
 * strconv.FormatFloat(f, 'x', prec): `0x1.8p+01`, the mantissa's hex digits after the point (shortest when
 * `prec` is undefined, else rounded half-to-even to `prec` digits) and a binary exponent of at least 2 digits.
 */
export function hexFloat(f: number, prec: number | undefined): string {
  if (Number.isNaN(f)) return 'NaN';
  if (!Number.isFinite(f)) return f > 0 ? '+Inf' : '-Inf';
  const fields = float64Fields(f);
  const neg = fields.neg;
  let { exp, mant } = fields;
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

/** A rune for %c and %q: beyond U+10FFFF (or negative, as a uint64) or a surrogate is U+FFFD. */
function runeOf(v: bigint): number {
  const u = BigInt.asUintN(64, v);
  const r = u > 0x10ffffn ? 0xfffd : Number(u);
  return validRune(r) ? r : 0xfffd;
}

/** fmt.fmtUnicode: `U+` and at least four (or `prec`) hex digits; `#` appends the quoted character if printable. */
function fmtUnicode(v: bigint, sp: Spec): string {
  const u = BigInt.asUintN(64, v);
  const prec = sp.prec !== undefined && sp.prec > 4 ? sp.prec : 4;
  let out = 'U+' + u.toString(16).toUpperCase().padStart(prec, '0');
  if (sp.sharp && u <= 0x10ffffn && validRune(Number(u)) && isPrint(Number(u))) out += ` '${String.fromCodePoint(Number(u))}'`;
  return pad(out, noZero(sp));
}

/** printArg for one operand and verb: undefined when the verb does not apply (badVerb). */
function printArg(verb: string, sp: Spec, a: GoArg): string | undefined {
  if (a.k === 'int' && a.big) return fmtBigInt(a.v, verb, sp);
  if (a.k === 'int') {
    switch (verb) {
      case 'v':
      case 'd':
        return fmtInteger(a.v, 10, verb, sp);
      case 'b':
        return fmtInteger(a.v, 2, verb, sp);
      case 'o':
      case 'O':
        return fmtInteger(a.v, 8, verb, sp);
      case 'x':
      case 'X':
        return fmtInteger(a.v, 16, verb, sp);
      case 'c':
        return pad(String.fromCodePoint(runeOf(a.v)), sp);
      case 'q':
        return pad("'" + escapeRune(runeOf(a.v), "'", sp.plus) + "'", sp);
      case 'U':
        return fmtUnicode(a.v, sp);
      default:
        return undefined;
    }
  }
  if (a.k === 'float') {
    switch (verb) {
      case 'v':
        return fmtFloat(a.v, 'g', -1, sp);
      case 'b':
      case 'g':
      case 'G':
      case 'x':
      case 'X':
        return fmtFloat(a.v, verb, -1, sp);
      case 'f':
      case 'e':
      case 'E':
        return fmtFloat(a.v, verb, 6, sp);
      case 'F':
        return fmtFloat(a.v, 'f', 6, sp);
      default:
        return undefined;
    }
  }
  return fmtString(a.v, verb, sp);
}

/** fmt's badVerb: `%!verb(type=value)`, the value printed as `%v` under the same flags, width and precision. */
function formatOne(verb: string, sp: Spec, a: GoArg): string {
  return printArg(verb, sp, a) ?? `%!${verb}(${goTypeName(a)}=${printArg('v', sp, a)!})`;
}

/** fmt's parsenum over s[start, end): digits while the number so far is within ±1e6, else an overflow (next = end). */
function parsenum(s: string, start: number, end: number): { num: number; ok: boolean; next: number } {
  let num = 0;
  let ok = false;
  let i = start;
  for (; i < end && s[i]! >= '0' && s[i]! <= '9'; i++) {
    if (num > 1_000_000) return { num: 0, ok: false, next: end };
    num = num * 10 + Number(s[i]);
    ok = true;
  }
  return { num, ok, next: i };
}

/** fmt's parseArgNumber on `[n]` at the start of `s`: the 0-based index, the bytes used, and whether it parsed. */
function parseArgNumber(s: string): { index: number; width: number; ok: boolean } {
  if (s.length < 3) return { index: 0, width: 1, ok: false };
  const close = s.indexOf(']', 1);
  if (close < 0) return { index: 0, width: 1, ok: false };
  const n = parsenum(s, 1, close);
  if (!n.ok || n.next !== close) return { index: 0, width: close + 1, ok: false };
  return { index: n.num - 1, width: close + 1, ok: true };
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
    const sp: Spec = { minus: false, plus: false, sharp: false, space: false, zero: false, plusV: false, sharpV: false, width: undefined, prec: undefined };
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
      const w = parsenum(format, i, n);
      i = w.next;
      if (w.ok) {
        sp.width = w.num;
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
        const p = parsenum(format, i, n);
        i = p.next;
        sp.prec = p.ok ? p.num : 0;
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
    if (verb === 'T') out += pad(truncate(goTypeName(a), sp), sp);
    else if (verb === 'v') out += formatOne(verb, { ...sp, sharpV: sp.sharp, sharp: false, plusV: sp.plus, plus: false }, a);
    else out += formatOne(verb, sp, a);
  }
  if (!reordered && argNum < args.length) {
    out += '%!(EXTRA ' + args.slice(argNum).map((a) => `${goTypeName(a)}=${plainV(a)}`).join(', ') + ')';
  }
  return out;
}

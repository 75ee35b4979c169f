/**
 * The arithmetic OPA falls back to when numbers are not both integers (opa:v1/topdown/arithmetic.go): each
 * operand's decimal text is read into a binary floating-point number with a 64-bit mantissa and an unbounded
 * exponent (Go's `big.Float` at its default precision, rounding to nearest even), the operation is rounded to
 * 64 bits, and the result is written back as the shortest decimal text that reads back to the same 64-bit
 * value — in `%f` form when it is integral, otherwise in Go's `%g` form (`1.2345675e+06`, `0.33333333333333333334`).
 *
 * Decimals are exact `m × 10^e` pairs, binary floats `m × 2^x` with |m| holding exactly 64 bits (or zero).
 * Everything is done on bigints; the callers only come here when doubles cannot give OPA's answer.
 */

/** An exact decimal `m × 10^e`. */
export interface Decimal {
  readonly m: bigint;
  readonly e: number;
}

/** A binary float `m × 2^x` rounded to `p` bits (|m| has exactly p bits unless it is zero). */
interface BinFloat {
  readonly m: bigint;
  readonly x: number;
  readonly p: number;
}

/** Go's precision for a float read from text or combined with one (`big.Float` at precision 0 becomes 64). */
const PREC = 64;

function bitLen(n: bigint): number {
  return n === 0n ? 0 : n.toString(2).length;
}

const pow10Cache = new Map<number, bigint>();
export function pow10(k: number): bigint {
  let p = pow10Cache.get(k);
  if (p === undefined) {
    p = 10n ** BigInt(k);
    if (pow10Cache.size < 256) pow10Cache.set(k, p);
  }
  return p;
}

/** Rounds `sign × num / den × 2^x` (num ≥ 0, den > 0) to p bits, to nearest even. */
function round(neg: boolean, num: bigint, den: bigint, x: number, p: number): BinFloat {
  if (num === 0n) return { m: 0n, x: 0, p };
  // Scale so the integer quotient has at least p + 2 bits.
  const k = p + 2 - (bitLen(num) - bitLen(den));
  let q: bigint;
  let r: bigint;
  if (k >= 0) {
    const n = num << BigInt(k);
    q = n / den;
    r = n % den;
  } else {
    const d = den << BigInt(-k);
    q = num / d;
    r = num % d;
  }
  let exp = x - k;
  const s = bitLen(q) - p;
  if (s > 0) {
    const mask = (1n << BigInt(s)) - 1n;
    const low = q & mask;
    const half = 1n << BigInt(s - 1);
    q >>= BigInt(s);
    exp += s;
    if (low > half || (low === half && (r !== 0n || (q & 1n) === 1n))) {
      q += 1n;
      if (q === 1n << BigInt(p)) {
        q >>= 1n;
        exp += 1;
      }
    }
  }
  return { m: neg ? -q : q, x: exp, p };
}

function fromDecimal(d: Decimal): BinFloat {
  const neg = d.m < 0n;
  const a = neg ? -d.m : d.m;
  return d.e >= 0 ? round(neg, a * pow10(d.e), 1n, 0, PREC) : round(neg, a, pow10(-d.e), 0, PREC);
}

function exact(neg: boolean, mag: bigint, x: number, p: number): BinFloat {
  return round(neg, mag, 1n, x, p);
}

/** Sum rounded to `p` bits (Go: the receiver's precision, or the larger operand's when it has none). */
function add(a: BinFloat, b: BinFloat, p: number): BinFloat {
  if (a.m === 0n && b.m === 0n) return { m: 0n, x: 0, p };
  if (a.m === 0n) return exact(b.m < 0n, b.m < 0n ? -b.m : b.m, b.x, p);
  if (b.m === 0n) return exact(a.m < 0n, a.m < 0n ? -a.m : a.m, a.x, p);
  const x = Math.min(a.x, b.x);
  const s = (a.m << BigInt(a.x - x)) + (b.m << BigInt(b.x - x));
  return exact(s < 0n, s < 0n ? -s : s, x, p);
}

function mul(a: BinFloat, b: BinFloat, p: number): BinFloat {
  const r = a.m * b.m;
  return exact(r < 0n, r < 0n ? -r : r, a.x + b.x, p);
}

function quo(a: BinFloat, b: BinFloat, p: number): BinFloat {
  const neg = a.m < 0n !== b.m < 0n;
  return round(neg, a.m < 0n ? -a.m : a.m, b.m < 0n ? -b.m : b.m, a.x - b.x, p);
}

/** Decimal digits (no trailing zeros) and point position: value = 0.digits × 10^exp. */
interface Digits {
  d: string;
  exp: number;
}

/** The exact decimal digits of `mag × 2^x` (mag > 0). */
function digitsOf(mag: bigint, x: number): Digits {
  let s: string;
  let point: number;
  if (x >= 0) {
    s = (mag << BigInt(x)).toString();
    point = s.length;
  } else {
    s = (mag * 5n ** BigInt(-x)).toString();
    point = s.length + x;
  }
  const t = s.replace(/0+$/, '');
  return { d: t, exp: point };
}

function roundUp(ds: Digits, n: number): void {
  let i = n - 1;
  while (i >= 0 && ds.d[i] === '9') i--;
  if (i < 0) {
    ds.d = '1';
    ds.exp += 1;
    return;
  }
  ds.d = ds.d.slice(0, i) + String.fromCharCode(ds.d.charCodeAt(i) + 1);
}

function roundDown(ds: Digits, n: number): void {
  ds.d = ds.d.slice(0, n).replace(/0+$/, '');
}

function roundNearest(ds: Digits, n: number): void {
  const c = ds.d[n];
  if (c === undefined) return;
  const up = c === '5' && n + 1 === ds.d.length ? n > 0 && (ds.d.charCodeAt(n - 1) - 48) % 2 === 1 : c >= '5';
  if (up) roundUp(ds, n);
  else roundDown(ds, n);
}

/** The shortest digits that identify `f` among floats of its precision (Go's math/big roundShortest). */
function shortest(f: BinFloat): Digits {
  const mag = f.m < 0n ? -f.m : f.m;
  const ds = digitsOf(mag, f.x);
  // mant has p + 1 bits, its lowest bit is half an ulp.
  const s = bitLen(mag) - f.p;
  const mant = s <= 0 ? mag << BigInt(1 - s) : mag >> BigInt(s - 1);
  const x = f.x + s - 1;
  const lower = digitsOf(mant - 1n, x);
  const upper = digitsOf(mant + 1n, x);
  const inclusive = (mant & 2n) === 0n;
  const at = (g: Digits, i: number): string => g.d[i] ?? '0';
  for (let i = 0; i < ds.d.length; i++) {
    const m = ds.d[i]!;
    const l = at(lower, i);
    const u = at(upper, i);
    const okdown = l !== m || (inclusive && i + 1 === lower.d.length);
    const okup = m !== u && (inclusive || m.charCodeAt(0) + 1 < u.charCodeAt(0) || i + 1 < upper.d.length);
    if (okdown && okup) {
      roundNearest(ds, i + 1);
      break;
    }
    if (okdown) {
      roundDown(ds, i + 1);
      break;
    }
    if (okup) {
      roundUp(ds, i + 1);
      break;
    }
  }
  return ds;
}

/** The text OPA gives a float result (builtins.FloatToNumber): `%f` when integral, else shortest `%g`. */
function text(f: BinFloat): string {
  if (f.m === 0n) return '0';
  const sign = f.m < 0n ? '-' : '';
  const ds = shortest(f);
  const n = ds.d.length;
  const integral = f.x >= 0 || ((f.m < 0n ? -f.m : f.m) & ((1n << BigInt(-f.x)) - 1n)) === 0n;
  if (integral) return sign + fmtF(ds, Math.max(n - ds.exp, 0));
  const exp = ds.exp - 1;
  if (exp < -4 || exp >= 6) {
    const mant = ds.d[0]! + (n > 1 ? '.' + ds.d.slice(1) : '');
    const ae = Math.abs(exp);
    return sign + mant + 'e' + (exp < 0 ? '-' : '+') + (ae < 10 ? '0' : '') + String(ae);
  }
  return sign + fmtF(ds, Math.max(n - ds.exp, 0));
}

function fmtF(ds: Digits, prec: number): string {
  let s = ds.exp > 0 ? ds.d.slice(0, ds.exp).padEnd(ds.exp, '0') : '0';
  if (prec > 0) {
    let frac = '';
    for (let i = 0; i < prec; i++) frac += ds.d[ds.exp + i] ?? '0';
    s += '.' + frac;
  }
  return s;
}

export type FloatOp = '+' | '-' | '*' | '/';

/**
 * `a op b` on OPA's float path, as the decimal text OPA's result carries. The divisor of `/` must be non-zero
 * (callers report "divide by zero" first).
 */
export function floatOp(a: Decimal, b: Decimal, op: FloatOp): string {
  const x = fromDecimal(a);
  const y = fromDecimal(b);
  switch (op) {
    case '+':
      return text(add(x, y, PREC));
    case '-':
      return text(add(x, { m: -y.m, x: y.x, p: y.p }, PREC));
    case '*':
      return text(mul(x, y, PREC));
    case '/':
      return text(quo(x, y, PREC));
  }
}

/**
 * `sum` and `product` on their float path (opa:v1/topdown/aggregates.go): a running sum at 64 bits from zero,
 * a running product from `big.NewFloat(1)`, which carries a float64's 53 bits, so every step rounds to 53.
 */
export function floatFold(xs: readonly Decimal[], op: '+' | '*'): string {
  const p = op === '+' ? PREC : 53;
  let acc: BinFloat = op === '+' ? { m: 0n, x: 0, p } : round(false, 1n, 1n, 0, p);
  for (const d of xs) acc = op === '+' ? add(acc, fromDecimal(d), p) : mul(acc, fromDecimal(d), p);
  return text(acc);
}

/** A value's text on OPA's float path after a unary rounding (`abs`, `round`, `ceil`, `floor`). */
export function floatText(a: Decimal): string {
  return text(fromDecimal(a));
}

/** Parses a decimal number text (`-12.5e+3`) to an exact decimal; undefined when it is not one. */
export function parseDecimal(t: string): Decimal | undefined {
  const m = /^([+-]?)([0-9]+)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?$/.exec(t) ?? /^([+-]?)()\.([0-9]+)(?:[eE]([+-]?[0-9]+))?$/.exec(t);
  if (!m) return undefined;
  const frac = m[3] ?? '';
  const digits = (m[2] ?? '') + frac;
  const e = Number(m[4] ?? 0) - frac.length;
  if (!Number.isSafeInteger(e)) return undefined;
  return normalize(BigInt((m[1] === '-' ? '-' : '') + (digits === '' ? '0' : digits)), e);
}

/** Strips trailing zeros of the mantissa (zero is `0 × 10^0`). */
export function normalize(m: bigint, e: number): Decimal {
  if (m === 0n) return { m: 0n, e: 0 };
  while (m % 10n === 0n) {
    m /= 10n;
    e += 1;
  }
  return { m, e };
}

export function cmpDecimal(a: Decimal, b: Decimal): number {
  const sa = a.m < 0n ? -1 : a.m > 0n ? 1 : 0;
  const sb = b.m < 0n ? -1 : b.m > 0n ? 1 : 0;
  if (sa !== sb || sa === 0) return sa < sb ? -1 : sa > sb ? 1 : 0;
  // Same sign, both non-zero: compare magnitudes by order first, digits only when the orders agree.
  const la = (a.m < 0n ? -a.m : a.m).toString().length + a.e;
  const lb = (b.m < 0n ? -b.m : b.m).toString().length + b.e;
  if (la !== lb) return la < lb ? -sa : sa;
  const e = Math.min(a.e, b.e);
  const x = a.m * pow10(a.e - e);
  const y = b.m * pow10(b.e - e);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The integer part of a binary float, truncated toward zero, and whether a fraction was dropped. */
function trunc(f: BinFloat): [bigint, boolean] {
  if (f.x >= 0) return [f.m << BigInt(f.x), false];
  const neg = f.m < 0n;
  const mag = neg ? -f.m : f.m;
  const i = mag >> BigInt(-f.x);
  const exactInt = i << BigInt(-f.x) === mag;
  return [neg ? -i : i, !exactInt];
}

/**
 * `round` / `ceil` / `floor` of a number on OPA's float path (opa:v1/topdown/arithmetic.go arithRound etc.):
 * the operand at 64 bits; `round` adds ±0.5 at that precision and truncates (half away from zero), `ceil` and
 * `floor` move a truncated non-integer one step up or down.
 */
export function floatInt(d: Decimal, mode: 'round' | 'ceil' | 'floor'): bigint {
  const f = fromDecimal(d);
  if (mode === 'round') {
    const half: BinFloat = { m: (f.m < 0n ? -1n : 1n) << BigInt(PREC - 1), x: -PREC, p: PREC };
    return trunc(add(f, half, PREC))[0];
  }
  const [i, frac] = trunc(f);
  if (!frac) return i;
  if (mode === 'ceil') return f.m > 0n ? i + 1n : i;
  return f.m < 0n ? i - 1n : i;
}

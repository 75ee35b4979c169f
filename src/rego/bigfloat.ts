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

const TWO32 = 4294967296;

/** Number of bits of |n| (0 for zero): from the double nearest n, corrected by one comparison. */
function bitLen(n: bigint): number {
  if (n < 0n) n = -n;
  if (n < 0x20000000000000n) {
    const v = Number(n);
    if (v < TWO32) return 32 - Math.clz32(v);
    return 64 - Math.clz32(Math.floor(v / TWO32));
  }
  const v = Number(n);
  if (v === Infinity) {
    const h = n.toString(16);
    return 4 * (h.length - 1) + 32 - Math.clz32(parseInt(h[0]!, 16));
  }
  // v may have rounded up to the next power of two.
  const b = Math.floor(Math.log2(v)) + 1;
  return 1n << BigInt(b - 1) > n ? b - 1 : b;
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

const pow5Cache = new Map<number, bigint>();
function pow5(k: number): bigint {
  let p = pow5Cache.get(k);
  if (p === undefined) {
    p = 5n ** BigInt(k);
    if (pow5Cache.size < 512) pow5Cache.set(k, p);
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

/**
 * The shortest digits that identify `f` among floats of its precision — the digits Go's math/big
 * `roundShortest` chooses, computed on scaled integers instead of digit strings. With `mant` the mantissa
 * extended by one bit (its lowest bit is half an ulp, unit 2^x), the value is `mant` units and the interval
 * that reads back to `f` is `mant ± 1` units (its ends included when f's mantissa is even). Both are scaled
 * to a decimal fixed point (`W` and `H`, value = W / 10^S). The answer keeps the fewest digits: the largest
 * power 10^j for which W truncated or rounded up to a multiple of 10^j stays in the interval (validity only
 * grows as j falls, so j is found by bisection), then the nearer of the two, a tie going to the even digit.
 */
function shortest(f: BinFloat): Digits {
  const mag = f.m < 0n ? -f.m : f.m;
  const s = bitLen(mag) - f.p;
  const mant = s <= 0 ? mag << BigInt(1 - s) : mag >> BigInt(s - 1);
  const x = f.x + s - 1;
  let W: bigint;
  let H: bigint;
  let S: number;
  if (x >= 0) {
    H = 1n << BigInt(x);
    W = mant * H;
    S = 0;
  } else {
    H = pow5(-x);
    W = mant * H;
    S = -x;
  }
  const inclusive = (mant & 2n) === 0n;
  const lo = W - H;
  const hi = W + H;
  // Go compares digit by digit: when the upper end is itself a short decimal U = 10^T·k and rounding W up at
  // 10^T gives exactly U (excluded), the walk passes U's last digit and never rounds up afterwards, even where
  // rounding up at a lower power would stay inside. (Only possible for x ≥ 0: otherwise U is odd.)
  let noUp = false;
  if (!inclusive && x >= 0) {
    let T = 0;
    while (hi % pow10(T + 1) === 0n) T++;
    noUp = T > 0 && pow10(T) >= H;
  }
  const fits = (j: number): boolean => fitsAt(W, lo, hi, inclusive, noUp, pow10(j));
  // 10^jlo ≤ H always fits; 10^jhi is beyond W's leading digit and cannot fit. The answer is usually one or
  // two powers above jlo, so those are tried first; bisection takes the rest (round values).
  const LOG10_2 = 0.30102999566398114;
  let jlo = Math.floor((bitLen(H) - 1) * LOG10_2);
  let jhi = Math.floor(bitLen(W) * LOG10_2) + 2;
  for (let k = 0; k < 2 && jhi - jlo > 1; k++) {
    if (fits(jlo + 1)) jlo += 1;
    else jhi = jlo + 1;
  }
  while (jhi - jlo > 1) {
    const mid = (jlo + jhi) >> 1;
    if (fits(mid)) jlo = mid;
    else jhi = mid;
  }
  const j = jlo;
  const p = pow10(j);
  const r = W % p;
  const t = W - r;
  const downOk = t > lo || (inclusive && t === lo);
  const upOk = !noUp && (t + p < hi || (inclusive && t + p === hi));
  let D = t / p;
  let up: boolean;
  if (downOk && upOk) {
    const twice = 2n * r;
    up = twice > p || (twice === p && (D & 1n) === 1n);
  } else up = !downOk;
  if (up) D += 1n;
  if (D === 0n) return { d: '0', exp: 1 };
  let e = j - S;
  while (D % 10n === 0n) {
    D /= 10n;
    e += 1;
  }
  const d = D.toString();
  return { d, exp: d.length + e };
}

/** Whether W truncated or (unless `noUp`) rounded up to a multiple of p stays within lo … hi. */
function fitsAt(W: bigint, lo: bigint, hi: bigint, inclusive: boolean, noUp: boolean, p: bigint): boolean {
  const t = W - (W % p);
  if (t > lo || (inclusive && t === lo)) return true;
  if (noUp) return false;
  const u = t + p;
  return u < hi || (inclusive && u === hi);
}

/** The shortest digits of the p-bit float `m × 2^x` (m ≠ 0 with exactly p bits): `0.d × 10^exp`. */
export function shortestDigits(m: bigint, x: number, p: number): { d: string; exp: number } {
  return shortest({ m, x, p });
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
export function floatInt(d: Decimal, mode: 'round' | 'ceil' | 'floor' | 'trunc'): bigint {
  const f = fromDecimal(d);
  if (mode === 'trunc') return trunc(f)[0];
  if (mode === 'round') {
    const half: BinFloat = { m: (f.m < 0n ? -1n : 1n) << BigInt(PREC - 1), x: -PREC, p: PREC };
    return trunc(add(f, half, PREC))[0];
  }
  const [i, frac] = trunc(f);
  if (!frac) return i;
  if (mode === 'ceil') return f.m > 0n ? i + 1n : i;
  return f.m < 0n ? i - 1n : i;
}

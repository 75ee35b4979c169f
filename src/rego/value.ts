/**
 * Rego values (specs/rego.md §2.12): null, boolean, number, string, array, object (keys of any type) and set,
 * with OPA's total order (opa:v1/ast/compare.go), structural equality and JSON conversion.
 *
 * Representation, chosen so the common case costs nothing:
 * - `null`, `boolean`, `string` are the JS primitives;
 * - numbers are a JS `number` when the value is a non-integer double or a *safe* integer, and a `bigint`
 *   for every integer outside ±(2^53−1) — OPA numbers are arbitrary precision and the suite checks exact
 *   arithmetic beyond 64 bits. `normNum` keeps that invariant (an integral double beyond the safe range
 *   becomes a bigint), so two equal numbers always have the same JS representation;
 * - arrays are plain `Value[]` (treated as immutable once built);
 * - objects and sets are `RObject` / `RSet`, hashed by a canonical key string (`keyOf`) and iterated in
 *   Rego order (sorted), which OPA makes observable through comprehensions and `print`.
 *
 * Composite values are immutable once handed to the evaluator; the mutating methods (`set`, `add`) are for
 * building a value and must not be called after it has been shared.
 */
import { CocoError } from '../errors.js';
import { type Decimal, cmpDecimal, floatFold, floatOp, floatText, normalize, parseDecimal, pow10 } from './bigfloat.js';

export type Value = null | boolean | number | bigint | BigNum | string | Value[] | RObject | RSet;

/** Any Rego number: see `normNum` and `BigNum` for which representation a value takes. */
export type Num = number | bigint | BigNum;

/**
 * A non-integer number no double holds: OPA numbers are decimal texts of any size and precision
 * (opa:v1/ast/term.go `Number`), so `1e-400`, `0.10000000000000000001` or the quotient `1/3` computed at
 * Go's 64-bit float precision (`0.33333333333333333334`) are numbers there. `d` is the exact value (for
 * equality, order and hashing), `text` the text OPA prints for it. Integers are never a BigNum (they are a
 * `number` or a `bigint`), and a value a double holds exactly as its shortest text is always a `number`, so
 * every number has one representation.
 */
export class BigNum {
  constructor(
    readonly d: Decimal,
    readonly text: string,
    /**
     * The double of the same value, for a result of OPA's float path that a double holds but that OPA
     * writes in Go's `%g` form (`1.2345675e+06`, `1e-05`) where the double's own text differs: the number
     * keeps OPA's text for output and is the double for keys, arithmetic and the JS API (`floatResult`).
     */
    readonly alias?: number | bigint,
  ) {}

  /**
   * The canonical key text: `<mantissa>e<exponent>` of the normalised decimal, or for an alias the key text
   * of the double or integer it stands for (so `12.0` and `12` are one key).
   */
  key(): string {
    return this.alias !== undefined ? String(this.alias) : `${this.d.m}e${this.d.e}`;
  }
}

/**
 * A non-integer double computed on OPA's float path, as OPA writes it (opa:v1/topdown/builtins FloatToNumber:
 * `big.Float.Text('g', -1)`, Go's shortest `%g`): an exponent form once the decimal exponent is below -4 or at
 * least 6 (`1.2345675e+06`, `1e-05`, two exponent digits at least). Inside that window the text is the
 * double's own and the double is returned as is.
 */
export function floatResult(r: number): Num {
  if (Number.isInteger(r) || !Number.isFinite(r)) return normNum(r);
  const a = Math.abs(r);
  if (a >= 1e-4 && a < 1e6) return r;
  const d = toDecimal(r);
  if (!d) return r;
  const n = normalize(d[0], d[1]);
  const digits = (n.m < 0n ? -n.m : n.m).toString();
  const exp = digits.length + n.e - 1;
  const ae = Math.abs(exp);
  const text = `${r < 0 ? '-' : ''}${digits[0]}${digits.length > 1 ? '.' + digits.slice(1) : ''}e${exp < 0 ? '-' : '+'}${ae < 10 ? '0' : ''}${ae}`;
  return new BigNum(n, text, r);
}

/**
 * An aliased BigNum as its double when that is a non-integer (arithmetic on it is the float path either way);
 * an integer written otherwise (`12.0`, `1e21`) stays a BigNum, so arithmetic takes OPA's float path as OPA
 * does for a number whose text is not an integer's.
 */
function unalias(n: Num): Num {
  return n instanceof BigNum && typeof n.alias === 'number' && !Number.isInteger(n.alias) ? n.alias : n;
}

/**
 * A number literal of a policy: its value, keeping the literal's text when that is not the value's own
 * (opa:v1/ast/parser.go keeps a number's source text: `12.0`, `1e21` and `1.50` print as written and format
 * in `sprintf` as the float64 their text is). A literal beyond double range keeps its text as `parseNumber`
 * describes.
 */
export function parseLiteral(text: string): Num | undefined {
  const n = parseNumber(text);
  if (n === undefined || n instanceof BigNum || literalText(n) !== undefined) return n;
  if (typeof n === 'number' && !Number.isFinite(n)) return n;
  if (numText(n) === text) return n;
  return new BigNum(decimalOf(n), text, n);
}

/** OPA's type names (`type_name` builtin and error messages). */
export type TypeName = 'null' | 'boolean' | 'number' | 'string' | 'array' | 'object' | 'set';

// ---------------------------------------------------------------------------------------------------------
// Canonical keys

/**
 * A string that identifies a value up to Rego equality (`1` and `1.0` share a key). Plain strings map to
 * themselves so string-keyed objects hash without allocation; every other value's key starts with NUL.
 */
export function keyOf(v: Value): string {
  if (typeof v === 'string') return v.length > 0 && v.charCodeAt(0) === 0 ? '\u0000s' + v : v;
  return '\u0000' + ser(v);
}

function ser(v: Value): string {
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'number':
      return '#' + numText(v);
    case 'bigint':
      return '#' + v.toString();
    case 'boolean':
      return v ? 't' : 'f';
    default:
      if (v === null) return 'n';
      if (v instanceof BigNum) return '#' + v.key();
      if (Array.isArray(v)) {
        let s = '[';
        for (let i = 0; i < v.length; i++) s += (i ? ',' : '') + ser(v[i]!);
        return s + ']';
      }
      return v.canonical();
  }
}

// ---------------------------------------------------------------------------------------------------------
// Numbers

/** Normalises a JS number/bigint to the representation invariant described at the top of the file. */
export function normNum(n: number | bigint): number | bigint {
  if (typeof n === 'bigint') {
    return n >= -9007199254740991n && n <= 9007199254740991n ? Number(n) : n;
  }
  if (Object.is(n, -0)) return 0;
  if (Number.isInteger(n) && !Number.isSafeInteger(n)) {
    // The integer OPA reads from the double's text (`4.3e+34` is 43 × 10^33, not the double's binary value).
    const d = toDecimal(n);
    return d ? d[0] * pow10(d[1]) : BigInt(n);
  }
  return n;
}

/**
 * Parses a JSON number text: plain integer digits exactly (any size), anything with a fraction or exponent as a
 * double (so the same text gives the same value whichever JSON path parsed it).
 */
export function parseNumber(text: string): Num | undefined {
  const t = text.trim();
  if (!/^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$/.test(t)) return undefined;
  if (/^-?[0-9]+$/.test(t)) return normNum(BigInt(t));
  const f = Number(t);
  if (!Number.isFinite(f)) return beyondDouble(t) ?? f;
  return numFromText(t, f);
}

/** Exponents beyond this (either way) are not kept exactly: the text reads as the double it rounds to. */
const MAX_DECIMAL_EXP = 4096;

/**
 * The number a decimal text denotes, in its one representation: an integer as `number`/`bigint`, a non-integer
 * as the double whose shortest text has the same value, else as a `BigNum` keeping the text. `f` is the text
 * read as a double, when the caller has it.
 */
export function numFromText(t: string, f = Number(t)): Num {
  const d = parseDecimal(t);
  if (!d || Math.abs(d.e) > MAX_DECIMAL_EXP) return normNum(f);
  if (d.e >= 0) return normNum(d.m * pow10(d.e));
  // A double's shortest text has at most 17 digits.
  if (Number.isFinite(f) && f !== 0 && (d.m < 0n ? -d.m : d.m) < 100000000000000000n) {
    const back = toDecimal(f);
    if (back && sameDecimal(back, d)) return f;
  }
  return new BigNum(d, /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$/.test(t) ? t : decimalText(d));
}

/** Plain decimal text of a non-integer decimal (`-0.0125`). */
function decimalText(d: Decimal): string {
  const neg = d.m < 0n;
  const digits = (neg ? -d.m : d.m).toString().padStart(-d.e + 1, '0');
  return (neg ? '-' : '') + digits.slice(0, digits.length + d.e) + '.' + digits.slice(digits.length + d.e);
}

function sameDecimal(x: [bigint, number], d: Decimal): boolean {
  const n = normalize(x[0], x[1]);
  return n.m === d.m && n.e === d.e;
}

/**
 * OPA numbers are arbitrary-precision decimals that keep their literal text (json.Number,
 * opa:v1/ast/term.go `Number`), so `2e308` is a number there and prints as `2e308` (opa:v1/topdown/strings.go
 * sprintf falls back to the number's text when it fits neither an integer nor a float64). Here a literal whose
 * magnitude overflows a double is necessarily integral, so it is held exactly as a bigint — equality, order
 * and arithmetic stay exact — and its text is remembered for output (`literalText`). The text belongs to the
 * value: an equal bigint computed otherwise prints the same way.
 *
 * Bounded so a literal cannot make the engine allocate without limit: exponents up to `MAX_LITERAL_EXP` only
 * (beyond that the literal stays the overflowed double, as before), and at most `MAX_LITERAL_TEXTS` texts kept.
 */
const MAX_LITERAL_EXP = 4096;
const MAX_LITERAL_TEXTS = 1024;
const literalTexts = new Map<bigint, string>();

function beyondDouble(t: string): bigint | undefined {
  const m = /^(-?)([0-9]+)(?:\.([0-9]+))?[eE]([+-]?[0-9]+)$/.exec(t);
  if (!m) return undefined;
  const frac = m[3] ?? '';
  const exp = Number(m[4]) - frac.length;
  if (!Number.isSafeInteger(exp) || exp < 0 || exp > MAX_LITERAL_EXP) return undefined;
  let n = BigInt(m[2]! + frac) * 10n ** BigInt(exp);
  if (m[1] === '-') n = -n;
  if (literalTexts.size < MAX_LITERAL_TEXTS || literalTexts.has(n)) literalTexts.set(n, t);
  return n;
}

/** The literal text of a number parsed beyond double range (see `beyondDouble`), if it is one. */
export function literalText(n: Num): string | undefined {
  return typeof n === 'bigint' ? literalTexts.get(n) : undefined;
}

/** The decimal text of a number (integers without `.0`, like OPA's JSON output). */
export function numText(n: Num): string {
  if (n instanceof BigNum) return n.text;
  if (typeof n === 'bigint') return literalTexts.get(n) ?? n.toString();
  if (Number.isInteger(n)) return String(n);
  if (!Number.isFinite(n)) return String(n);
  return String(n);
}

export function isNumber(v: Value): v is Num {
  return typeof v === 'number' || typeof v === 'bigint' || v instanceof BigNum;
}

export function isInteger(v: Value): v is number | bigint {
  return typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v));
}

/** The exact integer value of an integral number (throws on a non-integer: callers check `isInteger`). */
export function toBigInt(v: number | bigint): bigint {
  if (typeof v === 'bigint') return v;
  if (!Number.isInteger(v)) throw new CocoError('REGO_INTERNAL', `not an integer: ${v}`, { kind: 'internal' });
  return BigInt(v);
}

/** A number as a JS double (may lose precision for bigints and BigNums; a BigNum beyond range is ±Infinity or 0). */
export function toDouble(v: Num): number {
  if (v instanceof BigNum) return v.alias !== undefined ? Number(v.alias) : Number(v.text);
  return typeof v === 'bigint' ? Number(v) : v;
}

/** A number as a safe JS integer, or undefined when it is not integral or does not fit. */
export function toSafeInt(v: Value): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) ? v : undefined;
}

export function numCompare(a: Num, b: Num): number {
  if (typeof a === 'number' && typeof b === 'number') return a < b ? -1 : a > b ? 1 : 0;
  // OPA compares number texts as exact rationals (opa:v1/ast/term.go Number.Compare).
  if (a instanceof BigNum || b instanceof BigNum) return cmpDecimal(decimalOf(a), decimalOf(b));
  if (typeof a === 'bigint' && typeof b === 'bigint') return a < b ? -1 : a > b ? 1 : 0;
  // Mixed: one is a bigint (|x| > 2^53), compare exactly against the double.
  if (typeof a === 'bigint') return -numCompare(b, a);
  const f = a as number;
  const bi = b as bigint;
  if (!Number.isFinite(f)) return f > 0 ? 1 : -1;
  const fl = Math.floor(f);
  const fb = BigInt(fl);
  if (fb < bi) return -1;
  if (fb > bi) return 1;
  return f === fl ? 0 : 1;
}

/** The exact decimal value of a number as OPA's text of it holds it (a double: its shortest text). */
export function decimalOf(n: Num): Decimal {
  if (n instanceof BigNum) return n.d;
  const x = toDecimal(n);
  return x ? normalize(x[0], x[1]) : { m: 0n, e: 0 };
}

/** A finite double as an exact decimal `m × 10^e` of its shortest text (the value OPA's text form holds). */
function toDecimal(n: number | bigint): [bigint, number] | undefined {
  if (typeof n === 'bigint') return [n, 0];
  if (!Number.isFinite(n)) return undefined;
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(String(n));
  if (!m) return undefined;
  const frac = m[3] ?? '';
  return [BigInt(m[1]! + m[2]! + frac), Number(m[4] ?? 0) - frac.length];
}

/**
 * OPA's float path (../bigfloat.ts) for operations that are not both on integers: every operand at Go's 64-bit
 * float precision, the result as the shortest text of that precision, read back into its one representation.
 */
function viaFloat(a: Num, b: Num, op: '+' | '-' | '*' | '/'): Num {
  return floatNum(floatOp(decimalOf(a), decimalOf(b), op));
}

/** A float-path result text as a number: a double it reads back to keeps that text (see `floatResult`). */
function floatNum(t: string): Num {
  const n = numFromText(t);
  return typeof n === 'number' && !Number.isInteger(n) && t !== String(n) ? new BigNum(decimalOf(n), t, n) : n;
}

/**
 * Sum/difference/product of two doubles computed on their decimal text, then rounded once: OPA computes on
 * arbitrary-precision floats, so `0.1 + 0.2` is `0.3` there, not `0.30000000000000004`. The result stays a
 * double when the exact decimal result has at most 15 significant digits and fits one (then OPA's 64-bit
 * result reads back as that same short decimal); anything longer takes OPA's float path.
 */
function decimalOp(a: number, b: number, op: '+' | '-' | '*'): Num {
  const x = toDecimal(a);
  const y = toDecimal(b);
  if (x && y) {
    let m: bigint;
    let e: number;
    if (op === '*') {
      m = x[0] * y[0];
      e = x[1] + y[1];
    } else {
      e = Math.min(x[1], y[1]);
      if (x[1] - e <= 40 && y[1] - e <= 40) {
        const xm = x[0] * pow10(x[1] - e);
        const ym = y[0] * pow10(y[1] - e);
        m = op === '+' ? xm + ym : xm - ym;
      } else return viaFloat(a, b, op);
    }
    const n = normalize(m, e);
    if (n.e >= 0) return normNum(n.m * pow10(n.e));
    const digits = (n.m < 0n ? -n.m : n.m).toString();
    if (digits.length <= 15) {
      const r = Number(`${n.m}e${n.e}`);
      if (Number.isFinite(r) && r !== 0) return floatResult(r);
    }
  }
  return viaFloat(a, b, op);
}

export function numAdd(a: Num, b: Num): Num {
  a = unalias(a);
  b = unalias(b);
  if (typeof a === 'number' && typeof b === 'number') {
    const r = a + b;
    if (Number.isInteger(a) && Number.isInteger(b)) return Number.isSafeInteger(r) ? r : normNum(BigInt(a) + BigInt(b));
    return decimalOp(a, b, '+');
  }
  if (isInteger(a) && isInteger(b)) return normNum(toBigInt(a) + toBigInt(b));
  return viaFloat(a, b, '+');
}

export function numSub(a: Num, b: Num): Num {
  a = unalias(a);
  b = unalias(b);
  if (typeof a === 'number' && typeof b === 'number') {
    const r = a - b;
    if (Number.isInteger(a) && Number.isInteger(b)) return Number.isSafeInteger(r) ? r : normNum(BigInt(a) - BigInt(b));
    return decimalOp(a, b, '-');
  }
  if (isInteger(a) && isInteger(b)) return normNum(toBigInt(a) - toBigInt(b));
  return viaFloat(a, b, '-');
}

export function numMul(a: Num, b: Num): Num {
  a = unalias(a);
  b = unalias(b);
  if (typeof a === 'number' && typeof b === 'number') {
    const r = a * b;
    if (Number.isInteger(a) && Number.isInteger(b)) return Number.isSafeInteger(r) ? r : normNum(BigInt(a) * BigInt(b));
    return decimalOp(a, b, '*');
  }
  if (isInteger(a) && isInteger(b)) return normNum(toBigInt(a) * toBigInt(b));
  return viaFloat(a, b, '*');
}

/**
 * Division; the caller rejects a zero divisor ("divide by zero"). As OPA (opa:v1/topdown/arithmetic.go
 * opDivide): exact when both are integers of the int32 window and the divisor divides a non-zero dividend,
 * otherwise a float quotient at 64 bits — so `1 / 3` is `0.33333333333333333334`.
 */
export function numDiv(a: Num, b: Num): Num {
  a = unalias(a);
  b = unalias(b);
  if (typeof a === 'number' && typeof b === 'number' && a !== 0) {
    const q = a / b;
    if (Number.isInteger(a) && Number.isInteger(b) && a % b === 0 && Number.isSafeInteger(q)) return normNum(q);
    // Operands whose text is exactly their double are exact at 64 bits; when their quotient is a double
    // exactly (q × b = a with no rounding) and its shortest text is exact too, OPA's quotient is that
    // double and its text the same digits (7 / 2, 1 / 8, 2.5 / 0.5, 1234567.5 / 0.25).
    if (exactDouble(a) && exactDouble(b) && exactDouble(q) && exactProduct(q, b, a)) return floatResult(q);
  }
  return viaFloat(a, b, '/');
}

/** Whether a finite double's shortest text is its exact binary value (integers within the safe range, `0.375`). */
function exactDouble(v: number): boolean {
  if (Number.isInteger(v)) return Number.isSafeInteger(v);
  if (!Number.isFinite(v)) return false;
  // v = n / 2^k with n odd has exactly k decimals; its shortest text must have as many.
  let t = v;
  let k = 0;
  while (!Number.isInteger(t)) {
    t *= 2;
    if (++k > 64) return false;
  }
  const s = String(v);
  const e = s.indexOf('e');
  const mant = e < 0 ? s : s.slice(0, e);
  const dot = mant.indexOf('.');
  const frac = (dot < 0 ? 0 : mant.length - dot - 1) - (e < 0 ? 0 : Number(s.slice(e + 1)));
  return frac === k;
}

/** Whether `q × b` is exactly `a` (Dekker's error-free product: the rounded product and its error). */
function exactProduct(q: number, b: number, a: number): boolean {
  const p = q * b;
  if (p !== a || Math.abs(q) > 1e290 || Math.abs(b) > 1e290) return false;
  const SPLIT = 134217729; // 2^27 + 1
  const cq = SPLIT * q;
  const qh = cq - (cq - q);
  const ql = q - qh;
  const cb = SPLIT * b;
  const bh = cb - (cb - b);
  const bl = b - bh;
  return qh * bh - p + qh * bl + ql * bh + ql * bl === 0;
}

/** `sum` of numbers that are not all integers: OPA's running 64-bit float sum. */
export function floatSum(xs: readonly Num[]): Num {
  return floatNum(floatFold(xs.map(decimalOf), '+'));
}

/** `product` of numbers that are not all integers: OPA's running product at 53 bits. */
export function floatProduct(xs: readonly Num[]): Num {
  return floatNum(floatFold(xs.map(decimalOf), '*'));
}

/** A number read at OPA's 64-bit float precision and written back (`abs` of a number beyond the fast path). */
export function viaFloatText(a: Num): Num {
  return floatNum(floatText(decimalOf(a)));
}

/** Remainder of integers with Go's truncated semantics (the sign follows the dividend). */
export function numRem(a: number | bigint, b: number | bigint): number | bigint {
  if (typeof a === 'number' && typeof b === 'number') return normNum(a % b);
  return normNum(toBigInt(a) % toBigInt(b));
}

export function isZero(n: Num): boolean {
  if (n instanceof BigNum) return n.alias !== undefined && isZero(n.alias);
  return typeof n === 'bigint' ? n === 0n : n === 0;
}

// ---------------------------------------------------------------------------------------------------------
// Objects and sets

/** A Rego object: keys of any type, iterated in key order. */
export class RObject {
  private readonly m = new Map<string, [Value, Value]>();
  private sortedCache: Array<[Value, Value]> | undefined;
  private canon: string | undefined;

  static from(entries: Iterable<readonly [Value, Value]>): RObject {
    const o = new RObject();
    for (const [k, v] of entries) o.set(k, v);
    return o;
  }

  get size(): number {
    return this.m.size;
  }

  get(k: Value): Value | undefined {
    return this.m.get(keyOf(k))?.[1];
  }

  /** Lookup by a plain string key, without building a key. */
  getStr(k: string): Value | undefined {
    return this.m.get(k.length > 0 && k.charCodeAt(0) === 0 ? '\u0000s' + k : k)?.[1];
  }

  has(k: Value): boolean {
    return this.m.has(keyOf(k));
  }

  /** Builder only. */
  set(k: Value, v: Value): this {
    this.m.set(keyOf(k), [k, v]);
    this.sortedCache = undefined;
    this.canon = undefined;
    return this;
  }

  /** Builder only. */
  delete(k: Value): boolean {
    this.sortedCache = undefined;
    this.canon = undefined;
    return this.m.delete(keyOf(k));
  }

  /** Entries in Rego key order. */
  entries(): ReadonlyArray<readonly [Value, Value]> {
    if (!this.sortedCache) this.sortedCache = [...this.m.values()].sort((x, y) => compare(x[0], y[0]));
    return this.sortedCache;
  }

  keys(): Value[] {
    return this.entries().map((e) => e[0]);
  }

  values(): Value[] {
    return this.entries().map((e) => e[1]);
  }

  /** Entries in insertion order (cheaper; for work whose result does not depend on order). */
  unorderedEntries(): IterableIterator<[Value, Value]> {
    return this.m.values();
  }

  /** A shallow copy that can be built on. */
  copy(): RObject {
    const o = new RObject();
    for (const [key, e] of this.m) o.m.set(key, e);
    return o;
  }

  canonical(): string {
    if (this.canon === undefined) {
      const parts: string[] = [];
      for (const [k, v] of this.m.values()) parts.push(ser(k) + ':' + ser(v));
      parts.sort();
      this.canon = '{' + parts.join(',') + '}';
    }
    return this.canon;
  }
}

/** A Rego set, iterated in element order. */
export class RSet {
  private readonly m = new Map<string, Value>();
  private sortedCache: Value[] | undefined;
  private canon: string | undefined;

  static from(values: Iterable<Value>): RSet {
    const s = new RSet();
    for (const v of values) s.add(v);
    return s;
  }

  get size(): number {
    return this.m.size;
  }

  has(v: Value): boolean {
    return this.m.has(keyOf(v));
  }

  /** Builder only. Returns true when the element was new. */
  add(v: Value): boolean {
    const k = keyOf(v);
    if (this.m.has(k)) return false;
    this.m.set(k, v);
    this.sortedCache = undefined;
    this.canon = undefined;
    return true;
  }

  /** Elements in Rego order. */
  values(): readonly Value[] {
    if (!this.sortedCache) this.sortedCache = [...this.m.values()].sort(compare);
    return this.sortedCache;
  }

  unorderedValues(): IterableIterator<Value> {
    return this.m.values();
  }

  copy(): RSet {
    const s = new RSet();
    for (const [k, v] of this.m) s.m.set(k, v);
    return s;
  }

  canonical(): string {
    if (this.canon === undefined) {
      const parts: string[] = [];
      for (const v of this.m.values()) parts.push(ser(v));
      parts.sort();
      this.canon = '<' + parts.join(',') + '>';
    }
    return this.canon;
  }
}

export function isObject(v: Value | undefined): v is RObject {
  return v instanceof RObject;
}

export function isSet(v: Value | undefined): v is RSet {
  return v instanceof RSet;
}

export function isArray(v: Value | undefined): v is Value[] {
  return Array.isArray(v);
}

export function typeName(v: Value): TypeName {
  switch (typeof v) {
    case 'string':
      return 'string';
    case 'number':
    case 'bigint':
      return 'number';
    case 'boolean':
      return 'boolean';
    default:
      if (v === null) return 'null';
      if (Array.isArray(v)) return 'array';
      if (v instanceof BigNum) return 'number';
      return v instanceof RSet ? 'set' : 'object';
  }
}

// ---------------------------------------------------------------------------------------------------------
// Order and equality

const RANK: Record<TypeName, number> = { null: 0, boolean: 1, number: 2, string: 3, array: 4, object: 5, set: 6 };

/** Strings compare by UTF-8 bytes, i.e. by code point; fix up UTF-16 surrogates so astral chars sort last. */
export function compareStrings(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let ca = a.charCodeAt(i);
    let cb = b.charCodeAt(i);
    if (ca !== cb) {
      if (ca >= 0xd800 && cb >= 0xd800) {
        ca = ca >= 0xe000 ? ca - 0x800 : ca + 0x2000;
        cb = cb >= 0xe000 ? cb - 0x800 : cb + 0x2000;
      }
      return ca < cb ? -1 : 1;
    }
  }
  return a.length < b.length ? -1 : a.length > b.length ? 1 : 0;
}

/** OPA's total order: null < boolean < number < string < array < object < set (opa:v1/ast/compare.go). */
export function compare(a: Value, b: Value): number {
  if (a === b) return 0;
  const ta = typeName(a);
  const tb = typeName(b);
  if (ta !== tb) return RANK[ta] - RANK[tb];
  switch (ta) {
    case 'null':
      return 0;
    case 'boolean':
      return a === b ? 0 : a ? 1 : -1;
    case 'number':
      return numCompare(a as Num, b as Num);
    case 'string':
      return compareStrings(a as string, b as string);
    case 'array': {
      const x = a as Value[];
      const y = b as Value[];
      const n = Math.min(x.length, y.length);
      for (let i = 0; i < n; i++) {
        const c = compare(x[i]!, y[i]!);
        if (c !== 0) return c;
      }
      return x.length - y.length;
    }
    case 'object': {
      const x = (a as RObject).entries();
      const y = (b as RObject).entries();
      const n = Math.min(x.length, y.length);
      for (let i = 0; i < n; i++) {
        const ck = compare(x[i]![0], y[i]![0]);
        if (ck !== 0) return ck;
        const cv = compare(x[i]![1], y[i]![1]);
        if (cv !== 0) return cv;
      }
      return x.length - y.length;
    }
    case 'set': {
      const x = (a as RSet).values();
      const y = (b as RSet).values();
      const n = Math.min(x.length, y.length);
      for (let i = 0; i < n; i++) {
        const c = compare(x[i]!, y[i]!);
        if (c !== 0) return c;
      }
      return x.length - y.length;
    }
  }
}

export function equal(a: Value, b: Value): boolean {
  if (a === b) return true;
  const ta = typeof a;
  if (ta === 'string' || ta === 'boolean' || typeof b === 'string' || typeof b === 'boolean') return false;
  if (ta === 'number' || ta === 'bigint') return isNumber(b) && numCompare(a as number | bigint, b) === 0;
  if (a === null || b === null) return false;
  if (a instanceof BigNum || b instanceof BigNum) return isNumber(a) && isNumber(b) && numCompare(a, b) === 0;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!equal(a[i]!, b[i]!)) return false;
    return true;
  }
  if (a instanceof RObject) {
    if (!(b instanceof RObject) || a.size !== b.size) return false;
    for (const [k, v] of a.unorderedEntries()) {
      const w = b.get(k);
      if (w === undefined || !equal(v, w)) return false;
    }
    return true;
  }
  if (a instanceof RSet) {
    if (!(b instanceof RSet) || a.size !== b.size) return false;
    for (const v of a.unorderedValues()) if (!b.has(v)) return false;
    return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------------------
// JSON conversion

/**
 * Deepest nesting of arrays, objects and sets the JSON conversions below accept. Go's encoding/json, which
 * OPA decodes with, refuses documents nested deeper than 10000 (`exceeded max depth`); this engine's
 * evaluator already uses part of the stack when a builtin converts a value, so it stops earlier.
 */
export const MAX_VALUE_DEPTH = 1000;

function tooDeep(): CocoError {
  return new CocoError('REGO_VALUE_DEPTH', `exceeded max depth: value nests deeper than ${MAX_VALUE_DEPTH}`, { kind: 'limit' });
}

/** Converts parsed JSON (or YAML) to a Rego value; `bigint`s (from big-number-aware parsers) stay exact. */
export function fromJson(x: unknown, depth = 0): Value {
  return convert(x, depth, false);
}

/**
 * Converts a JS value handed to the engine (input, data) to a Rego value, by value: a `bigint` is the exact
 * integer, a JS number the number its shortest round-trip text denotes (`12345678901234567890` as a double is
 * 12345678901234567000, which is what Go's encoding/json writes for it), and a number no JSON text holds
 * (`Infinity`, `NaN`, as `1e400` becomes once a JS number) is refused. A number that must keep a text beyond
 * doubles comes as JSON text through `parseJsonValue`, or as a `bigint`.
 */
export function fromJs(x: unknown): Value {
  return convert(x, 0, true);
}

function convert(x: unknown, depth: number, finite: boolean): Value {
  if (x === null || x === undefined) return null;
  switch (typeof x) {
    case 'string':
    case 'boolean':
      return x;
    case 'number':
      if (finite && !Number.isFinite(x)) throw new CocoError('REGO_VALUE', `cannot convert the number ${String(x)} to a Rego value: JSON has no such number`, { kind: 'input' });
      return normNum(x);
    case 'bigint':
      return normNum(x);
    case 'object': {
      if (x instanceof RObject || x instanceof RSet || x instanceof BigNum) return x;
      if (depth >= MAX_VALUE_DEPTH) throw tooDeep();
      const d = depth + 1;
      if (Array.isArray(x)) {
        // Loops rather than map callbacks: one stack frame per nesting level.
        const out: Value[] = new Array<Value>(x.length);
        for (let i = 0; i < x.length; i++) out[i] = convert(x[i], d, finite);
        return out;
      }
      if (x instanceof Map) {
        const o = new RObject();
        for (const [k, v] of x) o.set(convert(k, d, finite), convert(v, d, finite));
        return o;
      }
      if (x instanceof Set) return RSet.from([...x].map((e) => convert(e, d, finite)));
      const o = new RObject();
      for (const k of Object.keys(x)) o.set(k, convert((x as Record<string, unknown>)[k], d, finite));
      return o;
    }
    default:
      throw new CocoError('REGO_VALUE', `cannot convert a ${typeof x} to a Rego value`, { kind: 'input' });
  }
}

/** The JSON text of an object key: strings as is, other keys as their JSON encoding (OPA's ast.JSON). */
function jsonKey(k: Value): string {
  return typeof k === 'string' ? k : toJsonText(k);
}

/**
 * Converts a value to plain JS data (sets → arrays in Rego order, non-string object keys → their JSON text).
 * Integers beyond the safe range stay `bigint`; use `toJsonText` to serialise.
 */
export function toJs(v: Value, depth = 0): unknown {
  if (v === null || typeof v !== 'object' || v instanceof BigNum) return v;
  if (depth >= MAX_VALUE_DEPTH) throw tooDeep();
  const d = depth + 1;
  if (Array.isArray(v) || v instanceof RSet) {
    const xs = Array.isArray(v) ? v : v.values();
    const out: unknown[] = new Array<unknown>(xs.length);
    for (let i = 0; i < xs.length; i++) out[i] = toJs(xs[i]!, d);
    return out;
  }
  const out: Record<string, unknown> = {};
  for (const [k, val] of v.entries()) out[jsonKey(k)] = toJs(val, d);
  return out;
}

/** Compact JSON text (keys in Rego order), exact for big integers. `indent` pretty-prints like JSON.stringify. */
export function toJsonText(v: Value, indent = 0): string {
  return writeJson(v, indent, '', 0);
}

function writeJson(v: Value, indent: number, pad: string, depth: number): string {
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'number':
      return Number.isFinite(v) ? numText(v) : 'null';
    case 'bigint':
      return numText(v);
    case 'boolean':
      return v ? 'true' : 'false';
    default: {
      if (v === null) return 'null';
      if (v instanceof BigNum) return v.text;
      if (depth >= MAX_VALUE_DEPTH) throw tooDeep();
      const inner = pad + ' '.repeat(indent);
      const nl = indent ? '\n' : '';
      const sep = indent ? ': ' : ':';
      let items: string[];
      let open: string;
      let close: string;
      if (Array.isArray(v) || v instanceof RSet) {
        const xs = Array.isArray(v) ? v : v.values();
        items = new Array<string>(xs.length);
        for (let i = 0; i < xs.length; i++) items[i] = writeJson(xs[i]!, indent, inner, depth + 1);
        open = '[';
        close = ']';
      } else {
        items = v.entries().map(([k, x]) => JSON.stringify(jsonKey(k)) + sep + writeJson(x, indent, inner, depth + 1));
        open = '{';
        close = '}';
      }
      if (items.length === 0) return open + close;
      return open + nl + items.map((s) => inner + s).join(',' + nl) + nl + (indent ? pad : '') + close;
    }
  }
}

/**
 * Parses JSON text into a Rego value with exact big integers. Texts without long digit runs or three-digit
 * exponents go through `JSON.parse`; others through a small exact parser (Node 20's reviver gets no source
 * text), so numbers beyond double range get `parseNumber`'s treatment on either path.
 */
export function parseJsonValue(text: string): Value {
  if (!numbersKeepText(text)) {
    try {
      return fromJson(JSON.parse(text));
    } catch (e) {
      throw new CocoError('REGO_JSON', `invalid JSON: ${(e as Error).message}`, { kind: 'input', cause: e });
    }
  }
  const p = new ExactJson(text);
  const v = p.value(0);
  p.ws();
  if (p.i !== text.length) p.fail('unexpected trailing text');
  return v;
}

/**
 * Whether some number in a JSON text is not the JS text of its value (`1.0`, `1e3`, `-0`, sixteen digits or
 * more): JSON.parse would lose what OPA keeps, so the exact parser reads the text. Strings are skipped whole.
 */
function numbersKeepText(text: string): boolean {
  for (const m of text.matchAll(/"(?:[^"\\]|\\.)*"|-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/g)) {
    const t = m[0];
    if (t.charCodeAt(0) === 34) continue;
    if (t.length >= 16 || String(Number(t)) !== t) return true;
  }
  return false;
}

class ExactJson {
  i = 0;
  constructor(private readonly s: string) {}

  fail(msg: string): never {
    throw new CocoError('REGO_JSON', `invalid JSON at offset ${this.i}: ${msg}`, { kind: 'input' });
  }

  ws(): void {
    while (this.i < this.s.length && ' \t\r\n'.includes(this.s[this.i]!)) this.i++;
  }

  value(depth: number): Value {
    if (depth >= MAX_VALUE_DEPTH) throw tooDeep();
    this.ws();
    const c = this.s[this.i];
    if (c === '{') {
      this.i++;
      const o = new RObject();
      this.ws();
      if (this.s[this.i] === '}') {
        this.i++;
        return o;
      }
      for (;;) {
        this.ws();
        if (this.s[this.i] !== '"') this.fail('expected a string key');
        const k = this.str();
        this.ws();
        if (this.s[this.i++] !== ':') this.fail('expected ":"');
        o.set(k, this.value(depth + 1));
        this.ws();
        const d = this.s[this.i++];
        if (d === '}') return o;
        if (d !== ',') this.fail('expected "," or "}"');
      }
    }
    if (c === '[') {
      this.i++;
      const a: Value[] = [];
      this.ws();
      if (this.s[this.i] === ']') {
        this.i++;
        return a;
      }
      for (;;) {
        a.push(this.value(depth + 1));
        this.ws();
        const d = this.s[this.i++];
        if (d === ']') return a;
        if (d !== ',') this.fail('expected "," or "]"');
      }
    }
    if (c === '"') return this.str();
    for (const [w, v] of [['true', true], ['false', false], ['null', null]] as const) {
      if (this.s.startsWith(w, this.i)) {
        this.i += w.length;
        return v;
      }
    }
    const m = /-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;
    m.lastIndex = this.i;
    const r = m.exec(this.s);
    if (!r || r[0].length === 0) this.fail('unexpected character');
    this.i += r[0].length;
    // OPA decodes JSON numbers as json.Number: the text stays (`1.0` prints as `1.0`, is no integer index).
    const n = parseLiteral(r[0]);
    if (n === undefined) this.fail('bad number');
    return n;
  }

  str(): string {
    const m = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
    m.lastIndex = this.i;
    const r = m.exec(this.s);
    if (!r) this.fail('bad string');
    this.i += r[0].length;
    return JSON.parse(r[0]) as string;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Rego literal syntax (print, sprintf %v, error messages)

/** A value in Rego literal syntax: `{"a": 1, "b": [true, null]}`, sets `{1, 2}`, the empty set `set()`. */
export function toRegoString(v: Value, depth = 0): string {
  const d = depth + 1;
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'number':
    case 'bigint':
      return numText(v);
    case 'boolean':
      return v ? 'true' : 'false';
    default:
      if (v === null) return 'null';
      if (v instanceof BigNum) return v.text;
      if (depth >= MAX_VALUE_DEPTH) throw tooDeep();
      if (Array.isArray(v)) return '[' + v.map((x) => toRegoString(x, d)).join(', ') + ']';
      if (v instanceof RSet) return v.size === 0 ? 'set()' : '{' + v.values().map((x) => toRegoString(x, d)).join(', ') + '}';
      return '{' + v.entries().map(([k, x]) => toRegoString(k, d) + ': ' + toRegoString(x, d)).join(', ') + '}';
  }
}

// ---------------------------------------------------------------------------------------------------------
// Small constructors

export function obj(entries: Record<string, Value>): RObject {
  const o = new RObject();
  for (const k of Object.keys(entries)) o.set(k, entries[k]!);
  return o;
}

export function set(values: Iterable<Value>): RSet {
  return RSet.from(values);
}

export const EMPTY_OBJECT: RObject = new RObject();
export const EMPTY_SET: RSet = new RSet();

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { floatOp, parseDecimal, shortestDigits } from './bigfloat.js';
import { decimalOf, numDiv, numText } from './value.js';

// The shortest-digit search of the float path (scaled integers and a bisection) against an oracle that follows
// Go's math/big roundShortest step by step on digit strings: the exact digits of the value, of the value minus
// half an ulp and plus half an ulp, walked from the first digit until the value's prefix can be truncated or
// rounded up without leaving the interval — including Go's digit-wise test for rounding up, which refuses once
// the walk has passed the last digit of an upper end that is itself a short decimal.

function bitLen(n: bigint): number {
  return n === 0n ? 0 : n.toString(2).length;
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

/** Go's math/big roundShortest as written there: a walk over the digit strings of the value and its interval ends. */
function oracle(m0: bigint, x0: number, p: number): Digits {
  const f = { m: m0, x: x0, p };
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

const mantissa = (p: number) => fc.bigInt({ min: 1n << BigInt(p - 1), max: (1n << BigInt(p)) - 1n });

test('shortest digits equal the oracle for random 64- and 53-bit floats', () => {
  fc.assert(
    fc.property(mantissa(64), fc.integer({ min: -400, max: 300 }).chain((x) => fc.constantFrom(x, Math.abs(x) % 16)), (m, x) => {
      assert.deepEqual(shortestDigits(m, x, 64), oracle(m, x, 64));
    }),
    { numRuns: 400 },
  );
  fc.assert(
    fc.property(mantissa(53), fc.integer({ min: -200, max: 200 }), (m, x) => {
      assert.deepEqual(shortestDigits(m, x, 53), oracle(m, x, 53));
    }),
    { numRuns: 200 },
  );
});

test('shortest digits at powers of two, round values and interval ends', () => {
  const cases: [bigint, number][] = [
    [1n << 63n, -63], // 1
    [1n << 63n, -64], // 0.5
    [(1n << 64n) - 1n, -64],
    [(1n << 64n) - 1n, 0],
    [1n << 63n, 0],
    [0xaaaaaaaaaaaaaaabn, -65], // 1/3
    [0xcccccccccccccccdn, -67], // 0.1
    [10n << 60n, -60],
    [15880870596398635387n, 6], // upper end 1016375718169512664800 exactly: Go keeps …476, not the nearer …477
  ];
  for (const [m, x] of cases) assert.deepEqual(shortestDigits(m, x, 64), oracle(m, x, 64), `${m} × 2^${x}`);
  assert.deepEqual(shortestDigits(5562444868734887n, 6, 53), oracle(5562444868734887n, 6, 53));
});

test('quotients on the float path keep their known texts', () => {
  const div = (a: string, b: string) => floatOp(parseDecimal(a)!, parseDecimal(b)!, '/');
  assert.equal(div('1', '3'), '0.33333333333333333334');
  assert.equal(div('2', '3'), '0.6666666666666666667');
  assert.equal(div('1234567.5', '0.7'), '1.7636678571428571429e+06');
  assert.equal(div('1', '1024'), '0.0009765625');
  assert.equal(div('10', '4'), '2.5');
});

test('division of doubles: the fast path answers what the 64-bit float path answers', () => {
  const dyadic = fc
    .tuple(fc.integer({ min: -(2 ** 40), max: 2 ** 40 }), fc.integer({ min: 0, max: 24 }))
    .map(([n, k]) => n / 2 ** k);
  const decimal = fc.tuple(fc.integer({ min: -99999, max: 99999 }), fc.integer({ min: 0, max: 6 })).map(([n, k]) => n / 10 ** k);
  const operand = fc.oneof(dyadic, decimal, fc.constantFrom(1, 2, 3, 0.5, 0.25, 0.1, 1234567.5, 1e-7));
  fc.assert(
    fc.property(operand, operand, (a, b) => {
      if (b === 0 || a === 0) return;
      assert.equal(numText(numDiv(a, b)), floatOp(decimalOf(a), decimalOf(b), '/'), `${a} / ${b}`);
    }),
    { numRuns: 2000 },
  );
});

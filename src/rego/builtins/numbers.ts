/**
 * Number built-ins (opa:v1/topdown/numbers.go, arithmetic.go): `abs`, `ceil`, `floor`, `round`,
 * `numbers.range`, `numbers.range_step`, `rand.intn`. Integers stay exact at any size (../value.ts).
 */
import { floatInt } from '../bigfloat.js';
import { type Value, BigNum, decimalOf, floatResult, isNumber, normNum, toBigInt, viaFloatText } from '../value.js';
import { type BuiltinDef, argInteger, argNum, argString, builtinError, typeError } from './registry.js';

/** Results longer than this would exhaust memory long before OPA's own limits matter. */
const MAX_RANGE = 10_000_000n;

/**
 * Doubles and safe integers round on doubles; integers beyond the safe range and BigNums take OPA's float
 * path (the operand read at 64 bits, ../bigfloat.ts), so a bigint wider than 64 bits comes back rounded to
 * 64 significant bits, as OPA gives it.
 */
function rounding(name: 'round' | 'ceil' | 'floor', f: (x: number) => number): BuiltinDef {
  return {
    name,
    arity: 1,
    fn: (a) => {
      const x = argNum(name, a, 0);
      if (typeof x === 'number') return Number.isInteger(x) ? x : normNum(f(x));
      return normNum(floatInt(decimalOf(x), name));
    },
  };
}

/**
 * OPA's BigIntOperand (numbers.range, numbers.range_step): an operand that is no number is reported as
 * `must be integer but got <type>`, a non-integral one as IntOperand reports it.
 */
function bigIntOperand(name: string, args: Value[], i: number): bigint {
  const v = args[i]!;
  if (!isNumber(v)) throw typeError(name, i + 1, 'integer', v);
  return toBigInt(argInteger(name, args, i));
}

function range(name: string, from: bigint, to: bigint, step: bigint): Value[] {
  const n = (to >= from ? to - from : from - to) / step + 1n;
  if (n > MAX_RANGE) throw builtinError(name, `range of ${n} numbers is too large`);
  const out: Value[] = [];
  if (to >= from) for (let i = from; i <= to; i += step) out.push(normNum(i));
  else for (let i = from; i >= to; i -= step) out.push(normNum(i));
  return out;
}

export const builtins: BuiltinDef[] = [
  {
    name: 'abs',
    arity: 1,
    fn: (a) => {
      const x = argNum('abs', a, 0);
      if (typeof x === 'number') return floatResult(Math.abs(x));
      // OPA's float path: the magnitude read at 64 bits and written back.
      const d = decimalOf(x);
      return viaFloatText(x instanceof BigNum ? new BigNum({ m: d.m < 0n ? -d.m : d.m, e: d.e }, x.text.replace(/^-/, '')) : x < 0n ? -x : x);
    },
  },
  rounding('ceil', Math.ceil),
  rounding('floor', Math.floor),
  // Go's math.Round rounds half away from zero; JS Math.round rounds half up.
  rounding('round', (x) => Math.sign(x) * Math.round(Math.abs(x))),
  {
    name: 'numbers.range',
    arity: 2,
    fn: (a) => range('numbers.range', bigIntOperand('numbers.range', a, 0), bigIntOperand('numbers.range', a, 1), 1n),
  },
  {
    name: 'numbers.range_step',
    arity: 3,
    fn: (a) => {
      const name = 'numbers.range_step';
      const from = bigIntOperand(name, a, 0);
      const to = bigIntOperand(name, a, 1);
      const step = bigIntOperand(name, a, 2);
      if (step <= 0n) throw builtinError(name, 'step must be a positive integer');
      return range(name, from, to, step);
    },
  },
  {
    name: 'rand.intn',
    arity: 2,
    nondeterministic: true,
    fn: (a, ctx) => {
      argString('rand.intn', a, 0);
      let n = toBigInt(argInteger('rand.intn', a, 1));
      if (n === 0n) return 0;
      if (n < 0n) n = -n;
      if (n <= 2n ** 53n) return Math.floor(ctx.random() * Number(n));
      // Compose 48-bit chunks for a uniform-enough draw beyond double precision.
      let r = 0n;
      for (let bits = 0n; bits < BigInt(n.toString(2).length) + 64n; bits += 48n) {
        r = (r << 48n) | BigInt(Math.floor(ctx.random() * 2 ** 48));
      }
      return normNum(r % n);
    },
  },
];

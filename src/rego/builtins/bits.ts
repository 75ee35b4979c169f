/**
 * `bits.*` (opa:v1/topdown/bits.go) on arbitrary-precision integers; Go's big.Int gives two's-complement
 * semantics for negative operands, which JS bigint operators share.
 */
import { type Value, normNum, toBigInt } from '../value.js';
import { type BuiltinDef, BuiltinError, argInteger, builtinError } from './registry.js';

function bin(name: string, f: (x: bigint, y: bigint) => bigint): BuiltinDef {
  return {
    name,
    arity: 2,
    fn: (a) => normNum(f(toBigInt(argInteger(name, a, 0)), toBigInt(argInteger(name, a, 1)))),
  };
}

function shift(name: string, f: (x: bigint, y: bigint) => bigint): BuiltinDef {
  return {
    name,
    arity: 2,
    fn: (a: Value[]) => {
      const x = toBigInt(argInteger(name, a, 0));
      const y = toBigInt(argInteger(name, a, 1));
      if (y < 0n) throw new BuiltinError('eval_type_error', `${name}: operand 2 must be an unsigned integer number but got a negative integer`);
      // Go would try to allocate the result; refuse shifts whose result could not be held in memory.
      if (y > 1_000_000n) throw builtinError(name, `shift count ${y} too large`);
      return normNum(f(x, y));
    },
  };
}

export const builtins: BuiltinDef[] = [
  bin('bits.or', (x, y) => x | y),
  bin('bits.and', (x, y) => x & y),
  bin('bits.xor', (x, y) => x ^ y),
  { name: 'bits.negate', arity: 1, fn: (a) => normNum(~toBigInt(argInteger('bits.negate', a, 0))) },
  shift('bits.lsh', (x, y) => x << y),
  shift('bits.rsh', (x, y) => x >> y),
];

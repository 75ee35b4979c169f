/**
 * Aggregates over arrays and sets (opa:v1/topdown/aggregates.go): `sum`, `product`, `max`, `min`, `sort`.
 * `count` lives with the operators because the core language needs it. Sums and products are exact for
 * integers of any size (specs/rego.md §1.5 "Numbers": the suite checks >64-bit results).
 */
import { type Num, type Value, compare, floatProduct, floatSum, isInteger, isNumber, numAdd, numMul, typeName } from '../value.js';
import { type BuiltinDef, BuiltinError, argArrayOrSet } from './registry.js';

/** OPA's NewOperandElementErr: `operand 1 must be array of numbers but got array containing string`. */
export function elementError(name: string, pos: number, container: Value, elem: Value, expected: string): BuiltinError {
  const t = typeName(container);
  return new BuiltinError('eval_type_error', `${name}: operand ${pos} must be ${t} of ${expected}s but got ${t} containing ${typeName(elem)}`);
}

function numbers(name: string, args: Value[]): Num[] {
  const xs = argArrayOrSet(name, args, 0);
  return xs.map((x) => {
    if (!isNumber(x)) throw elementError(name, 1, args[0]!, x, 'number');
    return x;
  });
}

/**
 * `sum` / `product` as OPA computes them: exactly when every element is an integer, otherwise on its float
 * path — a running sum at 64 bits, a running product at 53 (../value.ts floatSum, floatProduct).
 */
function fold(xs: Num[], op: '+' | '*'): Num {
  if (xs.every((x) => isInteger(x))) return xs.reduce<Num>((acc, x) => (op === '+' ? numAdd(acc, x) : numMul(acc, x)), op === '+' ? 0 : 1);
  return op === '+' ? floatSum(xs) : floatProduct(xs);
}

function extreme(name: string, sign: number): BuiltinDef {
  return {
    name,
    arity: 1,
    fn: (a) => {
      const xs = argArrayOrSet(name, a, 0);
      if (xs.length === 0) return undefined;
      let best: Value = xs[0] as Value;
      for (const x of xs) if (compare(x, best) * sign > 0) best = x;
      return best;
    },
  };
}

export const builtins: BuiltinDef[] = [
  { name: 'sum', arity: 1, fn: (a) => fold(numbers('sum', a), '+') },
  { name: 'product', arity: 1, fn: (a) => fold(numbers('product', a), '*') },
  extreme('max', 1),
  extreme('min', -1),
  { name: 'sort', arity: 1, fn: (a) => [...argArrayOrSet('sort', a, 0)].sort(compare) },
];

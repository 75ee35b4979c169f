/** `array.*` built-ins (opa:v1/topdown/array.go). */
import { type Value } from '../value.js';
import { type BuiltinDef, argArray, argInteger } from './registry.js';

function clampIndex(n: number | bigint, len: number): number {
  if (typeof n === 'bigint') return n < 0n ? -1 : len + 1;
  return n;
}

export const builtins: BuiltinDef[] = [
  {
    name: 'array.concat',
    arity: 2,
    fn: (a) => [...argArray('array.concat', a, 0), ...argArray('array.concat', a, 1)],
  },
  {
    name: 'array.slice',
    arity: 3,
    fn: (a) => {
      const arr = argArray('array.slice', a, 0);
      let start = clampIndex(argInteger('array.slice', a, 1), arr.length);
      let stop = clampIndex(argInteger('array.slice', a, 2), arr.length);
      // OPA clamps both ends and yields [] for an empty or inverted range.
      if (start < 0) start = 0;
      if (stop > arr.length) stop = arr.length;
      if (start >= stop) return [];
      return arr.slice(start, stop);
    },
  },
  {
    name: 'array.flatten',
    arity: 1,
    fn: (a) => {
      const out: Value[] = [];
      for (const x of argArray('array.flatten', a, 0)) {
        if (Array.isArray(x)) out.push(...x);
        else out.push(x);
      }
      return out;
    },
  },
  { name: 'array.reverse', arity: 1, fn: (a) => [...argArray('array.reverse', a, 0)].reverse() },
];

/** Set built-ins over a set of sets (opa:v1/topdown/sets.go): `intersection`, `union`. */
import { type Value, RSet, isSet } from '../value.js';
import { type BuiltinDef, argSet, typeError } from './registry.js';

function sets(name: string, args: Value[]): RSet[] {
  const outer = argSet(name, args, 0);
  return outer.values().map((x) => {
    // Each member is read as SetOperand(x, 1): the error names the member's type as if it were the operand.
    if (!isSet(x)) throw typeError(name, 1, 'set', x);
    return x;
  });
}

export const builtins: BuiltinDef[] = [
  {
    name: 'union',
    arity: 1,
    fn: (a) => {
      const out = new RSet();
      for (const s of sets('union', a)) for (const v of s.unorderedValues()) out.add(v);
      return out;
    },
  },
  {
    name: 'intersection',
    arity: 1,
    fn: (a) => {
      const ss = sets('intersection', a);
      if (ss.length === 0) return new RSet();
      const out = new RSet();
      for (const v of ss[0]!.unorderedValues()) if (ss.every((s) => s.has(v))) out.add(v);
      return out;
    },
  },
];

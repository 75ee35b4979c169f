/**
 * The built-ins behind Rego's infix operators (capabilities.json `infix`: `== != < <= > >= + - * / % & | in`)
 * and `count`, which the core needs. Semantics and messages follow opa:v1/topdown/{arithmetic,compare,
 * sets,aggregates}.go. `=`/`:=` (unification) and `print` are evaluated by the engine itself.
 */
import {
  type Num,
  type Value,
  RSet,
  compare,
  equal,
  isInteger,
  isNumber,
  isObject,
  isSet,
  isZero,
  numAdd,
  numDiv,
  numMul,
  numRem,
  numSub,
} from '../value.js';
import { type BuiltinDef, argNum, argSet, builtinError, typeError, typeErrorOneOf } from './registry.js';

function cmp(name: string, test: (c: number) => boolean): BuiltinDef {
  return { name, arity: 2, fn: (a) => test(compare(a[0]!, a[1]!)) };
}

/** Operand checks of opa:v1/topdown/arithmetic.go builtinMinus, messages included. */
function setOrNumber(name: string, args: Value[]): 'number' | 'set' {
  const [a, b] = args as [Value, Value];
  if (isNumber(a) && isNumber(b)) return 'number';
  if (isSet(a) && isSet(b)) return 'set';
  if (!isNumber(a) && !isSet(a)) throw typeErrorOneOf(name, 1, ['number', 'set'], a);
  if (isNumber(b)) throw typeError(name, 2, 'set', b);
  throw typeError(name, 2, 'number', b);
}

/** `x in coll`: arrays and objects test values, sets test members; anything else is false. */
export function member(x: Value, coll: Value): boolean {
  if (Array.isArray(coll)) {
    for (const v of coll) if (equal(v, x)) return true;
    return false;
  }
  if (isSet(coll)) return coll.has(x);
  if (isObject(coll)) {
    for (const [, v] of coll.unorderedEntries()) if (equal(v, x)) return true;
    return false;
  }
  return false;
}

/** `k, v in coll`: index/key `k` holds value `v`. */
export function member3(k: Value, x: Value, coll: Value): boolean {
  if (Array.isArray(coll)) {
    if (typeof k !== 'number' || !Number.isInteger(k) || k < 0 || k >= coll.length) return false;
    return equal(coll[k]!, x);
  }
  if (isSet(coll)) return coll.has(x) && equal(k, x);
  if (isObject(coll)) {
    const v = coll.get(k);
    return v !== undefined && equal(v, x);
  }
  return false;
}

export const builtins: BuiltinDef[] = [
  cmp('equal', (c) => c === 0),
  cmp('neq', (c) => c !== 0),
  cmp('lt', (c) => c < 0),
  cmp('lte', (c) => c <= 0),
  cmp('gt', (c) => c > 0),
  cmp('gte', (c) => c >= 0),
  {
    name: 'plus',
    arity: 2,
    fn: (a) => numAdd(argNum('plus', a, 0), argNum('plus', a, 1)),
  },
  {
    name: 'minus',
    arity: 2,
    fn: (a) => {
      if (setOrNumber('minus', a) === 'number') return numSub(a[0] as Num, a[1] as Num);
      const x = a[0] as RSet;
      const y = a[1] as RSet;
      const out = new RSet();
      for (const v of x.unorderedValues()) if (!y.has(v)) out.add(v);
      return out;
    },
  },
  {
    name: 'mul',
    arity: 2,
    fn: (a) => numMul(argNum('mul', a, 0), argNum('mul', a, 1)),
  },
  {
    name: 'div',
    arity: 2,
    fn: (a) => {
      const x = argNum('div', a, 0);
      const y = argNum('div', a, 1);
      if (isZero(y)) throw builtinError('div', 'divide by zero');
      return numDiv(x, y);
    },
  },
  {
    name: 'rem',
    arity: 2,
    fn: (a) => {
      const x = argNum('rem', a, 0);
      const y = argNum('rem', a, 1);
      if (!isInteger(x) || !isInteger(y)) throw builtinError('rem', 'modulo on floating-point number');
      if (isZero(y)) throw builtinError('rem', 'modulo by zero');
      return numRem(x, y);
    },
  },
  {
    name: 'and',
    arity: 2,
    fn: (a) => {
      const x = argSet('and', a, 0);
      const y = argSet('and', a, 1);
      const [small, big] = x.size <= y.size ? [x, y] : [y, x];
      const out = new RSet();
      for (const v of small.unorderedValues()) if (big.has(v)) out.add(v);
      return out;
    },
  },
  {
    name: 'or',
    arity: 2,
    fn: (a) => {
      const x = argSet('or', a, 0);
      const y = argSet('or', a, 1);
      const out = x.copy();
      for (const v of y.unorderedValues()) out.add(v);
      return out;
    },
  },
  {
    name: 'count',
    arity: 1,
    fn: (a) => {
      const v = a[0]!;
      if (typeof v === 'string') return [...v].length;
      if (Array.isArray(v)) return v.length;
      if (isSet(v) || isObject(v)) return v.size;
      throw typeErrorOneOf('count', 1, ['array', 'object', 'set', 'string'], v);
    },
  },
  { name: 'internal.member_2', arity: 2, fn: (a) => member(a[0]!, a[1]!) },
  { name: 'internal.member_3', arity: 3, fn: (a) => member3(a[0]!, a[1]!, a[2]!) },
];

/**
 * Calling built-ins directly, outside the evaluator: used by the namespace tests and by tools that want a
 * single builtin's result. Arguments and expectations are written as JSON (`j('{"a": 1}')`) or Rego values.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { type Value, RObject, RSet, equal, parseJsonValue, toRegoString } from '../value.js';
import { BUILTINS } from './index.js';
import { type BuiltinContext, BuiltinError } from './registry.js';

export function testContext(over: Partial<BuiltinContext> = {}): BuiltinContext {
  let seed = 42;
  return {
    strict: true,
    now: () => 1_700_000_000_000_000_000n,
    random: () => {
      // Deterministic LCG: tests must not depend on ambient randomness.
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    },
    cache: new Map(),
    env: {},
    ...over,
  };
}

/** Calls a builtin by name; returns its result (undefined = undefined call) or throws BuiltinError. */
export function call(name: string, args: Value[], ctx: BuiltinContext = testContext()): Value | undefined {
  const def = BUILTINS.get(name);
  if (!def) throw new Error(`no builtin ${name}`);
  if (def.arity >= 0 && def.arity !== args.length) throw new Error(`${name} takes ${def.arity} arguments`);
  return def.fn(args, ctx);
}

/** JSON text → Rego value. */
export function j(text: string): Value {
  return parseJsonValue(text);
}

export function s(...xs: Value[]): RSet {
  return RSet.from(xs);
}

/** Asserts a builtin result equals the expected value (JSON text or a value). */
export function expectCall(name: string, args: Value[], want: Value | undefined, ctx?: BuiltinContext): void {
  const got = call(name, args, ctx);
  if (want === undefined || got === undefined) {
    assert.equal(got, want, `${name}(${args.map(toRegoString).join(', ')})`);
    return;
  }
  assert.ok(equal(got, want), `${name}(${args.map(toRegoString).join(', ')}) = ${toRegoString(got)}, want ${toRegoString(want)}`);
}

/** Asserts a builtin fails with a BuiltinError whose message contains `text` (and has `code` when given). */
export function expectError(name: string, args: Value[], text: string, code?: BuiltinError['code'], ctx?: BuiltinContext): void {
  assert.throws(
    () => call(name, args, ctx),
    (e: unknown) => {
      assert.ok(e instanceof BuiltinError, `expected a BuiltinError, got ${String(e)}`);
      assert.ok(e.message.includes(text), `message ${JSON.stringify(e.message)} lacks ${JSON.stringify(text)}`);
      if (code) assert.equal(e.code, code);
      return true;
    },
  );
}

/** For property tests: a call may succeed or fail, but only with a BuiltinError. */
export function callNoCrash(name: string, args: Value[], ctx?: BuiltinContext): void {
  try {
    call(name, args, ctx);
  } catch (e) {
    if (!(e instanceof BuiltinError)) throw e;
  }
}

/** fast-check arbitrary over Rego values (all seven types, nested), for "never crashes" properties. */
export function arbValue(): fc.Arbitrary<Value> {
  return fc.letrec<{ v: Value }>((tie) => ({
    v: fc.oneof(
      { depthSize: 'small' },
      fc.constant(null),
      fc.boolean(),
      fc.integer({ min: -1000, max: 1000 }),
      fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => (Object.is(d, -0) ? 0 : d)),
      fc.bigInt({ min: -(2n ** 80n), max: 2n ** 80n }).map((b) => (b >= -9007199254740991n && b <= 9007199254740991n ? Number(b) : b)),
      fc.string(),
      fc.array(tie('v'), { maxLength: 4 }),
      fc.array(fc.tuple(fc.string({ maxLength: 4 }), tie('v')), { maxLength: 4 }).map((es) => {
        const o = new RObject();
        for (const [k, v] of es) o.set(k, v);
        return o as Value;
      }),
      fc.array(tie('v'), { maxLength: 4 }).map((xs) => RSet.from(xs) as Value),
    ),
  })).v;
}

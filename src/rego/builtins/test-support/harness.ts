/**
 * Calling built-ins directly, outside the evaluator, for the namespace tests (test-support is excluded from
 * the build). Arguments and expectations are written as JSON (`j('{"a": 1}')`) or Rego values.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import fc from 'fast-check';
import { parse as parseYaml } from 'yaml';
import { vectorPath } from '../../../test-support/vectors.js';
import { type Value, RObject, RSet, equal, fromJson, parseJsonValue, toJsonText, toRegoString } from '../../value.js';
import { BUILTINS } from '../index.js';
import { type BuiltinContext, BuiltinError } from '../registry.js';

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
    assert.equal(got, want, `${name}(${args.map((a) => toRegoString(a)).join(', ')})`);
    return;
  }
  assert.ok(equal(got, want), `${name}(${args.map((a) => toRegoString(a)).join(', ')}) = ${toRegoString(got)}, want ${toRegoString(want)}`);
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

/** One conformance case reduced to a single builtin call with literal arguments. */
export interface ConformanceCall {
  note: string;
  name: string;
  args: Value[];
  /** `value`: the result must equal `want`; `test`: the call is used as a condition (`p if { f(…) }`). */
  mode: 'value' | 'test';
  want?: Value;
  /** true when want_result is `[]` (undefined or false). */
  undefinedOk?: boolean;
  error?: string;
}

/**
 * Reads opa-conformance/<category>/*.yaml and keeps the cases whose single module is one call of a builtin
 * with JSON-literal arguments, in one of the suite's shapes: `p := f(args)`, `p := x if { f(args, x) }`,
 * `p contains x if { f(args, x) }`, `p := x if { x := f(args) }` or `p if { f(args) }`. Cases using data,
 * input, sets or other Rego-only syntax are skipped (the full runner covers them).
 */
export function conformanceCalls(category: string): ConformanceCall[] {
  const dir = vectorPath('rego', 'opa-conformance', category);
  const out: ConformanceCall[] = [];
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.yaml')).sort()) {
    const doc = parseYaml(readFileSync(`${dir}/${f}`, 'utf8'), { intAsBigInt: true }) as { cases: Array<Record<string, unknown>> };
    for (const c of doc.cases) {
      const mods = (c.modules as string[] | undefined) ?? [];
      const emptyData = c.data === undefined || (typeof c.data === 'object' && c.data !== null && Object.keys(c.data).length === 0);
      if (mods.length !== 1 || !emptyData || c.input !== undefined || c.input_term !== undefined) continue;
      const body = mods[0]!
        .split('\n')
        .filter((l) => l.trim() !== '' && !l.startsWith('package') && !l.startsWith('import'))
        .map((l) => l.trim())
        .join(' ');
      const shapes: Array<[RegExp, 'value' | 'test', boolean]> = [
        [/^p := ([a-z_.0-9]+)\((.*)\)$/, 'value', false],
        [/^p := x if \{ ([a-z_.0-9]+)\((.*), x\) \}$/, 'value', false],
        [/^p contains x if \{ ([a-z_.0-9]+)\((.*), x\) \}$/, 'value', true],
        [/^p := x if \{ x := ([a-z_.0-9]+)\((.*)\) \}$/, 'value', false],
        [/^p if \{ ([a-z_.0-9]+)\((.*)\) \}$/, 'test', false],
      ];
      for (const [re, mode, contains] of shapes) {
        const m = re.exec(body);
        if (!m) continue;
        let args: Value[];
        try {
          args = parseJsonValue(`[${m[2]!}]`) as Value[];
        } catch {
          break;
        }
        const wr = c.want_result as Array<Record<string, unknown>> | undefined;
        const call: ConformanceCall = { note: String(c.note), name: m[1]!, args, mode };
        if (c.want_error !== undefined || c.want_error_code !== undefined) call.error = String(c.want_error ?? '');
        else if (wr && wr.length === 0) call.undefinedOk = true;
        else if (wr && wr.length === 1) {
          let w = fromJson(wr[0]!.x);
          if (contains) {
            if (!Array.isArray(w) || w.length !== 1) break;
            w = w[0]!;
          }
          call.want = w;
        } else break;
        out.push(call);
        break;
      }
    }
  }
  return out;
}

/** OPA's runner compares JSON forms: sets become sorted arrays, non-string keys their JSON text. */
function asJson(v: Value): Value {
  return parseJsonValue(toJsonText(v));
}

/** Runs the calls of `conformanceCalls`; returns how many ran. */
export function runConformanceCalls(calls: ConformanceCall[], ctx?: BuiltinContext): number {
  for (const c0 of calls) {
    const c = { ...c0 };
    const def = BUILTINS.get(c.name);
    const label = `${c.note}: ${c.name}(${c.args.map((a) => toRegoString(a)).join(', ')})`.slice(0, 300);
    if (!def) throw new Error(`${label}: no such builtin`);
    if (c.mode === 'test' && def.arity >= 0 && c.args.length === def.arity + 1) {
      // `p if { f(args, out) }`: the last argument is the expected output.
      c.want = c.args[c.args.length - 1]!;
      c.args = c.args.slice(0, -1);
      c.mode = c.undefinedOk ? 'test' : 'value';
      if (c.undefinedOk) {
        const got = tryCall(c, ctx);
        assert.ok(got === undefined || !equal(asJson(got), asJson(c.want)), `${label}: expected no match`);
        continue;
      }
    }
    if (c.error !== undefined) {
      assert.throws(() => call(c.name, c.args, ctx), (e: unknown) => e instanceof BuiltinError && `${e.code}: ${e.message}`.includes(c.error!), label);
      continue;
    }
    let got: Value | undefined;
    try {
      got = call(c.name, c.args, ctx);
    } catch (e) {
      if (c.undefinedOk && e instanceof BuiltinError) continue;
      throw new Error(`${label}: ${String(e)}`);
    }
    if (c.undefinedOk) {
      assert.ok(got === undefined || got === false, `${label}: expected undefined, got ${toRegoString(got!)}`);
    } else if (c.mode === 'test') {
      assert.ok(got !== undefined && got !== false, `${label}: expected a true condition`);
    } else {
      assert.ok(got !== undefined && equal(asJson(got), asJson(c.want!)), `${label} = ${got === undefined ? 'undefined' : toRegoString(got).slice(0, 300)}, want ${toRegoString(c.want!).slice(0, 300)}`);
    }
  }
  return calls.length;
}

function tryCall(c: ConformanceCall, ctx?: BuiltinContext): Value | undefined {
  try {
    return call(c.name, c.args, ctx);
  } catch (e) {
    if (e instanceof BuiltinError) return undefined;
    throw e;
  }
}

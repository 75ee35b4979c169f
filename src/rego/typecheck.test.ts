import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { CocoError } from '../errors.js';
import { vectorPath } from '../test-support/vectors.js';
import { Engine } from './index.js';
import { BUILTINS } from './builtins/index.js';
import { parseType, showType, signature, signatures } from './typecheck.js';

// OPA refuses a module whose built-in calls or unifications can never type-check (docs/policy-language.md
// "Type Checking", opa:v1/ast/check.go), before any evaluation, with rego_type_error.

const META = JSON.parse(readFileSync(vectorPath('rego', 'opa-meta', 'builtin_metadata.json'), 'utf8')) as Record<
  string,
  { args?: Array<{ name?: string; type: string }>; result?: { name?: string; type?: string } }
>;
const CAPS = JSON.parse(readFileSync(vectorPath('rego', 'opa-meta', 'capabilities.json'), 'utf8')) as {
  builtins: Array<{ name: string; decl: { result?: unknown } }>;
};

function compileError(body: string, v0 = false): string | undefined {
  const e = new Engine();
  e.addPolicy('t.rego', `package t\n${body}\n`, { regoVersion: v0 ? 'v0' : 'v1' });
  try {
    e.prepare();
    return undefined;
  } catch (err) {
    assert.ok(err instanceof CocoError, String(err));
    return err.message;
  }
}

const COUNT_WANT = 'want: (collection: any<string, array[any], object[any: any], set[any]>, n: number)';

test('every builtin of the registry has a signature, the one OPA declares', () => {
  const missing = [...BUILTINS.keys()].filter((n) => signature(n) === undefined);
  assert.deepEqual(missing, [], 'builtins without a compile-time signature');
  const sigs = signatures();
  let compared = 0;
  for (const [name, [args, result]] of sigs) {
    const m = META[name];
    if (!m) continue; // not an OPA builtin
    compared++;
    const named = (a: { name?: string; type?: string }): string => (a.name ? `${a.name}: ${a.type}` : String(a.type));
    assert.deepEqual(args, (m.args ?? []).map(named), name);
    const hasResult = CAPS.builtins.find((b) => b.name === name)?.decl.result !== undefined;
    assert.equal(result !== undefined, hasResult, `${name}: result declared`);
    if (m.result?.name) assert.equal(result, named(m.result), name);
    // The notation reads back to the same text (what `want:` prints).
    for (const t of [...args, ...(result ? [result] : [])]) {
      const j = t.indexOf(': ');
      const type = j >= 0 && !/[<[]/.test(t.slice(0, j)) ? t.slice(j + 2) : t;
      assert.equal(showType(parseType(type)), type, `${name}: ${type}`);
    }
  }
  assert.ok(compared >= 190, `compared ${compared}`);
});

test('OPA orders the members of any<…> by kind, not by name', () => {
  assert.equal(showType(parseType('any<set[any], string, array[any], null>')), 'any<null, string, array[any], set[any]>');
});

test('a built-in call with literal arguments of the wrong type: OPA text, output operand included', () => {
  // In a value position the call has an output operand, still unbound (`???`); the declared result is wanted.
  assert.equal(compileError('p := count(1)'), `t.rego:2: rego_type_error: count: invalid argument(s)\n\thave: (number, ???)\n\t${COUNT_WANT}`);
  // A call that is a whole expression has no output operand.
  assert.equal(compileError('p if { upper(1) }'), 't.rego:2: rego_type_error: upper: invalid argument(s)\n\thave: (number)\n\twant: (x: string, y: string)');
  assert.match(compileError('p if { concat(",", [1, "a"]) == "1,a" }')!, /concat: invalid argument\(s\)\n\thave: \(string, array<number, string>, \?\?\?\)\n\twant: \(delimiter: string, collection: any<array\[string\], set\[string\]>, output: string\)/);
  assert.match(compileError('p := sprintf("%v", {"a"})')!, /have: \(string, set\[string\], \?\?\?\)\n\twant: \(format: string, values: array\[any\], output: string\)/);
  assert.match(compileError('p := object.get("o", "a", 0)')!, /object\.get: invalid argument\(s\)/);
  assert.match(compileError('p := 1 + "a"')!, /plus: invalid argument\(s\)\n\thave: \(number, string, \?\?\?\)\n\twant: \(x: number, y: number, z: number\)/);
  assert.match(compileError('p if { count({"b": 1, "a": "x"}, "n") }')!, /count: invalid argument\(s\)\n\thave: \(object<a: string, b: number>, string\)/, 'an explicit output operand is checked too');
  assert.match(compileError('p { upper(1) }', true)!, /rego_type_error: upper/, 'v0 modules are checked too');
  assert.match(compileError('p := json.patch({}, [1])')!, /want: \(target: any, patches: array\[object<op: string, path: any>\[any: any\]\], output: any\)/);
  assert.match(compileError('p := time.clock([1, 2])')!, /have: \(array<number, number>, \?\?\?\)\n\twant: \(x: any<number, array<number, string>>, output: array<number, number, number>\)/);
  assert.match(compileError('p := crypto.hmac.sha256(1, "k")')!, /crypto\.hmac\.sha256: invalid argument/);
  // Right types, or types only known at run time, compile.
  for (const ok of ['p := count("abc")', 'p := concat(",", {"a", "b"})', 'p := upper(input.x)', 'p := count([x | some x in input])', 'p := time.clock([1, "UTC"])', 'p := json.patch({}, [{"op": "add", "path": "/a", "value": 1}])', 'p := bits.and(input.a, 2)']) {
    assert.equal(compileError(ok), undefined, ok);
  }
});

test('types flow through local variables, builtin results, refs and comprehensions', () => {
  assert.equal(compileError('p if { x := 1; count(x) }'), `t.rego:2: rego_type_error: count: invalid argument(s)\n\thave: (number)\n\t${COUNT_WANT}`);
  assert.match(compileError('p if { x = 1; count(x) }')!, /count: invalid argument\(s\)\n\thave: \(number\)/, '= binds a type as := does');
  assert.match(compileError('p if { x := "a"; y := [x]; sum(y) }')!, /sum: invalid argument\(s\)\n\thave: \(array<string>\)\n\twant: \(collection: any<array\[number\], set\[number\]>, n: number\)/);
  assert.match(compileError('p if { a := [1]; concat(",", count(a)) }')!, /concat: invalid argument\(s\)\n\thave: \(string, number\)/);
  assert.match(compileError('p if { x := [y | y := 1]; concat(",", x) }')!, /have: \(string, array\[number\]\)/);
  assert.match(compileError('p if { x := {y | y := [1][_]}; upper(x) }')!, /have: \(set\[number\]\)/);
  assert.match(compileError('p if { x := {"a": 1}; upper(x.a) }')!, /upper: invalid argument\(s\)\n\thave: \(number\)/);
  assert.match(compileError('p if { x := [1, 2]; upper(x[_]) }')!, /have: \(number\)/);
  assert.match(compileError('p if { count([1], n); upper(n) }')!, /upper: invalid argument\(s\)\n\thave: \(number\)/);
  assert.match(compileError('p if { [a, b] := [1, "s"]; upper(a) }')!, /have: \(number\)/);
  assert.match(compileError('p := [x | x := 1; upper(x)]')!, /upper: invalid argument/, 'comprehension bodies are checked');
  assert.match(compileError('p := $"{upper(1)}"')!, /upper: invalid argument/, 'template parts are checked');
  assert.match(compileError('f(x) := upper(1)')!, /upper: invalid argument/, 'function bodies are checked');
  assert.match(compileError('p := 1 if { false } else := upper(1)')!, /upper: invalid argument/, 'else values are checked');
});

test('rules and functions have the types of their values, wherever they are referenced', () => {
  assert.match(compileError('q := 1\np := upper(q)')!, /^t\.rego:3: rego_type_error: upper: invalid argument\(s\)\n\thave: \(number, \?\?\?\)/);
  assert.match(compileError('p := upper(q)\nq := 1')!, /t\.rego:2: rego_type_error: upper/, 'in dependency order, not source order');
  assert.match(compileError('p := upper(data.t.q)\nq := [1]')!, /have: \(array<number>, \?\?\?\)/);
  assert.match(compileError('q := {"a": 1}\np := upper(q.a)')!, /have: \(number, \?\?\?\)/);
  assert.match(compileError('s contains 1 if input.x\np := upper(s)')!, /have: \(set\[number\], \?\?\?\)/);
  assert.match(compileError('o[k] := 1 if some k in input\np := upper(o.a)')!, /have: \(number, \?\?\?\)/);
  assert.match(compileError('f(x) := 1\np := upper(f(2))')!, /have: \(number, \?\?\?\)/);
  assert.match(compileError('p if { q }\nq := 1 if input.a\nq := true if input.b\nr := upper(q)')!, /have: \(any<boolean, number>, \?\?\?\)/);
});

test('unification of values whose types cannot meet is a match error', () => {
  assert.equal(compileError('p if { 1 = "a" }'), 't.rego:2: rego_type_error: match error\n\tleft  : number\n\tright : string');
  assert.match(compileError('p if { x := 1; x = "a" }')!, /match error\n\tleft {2}: number\n\tright : string/);
  assert.match(compileError('p if { [x, 1] = [2, "a"] }')!, /match error/);
  assert.equal(compileError('p if { x := 1; x == "a" }'), undefined, '== is a builtin taking any two values');
  assert.equal(compileError('p if { x := [1, input.a]; x = [1, "a"] }'), undefined);
});

test('what OPA accepts compiles: unknown types, unions, rebinding in other bodies, user functions', () => {
  const accepted = [
    'p if { x := input.a; count(x); abs(x) }', // input is any: a call does not narrow it
    'p if { some x in input; x = 1; upper(x) }', // iteration binds any; `x = 1` does not narrow it
    'p if { x := data.a.b; upper(x) }',
    'p if { x := {1, "a"}; count(x) }', // set[any<number, string>] is a collection
    'p if { x := [1, "a"][_]; x == 1 }',
    'p if { x := 1; abs(x) }\nq if { x := "a"; upper(x) }', // each rule has its own variables
    'f(x) := y if { y := x + 1 } else := y if { y := upper(x) }', // each else body too
    'f(x) := x\np := upper(f(1))',
    'p if { walk(input, [path, v]); count(path); upper(v) }',
    'q := 1 if input.a\nq := "a" if input.b\np := upper(q)', // a union of the definitions
    'default q := 1\nq := input.x\np := upper(q)', // any once one definition is any
    'q := x if { x := input.y }\np := upper(q)',
    'a.b := 1\na.c := "s"\np := upper(a.c)', // ref heads: each leaf its own type
    'p := count(x) if { x := object.get(input, "a", []) }',
    'p if { x := json.unmarshal("1"); upper(x) }', // declared result any
    'p := [x | x := input[_]; abs(x)]',
    'p if { every x in [1, 2] { x > 0 } }',
  ];
  for (const src of accepted) assert.equal(compileError(src), undefined, src);
});

test('every type error of a module is reported, in source order, with its location', () => {
  const e = new Engine();
  e.addPolicy('t.rego', 'package t\nq := upper(2)\np if {\n  x := 1\n  count(x)\n  abs("a")\n}\n');
  try {
    e.prepare();
    assert.fail('compiled');
  } catch (err) {
    assert.ok(err instanceof CocoError);
    assert.match(err.message, /^3 errors occurred:\nt\.rego:2: rego_type_error: upper[^]*\nt\.rego:5: rego_type_error: count[^]*\nt\.rego:6: rego_type_error: abs/);
    const errors = (err.detail as { errors: Array<{ row: number; col: number; code: string }> }).errors;
    assert.deepEqual(errors.map((x) => [x.code, x.row, x.col]), [['rego_type_error', 2, 6], ['rego_type_error', 5, 3], ['rego_type_error', 6, 3]]);
  }
  // Earlier stages go first: with an unsafe variable the type errors are not reported.
  assert.match(compileError('p := upper(2)\nq if { upper(y) }')!, /^t\.rego:3: rego_unsafe_var_error/);
});

test('wrong argument counts and unknown functions are OPA type errors', () => {
  assert.equal(compileError('p := count(1, 2, 3)'), 't.rego:2: rego_type_error: count: arity mismatch\n\thave: (number, number, number, ???)\n\twant: (collection: any<string, array[any], object[any: any], set[any]>)');
  assert.match(compileError('p if { count([1], 2, 3) }')!, /count: arity mismatch\n\thave: \(array<number>, number, number\)/);
  assert.match(compileError('p := count()')!, /count: arity mismatch\n\thave: \(\?\?\?\)/);
  // The output-argument form is for whole expressions only.
  assert.match(compileError('p if { x := count([1], n) }')!, /count: arity mismatch\n\thave: \(array<number>, \?\?\?, \?\?\?\)/);
  assert.equal(compileError('p if { count([1], n); n > 0 }'), undefined);
  assert.equal(compileError('f(x) := x\np := f(1, 2)'), 't.rego:3: rego_type_error: function data.t.f has arity 1, got 2 arguments');
  assert.equal(compileError('p := foo(1)'), 't.rego:2: rego_type_error: undefined function foo');
});

test('queries are type-checked too', () => {
  const e = new Engine();
  e.addPolicy('t.rego', 'package t\np := 1\n');
  assert.throws(() => e.evalQuery('x := 1; count(x)'), (x: unknown) => x instanceof CocoError && /rego_type_error: count: invalid argument/.test(x.message));
  assert.deepEqual(e.evalQuery('x := "ab"; n := count(x)').result?.[0]?.bindings, { x: 'ab', n: 2 });
  assert.throws(() => e.evalQuery('x := 1; x.foo'), (x: unknown) => x instanceof CocoError && /rego_type_error: undefined ref: x\.foo\n\tx\.foo\n\t\^\n\thave: number/.test(x.message));
  const lenient = new Engine({ refChecks: false });
  lenient.addPolicy('t.rego', 'package t\np := 1\n');
  assert.deepEqual(lenient.evalQuery('x := {"a": 1}; y := x.b').result, []);
});

// The checker may only refuse what the builtin itself would refuse: for random literal arguments, a call the
// checker rejects fails at run time with a type error when the same values arrive through input.
const literal: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  scalar: fc.oneof(fc.constant(null), fc.boolean(), fc.integer({ min: -5, max: 5 }), fc.constantFrom('a', 'b,c', '1', '')),
  value: fc.oneof({ weight: 3, arbitrary: tie('scalar') }, fc.array(tie('scalar'), { maxLength: 3 }), fc.dictionary(fc.constantFrom('a', 'b'), tie('scalar'), { maxKeys: 2 })),
})).value;

// Builtins OPA declares with typed arguments but whose implementations answer (false, or a verdict pair)
// for other types instead of failing: the compile-time check follows the declaration, as OPA's does, so a
// literal call is refused while the same values through input still get an answer.
const ANSWER_ANY_TYPE = new Set([
  'base64.is_valid', 'json.is_valid', 'yaml.is_valid', 'regex.is_valid', 'uri.is_valid', 'net.cidr_is_valid',
  'graphql.is_valid', 'graphql.schema_is_valid', 'graphql.parse_and_verify', 'json.verify_schema',
  'json.match_schema', // a boolean is a valid JSON schema at run time
  'graph.reachable', 'graph.reachable_paths', // neighbours that are not collections are skipped
  'uuid.rfc4122', // the argument is only a cache key: OPA hashes any value (uuid.go)
  // not verified against OPA's implementation: these answer here for some ill-typed arguments
  'json.patch', 'net.cidr_contains_matches',
  // OPA declares the time argument as `number` or exactly `[ns, tz]`; the implementations (OPA's tzTime) also
  // take `[ns]`, and time.add_date, declared `number`, reads its time the same way
  'time.clock', 'time.date', 'time.weekday', 'time.diff', 'time.format', 'time.add_date',
]);

test('every declared signature refuses only calls that also fail at run time', () => {
  const failed: string[] = [];
  for (const [name, [args]] of signatures()) {
    if (ANSWER_ANY_TYPE.has(name) || !BUILTINS.has(name) || args.every((a) => /(^|: )any$/.test(a))) continue;
    const arity = args.length;
    const r = fc.check(
      fc.property(fc.array(literal, { minLength: arity, maxLength: arity }), (vals) => {
        const text = `p := ${name}(${vals.map((a) => JSON.stringify(a)).join(', ')})`;
        const err = compileError(text);
        // deprecated builtins are refused in v1 modules whatever their arguments
        if (err === undefined || !err.includes(`rego_type_error: ${name}: invalid argument`)) return;
        const e = new Engine({ strict: true });
        e.addPolicy('t.rego', `package t\np := ${name}(${vals.map((_, i) => `input[${i}]`).join(', ')})\n`);
        e.setInput(vals as never);
        // a type error, or a builtin error when an earlier argument is already rejected by its content
        assert.throws(() => e.evalRule('data.t.p'), (x: unknown) => x instanceof CocoError && /eval_(type|builtin)_error/.test(x.message), text);
      }),
      { numRuns: Number(process.env.TYPECHECK_RUNS ?? 25) },
    );
    if (r.failed) failed.push(`${name}: ${String(r.errorInstance).split('\n')[0]} ${JSON.stringify(r.counterexample)}`);
  }
  assert.deepEqual(failed, []);
});

// Through variables the checker sees the same types as through literals: a random value assigned to a local
// and passed on is refused exactly when the literal call is.
test('a literal and the same literal through a local variable are judged alike', () => {
  const CALLS = ['count', 'sum', 'upper', 'abs', 'to_number', 'object.keys', 'array.reverse', 'json.unmarshal', 'base64.encode', 'sort'];
  fc.assert(
    fc.property(fc.constantFrom(...CALLS), literal, (name, v) => {
      const direct = compileError(`p := ${name}(${JSON.stringify(v)})`);
      const viaVar = compileError(`p := y if { x := ${JSON.stringify(v)}; y := ${name}(x) }`);
      assert.equal(viaVar === undefined, direct === undefined, `${name}(${JSON.stringify(v)})`);
    }),
    { numRuns: 200 },
  );
});

test('a function has the types its body gives its parameters and its value, and calls are checked against them', () => {
  // `x + 1` makes x a number; the value y is the result of plus.
  assert.equal(compileError('f(x) := y if { y := x + 1 }\np := f("a")'), 't.rego:3: rego_type_error: data.t.f: invalid argument(s)\n\thave: (string, ???)\n\twant: (number, number)');
  assert.match(compileError('f(x) := upper(x)\np := f(1)')!, /data\.t\.f: invalid argument\(s\)\n\thave: \(number, \?\?\?\)\n\twant: \(string, string\)/, 'a call in the value types the parameter too');
  assert.match(compileError('f([a, b]) := a + b\np := f([1, "x"])')!, /have: \(array<number, string>, \?\?\?\)\n\twant: \(array<number, number>, number\)/, 'a pattern parameter');
  assert.match(compileError('f(x) if { count(x) > 0 }\np if { f(1) }')!, /data\.t\.f: invalid argument\(s\)\n\thave: \(number\)\n\twant: \(any<string, array\[any\], object\[any: any\], set\[any\]>, boolean\)/);
  // The result type flows on: f(1) is a number, upper refuses it.
  assert.match(compileError('f(x) := y if { y := x + 1 }\np if { f(1, y); upper(y) }')!, /upper: invalid argument\(s\)\n\thave: \(number\)/);
  // Definitions and else branches unite parameter by parameter.
  assert.match(compileError('f(x) := y if { y := x + 1 } else := y if { y := upper(x) }\np := f(true)')!, /want: \(any<number, string>, any<number, string>\)/);
  assert.match(compileError('f(x) := abs(x)\nf(x) := upper(x)\np := f(null)')!, /want: \(any<number, string>, any<number, string>\)/);
  // What OPA infers as any accepts anything.
  for (const ok of [
    'f(x) := x\np := f(1)',
    'f(x) := y if { y := x }\np := f("a")', // x = y: both any
    'f(x) := x.a\np := f(1)', // a reference types its head as any
    'f(_) := 1\np := f("a")',
    'f(x) := y if { y := x + 1 } else := y if { y := upper(x) }\np := [f(1), f("a")]',
    'f(x) := abs(x)\nf(x) := upper(x)\np := [f(1), f("a")]',
    'f(x) := upper(x) if { count(x) > 1 }\np := f("ab")',
  ]) {
    assert.equal(compileError(ok), undefined, ok);
  }
  assert.match(compileError('f(x) := y if { y := upper(1) + x }\np := f("a")')!, /^t\.rego:2: rego_type_error: upper: invalid argument/, 'only the error inside the function, not one per call');
  // Parameters inside composites and negations are typed too.
  assert.match(compileError('f(x) := y if { y := concat(",", [x]) }\np := f(1)')!, /data\.t\.f: invalid argument\(s\)\n\thave: \(number, \?\?\?\)\n\twant: \(string, string\)/, 'an element of a union member');
  assert.match(compileError('f(x) if { not startswith(x, "a") }\np if { f(1) }')!, /want: \(string, boolean\)/);
  assert.match(compileError('g({"bar": x, "foo": y}) := {a: b} if { upper(y, a); json.unmarshal(x, b) }\nh(x) := y if { g({"bar": x, "foo": x}, y) }\np := h(1)')!, /data\.t\.h: invalid argument\(s\)\n\thave: \(number, \?\?\?\)\n\twant: \(string, object\[string: any\]\)/);
  assert.equal(compileError('f([a, b]) := y if { sprintf("%s%s", [a, b], y) }\np := f([5, ["foo", true]])'), undefined, 'array[any] types the elements any');
  assert.equal(compileError('f(x) := y if { y := count([x]) }\np := f(1)'), undefined);
  // Function bodies are typed as OPA types them: the same body calling with a number is fine.
  assert.equal(compileError('f([a, b]) := y if { split(a, b, y) }\np := f(["hello", "ll"])'), undefined);
  assert.match(compileError('f([a, b]) := y if { split(a, b, y) }\np := f(["hello", 5])')!, /data\.t\.f: invalid argument/);
});

test('variables bound by iteration have the type of the keys and values they range over', () => {
  assert.match(compileError('p if { some x in [1, 2]; upper(x) }')!, /upper: invalid argument\(s\)\n\thave: \(number\)/);
  assert.match(compileError('p if { some k, v in {"a": 1}; abs(k) }')!, /abs: invalid argument\(s\)\n\thave: \(string\)/);
  assert.match(compileError('p if { some k, v in {"a": 1}; upper(v) }')!, /upper: invalid argument\(s\)\n\thave: \(number\)/);
  assert.match(compileError('p if { some i, v in ["a"]; upper(i) }')!, /upper: invalid argument\(s\)\n\thave: \(number\)/, 'array keys are numbers');
  assert.equal(compileError('p if { some x in {"a", 1}; upper(x) }'), undefined, 'any<number, string> may be a string');
  assert.match(compileError('p if { x := [1, 2][_]; upper(x) }')!, /have: \(number\)/);
  assert.match(compileError('p if { x := {"a": true}; x[k]; abs(k) }')!, /abs: invalid argument\(s\)\n\thave: \(string\)/, 'a variable key in a reference');
  assert.match(compileError('q := {"a": 1}\np if { some k, _ in q; abs(k) }')!, /abs: invalid argument\(s\)\n\thave: \(string\)/, 'over a rule\'s value');
  assert.equal(compileError('q := {"a": 1}\np if { some k in object.keys(q); abs(k) }'), undefined, 'object.keys is declared set[any]');
  // A pattern that cannot match the elements is a match error.
  assert.equal(compileError('p if { some [a, b] in [1, 2] }'), 't.rego:2: rego_type_error: match error\n\tleft  : array<???, ???>\n\tright : number');
  for (const ok of ['p if { some k, v in {"a": 1}; upper(k); abs(v) }', 'p if { some x in input; upper(x) }', 'p if { some [a, b] in [[1, "x"]]; abs(a); upper(b) }', 'p if { some x in []; upper(x) }', 'p if { every x in [1] { upper(x) } }']) {
    assert.equal(compileError(ok), undefined, ok);
  }
});

test('a reference into a value whose type cannot have the key is an undefined ref, printed as OPA prints it', () => {
  assert.equal(compileError('p if { x := 1; x.foo }'), 't.rego:2: rego_type_error: undefined ref: x.foo\n\tx.foo\n\t^\n\thave: number');
  assert.equal(
    compileError('p if { arr := [{"a": 1, "c": 3}, {"b": 2}]; arr[0].b }'),
    't.rego:2: rego_type_error: undefined ref: arr[0].b\n\tarr[0].b\n\t       ^\n\t       have: "b"\n\t       want (one of): ["a" "c"]',
  );
  assert.equal(compileError('p if { arr := [[1, 2], [3], [4]]; arr[0].dead.beef = x }'), 't.rego:2: rego_type_error: undefined ref: arr[0].dead.beef\n\tarr[0].dead.beef\n\t       ^\n\t       have: "dead"\n\t       want (type): number');
  assert.equal(compileError('p if { arr := [[1, 2], [3, 4]]; arr[1][0].deadbeef }'), 't.rego:2: rego_type_error: undefined ref: arr[1][0].deadbeef\n\tarr[1][0].deadbeef\n\t^^^^^^^^^\n\thave: number');
  assert.match(compileError('p if { s := {{1, 2}, {3, 4}}; x := {1, 2}; s[x].deadbeef }')!, /undefined ref: s\[x\]\.deadbeef\n\ts\[x\]\.deadbeef\n\t {5}\^\n\t {5}have: "deadbeef"\n\t {5}want \(type\): number/);
  assert.match(compileError('p if { x := [1]; k := "a"; x[k] }')!, /undefined ref: x\[k\]\n\tx\[k\]\n\t {2}\^\n\t {2}have \(type\): string\n\t {2}want \(type\): number/);
  assert.match(compileError('p if { x := {"a": 1}; x["a-b"] }')!, /undefined ref: x\["a-b"\]/, 'keys that are not identifiers are bracketed');
  // References to rules resolve to their full path.
  assert.equal(compileError('x := {"a": 1}\nz if { x[1] == 1 }'), 't.rego:3: rego_type_error: undefined ref: data.t.x[1]\n\tdata.t.x[1]\n\t         ^\n\t         have: 1\n\t         want (one of): ["a"]');
  assert.match(compileError('q := 1\np if { q.r }')!, /undefined ref: data\.t\.q\.r\n\tdata\.t\.q\.r\n\t\^{8}\n\thave: number/);
  // A call on the bad reference is not reported on top of it.
  assert.equal(compileError('p if { x := {"a": {"b": 1}}; upper(x.a.c) }')?.split('\n')[0], 't.rego:2: rego_type_error: undefined ref: x.a.c');
  for (const ok of [
    'p if { x := {"a": 1}; x.a }',
    'p if { x := input; x.a.b.c }',
    'q := {"a": 1}\np if { data.t.q.a }',
    'p if { x := {k: 1 | some k in input}; x.anything }', // dynamic keys of any type
    'p if { x := {"a": 1, "b": "s"}; x[_] }',
    'p if { x := [1, 2]; x[1] }',
    'q[k] := 1 if some k in input\np if { q.a }',
  ]) {
    assert.equal(compileError(ok), undefined, ok);
  }
  // kata agent policies are evaluated without this check.
  const e = new Engine({ refChecks: false });
  e.addPolicy('t.rego', 'package t\nq := {"a": 1}\np if { q.b }\n');
  assert.equal(e.evalRule('data.t.p'), undefined);
});

test('after ten errors the compiler stops and says so, as OPA does', () => {
  const rules = (n: number): string => Array.from({ length: n }, (_, i) => `p${i} := upper(${i})`).join('\n');
  const ten = compileError(rules(10))!;
  assert.match(ten, /^10 errors occurred:\n/);
  assert.doesNotMatch(ten, /error limit reached/);
  const e = new Engine();
  e.addPolicy('t.rego', `package t\n${rules(12)}\n`);
  try {
    e.prepare();
    assert.fail('compiled');
  } catch (err) {
    assert.ok(err instanceof CocoError);
    const lines = err.message.split('\n').filter((l) => !l.startsWith('\t'));
    assert.equal(lines[0], '11 errors occurred:');
    assert.deepEqual(lines.slice(1, 11), Array.from({ length: 10 }, (_, i) => `t.rego:${i + 2}: rego_type_error: upper: invalid argument(s)`));
    assert.equal(lines[11], 'rego_compile_error: error limit reached');
    assert.equal((err.detail as { errors: unknown[] }).errors.length, 11);
  }
  // Other stages stop at the same limit.
  assert.match(compileError(Array.from({ length: 12 }, (_, i) => `p${i} if { y${i} }`).join('\n'))!, /^11 errors occurred:[^]*\nrego_compile_error: error limit reached$/);
});

// Well-typed programs stay accepted: random values, references into keys they have, iteration over them,
// and functions called with arguments of the type their bodies give their parameters compile, and evaluate
// to the values the references select.
const OPS: Record<string, string[]> = {
  number: ['abs(a)', 'a + 1', 'round(a)', 'a * 2', 'format_int(a, 10)'],
  string: ['upper(a)', 'count(a)', 'concat(",", [a])', 'trim_space(a)', 'startswith(a, "x")'],
  array: ['count(a)', 'array.reverse(a)', 'json.marshal(a)', 'array.concat(a, [1])'],
  object: ['count(a)', 'object.keys(a)', 'json.marshal(a)', 'object.get(a, "a", 0)'],
  other: ['json.marshal(a)', 'type_name(a)', 'is_null(a)'],
};

function kindOf(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'string') return typeof v;
  if (Array.isArray(v)) return 'array';
  return v !== null && typeof v === 'object' ? 'object' : 'other';
}

/** Rego text of a path of keys (`.a`, `[0]`) and the value it selects, for a random walk into `v`. */
function walk(v: unknown, choices: number[]): [string, unknown] {
  let text = '';
  let cur = v;
  for (const c of choices) {
    if (Array.isArray(cur) && cur.length > 0) {
      const i = c % cur.length;
      [text, cur] = [`${text}[${i}]`, cur[i]];
    } else if (cur !== null && typeof cur === 'object' && Object.keys(cur).length > 0) {
      const ks = Object.keys(cur).sort();
      const k = ks[c % ks.length]!;
      [text, cur] = [`${text}.${k}`, (cur as Record<string, unknown>)[k]];
    } else break;
  }
  return [text, cur];
}

test('well-typed random programs compile and evaluate', () => {
  fc.assert(
    fc.property(literal, literal, fc.array(fc.nat(), { maxLength: 3 }), fc.nat(), (v, w, choices, pick) => {
      const ops = OPS[kindOf(w)]!;
      const op = ops[pick % ops.length]!;
      const [path, selected] = walk(v, choices);
      const src = [
        `q := ${JSON.stringify(v)}`,
        `f(a) := y if { y := ${op} }`,
        `g(a) := json.marshal(a)`,
        `p0 := f(${JSON.stringify(w)})`,
        `p1 := q${path}`,
        `p2 := [type_name(x) | some x in q]`,
        `p3 := g(q${path})`,
        `p4 := y if { z := ${JSON.stringify(w)}; y := f(z) }`,
        `p5 := [k | some k, _ in q]`,
        `p6 := ${JSON.stringify(v)}${path}`, // a literal subject: OPA moves it into a variable of its own
      ].join('\n');
      assert.equal(compileError(src), undefined, src);
      const e = new Engine({ strict: true });
      e.addPolicy('t.rego', `package t\n${src}\n`);
      const doc = e.evalRule('data.t') as Record<string, unknown>;
      assert.deepEqual(doc.p1, JSON.parse(JSON.stringify(selected)), src);
      assert.deepEqual(doc.p6, doc.p1, src);
      assert.deepEqual(JSON.parse(doc.p3 as string), JSON.parse(JSON.stringify(selected)), src);
      const n = Array.isArray(v) ? v.length : v !== null && typeof v === 'object' ? Object.keys(v).length : 0;
      assert.equal((doc.p2 as unknown[] | undefined)?.length ?? 0, n, src);
      assert.deepEqual(doc.p0, doc.p4, src);
    }),
    { numRuns: Number(process.env.TYPECHECK_RUNS ?? 150) },
  );
});

/** The compile error of several modules (`package` lines included), or undefined when they compile. */
function modulesError(...modules: string[]): string | undefined {
  const e = new Engine();
  modules.forEach((m, i) => e.addPolicy(`m${i}.rego`, `${m}\n`));
  try {
    e.prepare();
    return undefined;
  } catch (err) {
    assert.ok(err instanceof CocoError, String(err));
    return err.message;
  }
}

// check.go checkRef walks a `data` reference down the tree of packages and rules (TypeEnv): a package's
// document is an object of the documents below it and any other string key (base data may be there);
// right below `data` and below a package root only strings and variables select (idx 1 and 2); a variable
// there ranges over the names; a function is no document (checkApply).
test('references into the tree of packages and rules are typed and checked as OPA checks them', () => {
  const T = 'package t\na.b := 1\na.c := "s"\nf(x) := x + 1';
  assert.equal(modulesError(T, 'package u\np := upper(data.t.a)'), 'm1.rego:2: rego_type_error: upper: invalid argument(s)\n\thave: (object<b: number, c: string>[string: any], ???)\n\twant: (x: string, y: string)');
  // A function below a package is a property of the package's document, of function type.
  assert.equal(
    modulesError(T, 'package u\np := upper(data.t)'),
    'm1.rego:2: rego_type_error: upper: invalid argument(s)\n\thave: (object<a: object<b: number, c: string>[string: any], f: (number) => number>[string: any], ???)\n\twant: (x: string, y: string)',
  );
  assert.match(modulesError('package t\nq := 1\nr.s := [1]', 'package u\np := upper(data.t)')!, /have: \(object<q: number, r: object<s: array<number>>\[string: any\]>\[string: any\], \?\?\?\)/);
  assert.equal(
    modulesError(T, 'package u\np if { x := 1; data.t.a[x] }'),
    'm1.rego:2: rego_type_error: undefined ref: data.t.a[x]\n\tdata.t.a[x]\n\t         ^\n\t         have (type): number\n\t         want (one of): ["b" "c"]',
  );
  assert.match(modulesError(T, 'package u\np if { data.t.a[k]; abs(k) }')!, /abs: invalid argument\(s\)\n\thave: \(string\)/, 'a variable below a package ranges over strings');
  // OPA checks rules in dependency order: below data and a package root, what a rule depends on is there
  // when it is checked (the rest may or may not be, as Go's map order has it, and is left alone).
  assert.equal(modulesError(T, 'package u\np if { data.t.a.b; data[1] }'), 'm1.rego:2: rego_type_error: undefined ref: data[1]\n\tdata[1]\n\t     ^\n\t     have (type): number\n\t     want (one of): ["t"]');
  // The rule being checked is not among the names offered (OPA types it after its body).
  assert.match(compileError('q := 1\np if { q; data.t[1] }')!, /want \(one of\): \["q"\]$/);
  assert.match(modulesError(T, 'package u\np if { data.t.a.c; x := data.t[true] }')!, /undefined ref: data\.t\[true\]\n\tdata\.t\[true\]\n\t {7}\^\n\t {7}have \(type\): boolean\n\t {7}want \(one of\): \["a"\]/);
  // A function referred to without a call.
  assert.equal(modulesError(T, 'package u\np if { g := data.t.f }'), 'm1.rego:2: rego_type_error: undefined ref: data.t.f\n\tdata.t.f\n\t^^^^^^^^\n\thave: (number) => number');
  assert.match(modulesError(T, 'package u\np if { data.t.f.x }')!, /undefined ref: data\.t\.f\.x\n\tdata\.t\.f\.x\n\t\^{8}\n\thave: \(number\) => number/);
  assert.match(modulesError('package t\nf(x) := 1\np := [g | g := f]')!, /undefined ref: data\.t\.f\n[^]*have: \(any\) => number/, 'in a comprehension of a head too');
  for (const ok of [
    [T, 'package u\np := data[2]'], // depends on no rule: OPA may check it first, with nothing below data yet
    [T, 'package u\np if { data.t[1] }'],
    ['package t\nq := 1\np if { data.t[1] }'],
    [T, 'package u\np if { data.t.a.b }'],
    [T, 'package u\np if { data.t.a.missing.x }'], // base data may be below a package
    [T, 'package u\np if { data.t.a[1] }'], // deeper than a package root: any key
    [T, 'package u\np if { data.other[1] }'], // no rule there: base data
    [T, 'package u\np if { data.t.a[k]; upper(k) }'],
    [T, 'package u\np := data.t.f(1)'],
    [T, 'package u\np if { some k, _ in data.t.a; upper(k) }'],
  ]) {
    assert.equal(modulesError(...ok), undefined, ok.join('\n'));
  }
});

test('queries are checked against the types of the rules they refer to', () => {
  const e = new Engine();
  e.addPolicy('t.rego', 'package t\nq := 1\na.b := "s"\nf(x) := x + 1\n');
  const refused = (query: string, re: RegExp): void =>
    assert.throws(() => e.evalQuery(query), (x: unknown) => x instanceof CocoError && re.test(x.message), query);
  refused('upper(data.t.q)', /rego_type_error: upper: invalid argument\(s\)\n\thave: \(number\)/);
  refused('x := data.t.a; abs(x.b)', /abs: invalid argument\(s\)\n\thave: \(string\)/);
  refused('data.t.f("a", y)', /data\.t\.f: invalid argument\(s\)\n\thave: \(string, \?\?\?\)\n\twant: \(number, number\)/);
  refused('data.t.q.r', /undefined ref: data\.t\.q\.r\n\tdata\.t\.q\.r\n\t\^{8}\n\thave: number/);
  refused('x := data.t.f', /undefined ref: data\.t\.f\n[^]*have: \(number\) => number/);
  assert.deepEqual(e.evalQuery('x := data.t.f(1)').result?.[0]?.bindings, { x: 2 });
  assert.deepEqual(e.evalQuery('x := upper(data.t.a.b)').result?.[0]?.bindings, { x: 'S' });
  // Without reference checks (agent policies) only the calls are checked.
  const lenient = new Engine({ refChecks: false });
  lenient.addPolicy('t.rego', 'package t\nq := 1\nf(x) := 1\n');
  assert.deepEqual(lenient.evalQuery('x := data.t.q.r').result, []);
  assert.throws(() => lenient.evalQuery('upper(data.t.q)'), (x: unknown) => x instanceof CocoError && /upper: invalid argument/.test(x.message));
});

// ------------------------------------------------------------------------------------------- every builtin

/** A type of capabilities.json (OPA's types JSON). */
interface DeclType {
  type: string;
  of?: DeclType | DeclType[];
  static?: DeclType[] | Array<{ key: string; value: DeclType }>;
  dynamic?: DeclType | { key: DeclType; value: DeclType };
}

/** A declared type printed as OPA prints it (types.Sprint), written from the JSON form, not our notation. */
function declText(t: DeclType): string {
  switch (t.type) {
    case 'any': {
      const of = (t.of ?? []) as DeclType[];
      return of.length === 0 ? 'any' : `any<${of.map(declText).join(', ')}>`;
    }
    case 'set':
      return `set[${declText(t.of as DeclType)}]`;
    case 'array': {
      const st = (t.static ?? []) as DeclType[];
      return 'array' + (st.length ? `<${st.map(declText).join(', ')}>` : '') + (t.dynamic ? `[${declText(t.dynamic as DeclType)}]` : '');
    }
    case 'object': {
      const st = (t.static ?? []) as Array<{ key: string; value: DeclType }>;
      const dyn = t.dynamic as { key: DeclType; value: DeclType } | undefined;
      return 'object' + (st.length ? `<${st.map((p) => `${p.key}: ${declText(p.value)}`).join(', ')}>` : '') + (dyn ? `[${declText(dyn.key)}: ${declText(dyn.value)}]` : '');
    }
    default:
      return t.type;
  }
}

/** A literal of the declared type: its Rego text and the type OPA gives the literal. */
function fitting(t: DeclType): [string, string] {
  switch (t.type) {
    case 'null':
      return ['null', 'null'];
    case 'boolean':
      return ['true', 'boolean'];
    case 'number':
      return ['1', 'number'];
    case 'string':
      return ['"s"', 'string'];
    case 'any': {
      const of = (t.of ?? []) as DeclType[];
      return of.length === 0 ? ['null', 'null'] : fitting(of[0]!);
    }
    case 'set': {
      const [text, type] = fitting(t.of as DeclType);
      return [`{${text}}`, `set[${type}]`];
    }
    case 'array': {
      const st = (t.static ?? []) as DeclType[];
      const items = st.length > 0 ? st.map(fitting) : [fitting(t.dynamic as DeclType)];
      return [`[${items.map((i) => i[0]).join(', ')}]`, `array<${items.map((i) => i[1]).join(', ')}>`];
    }
    case 'object': {
      const st = [...((t.static ?? []) as Array<{ key: string; value: DeclType }>)].sort((a, b) => (a.key < b.key ? -1 : 1));
      const props: Array<[string, [string, string]]> = st.length > 0 ? st.map((p) => [p.key, fitting(p.value)]) : [['s', fitting((t.dynamic as { value: DeclType }).value)]];
      return [`{${props.map(([k, [v]]) => `${JSON.stringify(k)}: ${v}`).join(', ')}}`, `object<${props.map(([k, [, vt]]) => `${k}: ${vt}`).join(', ')}>`];
    }
    default:
      throw new Error(`no literal for ${t.type}`);
  }
}

/** A literal of a kind the declared type does not accept at all, or undefined when it accepts every kind. */
function misfit(t: DeclType): [string, string] | undefined {
  const kinds = new Set<string>();
  const visit = (x: DeclType): void => {
    if (x.type === 'any') {
      const of = (x.of ?? []) as DeclType[];
      if (of.length === 0) ['null', 'boolean', 'number', 'string', 'array', 'object', 'set'].forEach((k) => kinds.add(k));
      of.forEach(visit);
    } else kinds.add(x.type);
  };
  visit(t);
  const candidates: Array<[string, string, string]> = [
    ['null', 'null', 'null'],
    ['boolean', 'false', 'boolean'],
    ['number', '2', 'number'],
    ['string', '"x"', 'string'],
    ['array', '[null]', 'array<null>'],
    ['object', '{"x": null}', 'object<x: null>'],
    ['set', '{null}', 'set[null]'],
  ];
  const c = candidates.find(([k]) => !kinds.has(k));
  return c && [c[1], c[2]];
}

/**
 * A literal of the declared kind with a part (element, member, property value) the declaration cannot
 * take; undefined when no part is constrained. Within `any<…>` only a member whose kind no other member
 * has is used, so that the literal fits none of them.
 */
function nestedMisfit(t: DeclType): [string, string] | undefined {
  switch (t.type) {
    case 'set': {
      const m = misfit(t.of as DeclType);
      return m && [`{${m[0]}}`, `set[${m[1]}]`];
    }
    case 'array': {
      const st = (t.static ?? []) as DeclType[];
      if (st.length === 0) {
        const m = misfit(t.dynamic as DeclType);
        return m && [`[${m[0]}]`, `array<${m[1]}>`];
      }
      const i = st.findIndex((x) => misfit(x) !== undefined);
      if (i < 0) return undefined;
      const items = st.map((x, j) => (j === i ? misfit(x)! : fitting(x)));
      return [`[${items.map((x) => x[0]).join(', ')}]`, `array<${items.map((x) => x[1]).join(', ')}>`];
    }
    case 'object': {
      const st = (t.static ?? []) as Array<{ key: string; value: DeclType }>;
      if (st.length > 0) return undefined;
      const m = misfit((t.dynamic as { value: DeclType }).value);
      return m && [`{"s": ${m[0]}}`, `object<s: ${m[1]}>`];
    }
    case 'any': {
      const of = (t.of ?? []) as DeclType[];
      for (const x of of) {
        if (of.filter((y) => y.type === x.type).length > 1) continue;
        const m = nestedMisfit(x);
        if (m) return m;
      }
      return undefined;
    }
    default:
      return undefined;
  }
}

// Every builtin OPA declares (capabilities.json), every argument it types: a literal of a kind the
// declaration cannot take is refused with OPA's layout, the expected text built from the JSON declaration
// and the argument names of the metadata.
test('every declared builtin argument refuses a literal of another kind, with OPA\'s message', () => {
  const caps = CAPS as unknown as { builtins: Array<{ name: string; deprecated?: boolean; decl: { args?: DeclType[]; result?: DeclType } }> };
  let checked = 0;
  const swept = new Set<string>();
  const wrong: string[] = [];
  for (const b of caps.builtins) {
    const args = b.decl.args ?? [];
    if (args.length === 0 || b.name.startsWith('internal.') || ['print', 'eq', 'assign'].includes(b.name)) continue;
    const meta = META[b.name];
    const named = (name: string | undefined, t: DeclType): string => (name ? `${name}: ${declText(t)}` : declText(t));
    const want = [...args.map((a, i) => named(meta?.args?.[i]?.name, a)), ...(b.decl.result ? [named(meta?.result?.name, b.decl.result)] : [])];
    const ok = args.map(fitting);
    args.forEach((a, i) => {
      for (const bad of [misfit(a), nestedMisfit(a)]) {
        if (!bad) continue;
        const call = ok.map((o, j) => (j === i ? bad : o));
        const src = `p := ${b.name}(${call.map((c) => c[0]).join(', ')})`;
        const have = [...call.map((c) => c[1]), ...(b.decl.result ? ['???'] : [])];
        const expected = `t.rego:2: rego_type_error: ${b.name}: invalid argument(s)\n\thave: (${have.join(', ')})\n\twant: (${want.join(', ')})`;
        // Deprecated builtins are refused in v1 modules whatever their arguments; v0 modules take them.
        const got = compileError(src, b.deprecated === true);
        checked++;
        swept.add(b.name);
        if (got !== expected) wrong.push(`${src}\n  got:  ${JSON.stringify(got)}\n  want: ${JSON.stringify(expected)}`);
      }
    });
    // The well-typed call compiles (run-time errors aside, nothing is refused before evaluation).
    const good = `p := ${b.name}(${ok.map((o) => o[0]).join(', ')})`;
    const err = compileError(good, b.deprecated === true);
    if (err !== undefined) wrong.push(`${good}\n  refused: ${JSON.stringify(err)}`);
  }
  assert.deepEqual(wrong, []);
  assert.ok(checked >= 300, `checked ${checked}`);
  // Every family of the metadata is reached but those whose builtins type nothing (any, or no arguments).
  const categories = (META as unknown as { _categories: Record<string, string[]> })._categories;
  const reached = Object.keys(categories).filter((c) => categories[c]!.some((n) => swept.has(n)));
  assert.deepEqual(Object.keys(categories).filter((c) => !reached.includes(c)).sort(), ['comparison', 'internal', 'opa', 'types']);
});

// One row per family, written out from OPA's declarations: nested parts of composite arguments.
const FAMILY_ROWS: Array<[string, string, string]> = [
  ['net.cidr_merge([1])', '(array<number>, ???)', '(addrs: any<array[any<string>], set[string]>, output: set[string])'],
  ['urlquery.encode_object({"a": 1})', '(object<a: number>, ???)', '(object: object[string: any<string, array[string], set[string]>], y: string)'],
  ['json.marshal_with_options(1, {"indent": 1})', '(number, object<indent: number>, ???)', '(x: any, opts: object<indent: string, prefix: string, pretty: boolean>[string: any], y: string)'],
  ['strings.replace_n({"a": 1}, "x")', '(object<a: number>, string, ???)', '(patterns: object[string: string], value: string, output: string)'],
  ['io.jwt.encode_sign({}, {}, "k")', '(object[any: any], object[any: any], string, ???)', '(headers: object[string: any], payload: object[string: any], key: object[string: any], output: string)'],
  ['intersection({1})', '(set[number], ???)', '(xs: set[set[any]], y: set[any])'],
  ['graph.reachable({"a": 1}, ["a"])', '(object<a: number>, array<string>, ???)', '(graph: object[any: any<array[any], set[any]>], initial: any<array[any], set[any]>, output: set[any])'],
  ['json.filter({}, [1])', '(object[any: any], array<number>, ???)', '(object: object[any: any], paths: any<array[any<string, array[any]>], set[any<string, array[any]>]>, filtered: object[any: any])'],
  ['time.format([1, "UTC", 2])', '(array<number, string, number>, ???)', '(x: any<number, array<number, string>, array<number, string, string>>, formatted timestamp: string)'],
  ['object.union_n([1])', '(array<number>, ???)', '(objects: array[object[any: any]], output: object[any: any])'],
  ['semver.compare("1.0.0", 1)', '(string, number, ???)', '(a: string, b: string, result: number)'],
  ['bits.lsh("1", 1)', '(string, number, ???)', '(x: number, s: number, z: number)'],
  ['providers.aws.sign_req({}, {}, "1")', '(object[any: any], object[any: any], string, ???)', '(request: object[string: any], aws_config: object[string: any], time_ns: number, signed_request: object[any: any])'],
  ['glob.match("a", "b", "c")', '(string, string, string, ???)', '(pattern: string, delimiters: any<null, array[string]>, match: string, result: boolean)'],
  ['uri.parse(1)', '(number, ???)', '(uri: string, output: object[string: string])'],
];

test('builtin families: composite arguments are checked part by part, as OPA unifies them', () => {
  for (const [call, have, want] of FAMILY_ROWS) {
    const name = call.slice(0, call.indexOf('('));
    assert.equal(compileError(`p := ${call}`), `t.rego:2: rego_type_error: ${name}: invalid argument(s)\n\thave: ${have}\n\twant: ${want}`, call);
  }
});

// check.go checkExprEq: `=` (and `:=`) compares the types of its sides (unify2): a side with unknown parts
// is matched as a pattern against the other's type (unify1), binding its variables; two patterns are matched
// element by element, key by key. `==` is the builtin equal(any, any): OPA never refuses it.
test('composite values unify part by part: patterns take the types they meet, disjoint shapes are match errors', () => {
  const match = (left: string, right: string): string => `t.rego:2: rego_type_error: match error\n\tleft  : ${left}\n\tright : ${right}`;
  for (const ok of ['p if { x := {"a": 1}; x.a == "s" }', 'p if { x := {"a": 1}; x == {"a": "s"} }', 'p if { [1] == ["a"] }', 'p if { x := {"a": 1}; x != {"b": 1} }']) {
    assert.equal(compileError(ok), undefined, ok);
  }
  assert.equal(compileError('p if { x := {"a": 1}; x.a = "s" }'), match('number', 'string'));
  assert.equal(compileError('p if { x := {"a": 1}; x = {"a": "s"} }'), match('object<a: number>', 'object<a: string>'));
  assert.equal(compileError('p if { x := {1, 2}; x = {"a"} }'), match('set[number]', 'set[string]'));
  // Object patterns: keys that cannot meet, values that cannot meet.
  assert.equal(compileError('p if { {"a": x} = {"b": 1} }'), match('object<a: ???>', 'object<b: number>'));
  assert.equal(compileError('p if { {"a": 1} = {"b": 1} }'), match('object<a: number>', 'object<b: number>'));
  assert.equal(compileError('p if { {"a": x, "b": 1} = {"a": 2, "b": "s"} }'), match('object<a: ???, b: number>', 'object<a: number, b: string>'));
  // Array patterns of another length.
  assert.equal(compileError('p if { [x, y] = [1] }'), match('array<???, ???>', 'array<number>'));
  assert.equal(compileError('p if { x := [1, 2]; [y, z, w] = x }'), match('array<???, ???, ???>', 'array<number, number>'));
  // Variables in patterns take the types of the parts they meet, however deep.
  assert.match(compileError('p if { x := {"a": [1]}; {"a": [y]} = x; upper(y) }')!, /upper: invalid argument\(s\)\n\thave: \(number\)/);
  assert.match(compileError('p if { [x, {"k": y}] = [1, {"k": "s"}]; abs(y) }')!, /abs: invalid argument\(s\)\n\thave: \(string\)/);
  assert.match(compileError('p if { x := [[1, "a"]]; [[n, s]] = x; upper(n) }')!, /upper: invalid argument\(s\)\n\thave: \(number\)/);
  assert.match(compileError('p if { {"a": x} = {"a": 1}; upper(x) }')!, /upper: invalid argument\(s\)\n\thave: \(number\)/);
  // Against a union each member is tried: only the array member gives y a type.
  assert.match(compileError('p if { x := [[1], {"a": 2}][_]; [y] = x; upper(y) }')!, /upper: invalid argument\(s\)\n\thave: \(number\)/);
  // A variable meeting a pattern with no type yet takes the pattern's type (a parameter here).
  assert.equal(compileError('f(x) := y if { x = [y] }\np := f(1)'), 't.rego:3: rego_type_error: data.t.f: invalid argument(s)\n\thave: (number, ???)\n\twant: (array<any>, any)');
  for (const ok of [
    'p if { {"a": x} = input; upper(x) }',
    'p if { [x, y] = input.pair; upper(x); abs(y) }',
    'p if { {"a": x, "b": y} = {"a": 1, "b": input.z}; upper(y); abs(x) }',
    'p if { x := [[1], ["a"]][_]; [y] = x; upper(y) }',
    'p if { x := {"a": [1, "s"]}; {"a": [n, s]} = x; abs(n); upper(s) }',
    'f(x) := y if { x = [y] }\np := f([1])',
  ]) {
    assert.equal(compileError(ok), undefined, ok);
  }
  // Evaluation agrees where the checker accepts: the bound parts are what the patterns select.
  const e = new Engine();
  e.addPolicy('t.rego', 'package t\np := [n, s] if { x := {"a": [1, "s"]}; {"a": [n, s]} = x }\n');
  assert.deepEqual(e.evalRule('data.t.p'), [1, 's']);
});

/** A pattern made from a value: some scalar leaves become fresh variables. */
function pattern(v: unknown, holes: boolean[], n = { i: 0 }): string {
  if (Array.isArray(v)) return `[${v.map((x) => pattern(x, holes, n)).join(', ')}]`;
  if (v !== null && typeof v === 'object') return `{${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}: ${pattern(x, holes, n)}`).join(', ')}}`;
  const i = n.i++;
  return holes[i % Math.max(1, holes.length)] ? `v${i}` : JSON.stringify(v);
}

// The checker refuses a unification only when no values of those types could ever unify: a pattern refused
// against a literal never matches the same literal arriving through input.
test('a unification refused at compile time never succeeds at run time', () => {
  fc.assert(
    fc.property(literal, literal, fc.array(fc.boolean(), { minLength: 1, maxLength: 6 }), (v, w, holes) => {
      const pat = pattern(w, holes);
      const vars = [...pat.matchAll(/\bv\d+\b/g)].map((m) => m[0]);
      const use = vars.length > 0 ? `; x := [${vars.join(', ')}]` : '';
      const err = compileError(`p if { ${pat} = ${JSON.stringify(v)}${use} }`);
      if (err === undefined || !/match error/.test(err)) return;
      const e = new Engine();
      e.addPolicy('t.rego', `package t\np if { ${pat} = input${use} }\n`);
      e.setInput(v as never);
      assert.equal(e.evalRule('data.t.p'), undefined, `${pat} = ${JSON.stringify(v)}`);
    }),
    { numRuns: Number(process.env.TYPECHECK_RUNS ?? 300) },
  );
});

// A wildcard is printed `_` in OPA's reference errors (Var.String of a wildcard), wherever it stands.
test('references through wildcards are checked and printed with `_`', () => {
  assert.equal(compileError('p if { x := 1; x[_] }'), 't.rego:2: rego_type_error: undefined ref: x[_]\n\tx[_]\n\t^\n\thave: number');
  assert.equal(compileError('p if { arr := [{"a": 1}]; arr[_].b }'), 't.rego:2: rego_type_error: undefined ref: arr[_].b\n\tarr[_].b\n\t       ^\n\t       have: "b"\n\t       want (one of): ["a"]');
  assert.equal(compileError('p if { arr := [1]; arr[_].b }'), 't.rego:2: rego_type_error: undefined ref: arr[_].b\n\tarr[_].b\n\t^^^^^^\n\thave: number');
  assert.equal(compileError('q := 1\np if { data.t.q[_] }'), 't.rego:3: rego_type_error: undefined ref: data.t.q[_]\n\tdata.t.q[_]\n\t^^^^^^^^\n\thave: number');
  for (const ok of ['p if { arr := [{"a": 1}]; arr[_].a }', 'p if { x := {"a": [1]}; x[_][_] }', 'p if { input[_].x[_] }']) assert.equal(compileError(ok), undefined, ok);
});

// check.go checkExprWith: a builtin replaced by a function must be replaced by one whose type unifies with
// its own (same arity, arguments that can meet); OPA reports any mismatch as an arity mismatch, showing the
// replacement's argument types and the builtin's declaration.
test('a builtin replaced with `with` by a function of another type is an arity mismatch', () => {
  assert.equal(compileError('f(x, y) := 1\np if { upper("a") with upper as f }'), 't.rego:3: rego_type_error: upper: arity mismatch\n\thave: (any, any)\n\twant: (x: string)');
  assert.equal(compileError('g(x) := x + 1\np if { upper("a") with upper as g }'), 't.rego:3: rego_type_error: upper: arity mismatch\n\thave: (number)\n\twant: (x: string)');
  assert.equal(compileError('p if { upper("a") with upper as concat }'), 't.rego:2: rego_type_error: upper: arity mismatch\n\thave: (string, any<array[string], set[string]>)\n\twant: (x: string)');
  // A user function replaced: its type is the one its definitions infer (no argument names).
  const F = 'f(x) := x + 1\nq := f(1)\n';
  assert.equal(compileError(`${F}g(x, y) := 1\np if { q with f as g }`), 't.rego:5: rego_type_error: data.t.f: arity mismatch\n\thave: (any, any)\n\twant: (number)');
  assert.equal(compileError(`${F}p if { q with data.t.f as upper }`), 't.rego:4: rego_type_error: data.t.f: arity mismatch\n\thave: (string)\n\twant: (number)');
  for (const ok of [
    'f(x) := 1\np if { upper("a") with upper as f }',
    'p if { upper("a") with upper as count }', // any<string, …> meets string
    'p if { upper("a") with upper as "x" }', // replaced by a value: nothing to compare
    'mock_count(x) := 0\np if { count([1]) == 0 with count as mock_count }',
    'f(x) := x + 1\nq := f(1)\ng(x) := 2\np if { q with f as g }',
    'f(x) := x + 1\nq := f(1)\np if { q with f as abs }',
  ]) {
    assert.equal(compileError(ok), undefined, ok);
  }
  // The replacement runs: a well-typed mock is used.
  const e = new Engine();
  e.addPolicy('t.rego', 'package t\nmock(x) := "M"\np := y if { y := upper("a") with upper as mock }\n');
  assert.equal(e.evalRule('data.t.p'), 'M');
});

// check.go checkRule/nestedObject and env.go mergeTypes: a head with variables after its ground prefix is an
// object per variable part; the definitions of one document merge (objects without constant keys key by
// key type, sets member by member), other values unite.
test('documents of ref heads with variables nest objects, and definitions merge as OPA merges them', () => {
  assert.match(compileError('o[x][y] := 1 if { some x, y in {"a": "b"} }\np := upper(o)')!, /have: \(object\[string: object\[string: number\]\], \?\?\?\)/);
  assert.match(compileError('o[x].q := 1 if { some x in ["a"] }\np := upper(o)')!, /have: \(object\[string: object\[string: number\]\], \?\?\?\)/);
  assert.match(compileError('o[x].q := 1 if { some x in ["a"] }\np := upper(o.a.q)')!, /upper: invalid argument\(s\)\n\thave: \(number, \?\?\?\)/);
  assert.match(
    compileError('o[x][y] := 1 if { some x, y in {"a": "b"} }\no[x][y] := "s" if { some x in [1]; y := 2 }\np := upper(o)')!,
    /have: \(object\[any<number, string>: object\[any<number, string>: any<number, string>\]\], \?\?\?\)/,
  );
  assert.match(compileError('s contains 1 if input.a\ns contains "a" if input.b\np := upper(s)')!, /have: \(set\[any<number, string>\], \?\?\?\)/);
  assert.match(compileError('o[k] := 1 if some k in ["a"]\no[k] := "s" if some k in [1]\np := upper(o)')!, /have: \(object\[any<number, string>: any<number, string>\], \?\?\?\)/);
  assert.match(compileError('q := {"a": 1} if input.x\nq := {"b": "s"} if input.y\np := upper(q)')!, /have: \(any<object<a: number>, object<b: string>>, \?\?\?\)/);
  for (const ok of ['o[x][y] := 1 if { some x, y in {"a": "b"} }\np := abs(o.a.b)', 'o[x].q := 1 if { some x in ["a"] }\np := count(o)']) {
    assert.equal(compileError(ok), undefined, ok);
  }
  const e = new Engine();
  e.addPolicy('t.rego', 'package t\no[x][y] := 1 if { some x, y in {"a": "b"} }\np := abs(o.a.b)\n');
  assert.equal(e.evalRule('data.t.p'), 1);
});

// env.go getRefRecExtent: a package's document lists its functions too, each with its function type
// (types.Function, printed `(number) => number`). A function type meets nothing but a function (check.go
// unifies, unifiesAny: not even `any`), and unites with nothing else (types.Or gives an unknown type), so
// the package document fits no built-in argument that looks inside it; a reference that arrives at the
// function without calling it is refused (checkApply).
test('a package holding functions: the functions are in its document with their function types', () => {
  const T = 'package t\na.b := 1\nf(x) := x + 1';
  const OBJ = 'object<a: object<b: number>[string: any], f: (number) => number>[string: any]';
  assert.equal(modulesError(T, 'package u\np := count(data.t)'), `m1.rego:2: rego_type_error: count: invalid argument(s)\n\thave: (${OBJ}, ???)\n\t${COUNT_WANT}`);
  assert.equal(modulesError(T, 'package u\np if { x := data.t; x.f }'), 'm1.rego:2: rego_type_error: undefined ref: x.f\n\tx.f\n\t^^^\n\thave: (number) => number');
  assert.equal(modulesError(T, 'package u\np if { x := data.t; y := x.f }'), 'm1.rego:2: rego_type_error: undefined ref: x.f\n\tx.f\n\t^^^\n\thave: (number) => number', 'one error, not a match error as well');
  assert.equal(modulesError(T, 'package u\np if { x := data.t; x.f.g }'), 'm1.rego:2: rego_type_error: undefined ref: x.f.g\n\tx.f.g\n\t^^^\n\thave: (number) => number');
  assert.match(modulesError(T, 'package u\np := object.keys(data.t)')!, /object\.keys: invalid argument\(s\)\n\thave: \(object<a: [^]*f: \(number\) => number>\[string: any\], \?\?\?\)/);
  // The function's type is what its definitions infer: two definitions unite argument by argument.
  assert.match(modulesError('package t\nf(x) := x + 1\nf(x) := upper(x)', 'package u\np := upper(data.t)')!, /have: \(object<f: \(any<number, string>\) => any<number, string>>\[string: any\], \?\?\?\)/);
  for (const ok of [
    'package u\np := json.marshal(data.t)', // any takes the object
    'package u\np if { data.t == {} }', // equal(any, any)
    'package u\np if { x := data.t; x.a.b == 1 }',
    'package u\np if { x := data.t; abs(x.a.b) }',
    'package u\np if { some k, v in data.t; upper(v) }', // number or function: unknown, then any with base data
    'package u\np if { x := data.t; x[_] }',
    'package u\np := data.t.f(1)',
  ]) {
    assert.equal(modulesError(T, ok), undefined, ok);
  }
  // Evaluation agrees: the package's document has no function in it.
  const e = new Engine();
  e.addPolicy('t.rego', `${T}\n`);
  e.addPolicy('u.rego', 'package u\np := json.marshal(data.t)\n');
  assert.equal(e.evalRule('data.u.p'), '{"a":{"b":1}}');
});

// check_test.go TestFunctionsTypeInference, case by case: which modules OPA refuses.
test('OPA\'s function inference cases: pattern parameters, functions referred to without a call', () => {
  const base = [
    'package base',
    'foo([a, b]) = y if { split(a, b, y) }',
    'bar(x) = y if { count(x, y) }',
    'baz([x, y]) = z if { sprintf("%s%s", [x, y], z) }',
    'qux({"bar": x, "foo": y}) = {a: b} if { upper(y, a); json.unmarshal(x, b) }',
    'corge(x) = y if { qux({"bar": x, "foo": x}, a); baz([a["{5: true}"], "BUZ"], y) }',
  ].join('\n');
  const cases: Array<[string, boolean]> = [
    ['fn(_) = y if { data.base.foo(["hello", 5], y) }', true],
    ['fn(_) = y if { data.base.foo(["hello", "ll"], y) }', false],
    ['fn(_) = y if { data.base.baz(["hello", "ll"], y) }', false],
    ['fn(_) = y if { data.base.baz([5, ["foo", "bar", true]], y) }', false],
    ['fn(_) = y if { data.base.baz(["hello", {"a": "b", "c": 3}], y) }', false],
    ['fn(_) = y if { data.base.corge("this is not json", y) }', false],
    ['fn(x) = y if { y = [x] }', false],
    ['f(x) = y if { [x] = y }', false],
    ['fn(x) = y if { y = {"k": x} }', false],
    ['f(x) = y if { {"k": x} = y }', false],
    ['p if { [data.base.foo] }', true],
    ['p if { x = data.base.foo }', true],
    ['p if { data.base.foo(data.base.bar) }', true],
  ];
  for (const [body, refused] of cases) {
    const err = modulesError(base, `package test\n${body}`);
    assert.equal(err !== undefined, refused, `${body}: ${err}`);
    if (err !== undefined) assert.match(err, /rego_type_error/, body);
  }
});

// check.go checkRule: a function's parameters are typed after its body, the untyped variables of a
// pattern as any, and the function type built from the patterns (`f({"a": x})` takes object<a: any>) and
// the value typed after them; a call's arguments unify with those types as a builtin's do (unify1Object:
// same number of keys unless the type has dynamic ones, every constant key found).
test('object and array patterns as parameters: the parameter has the pattern\'s type', () => {
  assert.equal(compileError('f({"a": x}) := x\np := f({"b": 1})'), 't.rego:3: rego_type_error: data.t.f: invalid argument(s)\n\thave: (object<b: number>, ???)\n\twant: (object<a: any>, any)');
  assert.equal(compileError('f({"a": x}) := x\np := f(1)'), 't.rego:3: rego_type_error: data.t.f: invalid argument(s)\n\thave: (number, ???)\n\twant: (object<a: any>, any)');
  assert.match(compileError('f({"a": x}) := x\np := f({"a": 1, "b": 2})')!, /have: \(object<a: number, b: number>, \?\?\?\)\n\twant: \(object<a: any>, any\)/, 'a key the pattern does not have');
  assert.match(compileError('f({"a": x, "b": [y]}) := x\np := f({"a": 1, "b": 2})')!, /want: \(object<a: any, b: array<any>>, any\)/);
  assert.match(compileError('f([x, {"k": y}]) := y\np := f([1, {"j": "s"}])')!, /have: \(array<number, object<j: string>>, \?\?\?\)\n\twant: \(array<any, object<k: any>>, any\)/);
  assert.match(compileError('f({"a": x}) := y if { y := x + 1 }\np := f({"a": "s"})')!, /have: \(object<a: string>, \?\?\?\)\n\twant: \(object<a: number>, number\)/, 'the body types the pattern\'s variables');
  assert.match(compileError('f({"a": x}) := y if { y := x }\np := f({"b": 1})')!, /want: \(object<a: any>, any\)/);
  // The value is typed once the parameters are: `[x]` is array<any>.
  assert.match(compileError('f(x) := [x]\np := upper(f(1))')!, /upper: invalid argument\(s\)\n\thave: \(array<any>, \?\?\?\)/);
  for (const ok of [
    'f({"a": x}) := x\np := f({"a": 1})',
    'f({"a": x}) := x\np := upper(f({"a": 1}))', // the value is any
    'f({"a": x}) := x\np := f(input)',
    'f({"a": x}) := x\np := f({"a": input.x})',
    'f({k: x}) := x\np := f({"b": 1})', // a key that is a variable is no constant key
    'f([a, b]) := a\np := f([1, "s"])',
  ]) {
    assert.equal(compileError(ok), undefined, ok);
  }
  const e = new Engine();
  e.addPolicy('t.rego', 'package t\nf({"a": x, "b": [y]}) := [x, y]\np := f({"a": 1, "b": ["s"]})\n');
  assert.deepEqual(e.evalRule('data.t.p'), [1, 's']);
});

// check.go CheckBody checks each expression of a body (WalkExprs stops at the expression) and walks the
// references of all of it (the reference checker descends into `every`). OPA's compiler first assigns an
// `every`'s domain to a variable of its own, in the enclosing body (RewriteExprTerms). So: the domain is
// checked as any unification is; in the body no call and no unification is checked and the key and value
// are never typed, but every reference is checked against the enclosing body's types, and comprehensions
// in it are checked in full (checkClosures).
test('every: the domain is checked, the body for its references and comprehensions only', () => {
  assert.equal(compileError('p if { every x in upper(1) { true } }'), 't.rego:2: rego_type_error: upper: invalid argument(s)\n\thave: (number, ???)\n\twant: (x: string, y: string)');
  assert.equal(compileError('q := 1\np if { every x in [1] { q.r } }'), 't.rego:3: rego_type_error: undefined ref: data.t.q.r\n\tdata.t.q.r\n\t^^^^^^^^\n\thave: number');
  assert.equal(compileError('p if { y := 1; every x in [1] { y.foo } }'), 't.rego:2: rego_type_error: undefined ref: y.foo\n\ty.foo\n\t^\n\thave: number');
  assert.equal(
    compileError('p if { y := {"a": 1}; every x in [1] { y.b == x } }'),
    't.rego:2: rego_type_error: undefined ref: y.b\n\ty.b\n\t  ^\n\t  have: "b"\n\t  want (one of): ["a"]',
  );
  assert.equal(compileError('f(x) := 1\np if { every x in [1] { g := f } }'), 't.rego:3: rego_type_error: undefined ref: data.t.f\n\tdata.t.f\n\t^^^^^^^^\n\thave: (any) => number');
  assert.match(compileError('p if { every x in [1] { count([z | z := upper(1)]) > 0 } }')!, /^t\.rego:2: rego_type_error: upper: invalid argument\(s\)/);
  assert.match(compileError('p if { every x in [1] {\n  every y in [2] {\n    y.z\n    [w | w := abs("s")]\n  }\n} }')!, /^t\.rego:5: rego_type_error: abs: invalid argument\(s\)\n\thave: \(string, \?\?\?\)/, 'nested every bodies too');
  for (const ok of [
    'p if { every x in [1] { upper(1) } }', // no call in the body is checked
    'p if { every x in ["a"] { abs(x) } }',
    'p if { every x in [1] { x = "a" } }', // nor a unification
    'p if { every k, v in {"a": 1} { upper(v); abs(k) } }', // the key and value are not typed
    'p if { every x in [{"a": 1}] { x.b } }',
    'p if { every x in [1] { y := {"a": 1}; y.b } }', // a local of the body is never typed
    'p if { every x in [1] { not upper(1) } }',
    'p if { every x in [1] { every y in upper(1) { true } } }', // an inner domain is in the outer body
    'p if { y := {"a": 1}; every x in [1] { y[x] } }',
    'p if { every x in 1 { true } }', // any domain
    'p if { every x in [1] { upper(1) with input as 1 } }',
    'p if { y := {"a": 1}; z := [1]; every x in [1] { y[z[0]] } }', // z[0] is moved into a variable the body never types
    'p if { y := {"a": 1}; every x in [1] { y[count([])] } }',
  ]) {
    assert.equal(compileError(ok), undefined, ok);
  }
  // What compiles evaluates: the body fails at run time instead, and the every with it.
  const e = new Engine();
  e.addPolicy('t.rego', 'package t\np if { every x in [1] { x.b } }\nq if { every x in [] { upper(1) } }\n');
  assert.equal(e.evalRule('data.t.p'), undefined);
  assert.equal(e.evalRule('data.t.q'), true);
});

// compile.go RewriteExprTerms (expandExprRef): a reference whose subject is a composite, a comprehension or
// a call is checked as a reference to a variable holding that value, and printed so: `[1][0].foo` is
// `__local0__[0].foo`. OPA's one generator numbers the variables of the whole compilation, the declared
// ones first (arguments, `:=` targets, `some` names, `some … in` bindings and their key, `every` key and
// value), then the expression terms (nested calls, `every` domains, such subjects); a query has its own
// (`__localq0__`).
test('references with a literal, comprehension or call subject are checked, printed with OPA\'s variable', () => {
  assert.equal(compileError('p if { [1][0].foo }'), 't.rego:2: rego_type_error: undefined ref: __local0__[0].foo\n\t__local0__[0].foo\n\t^^^^^^^^^^^^^\n\thave: number');
  assert.equal(compileError('p := split("a.b", ".")[0].foo'), 't.rego:2: rego_type_error: undefined ref: __local0__[0].foo\n\t__local0__[0].foo\n\t^^^^^^^^^^^^^\n\thave: string');
  assert.equal(
    compileError('p if { {"a": 1}.b }'),
    't.rego:2: rego_type_error: undefined ref: __local0__.b\n\t__local0__.b\n\t           ^\n\t           have: "b"\n\t           want (one of): ["a"]',
  );
  assert.match(compileError('p if { [x | x := 1][0].foo }')!, /undefined ref: __local1__\[0\]\.foo\n[^]*have: number$/, 'the comprehension\'s own variable first');
  assert.match(compileError('p if { x := 1; [1][0].foo }')!, /undefined ref: __local1__\[0\]\.foo/, 'declared variables are numbered first');
  assert.match(compileError('p if { x := count([1]); [1][0].foo }')!, /undefined ref: __local2__\[0\]\.foo/, 'x, then the nested call, in body order');
  assert.match(compileError('p if { [1][0].foo; x := count([1]) }')!, /undefined ref: __local1__\[0\]\.foo/, 'x first, then the terms in body order');
  assert.match(compileError('p if { some x in [1, 2]; [1][0].foo }')!, /undefined ref: __local4__\[0\]\.foo/, 'some … in: its key and two bindings, then its collection');
  assert.match(compileError('f(a, b) := 1\np if { every x in [1] { true }; {"a": 1}.b }')!, /undefined ref: __local5__\.b/, 'arguments, every key and value, every domain');
  // A call as a key: its value's variable, typed as the call's result.
  assert.equal(
    compileError('p if { y := {"a": 1}; y[count([])] }'),
    't.rego:2: rego_type_error: undefined ref: y[__local1__]\n\ty[__local1__]\n\t  ^\n\t  have (type): number\n\t  want (one of): ["a"]',
  );
  assert.match(compileError('p[input.x] := 1 if { [1][0].foo }')!, /undefined ref: __local1__\[0\]\.foo/, 'a head reference part first');
  assert.match(compileError('p if { print(1, 2); [1][0].foo }')!, /undefined ref: __local2__\[0\]\.foo/, 'one variable per print argument');
  assert.match(compileError('p if { x := [y | y := 1; print(y)]; [1][0].foo }')!, /undefined ref: __local3__\[0\]\.foo/);
  // Modules are numbered in name order, rule by rule.
  assert.match(modulesError('package t\np if { x := 1; y := 2 }', 'package u\nq := [1][0].foo')!, /m1\.rego:2: rego_type_error: undefined ref: __local2__\[0\]\.foo/);
  // Queries have a generator of their own.
  const e = new Engine();
  e.addPolicy('t.rego', 'package t\np := 1\n');
  assert.throws(() => e.evalQuery('x := 1; split("a", ".")[0].foo'), (x: unknown) => x instanceof CocoError && /undefined ref: __localq1__\[0\]\.foo\n\t__localq1__\[0\]\.foo\n\t\^{14}\n\thave: string/.test(x.message));
  for (const ok of [
    'p := [1, 2][0] + 1',
    'p := split("a.b", ".")[1]',
    'p := {"a": {"b": 1}}.a.b',
    'p := [x | some x in [1]][0]',
    'p := {"a": 1}[k] if some k in ["a"]',
    'p := {1, 2}[1]',
    'p := upper(split("a.b", ".")[0])',
    'p := json.unmarshal("{}").a.b', // any
  ]) {
    assert.equal(compileError(ok), undefined, ok);
  }
});

// Any module the parser takes, however its references, comprehensions, `some … in`, `every` and calls are
// nested, compiles or is refused with a compile error: the checker and the numbering of OPA's variables
// never fail on their own.
test('random nestings of subjects, comprehensions, iterations and calls: a verdict, never a crash', () => {
  const atom = fc.constantFrom('1', '"s"', 'x', 'input.a', '[1, "a"]', '{"a": 1}', '{1}', 'count([1])', 'split("a.b", ".")', 'data.t.q', '[y | some y in [1]]', '{k: 1 | some k in ["a"]}');
  const key = fc.constantFrom('[0]', '.a', '[_]', '[x]', '[count([])]', '["a"]', '.foo');
  const subject = fc.tuple(atom, fc.array(key, { maxLength: 3 })).map(([a, ks]) => `${a}${ks.join('')}`);
  const stmt = fc.oneof(
    subject,
    subject.map((s) => `z := ${s}`),
    subject.map((s) => `some w in ${s}`),
    subject.map((s) => `every v in ${s} { v == ${s} }`),
    subject.map((s) => `upper(${s})`),
    fc.tuple(subject, subject).map(([a, b]) => `${a} = ${b}`),
    subject.map((s) => `print(${s})`),
    subject.map((s) => `upper(${s}) with input as ${s}`),
    subject.map((s) => `not ${s}`),
  );
  fc.assert(
    fc.property(fc.array(stmt, { minLength: 1, maxLength: 4 }), fc.boolean(), (stmts, fn) => {
      const head = fn ? 'f(x) := 1 if' : 'p if';
      const src = `q := {"a": [1]}\n${head} {\n  x := 1\n  ${stmts.join('\n  ')}\n}`;
      const e = new Engine();
      try {
        e.addPolicy('t.rego', `package t\n${src}\n`);
        e.prepare();
      } catch (err) {
        assert.ok(err instanceof CocoError, `${src}\n${String(err)}`);
        assert.match(err.message, /rego_(parse|type|compile|unsafe_var|recursion)_error/, src);
      }
    }),
    { numRuns: Number(process.env.TYPECHECK_RUNS ?? 300) },
  );
});

// check.go checkRefLeaf: a composite key is a pattern unified with the keys' type (unify1); when it cannot
// be, the error shows the key's type and the keys' type, never the keys an object lists. Cases of
// check_test.go TestCheckRefErrInvalid ("composite ref operand", "composite ref type error 1-3").
test('a composite key that cannot be one of the keys is an undefined ref with both types', () => {
  const invalid = (ref: string, pad: number, have: string, want: string): string =>
    `t.rego:2: rego_type_error: undefined ref: ${ref}\n\t${ref}\n\t${' '.repeat(pad)}^\n\t${' '.repeat(pad)}have (type): ${have}\n\t${' '.repeat(pad)}want (type): ${want}`;
  assert.equal(compileError('p if { a := {[1], [2], [3]}; a[["foo"]] }'), invalid('a[["foo"]]', 2, 'array<string>', 'array<number>'));
  assert.equal(compileError('p if { a := {{"a": 2}}; a[{"a": "foo"}] }'), invalid('a[{"a": "foo"}]', 2, 'object<a: string>', 'object<a: number>'));
  assert.equal(compileError('p if { a := [1, 2, 3]; a[{}] = b }'), invalid('a[{}]', 2, 'object[any: any]', 'number'));
  assert.equal(compileError('p if { x := {"a": 1}; y := 2; x[[1, y]] }'), invalid('x[[1, y]]', 2, 'array<number, number>', 'string'), 'a pattern with variables is printed as written');
  assert.equal(
    compileError('q := {"foo": 1, "bar": 2}\np if { data.t.q[[1, 2]] }'),
    't.rego:3: rego_type_error: undefined ref: data.t.q[[1, 2]]\n\tdata.t.q[[1, 2]]\n\t         ^\n\t         have (type): array<number, number>\n\t         want (type): string',
  );
  for (const ok of ['p if { a := {[1], [2]}; a[[1]] }', 'p if { a := {{"a": 2}}; a[{"a": 3}] }', 'p if { a := {[1, "s"]}; y := 1; a[[y, "t"]] }', 'p if { input.x[[1, 2]] }', 'p if { a := {{1}}; a[{2}] }']) {
    assert.equal(compileError(ok), undefined, ok);
  }
});

// check_test.go TestCheckMatchErrors and TestCheckBuiltinErrors: each query has exactly one type error.
test('OPA\'s match and builtin error cases: exactly one error each', () => {
  const e = new Engine();
  e.addPolicy('t.rego', 'package test\np := "foo"\nf(x) := x\n');
  for (const q of [
    'null = true', 'true = null', '1 = null', '"hello" = null', '[1,2,3] = null', '[1,2,3] = [1,2,"3"]', '[1,2] = [1,2,3]',
    '[ true | true ] = [x | a = [1, "foo"]; x = a[_]]', '{"a": 1, "b": 2} = null', '{"a": 1, "b": "2"} = {"a": 1, "b": 2}',
    '{"a": 1} = {"a": 1, "b": "2"}', '{1,2,3} = null', 'x = ["str", 1]; x[_] = null',
    'plus(true, 1, x)', 'x = [null]; plus(x[0], 1, y)', 'sum([null | true], x)', 'sum([1,2,"3",4], x)', 'contains([1,2,3], "x")',
    'sum({"a": 1, "b": 2}, x)', 'sum({1,2,"3",4}, x)', 'plus(data.test.p, data.coffee, 0)',
  ]) {
    assert.throws(() => e.evalQuery(q), (x: unknown) => x instanceof CocoError && /^query:1: rego_type_error: /.test(x.message), q);
  }
  // A comprehension passed straight to a builtin is typed as it is through a variable.
  assert.throws(() => e.evalQuery('sum([null | true], x)'), (x: unknown) => x instanceof CocoError && /sum: invalid argument\(s\)\n\thave: \(array\[null\], \?\?\?\)/.test(x.message));
  assert.equal(compileError('p := sum([x | some x in [1]])'), undefined);
});

// compile.go RewriteDynamicTerms: a reference used as a key of another (or as a call's argument) is moved
// into a variable of its own just before type checking, after RewriteExprTerms and the stages that move
// comprehension terms, head values and `with` values holding references. The outer reference is checked
// with that variable typed as the inner reference's value (check_test.go "bad non-leaf ref", "bad leaf
// ref": position, types and names as there) and printed with its name.
test('a reference as a key of another: checked as OPA\'s variable for its value, printed with its name', () => {
  const e = new Engine();
  e.addPolicy('t.rego', 'package test\np if true\nq := {"foo": 1, "bar": 2}\na.b.c[3] := x if { x := {"x": {"y": 2}} }\n');
  const refused = (query: string, message: string): void =>
    assert.throws(() => e.evalQuery(query), (x: unknown) => x instanceof CocoError && x.message === message, query);
  refused('arr = [1]; data.test[arr[0]]', 'query:1: rego_type_error: undefined ref: data.test[__localq0__]\n\tdata.test[__localq0__]\n\t          ^\n\t          have (type): number\n\t          want (one of): ["a" "p" "q"]');
  refused('arr = [1]; data.test.q[arr[0]]', 'query:1: rego_type_error: undefined ref: data.test.q[__localq0__]\n\tdata.test.q[__localq0__]\n\t            ^\n\t            have (type): number\n\t            want (one of): ["bar" "foo"]');
  assert.equal(
    compileError('p if { x := {"a": 1}; y := [1]; x[y[0]] }'),
    't.rego:2: rego_type_error: undefined ref: x[__local2__]\n\tx[__local2__]\n\t  ^\n\t  have (type): number\n\t  want (one of): ["a"]',
  );
  // References passed to calls are numbered too, in body order, after every earlier stage's variables.
  assert.match(compileError('p if { x := {"a": 1}; count(input.z); y := [1]; x[y[0]] }')!, /undefined ref: x\[__local3__\]/);
  assert.match(compileError('q := input.a\np if { x := {"a": 1}; y := [1]; x[y[0]] }')!, /undefined ref: x\[__local3__\]/, 'a head value holding a reference');
  assert.match(compileError('p if { x := {"a": 1}; y := [1]; x[y[0]]; z := [w.v | some w in input] }')!, /undefined ref: x\[__local7__\]/, 'x, y, the some … in three, z; the comprehension term holding a reference');
  for (const ok of ['p if { x := {"a": 1}; y := ["a"]; x[y[0]] }', 'p if { x := [1]; y := [0]; x[y[0]] }', 'p if { data.test[input.k] }', 'p if { x := {"a": 1}; x[input.k] }']) {
    assert.equal(compileError(ok), undefined, ok);
  }
  assert.deepEqual(e.evalQuery('arr = ["q"]; x := data.test[arr[0]].foo').result?.[0]?.bindings, { arr: ['q'], x: 1 });
});

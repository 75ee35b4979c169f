import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CocoError } from '../errors.js';
import { Engine } from './index.js';
import { checkedBuiltins } from './typecheck.js';

// OPA refuses a module whose built-in call can never type-check (docs/policy-language.md "Type Checking",
// opa:v1/ast/check.go), before any evaluation, with rego_type_error.

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

test('a built-in call with literal arguments of the wrong type is a rego_type_error at compile time', () => {
  assert.equal(
    compileError('p := count(1)'),
    't.rego:2: rego_type_error: count: invalid argument(s)\n\thave: (number)\n\twant: (any<array[any], object[any: any], set[any], string>)',
  );
  assert.match(compileError('p if { concat(",", [1, "a"]) == "1,a" }')!, /rego_type_error: concat: invalid argument\(s\)\n\thave: \(string, array<number, string>\)\n\twant: \(string, any<array\[string\], set\[string\]>\)/);
  assert.match(compileError('p := sprintf("%v", {"a"})')!, /have: \(string, set\[string\]\)\n\twant: \(string, array\[any\]\)/);
  assert.match(compileError('p := object.get("o", "a", 0)')!, /object\.get: invalid argument\(s\)/);
  assert.match(compileError('p { upper(1) }', true)!, /rego_type_error: upper/, 'v0 modules are checked too');
  // Right types, or types only known at run time, compile.
  assert.equal(compileError('p := count("abc")'), undefined);
  assert.equal(compileError('p := concat(",", {"a", "b"})'), undefined);
  assert.equal(compileError('p := upper(input.x)'), undefined);
  assert.equal(compileError('p := count([x | some x in input])'), undefined);
  assert.equal(compileError('f(x) := upper(x)\np := f(1)'), undefined, 'user function arguments are not typed');
});

test('every builtin with a declared signature is checked, static array and object types included', () => {
  assert.match(compileError('p := crypto.hmac.sha256(1, "k")')!, /crypto\.hmac\.sha256: invalid argument\(s\)\n\thave: \(number, string\)\n\twant: \(string, string\)/);
  assert.match(compileError('p := bits.and("1", 2)')!, /bits\.and: invalid argument/);
  assert.match(compileError('p := json.patch({}, [1])')!, /want: \(any, array\[object<op: string, path: any>\[any: any\]\]\)/);
  assert.match(compileError('p := time.clock([1, 2])')!, /time\.clock: invalid argument\(s\)\n\thave: \(array<number, number>\)\n\twant: \(any<array<number, string>, number>\)/);
  assert.match(compileError('p := strings.any_prefix_match(1, "a")')!, /strings\.any_prefix_match: invalid argument/);
  assert.equal(compileError('p := time.clock([1, "UTC"])'), undefined);
  assert.equal(compileError('p := json.patch({}, [{"op": "add", "path": "/a", "value": 1}])'), undefined);
  assert.equal(compileError('p := bits.and(input.a, 2)'), undefined);
});

// The checker may only refuse what the builtin itself would refuse: for random literal arguments, a call the
// checker rejects fails at run time with an eval_type_error when the same values arrive through input.
const literal: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  scalar: fc.oneof(fc.constant(null), fc.boolean(), fc.integer({ min: -5, max: 5 }), fc.constantFrom('a', 'b,c', '1', '')),
  value: fc.oneof({ weight: 3, arbitrary: tie('scalar') }, fc.array(tie('scalar'), { maxLength: 3 }), fc.dictionary(fc.constantFrom('a', 'b'), tie('scalar'), { maxKeys: 2 })),
})).value;
const CALLS: Array<[string, number]> = [
  ['count', 1], ['sum', 1], ['max', 1], ['sort', 1], ['upper', 1], ['startswith', 2], ['split', 2], ['concat', 2], ['replace', 3],
  ['substring', 3], ['sprintf', 2], ['format_int', 2], ['to_number', 1], ['abs', 1], ['numbers.range', 2], ['json.unmarshal', 1],
  ['base64.encode', 1], ['regex.match', 2], ['array.concat', 2], ['array.slice', 3], ['object.get', 3], ['object.keys', 1],
  ['object.remove', 2], ['strings.replace_n', 2], ['indexof', 2], ['trim', 2],
];

test('the compile-time check refuses only calls that fail with a type error at run time', () => {
  fc.assert(
    fc.property(fc.constantFrom(...CALLS), fc.array(literal, { minLength: 3, maxLength: 3 }), ([name, arity], values) => {
      const args = values.slice(0, arity);
      const text = `p := ${name}(${args.map((a) => JSON.stringify(a)).join(', ')})`;
      const err = compileError(text);
      if (err === undefined) return;
      assert.match(err, new RegExp(`rego_type_error: ${name.replace('.', '\\.')}: invalid argument`));
      const e = new Engine({ strict: true });
      e.addPolicy('t.rego', `package t\np := ${name}(${args.map((_, i) => `input[${i}]`).join(', ')})\n`);
      e.setInput(args);
      assert.throws(() => e.evalRule('data.t.p'), (x: unknown) => x instanceof CocoError && /eval_type_error/.test(x.message), text);
    }),
    { numRuns: 400 },
  );
});

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
]);

test('every declared signature refuses only calls that also fail at run time', () => {
  const failed: string[] = [];
  for (const [name, arity] of checkedBuiltins()) {
    if (ANSWER_ANY_TYPE.has(name)) continue;
    const r = fc.check(
      fc.property(fc.array(literal, { minLength: arity, maxLength: arity }), (args) => {
        const text = `p := ${name}(${args.map((a) => JSON.stringify(a)).join(', ')})`;
        const err = compileError(text);
        // deprecated builtins are refused in v1 modules whatever their arguments
        if (err === undefined || !err.includes(`rego_type_error: ${name}: invalid argument`)) return;
        const e = new Engine({ strict: true });
        e.addPolicy('t.rego', `package t\np := ${name}(${args.map((_, i) => `input[${i}]`).join(', ')})\n`);
        e.setInput(args);
        // a type error, or a builtin error when an earlier argument is already rejected by its content
        assert.throws(() => e.evalRule('data.t.p'), (x: unknown) => x instanceof CocoError && /eval_(type|builtin)_error/.test(x.message), text);
      }),
      { numRuns: Number(process.env.TYPECHECK_RUNS ?? 25) },
    );
    if (r.failed) failed.push(`${name}: ${String(r.errorInstance).split('\n')[0]} ${JSON.stringify(r.counterexample)}`);
  }
  assert.deepEqual(failed, []);
});

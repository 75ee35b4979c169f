import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CocoError } from '../errors.js';
import { Engine } from './index.js';
import type { CompileError } from './compiler.js';

function compileErrors(text: string, opts: { strictCompile?: boolean; v0?: boolean } = {}): CompileError[] {
  const e = new Engine({ strictCompile: opts.strictCompile });
  e.addPolicy('test-0.rego', text, { regoVersion: opts.v0 ? 'v0' : 'v1' });
  try {
    e.prepare();
    return [];
  } catch (err) {
    assert.ok(err instanceof CocoError);
    return (err.detail as { errors: CompileError[] }).errors;
  }
}

// Messages as listed in specs/rego.md §2.11 (opa:docs/docs/errors, opa:v1/ast/compile.go).
test('strict mode reports unused assignments, arguments and imports', () => {
  assert.deepEqual(
    compileErrors('package p\np if {\n\tx := 1\n\ttrue\n}', { strictCompile: true }).map((e) => [e.code, e.row, e.message]),
    [['rego_compile_error', 3, 'assigned var x unused']],
  );
  assert.match(compileErrors('package p\nf(x) := 1', { strictCompile: true })[0]!.message, /^unused argument x\. \(hint: use _ \(wildcard variable\) instead\)$/);
  assert.equal(compileErrors('package p\nimport data.foo\np := 1', { strictCompile: true })[0]!.message, 'import data.foo unused');
  assert.deepEqual(compileErrors('package p\nimport data.foo\np if {\n\tx := 1\n\tx > 0\n\tfoo\n}\nf(_) := 1\ng(x) := x', { strictCompile: true }), []);
  assert.deepEqual(compileErrors('package p\np if {\n\tx := 1\n\ttrue\n}'), [], 'not strict: no error');
});

test('deprecated builtins are rejected in Rego v1 and allowed in v0', () => {
  const e = compileErrors('package p\np := any([true])');
  assert.equal(e[0]?.code, 'rego_type_error');
  assert.equal(e[0]?.message, 'deprecated built-in function calls in expression: any');
});

test('recursion, conflicting rule kinds and duplicate defaults are compile errors', () => {
  assert.equal(compileErrors('package p\np if q\nq if p')[0]?.code, 'rego_recursion_error');
  assert.equal(compileErrors('package p\nf(x) := f(x)')[0]?.message, 'rule data.p.f is recursive: data.p.f -> data.p.f');
  assert.equal(compileErrors('package p\np := 1\np contains 2')[0]?.message, 'conflicting rules data.p.p found');
  assert.equal(compileErrors('package p\ndefault p := 1\ndefault p := 2')[0]?.message, 'multiple default rules data.p.p found');
  assert.equal(compileErrors('package p\nf(x) := 1\nf(x, y) := 2')[0]?.message, 'conflicting rules data.p.f found');
  assert.equal(compileErrors('package p\ninput := 1')[0]?.message, 'rules must not shadow input (use a different rule name)');
  assert.equal(compileErrors('package p\np if {\n\tx := 1\n\tx := 2\n}')[0]?.message, 'var x assigned above');
});

test('each else body has its own locals: a := declared in the main body may be declared again', () => {
  const engine = new Engine();
  engine.addPolicy(
    'else.rego',
    [
      'package p',
      'f(t) := r if { t == "a"; r := "x" } else := r if { r := t }',
      'g(t) := r if { r := 1; t == "a" } else := r if { r := 2 }',
      'a := f("a")',
      'b := f("b")',
      'c := g("z")',
    ].join('\n'),
  );
  assert.deepEqual([engine.evalRule('data.p.a'), engine.evalRule('data.p.b'), engine.evalRule('data.p.c')], ['x', 'b', 2]);
  // Within one body, a second := of the same name is still an error.
  const twice = new Engine();
  assert.throws(() => {
    twice.addPolicy('twice.rego', 'package q\nh(t) := r if { r := 1; r := t }');
    twice.evalRule('data.q.h');
  }, /var r assigned above/);
});

test('an unsafe variable in a function call argument is reported (the rule tree behind a call is cyclic)', () => {
  // From the fuzz suite: a mutated conformance module (withkeyword) whose `g() := f(x)` has an unbound x.
  assert.deepEqual(
    compileErrors('package test\n\nf(x) := 2\n\ng() := f(x)\n\np := y if y := f(1) with f as g\n').map((e) => [e.code, e.row, e.message]),
    [['rego_unsafe_var_error', 5, 'var x is unsafe']],
  );
});

test('a function head whose argument is a reference, call or comprehension is a compile error, not an internal one', () => {
  for (const [text, what] of [
    ['package test\nf(input.s)\np { f(1) }', 'reference'],
    ['package test\nf([x, data.y]) = x\np { f([1, 2]) }', 'reference'],
    ['package test\ng(x) = x\nf(g(1)) = 1\np { f(1) }', 'call'],
    ['package test\nf([x | x := 1]) = 1\np { f([1]) }', 'comprehension'],
  ] as const) {
    const errs = compileErrors(text, { v0: true });
    assert.deepEqual(
      errs.map((e) => [e.code, e.message]),
      [['rego_compile_error', `function argument must not contain a ${what}`]],
      text,
    );
  }
  assert.deepEqual(compileErrors('package test\nf([x, {"a": y}], 1) = x\np { f([1, {"a": 2}], 1) }', { v0: true }), []);
});

test('long dotted references parse and compile in linear time; over-long rule paths are compile errors', () => {
  const t0 = performance.now();
  assert.deepEqual(
    compileErrors(`package policy\nallow${'x.'.repeat(10_000)}x if { true }`).map((e) => [e.code, e.message]),
    [['rego_compile_error', 'rule path is longer than 256 segments']],
  );
  assert.deepEqual(compileErrors(`package ${'p.'.repeat(300)}q\nallow := 1`).map((e) => e.message), ['package path is longer than 256 segments']);
  const e = new Engine();
  e.addPolicy('p.rego', `package policy\nallow if { input.${'x.'.repeat(20_000)}x == 1 }\nshort${'.y'.repeat(200)} := 2`);
  const p = e.prepare();
  assert.equal(p.evalRule('data.policy.allow', { input: {} }), undefined);
  assert.ok(performance.now() - t0 < 5000, `took ${performance.now() - t0} ms`);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CocoError } from '../errors.js';
import { Engine } from './index.js';

// Language features as the OPA policy-language reference describes them (docs/policy-language.md: "Keywords",
// "Future Keywords", "Template Strings", "Default Keyword", "Unification"), checked on both syntax versions.

function evalRule(modules: Record<string, string>, query: string, opts: { v0?: boolean; input?: unknown; data?: unknown } = {}): unknown {
  const e = new Engine();
  for (const [name, text] of Object.entries(modules)) e.addPolicy(name, text, { regoVersion: opts.v0 ? 'v0' : 'v1' });
  if (opts.data !== undefined) e.addData(opts.data);
  if (opts.input !== undefined) e.setInput(opts.input);
  return e.evalRule(query);
}

test('keywords are plain names after a dot: in package paths, references, rule heads and imports', () => {
  for (const v0 of [false, true]) {
    const assign = v0 ? '=' : ':=';
    assert.equal(evalRule({ 'a.rego': `package foo.as.bar\np ${assign} 1\n` }, 'data.foo.as.bar.p', { v0 }), 1);
    assert.equal(evalRule({ 'a.rego': `package foo.every.contains\np ${assign} 2\n` }, 'data.foo.every.contains.p', { v0 }), 2);
    assert.equal(evalRule({ 'a.rego': `package t\np ${assign} data.x.in\n` }, 'data.t.p', { v0, data: { x: { in: 5 } } }), 5);
    assert.equal(evalRule({ 'a.rego': `package t\np ${assign} input.if.not.some\n` }, 'data.t.p', { v0, input: { if: { not: { some: 'kw' } } } }), 'kw');
    assert.equal(evalRule({ 'a.rego': `package t\nimport data.every.x\np ${assign} x\n` }, 'data.t.p', { v0, data: { every: { x: 7 } } }), 7);
  }
  // Rule heads with keyword parts (v1 ref heads).
  assert.deepEqual(evalRule({ 'a.rego': 'package t\np.if.q := 1\np.else.r := 2\n' }, 'data.t.p'), { if: { q: 1 }, else: { r: 2 } });
  // A keyword package is reachable from another module by the same dotted path.
  assert.equal(evalRule({ 'a.rego': 'package lib.import\nv := 3\n', 'b.rego': 'package t\np := data.lib.import.v\n' }, 'data.t.p'), 3);
});

test('template strings interpolate any expression, as function arguments too, and show undefined parts', () => {
  const m = (body: string) => ({ 't.rego': `package t\n${body}\n` });
  assert.equal(evalRule(m('name := "bob"\np := $"hello {name}, {1 + 2}"'), 'data.t.p'), 'hello bob, 3');
  assert.equal(evalRule(m('p := $"{1 in [1, 2]} {"a" in {"b"}}"'), 'data.t.p'), 'true false');
  assert.equal(evalRule(m('p := upper($"id-{count([1, 2, 3])}")'), 'data.t.p'), 'ID-3');
  assert.equal(evalRule(m('p := concat("/", [$"{x}" | some x in [1, 2]])'), 'data.t.p'), '1/2');
  assert.equal(evalRule(m('p := $"braces \\{kept\\} and {"{}"}"'), 'data.t.p'), 'braces {kept} and {}');
  assert.equal(evalRule(m('p := $`line one\nline {1 + 1}\n\\t raw`'), 'data.t.p'), 'line one\nline 2\n\\t raw');
  assert.equal(evalRule(m('p := $"user={input.user} role={input.role}"'), 'data.t.p', { input: { user: 'u' } }), 'user=u role=<undefined>');
  assert.equal(evalRule(m('p := $"{[1, "a", {"k": null}]}"'), 'data.t.p'), '[1, "a", {"k": null}]');
  // Template strings exist in v0 modules only with rego.v1 semantics; in v1 they are always on.
  assert.equal(evalRule({ 't.rego': 'package t\nimport rego.v1\np := $"v{1}"\n' }, 'data.t.p', { v0: true }), 'v1');
});

test('import future.keywords.every in a v0 module also enables in', () => {
  const policy = 'package t\nimport future.keywords.every\np {\n\t1 in [1, 2]\n\tevery x in input.xs { x > 0 }\n}\n';
  assert.equal(evalRule({ 't.rego': policy }, 'data.t.p', { v0: true, input: { xs: [1, 2] } }), true);
  assert.equal(evalRule({ 't.rego': policy }, 'data.t.p', { v0: true, input: { xs: [1, -2] } }), undefined);
  // Without the import `in` is an ordinary name in v0, so the same body does not parse.
  assert.throws(() => evalRule({ 't.rego': 'package t\np {\n\t1 in [1]\n}\n' }, 'data.t.p', { v0: true }), (e: unknown) => e instanceof CocoError && /rego_parse_error/.test(e.message));
});

test('a default rule may take a comprehension, or a composite holding one, as its value', () => {
  const m = (body: string) => ({ 't.rego': `package t\n${body}\n` });
  assert.deepEqual(evalRule(m('default p := [x | some x in [3, 1]]'), 'data.t.p'), [3, 1]);
  assert.deepEqual(evalRule(m('default p := {"ids": {x | some x in input.ids}, "n": 1}'), 'data.t.p', { input: { ids: ['b', 'a', 'b'] } }), { ids: ['a', 'b'], n: 1 });
  assert.deepEqual(evalRule(m('default p := {k: v | some k, v in {"a": 1}}\np := {"b": 2} if input.b'), 'data.t.p', { input: { b: true } }), { b: 2 });
  assert.deepEqual(evalRule({ 't.rego': 'package t\ndefault p = [x | x := input.xs[_]]\n' }, 'data.t.p', { v0: true, input: { xs: [1] } }), [1]);
  // A free variable outside a comprehension is still refused.
  assert.throws(() => evalRule(m('default p := [y]'), 'data.t.p'), (e: unknown) => e instanceof CocoError && /default rule value cannot contain variables/.test(e.message));
});

test('unifying composites with references on both sides binds the variables without unsafe-var errors', () => {
  const m = (body: string) => ({ 't.rego': `package t\n${body}\n` });
  const data = { arr: [1, 2], obj: { a: 9, b: { c: 'deep' } }, pairs: [[1, 'one'], [2, 'two']] };
  assert.deepEqual(evalRule(m('p := [x, y] if { [x, y] = data.arr }'), 'data.t.p', { data }), [1, 2]);
  assert.equal(evalRule(m('p := x if { {"a": x} = {"a": data.obj.a} }'), 'data.t.p', { data }), 9);
  assert.equal(evalRule(m('p := z if { {"a": _, "b": {"c": z}} = data.obj }'), 'data.t.p', { data }), 'deep');
  assert.deepEqual(evalRule(m('p := [x, z] if { [x, {"b": z}] = [input.a, input.obj] }'), 'data.t.p', { input: { a: 1, obj: { b: 2 } } }), [1, 2]);
  assert.equal(evalRule(m('p := x if { [x, input.a] = [data.arr[0], 1] }'), 'data.t.p', { data, input: { a: 1 } }), 1);
  assert.deepEqual(evalRule(m('p contains name if { [2, name] = data.pairs[_] }'), 'data.t.p', { data }), ['two']);
  assert.equal(evalRule(m('p := x if { [x, 2] = data.arr; [1, x] = data.arr }'), 'data.t.p', { data }), undefined);
  assert.equal(evalRule({ 't.rego': 'package t\np = x { [x, y] = data.arr; y == 2 }\n' }, 'data.t.p', { v0: true, data }), 1);
  // The pairs of one unification bind each other in whatever order works, as OPA's unifier takes them.
  assert.deepEqual(evalRule(m('p := [x, y] if [x, y] = [y, 1]'), 'data.t.p'), [1, 1]);
  assert.deepEqual(evalRule(m('p := [x, y, z] if [x, y, z] = [y, z, input.n]'), 'data.t.p', { input: { n: 7 } }), [7, 7, 7]);
  assert.deepEqual(evalRule(m('p := [x, y] if [[x], y] = [[y], 2]'), 'data.t.p'), [2, 2]);
  assert.equal(evalRule(m('p := x if {"a": x, "b": y} = {"a": y, "b": 3}'), 'data.t.p'), 3);
  assert.deepEqual(evalRule(m('p := [x, y, z] if [[x, 1], z] = [[y, y], x]'), 'data.t.p'), [1, 1, 1]);
  assert.equal(evalRule(m('p := [x, y] if [x, [y, 2]] = [y, [3, x]]'), 'data.t.p'), undefined);
  // Variables that only meet each other stay unsafe.
  assert.throws(() => evalRule(m('p := [x, y] if [x, y] = [y, x]'), 'data.t.p'), (e: unknown) => e instanceof CocoError && /rego_unsafe_var_error: var [xy] is unsafe/.test(e.message));
});

test('number literals beyond double range keep their text and compute exactly', () => {
  const mod = {
    'a.rego': `package t
s := sprintf("hi %v", [2e308])
j := json.marshal([2e308, -1.5e400])
bigger if 2e308 > 1e308
sum_ok if 2e308 + 1 - 1 == 2e308
twice := sprintf("%d", [2e308 * 0 + 7])
`,
  };
  assert.equal(evalRule(mod, 'data.t.s'), 'hi 2e308');
  assert.equal(evalRule(mod, 'data.t.j'), '[2e308,-1.5e400]');
  assert.equal(evalRule(mod, 'data.t.bigger'), true);
  assert.equal(evalRule(mod, 'data.t.sum_ok'), true);
  assert.equal(evalRule(mod, 'data.t.twice'), '7');
});

test('a rule named like a builtin or operator shadows it within its package, as OPA resolves names', () => {
  const m = (body: string) => ({ 't.rego': `package t\n${body}\n` });
  const typeError = (text: string) => (e: unknown) => e instanceof CocoError && e.message.includes(`rego_type_error: ${text}`);
  // OPA's compiler resolves an operator's name like any other: a rule of the package wins, and a rule that is not a
  // function has arity 0 (opa issue "shadowing built-in functions with rules breaks in hard to understand ways").
  assert.throws(() => evalRule(m('gt if 2 > 1'), 'data.t.gt'), typeError('function data.t.gt has arity 0, got 2 arguments'));
  assert.throws(() => evalRule(m('plus := 3\nq := 1 + 2'), 'data.t.q'), typeError('function data.t.plus has arity 0, got 2 arguments'));
  assert.throws(() => evalRule(m('equal := 1\nq if 1 == 1'), 'data.t.q'), typeError('function data.t.equal has arity 0, got 2 arguments'));
  assert.throws(() => evalRule(m('eq := 1\nq if { x = 1; x > 0 }'), 'data.t.q'), typeError('function data.t.eq has arity 0, got 2 arguments'));
  assert.throws(() => evalRule(m('assign := 1\nq if { x := 1; x > 0 }'), 'data.t.q'), typeError('function data.t.assign has arity 0, got 2 arguments'));
  assert.throws(() => evalRule(m('count if true\np := count([])'), 'data.t.p'), typeError('function data.t.count has arity 0, got 1 argument'));
  // As a whole expression a call may take one output more than the arity: then the rule is no function at all.
  assert.throws(() => evalRule(m('count if true\np if count([])'), 'data.t.p'), typeError('undefined function data.t.count'));
  // A rule that is not called is fine, and so is one with the builtin's name in another package.
  assert.equal(evalRule(m('plus := 3\ndouble := plus * 2'), 'data.t.double'), 6);
  assert.equal(evalRule({ 'a.rego': 'package a\ngt := "mine"\n', 'b.rego': 'package b\nq if 2 > 1\n' }, 'data.b.q'), true);
  // A function of the operator's arity takes the operator's place.
  const fn = m('gt(a, b) := a < b\nq if 1 > 2\nr if 2 > 1\neq(a, b) if a == b + 1\ns if 3 = 2\nu if 3 = 3');
  assert.deepEqual(['q', 'r', 's', 'u'].map((r) => evalRule(fn, `data.t.${r}`)), [true, undefined, true, undefined]);
  // A local variable named like a builtin does not reach the package's callers.
  assert.equal(evalRule(m('p := n if { count := 2; n := count + 1 }\nq := count([1])'), 'data.t.q'), 1);
});

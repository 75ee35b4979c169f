import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CocoError } from '../errors.js';
import { Engine } from './index.js';

function evalP(policy: string, input?: unknown): unknown {
  const e = new Engine();
  e.addPolicy('t.rego', 'package t\n' + policy);
  if (input !== undefined) e.setInput(input);
  return e.evalRule('data.t.p');
}

// Template strings follow opa:v1/topdown/template_string.go: operands are collected like print's
// (strings raw, other values in Rego syntax, nothing → "<undefined>"), more than one result is a conflict.
test('template strings render strings raw and other values in Rego syntax', () => {
  assert.equal(evalP('p := $"{input.s} {input.n} {input.a} {input.missing}"', { s: 'x', n: 1.5, a: ['b', { k: null }] }), 'x 1.5 ["b", {"k": null}] <undefined>');
  assert.equal(evalP('p := $"a \\{b\\} { {"k": "}"}.k }"'), 'a {b} }');
  assert.equal(evalP('p := $`multi\nline {count([1, 2])}`'), 'multi\nline 2');
});

test('a template expression with several values is an eval_conflict_error', () => {
  assert.throws(
    () => evalP('p := $"{input.xs[_]}"', { xs: [1, 2] }),
    (e: unknown) => e instanceof CocoError && e.code === 'REGO_EVAL_CONFLICT' && /template-strings must not produce multiple outputs/.test(e.message),
  );
});

test('print gathers file:row: text lines, one per combination of operand values', () => {
  const e = new Engine();
  e.addPolicy('t.rego', 'package t\np if {\n\tprint("v", input.xs[_], input.none)\n}');
  e.setInput({ xs: [2, 1] });
  assert.equal(e.evalRule('data.t.p'), true);
  assert.deepEqual(e.takePrints(), ['t.rego:3: v 1 <undefined>', 't.rego:3: v 2 <undefined>']);
});

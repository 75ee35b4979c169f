import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { CocoError } from '../errors.js';
import { vectorPath } from '../test-support/vectors.js';
import { loadSuite } from './conformance.js';
import { Engine } from './index.js';

/** Runs `f`; any failure must be a CocoError (never a crash, a RangeError or a plain Error). */
function onlyCocoErrors(f: () => void): void {
  try {
    f();
  } catch (e) {
    if (!(e instanceof CocoError)) assert.fail(`not a CocoError: ${(e as Error)?.stack ?? String(e)}`);
  }
}

function evalAll(text: string, version: 'v0' | 'v1'): void {
  const e = new Engine({ maxSteps: 200_000 });
  e.addPolicy('fuzz.rego', text, { regoVersion: version });
  e.setInput({ a: [1, 2, { b: 'c' }], x: 1 });
  e.queryRows('x = data', version);
}

const modules = loadSuite(vectorPath('rego', 'opa-conformance'))
  .flatMap(({ c, version }) => (c.modules ?? []).map((m) => ({ m, version })))
  .filter((_, i) => i % 7 === 0);
const trustee = readFileSync(vectorPath('rego', 'trustee', 'as-ear-default', 'ear_default_policy_cpu.rego'), 'utf8');

test('parser and evaluator reject random text with CocoErrors only', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 200 }), fc.boolean(), (s, v0) => onlyCocoErrors(() => evalAll(s, v0 ? 'v0' : 'v1'))),
    { numRuns: 300 },
  );
  fc.assert(
    fc.property(fc.string({ maxLength: 200 }), (s) => onlyCocoErrors(() => evalAll('package p\n' + s, 'v1'))),
    { numRuns: 300 },
  );
});

test('truncated and mutated conformance modules fail with CocoErrors only and never hang', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: modules.length - 1 }),
      fc.nat(),
      fc.constantFrom('', '{', '}', '[', ']', '(', ')', ' := ', ' = ', '\n', ' not ', ' some ', ' with ', '|', '"', '_', 'x', '1', 'data.p', 'input'),
      fc.boolean(),
      (mi, pos, ins, truncate) => {
        const { m, version } = modules[mi]!;
        const at = pos % (m.length + 1);
        const text = truncate ? m.slice(0, at) : m.slice(0, at) + ins + m.slice(at + 1);
        onlyCocoErrors(() => evalAll(text, version));
      },
    ),
    { numRuns: 400 },
  );
});

test('a mutated Trustee policy fails with CocoErrors only', () => {
  fc.assert(
    fc.property(fc.nat(), fc.constantFrom('', '{', '}', ' if ', ':=', 'else', '[_]', '\n'), (pos, ins) => {
      const at = pos % trustee.length;
      onlyCocoErrors(() => {
        const e = new Engine({ maxSteps: 200_000 });
        e.addPolicy('cpu.rego', trustee.slice(0, at) + ins + trustee.slice(at + 1));
        e.addBuiltin({ name: 'query_reference_value', arity: 1, fn: () => [1, 'a'] });
        e.setInput({ sample: { launch_digest: 'a', svn: 1 } });
        e.evalRule('data.policy');
      });
    }),
    { numRuns: 150 },
  );
});

test('deep recursion and runaway iteration end in CocoErrors (REGO_LIMIT or a recursion error)', () => {
  const f = new Engine();
  f.addPolicy('f.rego', 'package r\nf(n) := y if { y := f(n + 1) }\np := f(0)');
  assert.throws(() => f.evalRule('data.r.p'), (err: unknown) => err instanceof CocoError && err.code === 'REGO_COMPILE' && /rego_recursion_error/.test(err.message));
  const e = new Engine({ maxSteps: 100_000 });
  e.addPolicy('r.rego', 'package r\nq contains x if { some a in numbers.range(1, 100); some b in numbers.range(1, 100); some c in numbers.range(1, 100); x := [a, b, c] }');
  assert.throws(() => e.evalRule('data.r.q'), (err: unknown) => err instanceof CocoError && err.code === 'REGO_LIMIT');
  const r = new Engine();
  r.addPolicy('r.rego', 'package r\np if q\nq if p');
  assert.throws(() => r.evalRule('data.r.p'), (err: unknown) => err instanceof CocoError);
});

test('chained iterations inside one expression meet the step bound (found by the fuzz campaign)', () => {
  const e = new Engine({ maxSteps: 100_000 });
  e.addPolicy('p.rego', `package policy\nallow if {\n  ${Array(17).fill('input.a[_]').join(' == ')} == 2\n}\n`);
  e.setInput({ a: [1, 2, { b: 'c' }] });
  const t0 = performance.now();
  assert.throws(() => e.queryRows('x = data'), (err: unknown) => err instanceof CocoError && err.kind === 'limit' && /exceeded 100000 steps/.test(err.message));
  assert.ok(performance.now() - t0 < 5000, `took ${performance.now() - t0} ms`);
});

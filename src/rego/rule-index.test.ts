import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CocoError } from '../errors.js';
import { BUILTINS } from './builtins/index.js';
import { Compiler } from './compiler.js';
import { Evaluator } from './evaluator.js';
import { Engine } from './index.js';
import { parseModule, parseQuery } from './parser.js';
import { type Value, RObject, fromJson, toJs, toRegoString } from './value.js';

function compile(text: string): Compiler {
  const c = new Compiler(BUILTINS, false);
  c.compile([parseModule(text, 'p.rego', { version: 'v1' })]);
  return c;
}

interface Outcome {
  rows: unknown[];
  skipped: number;
}

/** Runs `query` and returns the values of `x` per row (or the error code), with or without the rule index. */
function run(c: Compiler, query: string, input: Value | undefined, ruleIndex: boolean): Outcome | string {
  const ev = new Evaluator(c.root, { input, data: new RObject(), strict: false, prints: undefined, now: () => 0n, random: () => 0.5, env: {}, ruleIndex });
  try {
    const rows = ev.query(c.compileQuery(parseQuery(query, { version: 'v1' }), [], query));
    return { rows: rows.map((r) => (r.has('x') ? toJs(r.get('x')!) : '<unbound>')), skipped: ev.bodiesSkipped };
  } catch (e) {
    if (e instanceof CocoError) return e.code;
    throw e;
  }
}

function same(c: Compiler, query: string, input: Value | undefined): Outcome | string {
  const on = run(c, query, input, true);
  const off = run(c, query, input, false);
  assert.deepEqual(typeof on === 'string' ? on : on.rows, typeof off === 'string' ? off : off.rows, `${query} with input ${input === undefined ? 'undefined' : toRegoString(input)}`);
  if (typeof off !== 'string') assert.equal(off.skipped, 0);
  return on;
}

const KINDS = ['K0', 'K1', 'K2', 'K3'];

/** Complete, else-chained, default, partial set, partial object and function rules, all guarded on input. */
function generatedPolicy(n: number): string {
  const lines = ['package p', 'default allow := false'];
  for (let i = 0; i < n; i++) {
    const kind = KINDS[i % KINDS.length]!;
    lines.push(`allow if { input.kind == "${kind}"; input.n == ${i % 3}; input.spec.level >= ${i % 2} }`);
    lines.push(`kinds contains ${i} if { "${kind}" = input.kind; input.spec.flag == ${i % 2 === 0} }`);
    lines.push(`byname["${kind}-${i % 2}"] := ${i % 3} if { input.n = ${i % 3}.0; input.kind = "${kind}" }`);
    lines.push(`level := "L${i}" if { input.spec.level == ${i} } else := "M${i}" if { input.n == ${i} }`);
    lines.push(`f(y) := ${i} if { input.kind == "${kind}"; y == ${i} }`);
  }
  return lines.join('\n');
}

const arbInput = fc.oneof(
  fc.record(
    {
      kind: fc.constantFrom(...KINDS, 'other', 1),
      n: fc.constantFrom(0, 1, 2, 1.0, 2.5, '1'),
      spec: fc.oneof(fc.record({ level: fc.integer({ min: -1, max: 8 }), flag: fc.boolean() }, { requiredKeys: [] }), fc.constant('x'), fc.constant(null)),
    },
    { requiredKeys: [] },
  ),
  fc.constant('not an object'),
  fc.constant(undefined),
);

test('rule index: generated policies give the same results with and without the index over random inputs', () => {
  const c = compile(generatedPolicy(12));
  const queries = ['x := data.p.allow', 'x := data.p.kinds', 'x := data.p.byname', 'x := data.p.level', 'x := data.p.f(3)', 'x := data.p.f(4)', 'x := data.p'];
  let skipped = 0;
  fc.assert(
    fc.property(arbInput, (json) => {
      const input = json === undefined ? undefined : fromJson(json);
      for (const q of queries) {
        const r = same(c, q, input);
        if (typeof r !== 'string') skipped += r.skipped;
      }
    }),
    { numRuns: 150 },
  );
  assert.ok(skipped > 0, 'the index never skipped a body');
});

test('rule index: only the matching body of 200 runs, and the result is the same as without the index', () => {
  const rules = ['package p', 'default allow := false'];
  for (let i = 0; i < 200; i++) rules.push(`allow if { input.kind == "K${i}"; input.ok == true }`);
  const c = compile(rules.join('\n'));
  const input = fromJson({ kind: 'K137', ok: true });
  const on = run(c, 'x := data.p.allow', input, true);
  const off = run(c, 'x := data.p.allow', input, false);
  // Every body gives `true`, so the bodies after the one that succeeds are not tried at all (OPA's early exit).
  assert.deepEqual(on, { rows: [true], skipped: 137 });
  assert.deepEqual(off, { rows: [true], skipped: 0 });
});

test('rule index: `with input as` in a query changes which bodies run', () => {
  const c = compile('package p\nr := "a" if input.kind == "A"\nr := "b" if input.kind == "B"\ns contains input.kind if input.kind == "B"');
  const input = fromJson({ kind: 'A' });
  assert.deepEqual(same(c, 'x := data.p.r', input), { rows: ['a'], skipped: 1 });
  assert.deepEqual(same(c, 'x := data.p.r with input as {"kind": "B"}', input), { rows: ['b'], skipped: 1 });
  assert.deepEqual(same(c, 'x := data.p.r with input.kind as "C"', input), { rows: [], skipped: 2 });
  assert.deepEqual(same(c, 'y := data.p.r; x := data.p.s with input as {"kind": "B"}', input), { rows: [['B']], skipped: 1 });
});

test('rule index: a with inside the body only changes its own literal, so later guards still see the body input', () => {
  const c = compile('package p\ninner if input.kind == "B"\nr if { inner with input as {"kind": "B"}; input.kind == "A" }');
  assert.deepEqual(same(c, 'x := data.p.r', fromJson({ kind: 'A' })), { rows: [true], skipped: 0 });
  assert.deepEqual(same(c, 'x := data.p.r', fromJson({ kind: 'B' })), { rows: [], skipped: 1 });
});

test('rule index: numbers compare as Rego numbers (1 == 1.0, big integers)', () => {
  const c = compile('package p\nr := "int" if input.n == 1\nr := "float" if input.m = 2.0\nr := "big" if 18446744073709551616 == input.b');
  assert.deepEqual(same(c, 'x := data.p.r', fromJson({ n: 1.0 })), { rows: ['int'], skipped: 2 });
  assert.deepEqual(same(c, 'x := data.p.r', new RObject().set('m', 2n)), { rows: ['float'], skipped: 2 });
  assert.deepEqual(same(c, 'x := data.p.r', new RObject().set('b', 18446744073709551616n)), { rows: ['big'], skipped: 2 });
  assert.deepEqual(same(c, 'x := data.p.r', fromJson({ n: '1' })), { rows: [], skipped: 3 });
});

test('rule index: undefined and non-object input documents fail the guard; set membership and array indices as refs do', () => {
  const c = compile('package p\nr := 1 if input.a.b == "x"\nr := 2 if input.s.y == "y"\nr := 3 if input.l[1] == "z"\nr := 4 if input == {"k": [1]}');
  assert.deepEqual(same(c, 'x := data.p.r', undefined), { rows: [], skipped: 4 });
  assert.deepEqual(same(c, 'x := data.p.r', fromJson('text')), { rows: [], skipped: 4 });
  assert.deepEqual(same(c, 'x := data.p.r', fromJson({ a: 'b' })), { rows: [], skipped: 4 });
  assert.deepEqual(same(c, 'x := data.p.r', fromJson({ a: { b: 'x' } })), { rows: [1], skipped: 3 });
  assert.deepEqual(same(c, 'x := data.p.r', fromJson({ s: 'y' })), { rows: [], skipped: 4 });
  assert.deepEqual(same(c, 'x := data.p.r', parseInputTerm('{"s": {"y"}}')), { rows: [2], skipped: 3 });
  assert.deepEqual(same(c, 'x := data.p.r', fromJson({ l: ['y', 'z'] })), { rows: [3], skipped: 3 });
  assert.deepEqual(same(c, 'x := data.p.r', fromJson({ k: [1.0] })), { rows: [4], skipped: 3 });
});

function parseInputTerm(text: string): Value {
  const e = new Engine();
  return e.prepare().queryRows(`x := ${text}`)[0]!.get('x')!;
}

test('rule index: negated literals, literals with `with` and refs with variables are not guards', () => {
  const c = compile('package p\ng := input.kind\nr := 1 if not input.kind == "A"\nr := 2 if { g == "B" with input.kind as "B"; input.kind == "A" }\nr := 3 if { some k; input[k] == "Q" }');
  assert.deepEqual(same(c, 'x := data.p.r', fromJson({ kind: 'A' })), { rows: [2], skipped: 0 });
  assert.deepEqual(same(c, 'x := data.p.r', fromJson({ kind: 'C' })), { rows: [1], skipped: 1 });
  assert.deepEqual(same(c, 'x := data.p.r', fromJson({ z: 'Q' })), 'REGO_EVAL_CONFLICT', 'bodies 1 and 3 both ran');
});

test('rule index: explain reports a skipped body as failed at its indexed literal with the operand value', () => {
  const e = new Engine();
  e.addPolicy('p.rego', 'package p\nallow if { input.user == "admin"; input.kind == "A" }\nallow if { input.kind == "B" }\nallow if { input.user == "admin"; input.kind == "C" }');
  e.setInput({ user: 'bob', kind: 'C' });
  const ex = e.explain('data.p.allow');
  assert.equal(ex.defined, false);
  // Bodies 1 and 2 are skipped by the index and explained as failing at their guard, with the input value it
  // read; body 3 can match, runs, and fails at its first literal.
  assert.deepEqual(
    ex.bodies.map((b) => [b.location.row, b.succeeded, b.failed?.text.replace(/\s*}$/, ''), b.failed?.operands]),
    [
      [2, false, 'input.kind == "A"', { 'input.kind': 'C', 'input.kind == "A"': false }],
      [3, false, 'input.kind == "B"', { 'input.kind': 'C', 'input.kind == "B"': false }],
      [4, false, 'input.user == "admin"', { 'input.user': 'bob', 'input.user == "admin"': false }],
    ],
  );
});

test('rule index: a `with equal as …` mock turns off guards that call equal, keeping unification guards', () => {
  const c = compile('package p\nr contains 1 if input.k == "a"\nr contains 2 if input.k == "b"\nr contains 3 if input.k = "c"\nyes(_, _) := true');
  const input = fromJson({ k: 'a' });
  assert.deepEqual(same(c, 'x := data.p.r', input), { rows: [[1]], skipped: 2 });
  assert.deepEqual(same(c, 'x := data.p.r with equal as data.p.yes', input), { rows: [[1, 2]], skipped: 1 });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CocoError } from '../errors.js';
import { BUILTINS } from './builtins/index.js';
import { Compiler } from './compiler.js';
import { Evaluator } from './evaluator.js';
import { Engine, type TraceEvent, filterTrace, prettyTrace, traceJson } from './index.js';
import { parseModule, parseQuery } from './parser.js';
import { RObject } from './value.js';

// Trace events as opa's tracer reports them (opa:v1/topdown/trace.go, eval.go, lineage). The expected texts of
// the first tests are those opa's own trace tests (v1/topdown/trace_test.go) hold for the same policies.

function traced(policies: Record<string, string>, query: string, opts: { data?: unknown; input?: unknown } = {}): { events: TraceEvent[]; result: unknown } {
  const engine = new Engine();
  for (const [file, text] of Object.entries(policies)) engine.addPolicy(file, text);
  if (opts.data !== undefined) engine.addData(opts.data as Record<string, unknown>);
  if (opts.input !== undefined) engine.setInput(opts.input);
  const events: TraceEvent[] = [];
  const result = engine.evalQuery(query, 'v1', undefined, events).result;
  return { events, result };
}

const SMALL = `package test

\tp if { q[x]; plus(x, 1, n) }
\tq contains x if { x = data.a[_] }`;

test('a rule over a partial set: Index, Enter, Exit, Redo and the early exit, as opa prints them with locations', () => {
  // The module has no file name, so its locations print as the query's do (opa's test compiles it so too).
  const { events } = traced({ '': SMALL }, 'data.test.p = _', { data: { a: [1, 2, 3, 4] } });
  assert.equal(
    prettyTrace(filterTrace(events, 'full')),
    `query:1     Enter data.test.p = _
query:1     | Eval data.test.p = _
query:1     | Index data.test.p (matched 1 rule, early exit)
query:3     | Enter data.test.p
query:3     | | Eval data.test.q[x]
query:3     | | Index data.test.q (matched 1 rule)
query:4     | | Enter data.test.q
query:4     | | | Eval x = data.a[_]
query:4     | | | Exit data.test.q
query:4     | | Redo data.test.q
query:4     | | | Redo x = data.a[_]
query:4     | | | Exit data.test.q
query:4     | | Redo data.test.q
query:4     | | | Redo x = data.a[_]
query:4     | | | Exit data.test.q
query:4     | | Redo data.test.q
query:4     | | | Redo x = data.a[_]
query:4     | | | Exit data.test.q
query:4     | | Redo data.test.q
query:4     | | | Redo x = data.a[_]
query:3     | | Eval plus(x, 1, n)
query:3     | | Exit data.test.p early
query:1     | Exit data.test.p = _
query:1     Redo data.test.p = _
query:1     | Redo data.test.p = _
query:3     | Redo data.test.p
query:3     | | Redo plus(x, 1, n)
query:3     | | Redo data.test.q[x]
`,
  );
});

test('long file names are shortened in the location column around their common directories', () => {
  const dir = 'authz_bundle/com/foo/bar/baz/qux/acme/corp/internal/authz/policies';
  const { events } = traced(
    {
      [`${dir}/abac/v1/beta/policy.rego`]: 'package test\n\n\t\timport data.utils.q\n\n\t\tp = true if { q[x]; plus(x, 1, n) }\n\t\t',
      [`${dir}/utils/utils.rego`]: 'package utils\n\n\t\tq contains x if { x = data.a[_] }\n\t\t',
    },
    'data.test.p = _',
    { data: { a: [1, 2, 3, 4] } },
  );
  const text = prettyTrace(events);
  const pad = (loc: string) => loc.padEnd(69);
  const p5 = pad('authz_bundle/...ternal/authz/policies/abac/v1/beta/policy.rego:5');
  const u3 = pad('authz_bundle/...ternal/authz/policies/utils/utils.rego:3');
  const q1 = pad('query:1');
  assert.deepEqual(text.split('\n').slice(0, 10), [
    `${q1}Enter data.test.p = _`,
    `${q1}| Eval data.test.p = _`,
    `${q1}| Index data.test.p (matched 1 rule, early exit)`,
    `${p5}| Enter data.test.p`,
    `${p5}| | Eval data.utils.q[x]`,
    `${p5}| | Index data.utils.q (matched 1 rule)`,
    `${u3}| | Enter data.utils.q`,
    `${u3}| | | Eval x = data.a[_]`,
    `${u3}| | | Exit data.utils.q`,
    `${u3}| | Redo data.utils.q`,
  ]);
  assert.equal(text.split('\n').at(-2), `${p5}| | Redo data.utils.q[x]`);
});

const FAILING = 'package example\n\nallow if {\n\n\tinput.foo\n\tinput.bar\n}\n';

test('a failing rule body: the full trace, and fails keeps the chain of queries to each Fail', () => {
  const { events, result } = traced({ 'policy.rego': FAILING }, 'data.example.allow', { input: { foo: 1 } });
  assert.deepEqual(result, []);
  // opa's release notes show this trace for the policy before its index learned to skip undefined refs.
  assert.equal(
    prettyTrace(filterTrace(events, 'full')),
    `query:1           Enter data.example.allow = _
query:1           | Eval data.example.allow = _
query:1           | Index data.example.allow (matched 1 rule, early exit)
policy.rego:3     | Enter data.example.allow
policy.rego:5     | | Eval input.foo
policy.rego:6     | | Eval input.bar
policy.rego:6     | | Fail input.bar
policy.rego:5     | | Redo input.foo
query:1           | Fail data.example.allow = _
`,
  );
  // lineage.Fails: each Fail after the Enter/Redo events of its query and their parents, the map reset after.
  assert.equal(
    prettyTrace(filterTrace(events, 'fails')),
    `query:1           Enter data.example.allow = _
policy.rego:3     | Enter data.example.allow
policy.rego:6     | | Fail input.bar
query:1           | Fail data.example.allow = _
`,
  );
  assert.deepEqual(filterTrace(events, 'notes'), []);
});

test('two bodies: the first fails, the second exits early and is redone when the query backtracks', () => {
  // A reference that is a call's argument is moved into a variable of its own (RewriteDynamicTerms), as opa's
  // traces show it (`Eval __local0__ = input.user.target_user_id` then `Eval neq(__local0__, "")`).
  const { events } = traced({ '': 'package test\n\np if {\n\tinput.x > 1\n}\n\np if {\n\tinput.x < 1\n}\n' }, 'data.test.p', { input: { x: 0 } });
  assert.equal(
    prettyTrace(events),
    `query:1     Enter data.test.p = _
query:1     | Eval data.test.p = _
query:1     | Index data.test.p (matched 2 rules, early exit)
query:3     | Enter data.test.p
query:4     | | Eval __local0__ = input.x
query:4     | | Eval gt(__local0__, 1)
query:4     | | Fail gt(__local0__, 1)
query:4     | | Redo __local0__ = input.x
query:7     | Enter data.test.p
query:8     | | Eval __local1__ = input.x
query:8     | | Eval lt(__local1__, 1)
query:7     | | Exit data.test.p early
query:1     | Exit data.test.p = _
query:1     Redo data.test.p = _
query:1     | Redo data.test.p = _
query:7     | Redo data.test.p
query:8     | | Redo lt(__local1__, 1)
query:8     | | Redo __local1__ = input.x
`,
  );
  // With the early exit the second body is not tried once the first succeeds.
  const first = traced({ '': 'package test\n\np if {\n\tinput.x > 1\n}\n\np if {\n\tinput.x < 1\n}\n' }, 'data.test.p', { input: { x: 2 } });
  assert.equal(first.events.filter((e) => e.op === 'Enter' && e.node?.kind === 'rule').length, 1);
  // Rules with different values are all tried (no early exit).
  const both = traced({ '': 'package test\n\np := 1 if input.x > 1\n\np := 2 if input.x < 1\n' }, 'data.test.p', { input: { x: 2 } });
  assert.match(prettyTrace(both.events), /Index data\.test\.p \(matched 2 rules\)\n/);
  assert.equal(both.events.filter((e) => e.op === 'Enter' && e.node?.kind === 'rule').length, 2);
});

test('trace(msg) is a Note: notes keeps it with the queries that lead to it, quoted as Go quotes', () => {
  const policy = 'package e\n\nallow if {\n\ttrace("checking \\"owner\\"\\t")\n\tinput.owner == input.user\n}\n';
  const { events } = traced({ 'p.rego': policy }, 'data.e.allow', { input: { owner: 'a', user: 'b' } });
  assert.equal(
    prettyTrace(filterTrace(events, 'notes')),
    `query:1      Enter data.e.allow = _
p.rego:3     | Enter data.e.allow
p.rego:4     | | Note "checking \\"owner\\"\\t"
`,
  );
  const note = events.find((e) => e.op === 'Note')!;
  assert.equal(note.message, 'checking "owner"\t');
  // Without a tracer the builtin just succeeds.
  const engine = new Engine();
  engine.addPolicy('p.rego', policy);
  engine.setInput({ owner: 'a', user: 'a' });
  assert.deepEqual(engine.evalQuery('data.e.allow').result[0]!.expressions[0]!.value, true);
});

test('the JSON explanation has the Go encoding of opa events: field names as declared, AST nodes, locals', () => {
  const { events } = traced({ 'p.rego': 'package e\n\nallow if {\n\tx := input.n\n\ttrace("n")\n\tx > 1\n}\n' }, 'data.e.allow', { input: { n: 2 } });
  const json = traceJson(events) as Array<Record<string, unknown>>;
  assert.deepEqual(Object.keys(json[0]!), ['Node', 'Location', 'Locals', 'LocalMetadata', 'Ref', 'Op', 'Message', 'QueryID', 'ParentID']);
  assert.deepEqual(
    json.map((e) => e['Op']),
    ['Enter', 'Eval', 'Index', 'Enter', 'Eval', 'Eval', 'Note', 'Eval', 'Exit', 'Exit', 'Redo', 'Redo', 'Redo', 'Redo', 'Redo', 'Redo'],
  );
  assert.deepEqual(json[0]!['Location'], { file: '', row: 1, col: 1 });
  assert.equal(json[0]!['QueryID'], 0);
  const index = json[2]!;
  assert.equal(index['Message'], '(matched 1 rule, early exit)');
  assert.deepEqual(index['Ref'], [{ type: 'var', value: 'data' }, { type: 'string', value: 'e' }, { type: 'string', value: 'allow' }]);
  const enter = json[3]!;
  assert.deepEqual([enter['QueryID'], enter['ParentID'], enter['Location']], [1, 0, { file: 'p.rego', row: 3, col: 1 }]);
  const note = json[6]!;
  assert.deepEqual([note['Node'], note['Message'], note['QueryID']], [null, 'n', 1]);
  // `x > 1` evaluated with x bound: the local by the compiler's name (x is declared, __local0__), its written name
  // and declaration in LocalMetadata, and the expression's AST.
  const cmp = json[7]!;
  assert.deepEqual(cmp['Locals'], [{ name: '__local0__', type: 'number', value: 2 }]);
  assert.deepEqual(cmp['LocalMetadata'], { __local0__: { location: { file: 'p.rego', row: 4, col: 2 }, name: 'x' } });
  assert.deepEqual(cmp['Node'], {
    index: 2,
    terms: [{ type: 'ref', value: [{ type: 'var', value: 'gt' }] }, { type: 'var', value: 'x' }, { type: 'number', value: 1 }],
  });
  assert.deepEqual(cmp['Location'], { file: 'p.rego', row: 6, col: 2 });
});

test('function calls are queries of their own: Index and Enter name the function', () => {
  // The call nested in `y := x + 1` is an expression of its own (x is __local0__, y __local1__ to opa's compiler);
  // `g := f(1)` has opa's body `true`, and its head's call is appended to it (__local3__ is g's value).
  const { events, result } = traced({ '': 'package test\n\nf(x) := y if y := x + 1\n\ng := f(1)\n' }, 'data.test.g');
  assert.deepEqual(result, [{ expressions: [{ value: 2, text: 'data.test.g', location: { row: 1, col: 1 } }], bindings: {} }]);
  assert.equal(
    prettyTrace(events),
    `query:1     Enter data.test.g = _
query:1     | Eval data.test.g = _
query:1     | Index data.test.g (matched 1 rule)
query:5     | Enter data.test.g
query:5     | | Eval true
query:5     | | Eval data.test.f(1, __local3__)
query:5     | | Index data.test.f (matched 1 rule)
query:3     | | Enter data.test.f
query:3     | | | Eval plus(x, 1, __local2__)
query:3     | | | Eval y = __local2__
query:3     | | | Exit data.test.f
query:5     | | Exit data.test.g
query:1     | Exit data.test.g = _
query:1     Redo data.test.g = _
query:1     | Redo data.test.g = _
query:5     | Redo data.test.g
query:5     | | Redo data.test.f(1, __local3__)
query:3     | | Redo data.test.f
query:3     | | | Redo y = __local2__
query:3     | | | Redo plus(x, 1, __local2__)
query:5     | | Redo true
`,
  );
  // A second call with the same arguments takes the cached value: Index only, as opa's function cache does.
  const twice = traced({ '': 'package test\n\nf(x) := y if y := x + 1\n\nh if {\n\tf(1) == 2\n\tf(1) == 2\n}\n' }, 'data.test.h');
  assert.deepEqual(
    twice.events.filter((e) => e.ref === 'data.test.f' || e.node?.text === 'data.test.f').map((e) => e.op),
    ['Index', 'Enter', 'Exit', 'Index', 'Redo'],
  );
  // A function whose bodies all give one constant stops at the first that holds.
  const early = traced({ '': 'package test\n\nok(x) if x > 1\n\nok(x) if x > 0\n\nh if ok(2)\n' }, 'data.test.h');
  assert.match(prettyTrace(early.events), /Index data\.test\.ok \(matched 2 rules, early exit\)\n.*Enter data\.test\.ok\n.*Eval gt\(x, 1\)\n.*Exit data\.test\.ok early\n/);
  assert.equal(early.events.filter((e) => e.op === 'Enter' && e.node?.text === 'data.test.ok').length, 1);
});

test('every, comprehensions, negation and with are traced as queries of their own without failing', () => {
  const policy = `package t

all_small if every v in [1, 2] { v < 3 }
squares := [y | some z in [1, 2]; y := z * z]
names := {n | some n in input.names}
counts := {k: count(v) | some k, v in input.groups}
not_admin if not input.role == "admin"
mocked if input.role == "admin" with input.role as "admin"
default d := 7
`;
  const input = { names: ['a', 'b'], groups: { g: [1, 2] }, role: 'user' };
  const { events, result } = traced({ 't.rego': policy }, 'data.t', { input });
  assert.deepEqual((result as Array<{ expressions: Array<{ value: unknown }> }>)[0]!.expressions[0]!.value, {
    all_small: true,
    counts: { g: 2 },
    d: 7,
    mocked: true,
    names: ['a', 'b'],
    not_admin: true,
    squares: [1, 4],
  });
  const text = prettyTrace(events);
  // every as OPA's evalEvery traces it: a query over the domain, the body a query of its own per element.
  assert.match(
    text,
    /\| \| Eval every v in \[1, 2\] \{ lt\(v, 3\) \}\n.*\| \| Enter every v in \[1, 2\] \{ lt\(v, 3\) \}\n.*\| \| \| Eval \[1, 2\]\[_\] = v\n.*\| \| \| Enter lt\(v, 3\)\n.*\| \| \| \| Eval lt\(v, 3\)\n.*\| \| \| \| Exit lt\(v, 3\) early\n.*\| \| \| Redo lt\(v, 3\)\n.*\| \| \| \| Redo lt\(v, 3\)\n.*\| \| \| Redo every v in \[1, 2\] \{ lt\(v, 3\) \}\n.*\| \| \| Redo \[1, 2\]\[_\] = v\n/,
  );
  assert.match(text, /\| \| \| Exit every v in \[1, 2\] \{ lt\(v, 3\) \}\n/);
  assert.match(text, /\| \| Eval not equal\(input\.role, "admin"\)\n.*\| \| Enter equal\(input\.role, "admin"\)\n.*\| \| \| Eval equal\(input\.role, "admin"\)\n.*\| \| \| Fail equal\(input\.role, "admin"\)\n.*\| \| Exit data\.t\.not_admin early\n/);
  // The reference moved out of the call keeps the expression's with modifier, as opa's generated expressions do.
  assert.match(text, /Eval __local19__ = input\.role with input\.role as "admin"\n.*Eval equal\(__local19__, "admin"\) with input\.role as "admin"\n/);
  assert.match(text, /Enter data\.t\.d\n.*\| \| Eval true\n/);
  // An every whose body fails for an element fails in the domain query and in its own.
  const failing = traced({ 't.rego': 'package t\n\nsmall if every v in [1, 5] { v < 3 }\n' }, 'data.t.small');
  assert.match(prettyTrace(failing.events), /\| \| \| Fail every v in \[1, 5\] \{ lt\(v, 3\) \}\n.*\| \| Fail every v in \[1, 5\] \{ lt\(v, 3\) \}\n/);
  // Every query but the top one has a parent that was entered before it.
  const entered = new Set<number>([0]);
  for (const e of events) {
    if (e.op === 'Enter') entered.add(e.queryId);
    assert.ok(entered.has(e.parentId), `parent ${e.parentId} of ${e.op} ${e.node?.text}`);
  }
  // Every event prints on one line.
  assert.equal(text.split('\n').length, events.length + 1);
});

test('random policies: a traced evaluation gives the untraced result, and its events are well formed', () => {
  const exprs = [
    'input.x > 1',
    'input.x == 2',
    'not input.y',
    'some v in input.xs; v > 1',
    'count(input.xs) > 1',
    'f(input.x) == 3',
    'trace("t")',
    'input.x',
    'every v in input.xs { v >= 0 }',
    'count([y | some y in input.xs; y > 1]) > 0',
    'not f(input.x) == 2',
    'input.x == 1 with input.x as 1',
    'g(input.x)',
    's[input.x]',
    'q == 1',
  ];
  const queries = ['data.r.p', 'data.r', 'data.r.s', 'x := data.r.p; y := data.r.q', 'not data.r.p', 'data.r.s[z]'];
  fc.assert(
    fc.property(fc.array(fc.subarray(exprs, { minLength: 1 }), { minLength: 1, maxLength: 4 }), fc.integer({ min: 0, max: 3 }), fc.constantFrom(...queries), (bodies, x, query) => {
      const policy =
        'package r\n\nf(a) := a + 1\n\ng(a) if a > 1\n\ng(a) if a < 1\n\ns contains v if some v in input.xs\n\nq := 1 if input.x > 2\n\nelse := 2\n\ndefault q := 3\n\n' +
        bodies.map((b) => `p if {\n\t${b.join('\n\t')}\n}\n`).join('\n');
      const input = { x, xs: [x, 1, 2] };
      const plain = new Engine();
      plain.addPolicy('r.rego', policy);
      plain.setInput(input);
      const { events, result } = traced({ 'r.rego': policy }, query, { input });
      assert.deepEqual(result, plain.evalQuery(query).result);
      // Every event belongs to a query that was entered, under a parent that was entered before it.
      const entered = new Map<number, number>([[0, 0]]);
      for (const e of events) {
        if (e.op === 'Enter') {
          assert.ok(entered.has(e.parentId) && !entered.has(e.queryId === 0 ? -1 : e.queryId), `${e.queryId} under ${e.parentId}`);
          entered.set(e.queryId, e.parentId);
        } else assert.equal(entered.get(e.queryId), e.parentId, `${e.op} ${e.node?.text ?? ''} in ${e.queryId}`);
      }
      assert.equal(events[0]!.op, 'Enter');
      for (const mode of ['full', 'fails', 'notes'] as const) {
        const kept = filterTrace(events, mode);
        assert.equal(prettyTrace(kept).split('\n').length, kept.length + 1);
      }
      assert.equal(filterTrace(events, 'notes').filter((e) => e.op === 'Note').length, events.filter((e) => e.op === 'Note').length);
      assert.equal(filterTrace(events, 'fails').filter((e) => e.op === 'Fail').length, events.filter((e) => e.op === 'Fail').length);
    }),
    { numRuns: 120 },
  );
});

test('a traced query going on from inside rule evaluations is not nested in them for the depth bound', () => {
  // Twelve rules in a row: the caller's continuation runs inside each rule's Exit, but the rules are not nested.
  const rules = Array.from({ length: 12 }, (_, i) => `r${i} if true`);
  const c = new Compiler(BUILTINS, false);
  c.compile([parseModule(`package p\n${rules.join('\n')}\nall if {\n${rules.map((_, i) => `\tr${i}`).join('\n')}\n}\nnested if r0\n`, 'p.rego', { version: 'v1' })]);
  const run = (query: string, events: TraceEvent[] | undefined, maxDepth: number): unknown => {
    const ev = new Evaluator(c.root, { input: undefined, data: new RObject(), strict: false, prints: undefined, now: () => 0n, random: () => 0.5, env: {}, maxDepth, events });
    try {
      return ev.query(c.compileQuery(parseQuery(query, { version: 'v1' }), [], query)).length;
    } catch (e) {
      if (e instanceof CocoError) return e.code;
      throw e;
    }
  };
  assert.equal(run('data.p.all', undefined, 3), 1);
  const events: TraceEvent[] = [];
  assert.equal(run('data.p.all', events, 3), 1);
  assert.equal(events.filter((e) => e.op === 'Enter' && e.node?.kind === 'rule').length, 13);
  // Real nesting still counts: all → r0 is two deep.
  assert.equal(run('data.p.nested', [], 1), 'REGO_LIMIT');
  assert.equal(run('data.p.nested', undefined, 1), 'REGO_LIMIT');
});

test('or: each side a query of its own that exits early, as opa\'s REPL traces `1 == 2 or 1 == 1`', () => {
  const engine = new Engine({ experimental: true });
  engine.addPolicy('', 'package t\nimport future.keywords.or\np if 1 == 2 or 1 == 1\n');
  const events: TraceEvent[] = [];
  assert.equal(engine.evalQuery('data.t.p', 'v1', undefined, events).result.length, 1);
  // opa's lines for the query `1 == 2 or 1 == 1`, here one query deeper (inside the rule).
  assert.deepEqual(prettyTrace(events).split('\n').slice(4, 13), [
    'query:3     | | Eval equal(1, 2) or equal(1, 1)',
    'query:3     | | Enter equal(1, 2)',
    'query:3     | | | Eval equal(1, 2)',
    'query:3     | | | Fail equal(1, 2)',
    'query:3     | | Enter equal(1, 1)',
    'query:3     | | | Eval equal(1, 1)',
    'query:3     | | | Exit equal(1, 1) early',
    'query:3     | | Redo equal(1, 1)',
    'query:3     | | | Redo equal(1, 1)',
  ]);
});

test('a partial set looked up by a known key: each rule tried for the key, Fail when its key cannot match, Duplicate for a member found again', () => {
  const policy = 'package k\n\nadmins contains "alice"\n\nadmins contains u if some u in input.extra\n';
  const { events, result } = traced({ '': policy }, 'data.k.admins["carol"]', { input: { extra: ['carol', 'carol'] } });
  assert.equal((result as unknown[]).length, 1);
  // (A string key that is a valid name prints as a dotted segment, as OPA prints refs.)
  assert.equal(
    prettyTrace(events),
    `query:1     Enter data.k.admins.carol = _
query:1     | Eval data.k.admins.carol = _
query:1     | Index data.k.admins (matched 2 rules)
query:3     | Enter data.k.admins
query:3     | | Fail data.k.admins
query:5     | Enter data.k.admins
query:5     | | Eval internal.member_2(u, input.extra)
query:5     | | Exit data.k.admins
query:5     | Redo data.k.admins
query:5     | | Redo internal.member_2(u, input.extra)
query:5     | | Exit data.k.admins
query:5     | | Duplicate data.k.admins
query:5     | | Redo internal.member_2(u, input.extra)
query:1     | Exit data.k.admins.carol = _
query:1     Redo data.k.admins.carol = _
query:1     | Redo data.k.admins.carol = _
`,
  );
  // The answer for the key is kept: a second lookup is an Index only. An unknown key iterates the whole set.
  const twice = traced({ '': policy }, 'data.k.admins["carol"]; data.k.admins["carol"]', { input: { extra: ['carol'] } });
  assert.deepEqual(twice.events.filter((e) => e.ref === 'data.k.admins' || e.node?.kind === 'rule').map((e) => e.op), ['Index', 'Enter', 'Fail', 'Enter', 'Exit', 'Redo', 'Index']);
  const all = traced({ '': policy }, 'data.k.admins[x]', { input: { extra: ['carol'] } });
  assert.equal(all.events.filter((e) => e.op === 'Fail' && e.node?.kind === 'rule').length, 0);
  // Objects: the value of the key, and two rules giving it different values are a conflict.
  const roles = 'package k\n\nrole[u] := "admin" if some u in input.admins\n\nrole[u] := "viewer" if some u in input.viewers\n';
  assert.deepEqual(traced({ '': roles }, 'x := data.k.role["a"]', { input: { admins: ['a'], viewers: ['b'] } }).result, [{ expressions: [{ value: true, text: 'x := data.k.role["a"]', location: { row: 1, col: 1 } }], bindings: { x: 'admin' } }]);
  assert.throws(() => traced({ '': roles }, 'data.k.role["a"]', { input: { admins: ['a'], viewers: ['a'] } }), /object keys must be unique/);
});

test('nested calls, references in call arguments and composite subjects are traced as opa\'s compiler rewrites them', () => {
  // opa numbers the variables it generates stage by stage (opa-locals.ts): declared variables (xs 0, y 1), then
  // RewriteExprTerms (count 2; count 3, minus 4 and the subject [1, 2] 5; split 6; the array's count 7), then
  // RewriteDynamicTerms (input.x 8, input.y 9, the reference on split's value 10).
  const policy = `package test

p if {
	xs := [1, 2, 3]
	count(xs) > 2
	input.x > 1
	not input.y == 1
	y := [1, 2][count(xs) - 2]
	split("a.b", ".")[0] == "a"
	[count(xs)] == [3]
}
`;
  const { events, result } = traced({ 'p.rego': policy }, 'data.test.p', { input: { x: 2 } });
  assert.deepEqual(result, [{ expressions: [{ value: true, text: 'data.test.p', location: { row: 1, col: 1 } }], bindings: {} }]);
  const evals = events.filter((e) => e.op === 'Eval' && e.queryId === 1).map((e) => `${e.location!.row}:${e.location!.col} ${e.node!.text}`);
  assert.deepEqual(evals, [
    '4:2 xs = [1, 2, 3]',
    '5:2 count(xs, __local2__)',
    '5:2 gt(__local2__, 2)',
    '6:2 __local8__ = input.x',
    '6:2 gt(__local8__, 1)',
    // A negation is evaluated as written (see README).
    '7:2 not equal(input.y, 1)',
    '8:14 count(xs, __local3__)',
    '8:14 minus(__local3__, 2, __local4__)',
    '8:7 __local5__ = [1, 2]',
    '8:2 y = __local5__[__local4__]',
    '9:2 split("a.b", ".", __local6__)',
    '9:2 __local10__ = __local6__[0]',
    '9:2 equal(__local10__, "a")',
    '10:3 count(xs, __local7__)',
    '10:2 equal([__local7__], [3])',
  ]);
  // Each generated expression is redone in reverse order when the query backtracks.
  const redos = events.filter((e) => e.op === 'Redo' && e.queryId === 1 && e.node?.kind === 'expr').map((e) => e.node!.text);
  assert.deepEqual(redos.slice(0, 3), ['equal([__local7__], [3])', 'count(xs, __local7__)', 'equal(__local10__, "a")']);
});

test('tracing evaluates the rewritten bodies to the same results as untraced evaluation', () => {
  const policy = `package t

a := count([x | some x in input.xs; x > 1]) + 1
b contains y if { some x in input.xs; y := x * 2 + count(input.xs) }
c if { not input.missing > 1 }
d := [sum(input.xs), max(input.xs)][1]
e if { input.ys[count(input.xs) - 1] == "c" }
f := y if { y := upper(input.ys[0]) } else := 0
`;
  fc.assert(
    fc.property(fc.array(fc.integer({ min: -5, max: 5 }), { maxLength: 4 }), fc.array(fc.constantFrom('a', 'b', 'c'), { maxLength: 4 }), (xs, ys) => {
      const input = { xs, ys };
      const engine = new Engine();
      engine.addPolicy('t.rego', policy);
      engine.setInput(input);
      const plain = engine.evalQuery('data.t', 'v1').result;
      const events: TraceEvent[] = [];
      assert.deepEqual(engine.evalQuery('data.t', 'v1', undefined, events).result, plain);
      assert.ok(events.length > 0);
    }),
    { numRuns: 40 },
  );
});

test('a rule\'s head value is computed in its body as opa\'s compiler moves it there', () => {
  // Declared: x (0), f's argument x (1); RewriteExprTerms: p's plus (2), f's count (3) and mul (4), q's call (5);
  // RewriteRefsInHead: name's reference (6); RewriteDynamicTerms: q's argument input.xs (7).
  const policy = `package test

p := x + 1 if {
	x := input.n
}

name := input.metadata.name

f(x) := count(x) * 2
q := f(input.xs)
`;
  const run = (query: string) => {
    const { events, result } = traced({ 'p.rego': policy }, query, { input: { n: 2, metadata: { name: 'a' }, xs: [1] } });
    return { text: prettyTrace(events), value: (result as Array<{ expressions: Array<{ value: unknown }> }>)[0]!.expressions[0]!.value };
  };
  const p = run('data.test.p');
  assert.equal(p.value, 3);
  assert.match(p.text, /p\.rego:3 +\| Enter data\.test\.p\np\.rego:4 +\| \| Eval x = input\.n\np\.rego:3 +\| \| Eval plus\(x, 1, __local2__\)\np\.rego:3 +\| \| Exit data\.test\.p\n/);
  // A rule written without a body has opa's `true` one; a reference value is assigned at its end.
  const name = run('data.test.name');
  assert.equal(name.value, 'a');
  assert.match(name.text, /p\.rego:7 +\| \| Eval true\np\.rego:7 +\| \| Eval __local6__ = input\.metadata\.name\np\.rego:7 +\| \| Exit data\.test\.name\n/);
  const q = run('data.test.q');
  assert.equal(q.value, 2);
  assert.match(
    q.text,
    /\| \| Eval __local7__ = input\.xs\n.*\| \| Eval data\.test\.f\(__local7__, __local5__\)\n.*\| \| Index data\.test\.f \(matched 1 rule\)\n.*\| \| Enter data\.test\.f\n.*\| \| \| Eval true\n.*\| \| \| Eval count\(x, __local3__\)\n.*\| \| \| Eval mul\(__local3__, 2, __local4__\)\n.*\| \| \| Exit data\.test\.f\n/s,
  );
});

test('a query is traced as opa eval compiles it: captured values, their checks, the query compiler\'s variables', () => {
  const policy = { 'p.rego': 'package test\n\np := true\n' };
  // One expression that does not iterate: its value is captured, not checked.
  const one = traced(policy, 'input.x > 1', { input: { x: 2 } });
  assert.equal(
    prettyTrace(one.events),
    `query:1     Enter __localq0__ = input.x; gt(__localq0__, 1, _)
query:1     | Eval __localq0__ = input.x
query:1     | Eval gt(__localq0__, 1, _)
query:1     | Exit __localq0__ = input.x; gt(__localq0__, 1, _)
query:1     Redo __localq0__ = input.x; gt(__localq0__, 1, _)
query:1     | Redo gt(__localq0__, 1, _)
query:1     | Redo __localq0__ = input.x
`,
  );
  assert.deepEqual(one.result, [{ expressions: [{ value: true, text: 'input.x > 1', location: { row: 1, col: 1 } }], bindings: {} }]);
  // Several expressions: each captured value is checked by an expression `_` appended to the query; an
  // assignment captures nothing.
  const several = traced(policy, 'x := input.x; data.test.p', { input: { x: 2 } });
  const lines = prettyTrace(several.events).split('\n');
  assert.equal(lines[0], 'query:1      Enter x = input.x; data.test.p = _; _');
  assert.deepEqual(
    lines.filter((t) => t.startsWith('query:1')).map((t) => t.slice(13)),
    ['Enter x = input.x; data.test.p = _; _', '| Eval x = input.x', '| Eval data.test.p = _', '| Index data.test.p (matched 1 rule, early exit)', '| Eval _', '| Exit x = input.x; data.test.p = _; _', 'Redo x = input.x; data.test.p = _; _', '| Redo _', '| Redo data.test.p = _', '| Redo x = input.x'],
  );
  assert.deepEqual(several.result, [
    {
      expressions: [
        { value: true, text: 'x := input.x', location: { row: 1, col: 1 } },
        { value: true, text: 'data.test.p', location: { row: 1, col: 15 } },
      ],
      bindings: { x: 2 },
    },
  ]);
  // A reference with a variable key iterates: a single expression's value is checked too.
  const iter = traced(policy, 'input.xs[i]', { input: { xs: [1] } });
  assert.equal(iter.events[0]!.node!.text, 'input.xs[i] = _; _');
});

test('JSON Locals list every bound variable of the body by the compiler\'s names, LocalMetadata their written names', () => {
  const policy = 'package test\n\np := x + 1 if {\n\tx := input.n\n\ty = 2\n}\n\nf(a) := a * 2\n\nq := f(3)\n';
  const json = (query: string) => traceJson(traced({ 'p.rego': policy }, query, { input: { n: 2 } }).events) as Array<Record<string, unknown>>;
  const evals = json('data.test.p').filter((e) => e['Op'] === 'Eval' && e['QueryID'] === 1);
  // At `y = 2` x is bound (declared: __local0__), at the head's call y too (not declared: its own name).
  assert.deepEqual(evals[1]!['Locals'], [{ name: '__local0__', type: 'number', value: 2 }]);
  assert.deepEqual(evals[2]!['Locals'], [
    { name: '__local0__', type: 'number', value: 2 },
    { name: 'y', type: 'number', value: 2 },
  ]);
  assert.deepEqual(evals[2]!['LocalMetadata'], {
    __local0__: { location: { file: 'p.rego', row: 4, col: 2 }, name: 'x' },
    y: { location: { file: 'p.rego', row: 5, col: 2 }, name: 'y' },
  });
  // A function's argument is bound when its body is entered (a is __local1__); a generated variable is listed
  // by its own name once bound, where it is generated.
  const fn = json('data.test.q');
  const body = fn.filter((e) => e['QueryID'] === 2 && (e['Op'] === 'Eval' || e['Op'] === 'Redo'));
  assert.deepEqual(body[0]!['LocalMetadata'], { __local1__: { location: { file: 'p.rego', row: 8, col: 3 }, name: 'a' } });
  const redo = body.find((e) => e['Op'] === 'Redo' && JSON.stringify(e['Node']).includes('mul'))!;
  assert.deepEqual(redo['Locals'], [
    { name: '__local1__', type: 'number', value: 3 },
    { name: '__local3__', type: 'number', value: 6 },
  ]);
  assert.deepEqual((redo['LocalMetadata'] as Record<string, unknown>)['__local3__'], { location: { file: 'p.rego', row: 8, col: 9 }, name: '__local3__' });
});

test('a rule or import named by its bare name is a reference: moved out of a call as opa\'s resolved references are', () => {
  const policy = 'package test\n\nimport data.lib.limit\n\nn := 3\n\np if {\n\tn > 1\n\tlimit > n\n}\n\nq if {\n\tn := 5\n\tn > 1\n}\n';
  const { events } = traced({ 'p.rego': policy, 'lib.rego': 'package lib\n\nlimit := 10\n' }, 'data.test.p');
  const evals = events.filter((e) => e.op === 'Eval' && e.queryId === 1).map((e) => e.node!.text);
  // Declared: q's n (0); RewriteDynamicTerms: p's n (1), limit (2) and n (3); a declared n stays a variable.
  assert.deepEqual(evals, ['__local1__ = data.test.n', 'gt(__local1__, 1)', '__local2__ = data.lib.limit', '__local3__ = data.test.n', 'gt(__local2__, __local3__)']);
  const q = traced({ 'p.rego': policy, 'lib.rego': 'package lib\n\nlimit := 10\n' }, 'data.test.q').events;
  assert.deepEqual(
    q.filter((e) => e.op === 'Eval' && e.queryId === 1).map((e) => e.node!.text),
    ['n = 5', 'gt(n, 1)'],
  );
});

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { run } from './program.js';
import { bufferIO } from './io.js';

// `policy conformance` over a suite directory it has never seen: cases written here in the layout and fields of
// OPA's topdown test cases (v1/test/cases/testdata/{v0,v1}/<category>/*.yaml: note, query, modules, data, input,
// input_term, want_result, want_error_code, want_error, strict_error, sort_bindings, env), well-formed and not,
// with files that are not YAML at all. Every case ends as a pass or a failure with a reason; nothing stops the run.
// Notes starting `pass:` must pass, every other case must fail with its reason.

const dir = mkdtempSync(join(tmpdir(), 'cocokit-own-suite-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function write(path: string, text: string | Uint8Array): void {
  mkdirSync(dirname(join(dir, path)), { recursive: true });
  writeFileSync(join(dir, path), text);
}

const indent = (text: string, n: number): string => text.split('\n').map((l) => (l === '' ? l : ' '.repeat(n) + l)).join('\n');
const mod = (text: string): string => `      - |\n${indent(text, 8)}\n`;

write('v1/basics/rules.yaml', `---
cases:
  - note: "pass: complete rule"
    query: data.t.p = x
    modules:
${mod('package t\n\np := 1')}    want_result:
      - x: 1
  - note: "pass: partial set with sorted bindings"
    query: data.t.s = x
    sort_bindings: true
    modules:
${mod('package t\n\ns contains v if some v in ["b", "a"]')}    want_result:
      - x: ["a", "b"]
  - note: "pass: undefined is an empty result"
    query: data.t.nope = x
    modules:
${mod('package t\n\np := 1')}    want_result: []
  - note: "pass: data and input"
    query: data.t.p = x
    data: {limits: {max: 3}}
    input: {n: 2}
    modules:
${mod('package t\n\np if input.n < data.limits.max')}    want_result:
      - x: true
  - note: "pass: input_term with a set"
    query: x = count(input)
    input_term: '{"a", "b", "a"}'
    want_result:
      - x: 2
  - note: "pass: env seen by opa.runtime"
    query: x = opa.runtime().env.OWN_SUITE
    env: {OWN_SUITE: "yes"}
    want_result:
      - x: "yes"
  - note: "pass: big integers keep their value"
    query: x = data.n + 1
    data: {n: 12345678901234567890}
    want_result:
      - x: 12345678901234567891
  - note: "fail: wrong expectation"
    query: x = 1 + 1
    want_result:
      - x: 3
`);

write('v1/errors/errors.yaml', `cases:
  - note: "pass: strict builtin error"
    query: x = 1 / 0
    strict_error: true
    want_error_code: eval_builtin_error
    want_error: divide by zero
  - note: "pass: conflict error"
    query: data.t.p = x
    modules:
${mod('package t\n\np := 1\np := 2 if true')}    want_error_code: eval_conflict_error
  - note: "pass: type error at compile time"
    query: x = count(1)
    want_error_code: rego_type_error
  - note: "pass: v0 syntax in a v1 module is a parse error"
    query: data.t.p = x
    modules:
${mod('package t\n\np { true }')}    want_error_code: rego_parse_error
  - note: "fail: error wanted, none happens"
    query: x = 1
    want_error_code: eval_builtin_error
  - note: "fail: unexpected error"
    query: x = 1 / 0
    strict_error: true
    want_result: [{x: 1}]
  - note: "fail: malformed input_term"
    query: x = input
    input_term: '{"a": '
    want_result: [{x: 1}]
  - note: "fail: input_term that is not a value"
    query: x = input
    input_term: 'data.nothing.here'
    want_result: [{x: 1}]
  - note: "fail: data that is not an object"
    query: x = 1
    data: [1, 2]
    want_result: [{x: 1}]
  - note: "fail: modules that are not strings"
    query: x = 1
    modules: [{a: 1}]
    want_result: [{x: 1}]
  - note: "fail: want_result that is not a list"
    query: x = 1
    want_result: {x: 1}
  - note: "fail: no expectation"
    query: x = 1
  - note: "fail: query that does not parse"
    query: "x := := 1"
    want_result: []
  - query: 5
  - 17
  - note: "fail: a module that is not Rego"
    query: data.t.p = x
    modules: ["\\u0000\\u0001 not rego {"]
    want_result: []
`);

write('v0/legacy/old.yaml', `cases:
  - note: "pass: v0 partial set"
    query: data.t.p = x
    modules:
${mod('package t\n\np[x] { x := 1 }\np[x] { x := 2 }')}    want_result:
      - x: [1, 2]
  - note: "pass: v0 import future.keywords.in"
    query: data.t.q = x
    modules:
${mod('package t\n\nimport future.keywords.in\n\nq { 1 in [1] }')}    want_result:
      - x: true
  - note: "fail: v0 without the import does not know in"
    query: data.t.q = x
    modules:
${mod('package t\n\nq { 1 in [1] }')}    want_result:
      - x: true
`);

// Files that are not test cases at all.
write('v1/broken/unclosed.yaml', 'cases: [\n  - note: x\n');
write('v1/broken/tabs.yaml', 'cases:\n\t- note: tab indented\n\t  query: x = 1\n');
write('v1/broken/two-docs.yaml', 'cases: []\n---\ncases: []\n');
write('v1/broken/list.yaml', '- note: a list at the top\n  query: x = 1\n');
write('v1/broken/bomb.yaml', `a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ncases: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n`);
write('v1/broken/binary.yaml', Uint8Array.from({ length: 256 }, (_, i) => (i * 37) % 256));
write('v1/broken/deep.yaml', `cases:\n  - note: "fail: deeply nested data"\n    query: x = 1\n    data: {d: ${'['.repeat(300)}${']'.repeat(300)}}\n    want_result: [{x: 2}]\n`);
write('v1/broken/deeper.yaml', `cases:\n  - note: "fail: nesting beyond the YAML reader"\n    query: x = 1\n    data: {d: ${'['.repeat(50000)}${']'.repeat(50000)}}\n    want_result: [{x: 1}]\n`);
write('v1/broken/empty.yaml', '');
write('v1/broken/notes.txt', 'not a case file');

interface Failure {
  category: string;
  note: string;
  reason: string;
}

test('policy conformance over a suite of its own runs every case to an answer, without crashing', async () => {
  const io = bufferIO({}, dir);
  const code = await run(['policy', 'conformance', dir, '--json', '--write-exceptions', 'failures.json'], io);
  assert.equal(code, 1, io.err());
  const summary = JSON.parse(io.out().trim().split('\n').pop()!) as { total: number; passed: number; failed: number; categories: Record<string, { total: number; passed: number }> };
  const failures = (JSON.parse(readFileSync(join(dir, 'failures.json'), 'utf8')) as { failures: Failure[] }).failures;
  assert.equal(summary.failed, failures.length);
  assert.equal(summary.passed + summary.failed, summary.total);
  // The categories as the layout names them: v1's directly, v0's under v0/.
  assert.deepEqual(Object.keys(summary.categories).sort(), ['basics', 'broken', 'errors', 'v0/legacy']);
  assert.deepEqual(summary.categories['basics'], { total: 8, passed: 7 });
  assert.deepEqual(summary.categories['errors'], { total: 16, passed: 4 });
  assert.deepEqual(summary.categories['v0/legacy'], { total: 3, passed: 2 });
  // Every file in broken/ that is not valid YAML fails once, by its name (bytes that read as a YAML scalar, an
  // empty file and a top-level list hold no cases, and the .txt file is no case file); the deep case runs and fails.
  assert.deepEqual(
    failures.filter((f) => f.category === 'broken').map((f) => f.note).sort(),
    ['fail: deeply nested data', 'v1/broken/bomb.yaml', 'v1/broken/deeper.yaml', 'v1/broken/tabs.yaml', 'v1/broken/two-docs.yaml', 'v1/broken/unclosed.yaml'],
  );
  for (const f of failures) {
    assert.ok(!f.note.startsWith('pass:'), `${f.note} should pass: ${f.reason}`);
    assert.ok(f.reason.length > 0, `${f.note}: a failure gives its reason`);
  }
  const reason = (note: string): string => failures.find((f) => f.note === note)?.reason ?? '';
  assert.match(reason('fail: wrong expectation'), /want \[\{"x":3\}\], got \[\{"x":2\}\]/);
  assert.match(reason('fail: unexpected error'), /unexpected error: .*divide by zero/);
  assert.match(reason('fail: error wanted, none happens'), /want error eval_builtin_error, got 1 result/);
  assert.match(reason('fail: modules that are not strings'), /"modules" is not a list of strings/);
  assert.match(reason('fail: want_result that is not a list'), /"want_result" is not a list/);
  assert.match(reason('fail: v0 without the import does not know in'), /rego_parse_error/);
  assert.match(reason('v1/broken/bomb.yaml'), /not a YAML test file: .*alias/);
  assert.match(reason('fail: deeply nested data'), /want \[\{"x":2\}\], got \[\{"x":1\}\]/);
  // Cases without a string query are named by file and index.
  assert.match(reason('v1/errors/errors.yaml#13'), /case without a string "query"/);
  assert.match(reason('v1/errors/errors.yaml#14'), /case without a string "query"/);
});

test('policy conformance --filter runs only the matching cases; a missing directory is a usage error', async () => {
  const io = bufferIO({}, dir);
  assert.equal(await run(['policy', 'conformance', dir, '--json', '--filter', 'legacy'], io), 1);
  assert.deepEqual(JSON.parse(io.out().trim()).categories, { 'v0/legacy': { total: 3, passed: 2 } });
  const missing = bufferIO({}, dir);
  assert.notEqual(await run(['policy', 'conformance', join(dir, 'absent')], missing), 0);
  assert.match(missing.err(), /absent/);
});

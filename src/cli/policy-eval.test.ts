import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { run } from './program.js';
import { bufferIO } from './io.js';

// Behaviour of `opa eval` as its documentation and cmd/eval.go describe it: data directories, output formats,
// --fail / --fail-defined and exit codes (2 on error), --explain modes, v0 modules, input and query on stdin.

const dir = mkdtempSync(join(tmpdir(), 'cocokit-eval-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function files(root: string, tree: Record<string, string>): string {
  const base = join(dir, root);
  for (const [p, text] of Object.entries(tree)) {
    mkdirSync(join(base, p, '..'), { recursive: true });
    writeFileSync(join(base, p), text);
  }
  return base;
}

async function evalCli(args: string[], stdin?: string): Promise<{ code: number; out: string; err: string }> {
  const io = bufferIO({}, dir, stdin);
  const code = await run(['policy', 'eval', ...args], io);
  return { code, out: io.out(), err: io.err() };
}

const POLICY = files('pol', {
  'policy.rego': 'package app\n\nallow if input.user in data.users.admins\n\nnames contains n if some n in data.users.admins\n\ngreeting := data.config.greeting\n',
  'users/data.json': '{"admins": ["alice", "bob"]}',
  'config/settings.yaml': 'greeting: hello\n',
  'notes.txt': 'not loaded',
});

test('-d DIR loads every .rego, .json and .yaml below it, data rooted at its directory path', async () => {
  const r = await evalCli(['-d', POLICY, '--format', 'raw', 'data.app.greeting']);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, 'hello\n');
  const users = await evalCli(['-d', POLICY, '-f', 'values', 'data.users; data.config']);
  assert.deepEqual(JSON.parse(users.out), [{ admins: ['alice', 'bob'] }, { greeting: 'hello' }]);
});

test('-b DIR loads a bundle: only data files named data.json or data.yaml', async () => {
  const r = await evalCli(['-b', POLICY, '-f', 'values', 'data']);
  assert.equal(r.code, 0, r.err);
  const data = JSON.parse(r.out)[0];
  assert.deepEqual(data.users, { admins: ['alice', 'bob'] });
  assert.equal(data.config, undefined);
  assert.deepEqual(data.app.names, ['alice', 'bob']);
});

test('--format json, values, bindings, raw and pretty print what opa prints', async () => {
  const q = 'x := data.users.admins[i]; startswith(x, "a")';
  const json = JSON.parse((await evalCli(['-d', POLICY, q])).out);
  assert.deepEqual(json.result.map((r: any) => r.bindings), [{ x: 'alice', i: 0 }]);
  assert.deepEqual(json.result[0].expressions.map((e: any) => [e.value, e.text]), [[true, 'x := data.users.admins[i]'], [true, 'startswith(x, "a")']]);
  assert.deepEqual(JSON.parse((await evalCli(['-d', POLICY, '-f', 'bindings', q])).out), { x: 'alice', i: 0 });
  assert.equal((await evalCli(['-d', POLICY, '-f', 'raw', 'data.users.admins[_]'])).out, 'alice\nbob\n');
  assert.equal((await evalCli(['-d', POLICY, '-f', 'raw', 'data.users.admins'])).out, '["alice","bob"]\n');
  assert.equal((await evalCli(['-d', POLICY, '-f', 'pretty', 'data.users.admins'])).out, '[\n  "alice",\n  "bob"\n]\n');
  assert.equal((await evalCli(['-d', POLICY, '-f', 'pretty', 'data.nothing'])).out, 'undefined\n');
  const t = (await evalCli(['-d', POLICY, '-f', 'pretty', 'x := data.users.admins[i]'])).out.split('\n');
  assert.match(t[1]!, /^\| i \| x +\|$/);
  assert.match(t[3]!, /^\| 0 \| "alice" \|$/);
  assert.match(t[4]!, /^\| 1 \| "bob" +\|$/);
  // Columns as opa picks them: bound variables by name, then expressions whose value is not a boolean.
  const cols = (await evalCli(['-d', POLICY, '-f', 'pretty', 'y := 2; x := data.users.admins[_]; x != "bob"; count(x) + y'])).out.split('\n');
  assert.match(cols[1]!, /^\| x +\| y \| count\(x\) \+ y \|$/);
  assert.match(cols[3]!, /^\| "alice" \| 2 \| 7 +\|$/);
  // With nothing bound every expression has a column.
  const unbound = (await evalCli(['-f', 'pretty', '1 < 2; 3'])).out.split('\n');
  assert.match(unbound[1]!, /^\| 1 < 2 \| 3 \|$/);
  assert.match(unbound[3]!, /^\| true +\| 3 \|$/);
  // Undefined: json prints {}, values/bindings/raw print nothing.
  assert.equal((await evalCli(['-d', POLICY, 'data.nothing'])).out.trim(), '{}');
  assert.equal((await evalCli(['-d', POLICY, '-f', 'values', 'data.nothing'])).out, '');
});

test('--fail exits 1 on an undefined result, --fail-defined on a defined one, errors exit 2', async () => {
  const input = files('in', { 'alice.json': '{"user": "alice"}', 'eve.json': '{"user": "eve"}' });
  assert.equal((await evalCli(['-d', POLICY, '-i', join(input, 'alice.json'), '--fail', 'data.app.allow'])).code, 0);
  assert.equal((await evalCli(['-d', POLICY, '-i', join(input, 'eve.json'), '--fail', 'data.app.allow'])).code, 1);
  assert.equal((await evalCli(['-d', POLICY, '-i', join(input, 'eve.json'), '--fail-defined', 'data.app.allow'])).code, 0);
  assert.equal((await evalCli(['-d', POLICY, '-i', join(input, 'alice.json'), '--fail-defined', 'data.app.allow'])).code, 1);
  // A false value is defined: opa's --fail looks at definedness, not truth. A lone comparison's value is
  // captured (false); with a second expression it is checked, and a unification that fails is undefined.
  assert.equal((await evalCli(['--fail', '1 == 2'])).code, 0);
  assert.equal((await evalCli(['--fail', '1 == 2; true'])).code, 1);
  assert.equal((await evalCli(['--fail', '1 = 2'])).code, 1);
  assert.equal((await evalCli(['--fail', 'x := 1 == 2'])).code, 0);
  const conflict = files('conflict', { 'p.rego': 'package c\n\nv := 1\n\nv := 2 if true\n' });
  assert.equal((await evalCli(['-d', conflict, '--fail', 'data.c.v'])).code, 2);
  assert.equal((await evalCli(['-d', conflict, '--fail-defined', 'data.c.v'])).code, 2);
  const both = await evalCli(['--fail', '--fail-defined', 'true']);
  assert.notEqual(both.code, 0);
  assert.match(both.err, /specify --fail or --fail-defined but not both/);
});

test('evaluation errors are printed as opa prints them: an errors array in JSON, "1 error occurred" otherwise', async () => {
  const strict = files('strict', { 'p.rego': 'package s\n\nx := to_number("abc")\n' });
  const r = await evalCli(['-d', strict, '--strict-builtin-errors', 'data.s.x']);
  assert.equal(r.code, 2);
  assert.match(JSON.parse(r.out).errors[0].message, /to_number/);
  const p = await evalCli(['-d', strict, '--strict-builtin-errors', '-f', 'pretty', 'data.s.x']);
  assert.equal(p.code, 2);
  assert.match(p.err, /^1 error occurred: .*to_number/);
  // Without strict builtin errors the call is undefined, as in opa.
  assert.equal((await evalCli(['-d', strict, 'data.s.x'])).out.trim(), '{}');
});

const EXPLAINED = 'package e\n\nallow if {\n\tinput.role == "admin"\n}\n\nallow if {\n\ttrace("checking owner")\n\tinput.owner == input.user\n}\n\nok if input.role == "user"\n\nboom if to_number("x") > 1\n';

test('--explain prints opa\'s trace before the pretty result: fails, full and notes keep what opa\'s lineage keeps', async () => {
  const p = files('explain', { 'p.rego': EXPLAINED, 'input.json': '{"role": "user", "owner": "a", "user": "b"}' });
  const file = join(p, 'p.rego');
  const args = ['-d', file, '-i', join(p, 'input.json'), '-f', 'pretty'];
  // The location column is as wide as its longest entry and four spaces more.
  const col = (loc: string, longest = `${file}:9`) => loc.padEnd(longest.length + 4) + ' ';
  const q = col('query:1');
  const fails = await evalCli([...args, '--explain', 'fails', 'data.e.allow']);
  assert.equal(fails.code, 0);
  // The first body is ruled out by the index (input.role is not "admin"); the second fails at its last expression,
  // whose references opa's compiler moved into variables of their own (RewriteDynamicTerms): `boom`'s nested
  // call is __local0__ (RewriteExprTerms comes first), then the references in call arguments, rule by rule.
  assert.equal(fails.out, `${q}Enter data.e.allow = _\n${col(file + ':7')}| Enter data.e.allow\n${col(file + ':9')}| | Fail equal(__local2__, __local3__)\n${q}| Fail data.e.allow = _\nundefined\n`);
  const full = await evalCli([...args, '--explain=full', 'data.e.ok']);
  const r = col(file + ':12', file + ':12');
  const q2 = col('query:1', file + ':12');
  assert.equal(
    full.out,
    [
      `${q2}Enter data.e.ok = _`,
      `${q2}| Eval data.e.ok = _`,
      `${q2}| Index data.e.ok (matched 1 rule, early exit)`,
      `${r}| Enter data.e.ok`,
      `${r}| | Eval __local4__ = input.role`,
      `${r}| | Eval equal(__local4__, "user")`,
      `${r}| | Exit data.e.ok early`,
      `${q2}| Exit data.e.ok = _`,
      `${q2}Redo data.e.ok = _`,
      `${q2}| Redo data.e.ok = _`,
      `${r}| Redo data.e.ok`,
      `${r}| | Redo equal(__local4__, "user")`,
      `${r}| | Redo __local4__ = input.role`,
      'true',
      '',
    ].join('\n'),
  );
  // debug is full (it would add Unify events, which this evaluator does not make).
  assert.equal((await evalCli([...args, '--explain=debug', 'data.e.ok'])).out, full.out);
  const notes = await evalCli([...args, '--explain=notes', 'data.e.allow']);
  assert.equal(notes.out, `${q}Enter data.e.allow = _\n${col(file + ':7')}| Enter data.e.allow\n${col(file + ':8')}| | Note "checking owner"\nundefined\n`);
  // Nothing to show: no trace lines at all. A query of several expressions is one query, as opa shows it.
  assert.equal((await evalCli([...args, '--explain=notes', 'data.e.ok'])).out, 'true\n');
  const query = await evalCli([...args, '--explain=fails', 'data.e.allow == true; x := 1']);
  // As opa eval compiles it: the call's value captured (`, _`) and checked at the end (`; _`), x declared
  // (__localq0__) and the reference in the call's argument moved out (__localq1__).
  assert.match(query.out, /^query:1 +Enter __localq1__ = data\.e\.allow; equal\(__localq1__, true, _\); x = 1; _\n/);
  assert.match(query.out, /\| Fail __localq1__ = data\.e\.allow\nundefined\n$/);
  // An evaluation error: the trace up to it, then the error.
  const boom = await evalCli([...args, '--strict-builtin-errors', '--explain=full', 'data.e.boom']);
  assert.equal(boom.code, 2);
  assert.match(boom.out, /\| \| Eval to_number\("x", __local0__\)\n$/);
  assert.match(boom.err, /^1 error occurred: .*to_number/);
});

test('--explain with JSON output adds opa\'s explanation array; values, bindings and raw output leave the trace out', async () => {
  const p = files('explainjson', { 'p.rego': EXPLAINED, 'input.json': '{"role": "user", "owner": "a", "user": "b"}' });
  const args = ['-d', join(p, 'p.rego'), '-i', join(p, 'input.json')];
  const undef = JSON.parse((await evalCli([...args, '--explain=fails', 'data.e.allow'])).out);
  assert.deepEqual(Object.keys(undef), ['explanation']);
  assert.deepEqual(
    undef.explanation.map((e: { Op: string; QueryID: number; ParentID: number }) => [e.Op, e.QueryID, e.ParentID]),
    [
      ['Enter', 0, 0],
      ['Enter', 1, 0],
      ['Fail', 1, 0],
      ['Fail', 0, 0],
    ],
  );
  assert.deepEqual(undef.explanation[2].Location, { file: join(p, 'p.rego'), row: 9, col: 2 });
  const ok = await evalCli([...args, '--explain=full', 'data.e.ok']);
  const out = JSON.parse(ok.out);
  assert.deepEqual(Object.keys(out), ['result', 'explanation']);
  assert.deepEqual(out.result[0].expressions[0].value, true);
  assert.equal(out.explanation.length, 13);
  assert.deepEqual(out.explanation[2].Message, '(matched 1 rule, early exit)');
  assert.equal(ok.err, '');
  const boom = JSON.parse((await evalCli([...args, '--strict-builtin-errors', '--explain=full', 'data.e.boom'])).out);
  assert.deepEqual(Object.keys(boom), ['errors', 'explanation']);
  assert.deepEqual(boom.explanation.at(-1).Op, 'Eval');
  // Nothing failed before the error: fails keeps no event, and JSON output has no explanation.
  assert.deepEqual(Object.keys(JSON.parse((await evalCli([...args, '--strict-builtin-errors', '--explain=fails', 'data.e.boom'])).out)), ['errors']);
  for (const f of ['values', 'bindings', 'raw']) {
    const r = await evalCli([...args, '--explain=full', '-f', f, 'x := data.e.ok']);
    assert.equal(r.err, '');
    assert.doesNotMatch(r.out, /Enter|Eval/);
  }
  assert.equal((await evalCli([...args, '--explain=full', '-f', 'raw', 'data.e.ok'])).out, 'true\n');
  // With --profile the expressions are counted while they are traced: as traced, the reference moved out of
  // `input.role == "user"` is an expression of its own.
  const both = JSON.parse((await evalCli([...args, '--explain=full', '--profile', 'data.e.ok'])).out);
  assert.deepEqual(Object.keys(both), ['result', 'explanation', 'metrics', 'profile']);
  // (sorted by time first, so compared by row here)
  const counts = both.profile.map((x: { num_eval: number; location: { row: number } }) => [x.location.row, x.num_eval]);
  assert.deepEqual(
    counts.sort((a: number[], b: number[]) => a[0]! - b[0]!),
    [
      [1, 1],
      [12, 2],
    ],
  );
});

test('--explain refuses a mode opa does not have', async () => {
  for (const mode of ['loud', 'FULL', '', 'fails,notes']) {
    const r = await evalCli([`--explain=${mode}`, 'true']);
    assert.notEqual(r.code, 0);
    assert.match(r.err, /--explain: want one of off, full, notes, fails, debug, got /);
    assert.equal(r.out, '');
  }
  assert.equal((await evalCli(['--explain=off', '-f', 'pretty', 'true'])).out, 'true\n');
});

test('an expression is named by its own text: one-line bodies, several on a line, one over several lines', async () => {
  const p = files('exprtext', {
    'v1.rego': 'package e\nallow if { input.x < 1 }\nboth if { input.x > 0; input.x < 0 }\nlong if {\n\txs := [1,\n\t\t2]\n\tcount(xs) > 5\n}\n',
    'v0.rego': 'package o\nallow { input.x < 1 }\n',
  });
  const run = async (...args: string[]) => (await evalCli([...args, '--explain=fails', '-f', 'pretty'], '{"x": 2}')).out;
  assert.match(await run('-d', join(p, 'v1.rego'), '-I', 'data.e.allow'), /v1\.rego:2 +\| \| Fail lt\(__local2__, 1\)\n/);
  assert.match(await run('-d', join(p, 'v1.rego'), '-I', 'data.e.both'), /v1\.rego:3 +\| \| Fail lt\(__local4__, 0\)\n/);
  // count(xs) > 5 as opa's compiler rewrites it: xs is __local0__ (declared first), the nested call __local1__.
  assert.match(await run('-d', join(p, 'v1.rego'), '-I', 'data.e.long'), /v1\.rego:7 +\| \| Fail gt\(__local1__, 5\)\n/);
  assert.match((await evalCli(['-d', join(p, 'v1.rego'), '--explain=full', '-f', 'pretty', '-I', 'data.e.long'], '{}')).out, /v1\.rego:7 +\| \| Eval count\(xs, __local1__\)\n.*v1\.rego:7 +\| \| Eval gt\(__local1__, 5\)\n/s);
  assert.match((await evalCli(['-d', join(p, 'v1.rego'), '--explain=full', '-f', 'pretty', '-I', 'data.e.long'], '{}')).out, /v1\.rego:5 +\| \| Eval xs = \[1, 2\]\n/);
  assert.match(await run('--v0', '-d', join(p, 'v0.rego'), '-I', 'data.o.allow'), /v0\.rego:2 +\| \| Fail lt\(__local0__, 1\)\n/);
  // Query expressions keep their text, newlines included, as opa reports them.
  const q = JSON.parse((await evalCli(['x := [1,\n  2] ; y := 3'])).out);
  assert.deepEqual(q.result[0].expressions.map((e: { text: string }) => e.text), ['x := [1,\n  2]', 'y := 3']);
});

test('--v0-compatible (and --v0) parse modules as Rego v0; in v1 they are a parse error', async () => {
  const p = files('v0', { 'p.rego': 'package old\n\nallow { input.x == 1 }\n\ndeny[msg] { msg := "no" }\n' });
  const input = join(p, 'input.json');
  writeFileSync(input, '{"x": 1}');
  for (const flag of ['--v0-compatible', '--v0']) {
    const r = await evalCli(['-d', join(p, 'p.rego'), '-i', input, flag, '-f', 'values', 'data.old.allow; data.old.deny']);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(JSON.parse(r.out), [true, ['no']]);
  }
  const v1 = await evalCli(['-d', join(p, 'p.rego'), 'data.old.allow']);
  assert.equal(v1.code, 2);
  assert.equal(JSON.parse(v1.out).errors[0].code, 'rego_parse_error');
});

test('--stdin-input reads the input and --stdin the query from standard input', async () => {
  const r = await evalCli(['-d', POLICY, '--stdin-input', '-f', 'raw', 'data.app.allow'], '{"user": "bob"}');
  assert.equal(r.out, 'true\n');
  const y = await evalCli(['-d', POLICY, '-I', '-f', 'raw', 'input.user'], 'user: carol\n');
  assert.equal(y.out, 'carol\n');
  const q = await evalCli(['-d', POLICY, '--stdin', '-f', 'values'], 'x := count(data.users.admins)\nx > 1\n');
  assert.deepEqual(JSON.parse(q.out), [true, true]);
  assert.match((await evalCli(['--stdin', 'true'], '')).err, /query argument or --stdin but not both/);
  assert.match((await evalCli(['--stdin', '--stdin-input'], '')).err, /--stdin or --stdin-input but not both/);
});

test('bad data and policy files give exit 2 with an error, never a crash', async () => {
  const p = files('bad', { 'data.json': '{"a": ', 'list.json': '[1]', 'x.yaml': 'a: [\n' });
  for (const f of ['data.json', 'x.yaml', 'list.json']) {
    const r = await evalCli(['-d', join(p, f), 'data']);
    assert.equal(r.code, 2, f);
    assert.ok(JSON.parse(r.out).errors[0].message.length > 0, f);
  }
  assert.equal((await evalCli(['-d', join(p, 'missing'), 'data'])).code, 2);
  await fc.assert(
    fc.asyncProperty(fc.constantFrom('data.json', 'p.rego', 'd.yaml'), fc.uint8Array({ maxLength: 200 }), async (name, bytes) => {
      const f = join(dir, 'fuzz', name);
      mkdirSync(join(dir, 'fuzz'), { recursive: true });
      writeFileSync(f, bytes);
      const r = await evalCli(['-d', f, 'data']);
      assert.ok(r.code === 0 || r.code === 2, `exit ${r.code}: ${r.out} ${r.err}`);
    }),
    { numRuns: 150 },
  );
});

test('-d merges data files as opa\'s loader does: a key set by two files is a merge error, objects merge', async () => {
  const base = files('merge', {
    'a/one.json': '{"x": 1, "obj": {"p": 1}}',
    'a/two.yaml': 'obj:\n  q: 2\n',
    'b/same.json': '{"k": 1}',
    'b/again.json': '{"k": 1}',
    'arr.json': '[1]',
  });
  const ok = await evalCli(['-d', join(base, 'a'), '-f', 'values', 'data']);
  assert.equal(ok.code, 0, ok.err);
  assert.deepEqual(JSON.parse(ok.out), [{ x: 1, obj: { p: 1, q: 2 } }]);
  // Two files setting one key conflict even when the values are equal (opa util merge.InterfaceMaps).
  const clash = await evalCli(['-d', 'merge/b', 'data'], undefined);
  assert.equal(clash.code, 2);
  assert.deepEqual(JSON.parse(clash.out).errors, [{ message: 'merge/b/same.json: merge error' }]);
  // -d arguments share one loader: a second -d that sets the same key clashes too, each file named as given.
  const twice = await evalCli(['-d', 'merge/a/one.json', '-d', 'merge/a/one.json', '-f', 'pretty', 'data']);
  assert.equal(twice.code, 2);
  assert.equal(twice.err, '1 error occurred: merge/a/one.json: merge error\n');
  // A root document that is not an object: opa's loader message.
  const arr = await evalCli(['-d', 'merge/arr.json', 'data']);
  assert.deepEqual(JSON.parse(arr.out).errors, [{ message: 'merge/arr.json: document must be of type object' }]);
});

test('-d loading goes on past a file that fails: every failure is reported, one entry each, as opa\'s loader does', async () => {
  files('loadfail', { 'bad.json': '{"a":', 'bad.rego': 'package x\np if {\n', 'k.json': '{"k": 1}', 'z.json': '{"k": 2}', 'ok.rego': 'package ok\np := 1\n' });
  const json = await evalCli(['-d', 'loadfail', '-d', 'loadfail-missing', 'data']);
  assert.equal(json.code, 2);
  const errors = JSON.parse(json.out).errors as Array<{ message: string; code?: string; location?: { file: string; row: number } }>;
  assert.equal(errors.length, 4);
  assert.match(errors[0]!.message, /^loadfail\/bad\.json: /);
  assert.deepEqual([errors[1]!.code, errors[1]!.location?.file, errors[1]!.location?.row], ['rego_parse_error', 'loadfail/bad.rego', 3]);
  assert.deepEqual(errors[2], { message: 'loadfail/z.json: merge error' });
  assert.match(errors[3]!.message, /loadfail-missing/);
  const pretty = await evalCli(['-d', 'loadfail', '-f', 'pretty', 'data']);
  assert.equal(pretty.code, 2);
  assert.match(pretty.err, /^3 errors occurred:\nloadfail\/bad\.json: .*\nloadfail\/bad\.rego:3: rego_parse_error: .*\nloadfail\/z\.json: merge error\n$/);
});

test('-d FILE with another extension is read as Rego, else JSON, else YAML; inside a directory it is skipped', async () => {
  const base = files('anytype', {
    'policy.txt': 'package t\nr := data.cfg.n\n',
    'cfg.conf': '{"cfg": {"n": 4}}',
    'more.cfg': 'extra: yes\n',
    'scalar.txt': 'just words\n',
    'dir/ignored.txt': 'package ignored\nr := 1\n',
  });
  const r = await evalCli(['-d', join(base, 'policy.txt'), '-d', join(base, 'cfg.conf'), '-d', join(base, 'more.cfg'), '-f', 'values', 'data.t.r; data.extra']);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(JSON.parse(r.out), [4, true]);
  // Words read as YAML are a string, which cannot be the root of data.
  const words = await evalCli(['-d', 'anytype/scalar.txt', 'data']);
  assert.deepEqual(JSON.parse(words.out).errors, [{ message: 'anytype/scalar.txt: document must be of type object' }]);
  const dir = await evalCli(['-d', join(base, 'dir'), '-f', 'values', 'data']);
  assert.deepEqual(JSON.parse(dir.out), [{}]);
  // A file:// URL is a path, not a prefix.
  const url = await evalCli(['-d', `file://${join(base, 'cfg.conf')}`, '-f', 'raw', 'data.cfg.n']);
  assert.equal(url.out, '4\n', url.out + url.err);
});

test('input that is neither JSON nor YAML: exit 2, opa\'s "unable to parse input"', async () => {
  const bad = await evalCli(['-I', 'input'], '{"a": [}');
  assert.equal(bad.code, 2);
  assert.match(JSON.parse(bad.out).errors[0].message, /^unable to parse input: <stdin>: /);
  files('badinput', { 'in.yaml': 'a: [\n' });
  const file = await evalCli(['-i', 'badinput/in.yaml', '-f', 'raw', 'input']);
  assert.equal(file.code, 2);
  assert.match(file.err, /^1 error occurred: unable to parse input: badinput\/in\.yaml: /);
});

test('-d prefix:path roots the data it loads under the prefix, as opa loader paths do', async () => {
  const base = files('prefixed', {
    'p.rego': 'package app\nlimit := data.cfg.limits.max\nall := data.cfg\n',
    'limits.json': '{"max": 3}',
    'tree/sub/list.yaml': '- 1\n- 2\n',
    'n.json': '7',
  });
  const r = await evalCli(['-d', join(base, 'p.rego'), '-d', `cfg.limits:${join(base, 'limits.json')}`, '--format', 'raw', 'data.app.limit']);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out.trim(), '3');
  // A directory under a prefix: each file keeps its own directory path below the prefix.
  const d = await evalCli(['-d', `x.y:${join(base, 'tree')}`, '--format', 'json', 'data.x']);
  assert.equal(d.code, 0, d.err);
  assert.deepEqual(JSON.parse(d.out).result[0].expressions[0].value, { y: { sub: [1, 2] } });
  // With a prefix a data file need not hold an object.
  const n = await evalCli(['-d', `num:${join(base, 'n.json')}`, '--format', 'raw', 'data.num']);
  assert.equal(n.out.trim(), '7');
  // Without the prefix the same file is refused (the root of data is an object).
  const bad = await evalCli(['-d', join(base, 'n.json'), 'data']);
  assert.equal(bad.code, 2);
  // A path starting with ':' has no prefix.
  const none = await evalCli(['-d', `:${join(base, 'limits.json')}`, '--format', 'raw', 'data.max']);
  assert.equal(none.code, 2);
});

test('-b bundle.tar.gz loads the archive opa build writes: policies, data files by directory, manifest roots', async () => {
  const { execFileSync } = await import('node:child_process');
  const tgz = (name: string, tree: Record<string, string>): string => {
    const src = files(`${name}-src`, tree);
    const out = join(dir, `${name}.tar.gz`);
    execFileSync('tar', ['-czf', out, '-C', src, '.']);
    return out;
  };
  const good = tgz('bundle-ok', {
    '.manifest': '{"roots": ["app", "cfg"]}',
    'app/policy.rego': 'package app\nallow if input.user in data.cfg.admins\n',
    'cfg/data.json': '{"admins": ["alice"]}',
    'cfg/other.json': '{"ignored": true}',
  });
  const r = await evalCli(['-b', good, '--input', join(files('bundle-in', { 'i.json': '{"user": "alice"}' }), 'i.json'), '--format', 'raw', 'data.app.allow']);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out.trim(), 'true');
  const only = await evalCli(['-b', good, '--format', 'json', 'data.cfg']);
  assert.deepEqual(JSON.parse(only.out).result[0].expressions[0].value, { admins: ['alice'] });
  // A package outside the manifest's roots is refused, and so is data.
  const pkgOut = tgz('bundle-pkg', { '.manifest': '{"roots": ["app"]}', 'x/p.rego': 'package other\np := 1\n' });
  const e1 = await evalCli(['-b', pkgOut, 'data']);
  assert.equal(e1.code, 2);
  assert.match(e1.out + e1.err, /manifest roots \[app\] do not permit 'package other'/);
  // A module in an archive is named by the archive's path as given, then its path inside.
  tgz('bundle-broken', { 'app/p.rego': 'package app\np if {\n' });
  const broken = await evalCli(['-b', 'bundle-broken.tar.gz', 'data']);
  assert.equal(broken.code, 2);
  assert.equal(JSON.parse(broken.out).errors[0].location.file, 'bundle-broken.tar.gz/app/p.rego');
  const dataOut = tgz('bundle-data', { '.manifest': '{"roots": ["app"]}', 'cfg/data.json': '{"a": 1}' });
  const e2 = await evalCli(['-b', dataOut, 'data']);
  assert.equal(e2.code, 2);
  assert.match(e2.out + e2.err, /do not permit data at path '\/cfg'/);
  // opa's bundle package wording (opa:v1/bundle/bundle_test.go cases), one archive per rule.
  const bundleErr = async (name: string, tree: Record<string, string>): Promise<string> => {
    const res = await evalCli(['-b', tgz(name, tree), '--format', 'json', 'data']);
    assert.equal(res.code, 2, `${name}: ${res.out}`);
    return (JSON.parse(res.out) as { errors: Array<{ message: string }> }).errors[0]!.message;
  };
  assert.equal(await bundleErr('b-overlap', { '.manifest': '{"revision": "abcd", "roots": ["a/b", "a"]}' }), "manifest has overlapped roots: 'a/b' and 'a'");
  assert.equal(await bundleErr('b-overlap-empty', { '.manifest': '{"roots": ["x", ""]}' }), "manifest has overlapped roots: 'x' and ''");
  assert.equal(
    await bundleErr('b-pkg', { '.manifest': '{"revision": "abcd", "roots": ["a", "b", "c/d"]}', 'a.rego': 'package b.c\n', 'x.rego': 'package c.e\n' }),
    "manifest roots [a b c/d] do not permit 'package c.e' in module '/x.rego'",
  );
  assert.equal(await bundleErr('b-empty', { '.manifest': '{"revision": "abcd", "roots": []}', 'x.rego': 'package foo\n' }), "manifest roots [] do not permit 'package foo' in module '/x.rego'");
  assert.equal(
    await bundleErr('b-data', { '.manifest': '{"revision": "abcd", "roots": ["a", "b", "c/d"]}', 'data.json': '{"a": 1}', 'c/e/data.json': '"bad bad bad"' }),
    "manifest roots [a b c/d] do not permit data at path '/c/e' (hint: check bundle directory structure)",
  );
  // Data at the top of the bundle is walked too: a key outside every root is refused.
  assert.equal(await bundleErr('b-data-root', { '.manifest': '{"roots": ["a"]}', 'data.json': '{"a": 1, "z": {"k": 2}}' }), "manifest roots [a] do not permit data at path '/z' (hint: check bundle directory structure)");
  // Roots are standardised without leading or trailing slashes, in checks and messages.
  assert.equal(await bundleErr('b-slash', { '.manifest': '{"roots": ["/a/"]}', 'x.rego': 'package b\n' }), "manifest roots [a] do not permit 'package b' in module '/x.rego'");
  const slashOk = await evalCli(['-b', tgz('b-slash-ok', { '.manifest': '{"roots": ["/a/b/"]}', 'a/b/data.json': '{"k": 1}', 'p.rego': 'package a.b.c\nv := data.a.b.k\n' }), '--format', 'raw', 'data.a.b.c.v']);
  assert.equal(slashOk.code, 0, slashOk.out + slashOk.err);
  assert.equal(slashOk.out.trim(), '1');
  // An invalid manifest.
  assert.match(await bundleErr('b-manifest-json', { '.manifest': '{"roots": [' }), /^bundle load failed on manifest decode: /);
  assert.equal(
    await bundleErr('b-manifest-roots', { '.manifest': '{"roots": "a"}' }),
    'bundle load failed on manifest decode: json: cannot unmarshal string into Go struct field Manifest.roots of type []string',
  );
  assert.equal(
    await bundleErr('b-manifest-root', { '.manifest': '{"roots": ["a", 7]}' }),
    'bundle load failed on manifest decode: json: cannot unmarshal number into Go struct field Manifest.roots of type string',
  );
  // A manifest without roots holds everything; a root that only shares a name prefix does not overlap.
  const defaults = await evalCli(['-b', tgz('b-default', { '.manifest': '{"revision": "abcd"}', 'data.json': '{"a": 1}', 'x.rego': 'package foo\np := data.a\n' }), '--format', 'raw', 'data.foo.p']);
  assert.equal(defaults.out.trim(), '1');
  const prefixOnly = await evalCli(['-b', tgz('b-prefix', { '.manifest': '{"roots": ["a", "another_root"]}' }), '--format', 'raw', 'data']);
  assert.equal(prefixOnly.code, 0, prefixOnly.out + prefixOnly.err);
  // Damaged archives are clear errors: not gzip, truncated, random bytes.
  const raw = join(dir, 'not-gzip.tar.gz');
  writeFileSync(raw, 'plain text');
  const notGzip = await evalCli(['-b', raw, '-f', 'raw', 'data']);
  assert.equal(notGzip.code, 2);
  assert.equal(notGzip.err, `1 error occurred: bundle ${raw}: bundle read failed: archive read failed: gzip: invalid header\n`);
  const { readFileSync } = await import('node:fs');
  const { gzipSync, gunzipSync } = await import('node:zlib');
  const whole = gunzipSync(readFileSync(good));
  const cut = join(dir, 'cut.tar.gz');
  writeFileSync(cut, gzipSync(whole.subarray(0, 700)));
  assert.equal((await evalCli(['-b', cut, 'data'])).code, 2);
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ maxLength: 2048 }), async (bytes) => {
      const f = join(dir, 'fuzz.tar.gz');
      writeFileSync(f, gzipSync(Buffer.from(bytes)));
      const res = await evalCli(['-b', f, 'data']);
      assert.ok(res.code === 0 || res.code === 2);
    }),
    { numRuns: 50 },
  );
});

test('-d DIR with a .tar.gz in it loads the archive as a bundle beside the loose files, as opa\'s loader does', async () => {
  const { execFileSync } = await import('node:child_process');
  const { gzipSync } = await import('node:zlib');
  const { buildTar } = await import('../test-support/tar-build.js');
  const base = files('d-bundle', {
    'loose.json': '{"loose": {"n": 1}}',
    'rules.rego': 'package rules\nn := data.loose.n + 1\n',
  });
  const src = files('d-bundle-src', {
    '.manifest': '{"roots": ["app", "cfg"], "revision": "r7", "metadata": {"team": "x"}}',
    'app/policy.rego': 'package app\nallow if input.user in data.cfg.admins\n',
    'cfg/data.json': '{"admins": ["alice"]}',
    'cfg/other.json': '{"ignored": true}',
    'cfg/more/data.yaml': 'level: 3\n',
  });
  execFileSync('tar', ['-czf', join(base, 'b.tar.gz'), '-C', src, '.']);
  // In a subdirectory, the archive's data is rooted at that directory, as any data file there would be.
  mkdirSync(join(base, 'sub'));
  execFileSync('tar', ['-czf', join(base, 'sub', 'c.tar.gz'), '-C', files('d-bundle-src2', { 'data.json': '{"k": "v"}' }), '.']);
  const input = join(files('d-bundle-in', { 'i.json': '{"user": "alice"}' }), 'i.json');
  const r = await evalCli(['-d', base, '--input', input, '-f', 'values', 'data.app.allow; data.cfg; data.rules.n; data.system.bundle.manifest; data.sub.k; data.sub.system.bundle.manifest.roots']);
  assert.equal(r.code, 0, r.out + r.err);
  assert.deepEqual(JSON.parse(r.out), [
    true,
    { admins: ['alice'], more: { level: 3 } },
    2,
    { revision: 'r7', roots: ['app', 'cfg'], metadata: { team: 'x' } },
    'v',
    [''],
  ]);
  // Named directly too, under a prefix; modules keep their names inside the archive.
  const direct = await evalCli(['-d', `x.y:${join(base, 'b.tar.gz')}`, '-f', 'values', 'data.x.y.cfg.admins; data.x.y.system.bundle.manifest.revision']);
  assert.deepEqual(JSON.parse(direct.out), [['alice'], 'r7']);
  // A .tar.gz handed to -b still loads as before (no manifest in data).
  const asB = await evalCli(['-b', join(base, 'b.tar.gz'), '-f', 'values', 'data.system']);
  assert.equal(asB.out.trim(), '');

  const tgzOf = (name: string, tree: Record<string, string>): string => {
    const d = join(dir, `${name}-dir`);
    mkdirSync(d);
    writeFileSync(join(d, 'b.tar.gz'), gzipSync(buildTar(Object.entries(tree).map(([path, content]) => ({ path, content })))));
    return join(d, 'b.tar.gz');
  };
  const message = async (args: string[]): Promise<string> => {
    const res = await evalCli([...args, '-f', 'json', 'data']);
    assert.equal(res.code, 2, res.out + res.err);
    return (JSON.parse(res.out) as { errors: Array<{ message: string }> }).errors.map((e) => e.message).join('\n');
  };
  // opa's bundle checks and texts, prefixed by the archive.
  const roots = tgzOf('d-roots', { '.manifest': '{"roots": ["a"]}', 'x.rego': 'package b\n' });
  assert.equal(await message(['-d', roots]), `bundle ${roots}: manifest roots [a] do not permit 'package b' in module 'x.rego'`);
  // data.json is read as util.UnmarshalJSON reads it.
  const cutJson = tgzOf('d-cutjson', { 'x/data.json': '{"a": [1, ' });
  assert.equal(await message(['-d', cutJson]), `bundle ${cutJson}: bundle load failed on x/data.json: unexpected EOF`);
  const extra = tgzOf('d-extrajson', { 'x/data.json': '{"a": 1} {"b": 2}' });
  assert.equal(await message(['-d', extra]), `bundle ${extra}: bundle load failed on x/data.json: error: invalid character '{' after top-level value`);
  const nullAfter = await evalCli(['-d', tgzOf('d-nulljson', { 'x/data.json': '{"a": 1} null' }), '-f', 'raw', 'data.x.a']);
  assert.equal(nullAfter.out, '1\n', nullAfter.err);
  const rootData = tgzOf('d-rootdata', { 'data.json': '[1]' });
  assert.equal(await message(['-d', rootData]), `bundle ${rootData}: bundle load failed on data.json: root value must be object`);
  const badRego = tgzOf('d-badrego', { '/p.rego': 'package p\np if {\n' });
  assert.equal(await message(['-d', badRego]), `bundle ${badRego}: 1 error occurred: /p.rego:3: rego_parse_error: unexpected eof token`);
  // The manifest is read as json.Decoder reads it: Go's texts, and nothing after the first value looked at.
  for (const [name, text, want] of [
    ['d-m-cut', '{"roots": [', 'unexpected EOF'],
    ['d-m-empty', '', 'EOF'],
    ['d-m-char', '{"roots": x}', "invalid character 'x' looking for beginning of value"],
  ] as const) {
    const f = tgzOf(name, { '.manifest': text });
    assert.equal(await message(['-d', f]), `bundle ${f}: bundle load failed on manifest decode: ${want}`);
  }
  const trailing = await evalCli(['-d', tgzOf('d-m-trailing', { '.manifest': '{"revision": "r9"} trailing words' }), '-f', 'raw', 'data.system.bundle.manifest.revision']);
  assert.equal(trailing.out, 'r9\n', trailing.err);
  const badManifest = tgzOf('d-badmanifest', { '.manifest': '{"revision": 7}' });
  assert.equal(await message(['-d', badManifest]), `bundle ${badManifest}: bundle load failed on manifest decode: json: cannot unmarshal number into Go struct field Manifest.revision of type string`);
  // Two archives in one directory both set the manifest's revision: the loader's merge error, naming the second.
  const two = join(dir, 'd-two');
  mkdirSync(two);
  for (const n of ['a', 'b']) writeFileSync(join(two, `${n}.tar.gz`), gzipSync(buildTar([{ path: '.manifest', content: `{"revision": "${n}"}` }])));
  assert.equal(await message(['-d', two]), `${join(two, 'b.tar.gz')}: merge error`);
  // In two directories they load side by side; a module path both archives hold is the later archive's only.
  const apart = join(dir, 'd-apart');
  for (const [n, v] of [['one', 1], ['two', 2]] as const) {
    mkdirSync(join(apart, n), { recursive: true });
    writeFileSync(join(apart, n, 'b.tar.gz'), gzipSync(buildTar([{ path: '/policy.rego', content: `package p\nv := ${v}\n` }, { path: '/data.json', content: `{"n": ${v}}` }])));
  }
  const sides = await evalCli(['-d', apart, '-f', 'values', 'data.p.v; data.one.n; data.two.n']);
  assert.equal(sides.code, 0, sides.out + sides.err);
  assert.deepEqual(JSON.parse(sides.out), [2, 1, 2]);
});

test('-d .tar.gz: the manifest\'s rego_version and file_rego_versions choose how each module is parsed', async () => {
  const { gzipSync } = await import('node:zlib');
  const { buildTar } = await import('../test-support/tar-build.js');
  const base = join(dir, 'd-versions');
  mkdirSync(base);
  const tgzAt = (name: string, tree: Record<string, string>): string => {
    const f = join(base, `${name}.tar.gz`);
    writeFileSync(f, gzipSync(buildTar(Object.entries(tree).map(([path, content]) => ({ path, content })))));
    return f;
  };
  const V0 = 'package old\np[x] { x := 1 }\n';
  const V1 = 'package fresh\nq contains x if { x := 2 }\n';
  // The whole bundle in v0 by its manifest, though eval parses v1.
  const allV0 = tgzAt('all-v0', { '.manifest': '{"rego_version": 0}', 'old.rego': V0 });
  const r0 = await evalCli(['-d', allV0, '-f', 'values', 'data.old.p']);
  assert.equal(r0.code, 0, r0.out + r0.err);
  assert.deepEqual(JSON.parse(r0.out), [[1]]);
  // One file in v0 by a glob on its path in the archive; the rest in the bundle's v1.
  const mixed = tgzAt('mixed', { '.manifest': '{"rego_version": 1, "file_rego_versions": {"legacy/*.rego": 0}}', 'legacy/old.rego': V0, 'fresh.rego': V1 });
  const r1 = await evalCli(['-d', mixed, '-f', 'values', 'data.old.p; data.fresh.q']);
  assert.equal(r1.code, 0, r1.out + r1.err);
  assert.deepEqual(JSON.parse(r1.out), [[1], [2]]);
  // Without the glob the v0 file is a v1 parse error.
  const noGlob = tgzAt('no-glob', { 'legacy/old.rego': V0 });
  assert.match((await evalCli(['-d', noGlob, '-f', 'raw', 'data'])).err, /1 error occurred: legacy\/old\.rego:2: rego_parse_error/);
  const message = async (f: string): Promise<string> => (JSON.parse((await evalCli(['-d', f, '-f', 'json', 'data'])).out) as { errors: Array<{ message: string }> }).errors[0]!.message;
  assert.equal(await message(tgzAt('v-bad', { '.manifest': '{"rego_version": 7}', 'a.rego': 'package a\n' })), `bundle ${join(base, 'v-bad.tar.gz')}: unknown bundle rego-version 7 for file 'a.rego'`);
  assert.equal(
    await message(tgzAt('v-glob', { '.manifest': '{"file_rego_versions": {"[": 0}}', 'a.rego': 'package a\n' })),
    `bundle ${join(base, 'v-glob.tar.gz')}: failed to compile glob pattern [: unexpected end of input`,
  );
  assert.equal(
    await message(tgzAt('v-float', { '.manifest': '{"rego_version": 1.5}' })),
    `bundle ${join(base, 'v-float.tar.gz')}: bundle load failed on manifest decode: json: cannot unmarshal number 1.5 into Go struct field Manifest.rego_version of type int`,
  );
});

test('-d with a damaged .tar.gz: opa\'s read errors naming the archive, every failing file reported', async () => {
  const { gzipSync } = await import('node:zlib');
  const { buildTar } = await import('../test-support/tar-build.js');
  const base = files('d-damaged', { 'ok.json': '{"a": 1}' });
  const tar = buildTar([{ path: 'x/data.json', content: '{"b": 2}' }]);
  writeFileSync(join(base, 'plain.tar.gz'), 'not gzip at all');
  writeFileSync(join(base, 'empty.tar.gz'), '');
  writeFileSync(join(base, 'cut.tar.gz'), gzipSync(tar).subarray(0, 30));
  const res = await evalCli(['-d', base, '-f', 'json', 'data']);
  assert.equal(res.code, 2);
  assert.deepEqual(
    (JSON.parse(res.out) as { errors: Array<{ message: string }> }).errors.map((e) => e.message),
    [
      `bundle ${join(base, 'cut.tar.gz')}: bundle read failed: unexpected EOF`,
      `bundle ${join(base, 'empty.tar.gz')}: bundle read failed: archive read failed: EOF`,
      `bundle ${join(base, 'plain.tar.gz')}: bundle read failed: archive read failed: gzip: invalid header`,
    ],
  );
  // In text form, as opa prints its loader errors.
  const text = await evalCli(['-d', join(base, 'plain.tar.gz'), '-f', 'raw', 'data']);
  assert.equal(text.err, `1 error occurred: bundle ${join(base, 'plain.tar.gz')}: bundle read failed: archive read failed: gzip: invalid header\n`);
  // Random bytes and random cuts of a good archive: loaded or exit 2, never a crash.
  const good = gzipSync(tar);
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ maxLength: 1024 }), fc.nat(good.length), fc.boolean(), async (bytes, cut, random) => {
      const f = join(dir, 'd-fuzz.tar.gz');
      writeFileSync(f, random ? Buffer.from(bytes) : good.subarray(0, cut));
      const r = await evalCli(['-d', f, '-f', 'json', 'data']);
      assert.ok(r.code === 0 || r.code === 2, r.out + r.err);
      if (r.code === 2) assert.match((JSON.parse(r.out) as { errors: Array<{ message: string }> }).errors[0]!.message, /^bundle \S+: bundle (read|load) failed/);
    }),
    { numRuns: 40 },
  );
});

test('-d .tar.gz entries named with ../ stay inside data: leading dots and slashes dropped, nothing written to disk', async () => {
  const { gzipSync } = await import('node:zlib');
  const { readdirSync } = await import('node:fs');
  const { buildTar } = await import('../test-support/tar-build.js');
  const base = join(dir, 'd-traversal');
  mkdirSync(base);
  writeFileSync(
    join(base, 'evil.tar.gz'),
    gzipSync(
      buildTar([
        { path: '../../escape/data.json', content: '{"k": 1}' },
        { path: './.hidden/data.json', content: '{"h": true}' },
        { path: 'a/../b/data.json', content: '{"c": 3}' },
        { path: '../../../p.rego', content: 'package esc\nq := data.escape.k\n' },
      ]),
    ),
  );
  const before = readdirSync(dir).sort();
  const r = await evalCli(['-d', base, '-f', 'values', 'data.escape; data.hidden; data.b; data.esc.q']);
  assert.equal(r.code, 0, r.out + r.err);
  assert.deepEqual(JSON.parse(r.out), [{ k: 1 }, { h: true }, { c: 3 }, 1]);
  assert.deepEqual(readdirSync(dir).sort(), before);
  assert.deepEqual(readdirSync(base), ['evil.tar.gz']);
  // A module so named keeps the name in messages.
  writeFileSync(join(base, 'evil.tar.gz'), gzipSync(buildTar([{ path: '../../x.rego', content: 'package x\np if {\n' }])));
  const bad = await evalCli(['-d', base, '-f', 'raw', 'data']);
  assert.match(bad.err, /bundle \S+evil\.tar\.gz: 1 error occurred: \.\.\/\.\.\/x\.rego:3: rego_parse_error/);
});

test('--profile counts each expression\'s evaluations and redos, sorted and limited as opa eval does', async () => {
  const base = files('profile', {
    'p.rego': 'package t\n\nxs := [1, 2, 3, 4, 5]\n\nbig contains x if {\n\tsome x in xs\n\tx > 2\n}\n\nn := count(big)\n',
  });
  const r = await evalCli(['-d', join(base, 'p.rego'), '--profile', '--profile-sort', 'line_asc', '--format', 'json', 'data.t.n']);
  assert.equal(r.code, 0, r.err);
  const out = JSON.parse(r.out) as { result: unknown[]; metrics: Record<string, number>; profile: Array<Record<string, unknown>> };
  assert.equal(out.result.length, 1);
  assert.ok(out.metrics.timer_rego_query_eval_ns! > 0 && out.metrics.timer_rego_load_files_ns! >= 0);
  const byRow = new Map(out.profile.filter((p) => (p.location as { file: string }).file.endsWith('p.rego')).map((p) => [(p.location as { row: number }).row, p]));
  // `some x in xs` is entered once and comes back for each of the 5 elements; `x > 2` is evaluated for
  // each element and holds (so evaluation comes back to it) for 3, 4 and 5.
  assert.deepEqual(
    { eval: byRow.get(6)!.num_eval, redo: byRow.get(6)!.num_redo, gen: byRow.get(6)!.num_gen_expr },
    { eval: 1, redo: 5, gen: 1 },
  );
  assert.deepEqual({ eval: byRow.get(7)!.num_eval, redo: byRow.get(7)!.num_redo }, { eval: 5, redo: 3 });
  for (const p of out.profile) {
    assert.deepEqual(Object.keys(p).sort(), ['location', 'num_eval', 'num_gen_expr', 'num_redo', 'total_time_ns']);
    assert.ok(Number.isInteger(p.total_time_ns) && (p.total_time_ns as number) >= 0);
  }
  // The query itself has no file: its location prints as row:col.
  assert.ok(out.profile.some((p) => (p.location as { file: string; row: number }).file === '' && (p.location as { row: number }).row === 1));
  // line_asc orders by row; --profile-limit cuts the list; num_eval sorts descending.
  const rows = out.profile.map((p) => (p.location as { row: number }).row);
  assert.deepEqual(rows, [...rows].sort((a, b) => a - b));
  const one = JSON.parse((await evalCli(['-d', join(base, 'p.rego'), '--profile', '--profile-limit', '1', '--profile-sort', 'num_eval', 'data.t.n'])).out) as { profile: Array<{ num_eval: number }> };
  assert.deepEqual(one.profile.map((p) => p.num_eval), [5]);
  // Pretty output: the result, the metrics table, then opa's profile table.
  const pretty = await evalCli(['-d', join(base, 'p.rego'), '--profile', '--profile-sort', 'line', '--format', 'pretty', 'data.t.n']);
  assert.equal(pretty.code, 0, pretty.err);
  const lines = pretty.out.split('\n');
  assert.equal(lines[0], '3');
  assert.ok(lines.some((l) => /^\|\s+METRIC\s+\|\s+VALUE\s+\|$/.test(l)));
  assert.ok(lines.some((l) => /^\|\s+TIME\s+\|\s+NUM EVAL\s+\|\s+NUM REDO\s+\|\s+NUM GEN EXPR\s+\|\s+LOCATION\s+\|$/.test(l)));
  const row7 = lines.find((l) => l.includes('p.rego:7'))!;
  assert.match(row7, /^\| [0-9.]+(ns|µs|ms|s) +\| 5 +\| 3 +\| 1 +\| .*p\.rego:7 +\|$/);
  // --metrics alone adds the timers without a profile; a bad sort key or limit is a usage error.
  const m = JSON.parse((await evalCli(['-d', join(base, 'p.rego'), '--metrics', 'data.t.n'])).out) as Record<string, unknown>;
  assert.ok('metrics' in m && !('profile' in m));
  assert.notEqual((await evalCli(['-d', join(base, 'p.rego'), '--profile-sort', 'bogus', 'data.t.n'])).code, 0);
  assert.notEqual((await evalCli(['-d', join(base, 'p.rego'), '--profile', '--profile-limit', 'x', 'data.t.n'])).code, 0);
});

test('Go duration text for profile times', async () => {
  const { goDuration } = await import('../rego/index.js');
  assert.equal(goDuration(0), '0s');
  assert.equal(goDuration(999), '999ns');
  assert.equal(goDuration(20291), '20.291µs');
  assert.equal(goDuration(1500000), '1.5ms');
  assert.equal(goDuration(2000000000), '2s');
});

// opa reads input and data with encoding/json's UseNumber: a number is its text (json.Number), exact however
// large. YAML goes through go-yaml v2 first, which reads an integer beyond int64 as uint64 and a float it
// cannot parse (`1e400` overflows float64) as the string it is written as; an infinity has no JSON form.
test('-i, --stdin-input and -d keep the text of numbers beyond doubles: 12345678901234567890, 1e400', async () => {
  const p = files('bignum', {
    'in.json': '{"a": 12345678901234567890, "b": 1e400, "c": [1.0, 1e3, -0.10000000000000000001]}',
    'in.yaml': 'a: 12345678901234567890\nb: 1e400\nc: 1.5\n',
    'inf.yaml': 'a: .inf\n',
    'quoted.yaml': 'a: "one\ntwo"\nb: "x\\\n\n  y"\n',
    'escape.yaml': 'a: "x\\/y"\n',
    'data/d.json': '{"big": 98765432109876543210, "huge": -2e308}',
  });
  const raw = async (query: string, ...args: string[]) => {
    const r = await evalCli([...args, '-f', 'raw', query]);
    assert.equal(r.code, 0, r.err);
    return r.out.trim();
  };
  const inJson = ['-i', join(p, 'in.json')];
  assert.equal(await raw('input', ...inJson), '{"a":12345678901234567890,"b":1e400,"c":[1.0,1e3,-0.10000000000000000001]}');
  assert.equal(await raw('input.a + 1', ...inJson), '12345678901234567891');
  assert.equal(await raw('input.a - 12345678901234567889', ...inJson), '1');
  assert.equal(await raw('input.b > 1e399', ...inJson), 'true');
  assert.equal(await raw('input.b == 10 * 1e399', ...inJson), 'true');
  assert.equal(await raw('sprintf("%v %v", [input.a, input.b])', ...inJson), '12345678901234567890 1e400');
  assert.equal(await raw('json.marshal(input.c)', ...inJson), '[1.0,1e3,-0.10000000000000000001]');
  // The same through standard input and as data.
  const stdin = await evalCli(['--stdin-input', '-f', 'raw', 'input.a + 1'], '{"a": 12345678901234567890}');
  assert.equal(stdin.out.trim(), '12345678901234567891');
  assert.equal(await raw('data.big + 0', '-d', join(p, 'data')), '98765432109876543210');
  assert.equal(await raw('data', '-d', join(p, 'data')), '{"big":98765432109876543210,"huge":-2e308}');
  // YAML input as go-yaml reads it.
  assert.equal(await raw('input', '-i', join(p, 'in.yaml')), '{"a":12345678901234567890,"b":"1e400","c":1.5}');
  const inf = await evalCli(['-i', join(p, 'inf.yaml'), 'input']);
  assert.equal(inf.code, 2);
  assert.match(inf.err + inf.out, /inf\.yaml: json: unsupported value: \+Inf/);
  // Double-quoted scalars by go-yaml's scanner: continuation lines at any indentation, its escape set.
  assert.equal(await raw('input', '-i', join(p, 'quoted.yaml')), '{"a":"one two","b":"x\\ny"}');
  const esc = await evalCli(['-d', join(p, 'escape.yaml'), 'data']);
  assert.equal(esc.code, 2);
  assert.match(esc.err + esc.out, /escape\.yaml: yaml: found unknown escape character/);
});

test('several compile errors are listed one by one: an entry each in JSON, "N errors occurred:" otherwise', async () => {
  const dir = files('several', { 'p.rego': 'package t\n\np := count(1)\nq := upper(2)\n' });
  const j = await evalCli(['-d', dir, 'data.t.p']);
  assert.equal(j.code, 2);
  const errors = (JSON.parse(j.out) as { errors: Array<{ message: string; code: string; location?: { file: string; row: number; col: number } }> }).errors;
  assert.deepEqual(
    errors.map((e) => [e.code, e.message.split('\n')[0], e.location?.row, e.location?.col]),
    [
      ['rego_type_error', 'count: invalid argument(s)', 3, 6],
      ['rego_type_error', 'upper: invalid argument(s)', 4, 6],
    ],
  );
  assert.ok(errors.every((e) => e.location?.file.endsWith('p.rego')));
  const p = await evalCli(['-d', dir, '-f', 'pretty', 'data.t.p']);
  assert.equal(p.code, 2);
  assert.match(p.err, /^2 errors occurred:\n\S+p\.rego:3: rego_type_error: count: invalid argument\(s\)\n\thave: \(number, \?\?\?\)\n/);
  assert.match(p.err, /\n\S+p\.rego:4: rego_type_error: upper: invalid argument\(s\)\n/);
  assert.doesNotMatch(p.err, /1 error occurred/);
  // One error keeps opa's one-line prefix.
  const one = await evalCli(['-d', files('one', { 'p.rego': 'package t\n\np := count(1)\n' }), '-f', 'pretty', 'data.t.p']);
  assert.match(one.err, /^1 error occurred: \S+p\.rego:3: rego_type_error: count: invalid argument\(s\)\n/);
});

// sigs.k8s.io/yaml decodes with go-yaml v2, whose scalars are YAML 1.1's: yes/no/on/off/y/n are booleans,
// 0777 is octal, 0b101 binary, 1_000 a thousand; a timestamp stays the string it is written as.
test('YAML input and data are read with YAML 1.1 scalars, as go-yaml v2 reads them', async () => {
  const p = files('yaml11', {
    'in.yaml': 'flags: [yes, no, on, off, y, n, Yes, NO, true]\nnums: [0777, 0b101, 1_000, 0x1F, 1e3]\nwhen: 2001-12-14\nsixty: 1:30\nquoted: "yes"\n',
    'data/d.yaml': 'enabled: on\n',
  });
  const r = await evalCli(['-i', join(p, 'in.yaml'), '-d', join(p, 'data'), '-f', 'raw', '[input, data.enabled]']);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(JSON.parse(r.out), [
    { flags: [true, false, true, false, true, false, true, false, true], nums: [511, 5, 1000, 31, 1000], when: '2001-12-14', sixty: '1:30', quoted: 'yes' },
    true,
  ]);
});

test('query values are captured as opa eval captures them: a lone expression shows false, several or iteration check it', async () => {
  const pol = files('capture', { 'p.rego': 'package p\n\nallow := false\n\nxs := [1, 2, 3]\n\nf(x) := x > 1\n' });
  const values = async (q: string): Promise<unknown> => {
    const r = await evalCli(['-d', pol, '-f', 'json', q]);
    assert.equal(r.code, 0, r.err);
    const out = JSON.parse(r.out) as { result?: Array<{ expressions: Array<{ value: unknown }> }> };
    return out.result?.map((row) => row.expressions.map((e) => e.value)) ?? 'undefined';
  };
  // One expression, no iteration: its value whatever it is (rewriteQueryToCaptureValue adds no check).
  assert.deepEqual(await values('data.p.allow'), [[false]]);
  assert.deepEqual(await values('1 == 2'), [[false]]);
  assert.deepEqual(await values('count(data.p.xs) > 5'), [[false]]);
  assert.deepEqual(await values('data.p.f(1)'), [[false]]);
  assert.deepEqual(await values('data.p.allow == false'), [[true]]);
  // Unification and assignment are not captured: a failing one is undefined.
  assert.deepEqual(await values('1 = 2'), 'undefined');
  assert.deepEqual(await values('not data.p.allow'), [[true]]);
  // Several expressions: each captured value is checked, so a false one leaves no row.
  assert.deepEqual(await values('data.p.allow; true'), 'undefined');
  assert.deepEqual(await values('x := 1; x == 2'), 'undefined');
  assert.deepEqual(await values('x := 2; x == 2'), [[true, true]]);
  // Iteration: rows where the captured value is false are dropped.
  assert.deepEqual(await values('data.p.xs[_] > 1'), [[true], [true]]);
  assert.deepEqual(await values('data.p.f(data.p.xs[i])'), [[true], [true]]);
  // Only the query's own expressions are captured: inside a rule a false expression still fails its body.
  const rules = files('capture-rules', { 'r.rego': 'package r\n\nby_term if input.flag\n\nby_call if input.n == 1\n\nby_member if input.user in ["alice"]\n' });
  for (const q of ['data.r.by_term', 'data.r.by_call', 'data.r.by_member', 'data.r']) {
    const r = await evalCli(['-d', rules, '--stdin-input', '-f', 'json', q], '{"flag": false, "n": 2, "user": "eve"}');
    const want = q === 'data.r' ? '{"result":[{"expressions":[{"value":{},"text":"data.r","location":{"row":1,"col":1}}]}]}' : '{}';
    assert.equal(JSON.stringify(JSON.parse(r.out)), want, q);
  }
  // The trace shows the check that fails.
  const traced = await evalCli(['-d', pol, '-f', 'pretty', '--explain=full', 'data.p.allow; true']);
  assert.match(traced.out, /Fail _/);
});

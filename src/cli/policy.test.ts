import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { vectorPath, readVectorJson } from '../test-support/vectors.js';
import { run } from './program.js';
import { bufferIO } from './io.js';

test('policy eval prints OPA-style results for a Trustee KBS decision', async () => {
  const { cases } = readVectorJson<{ cases: Array<{ policy: string; data: unknown; input: unknown; want: boolean }> }>('rego', 'trustee', 'policy-engine-tests', 'cases.json');
  const c = cases[0]!;
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-policy-'));
  try {
    writeFileSync(join(dir, 'data.json'), JSON.stringify(c.data));
    writeFileSync(join(dir, 'input.json'), JSON.stringify(c.input));
    const io = bufferIO({}, dir);
    const policy = vectorPath('rego', 'trustee', 'policy-engine-tests', c.policy);
    assert.equal(await run(['policy', 'eval', '-d', policy, '-d', 'data.json', '-i', 'input.json', 'data.policy.allow'], io), 0);
    const out = JSON.parse(io.out()) as { result: Array<{ expressions: Array<{ value: unknown; text: string }> }> };
    assert.equal(out.result[0]!.expressions[0]!.value, c.want);
    assert.equal(out.result[0]!.expressions[0]!.text, 'data.policy.allow');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('policy eval --explain names the failed expression; undefined queries print {}', async () => {
  const io = bufferIO();
  const policy = vectorPath('rego', 'trustee', 'kbs-resource-policy', 'default.rego');
  assert.equal(await run(['policy', 'eval', '-d', policy, '--explain=fails', '-f', 'pretty', 'data.policy.allow'], io), 0);
  // opa's fails trace: the rule entered, the rule `plugin` entered and failing at its head value (moved into its
  // body: `__local0__ = data.plugin`), then `plugin == "resource"` failing where the rule's value is moved out of
  // the call (`__local1__ = data.policy.plugin`, the rule by its data path), then the value.
  assert.match(
    io.out(),
    /^query:1 +Enter data\.policy\.allow = _\n.*default\.rego:83 +\| Enter data\.policy\.allow\n.*default\.rego:81 +\| \| Enter data\.policy\.plugin\n.*default\.rego:81 +\| \| \| Fail __local0__ = data\.plugin\n.*default\.rego:84 +\| \| Fail __local1__ = data\.policy\.plugin\nfalse\n$/,
  );
  const io2 = bufferIO();
  assert.equal(await run(['policy', 'eval', '-d', policy, 'data.policy.nothing'], io2), 0);
  assert.equal(io2.out().trim(), '{}');
});

test('policy eval reports a syntax error as opa does: exit 2, rego_parse_error with its position', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-policy-'));
  try {
    writeFileSync(join(dir, 'bad.rego'), 'package p\nallow if {\n');
    const io = bufferIO({}, dir);
    assert.equal(await run(['policy', 'eval', '-d', 'bad.rego', 'data.p.allow'], io), 2);
    const err = JSON.parse(io.out()).errors[0];
    assert.equal(err.code, 'rego_parse_error');
    // The file as it was named on the command line, as opa names a module by the path it loaded it from.
    assert.deepEqual([err.location.file, err.location.row], ['bad.rego', 3]);
    const pretty = bufferIO({}, dir);
    assert.equal(await run(['policy', 'eval', '-f', 'pretty', '-d', 'bad.rego', 'data.p.allow'], pretty), 2);
    assert.match(pretty.err(), /^1 error occurred: .*bad\.rego:3: rego_parse_error/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('policy conformance --json summarises any directory of the suite layout', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-conf-'));
  try {
    mkdirSync(join(dir, 'v0'));
    cpSync(vectorPath('rego', 'opa-conformance', 'helloworld'), join(dir, 'helloworld'), { recursive: true });
    cpSync(vectorPath('rego', 'opa-conformance', 'v0', 'helloworld'), join(dir, 'v0', 'helloworld'), { recursive: true });
    const io = bufferIO();
    const code = await run(['policy', 'conformance', dir, '--json'], io);
    const last = JSON.parse(io.out().trim().split('\n').pop()!) as { total: number; passed: number; failed: number; categories: Record<string, { total: number }> };
    assert.equal(last.total, 4);
    assert.equal(last.passed + last.failed, 4);
    assert.deepEqual(Object.keys(last.categories).sort(), ['helloworld', 'v0/helloworld']);
    assert.equal(code, last.failed === 0 ? 0 : 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('policy conformance runs a damaged or newer copy of the suite to the end, counting what it cannot read as failures', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-conf-'));
  try {
    cpSync(vectorPath('rego', 'opa-conformance', 'helloworld'), join(dir, 'v1', 'helloworld'), { recursive: true });
    mkdirSync(join(dir, 'v1', 'odd', 'deeper'), { recursive: true });
    writeFileSync(join(dir, 'v1', 'odd', 'broken.yaml'), 'cases: [\n  - note: x\n');
    writeFileSync(join(dir, 'v1', 'odd', 'not-a-list.yaml'), 'cases: 5\n');
    writeFileSync(join(dir, 'v1', 'odd', 'README.md'), '# not a case file\n');
    writeFileSync(join(dir, 'v1', 'odd', 'deeper', 'shapes.yaml'), [
      'cases:',
      '  - 7',
      '  - note: no query',
      '  - note: want_result not a list',
      '    query: x = 1',
      '    want_result: "x"',
      '  - note: modules not a list',
      '    query: data.p.x = y',
      '    modules: 3',
      '    want_result: []',
      '  - note: a new field this runner does not know',
      '    query: x = 1',
      '    some_future_field: {a: 1}',
      '    want_result: [{x: 1}]',
      '',
    ].join('\n'));
    writeFileSync(join(dir, 'v1', 'odd', 'empty.yaml'), '');
    const io = bufferIO();
    const code = await run(['policy', 'conformance', dir, '--json'], io);
    const last = JSON.parse(io.out().trim().split('\n').pop()!) as { total: number; passed: number; failed: number; categories: Record<string, { total: number; passed: number }> };
    assert.equal(code, 1);
    assert.equal(last.categories['helloworld']!.passed, last.categories['helloworld']!.total);
    // broken.yaml, not-a-list.yaml, and four unusable cases fail; the case with an unknown field passes.
    assert.deepEqual(last.categories['odd'], { total: 7, passed: 1 });
    const text = bufferIO();
    await run(['policy', 'conformance', dir], text);
    assert.match(text.out(), /FAIL odd \| v1\/odd\/broken\.yaml \| not a YAML test file/);
    assert.match(text.out(), /FAIL odd \| modules not a list \| "modules" is not a list of strings/);
    assert.match(text.out(), /FAIL odd \| want_result not a list \| "want_result" is not a list/);
    assert.notEqual(await run(['policy', 'conformance', join(dir, 'missing')], bufferIO()), 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

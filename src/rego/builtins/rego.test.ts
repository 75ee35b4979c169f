import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { type RObject, type Value, toJsonText } from '../value.js';
import { call, callNoCrash, expectError } from './test-support/harness.js';

test('rego.parse_module returns OPA AST JSON for package, imports and rules', () => {
  const m = call('rego.parse_module', ['x.rego', 'package foo.bar\n\nimport rego.v1\nimport data.a\n\np if { a = true }\n']) as RObject;
  const json = JSON.parse(toJsonText(m)) as {
    package: { path: Array<{ type: string; value: string }> };
    imports: Array<{ path: { type: string } }>;
    rules: Array<{ head: { name: string; value: unknown }; body: Array<{ index: number; terms: unknown }> }>;
  };
  assert.deepEqual(json.package.path, [{ type: 'var', value: 'data' }, { type: 'string', value: 'foo' }, { type: 'string', value: 'bar' }]);
  assert.equal(json.imports.length, 2);
  assert.equal(json.rules[0]!.head.name, 'p');
  assert.deepEqual(json.rules[0]!.head.value, { type: 'boolean', value: true });
  assert.deepEqual(json.rules[0]!.body[0]!.terms, [
    { type: 'ref', value: [{ type: 'var', value: 'eq' }] },
    { type: 'var', value: 'a' },
    { type: 'boolean', value: true },
  ]);
});

test('rego.parse_module reports parse errors as builtin errors (opa-conformance/regoparsemodule)', () => {
  expectError('rego.parse_module', ['x.rego', 'package foo.'], 'rego_parse_error: unexpected eof token: expected ident', 'eval_builtin_error');
});

test('rego.parse_module never fails with anything but a BuiltinError', () => {
  const src = fc.string({ unit: fc.constantFrom('package ', 'p', ' if ', '{', '}', ':=', '1', '"a"', '\n', '[', ']', 'x', '.', 'import ', 'some ', 'in ', 'not ', '(', ')'), maxLength: 20 });
  fc.assert(fc.property(src, (s) => callNoCrash('rego.parse_module', ['x.rego', `package t\n${s}`] as Value[])), { numRuns: 2000 });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { parse as parseYaml } from 'yaml';
import { vectorPath } from '../../test-support/vectors.js';
import { type Value, obj, parseJsonValue, toRegoString, equal } from '../value.js';
import { arbValue, call, callNoCrash, expectCall, expectError, j, s } from './test-support/harness.js';
import { BuiltinError } from './registry.js';
import { Engine } from '../index.js';
import { builtins as aggregates } from './aggregates.js';
import { builtins as arrays } from './arrays.js';
import { builtins as sets } from './sets.js';
import { builtins as objects } from './objects.js';
import { builtins as types } from './types.js';
import { builtins as numbers } from './numbers.js';
import { builtins as bits } from './bits.js';

// Expected values are those of opa-conformance/v1 aggregates, array, union, object*, json*, numbersrange,
// typenamebuiltin and bits*.

test('aggregates: sum, product, max, min, sort over arrays and sets, exact beyond 64 bits', () => {
  expectCall('sum', [[1, 2, 3, 4]], 10);
  expectCall('sum', [s(1, 2, 3, 4)], 10);
  expectCall('product', [s(1, 2, 3, 4)], 24);
  expectCall('max', [[1, 2, 3, 4]], 4);
  expectCall('min', [[3, 2, 1, 4, 6, -7, 10]], -7);
  expectCall('max', [[]], undefined);
  expectCall('sort', [[4, 3, 2, 1]], j('[1,2,3,4]'));
  expectCall('sort', [s(1, 2, 3, 4)], j('[1,2,3,4]'));
  expectCall('sum', [[j('18446744073709551617'), 1]], j('18446744073709551618'));
  expectCall('sum', [[j('9223372036854775807'), 1]], j('9223372036854775808'));
  expectCall('product', [[j('18446744073709551617'), 2]], j('36893488147419103234'));
  expectError('sum', [['a']], 'sum: operand 1 must be array of numbers but got array containing string');
  expectError('max', [1], 'max: operand 1 must be one of {array, set} but got number');
});

test('array.concat, slice (clamped), flatten (one level) and reverse', () => {
  expectCall('array.concat', [[1, 2], [3, 4]], j('[1,2,3,4]'));
  expectError('array.concat', [obj({}), [3]], 'array.concat: operand 1 must be array but got object', 'eval_type_error');
  expectCall('array.slice', [[1, 2, 3, 4, 5], 1, 3], j('[2,3]'));
  expectCall('array.slice', [[1, 2, 3, 4, 5], -4, -1], j('[]'));
  expectCall('array.slice', [[1, 2, 3, 4, 5], 4, 1], j('[]'));
  expectCall('array.slice', [[1, 2, 3, 4, 5], -1, 2], j('[1,2]'));
  expectCall('array.slice', [[1, 2, 3, 4, 5], 3, 6], j('[4,5]'));
  expectCall('array.slice', [[1, 2, 3], 1000, 2000], j('[]'));
  expectCall('array.flatten', [j('[[[1], [2, 3, []]], [[4, 5]]]')], j('[[1],[2,3,[]],[4,5]]'));
  expectCall('array.flatten', [j('[1, [2, "string"], 3, [{"a": "b"}, 4.5], 6, [[7, 8]]]')], j('[1,2,"string",3,{"a":"b"},4.5,6,[7,8]]'));
  expectError('array.flatten', [1], 'array.flatten: operand 1 must be array but got number');
  expectCall('array.reverse', [[1, 2, 3]], j('[3,2,1]'));
});

test('union and intersection of a set of sets', () => {
  expectCall('union', [s()], s());
  expectCall('union', [s(s(1, 2, 3), s(2, 3, 4), s(4, 5, 6))], s(1, 2, 3, 4, 5, 6));
  expectCall('intersection', [s(s(1, 2, 3), s(2, 3, 4))], s(2, 3));
  expectCall('intersection', [s()], s());
  // sets.go reads each member with SetOperand(x, 1): a plain operand type error naming the member's type.
  expectError('union', [s(1)], 'union: operand 1 must be set but got number');
  expectError('union', [s(s(1), 'a')], 'union: operand 1 must be set but got string');
  expectError('intersection', [s(s(1), [1])], 'intersection: operand 1 must be set but got array');
  expectError('intersection', [[]], 'intersection: operand 1 must be set but got array');
});

test('object.union merges recursively with the right side winning; union_n folds left to right', () => {
  expectCall('object.union', [j('{"a": {"b": {"c": 1}}, "e": 1}'), j('{"a": {"b": "foo", "b1": "bar"}, "d": 7, "e": 17}')], j('{"a": {"b": "foo", "b1": "bar"}, "d": 7, "e": 17}'));
  expectCall('object.union', [j('{"b": 2}'), j('{"a": {"b": {"c": 1}}}')], j('{"a": {"b": {"c": 1}}, "b": 2}'));
  expectError('object.union', [[], obj({})], 'object.union: operand 1 must be object but got array');
  expectCall('object.union_n', [j('[{"a": {"b": 2}}, {"a": 4}, {"a": {"c": 3}}]')], j('{"a": {"c": 3}}'));
  expectCall('object.union_n', [j('[{"a": 1}, {"a": {"b": 1}}, {"a": {"c": 2}}]')], j('{"a": {"b": 1, "c": 2}}'));
});

test('object.filter, remove, keys, get and subset', () => {
  expectCall('object.filter', [j('{"a": 1, "b": 2, "c": 3, "e": 9}'), s('a', 'e')], j('{"a": 1, "e": 9}'));
  expectCall('object.filter', [j('{"a": 1, "b": 2, "c": 3, "e": 9}'), j('{"a": "foo", "e": ""}')], j('{"a": 1, "e": 9}'));
  expectCall('object.filter', [j('{"a": 7}'), []], j('{}'));
  expectError('object.filter', [j('{"a": 1}'), 'a'], 'object.filter: operand 2 must be one of {object, set, array} but got string');
  expectError('object.filter', [null, s('a')], 'object.filter: operand 1 must be object but got null');
  const o = j('{"a": 1, "b": 2, "c": 3}');
  expectCall('object.remove', [o, s('a')], j('{"b": 2, "c": 3}'));
  expectCall('object.remove', [o, ['b']], j('{"a": 1, "c": 3}'));
  expectCall('object.keys', [j('{"a": 1, "b": 2}')], s('a', 'b'));
  expectError('object.keys', ['x'], 'object.keys: operand 1 must be object but got string');
  expectCall('object.get', [j('{"a": {"b": [1, {"c": null}]}}'), ['a', 'b', 1, 'c'], 'd'], null);
  expectCall('object.get', [j('{"a": null}'), 'a', 'd'], null);
  expectCall('object.get', [j('{"a": 1}'), 'x', 'd'], 'd');
  expectCall('object.get', [j('{"a": 1}'), [], 'd'], j('{"a": 1}'));
  expectCall('object.subset', [j('{"a": {"b": 1, "c": 2}, "d": [1, 2, 3]}'), j('{"a": {"c": 2}, "d": [2, 3]}')], true);
  expectCall('object.subset', [[1, 2, 3], s(3, 1)], true);
  expectCall('object.subset', [[1, 2, 3], [1, 3]], false);
  expectError('object.subset', [1, 2], 'must be of the same type or array and set', 'eval_type_error');
});

test('json.filter and json.remove take string or array paths', () => {
  const d = j('{"a": {"b": {"c": 7, "d": 8}}, "e": 9}');
  expectCall('json.filter', [d, s('a/b/c', 'e')], j('{"a": {"b": {"c": 7}}, "e": 9}'));
  expectCall('json.filter', [d, ['a/b/c', 'e']], j('{"a": {"b": {"c": 7}}, "e": 9}'));
  expectCall('json.filter', [j('{"a": {"b": 7}}'), s('a', 'a/b')], j('{"a": {"b": 7}}'));
  expectCall('json.filter', [j('{"a": [{"b": 7, "c": 8}, {"d": 9}]}'), s('a/0/b', 'a/1')], j('{"a": [{"b": 7}, {"d": 9}]}'));
  expectCall('json.filter', [j('{"a": [{"1": ["b", "c", "d"]}, {"x": "y"}]}'), s('a/0/1/2')], j('{"a": [{"1": ["d"]}]}'));
  expectCall('json.filter', [d, s(['a', 'b', 'c'], ['e'])], j('{"a": {"b": {"c": 7}}, "e": 9}'));
  const r = j('{"a": {"b": 2, "c": 3}}');
  expectCall('json.remove', [r, s('a')], j('{}'));
  expectCall('json.remove', [r, s('a/b')], j('{"a": {"c": 3}}'));
  expectCall('json.remove', [j('{"a": [1, 2, 3]}'), ['/a/1']], j('{"a": [1, 3]}'));
});

test('json.patch passes the json-patch-tests carried by the conformance suite', () => {
  const doc = parseYaml(readFileSync(vectorPath('rego', 'opa-conformance', 'jsonpatch', 'json-patch-tests.yaml'), 'utf8')) as {
    cases: Array<{ modules: string[] }>;
  };
  let n = 0;
  for (const m of doc.cases[0]!.modules.slice(1)) {
    const body = m.split('cases := ')[1]!.replace(/,(\s*[\]}])/g, '$1');
    const cases = (JSON.parse(body) as Array<Record<string, unknown>>).map((c) => ({ raw: c, v: parseJsonValue(JSON.stringify(c)) }));
    for (const { raw, v } of cases) {
      if (raw.opa_disabled === true) continue;
      const o = v as import('../value.js').RObject;
      // A failed patch is an undefined call in OPA's default mode: a builtin error or no result.
      let got: Value | undefined;
      try {
        got = call('json.patch', [o.getStr('doc')!, o.getStr('patch')!]);
      } catch (e) {
        if (!(e instanceof BuiltinError)) throw e;
        got = undefined;
      }
      const label = String(raw.comment ?? JSON.stringify(raw.patch));
      if (raw.error !== undefined) assert.equal(got, undefined, `${label}: expected failure, got ${got === undefined ? '' : toRegoString(got)}`);
      else if (raw.expected !== undefined) assert.ok(got !== undefined && equal(got, o.getStr('expected')!), `${label}: got ${got === undefined ? 'undefined' : toRegoString(got)}`);
      else assert.notEqual(got, undefined, label);
      n++;
    }
  }
  assert.ok(n > 100, `ran ${n} cases`);
});

test('json.patch on sets: add needs key == value, remove/move by element', () => {
  const doc = obj({ foo: s('a', 'b', 'c') });
  expectCall('json.patch', [doc, j('[{"op": "remove", "path": "foo/b"}]')], obj({ foo: s('a', 'c') }));
  expectCall('json.patch', [doc, j('[{"op": "add", "path": "foo/d", "value": "d"}]')], obj({ foo: s('a', 'b', 'c', 'd') }));
  expectError('json.patch', [doc, j('[{"op": "add", "path": "foo/d", "value": "e"}]')], 'json.patch: set key "d" does not equal value to be inserted "e"');
  expectError('json.patch', [[1, 2, 3], j('[{"op": "add", "path": "1.2", "value": "foo"}]')], 'json.patch: invalid string for indexing');
  expectCall(
    'json.patch',
    [obj({ foo: s('a', 'b'), bar: s('c', 'd') }), j('[{"op": "move", "from": "foo/a", "path": "bar/a"}]')],
    obj({ foo: s('b'), bar: s('a', 'c', 'd') }),
  );
  expectCall('json.patch', [s([1]), [obj({ op: 'add', path: [[1], 1], value: 2 })]], s([1, 2]));
});

test('type predicates and type_name', () => {
  const samples: Array<[Value, string]> = [[null, 'null'], [true, 'boolean'], [100, 'number'], ['Hello', 'string'], [[1], 'array'], [s(1), 'set'], [obj({ foo: 1 }), 'object']];
  for (const [v, t] of samples) {
    expectCall('type_name', [v], t);
    expectCall(`is_${t}`, [v], true);
    expectCall(`is_${t === 'null' ? 'string' : 'null'}`, [v], false);
  }
});

test('numbers: range (both directions, integer operands), range_step, rounding, abs', () => {
  expectCall('numbers.range', [0, 0], j('[0]'));
  expectCall('numbers.range', [-2, 3], j('[-2,-1,0,1,2,3]'));
  expectCall('numbers.range', [2, -3], j('[2,1,0,-1,-2,-3]'));
  expectError('numbers.range', [3.14, 4], 'numbers.range: operand 1 must be integer number but got floating-point number', 'eval_type_error');
  expectError('numbers.range', [3, 3.14], 'numbers.range: operand 2 must be integer number but got floating-point number');
  expectCall('numbers.range_step', [0, 10, 3], j('[0,3,6,9]'));
  expectCall('numbers.range_step', [10, 0, 3], j('[10,7,4,1]'));
  expectError('numbers.range_step', [0, 10, 0], 'numbers.range_step: step must be a positive integer');
  expectCall('round', [-2.5], -3);
  expectCall('round', [2.5], 3);
  expectCall('ceil', [1.2], 2);
  expectCall('floor', [-1.2], -2);
  // Outside the int32 window OPA takes abs on its float path (opa:v1/topdown/arithmetic.go opAbs): the operand
  // is read at 64 bits, so 2^64 + 1 comes back as 2^64; within 64 bits it is exact.
  expectCall('abs', [j('-18446744073709551617')], j('18446744073709551616'));
  expectCall('abs', [j('-9223372036854775807')], j('9223372036854775807'));
});

test('rand.intn stays in range and 0 gives 0', () => {
  for (let i = 0; i < 50; i++) {
    const v = call('rand.intn', ['k', 10]) as number;
    assert.ok(Number.isInteger(v) && v >= 0 && v < 10);
  }
  expectCall('rand.intn', ['k', 0], 0);
});

test('bits on exact integers; floats and negative shifts are type errors', () => {
  expectCall('bits.negate', [42], -43);
  expectError('bits.negate', [7.2], 'bits.negate: operand 1 must be integer number but got floating-point number', 'eval_type_error');
  expectCall('bits.lsh', [1, 3], 8);
  expectError('bits.lsh', [7.2, 42], 'bits.lsh: operand 1 must be integer number but got floating-point number');
  expectError('bits.lsh', [7, -1], 'bits.lsh: operand 2 must be an unsigned integer number but got a negative integer');
  expectCall('bits.lsh', [2147483647, 1], 4294967294);
  expectCall('bits.lsh', [j('9223372036854775807'), 1], j('18446744073709551614'));
  expectCall('bits.xor', [42, 3], 41);
  expectCall('bits.and', [12, 10], 8);
  expectCall('bits.or', [12, 10], 14);
  expectCall('bits.rsh', [-8, 1], -4);
});

test('collection builtins never fail with anything but a BuiltinError', () => {
  const all = [...aggregates, ...arrays, ...sets, ...objects, ...types, ...numbers, ...bits];
  fc.assert(
    fc.property(fc.constantFrom(...all), fc.array(arbValue(), { minLength: 3, maxLength: 3 }), (def, args) => {
      callNoCrash(def.name, args.slice(0, def.arity));
    }),
    { numRuns: 1000 },
  );
});

test('json.remove and json.filter name themselves in a bad-path error, as OPA prefixes operand errors', () => {
  for (const name of ['json.remove', 'json.filter']) {
    expectError(name, [obj({ a: 1 }), [1]], `${name}: operand 2 must be one of {set, array} containing string paths or array of path segments but got number`, 'eval_type_error');
    expectError(name, [obj({ a: 1 }), obj({ x: 1 })], `${name}: operand 2 must be one of {set, array} but got object`, 'eval_type_error');
  }
});

test("object.* and array.* operand errors carry OPA's texts", () => {
  const cases: Array<[string, Value[], string]> = [
    ['object.union', [1, j('{}')], 'operand 1 must be object but got number'],
    ['object.union', [j('{}'), []], 'operand 2 must be object but got array'],
    ['object.union_n', [j('{}')], 'operand 1 must be array but got object'],
    ['object.union_n', [[j('{}'), 1]], 'operand 1 must be array of objects but got array containing number'],
    ['object.remove', [[], []], 'operand 1 must be object but got array'],
    ['object.remove', [j('{}'), 1], 'operand 2 must be one of {object, set, array} but got number'],
    ['object.filter', [j('{}'), 'a'], 'operand 2 must be one of {object, set, array} but got string'],
    ['object.get', [1, 'a', 1], 'operand 1 must be object but got number'],
    ['object.keys', [[]], 'operand 1 must be object but got array'],
    ['object.subset', [j('{}'), []], 'both arguments object.subset must be of the same type or array and set'],
    ['array.concat', [1, []], 'operand 1 must be array but got number'],
    ['array.concat', [[], j('{}')], 'operand 2 must be array but got object'],
    ['array.slice', [[1], 1.5, 2], 'operand 2 must be integer number but got floating-point number'],
    ['array.slice', [[1], 0, 'a'], 'operand 3 must be number but got string'],
    ['array.reverse', ['ab'], 'operand 1 must be array but got string'],
    ['json.patch', [j('{}'), j('{}')], 'operand 2 must be array but got object'],
  ];
  for (const [name, args, text] of cases) expectError(name, args, `${name}: ${text}`, 'eval_type_error');
});

test("json.patch: malformed operations fail with OPA's applyPatches texts, in OPA's order", () => {
  const cases: Array<[string, string]> = [
    ['[1]', 'must be an array of JSON-Patch objects, but at least one element is not an object'],
    ['[{"op": "add"}]', "missing required attribute 'path'"],
    ['[{"path": "/a"}]', "missing required attribute 'op'"],
    ['[{"op": 1, "path": "/a"}]', "attribute 'op' must be a string but found: number"],
    ['[{"op": "add", "path": "/a"}]', "missing required attribute 'value'"],
    ['[{"op": "copy", "path": "/a"}]', "missing required attribute 'from'"],
    ['[{"op": "move", "path": "/a"}]', "missing required attribute 'from'"],
    ['[{"op": "test", "path": "/a"}]', "missing required attribute 'value'"],
    ['[{"op": "bad", "path": "/a"}]', "unrecognized op: 'bad'"],
    ['[{"op": "test", "path": "/a", "value": 2}]', 'value from EditTree != patch value.\n\nExpected: 2\n\nFound: 1'],
  ];
  for (const [ops, text] of cases) expectError('json.patch', [j('{"a": 1}'), j(ops)], `json.patch: ${text}`, 'eval_builtin_error');
  expectError('json.patch', [j('{"a": 1}'), j('[{"op": "add", "path": 1, "value": 1}]')], 'json.patch: operand 2 must be one of {set, array} containing string paths', 'eval_type_error');
  // A path the document lacks is an edit tree error (below): undefined in a policy unless errors are strict.
  const policy = 'package t\np := json.patch({"a": 1}, [{"op": "remove", "path": "/b"}])\n';
  const lax = new Engine();
  lax.addPolicy('t.rego', policy);
  assert.equal(lax.evalRuleValue('data.t.p'), undefined);
  const strict = new Engine({ strict: true });
  strict.addPolicy('t.rego', policy);
  assert.throws(() => strict.evalRuleValue('data.t.p'), /json\.patch: cannot delete child key "b" that does not exist/);
});

// A path the document does not have fails with the texts of OPA's edit tree (opa:internal/edittree Unfold,
// Insert, Delete and toIndex; v1/topdown/json.go applyPatches passes them on), each a builtin error: an
// undefined call outside strict mode, the text under strict-builtin-errors.
test('json.patch: missing paths and bad indexes fail with the edit tree texts', () => {
  const cases: Array<[Value, string, string]> = [
    [j('{"a": 1}'), '[{"op": "add", "path": "/b/c", "value": 1}]', 'path "b" does not exist in object term {"a": 1}'],
    [j('{"a": 1}'), '[{"op": "remove", "path": "/b"}]', 'cannot delete child key "b" that does not exist'],
    [j('{"a": 1}'), '[{"op": "replace", "path": "/b", "value": 2}]', 'cannot delete child key "b" that does not exist'],
    [j('{"a": 1}'), '[{"op": "add", "path": "/a/b", "value": 1}]', 'expected composite type, found value: 1 (type: ast.Number)'],
    [j('{"a": "x"}'), '[{"op": "add", "path": "/a/b/c", "value": 1}]', 'expected composite type for path "b", found value: "x" (type: ast.String)'],
    [j('{"a": null}'), '[{"op": "remove", "path": "/a/b"}]', 'expected composite type, found value: null (type: ast.Null)'],
    [j('{"a": true}'), '[{"op": "test", "path": "/a/b", "value": 1}]', 'expected composite type for path "b", found value: true (type: ast.Boolean)'],
    [j('[1, 2]'), '[{"op": "add", "path": "/5", "value": 1}]', 'index for array insertion out of bounds'],
    [j('[1, 2]'), '[{"op": "add", "path": "/-1", "value": 1}]', 'index for array insertion out of bounds'],
    [j('[1, 2]'), '[{"op": "remove", "path": "/2"}]', 'index for array delete out of bounds'],
    [j('[1, 2]'), '[{"op": "remove", "path": "/-"}]', 'index for array delete out of bounds'],
    [j('[1, 2]'), '[{"op": "add", "path": "/01", "value": 1}]', 'leading zeros are not allowed in JSON paths'],
    [j('[1, 2]'), '[{"op": "add", "path": "/x", "value": 1}]', 'invalid string for indexing'],
    [j('[1, 2]'), '[{"op": "add", "path": "/99999999999999999999", "value": 1}]', 'invalid string for indexing'],
    [j('[[1], 2]'), '[{"op": "add", "path": "/3/0", "value": 1}]', 'path 3 does not exist in array term [[1], 2]'],
    [j('[[1], 2]'), '[{"op": "copy", "from": "/5", "path": "/0"}]', 'path 5 does not exist in array term [[1], 2]'],
    [j('{"a": [1]}'), '[{"op": "move", "from": "/b", "path": "/c"}]', 'path "b" does not exist in object term {"a": [1]}'],
    [j('[1, 2]'), '[{"op": "add", "path": [1.5], "value": 1}]', 'invalid number type for indexing'],
    [j('[1, 2]'), '[{"op": "add", "path": [true], "value": 1}]', 'invalid type for indexing'],
  ];
  for (const [doc, ops, text] of cases) expectError('json.patch', [doc, j(ops)], `json.patch: ${text}`);
  const set = obj({ s: s('a') });
  expectError('json.patch', [set, j('[{"op": "add", "path": "/s/b/c", "value": 1}]')], 'json.patch: path "b" does not exist in set term {"a"}');
  expectError('json.patch', [set, j('[{"op": "remove", "path": "/s/b"}]')], 'json.patch: cannot delete child key "b" that does not exist');
  // Numeric segments index arrays as OPA's toIndex does; "-" appends.
  expectCall('json.patch', [j('[1, 2]'), j('[{"op": "add", "path": [1], "value": 9}]')], j('[1, 9, 2]'));
  expectCall('json.patch', [j('[1, 2]'), j('[{"op": "add", "path": "/-", "value": 9}]')], j('[1, 2, 9]'));
});

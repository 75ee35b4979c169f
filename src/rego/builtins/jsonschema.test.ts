import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { type Value } from '../value.js';
import { arbValue, call, callNoCrash, expectCall, expectError, j } from './test-support/harness.js';

test('match_schema reports gojsonschema-shaped errors (example from the OPA documentation)', () => {
  expectCall('json.match_schema', [j('{"id": 5}'), j('{"properties": {"id": {"type": "string"}}}')], j(
    '[false, [{"desc": "Invalid type. Expected: string, given: integer", "error": "id: Invalid type. Expected: string, given: integer", "field": "id", "type": "invalid_type"}]]',
  ));
  expectCall('json.match_schema', [j('{"id": "x"}'), '{"properties": {"id": {"type": "string"}}}'], j('[true, []]'));
  expectCall('json.match_schema', [j('{}'), j('{"required": ["name"]}')], j('[false, [{"desc": "name is required", "error": "(root): name is required", "field": "(root)", "type": "required"}]]'));
});

test('the common keywords validate as JSON Schema specifies', () => {
  const schema = j(`{
    "definitions": {"port": {"type": "integer", "minimum": 1, "maximum": 65535}},
    "type": "object",
    "properties": {
      "name": {"type": "string", "minLength": 2, "pattern": "^[a-z]+$"},
      "ports": {"type": "array", "items": {"$ref": "#/definitions/port"}, "uniqueItems": true, "minItems": 1},
      "mode": {"enum": ["a", "b"]},
      "ip": {"type": "string", "format": "ipv4"}
    },
    "additionalProperties": false
  }`);
  const valid = (doc: string): boolean => (call('json.match_schema', [j(doc), schema]) as Value[])[0] === true;
  assert.ok(valid('{"name": "ab", "ports": [80, 443], "mode": "a", "ip": "10.0.0.1"}'));
  assert.ok(!valid('{"name": "a"}'));
  assert.ok(!valid('{"name": "AB"}'));
  assert.ok(!valid('{"ports": [0]}'));
  assert.ok(!valid('{"ports": [80, 80]}'));
  assert.ok(!valid('{"ports": []}'));
  assert.ok(!valid('{"mode": "c"}'));
  assert.ok(!valid('{"ip": "10.0.0.256"}'));
  assert.ok(!valid('{"other": 1}'));
  expectCall('json.match_schema', [5, j('{"oneOf": [{"type": "integer"}, {"minimum": 3}]}')], j('[false, [{"desc": "Must validate one and only one schema (oneOf)", "error": "(root): Must validate one and only one schema (oneOf)", "field": "(root)", "type": "number_one_of"}]]'));
});

test('verify_schema accepts schemas and reports invalid ones', () => {
  expectCall('json.verify_schema', [j('{"type": "string"}')], [true, null]);
  expectCall('json.verify_schema', ['{"type": "str"}'], [false, 'has a primitive type that is NOT VALID -- given: /str/ Expected valid values are:/array/ /boolean/ /integer/ /number/ /null/ /object/ /string/']);
  expectCall('json.verify_schema', ['{"$ref": "#/definitions/missing"}'], [false, 'reference #/definitions/missing does not resolve']);
  expectError('json.match_schema', [1, '{"$ref": "https://example.com/s.json"}'], 'remote reference');
});

test('schema builtins never fail with anything but a BuiltinError', () => {
  fc.assert(
    fc.property(arbValue(), arbValue(), (doc, schema) => {
      callNoCrash('json.match_schema', [doc, schema]);
      callNoCrash('json.verify_schema', [schema]);
    }),
    { numRuns: 1500 },
  );
});

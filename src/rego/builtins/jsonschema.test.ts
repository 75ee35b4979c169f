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
  expectCall('json.match_schema', ['5', j('{"oneOf": [{"type": "integer"}, {"minimum": 3}]}')], j('[false, [{"desc": "Must validate one and only one schema (oneOf)", "error": "(root): Must validate one and only one schema (oneOf)", "field": "(root)", "type": "number_one_of"}]]'));
});

test("match_schema's error objects carry gojsonschema's type names, fields and locale texts", () => {
  // gojsonschema locale.go (DefaultLocale) texts; field is the dotted context without its `(root).` prefix.
  const cases: Array<[string, string, string, string, string]> = [
    ['{"a": "x"}', '{"properties": {"a": {"enum": ["b", "c"]}}}', 'a', 'enum', 'a must be one of the following: "b", "c"'],
    ['{"a": "x"}', '{"properties": {"a": {"const": "b"}}}', 'a', 'const', 'a does not match: "b"'],
    ['{"a": 1, "b": 2}', '{"properties": {"a": {}}, "additionalProperties": false}', '(root)', 'additional_property_not_allowed', 'Additional property b is not allowed'],
    ['{"a": "x"}', '{"properties": {"a": {"minLength": 2}}}', 'a', 'string_gte', 'String length must be greater than or equal to 2'],
    ['{"a": "xyz"}', '{"properties": {"a": {"maxLength": 2}}}', 'a', 'string_lte', 'String length must be less than or equal to 2'],
    ['{"a": "x"}', '{"properties": {"a": {"pattern": "^y"}}}', 'a', 'pattern', "Does not match pattern '^y'"],
    ['{"a": 1}', '{"properties": {"a": {"minimum": 2}}}', 'a', 'number_gte', 'Must be greater than or equal to 2'],
    ['{"a": 1}', '{"properties": {"a": {"exclusiveMinimum": 1}}}', 'a', 'number_gt', 'Must be greater than 1'],
    ['{"a": 3}', '{"properties": {"a": {"maximum": 2}}}', 'a', 'number_lte', 'Must be less than or equal to 2'],
    ['{"a": 3}', '{"properties": {"a": {"multipleOf": 2}}}', 'a', 'multiple_of', 'Must be a multiple of 2'],
    ['{"a": []}', '{"properties": {"a": {"minItems": 1}}}', 'a', 'array_min_items', 'Array must have at least 1 items'],
    ['{"a": [1, 2]}', '{"properties": {"a": {"maxItems": 1}}}', 'a', 'array_max_items', 'Array must have at most 1 items'],
    ['{"a": [1, 1]}', '{"properties": {"a": {"uniqueItems": true}}}', 'a', 'unique', 'array items[0,1] must be unique'],
    ['{"a": "x"}', '{"properties": {"a": {"format": "ipv4"}}}', 'a', 'format', "Does not match format 'ipv4'"],
    ['{"a": [1, "x"]}', '{"properties": {"a": {"items": {"type": "integer"}}}}', 'a.1', 'invalid_type', 'Invalid type. Expected: integer, given: string'],
    ['{"a": {"b": 1}}', '{"properties": {"a": {"properties": {"b": {"type": "string"}}}}}', 'a.b', 'invalid_type', 'Invalid type. Expected: string, given: integer'],
    ['{}', '{"minProperties": 1}', '(root)', 'array_min_properties', 'Must have at least 1 properties'],
    ['1', '{"anyOf": [{"type": "string"}, {"type": "boolean"}]}', '(root)', 'number_any_of', 'Must validate at least one schema (anyOf)'],
    ['1', '{"not": {"type": "integer"}}', '(root)', 'number_not', 'Must not validate the schema (not)'],
    ['[1]', '{"contains": {"type": "string"}}', '(root)', 'contains', 'At least one of the items must match'],
    ['{"a": 1}', '{"dependencies": {"a": ["b"]}}', '(root)', 'missing_dependency', 'Has a dependency on b'],
    ['[1, 2]', '{"items": [{"type": "integer"}], "additionalItems": false}', '(root)', 'array_no_additional_items', 'No additional items allowed on array'],
  ];
  for (const [doc, schema, field, type, desc] of cases) {
    const want = j(JSON.stringify([false, [{ desc, error: `${field}: ${desc}`, field, type }]]));
    // The document as JSON text: a scalar document is an operand only in that form.
    expectCall('json.match_schema', [doc, j(schema)], want);
  }
  // Composite keywords report the inner failure first, then their own.
  expectCall('json.match_schema', ['1', j('{"if": {"type": "integer"}, "then": {"minimum": 5}}')], j(`[false, [
    {"desc": "Must be greater than or equal to 5", "error": "(root): Must be greater than or equal to 5", "field": "(root)", "type": "number_gte"},
    {"desc": "Must validate \\"then\\" as \\"if\\" was valid", "error": "(root): Must validate \\"then\\" as \\"if\\" was valid", "field": "(root)", "type": "condition_then"}]]`));
});

test('verify_schema accepts schemas and reports invalid ones', () => {
  expectCall('json.verify_schema', [j('{"type": "string"}')], [true, null]);
  expectCall('json.verify_schema', ['{"type": "str"}'], [false, 'jsonschema: has a primitive type that is NOT VALID -- given: /str/ Expected valid values are:/array/ /boolean/ /integer/ /number/ /null/ /object/ /string/']);
  expectCall('json.verify_schema', ['{"$ref": "#/definitions/missing"}'], [false, 'jsonschema: reference #/definitions/missing does not resolve']);
  expectError('json.match_schema', ['1', '{"$ref": "https://example.com/s.json"}'], 'remote reference');
});

// opa:v1/topdown/jsonschema.go: a string operand must be valid JSON text, and only strings, objects and arrays
// are operands at all; verify_schema reports such faults in its result with the `jsonschema: ` prefix,
// match_schema as its error.
test('schema operands: invalid JSON text and other types give opa\'s messages', () => {
  expectCall('json.verify_schema', ['{"type": '], [false, 'jsonschema: invalid JSON string']);
  expectCall('json.verify_schema', [5], [false, 'jsonschema: wrong type, expected string or object']);
  expectCall('json.verify_schema', [true], [false, 'jsonschema: wrong type, expected string or object']);
  expectCall('json.verify_schema', ['true'], [true, null]);
  expectError('json.match_schema', ['{', j('{}')], 'json.match_schema: invalid JSON string');
  expectError('json.match_schema', [j('{}'), 'nope'], 'json.match_schema: invalid JSON string');
  expectError('json.match_schema', [5, j('{}')], 'json.match_schema: wrong type, expected string or object');
  expectError('json.match_schema', [j('{}'), null], 'json.match_schema: wrong type, expected string or object');
  expectCall('json.match_schema', [j('[1, "a"]'), j('{"type": "array"}')], j('[true, []]'));
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

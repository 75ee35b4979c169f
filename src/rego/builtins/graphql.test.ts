/**
 * graphql.* builtins. Expected ASTs and messages are those of OPA's conformance cases
 * (opa:v1/test/cases/testdata/v1/graphql/*.yaml) and topdown/graphql_test.go, restated here as small fixtures.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { type Value, RObject, equal, fromJson, toJsonText } from '../value.js';
import { BuiltinError } from './registry.js';
import { builtins } from './graphql.js';

const FNS = new Map(builtins.map((b) => [b.name, b.fn]));
const ctx = {} as Parameters<NonNullable<ReturnType<typeof FNS.get>>>[1];

function call(name: string, ...args: unknown[]): Value | undefined {
  return FNS.get(name)!(args.map((a) => (a instanceof RObject ? a : fromJson(a))), ctx);
}

function fails(name: string, args: unknown[], message: string): void {
  assert.throws(() => call(name, ...args), (e: unknown) => e instanceof BuiltinError && e.code === 'eval_builtin_error' && e.message === message);
}

function assertAst(got: Value | undefined, want: string): void {
  assert.ok(got !== undefined);
  assert.ok(equal(got, fromJson(JSON.parse(want))), toJsonText(got));
}

const EMPLOYEE_SCHEMA = `
  type Employee { id: String! salary: Int! }
  schema { query: Query }
  type Query { employeeByID(id: String!): Employee }`;
const EMPLOYEE_QUERY_AST = `{"Operations":[{"Name":"","Operation":"query","SelectionSet":[{"Alias":"employeeByID","Arguments":[{"Name":"id","Value":{"ExpectedTypeHasDefault":false,"Kind":3,"Raw":"alice"}}],"Name":"employeeByID","SelectionSet":[{"Alias":"salary","Name":"salary"}]}]}]}`;
const EMPLOYEE_SCHEMA_AST = `{"Definitions":[{"BuiltIn":false,"Description":"","Fields":[{"Description":"","Name":"id","Type":{"NamedType":"String","NonNull":true}},{"Description":"","Name":"salary","Type":{"NamedType":"Int","NonNull":true}}],"Kind":"OBJECT","Name":"Employee"},{"BuiltIn":false,"Description":"","Fields":[{"Arguments":[{"Description":"","Name":"id","Type":{"NamedType":"String","NonNull":true}}],"Description":"","Name":"employeeByID","Type":{"NamedType":"Employee","NonNull":false}}],"Kind":"OBJECT","Name":"Query"}],"Schema":[{"Description":"","OperationTypes":[{"Operation":"query","Type":"Query"}]}]}`;

test('parse_query returns gqlparser-shaped ASTs with Position, nulls and empty lists pruned', () => {
  assertAst(
    call('graphql.parse_query', 'query ($withDirective: String @first @second, $withoutDirective: String) { f }'),
    `{"Operations":[{"Name":"","Operation":"query","SelectionSet":[{"Alias":"f","Name":"f"}],"VariableDefinitions":[{"Directives":[{"Location":"","Name":"first"},{"Location":"","Name":"second"}],"Type":{"NamedType":"String","NonNull":false},"Used":false,"Variable":"withDirective"},{"Type":{"NamedType":"String","NonNull":false},"Used":false,"Variable":"withoutDirective"}]}]}`,
  );
  assertAst(
    call('graphql.parse_query', 'query on { ... a ... on on { field } } fragment a on Type { on(on: $on) @on(on: on) }'),
    `{"Fragments":[{"Name":"a","SelectionSet":[{"Alias":"on","Arguments":[{"Name":"on","Value":{"ExpectedTypeHasDefault":false,"Kind":0,"Raw":"on"}}],"Directives":[{"Arguments":[{"Name":"on","Value":{"ExpectedTypeHasDefault":false,"Kind":7,"Raw":"on"}}],"Location":"","Name":"on"}],"Name":"on"}],"TypeCondition":"Type"}],"Operations":[{"Name":"on","Operation":"query","SelectionSet":[{"Name":"a"},{"SelectionSet":[{"Alias":"field","Name":"field"}],"TypeCondition":"on"}]}]}`,
  );
  assertAst(
    call('graphql.parse_query', 'fragment a($v: Boolean = false) on t { f(v: $v) }'),
    `{"Fragments":[{"Name":"a","SelectionSet":[{"Alias":"f","Arguments":[{"Name":"v","Value":{"ExpectedTypeHasDefault":false,"Kind":0,"Raw":"v"}}],"Name":"f"}],"TypeCondition":"t","VariableDefinition":[{"DefaultValue":{"ExpectedTypeHasDefault":false,"Kind":5,"Raw":"false"},"Type":{"NamedType":"Boolean","NonNull":false},"Used":false,"Variable":"v"}]}]}`,
  );
  assertAst(
    call('graphql.parse_query', '{ f(long: """long""", short: "short", id: [1,2]) }'),
    `{"Operations":[{"Name":"","Operation":"query","SelectionSet":[{"Alias":"f","Arguments":[{"Name":"long","Value":{"ExpectedTypeHasDefault":false,"Kind":4,"Raw":"long"}},{"Name":"short","Value":{"ExpectedTypeHasDefault":false,"Kind":3,"Raw":"short"}},{"Name":"id","Value":{"ExpectedTypeHasDefault":false,"Children":[{"Name":"","Value":{"ExpectedTypeHasDefault":false,"Kind":1,"Raw":"1"}},{"Name":"","Value":{"ExpectedTypeHasDefault":false,"Kind":1,"Raw":"2"}}],"Kind":8,"Raw":""}}],"Name":"f"}]}]}`,
  );
  assertAst(
    call('graphql.parse_query', 'query ($arr: [Arr], $notnull: [Arr!]!) { f }'),
    `{"Operations":[{"Name":"","Operation":"query","SelectionSet":[{"Alias":"f","Name":"f"}],"VariableDefinitions":[{"Type":{"Elem":{"NamedType":"Arr","NonNull":false},"NamedType":"","NonNull":false},"Used":false,"Variable":"arr"},{"Type":{"Elem":{"NamedType":"Arr","NonNull":true},"NamedType":"","NonNull":true},"Used":false,"Variable":"notnull"}]}]}`,
  );
});

test('parse_query reports syntax errors in gqlparser words with OPA location suffix', () => {
  const cases: Array<[string, string]> = [
    ['{', 'Expected Name, found <EOF> in GraphQL string at location 1:2'],
    ['\n  { ...MissingOn }\n  fragment MissingOn Type\n', 'Expected "on", found Name "Type" in GraphQL string at location 3:22'],
    ['{ field: {} }', 'Expected Name, found { in GraphQL string at location 1:10'],
    ['notanoperation Foo { field }', 'Unexpected Name "notanoperation" in GraphQL string at location 1:1'],
    ['...', 'Unexpected ... in GraphQL string at location 1:1'],
    ['query Foo($x: Complex = { a: { b: [ $var ] } }) { field }', 'Unexpected $ in GraphQL string at location 1:37'],
    ['fragment on on on { on }', 'Unexpected Name "on" in GraphQL string at location 1:10'],
    ['{ ...on }', 'Expected Name, found } in GraphQL string at location 1:9'],
    ['type Query { a: Int }', 'Unexpected Name "type" in GraphQL string at location 1:1'],
    ['"doc" type Query { a: Int }', 'Unexpected String "doc" in GraphQL string at location 1:1'],
    ['{__typename{...}}', 'Expected {, found } in GraphQL string at location 1:16'],
    ['{...{__typename{...{}}}}', 'expected at least one definition, found } in GraphQL string at location 1:21'],
  ];
  for (const [gql, msg] of cases) fails('graphql.parse_query', [gql], `graphql.parse_query: ${msg}`);
  assert.throws(() => call('graphql.parse_query', 1), (e: unknown) => e instanceof BuiltinError && e.code === 'eval_type_error');
});

test('parse_schema returns definitions, extensions and schema blocks as gqlparser does', () => {
  assertAst(
    call('graphql.parse_schema', 'type Hello { world(flag: Boolean = true): String }'),
    `{"Definitions":[{"BuiltIn":false,"Description":"","Fields":[{"Arguments":[{"DefaultValue":{"ExpectedTypeHasDefault":false,"Kind":5,"Raw":"true"},"Description":"","Name":"flag","Type":{"NamedType":"Boolean","NonNull":false}}],"Description":"","Name":"world","Type":{"NamedType":"String","NonNull":false}}],"Kind":"OBJECT","Name":"Hello"}]}`,
  );
  assertAst(
    call('graphql.parse_schema', 'extend type Hello implements Greeting\nextend type Hello implements SecondGreeting'),
    `{"Extensions":[{"BuiltIn":false,"Description":"","Interfaces":["Greeting"],"Kind":"OBJECT","Name":"Hello"},{"BuiltIn":false,"Description":"","Interfaces":["SecondGreeting"],"Kind":"OBJECT","Name":"Hello"}]}`,
  );
  assertAst(call('graphql.parse_schema', 'extend schema @directive'), `{"SchemaExtension":[{"Description":"","Directives":[{"Location":"","Name":"directive"}]}]}`);
  assertAst(call('graphql.parse_schema', 'enum Hello { WO, RLD }'), `{"Definitions":[{"BuiltIn":false,"Description":"","EnumValues":[{"Description":"","Name":"WO"},{"Description":"","Name":"RLD"}],"Kind":"ENUM","Name":"Hello"}]}`);
  assertAst(call('graphql.parse_schema', '"""\nDescription\n"""\ntype Hello { world: String }'), `{"Definitions":[{"BuiltIn":false,"Description":"Description","Fields":[{"Description":"","Name":"world","Type":{"NamedType":"String","NonNull":false}}],"Kind":"OBJECT","Name":"Hello"}]}`);
  assertAst(call('graphql.parse_schema', EMPLOYEE_SCHEMA), EMPLOYEE_SCHEMA_AST);
});

test('parse_schema reports gqlparser errors', () => {
  const cases: Array<[string, string]> = [
    ['type Hello {}', 'expected at least one definition, found } in GraphQL string at location 1:13'],
    ['interface Hello {}', 'expected at least one definition, found } in GraphQL string at location 1:18'],
    ['extend type Hello', 'Unexpected <EOF> in GraphQL string at location 1:18'],
    ['extend schema', 'Unexpected <EOF> in GraphQL string at location 1:14'],
    ['\n   "Description"\n   extend type Hello { world: String }', 'Unexpected String "Description" in GraphQL string at location 2:4'],
    ['\n   extend "Description" type Hello { world: String }', 'Unexpected String "Description" in GraphQL string at location 2:11'],
    ['union Hello = Wo || Rld', 'Expected Name, found | in GraphQL string at location 1:19'],
    ['\n  input Hello {\n    world(foo: Int): String\n  }\n', 'Expected :, found ( in GraphQL string at location 3:10'],
    ['directive @foo on FIELD | INCORRECT_LOCATION', 'Unexpected Name "INCORRECT_LOCATION" in GraphQL string at location 1:27'],
    ['type o{d(g:[', 'Expected Name, found <EOF> in GraphQL string at location 1:13'],
    ['"""\r', 'Unexpected <Invalid> in GraphQL string at location 2:1'],
  ];
  for (const [gql, msg] of cases) fails('graphql.parse_schema', [gql], `graphql.parse_schema: ${msg}`);
});

test('is_valid follows gqlparser validation, with strings or AST objects', () => {
  const federated = `extend type User { id: ID! } extend type Product { upc: String! } union _Entity = Product | User extend type Query { entity: _Entity }`;
  assert.equal(call('graphql.is_valid', '{ entity { ... on User { id } } }', federated), true);
  const locale = `extend type Query { myAction(myEnum: Locale!): SomeResult! } type SomeResult { id: String } enum Locale { EN LT DE }`;
  assert.equal(call('graphql.is_valid', 'query SomeOperation { myAction { id } }', locale), false);
  assert.equal(call('graphql.is_valid', 'query SomeOperation ($locale: Locale! = DE) { myAction(myEnum: $locale) { id } }', locale), true);
  assert.equal(call('graphql.is_valid', '', 'type DeprecatedType { deprecatedField: String @deprecated newField(deprecatedArg: Int): Boolean } enum DeprecatedEnum { ALPHA @deprecated }'), true);
  assert.equal(call('graphql.is_valid', 'query Foo($flag: Boolean!) { ...Bar } fragment Bar on Query { bar @include(if: $flag) }', 'type Query { bar: String! }'), true);
  assert.equal(call('graphql.is_valid', 'mutation{x(a:b)}', 'type Query { bar: String! } type Mutation { x: String! }'), false);
  assert.equal(call('graphql.is_valid', 'mutation{x}', 'type Query { bar: String! }'), false);
  assert.equal(call('graphql.is_valid', '{ employeeByID(id: "alice") { salary } }', EMPLOYEE_SCHEMA), true);
  assert.equal(call('graphql.is_valid', fromJson(JSON.parse(EMPLOYEE_QUERY_AST)), fromJson(JSON.parse(EMPLOYEE_SCHEMA_AST))), true);
  const badQuery = JSON.parse(EMPLOYEE_QUERY_AST) as { Operations: Array<{ SelectionSet: Array<{ SelectionSet: Array<{ Alias: string; Name: string }> }> }> };
  badQuery.Operations[0]!.SelectionSet[0]!.SelectionSet[0] = { Alias: 'bonus', Name: 'bonus' };
  assert.equal(call('graphql.is_valid', fromJson(badQuery), fromJson(JSON.parse(EMPLOYEE_SCHEMA_AST))), false);
  // A name that is not a GraphQL name cannot smuggle extra structure into the document.
  const spliced = JSON.parse(EMPLOYEE_QUERY_AST) as typeof badQuery;
  spliced.Operations[0]!.SelectionSet[0]!.SelectionSet[0] = { Alias: 'salary', Name: 'salary id' };
  assert.equal(call('graphql.is_valid', fromJson(spliced), fromJson(JSON.parse(EMPLOYEE_SCHEMA_AST))), false);
  assert.equal(call('graphql.is_valid', 1, EMPLOYEE_SCHEMA), false);
  assert.equal(call('graphql.is_valid', '{ x }', 'type Query { x: Int'), false);
});

test('parse returns both ASTs, and errors with OPA messages when validation fails', () => {
  const got = call('graphql.parse', '{ employeeByID(id: "alice") { salary } }', EMPLOYEE_SCHEMA);
  assertAst(got, `[${EMPLOYEE_QUERY_AST}, ${EMPLOYEE_SCHEMA_AST}]`);
  assertAst(call('graphql.parse', fromJson(JSON.parse(EMPLOYEE_QUERY_AST)), fromJson(JSON.parse(EMPLOYEE_SCHEMA_AST))), `[${EMPLOYEE_QUERY_AST}, ${EMPLOYEE_SCHEMA_AST}]`);
  fails('graphql.parse', ['{ employeeByID(id: "alice") { salary foo } }', EMPLOYEE_SCHEMA], 'graphql.parse: Cannot query field "foo" on type "Employee" in GraphQL query string at location 1:38');
  fails('graphql.parse', ['{ x }', 'type Query { x: Int }\ntype Broken {\n fixme\n\n type Query { y: Int }'], 'graphql.parse: Expected :, found Name "type" in GraphQL string at location 5:2');
  assert.throws(() => call('graphql.parse', 1, EMPLOYEE_SCHEMA), (e: unknown) => e instanceof BuiltinError && e.message === 'graphql.parse: operand 0 must be one of {string, object} but got number');
});

test('parse_and_verify and schema_is_valid never error', () => {
  const ok = call('graphql.parse_and_verify', '{ employeeByID(id: "alice") { salary } }', EMPLOYEE_SCHEMA);
  assertAst(ok, `[true, ${EMPLOYEE_QUERY_AST}, ${EMPLOYEE_SCHEMA_AST}]`);
  assertAst(call('graphql.parse_and_verify', '{ nope }', EMPLOYEE_SCHEMA), '[false, {}, {}]');
  assertAst(call('graphql.parse_and_verify', 1, 2), '[false, {}, {}]');
  assert.equal(call('graphql.schema_is_valid', EMPLOYEE_SCHEMA), true);
  assert.equal(call('graphql.schema_is_valid', fromJson(JSON.parse(EMPLOYEE_SCHEMA_AST))), true);
  assert.equal(call('graphql.schema_is_valid', 'type Query { x: Missing }'), false);
  assert.equal(call('graphql.schema_is_valid', 'type Query { x: Int } type Query { y: Int }'), false);
  assert.equal(call('graphql.schema_is_valid', fromJson({ Definitions: [{ Kind: 'OBJECT', Name: 5 }] })), false);
  assert.equal(call('graphql.schema_is_valid', 3), false);
});

test('random text and random AST-shaped objects only ever fail with BuiltinError', () => {
  const gqlish = fc
    .array(fc.constantFrom(...'{}()[]:$@!=|&."#\n abcon1\\'.split(''), 'query', 'type', 'fragment', '...', '"""'), { maxLength: 40 })
    .map((parts) => parts.join(''));
  const astish = fc.letrec((tie) => ({
    v: fc.oneof(
      { depthSize: 'small' },
      fc.string({ maxLength: 5 }),
      fc.integer({ min: -1, max: 10 }),
      fc.boolean(),
      fc.constant(null),
      fc.array(tie('v'), { maxLength: 3 }),
      fc.dictionary(fc.constantFrom('Operations', 'Fragments', 'SelectionSet', 'Name', 'Alias', 'Kind', 'Raw', 'Children', 'Value', 'Type', 'NamedType', 'Elem', 'Definitions', 'Fields', 'Extensions', 'Schema', 'TypeCondition', 'Arguments'), tie('v'), { maxKeys: 4 }),
    ),
  })).v;
  const names = [...FNS.keys()];
  fc.assert(
    fc.property(fc.constantFrom(...names), fc.oneof(gqlish, fc.string(), astish), fc.oneof(gqlish, astish), (name, a, b) => {
      try {
        call(name, a, b);
      } catch (e) {
        if (!(e instanceof BuiltinError)) throw e;
      }
    }),
    { numRuns: 1500 },
  );
});

test('deeply nested documents fail as builtin errors or invalid results, not stack overflows', () => {
  const deep = '{a'.repeat(20000) + '}'.repeat(20000);
  assert.throws(() => call('graphql.parse_query', deep), (e: unknown) => e instanceof BuiltinError);
  assert.equal(call('graphql.is_valid', deep, 'type Query { a: Int }'), false);
  assertAst(call('graphql.parse_and_verify', deep, 'type Query { a: Int }'), '[false, {}, {}]');
});

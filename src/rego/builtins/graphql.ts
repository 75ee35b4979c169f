/**
 * The `graphql.*` builtins (opa:v1/topdown/graphql.go over vektah/gqlparser).
 *
 * Parsing, schema building and query validation use graphql-js; results are rebuilt in the shape OPA returns,
 * which is gqlparser's Go AST structs encoded as JSON (field names as in gqlparser's `ast` package: `Operations`,
 * `Fragments`, `SelectionSet`, `Definitions`, `Kind`, …) with `Position`, null fields and empty
 * arrays/objects pruned. Values carry gqlparser's numeric `Kind` (0 Variable … 9 Object), `Raw` text and
 * `ExpectedTypeHasDefault: false`; variable definitions carry `Used: false`, directives `Location: ""` and type
 * definitions `BuiltIn: false`, as a freshly parsed gqlparser document does.
 *
 * Where graphql-js and gqlparser differ, gqlparser's behaviour is followed:
 * - Error texts: graphql-js's `Syntax Error: … "}".` becomes gqlparser's `… }` (no prefix, punctuators
 *   unquoted, no final period), an empty `{}`/`()` list reports `expected at least one definition, found }`
 *   and an unterminated string `Unexpected <Invalid>`; other lexer messages are graphql-js's.
 *   OPA appends ` in GraphQL string at location L:C` (parse) or ` in GraphQL query string at location L:C`
 *   (validation). Validation message texts are graphql-js's, which gqlparser mostly shares.
 * - An empty (or comment-only) document parses to an empty document instead of failing.
 * - A query document may only hold operations and fragments (`Unexpected Name "type"` otherwise); fragment
 *   variable definitions (`fragment a($v: T) on X`) are accepted, as gqlparser does.
 * - Schema checks: gqlparser does not require a Query root type, and it accepts `extend type X` for a type
 *   that is never defined (the extension then defines it), so both are allowed here. Query validation adds
 *   gqlparser's KnownRootType rule (`Schema does not support operation type "mutation"`), which graphql-js
 *   leaves to execution.
 * - AST-object arguments (the output of `parse_query`/`parse_schema`) are rendered back to GraphQL text and
 *   reparsed; unknown keys are ignored and missing keys take Go zero values, like Go's json.Unmarshal into
 *   gqlparser's structs. A wrongly typed field is an error (`graphql.parse`) or an invalid result.
 */
import { createRequire } from 'node:module';
import type {
  ASTNode,
  ArgumentNode,
  ConstDirectiveNode,
  DefinitionNode,
  DirectiveNode,
  DocumentNode,
  FieldDefinitionNode,
  GraphQLError,
  GraphQLSchema,
  InputValueDefinitionNode,
  SelectionNode,
  TypeNode,
  ValidationContext,
  ValueNode,
  VariableDefinitionNode,
} from 'graphql';
import type * as GraphQL from 'graphql';
import { type Value, fromJson, isObject, toJs } from '../value.js';
import { type BuiltinDef, BuiltinError, builtinError, typeError, typeErrorOneOf } from './registry.js';

/**
 * graphql-js, loaded by the first graphql.* call: most policies never use these builtins, and the package
 * is a large share of what a process using the Rego engine would otherwise load at start.
 */
let graphqlModule: typeof GraphQL | undefined;
function gql(): typeof GraphQL {
  return (graphqlModule ??= createRequire(import.meta.url)('graphql') as typeof GraphQL);
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JObj = { [k: string]: Json };

/** A failure with gqlparser's message text and a 1-based source location. */
class GqlError extends Error {
  constructor(
    message: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(message);
  }
}

const PUNCTUATORS = new Set(['!', '$', '&', '(', ')', '...', ':', '=', '@', '[', ']', '{', '|', '}']);
const CLOSERS: Record<string, string> = { '}': '{', ')': '(', ']': '[' };

function isEmptyDocument(text: string): boolean {
  try {
    return new (gql().Lexer)(new (gql().Source)(text)).advance().kind === gql().TokenKind.EOF;
  } catch {
    return false;
  }
}

/** The gqlparser description of the token starting at `pos` (`String "text"`, `Name "x"`). */
function tokenAt(text: string, pos: number): string | undefined {
  try {
    const lexer = new (gql().Lexer)(new (gql().Source)(text));
    for (let tok = lexer.advance(); tok.kind !== gql().TokenKind.EOF; tok = lexer.advance()) {
      if (tok.start === pos) {
        if (tok.kind === gql().TokenKind.STRING || tok.kind === gql().TokenKind.BLOCK_STRING) return `String "${tok.value}"`;
        return tok.kind === gql().TokenKind.NAME ? `Name "${tok.value}"` : tok.kind;
      }
      if (tok.start > pos) break;
    }
  } catch {
    // the token stream breaks before pos
  }
  return undefined;
}

/** graphql-js syntax error → gqlparser wording and location. */
function syntaxError(e: GraphQLError, text: string): GqlError {
  const loc = e.locations?.[0] ?? { line: 1, column: 1 };
  let msg = e.message.replace(/^Syntax Error: /, '').replace(/\.$/, '');
  msg = msg.replace(/"([^"\s]{1,3})"/g, (m, p: string) => (PUNCTUATORS.has(p) ? p : m));
  // graphql-js words these two in its own way; gqlparser names the offending token.
  if (/^Unexpected variable "\$/.test(msg)) msg = 'Unexpected $';
  // gqlparser's lexer yields an invalid token for a string running into the end of input.
  else if (/^Unterminated string/.test(msg)) msg = 'Unexpected <Invalid>';
  else if (/^Unexpected description/.test(msg)) msg = `Unexpected ${tokenAt(text, e.positions?.[0] ?? -1) ?? 'String'}`;
  const found = /^Expected [^,]+, found ([})\]])$/.exec(msg);
  if (found && e.positions?.[0] !== undefined) {
    // gqlparser's many() reports an empty bracketed list this way.
    const before = text.slice(0, e.positions[0]).trimEnd();
    if (before.endsWith(CLOSERS[found[1]!]!)) msg = `expected at least one definition, found ${found[1]}`;
  }
  return new GqlError(msg, loc.line, loc.column);
}

function parseText(text: string): DocumentNode {
  if (isEmptyDocument(text)) return { kind: gql().Kind.DOCUMENT, definitions: [] };
  try {
    return gql().parse(text, { allowLegacyFragmentVariables: true });
  } catch (e) {
    if (e instanceof Error && 'locations' in e) throw syntaxError(e as GraphQLError, text);
    throw new GqlError(e instanceof Error ? e.message : String(e), 1, 1);
  }
}

function unexpected(def: DefinitionNode): GqlError {
  const tok = def.loc?.startToken;
  if (!tok) return new GqlError(`Unexpected ${def.kind}`, 1, 1);
  let desc: string = tok.kind;
  if (tok.kind === gql().TokenKind.NAME) desc = `Name "${tok.value}"`;
  else if (tok.kind === gql().TokenKind.STRING || tok.kind === gql().TokenKind.BLOCK_STRING) desc = `String "${tok.value}"`;
  return new GqlError(`Unexpected ${desc}`, tok.line, tok.column);
}

// Built on first use, like the module they read from.
let executable: Set<string> | undefined;
const EXECUTABLE = (): Set<string> => (executable ??= new Set<string>([gql().Kind.OPERATION_DEFINITION, gql().Kind.FRAGMENT_DEFINITION]));
let typeSystem: Set<string> | undefined;
const TYPE_SYSTEM = (): Set<string> => (typeSystem ??= new Set<string>([
  gql().Kind.SCHEMA_DEFINITION,
  gql().Kind.SCHEMA_EXTENSION,
  gql().Kind.DIRECTIVE_DEFINITION,
  gql().Kind.SCALAR_TYPE_DEFINITION,
  gql().Kind.OBJECT_TYPE_DEFINITION,
  gql().Kind.INTERFACE_TYPE_DEFINITION,
  gql().Kind.UNION_TYPE_DEFINITION,
  gql().Kind.ENUM_TYPE_DEFINITION,
  gql().Kind.INPUT_OBJECT_TYPE_DEFINITION,
  gql().Kind.SCALAR_TYPE_EXTENSION,
  gql().Kind.OBJECT_TYPE_EXTENSION,
  gql().Kind.INTERFACE_TYPE_EXTENSION,
  gql().Kind.UNION_TYPE_EXTENSION,
  gql().Kind.ENUM_TYPE_EXTENSION,
  gql().Kind.INPUT_OBJECT_TYPE_EXTENSION,
]));

function parseQueryDoc(text: string): DocumentNode {
  const doc = parseText(text);
  const bad = doc.definitions.find((d) => !EXECUTABLE().has(d.kind));
  if (bad) throw unexpected(bad);
  return doc;
}

function parseSchemaDoc(text: string): DocumentNode {
  const doc = parseText(text);
  const bad = doc.definitions.find((d) => !TYPE_SYSTEM().has(d.kind));
  if (bad) throw unexpected(bad);
  return doc;
}

// ---- graphql-js AST → gqlparser JSON ----

let valueKind: Record<string, number> | undefined;
const VALUE_KIND = (): Record<string, number> => (valueKind ??= {
  [gql().Kind.VARIABLE]: 0,
  [gql().Kind.INT]: 1,
  [gql().Kind.FLOAT]: 2,
  [gql().Kind.STRING]: 3,
  [gql().Kind.BOOLEAN]: 5,
  [gql().Kind.NULL]: 6,
  [gql().Kind.ENUM]: 7,
  [gql().Kind.LIST]: 8,
  [gql().Kind.OBJECT]: 9,
});

function jValue(v: ValueNode | undefined): Json {
  if (!v) return null;
  const out: JObj = { Kind: VALUE_KIND()[v.kind]!, Raw: '', ExpectedTypeHasDefault: false };
  switch (v.kind) {
    case gql().Kind.VARIABLE:
      out.Raw = v.name.value;
      break;
    case gql().Kind.INT:
    case gql().Kind.FLOAT:
    case gql().Kind.ENUM:
      out.Raw = v.value;
      break;
    case gql().Kind.STRING:
      out.Raw = v.value;
      if (v.block) out.Kind = 4;
      break;
    case gql().Kind.BOOLEAN:
      out.Raw = v.value ? 'true' : 'false';
      break;
    case gql().Kind.NULL:
      out.Raw = 'null';
      break;
    case gql().Kind.LIST:
      out.Children = v.values.map((c) => ({ Name: '', Value: jValue(c) }));
      break;
    case gql().Kind.OBJECT:
      out.Children = v.fields.map((f) => ({ Name: f.name.value, Value: jValue(f.value) }));
      break;
  }
  return out;
}

function jType(t: TypeNode): JObj {
  switch (t.kind) {
    case gql().Kind.NON_NULL_TYPE:
      return { ...jType(t.type), NonNull: true };
    case gql().Kind.LIST_TYPE:
      return { NamedType: '', Elem: jType(t.type), NonNull: false };
    default:
      return { NamedType: t.name.value, NonNull: false };
  }
}

const jArgs = (args: readonly ArgumentNode[] | undefined): Json[] =>
  (args ?? []).map((a) => ({ Name: a.name.value, Value: jValue(a.value) }));

const jDirectives = (ds: readonly (DirectiveNode | ConstDirectiveNode)[] | undefined): Json[] =>
  (ds ?? []).map((d) => ({ Name: d.name.value, Arguments: jArgs(d.arguments), Location: '' }));

const jVarDefs = (vs: readonly VariableDefinitionNode[] | undefined): Json[] =>
  (vs ?? []).map((v) => ({
    Variable: v.variable.name.value,
    Type: jType(v.type),
    DefaultValue: jValue(v.defaultValue),
    Directives: jDirectives(v.directives),
    Used: false,
  }));

function jSelections(sel: { selections: readonly SelectionNode[] } | undefined): Json[] {
  return (sel?.selections ?? []).map((s): Json => {
    switch (s.kind) {
      case gql().Kind.FIELD:
        return {
          Alias: (s.alias ?? s.name).value,
          Name: s.name.value,
          Arguments: jArgs(s.arguments),
          Directives: jDirectives(s.directives),
          SelectionSet: jSelections(s.selectionSet),
        };
      case gql().Kind.FRAGMENT_SPREAD:
        return { Name: s.name.value, Directives: jDirectives(s.directives) };
      default:
        return {
          TypeCondition: s.typeCondition?.name.value ?? '',
          Directives: jDirectives(s.directives),
          SelectionSet: jSelections(s.selectionSet),
        };
    }
  });
}

function queryJson(doc: DocumentNode): JObj {
  const Operations: Json[] = [];
  const Fragments: Json[] = [];
  for (const d of doc.definitions) {
    if (d.kind === gql().Kind.OPERATION_DEFINITION) {
      Operations.push({
        Operation: d.operation,
        Name: d.name?.value ?? '',
        VariableDefinitions: jVarDefs(d.variableDefinitions),
        Directives: jDirectives(d.directives),
        SelectionSet: jSelections(d.selectionSet),
      });
    } else if (d.kind === gql().Kind.FRAGMENT_DEFINITION) {
      Fragments.push({
        Name: d.name.value,
        VariableDefinition: jVarDefs(d.variableDefinitions),
        TypeCondition: d.typeCondition.name.value,
        Directives: jDirectives(d.directives),
        SelectionSet: jSelections(d.selectionSet),
      });
    }
  }
  return { Operations, Fragments };
}

const jArgDefs = (args: readonly InputValueDefinitionNode[] | undefined): Json[] =>
  (args ?? []).map((a) => ({
    Description: a.description?.value ?? '',
    Name: a.name.value,
    DefaultValue: jValue(a.defaultValue),
    Type: jType(a.type),
    Directives: jDirectives(a.directives),
  }));

const jFields = (fs: readonly (FieldDefinitionNode | InputValueDefinitionNode)[] | undefined): Json[] =>
  (fs ?? []).map((f) => ({
    Description: f.description?.value ?? '',
    Name: f.name.value,
    Arguments: 'arguments' in f ? jArgDefs(f.arguments) : [],
    DefaultValue: 'defaultValue' in f ? jValue(f.defaultValue) : null,
    Type: jType(f.type),
    Directives: jDirectives(f.directives),
  }));

const DEF_KIND: Record<string, string> = {
  Scalar: 'SCALAR',
  Object: 'OBJECT',
  Interface: 'INTERFACE',
  Union: 'UNION',
  Enum: 'ENUM',
  InputObject: 'INPUT_OBJECT',
};

function schemaJson(doc: DocumentNode): JObj {
  const out: { [k: string]: Json[] } = { Schema: [], SchemaExtension: [], Directives: [], Definitions: [], Extensions: [] };
  for (const d of doc.definitions) {
    switch (d.kind) {
      case gql().Kind.SCHEMA_DEFINITION:
      case gql().Kind.SCHEMA_EXTENSION:
        (d.kind === gql().Kind.SCHEMA_DEFINITION ? out.Schema : out.SchemaExtension)!.push({
          Description: d.kind === gql().Kind.SCHEMA_DEFINITION ? (d.description?.value ?? '') : '',
          Directives: jDirectives(d.directives),
          OperationTypes: (d.operationTypes ?? []).map((o) => ({ Operation: o.operation, Type: o.type.name.value })),
        });
        break;
      case gql().Kind.DIRECTIVE_DEFINITION:
        out.Directives!.push({
          Description: d.description?.value ?? '',
          Name: d.name.value,
          Arguments: jArgDefs(d.arguments),
          Locations: d.locations.map((l) => l.value),
          IsRepeatable: d.repeatable,
        });
        break;
      default: {
        if (!('name' in d) || !d.name) break;
        const m = /^(Scalar|Object|Interface|Union|Enum|InputObject)Type(Definition|Extension)$/.exec(d.kind);
        if (!m) break;
        const def: JObj = {
          Kind: DEF_KIND[m[1]!]!,
          Description: 'description' in d ? (d.description?.value ?? '') : '',
          Name: d.name.value,
          Directives: jDirectives('directives' in d ? d.directives : undefined),
          Interfaces: 'interfaces' in d ? (d.interfaces ?? []).map((i) => i.name.value) : [],
          Fields: 'fields' in d ? jFields(d.fields) : [],
          Types: 'types' in d ? (d.types ?? []).map((t) => t.name.value) : [],
          EnumValues:
            'values' in d
              ? (d.values ?? []).map((v) => ({
                  Description: v.description?.value ?? '',
                  Name: v.name.value,
                  Directives: jDirectives(v.directives),
                }))
              : [],
          BuiltIn: false,
        };
        (m[2] === 'Definition' ? out.Definitions : out.Extensions)!.push(def);
      }
    }
  }
  return out;
}

/** OPA's pruning: drop `Position`, nulls and (after pruning) empty arrays and objects. */
function prune(v: Json): Json {
  if (Array.isArray(v)) {
    const out: Json[] = [];
    for (const e of v) {
      if (e === null) continue;
      const p = prune(e);
      if (typeof p === 'object' && p !== null && (Array.isArray(p) ? p.length === 0 : Object.keys(p).length === 0)) continue;
      out.push(p);
    }
    return out;
  }
  if (v !== null && typeof v === 'object') {
    const out: JObj = {};
    for (const [k, e] of Object.entries(v)) {
      if (k === 'Position' || e === null) continue;
      const p = prune(e);
      if (typeof p === 'object' && p !== null && (Array.isArray(p) ? p.length === 0 : Object.keys(p).length === 0)) continue;
      out[k] = p;
    }
    return out;
  }
  return v;
}

// ---- gqlparser JSON (AST object argument) → GraphQL text ----

/** Go's json.Unmarshal type mismatch. */
class DecodeError extends Error {}

function field(o: unknown, key: string): unknown {
  if (o === null || typeof o !== 'object' || Array.isArray(o)) return undefined;
  const rec = o as Record<string, unknown>;
  if (key in rec) return rec[key];
  // Go matches JSON keys to struct fields case-insensitively.
  const lower = key.toLowerCase();
  for (const k of Object.keys(rec)) if (k.toLowerCase() === lower) return rec[k];
  return undefined;
}

function str(o: unknown, key: string): string {
  const v = field(o, key);
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw new DecodeError(`json: cannot unmarshal ${goType(v)} into Go struct field .${key} of type string`);
  return v;
}

const NAME = /^[_A-Za-z][_0-9A-Za-z]*$/;

/**
 * A name field. It must be a GraphQL name (or empty, for optional names) so that the rendered text has the
 * structure of the object; anything else could never pass gqlparser's validation either.
 */
function ident(o: unknown, key: string): string {
  return identText(str(o, key));
}

function identText(v: unknown): string {
  if (typeof v !== 'string') throw new DecodeError(`json: cannot unmarshal ${goType(v)} into Go value of type string`);
  if (v !== '' && !NAME.test(v)) throw new DecodeError(`invalid GraphQL name ${q(v)}`);
  return v;
}

const RAW: Record<number, RegExp> = {
  0: NAME,
  1: /^-?(0|[1-9][0-9]*)$/,
  2: /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$/,
  5: /^(true|false)$/,
  6: /^null$/,
  7: NAME,
};

function bool(o: unknown, key: string): boolean {
  const v = field(o, key);
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw new DecodeError(`json: cannot unmarshal ${goType(v)} into Go struct field .${key} of type bool`);
  return v;
}

function list(o: unknown, key: string): unknown[] {
  const v = field(o, key);
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new DecodeError(`json: cannot unmarshal ${goType(v)} into Go struct field .${key} of type list`);
  return v;
}

function obj(o: unknown, key: string): object | undefined {
  const v = field(o, key);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw new DecodeError(`json: cannot unmarshal ${goType(v)} into Go struct field .${key} of type object`);
  return v;
}

function goType(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'object') return 'object';
  return typeof v;
}

function elem(v: unknown): object {
  if (v === null || v === undefined) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new DecodeError(`json: cannot unmarshal ${goType(v)} into Go value of type object`);
  return v;
}

const q = (s: string): string => JSON.stringify(s);

function pValue(v: object | undefined): string {
  if (!v) return 'null';
  const raw = str(v, 'Raw');
  const kind = field(v, 'Kind') ?? 0;
  if (typeof kind !== 'number') throw new DecodeError(`json: cannot unmarshal ${goType(kind)} into Go struct field Value.Kind of type ast.ValueKind`);
  const children = list(v, 'Children').map(elem);
  const shape = RAW[kind];
  if (![0, 1, 2, 3, 4, 5, 6, 7, 8, 9].includes(kind)) throw new DecodeError(`unknown value kind ${kind}`);
  if (shape && !shape.test(raw)) throw new DecodeError(`invalid raw value ${q(raw)} for value kind ${kind}`);
  switch (kind) {
    case 0:
      return `$${raw}`;
    case 3:
    case 4:
      return q(raw);
    case 8:
      return `[${children.map((c) => pValue(obj(c, 'Value'))).join(', ')}]`;
    case 9:
      return `{${children.map((c) => `${ident(c, 'Name')}: ${pValue(obj(c, 'Value'))}`).join(', ')}}`;
    default:
      return raw;
  }
}

function pType(t: object | undefined): string {
  if (!t) return '';
  const inner = obj(t, 'Elem');
  const base = inner ? `[${pType(inner)}]` : ident(t, 'NamedType');
  return bool(t, 'NonNull') ? `${base}!` : base;
}

const pArgs = (o: object): string => {
  const args = list(o, 'Arguments').map(elem);
  return args.length ? `(${args.map((a) => `${ident(a, 'Name')}: ${pValue(obj(a, 'Value'))}`).join(', ')})` : '';
};

const pDirectives = (o: object): string =>
  list(o, 'Directives')
    .map(elem)
    .map((d) => ` @${ident(d, 'Name')}${pArgs(d)}`)
    .join('');

const pVarDefs = (vs: unknown[]): string =>
  vs.length
    ? `(${vs
        .map(elem)
        .map((v) => {
          const dv = obj(v, 'DefaultValue');
          return `$${ident(v, 'Variable')}: ${pType(obj(v, 'Type'))}${dv ? ` = ${pValue(dv)}` : ''}${pDirectives(v)}`;
        })
        .join(', ')})`
    : '';

function pSelections(o: object): string {
  const sels = list(o, 'SelectionSet').map(elem);
  if (!sels.length) return '';
  const parts = sels.map((s) => {
    const has = (k: string): boolean => field(s, k) !== undefined;
    if (has('TypeCondition') || (!has('Name') && !has('Alias'))) {
      const tc = ident(s, 'TypeCondition');
      return `...${tc ? ` on ${tc}` : ''}${pDirectives(s)} ${pSelections(s) || '{}'}`;
    }
    if (has('Alias') || has('Arguments') || has('SelectionSet')) {
      const alias = ident(s, 'Alias');
      const name = ident(s, 'Name');
      return `${alias && alias !== name ? `${alias}: ` : ''}${name}${pArgs(s)}${pDirectives(s)} ${pSelections(s)}`;
    }
    return `...${ident(s, 'Name')}${pDirectives(s)}`;
  });
  return `{ ${parts.join(' ')} }`;
}

function queryText(o: object): string {
  const out: string[] = [];
  for (const op of list(o, 'Operations').map(elem)) {
    out.push(
      `${ident(op, 'Operation') || 'query'} ${ident(op, 'Name')}${pVarDefs(list(op, 'VariableDefinitions'))}${pDirectives(op)} ${pSelections(op) || '{}'}`,
    );
  }
  for (const f of list(o, 'Fragments').map(elem)) {
    out.push(
      `fragment ${ident(f, 'Name')}${pVarDefs(list(f, 'VariableDefinition'))} on ${ident(f, 'TypeCondition')}${pDirectives(f)} ${pSelections(f) || '{}'}`,
    );
  }
  return out.join('\n');
}

const desc = (o: object): string => {
  const d = str(o, 'Description');
  return d ? `${q(d)} ` : '';
};

const pArgDefs = (o: object): string => {
  const args = list(o, 'Arguments').map(elem);
  return args.length ? `(${args.map((a) => pInputValue(a)).join(', ')})` : '';
};

function pInputValue(a: object): string {
  const dv = obj(a, 'DefaultValue');
  return `${desc(a)}${ident(a, 'Name')}${pArgDefs(a)}: ${pType(obj(a, 'Type'))}${dv ? ` = ${pValue(dv)}` : ''}${pDirectives(a)}`;
}

const KEYWORD: Record<string, string> = {
  SCALAR: 'scalar',
  OBJECT: 'type',
  INTERFACE: 'interface',
  UNION: 'union',
  ENUM: 'enum',
  INPUT_OBJECT: 'input',
};

function pDefinition(d: object, extend: boolean): string {
  const kind = str(d, 'Kind');
  const kw = KEYWORD[kind];
  if (!kw) throw new DecodeError(`unknown definition kind ${q(kind)}`);
  let s = `${extend ? 'extend ' : desc(d)}${kw} ${ident(d, 'Name')}`;
  const ifaces = list(d, 'Interfaces').map((i) => identText(i));
  if (ifaces.length) s += ` implements ${ifaces.join(' & ')}`;
  s += pDirectives(d);
  const types = list(d, 'Types').map((i) => identText(i));
  if (types.length) s += ` = ${types.join(' | ')}`;
  const fields = list(d, 'Fields').map(elem);
  if (fields.length) s += ` { ${fields.map((f) => pInputValue(f)).join(' ')} }`;
  const values = list(d, 'EnumValues').map(elem);
  if (values.length) s += ` { ${values.map((v) => `${desc(v)}${ident(v, 'Name')}${pDirectives(v)}`).join(' ')} }`;
  return s;
}

function pSchemaDef(s: object, extend: boolean): string {
  const ops = list(s, 'OperationTypes').map(elem);
  const body = ops.length ? ` { ${ops.map((o) => `${ident(o, 'Operation')}: ${ident(o, 'Type')}`).join(' ')} }` : '';
  return `${extend ? 'extend ' : desc(s)}schema${pDirectives(s)}${body}`;
}

function schemaText(o: object): string {
  const out: string[] = [];
  for (const s of list(o, 'Schema').map(elem)) out.push(pSchemaDef(s, false));
  for (const s of list(o, 'SchemaExtension').map(elem)) out.push(pSchemaDef(s, true));
  for (const d of list(o, 'Directives').map(elem)) {
    const locs = list(d, 'Locations').map((l) => identText(l));
    out.push(`${desc(d)}directive @${ident(d, 'Name')}${pArgDefs(d)}${bool(d, 'IsRepeatable') ? ' repeatable' : ''} on ${locs.join(' | ')}`);
  }
  for (const d of list(o, 'Definitions').map(elem)) out.push(pDefinition(d, false));
  for (const d of list(o, 'Extensions').map(elem)) out.push(pDefinition(d, true));
  return out.join('\n');
}

// ---- validation ----

/** gqlparser accepts extending a type that is never defined: the first such extension defines it. */
function promoteOrphanExtensions(doc: DocumentNode): DocumentNode {
  const defined = new Set<string>();
  for (const d of doc.definitions) if (/TypeDefinition$/.test(d.kind) && 'name' in d && d.name) defined.add(d.name.value);
  const definitions = doc.definitions.map((d): DefinitionNode => {
    const m = /^(\w+)TypeExtension$/.exec(d.kind);
    if (!m || !('name' in d) || !d.name || defined.has(d.name.value)) return d;
    defined.add(d.name.value);
    return { ...d, kind: `${m[1]}TypeDefinition` } as unknown as DefinitionNode;
  });
  return { ...doc, definitions };
}

function located(e: GraphQLError): GqlError {
  const loc = e.locations?.[0] ?? { line: 0, column: 0 };
  return new GqlError(e.message.replace(/\.$/, ''), loc.line, loc.column);
}

/** Builds a schema as gqlparser's ValidateSchemaDocument would accept it, or throws its first error. */
function buildSchema(doc: DocumentNode): GraphQLSchema {
  const merged = promoteOrphanExtensions(doc);
  let schema: GraphQLSchema;
  try {
    schema = gql().buildASTSchema(merged);
  } catch (e) {
    const first = (e as { locations?: unknown }).locations ? (e as GraphQLError) : undefined;
    throw first ? located(first) : new GqlError(e instanceof Error ? e.message.split('\n')[0]! : String(e), 0, 0);
  }
  const errors = gql().validateSchema(schema).filter((err) => !/^Query root type must be provided/.test(err.message));
  if (errors.length) throw located(errors[0]!);
  return gql().buildASTSchema(merged, { assumeValid: true, assumeValidSDL: true });
}

/** gqlparser's KnownRootType rule. */
function knownRootType(ctx: ValidationContext) {
  return {
    OperationDefinition(node: ASTNode) {
      if (node.kind !== gql().Kind.OPERATION_DEFINITION) return;
      if (!ctx.getSchema().getRootType(node.operation)) {
        ctx.reportError(
          Object.assign(new Error(`Schema does not support operation type "${node.operation}"`), {
            locations: node.loc ? [{ line: node.loc.startToken.line, column: node.loc.startToken.column }] : [],
          }) as unknown as GraphQLError,
        );
      }
    },
  };
}

function validateQuery(schema: GraphQLSchema, doc: DocumentNode): GqlError | undefined {
  const errors = gql().validate(schema, doc, [knownRootType, ...gql().specifiedRules]);
  return errors.length ? located(errors[0]!) : undefined;
}

// ---- argument handling ----

function asQuery(v: Value): DocumentNode {
  if (typeof v === 'string') return parseQueryDoc(v);
  return parseQueryDoc(queryText(toJs(v) as object));
}

function asSchema(v: Value): DocumentNode {
  if (typeof v === 'string') return parseSchemaDoc(v);
  return parseSchemaDoc(schemaText(toJs(v) as object));
}

const isDocArg = (v: Value): boolean => typeof v === 'string' || isObject(v);

const parseMsg = (e: GqlError): string => `${e.message} in GraphQL string at location ${e.line}:${e.column}`;

/** Runs `f`, turning gqlparser-style failures into `<name>: <message>` builtin errors. */
function guard<T>(name: string, f: () => T, msg: (e: GqlError) => string = parseMsg): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof BuiltinError) throw e;
    if (e instanceof GqlError) throw builtinError(name, msg(e));
    if (e instanceof DecodeError) throw builtinError(name, e.message);
    throw builtinError(name, e instanceof Error ? e.message : String(e));
  }
}

/** Parses and validates; returns the pruned ASTs or throws. */
function parseAndValidate(name: string, query: Value, schema: Value): [Value, Value] {
  const qdoc = guard(name, () => asQuery(query));
  const sdoc = guard(name, () => asSchema(schema));
  const built = guard(name, () => buildSchema(sdoc), (e) => `Error in gqlparser SchemaDocument to Schema conversion: input:${e.line}:${e.column}: ${e.message}`);
  const err = guard(name, () => validateQuery(built, qdoc));
  if (err) throw builtinError(name, `${err.message} in GraphQL query string at location ${err.line}:${err.column}`);
  return [fromJson(prune(queryJson(qdoc))), fromJson(prune(schemaJson(sdoc)))];
}

function succeeds(f: () => unknown): boolean {
  try {
    f();
    return true;
  } catch (e) {
    if (e instanceof BuiltinError) return false;
    throw e;
  }
}

/** Deeply nested input can exhaust the stack in the converters; that is a failure of this input, not a crash. */
function bounded(def: BuiltinDef): BuiltinDef {
  const { fn } = def;
  return {
    ...def,
    fn: (args, ctx) => {
      try {
        return fn(args, ctx);
      } catch (e) {
        if (e instanceof RangeError) {
          if (def.name === 'graphql.is_valid' || def.name === 'graphql.schema_is_valid') return false;
          if (def.name === 'graphql.parse_and_verify') return [false, fromJson({}), fromJson({})];
          throw builtinError(def.name, e.message);
        }
        throw e;
      }
    },
  };
}

const defs: BuiltinDef[] = [
  {
    name: 'graphql.parse_query',
    arity: 1,
    fn: ([query]) => {
      if (typeof query !== 'string') throw typeError('graphql.parse_query', 1, 'string', query!);
      return fromJson(prune(queryJson(guard('graphql.parse_query', () => parseQueryDoc(query)))));
    },
  },
  {
    name: 'graphql.parse_schema',
    arity: 1,
    fn: ([schema]) => {
      if (typeof schema !== 'string') throw typeError('graphql.parse_schema', 1, 'string', schema!);
      return fromJson(prune(schemaJson(guard('graphql.parse_schema', () => parseSchemaDoc(schema)))));
    },
  },
  {
    name: 'graphql.parse',
    arity: 2,
    fn: ([query, schema]) => {
      // OPA numbers these two operands from 0 (builtins.NewOperandTypeErr(0, …) in topdown/graphql.go).
      if (!isDocArg(query!)) throw typeErrorOneOf('graphql.parse', 0, ['string', 'object'], query!);
      if (!isDocArg(schema!)) throw typeErrorOneOf('graphql.parse', 1, ['string', 'object'], schema!);
      return parseAndValidate('graphql.parse', query!, schema!);
    },
  },
  {
    name: 'graphql.parse_and_verify',
    arity: 2,
    fn: ([query, schema]) => {
      // OPA reports every failure, wrong operand types included, as [false, {}, {}].
      if (!isDocArg(query!) || !isDocArg(schema!)) return [false, fromJson({}), fromJson({})];
      try {
        const [q1, s1] = parseAndValidate('graphql.parse_and_verify', query!, schema!);
        return [true, q1, s1];
      } catch (e) {
        if (e instanceof BuiltinError) return [false, fromJson({}), fromJson({})];
        throw e;
      }
    },
  },
  {
    name: 'graphql.is_valid',
    arity: 2,
    fn: ([query, schema]) => {
      if (!isDocArg(query!) || !isDocArg(schema!)) return false;
      return succeeds(() => parseAndValidate('graphql.is_valid', query!, schema!));
    },
  },
  {
    name: 'graphql.schema_is_valid',
    arity: 1,
    fn: ([schema]) => {
      if (!isDocArg(schema!)) return false;
      return succeeds(() => {
        const sdoc = guard('graphql.schema_is_valid', () => asSchema(schema!));
        guard('graphql.schema_is_valid', () => buildSchema(sdoc));
      });
    },
  },
];

export const builtins: BuiltinDef[] = defs.map(bounded);

/**
 * `json.verify_schema` and `json.match_schema` (opa:v1/topdown/jsonschema.go over xeipuuv/gojsonschema). Operands are
 * JSON text, objects or arrays; verify_schema reports a bad schema as `[false, "jsonschema: …"]`.
 *
 * A JSON Schema (draft 4, 6 and 7 keywords) validator over Rego values. Errors are reported like
 * gojsonschema's ResultError: `{"error": "<field>: <desc>", "type": "<type>", "field": "<field>",
 * "desc": "<desc>"}` with gojsonschema's type names and description texts (`Invalid type. Expected: string,
 * given: integer`, `name is required`, …) and fields as dotted paths from `(root)`.
 * References are resolved inside the schema only (`#`, `#/definitions/…`, `$id`-free JSON pointers); a remote
 * `$ref` is a schema error, as there is no network at evaluation time. Formats checked: date-time, date,
 * time, email, hostname, ipv4, ipv6, uri, uuid, regex.
 */
import { type Num, type Value, RObject, compare, equal, isInteger, isNumber, isObject, isSet, numText, parseJsonValue, toDouble, toRegoString } from '../value.js';
import { type BuiltinDef, builtinError } from './registry.js';
import { Re2Error, compileRe2, findAll } from './re2.js';
import { parseIP } from './net.js';
import { parseTime } from './time.js';

class SchemaError extends Error {}

interface Issue {
  type: string;
  field: string;
  desc: string;
}

function jsonType(v: Value): string {
  if (v === null) return 'null';
  if (typeof v === 'boolean') return 'boolean';
  if (isNumber(v)) return isInteger(v) ? 'integer' : 'number';
  if (typeof v === 'string') return 'string';
  if (Array.isArray(v) || isSet(v)) return 'array';
  return 'object';
}

function typeMatches(v: Value, t: string): boolean {
  const jt = jsonType(v);
  return jt === t || (t === 'number' && jt === 'integer');
}

function quote(v: Value): string {
  return toRegoString(v);
}

function getSchemaAt(root: Value, ref: string): Value {
  if (!ref.startsWith('#')) throw new SchemaError(`remote reference ${ref} is not supported`);
  let cur: Value = root;
  const ptr = ref.slice(1);
  if (ptr === '' || ptr === '/') return root;
  for (const raw of ptr.replace(/^\//, '').split('/')) {
    const seg = decodeURIComponent(raw).replaceAll('~1', '/').replaceAll('~0', '~');
    if (isObject(cur)) {
      const v = cur.getStr(seg);
      if (v === undefined) throw new SchemaError(`reference ${ref} does not resolve`);
      cur = v;
    } else if (Array.isArray(cur) && /^\d+$/.test(seg) && Number(seg) < cur.length) cur = cur[Number(seg)]!;
    else throw new SchemaError(`reference ${ref} does not resolve`);
  }
  return cur;
}

const FORMATS: Record<string, (s: string) => boolean> = {
  'date-time': (s) => ok(() => parseTime('2006-01-02T15:04:05Z07:00', s.toUpperCase())),
  date: (s) => ok(() => parseTime('2006-01-02', s)),
  time: (s) => ok(() => parseTime('15:04:05Z07:00', s.toUpperCase())),
  email: (s) => /^[^@\s]+@[^@\s]+$/.test(s),
  hostname: (s) => s.length <= 255 && /^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*\.?$/.test(s),
  ipv4: (s) => !s.includes(':') && parseIP(s) !== undefined,
  ipv6: (s) => s.includes(':') && parseIP(s) !== undefined,
  uri: (s) => /^[a-zA-Z][a-zA-Z0-9+.-]*:[^\s]*$/.test(s),
  uuid: (s) => /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(s),
  regex: (s) => ok(() => compileRe2(s)),
};

function ok(f: () => unknown): boolean {
  try {
    f();
    return true;
  } catch {
    return false;
  }
}

function isNum(x: Value | undefined): x is Num {
  return x !== undefined && isNumber(x);
}

function lenOf(s: string): number {
  return Array.from(s).length;
}

class Validator {
  private depth = 0;

  constructor(private readonly root: Value) {}

  validate(schema: Value, v: Value, field: string, out: Issue[]): void {
    if (schema === true) return;
    if (schema === false) {
      out.push({ type: 'false', field, desc: 'False always fails validation' });
      return;
    }
    if (!isObject(schema)) throw new SchemaError('schema must be an object or a boolean');
    if (++this.depth > 200) throw new SchemaError('schema references nest too deeply');
    try {
      this.check(schema, v, field, out);
    } finally {
      this.depth--;
    }
  }

  private check(s: RObject, v: Value, field: string, out: Issue[]): void {
    const kw = (k: string): Value | undefined => s.getStr(k);
    const ref = kw('$ref');
    if (typeof ref === 'string') {
      // Before draft 2019-09 a $ref replaces its sibling keywords.
      this.validate(getSchemaAt(this.root, ref), v, field, out);
      return;
    }
    const type = kw('type');
    if (type !== undefined) {
      const types = Array.isArray(type) ? type : [type];
      if (!types.some((t) => typeof t === 'string' && typeMatches(v, t))) {
        out.push({ type: 'invalid_type', field, desc: `Invalid type. Expected: ${types.map(String).join(', ')}, given: ${jsonType(v)}` });
        return;
      }
    }
    const en = kw('enum');
    if (Array.isArray(en) && !en.some((e) => equal(e, v))) {
      out.push({ type: 'enum', field, desc: `${field} must be one of the following: ${en.map(quote).join(', ')}` });
    }
    const cst = kw('const');
    if (cst !== undefined && !equal(cst, v)) out.push({ type: 'const', field, desc: `${field} does not match: ${quote(cst)}` });
    if (typeof v === 'string') this.string(s, v, field, out);
    if (isNumber(v)) this.number(s, v, field, out);
    if (Array.isArray(v) || isSet(v)) this.array(s, Array.isArray(v) ? v : [...v.values()], field, out);
    if (isObject(v)) this.object(s, v, field, out);
    const all = kw('allOf');
    if (Array.isArray(all)) {
      const sub: Issue[] = [];
      for (const x of all) this.validate(x, v, field, sub);
      if (sub.length > 0) out.push(...sub, { type: 'number_all_of', field, desc: 'Must validate all the schemas (allOf)' });
    }
    const any = kw('anyOf');
    if (Array.isArray(any) && !any.some((x) => this.passes(x, v, field))) {
      out.push({ type: 'number_any_of', field, desc: 'Must validate at least one schema (anyOf)' });
    }
    const one = kw('oneOf');
    if (Array.isArray(one)) {
      const n = one.filter((x) => this.passes(x, v, field)).length;
      if (n !== 1) out.push({ type: 'number_one_of', field, desc: 'Must validate one and only one schema (oneOf)' });
    }
    const not = kw('not');
    if (not !== undefined && this.passes(not, v, field)) out.push({ type: 'number_not', field, desc: 'Must not validate the schema (not)' });
    const iff = kw('if');
    if (iff !== undefined) {
      const branch = this.passes(iff, v, field) ? kw('then') : kw('else');
      if (branch !== undefined) {
        const sub: Issue[] = [];
        this.validate(branch, v, field, sub);
        if (sub.length > 0) {
          out.push(...sub);
          out.push(this.passes(iff, v, field) ? { type: 'condition_then', field, desc: 'Must validate "then" as "if" was valid' } : { type: 'condition_else', field, desc: 'Must validate "else" as "if" was not valid' });
        }
      }
    }
  }

  private passes(schema: Value, v: Value, field: string): boolean {
    const sub: Issue[] = [];
    this.validate(schema, v, field, sub);
    return sub.length === 0;
  }

  private string(s: RObject, v: string, field: string, out: Issue[]): void {
    const min = s.getStr('minLength');
    if (isNum(min) && lenOf(v) < toDouble(min)) out.push({ type: 'string_gte', field, desc: `String length must be greater than or equal to ${numText(min)}` });
    const max = s.getStr('maxLength');
    if (isNum(max) && lenOf(v) > toDouble(max)) out.push({ type: 'string_lte', field, desc: `String length must be less than or equal to ${numText(max)}` });
    const pat = s.getStr('pattern');
    if (typeof pat === 'string') {
      let g;
      try {
        g = compileRe2(pat);
      } catch (e) {
        if (e instanceof Re2Error) throw new SchemaError(`invalid pattern ${pat}`);
        throw e;
      }
      if (findAll(g, v, 1).length === 0) out.push({ type: 'pattern', field, desc: `Does not match pattern '${pat}'` });
    }
    const fmt = s.getStr('format');
    if (typeof fmt === 'string' && FORMATS[fmt] && !FORMATS[fmt](v)) out.push({ type: 'format', field, desc: `Does not match format '${fmt}'` });
  }

  private number(s: RObject, v: Num, field: string, out: Issue[]): void {
    const cmp = (x: Value): number => compare(v, x);
    const min = s.getStr('minimum');
    const max = s.getStr('maximum');
    const emin = s.getStr('exclusiveMinimum');
    const emax = s.getStr('exclusiveMaximum');
    if (isNum(min)) {
      if (emin === true ? cmp(min) <= 0 : cmp(min) < 0) {
        out.push(emin === true ? { type: 'number_gt', field, desc: `Must be greater than ${numText(min)}` } : { type: 'number_gte', field, desc: `Must be greater than or equal to ${numText(min)}` });
      }
    }
    if (isNum(max)) {
      if (emax === true ? cmp(max) >= 0 : cmp(max) > 0) {
        out.push(emax === true ? { type: 'number_lt', field, desc: `Must be less than ${numText(max)}` } : { type: 'number_lte', field, desc: `Must be less than or equal to ${numText(max)}` });
      }
    }
    if (isNum(emin) && cmp(emin) <= 0) out.push({ type: 'number_gt', field, desc: `Must be greater than ${numText(emin)}` });
    if (isNum(emax) && cmp(emax) >= 0) out.push({ type: 'number_lt', field, desc: `Must be less than ${numText(emax)}` });
    const mult = s.getStr('multipleOf');
    if (isNum(mult) && toDouble(mult) !== 0) {
      const q = toDouble(v) / toDouble(mult);
      if (Math.abs(q - Math.round(q)) > 1e-9) out.push({ type: 'multiple_of', field, desc: `Must be a multiple of ${numText(mult)}` });
    }
  }

  private array(s: RObject, v: Value[], field: string, out: Issue[]): void {
    const min = s.getStr('minItems');
    if (isNum(min) && v.length < toDouble(min)) out.push({ type: 'array_min_items', field, desc: `Array must have at least ${numText(min)} items` });
    const max = s.getStr('maxItems');
    if (isNum(max) && v.length > toDouble(max)) out.push({ type: 'array_max_items', field, desc: `Array must have at most ${numText(max)} items` });
    if (s.getStr('uniqueItems') === true) {
      for (let i = 0; i < v.length; i++) {
        for (let j = i + 1; j < v.length; j++) {
          if (equal(v[i]!, v[j]!)) {
            out.push({ type: 'unique', field, desc: `array items[${i},${j}] must be unique` });
            i = v.length;
            break;
          }
        }
      }
    }
    const items = s.getStr('items');
    const sub = (i: number): string => `${field}.${i}`;
    if (Array.isArray(items)) {
      items.forEach((sch, i) => {
        if (i < v.length) this.validate(sch, v[i]!, sub(i), out);
      });
      const add = s.getStr('additionalItems');
      if (add === false && v.length > items.length) out.push({ type: 'array_no_additional_items', field, desc: 'No additional items allowed on array' });
      else if (add !== undefined && add !== true) for (let i = items.length; i < v.length; i++) this.validate(add, v[i]!, sub(i), out);
    } else if (items !== undefined) v.forEach((x, i) => this.validate(items, x, sub(i), out));
    const contains = s.getStr('contains');
    if (contains !== undefined && !v.some((x, i) => this.passes(contains, x, sub(i)))) {
      out.push({ type: 'contains', field, desc: 'At least one of the items must match' });
    }
  }

  private object(s: RObject, v: RObject, field: string, out: Issue[]): void {
    const keys = v.keys().map((k) => (typeof k === 'string' ? k : toRegoString(k)));
    const child = (k: string): string => (field === '(root)' ? k : `${field}.${k}`);
    const req = s.getStr('required');
    if (Array.isArray(req)) {
      for (const r of req) if (typeof r === 'string' && v.getStr(r) === undefined) out.push({ type: 'required', field, desc: `${r} is required` });
    }
    const min = s.getStr('minProperties');
    if (isNum(min) && keys.length < toDouble(min)) out.push({ type: 'array_min_properties', field, desc: `Must have at least ${numText(min)} properties` });
    const max = s.getStr('maxProperties');
    if (isNum(max) && keys.length > toDouble(max)) out.push({ type: 'array_max_properties', field, desc: `Must have at most ${numText(max)} properties` });
    const props = s.getStr('properties');
    const pprops = s.getStr('patternProperties');
    const add = s.getStr('additionalProperties');
    for (const k of keys) {
      const x = v.getStr(k)!;
      let matched = false;
      if (isObject(props)) {
        const ps = props.getStr(k);
        if (ps !== undefined) {
          matched = true;
          this.validate(ps, x, child(k), out);
        }
      }
      if (isObject(pprops)) {
        for (const [p, ps] of pprops.entries()) {
          if (typeof p !== 'string') continue;
          let g;
          try {
            g = compileRe2(p);
          } catch {
            throw new SchemaError(`invalid pattern ${p}`);
          }
          if (findAll(g, k, 1).length > 0) {
            matched = true;
            this.validate(ps, x, child(k), out);
          }
        }
      }
      if (!matched && add !== undefined) {
        if (add === false) out.push({ type: 'additional_property_not_allowed', field, desc: `Additional property ${k} is not allowed` });
        else this.validate(add, x, child(k), out);
      }
    }
    const names = s.getStr('propertyNames');
    if (names !== undefined) for (const k of keys) this.validate(names, k, child(k), out);
    const deps = s.getStr('dependencies');
    if (isObject(deps)) {
      for (const [k, d] of deps.entries()) {
        if (typeof k !== 'string' || v.getStr(k) === undefined) continue;
        if (Array.isArray(d)) {
          for (const r of d) if (typeof r === 'string' && v.getStr(r) === undefined) out.push({ type: 'missing_dependency', field, desc: `Has a dependency on ${r}` });
        } else this.validate(d, v, field, out);
      }
    }
  }
}

/**
 * A document or schema operand as opa's loader takes it (topdown/jsonschema.go astValueToJSONSchemaLoader): a
 * string is JSON text, which must be valid; an object or array is taken as it is; anything else is refused.
 */
function loaded(v: Value): Value {
  if (typeof v === 'string') {
    try {
      return parseJsonValue(v);
    } catch {
      throw new SchemaError('invalid JSON string');
    }
  }
  if (isObject(v) || Array.isArray(v)) return v;
  throw new SchemaError('wrong type, expected string or object');
}

function checkSchema(schema: Value): Validator {
  // Draft 4's boolean exclusiveMinimum/Maximum and draft 6+'s numeric ones are both understood.
  const validator = new Validator(schema);
  // Compile-time checks gojsonschema performs: keyword types and resolvable references.
  const walk = (s: Value, depth: number): void => {
    if (depth > 100 || !isObject(s)) return;
    const type = s.getStr('type');
    if (type !== undefined) {
      const ts = Array.isArray(type) ? type : [type];
      for (const t of ts) {
        if (typeof t !== 'string' || !['null', 'boolean', 'integer', 'number', 'string', 'array', 'object'].includes(t)) {
          throw new SchemaError(`has a primitive type that is NOT VALID -- given: /${String(t)}/ Expected valid values are:/array/ /boolean/ /integer/ /number/ /null/ /object/ /string/`);
        }
      }
    }
    const ref = s.getStr('$ref');
    if (typeof ref === 'string') getSchemaAt(schema, ref);
    for (const [, x] of s.entries()) {
      if (isObject(x)) walk(x, depth + 1);
      else if (Array.isArray(x)) for (const y of x) walk(y, depth + 1);
    }
  };
  walk(schema, 0);
  return validator;
}

function issueValue(i: Issue): Value {
  const o = new RObject();
  o.set('error', `${i.field}: ${i.desc}`);
  o.set('type', i.type);
  o.set('field', i.field);
  o.set('desc', i.desc);
  return o;
}

// opa reports what is wrong with a schema in verify_schema's result, prefixed `jsonschema: `, and match_schema's
// failures (a bad operand, a bad schema) as the builtin's error.
export const builtins: BuiltinDef[] = [
  {
    name: 'json.verify_schema',
    arity: 1,
    fn: (a) => {
      try {
        checkSchema(loaded(a[0]!));
        return [true, null];
      } catch (e) {
        if (e instanceof SchemaError) return [false, `jsonschema: ${e.message}`];
        throw e;
      }
    },
  },
  {
    name: 'json.match_schema',
    arity: 2,
    fn: (a) => {
      const name = 'json.match_schema';
      try {
        const doc = loaded(a[0]!);
        const schema = loaded(a[1]!);
        const issues: Issue[] = [];
        checkSchema(schema).validate(schema, doc, '(root)', issues);
        return [issues.length === 0, issues.map(issueValue)];
      } catch (e) {
        if (e instanceof SchemaError) throw builtinError(name, e.message);
        throw e;
      }
    },
  },
];

/**
 * The parsed-module JSON of OPA's `ast` package (what `opa parse --format json` and `rego.parse_module` return),
 * without locations: terms are `{"type": …, "value": …}`, expressions `{"index", "terms"}`, infix operators
 * become calls of their builtin refs (`eq`, `assign`, `equal`, …), rule heads carry `name`/`ref`/`value`.
 */
import type { Expr, Literal, Module, Rule, Term } from './ast.js';
import { parseModule } from './parser.js';
import { BuiltinError, argString, type BuiltinDef } from './builtins/registry.js';
import { CocoError } from '../errors.js';
import { type Value, RObject, fromJson, isNumber } from './value.js';

type J = Record<string, unknown>;

function ref(name: string): J {
  return { type: 'ref', value: name.split('.').map((p, i) => (i === 0 ? { type: 'var', value: p } : { type: 'string', value: p })) };
}

function scalar(v: Value): J {
  if (v === null) return { type: 'null' };
  if (typeof v === 'boolean') return { type: 'boolean', value: v };
  if (isNumber(v)) return { type: 'number', value: v };
  return { type: 'string', value: v };
}

export function termJson(t: Term): J {
  switch (t.type) {
    case 'scalar':
      return scalar(t.value);
    case 'var':
      return { type: 'var', value: t.name };
    case 'ref':
      return { type: 'ref', value: [termJson(t.head), ...t.path.map(termJson)] };
    case 'array':
      return { type: 'array', value: t.items.map(termJson) };
    case 'set':
      return { type: 'set', value: t.items.map(termJson) };
    case 'object':
      return { type: 'object', value: t.entries.map(([k, v]) => [termJson(k), termJson(v)]) };
    case 'arraycompr':
      return { type: 'arraycomprehension', value: { term: termJson(t.term), body: bodyJson(t.body) } };
    case 'setcompr':
      return { type: 'setcomprehension', value: { term: termJson(t.term), body: bodyJson(t.body) } };
    case 'objectcompr':
      return { type: 'objectcomprehension', value: { key: termJson(t.key), value: termJson(t.value), body: bodyJson(t.body) } };
    case 'call':
      return { type: 'call', value: [ref(t.name), ...t.args.map(termJson)] };
    case 'template':
      return { type: 'templatestring', value: t.parts.map((p) => (typeof p === 'string' ? { type: 'string', value: p } : termJson(p))) };
  }
}

function exprTerms(e: Expr): unknown {
  switch (e.kind) {
    case 'term':
      return e.term.type === 'call' ? [ref(e.term.name), ...e.term.args.map(termJson)] : termJson(e.term);
    case 'unify':
      return [ref('eq'), termJson(e.a), termJson(e.b)];
    case 'assign':
      return [ref('assign'), termJson(e.a), termJson(e.b)];
    case 'some':
      return { symbols: e.vars.map(termJson) };
    case 'somein':
      return { symbols: [{ type: 'call', value: [ref(e.key ? 'internal.member_3' : 'internal.member_2'), ...(e.key ? [termJson(e.key)] : []), termJson(e.value), termJson(e.coll)] }] };
    case 'every':
      return { key: e.key ? termJson(e.key) : null, value: termJson(e.value), domain: termJson(e.domain), body: bodyJson(e.body) };
    case 'logic':
      return [ref(e.op), { body: bodyJson(e.a) }, { body: bodyJson(e.b) }];
  }
}

function bodyJson(lits: Literal[]): J[] {
  return lits.map((l, index) => {
    const j: J = { index, terms: exprTerms(l.expr) };
    if (l.negated) j['negated'] = true;
    if (l.with.length > 0) j['with'] = l.with.map((w) => ({ target: termJson(w.target), value: termJson(w.value) }));
    return j;
  });
}

const TRUE_BODY = [{ index: 0, terms: { type: 'boolean', value: true } }];

function ruleJson(r: Rule): J {
  const h = r.head;
  const head: J = { ref: h.ref.map(termJson) };
  const first = h.ref[0];
  if (first?.type === 'var' && h.ref.length === 1) head['name'] = first.name;
  if (h.args) head['args'] = h.args.map(termJson);
  if (h.key) head['key'] = termJson(h.key);
  if (h.value) head['value'] = termJson(h.value);
  else if (!h.contains) head['value'] = { type: 'boolean', value: true };
  if (h.assign) head['assign'] = true;
  const j: J = { head, body: r.body.length > 0 ? bodyJson(r.body) : TRUE_BODY };
  if (r.isDefault) j['default'] = true;
  let cur = j;
  for (const e of r.elseChain) {
    const next: J = { head: { ...head, value: e.value ? termJson(e.value) : { type: 'boolean', value: true } }, body: e.body.length > 0 ? bodyJson(e.body) : TRUE_BODY };
    cur['else'] = next;
    cur = next;
  }
  return j;
}

export function moduleJson(m: Module): J {
  const j: J = {
    package: { path: [{ type: 'var', value: 'data' }, ...m.package.map((p) => ({ type: 'string', value: p }))] },
  };
  if (m.imports.length > 0) j['imports'] = m.imports.map((i) => ({ path: termJson(i.path), ...(i.alias ? { alias: i.alias } : {}) }));
  if (m.rules.length > 0) j['rules'] = m.rules.map(ruleJson);
  return j;
}

/** `rego.parse_module(filename, text)`: the module's AST as OPA JSON; a syntax error is a builtin error. */
export const parseModuleBuiltin: BuiltinDef = {
  name: 'rego.parse_module',
  arity: 2,
  fn: (args) => {
    const file = argString('rego.parse_module', args, 0);
    const text = argString('rego.parse_module', args, 1);
    let m: Module;
    try {
      m = parseModule(text, file, { version: 'v1' });
    } catch (e) {
      const message = e instanceof CocoError ? e.message : String(e);
      throw new BuiltinError('eval_builtin_error', `rego.parse_module: ${message}`);
    }
    const v = fromJson(moduleJson(m));
    return v instanceof RObject ? v : null;
  },
};

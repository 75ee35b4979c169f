/**
 * `rego.parse_module(filename, source)`: the module parsed with the engine's parser (Rego v1 syntax, or v0
 * when the text imports nothing v1-specific and fails as v1 — OPA parses with its default version, v1) and
 * returned as OPA's AST JSON (ast.Module marshalling without locations): terms as `{"type", "value"}`,
 * refs as term arrays, calls as `[operator ref, args…]`, expressions as `{"index", "terms", "negated",
 * "with"}`. A parse error is a builtin error carrying the parser's `rego_parse_error` text.
 */
import { CocoError } from '../../errors.js';
import type { Expr, Literal, Module, Rule, Term } from '../ast.js';
import { parseModule } from '../parser.js';
import { type Value, fromJson, isNumber } from '../value.js';
import { type BuiltinDef, argString, builtinError } from './registry.js';

type J = unknown;

function scalar(v: Value): J {
  if (v === null) return { type: 'null' };
  if (typeof v === 'boolean') return { type: 'boolean', value: v };
  if (isNumber(v)) return { type: 'number', value: v };
  return { type: 'string', value: v };
}

function opRef(name: string): J {
  const [head, ...rest] = name.split('.');
  return { type: 'ref', value: [{ type: 'var', value: head }, ...rest.map((p) => ({ type: 'string', value: p }))] };
}

function term(t: Term): J {
  switch (t.type) {
    case 'scalar':
      return scalar(t.value);
    case 'var':
      return { type: 'var', value: t.name };
    case 'ref':
      return { type: 'ref', value: [term(t.head), ...t.path.map(term)] };
    case 'array':
      return { type: 'array', value: t.items.map(term) };
    case 'set':
      return { type: 'set', value: t.items.map(term) };
    case 'object':
      return { type: 'object', value: t.entries.map(([k, v]) => [term(k), term(v)]) };
    case 'arraycompr':
      return { type: 'arraycomprehension', value: { term: term(t.term), body: body(t.body) } };
    case 'setcompr':
      return { type: 'setcomprehension', value: { term: term(t.term), body: body(t.body) } };
    case 'objectcompr':
      return { type: 'objectcomprehension', value: { key: term(t.key), value: term(t.value), body: body(t.body) } };
    case 'call':
      return { type: 'call', value: [opRef(t.name), ...t.args.map(term)] };
    case 'template':
      return {
        type: 'templatestring',
        value: t.parts.map((p) => (typeof p === 'string' ? { type: 'string', value: p } : term(p))),
      };
  }
}

function exprTerms(e: Expr): J {
  switch (e.kind) {
    case 'term':
      return e.term.type === 'call' ? [opRef(e.term.name), ...e.term.args.map(term)] : term(e.term);
    case 'unify':
      return [opRef('eq'), term(e.a), term(e.b)];
    case 'assign':
      return [opRef('assign'), term(e.a), term(e.b)];
    case 'some':
      return { symbols: e.vars.map(term) };
    case 'somein':
      return { symbols: [{ type: 'call', value: [opRef(e.key ? 'internal.member_3' : 'internal.member_2'), ...(e.key ? [term(e.key)] : []), term(e.value), term(e.coll)] }] };
    case 'every':
      return { key: e.key ? term(e.key) : null, value: term(e.value), domain: term(e.domain), body: body(e.body) };
    case 'logic':
      return [opRef(e.op), body(e.a), body(e.b)];
  }
}

function body(lits: Literal[]): J[] {
  return lits.map((l, index) => {
    const o: Record<string, J> = { index, terms: exprTerms(l.expr) };
    if (l.negated) o.negated = true;
    if (l.with.length > 0) o.with = l.with.map((w) => ({ target: term(w.target), value: term(w.value) }));
    return o;
  });
}

const TRUE_BODY = [{ index: 0, terms: { type: 'boolean', value: true } }];

function rule(r: Rule): J {
  const h = r.head;
  const head: Record<string, J> = { ref: h.ref.map(term) };
  const first = h.ref[0];
  if (first && first.type === 'var' && h.ref.length === 1) head.name = first.name;
  if (h.args) head.args = h.args.map(term);
  if (h.key) head.key = term(h.key);
  head.value = h.value ? term(h.value) : h.key && !h.contains ? undefined : { type: 'boolean', value: true };
  if (head.value === undefined) delete head.value;
  if (h.assign) head.assign = true;
  const out: Record<string, J> = { head, body: r.hasBody ? body(r.body) : TRUE_BODY };
  if (r.isDefault) out.default = true;
  // `else` chains nest: each else is a rule whose own else follows.
  let tail: Record<string, J> | undefined;
  for (const e of r.elseChain) {
    const er: Record<string, J> = { head: { ...head, value: e.value ? term(e.value) : { type: 'boolean', value: true } }, body: body(e.body) };
    if (tail) tail.else = er;
    else out.else = er;
    tail = er;
  }
  return out;
}

export function moduleJson(m: Module): Value {
  const out: Record<string, J> = {
    package: { path: [{ type: 'var', value: 'data' }, ...m.package.map((p) => ({ type: 'string', value: p }))] },
  };
  if (m.imports.length > 0) out.imports = m.imports.map((i) => ({ path: term(i.path), ...(i.alias ? { alias: i.alias } : {}) }));
  if (m.rules.length > 0) out.rules = m.rules.map(rule);
  return fromJson(JSON.parse(JSON.stringify(out, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))) as unknown);
}

export const builtins: BuiltinDef[] = [
  {
    name: 'rego.parse_module',
    arity: 2,
    fn: (a) => {
      const file = argString('rego.parse_module', a, 0);
      const src = argString('rego.parse_module', a, 1);
      try {
        return moduleJson(parseModule(src, file, { version: 'v1' }));
      } catch (e) {
        if (e instanceof CocoError) throw builtinError('rego.parse_module', e.message);
        throw e;
      }
    },
  },
];

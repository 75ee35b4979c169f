/**
 * `--explain`: a body as OPA's compiler leaves it before evaluation, so the trace shows what opa's shows.
 * RewriteExprTerms moves every call nested in another term into an expression of its own (`count(xs) > 5` is
 * `count(xs, __local1__)` then `gt(__local1__, 5)`), and a reference subject that is a composite or a call
 * into a variable (`[1, 2][i]` is `__local2__ = [1, 2]` then `__local2__[i]`); RewriteDynamicTerms then moves
 * each reference that is an operand of a call, a key of another reference or an element of a composite that
 * is one into an equality of its own (`input.x > 1` is `__local0__ = input.x` then `gt(__local0__, 1)`). The
 * generated expressions carry the `with` modifiers of the expression they come from and the location of the
 * term they hold. A negated expression is shown as written.
 *
 * The generated variables are named as opa numbers them (opa-locals.ts). They get frame slots of their own,
 * far above any slot the compiler gives, so the rewritten body is evaluated in the body's own frame. Only a
 * traced evaluation uses this; a literal whose generated names are not all known stays as written.
 */
import type { CExpr, CLit, CTerm } from './compiled.js';
import { type Locals, refKey } from './opa-locals.js';
import { RObject, RSet } from './value.js';

/** The first frame slot of a generated variable. */
const GENERATED_SLOTS = 1 << 20;
let nextSlot = GENERATED_SLOTS;

const rewritten = new WeakMap<CLit[], CLit[]>();
const origins = new WeakMap<CLit, CLit>();

/** The literal as written of a rewritten one (itself when it was not rewritten). */
export function originOf(l: CLit): CLit {
  return origins.get(l) ?? l;
}

/** The body as opa evaluates it (cached; the result maps to itself). */
export function tracedBody(lits: CLit[], names: Locals | undefined): CLit[] {
  if (names === undefined) return lits;
  let out = rewritten.get(lits);
  if (out !== undefined) return out;
  const all: CLit[] = [];
  let changed = false;
  for (const l of lits) {
    const xs = rewriteLit(l, names);
    if (xs.length !== 1 || xs[0] !== l) changed = true;
    all.push(...xs);
  }
  out = changed ? all : lits;
  rewritten.set(lits, out);
  rewritten.set(out, out);
  return out;
}

const ruleBodies = new WeakMap<CLit[], { lits: CLit[]; value: CTerm }>();

/**
 * A rule body (or `else` branch) with its head value as opa's compiler leaves them: calls in the value are
 * expressions appended to the body (RewriteExprTerms: `p := x + 1` ends its body with `plus(x, 1, __local0__)`),
 * a value that is still a reference or comprehension is assigned to a variable at the end of the body
 * (RewriteRefsInHead: `__local1__ = input.name`), and the rule's value is that variable. A value whose
 * generated names are not all known is computed after the body as before.
 */
export function tracedRuleBody(body: CLit[], value: CTerm, loc: CLit['loc'], names: Locals | undefined): { lits: CLit[]; value: CTerm } {
  let out = ruleBodies.get(body);
  if (out !== undefined) return out;
  const lits = tracedBody(ruleBody(body, loc), names);
  out = { lits, value };
  if (names !== undefined && value.t !== 'const') {
    const host: CLit = { negated: false, expr: { k: 'true' }, withs: [], notBody: undefined, notScope: 0, loc, text: '' };
    const r = new Rewriter(names, host);
    try {
      const pre: CLit[] = [];
      let v = r.expand(value, pre);
      if (evaluates(v)) v = r.assign(v, value, pre);
      if (pre.length > 0) {
        const tail: CLit[] = [];
        for (const x of pre) r.dynamics(x, tail);
        out = { lits: [...lits, ...tail], value: v };
      }
    } catch (err) {
      if (!(err instanceof Unknown)) throw err;
    }
  }
  ruleBodies.set(body, out);
  return out;
}

const trueBodies = new WeakMap<CLit[], CLit[]>();

/** A rule's body as opa's parser gives it: a rule written without one has the body `true` at the rule. */
export function ruleBody(body: CLit[], loc: CLit['loc']): CLit[] {
  if (body.length > 0) return body;
  let out = trueBodies.get(body);
  if (out === undefined) trueBodies.set(body, (out = [{ negated: false, expr: { k: 'true' }, withs: [], notBody: undefined, notScope: 0, loc, text: 'true' }]));
  return out;
}

/** A term that still needs evaluating after RewriteExprTerms (compile.go requiresEval). */
function evaluates(t: CTerm): boolean {
  switch (t.t) {
    case 'ref':
    case 'arraycompr':
    case 'setcompr':
    case 'objectcompr':
      return true;
    case 'array':
    case 'set':
      return t.items.some(evaluates);
    case 'object':
      return t.entries.some(([k, v]) => evaluates(k) || evaluates(v));
    default:
      return false;
  }
}

class Unknown extends Error {}

class Rewriter {
  /** Calls met per start location (`count(xs) - 2`: both start at `count`). */
  private readonly calls = new Map<string, number>();

  constructor(
    private readonly names: Locals,
    private readonly lit: CLit,
  ) {}

  private name(key: string, loc: CLit['loc']): CTerm {
    const name = this.names.get(key);
    if (name === undefined) throw new Unknown(key);
    return { t: 'var', slot: nextSlot++, name, loc };
  }

  private generated(expr: CExpr, loc: CLit['loc']): CLit {
    return { negated: false, expr, withs: this.lit.withs, notBody: undefined, notScope: 0, loc, text: '' };
  }

  /** RewriteRefsInHead: a head value still to evaluate becomes `__localN__ = value` at the end of the body. */
  assign(v: CTerm, original: CTerm, out: CLit[]): CTerm {
    const loc = 'loc' in original && original.loc !== undefined ? original.loc : this.lit.loc;
    const name = this.name(`head:${refKey(loc)}`, loc);
    out.push(this.generated({ k: 'unify', a: name, b: v }, loc));
    return name;
  }

  // ------------------------------------------------------------ RewriteExprTerms

  /** expandExprTerm: nested calls (their arguments first) and composite or call subjects of references. */
  expand(t: CTerm, out: CLit[]): CTerm {
    switch (t.t) {
      case 'call': {
        const args = t.args.map((a) => this.expand(a, out));
        const key = refKey(t.loc);
        const n = this.calls.get(key) ?? 0;
        this.calls.set(key, n + 1);
        const v = this.name(`call${n}:${key}`, t.loc);
        out.push(this.generated({ k: 'term', term: { t: 'call', fn: t.fn, args, out: v, loc: t.loc } }, t.loc));
        return v;
      }
      case 'ref': {
        let head = this.expand(t.head, out);
        const path = t.path.map((p) => this.expand(p, out));
        if (isComposite(head)) {
          const v = this.name(refKey(t.loc), t.loc);
          out.push(this.generated({ k: 'unify', a: v, b: head }, t.loc));
          head = v;
        }
        return { t: 'ref', head, path, loc: t.loc };
      }
      case 'array':
        return { t: 'array', items: t.items.map((x) => this.expand(x, out)) };
      case 'set':
        return { t: 'set', items: t.items.map((x) => this.expand(x, out)) };
      case 'object':
        return { t: 'object', entries: t.entries.map(([k, v]) => [this.expand(k, out), this.expand(v, out)] as [CTerm, CTerm]) };
      default:
        return t;
    }
  }

  // ------------------------------------------------------------ RewriteDynamicTerms

  /** One expression after RewriteExprTerms, with the equalities RewriteDynamicTerms puts before it. */
  dynamics(l: CLit, out: CLit[]): void {
    const e = l.expr;
    if (e.k === 'term' && e.term.t === 'call') {
      const c = e.term;
      const args = c.args.map((a) => this.one(a, out));
      const o = c.out === undefined ? undefined : this.one(c.out, out);
      out.push({ ...l, expr: { ...e, term: { ...c, args, out: o } } });
    } else if (e.k === 'term') out.push({ ...l, expr: { ...e, term: this.inTerm(e.term, out) } });
    else if (e.k === 'unify') {
      const a = this.inTerm(e.a, out);
      out.push({ ...l, expr: { ...e, a, b: this.inTerm(e.b, out) } });
    } else out.push(l);
  }

  /** An equality's operand or a term expression: a reference keeps its place, its keys are moved. */
  private inTerm(t: CTerm, out: CLit[]): CTerm {
    if (t.t === 'ref') return { ...t, path: t.path.map((p) => this.one(p, out)) };
    if (t.t === 'arraycompr' || t.t === 'setcompr' || t.t === 'objectcompr') return t;
    return this.one(t, out);
  }

  /** rewriteDynamicsOne: a reference (its keys first) is moved into `__localN__ = ref`. */
  private one(t: CTerm, out: CLit[]): CTerm {
    switch (t.t) {
      case 'ref': {
        const ref: CTerm = { ...t, path: t.path.map((p) => this.one(p, out)) };
        const v = this.name(`dyn:${refKey(t.loc)}`, t.loc);
        out.push(this.generated({ k: 'unify', a: v, b: ref }, t.loc));
        return v;
      }
      case 'array':
        return { t: 'array', items: t.items.map((x) => this.one(x, out)) };
      case 'set':
        return { t: 'set', items: t.items.map((x) => this.one(x, out)) };
      case 'object':
        return { t: 'object', entries: t.entries.map(([k, v]) => [this.one(k, out), this.one(v, out)] as [CTerm, CTerm]) };
      case 'arraycompr':
      case 'setcompr':
      case 'objectcompr':
        // The comprehension itself is moved too; its name is not recorded, so the literal stays as written.
        throw new Unknown('comprehension');
      default:
        return t;
    }
  }
}

function isComposite(t: CTerm): boolean {
  switch (t.t) {
    case 'array':
    case 'set':
    case 'object':
    case 'arraycompr':
    case 'setcompr':
    case 'objectcompr':
      return true;
    case 'const':
      return Array.isArray(t.v) || t.v instanceof RObject || t.v instanceof RSet;
    default:
      return false;
  }
}

/** A literal as opa's compiler rewrites it: its generated expressions, then itself. */
function rewriteLit(l: CLit, names: Locals): CLit[] {
  // A negation is evaluated as written: its parts moved before it would make it fail where it holds.
  if (l.notBody !== undefined || l.negated) return [l];
  const e = l.expr;
  const r = new Rewriter(names, l);
  try {
    const pre: CLit[] = [];
    let main: CLit;
    if (e.k === 'term' && e.term.t === 'call') {
      const c = e.term;
      const args = c.args.map((a) => r.expand(a, pre));
      main = { ...l, expr: { ...e, term: { ...c, args } } };
    } else if (e.k === 'term') main = { ...l, expr: { ...e, term: r.expand(e.term, pre) } };
    else if (e.k === 'unify') {
      const a = r.expand(e.a, pre);
      main = { ...l, expr: { ...e, a, b: r.expand(e.b, pre) } };
    } else return [l];
    const out: CLit[] = [];
    for (const x of [...pre, main]) r.dynamics(x, out);
    if (out.length === 1) return [l];
    origins.set(out[out.length - 1]!, l);
    return out;
  } catch (err) {
    if (err instanceof Unknown) return [l];
    throw err;
  }
}

/**
 * The names OPA's compiler gives the values it moves into variables of their own before type checking,
 * for reference subjects that are not variables: `[1, 2][0].a`, `split(s, ".")[0].a`, `{x | …}[y]` are
 * checked (and printed in `undefined ref` errors) as `__local3__[0].a`. OPA's one variable generator
 * numbers every variable it makes in a compilation (opa:v1/ast/compile.go localVarGenerator), stage after
 * stage over the modules in name order: first the parts of rule head references that are neither
 * variables nor scalars (RewriteRuleHeadRefs), then the declared variables (RewriteLocalVars: function
 * arguments, `:=` targets, `some` names, `some … in` bindings and their generated key, `every` key and
 * value), then the expression terms (RewriteExprTerms: each call nested in another term, each `every`
 * domain, each reference subject that is a composite, comprehension or call). This file counts them the
 * same way over the parsed modules; queries have a generator of their own (`__localq0__`, …).
 */
import type { Expr, Literal, Module, Term } from './ast.js';

/**
 * Where a reference starts (its subject), as a key; `call:` and the key of where a call starts names the
 * variable of a call's value (a call as a reference's subject or key).
 */
export function refKey(loc: { file: string; row: number; col: number }): string {
  return `${loc.file}:${loc.row}:${loc.col}`;
}

class Gen {
  private n = 0;
  /** Reference start → the name of the variable its subject was moved into. */
  readonly heads = new Map<string, string>();

  constructor(private readonly prefix: string) {}

  next(): string {
    return `__local${this.prefix}${this.n++}__`;
  }

  // ---------------------------------------------------------------- stage 1: declared variables

  /** A body's declarations (rewriteDeclaredVarsInBody). */
  declBody(lits: Literal[]): void {
    for (const l of lits) this.declLit(l);
  }

  private declLit(l: Literal): void {
    if (l.notBody) {
      this.declBody(l.notBody);
      return;
    }
    const e = l.expr;
    switch (e.kind) {
      case 'assign':
        this.declTerm(e.b);
        for (const w of l.with) this.declTerm(w.value);
        this.assigned(e.a);
        break;
      case 'some':
        for (let i = 0; i < e.vars.length; i++) this.next();
        break;
      case 'somein': {
        // `some v in xs` is `v = xs[k]` with a generated key; every output variable of it is declared,
        // in name order (the generated key included).
        const names: string[] = [];
        if (e.key === undefined) names.push(this.next());
        for (const t of [...(e.key ? [e.key] : []), e.value]) names.push(...patternVars(t));
        names.sort(goCompare);
        for (let i = new Set(names).size; i > 0; i--) this.next();
        this.declTerm(e.coll);
        break;
      }
      case 'every':
        this.declTerm(e.domain);
        if (e.key === undefined) this.next();
        else if (!isWildcard(e.key)) this.next();
        if (!isWildcard(e.value)) this.next();
        this.declBody(e.body);
        break;
      case 'logic':
        this.declBody(e.a);
        this.declBody(e.b);
        break;
      default:
        for (const t of exprTerms(e)) this.declTerm(t);
        for (const w of l.with) this.declTerm(w.value);
    }
  }

  /** The targets of `:=`: each variable (a wildcard too), through arrays and object values. */
  private assigned(t: Term): void {
    if (t.type === 'var') this.next();
    else if (t.type === 'array') t.items.forEach((x) => this.assigned(x));
    else if (t.type === 'object') t.entries.forEach(([, v]) => this.assigned(v));
  }

  /** Comprehensions in a term declare their own variables (their bodies first, then their terms). */
  declTerm(t: Term): void {
    switch (t.type) {
      case 'ref':
        this.declTerm(t.head);
        t.path.forEach((p) => this.declTerm(p));
        break;
      case 'array':
      case 'set':
        t.items.forEach((x) => this.declTerm(x));
        break;
      case 'object':
        t.entries.forEach(([k, v]) => (this.declTerm(k), this.declTerm(v)));
        break;
      case 'call':
        t.args.forEach((x) => this.declTerm(x));
        break;
      case 'arraycompr':
      case 'setcompr':
        this.declBody(t.body);
        this.declTerm(t.term);
        break;
      case 'objectcompr':
        this.declBody(t.body);
        this.declTerm(t.key);
        this.declTerm(t.value);
        break;
      case 'template':
        for (const p of t.parts) if (typeof p !== 'string') this.declTerm(p);
        break;
      default:
        break;
    }
  }

  /** Function arguments: one variable per distinct name (each wildcard its own), object keys aside. */
  args(args: Term[]): void {
    const seen = new Set<string>();
    const visit = (t: Term): void => {
      if (t.type === 'var') {
        if (t.name === '_' || !seen.has(t.name)) this.next();
        seen.add(t.name);
      } else if (t.type === 'array' || t.type === 'set') t.items.forEach(visit);
      else if (t.type === 'object') t.entries.forEach(([, v]) => visit(v));
    };
    args.forEach(visit);
  }

  // ---------------------------------------------------------------- stage 2: expression terms

  /** A body's expressions (rewriteExprTermsInBody, expandExpr). */
  exprBody(lits: Literal[]): void {
    for (const l of lits) {
      if (l.notBody) {
        this.exprBody(l.notBody);
        continue;
      }
      for (const w of l.with) this.expand(w.value);
      const e = l.expr;
      switch (e.kind) {
        case 'some':
          break;
        case 'somein':
          // `v = xs[k]`: a collection that is no reference is the subject of one.
          this.expand(e.value);
          this.expandRef(e.coll, []);
          break;
        case 'every':
          this.next(); // the domain's own variable
          this.expand(e.domain);
          this.exprBody(e.body);
          break;
        case 'logic':
          this.exprBody(e.a);
          this.exprBody(e.b);
          break;
        case 'term':
          if (e.term.type === 'call') e.term.args.forEach((a) => this.expand(a));
          else this.expand(e.term);
          break;
        default:
          for (const t of exprTerms(e)) this.expand(t);
      }
    }
  }

  /** expandExprTerm: nested calls (arguments first) and reference subjects get variables. */
  expand(t: Term): void {
    switch (t.type) {
      case 'call':
        t.args.forEach((a) => this.expand(a));
        this.heads.set(`call:${refKey(t.loc)}`, this.next());
        break;
      case 'ref':
        this.expandRef(t.head, t.path, t);
        break;
      case 'array':
      case 'set':
        t.items.forEach((x) => this.expand(x));
        break;
      case 'object':
        t.entries.forEach(([k, v]) => (this.expand(k), this.expand(v)));
        break;
      case 'arraycompr':
      case 'setcompr':
        this.expand(t.term);
        this.exprBody(t.body);
        break;
      case 'objectcompr':
        this.expand(t.key);
        this.expand(t.value);
        this.exprBody(t.body);
        break;
      default:
        break;
    }
  }

  private expandRef(head: Term, path: Term[], ref?: Term): void {
    this.expand(head);
    path.forEach((p) => this.expand(p));
    if (['array', 'set', 'object', 'arraycompr', 'setcompr', 'objectcompr'].includes(head.type)) {
      const name = this.next();
      if (ref) this.heads.set(refKey(ref.loc), name);
    }
  }
}

function isWildcard(t: Term): boolean {
  return t.type === 'var' && t.name === '_';
}

/** The variables a `some … in` pattern binds; a wildcard is a variable of its own each time (`$0`). */
function patternVars(t: Term): string[] {
  let w = 0;
  const out: string[] = [];
  const visit = (x: Term): void => {
    if (x.type === 'var') out.push(x.name === '_' ? `$${w++}` : x.name);
    else if (x.type === 'array' || x.type === 'set') x.items.forEach(visit);
    else if (x.type === 'object') x.entries.forEach(([k, v]) => (visit(k), visit(v)));
  };
  visit(t);
  return out;
}

/** Go's string order (bytes). */
function goCompare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function exprTerms(e: Expr): Term[] {
  switch (e.kind) {
    case 'term':
      return [e.term];
    case 'unify':
    case 'assign':
      return [e.a, e.b];
    default:
      return [];
  }
}

/** The generated subject variables of the modules' references, by where each reference starts. */
export function moduleRefHeads(modules: readonly Module[]): Map<string, string> {
  const sorted = [...modules].sort((a, b) => goCompare(a.file, b.file));
  const g = new Gen('');
  // RewriteRuleHeadRefs: a part of a rule's head reference that is neither a variable nor a scalar
  // (`p[input.x]`) is moved into a variable first.
  for (const m of sorted) {
    for (const r of m.rules) for (const t of r.head.ref.slice(1)) if (t.type !== 'var' && t.type !== 'scalar') g.next();
  }
  for (const m of sorted) {
    for (const r of m.rules) {
      if (r.head.args) g.args(r.head.args);
      for (const t of [r.head.key, r.head.value]) if (t) g.declTerm(t);
      g.declBody(r.body);
      for (const e of r.elseChain) {
        if (e.value) g.declTerm(e.value);
        g.declBody(e.body);
      }
    }
  }
  for (const m of sorted) {
    for (const r of m.rules) {
      for (const t of [...(r.head.args ?? []), ...(r.head.key ? [r.head.key] : []), ...(r.head.value ? [r.head.value] : [])]) g.expand(t);
      g.exprBody(r.body);
      for (const e of r.elseChain) {
        if (e.value) g.expand(e.value);
        g.exprBody(e.body);
      }
    }
  }
  return g.heads;
}

/** The same for a query, with the query compiler's own generator. */
export function queryRefHeads(lits: Literal[]): Map<string, string> {
  const g = new Gen('q');
  g.declBody(lits);
  g.exprBody(lits);
  return g.heads;
}

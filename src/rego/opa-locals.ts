/**
 * The names OPA's compiler gives the values it moves into variables of their own before type checking,
 * for reference subjects that are not variables: `[1, 2][0].a`, `split(s, ".")[0].a`, `{x | …}[y]` are
 * checked (and printed in `undefined ref` errors) as `__local3__[0].a`. OPA's one variable generator
 * numbers every variable it makes in a compilation (opa:v1/ast/compile.go localVarGenerator), stage after
 * stage over the modules in name order: first the parts of rule head references that are neither
 * variables nor scalars (RewriteRuleHeadRefs), then the declared variables (RewriteLocalVars: function
 * arguments, `:=` targets, `some` names, `some … in` bindings and their generated key, `every` key and
 * value), then the expression terms (RewriteExprTerms: each call nested in another term, each `every`
 * domain, each reference subject that is a composite, comprehension or call), then comprehension terms,
 * head values and `with` values still holding references, and last the references that are keys of other
 * references or arguments of calls (RewriteDynamicTerms: `x[y[0]]` is checked as `x[__local5__]`). This
 * file counts them the same way over the parsed modules; queries have a generator of their own
 * (`__localq0__`, …). Print calls count as OPA counts them with print statements enabled (one variable
 * per argument, RewritePrintCalls, between the declared variables and the expression terms); template
 * strings are not counted.
 */
import type { Expr, Literal, Module, Term } from './ast.js';

/**
 * Where a reference starts (its subject), as a key; `call:` and the key of where a call starts names the
 * variable of a call's value (a call as a reference's subject or key; the outermost of the calls starting
 * there), `call0:`, `call1:`, … each of them, innermost first; `dyn:` a reference moved by RewriteDynamicTerms.
 */
export function refKey(loc: { file: string; row: number; col: number }): string {
  return `${loc.file}:${loc.row}:${loc.col}`;
}

class Gen {
  private n = 0;
  /**
   * Variables made between RewriteExprTerms and RewriteDynamicTerms: comprehension terms, rule head terms
   * and `with` values that still hold a reference or comprehension (RewriteComprehensionTerms,
   * RewriteRefsInHead, RewriteWithValues), one each.
   */
  private later: Record<Later, Array<string | undefined>> = { compr: [], head: [], with: [] };

  /**
   * Counts a term moved into a variable between the two stages when it still needs evaluating; `key` records
   * the variable's name (a rule's head value: `head:` and where it starts).
   */
  laterIf(t: T, kind: Later = 'compr', key?: string): void {
    if (evaluates(t)) this.later[kind].push(key);
  }

  /** The variables of the stages between RewriteExprTerms and RewriteDynamicTerms, stage by stage. */
  skipBetween(): void {
    for (const kind of ['compr', 'head', 'with'] as const) {
      for (const key of this.later[kind]) {
        const name = this.next();
        if (key !== undefined) this.heads.set(key, name);
      }
    }
    this.later = { compr: [], head: [], with: [] };
  }
  /** Reference start → the name of the variable its subject was moved into. */
  readonly heads = new Map<string, string>();

  /** The names ResolveRefs turns into references in the current module (its package's rules, its imports). */
  globals: ReadonlySet<string> | undefined;
  /** The names declared in the current rule, which shadow those. */
  declaredNames: ReadonlySet<string> = new Set();

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
        for (const v of e.vars) this.declared(v);
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
    if (t.type === 'var') this.declared(t);
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
        if (t.name === '_' || !seen.has(t.name)) this.declared(t);
        seen.add(t.name);
      } else if (t.type === 'array') t.items.forEach(visit);
      else if (t.type === 'object') t.entries.forEach(([, v]) => visit(v));
    };
    args.forEach(visit);
  }

  /** A declared variable's name, recorded by where it is declared (`decl:`). */
  private declared(v: Term): void {
    const name = this.next();
    if (v.type === 'var' && v.name !== '_') this.heads.set(`decl:${refKey(v.loc)}`, name);
  }

  // ---------------------------------------------------------------- print calls

  /**
   * RewritePrintCalls: each argument of a `print` statement is captured in a variable of its own, the
   * bodies nested in a body's expressions first (comprehensions, `every`), then the body's own prints.
   */
  prints(lits: Literal[]): void {
    for (const l of lits) {
      if (l.notBody) this.prints(l.notBody);
      else this.closures(l);
    }
    for (const l of lits) {
      const e = l.expr;
      if (!l.notBody && e.kind === 'term' && e.term.type === 'call' && e.term.name === 'print') for (let i = 0; i < e.term.args.length; i++) this.next();
    }
  }

  /** The closures of an expression, in order, each body as a body of its own. */
  private closures(l: Literal): void {
    const visit = (t: Term): void => {
      switch (t.type) {
        case 'arraycompr':
        case 'setcompr':
        case 'objectcompr':
          this.prints(t.body);
          break;
        case 'ref':
          visit(t.head);
          t.path.forEach(visit);
          break;
        case 'array':
        case 'set':
          t.items.forEach(visit);
          break;
        case 'object':
          t.entries.forEach(([k, v]) => (visit(k), visit(v)));
          break;
        case 'call':
          t.args.forEach(visit);
          break;
        case 'template':
          for (const p of t.parts) if (typeof p !== 'string') visit(p);
          break;
        default:
          break;
      }
    };
    const e = l.expr;
    switch (e.kind) {
      case 'every':
        visit(e.domain);
        this.prints(e.body);
        break;
      case 'somein':
        [...(e.key ? [e.key] : []), e.value, e.coll].forEach(visit);
        break;
      case 'logic':
        this.prints(e.a);
        this.prints(e.b);
        break;
      case 'some':
        break;
      default:
        exprTerms(e).forEach(visit);
    }
    for (const w of l.with) visit(w.value);
  }

  // ---------------------------------------------------------------- stage 2: expression terms

  /**
   * A body's expressions (rewriteExprTermsInBody, expandExpr), returned as they are after the stage: the
   * generated expressions before each expression, nested calls and subjects replaced by variables.
   */
  exprBody(lits: Literal[]): X[] {
    const out: X[] = [];
    for (const l of lits) {
      if (l.notBody) {
        out.push(...this.exprBody(l.notBody));
        continue;
      }
      for (const w of l.with) this.laterIf(this.expand(w.value, out), 'with');
      const e = l.expr;
      switch (e.kind) {
        case 'some':
          break;
        case 'somein': {
          // `v = xs[k]`: a collection that is no reference is the subject of one.
          const a = this.expand(e.value, out);
          const coll = this.expand(e.coll, out);
          const b: T = coll.k === 'ref' ? { k: 'ref', parts: [...coll.parts, VAR] } : { k: 'ref', parts: [this.subject(coll, out), VAR] };
          out.push({ k: 'eq', a, b });
          break;
        }
        case 'every': {
          this.next(); // the domain's own variable
          const b = this.expand(e.domain, out);
          out.push({ k: 'eq', a: VAR, b }, { k: 'every', body: this.exprBody(e.body) });
          break;
        }
        case 'logic':
          out.push(...this.exprBody(e.a), ...this.exprBody(e.b));
          break;
        case 'term':
          if (e.term.type === 'call') out.push({ k: 'call', args: e.term.args.map((a) => this.expand(a, out)) });
          else out.push({ k: 'term', t: this.expand(e.term, out) });
          break;
        case 'unify':
        case 'assign': {
          const a = this.expand(e.a, out);
          out.push({ k: 'eq', a, b: this.expand(e.b, out) });
          break;
        }
      }
    }
    return out;
  }

  /** expandExprTerm: nested calls (arguments first) and reference subjects get variables. */
  expand(t: Term, out: X[]): T {
    switch (t.type) {
      case 'call': {
        const args = t.args.map((a) => this.expand(a, out));
        const key = refKey(t.loc);
        const name = this.next();
        this.heads.set(`call:${key}`, name);
        // Calls that start where another does (`count(xs) - 2`): `callN:` numbers them innermost first.
        let n = 0;
        while (this.heads.has(`call${n}:${key}`)) n++;
        this.heads.set(`call${n}:${key}`, name);
        out.push({ k: 'call', args });
        return VAR;
      }
      case 'ref': {
        const parts = [t.head, ...t.path].map((p) => this.expand(p, out));
        const head = parts[0]!;
        if (head.k === 'coll' || head.k === 'compr') {
          this.heads.set(refKey(t.loc), this.next());
          out.push({ k: 'eq', a: VAR, b: head });
          parts[0] = VAR;
        }
        return { k: 'ref', parts, loc: refKey(t.loc) };
      }
      case 'array':
      case 'set':
        return { k: 'coll', items: t.items.map((x) => this.expand(x, out)) };
      case 'object':
        return { k: 'coll', items: t.entries.flatMap(([k, v]) => [this.expand(k, out), this.expand(v, out)]) };
      case 'arraycompr':
      case 'setcompr': {
        const body: X[] = [];
        this.laterIf(this.expand(t.term, body));
        return { k: 'compr', body: [...this.exprBody(t.body), ...body] };
      }
      case 'objectcompr': {
        const body: X[] = [];
        this.laterIf(this.expand(t.key, body));
        this.laterIf(this.expand(t.value, body));
        return { k: 'compr', body: [...this.exprBody(t.body), ...body] };
      }
      case 'var':
        // A rule or import named by its bare name is a reference once ResolveRefs has run.
        return this.globals?.has(t.name) && !this.declaredNames.has(t.name) ? { k: 'ref', parts: [VAR], loc: refKey(t.loc) } : VAR;
      default:
        return VAR;
    }
  }

  /** A collection that is a reference's subject gets a variable of its own. */
  private subject(t: T, out: X[]): T {
    if (t.k !== 'coll' && t.k !== 'compr') return t;
    this.next();
    out.push({ k: 'eq', a: VAR, b: t });
    return VAR;
  }

  // ---------------------------------------------------------------- stage 3: dynamic terms

  /**
   * RewriteDynamicTerms (rewriteDynamics): every reference that is a call's argument or a key of another
   * reference, and every comprehension among them, is moved into a variable of its own.
   */
  dynamics(xs: X[]): void {
    for (const x of xs) {
      switch (x.k) {
        case 'eq':
          this.inTerm(x.a);
          this.inTerm(x.b);
          break;
        case 'call':
          x.args.forEach((a) => this.one(a));
          break;
        case 'every':
          this.dynamics(x.body);
          break;
        case 'term':
          this.inTerm(x.t);
          break;
      }
    }
  }

  private inTerm(t: T): void {
    if (t.k === 'ref') t.parts.slice(1).forEach((p) => this.one(p));
    else if (t.k === 'compr') this.dynamics(t.body);
    else this.one(t);
  }

  private one(t: T): void {
    switch (t.k) {
      case 'ref': {
        t.parts.slice(1).forEach((p) => this.one(p));
        const name = this.next();
        if (t.loc !== undefined) this.heads.set(`dyn:${t.loc}`, name);
        break;
      }
      case 'coll':
        t.items.forEach((x) => this.one(x));
        break;
      case 'compr':
        this.dynamics(t.body);
        this.next();
        break;
      default:
        break;
    }
  }
}

/** The stages between RewriteExprTerms and RewriteDynamicTerms: comprehension terms, rule heads, `with` values. */
type Later = 'compr' | 'head' | 'with';

/** A term after RewriteExprTerms: a variable or scalar, a reference, a collection, a comprehension. */
type T = { k: 'var' } | { k: 'ref'; parts: T[]; loc?: string } | { k: 'coll'; items: T[] } | { k: 'compr'; body: X[] };
/** An expression after RewriteExprTerms. */
type X = { k: 'eq'; a: T; b: T } | { k: 'call'; args: T[] } | { k: 'term'; t: T } | { k: 'every'; body: X[] };

const VAR: T = { k: 'var' };

/** A term that still holds a reference or comprehension (compile.go requiresEval). */
function evaluates(t: T): boolean {
  return t.k === 'ref' || t.k === 'compr' || (t.k === 'coll' && t.items.some(evaluates));
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

/** Names of OPA's generated variables by key (refKey), worked out on first use: only an error prints them. */
export interface Locals {
  get(key: string): string | undefined;
}

/** A Locals counted when first asked. */
export function lazyLocals(count: () => ReadonlyMap<string, string>): Locals {
  let names: ReadonlyMap<string, string> | undefined;
  return { get: (key) => (names ??= count()).get(key) };
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
      for (const [value, body] of [[r.head.value, r.body] as const, ...r.elseChain.map((e) => [e.value, e.body] as const)]) {
        if (value) g.prints([{ negated: false, expr: { kind: 'term', term: value }, with: [], loc: r.loc }]);
        g.prints(body);
      }
    }
  }
  // Each rule (an `else` is a rule of its own) as it is after RewriteExprTerms: the head's generated
  // expressions go after its body's.
  const bodies: X[][] = [];
  const exported = new Map<string, Set<string>>();
  for (const m of sorted) {
    const key = m.package.join('.');
    let names = exported.get(key);
    if (!names) exported.set(key, (names = new Set()));
    for (const r of m.rules) {
      const h = r.head.ref[0];
      if (h?.type === 'var') names.add(h.name);
    }
  }
  for (const m of sorted) {
    const globals = new Set(exported.get(m.package.join('.')));
    for (const i of m.imports) {
      const root = i.path.type === 'ref' ? i.path.head : i.path;
      if (root.type === 'var' && (root.name === 'future' || root.name === 'rego')) continue;
      const last = i.path.type === 'ref' ? i.path.path.at(-1) : undefined;
      const name = i.alias ?? (last?.type === 'scalar' && typeof last.value === 'string' ? last.value : i.path.type === 'var' ? i.path.name : undefined);
      if (name !== undefined) globals.add(name);
    }
    g.globals = globals;
    for (const r of m.rules) {
      g.declaredNames = declaredIn(r);
      const head: X[] = [];
      for (const t of [...(r.head.args ?? []), ...(r.head.key ? [r.head.key] : [])]) g.laterIf(g.expand(t, head), 'head');
      if (r.head.value) g.laterIf(g.expand(r.head.value, head), 'head', `head:${refKey(r.head.value.loc)}`);
      bodies.push([...g.exprBody(r.body), ...head]);
      for (const e of r.elseChain) {
        const value: X[] = [];
        if (e.value) g.laterIf(g.expand(e.value, value), 'head', `head:${refKey(e.value.loc)}`);
        bodies.push([...g.exprBody(e.body), ...value]);
      }
    }
  }
  g.globals = undefined;
  g.skipBetween();
  for (const b of bodies) g.dynamics(b);
  return g.heads;
}

/** Every name a rule declares (arguments, `:=` targets, `some` names, `every` and `some … in` bindings). */
function declaredIn(r: Module['rules'][number]): Set<string> {
  const out = new Set<string>();
  const pattern = (t: Term): void => {
    if (t.type === 'var') out.add(t.name);
    else if (t.type === 'array' || t.type === 'set') t.items.forEach(pattern);
    else if (t.type === 'object') t.entries.forEach(([, v]) => pattern(v));
  };
  const seen = new Set<object>();
  const walk = (x: unknown): void => {
    if (x === null || typeof x !== 'object' || seen.has(x)) return;
    seen.add(x);
    const o = x as Record<string, unknown>;
    if (o['kind'] === 'assign') pattern(o['a'] as Term);
    if (o['kind'] === 'some') (o['vars'] as Term[]).forEach(pattern);
    if (o['kind'] === 'somein' || o['kind'] === 'every') {
      if (o['key']) pattern(o['key'] as Term);
      pattern(o['value'] as Term);
    }
    for (const v of Object.values(o)) if (typeof v === 'object') walk(v);
  };
  (r.head.args ?? []).forEach(pattern);
  walk(r.body);
  walk(r.elseChain);
  walk(r.head.value);
  return out;
}

/** The same for a query, with the query compiler's own generator. */
export function queryRefHeads(lits: Literal[]): Map<string, string> {
  const g = new Gen('q');
  g.declBody(lits);
  g.prints(lits);
  const body = g.exprBody(lits);
  g.skipBetween();
  g.dynamics(body);
  return g.heads;
}

/**
 * The Rego compiler (specs/rego.md §2.3–2.8, §2.11): groups rules by path into a tree, resolves names
 * (locals → frame slots; rule names and imports → `data` refs; calls → builtins or user functions),
 * checks rule kinds/arity conflicts, and reorders every body so each variable is bound before it is used
 * (OPA's safety reordering), reporting `rego_unsafe_var_error` otherwise.
 */
import { CocoError } from '../errors.js';
import type { Annotations, Expr, Literal, Loc, Module, Rule, Term } from './ast.js';
import type { BuiltinDef } from './builtins/registry.js';
import {
  type CElse,
  type CExpr,
  type CLit,
  type CQuery,
  type CRule,
  type CTerm,
  type CWith,
  type FnRef,
  RuleNode,
  type RuleKind,
  type WithTarget,
  type WithValue,
} from './compiled.js';
import { type Value, RObject, RSet, fromJson, keyOf, toRegoString } from './value.js';
import { type Locals, lazyLocals, moduleRefHeads, queryRefHeads } from './opa-locals.js';
import { checkQuery, ruleTypes, showType, signature, termTypeUntyped, type RuleTypes, type TypeError } from './typecheck.js';

export interface CompileError {
  code: string;
  message: string;
  file: string;
  row: number;
  col: number;
}

/** OPA's compiler stops after this many errors and appends {@link ERROR_LIMIT_REACHED} (CompileErrorLimitDefault). */
export const MAX_COMPILE_ERRORS = 10;

/** The error OPA's compiler appends when it gives up: it has no location. */
const ERROR_LIMIT_REACHED: CompileError = { code: 'rego_compile_error', message: 'error limit reached', file: '', row: 0, col: 0 };

export function compileError(all: CompileError[]): CocoError {
  const parse = all.every((e) => e.code === 'rego_parse_error');
  const errors = !parse && all.length > MAX_COMPILE_ERRORS ? [...all.slice(0, MAX_COMPILE_ERRORS), ERROR_LIMIT_REACHED] : all;
  const text = errors.map((e) => `${e.file || e.row ? `${e.file}:${e.row}: ` : ''}${e.code}: ${e.message}`).join('\n');
  const code = parse ? 'REGO_PARSE' : 'REGO_COMPILE';
  return new CocoError(code, errors.length > 1 ? `${errors.length} errors occurred:\n${text}` : text, { kind: 'input', detail: { errors } });
}

class Fail extends Error {
  readonly all: CompileError[];
  constructor(
    readonly err: CompileError,
    all?: CompileError[],
  ) {
    super(err.message);
    this.all = all ?? [err];
  }
}

function fail(code: string, loc: Loc, message: string): never {
  throw new Fail({ code, message, file: loc.file, row: loc.row, col: loc.col });
}

/** Longest package-plus-rule path (`data.a.b.c…`) a rule may define. */
const MAX_RULE_PATH = 256;

const DEPRECATED = new Set(['any', 'all', 're_match', 'set_diff', 'net.cidr_overlap', 'cast_array', 'cast_set', 'cast_string', 'cast_boolean', 'cast_null', 'cast_object']);

// ---------------------------------------------------------------------------------------------------------
// Scopes

interface Scope {
  id: number;
  parent: Scope | undefined;
  /** declared names (args, `some`, `:=`, every vars) → slot */
  vars: Map<string, number>;
  /** names used directly in this scope's literals (not in nested scopes) */
  used: Set<string>;
}

interface Ctx {
  module: Module | undefined;
  pkg: string[];
  ruleNames: Set<string>;
  imports: Map<string, Term>;
  nslots: number;
  slotOwner: number[];
  slotNames: string[];
  scopeIds: number;
  scopeParent: Array<number | undefined>;
  lines: string[];
  /** ` in rule p` when the rule's line declares rules of more than one name (opa issue #4967). */
  ruleSuffix: string;
  /** Slots declared by `:=` with where (strict unused-assignment check). */
  assigned: Array<[number, Loc]>;
  /** The rule being compiled, for `rego.metadata.chain()` / `rego.metadata.rule()`. */
  rule?: { path: Value[]; node: RuleNode; annotations: Annotations | undefined };
}

export class Compiler {
  readonly root = new RuleNode(null, [], 'data');
  private readonly packages = new Map<string, Set<string>>();
  private modules: Module[] = [];
  /** The names OPA's compiler gives the variables it generates in the modules (opa-locals.ts). */
  localNames: Locals = lazyLocals(() => new Map());
  /** Every rule compiled so far, in source order (for the type check). */
  private readonly compiled: CRule[] = [];

  /** The rules' types once every other stage passed; queries are checked against them. */
  private types: RuleTypes | undefined;
  /** What each rule's document depends on (refs and calls), as the recursion check finds it. */
  private readonly deps = new Map<RuleNode, Set<RuleNode>>();

  /** Imports referenced by some rule (for the strict unused-import check). */
  private readonly usedImports = new Set<Term>();

  /**
   * @param strict OPA's strict compiler checks (`opa check --strict`, specs/rego.md §2.11): unused local
   * assignments, unused function arguments, unused and duplicate imports, deprecated builtins in any version.
   * @param refChecks OPA's `undefined ref` errors for references into values whose type cannot have the key.
   */
  constructor(
    private readonly builtins: ReadonlyMap<string, BuiltinDef>,
    private readonly strict = false,
    private readonly refChecks = true,
  ) {}

  /** Compiles modules into the rule tree; throws REGO_COMPILE with every error found. */
  compile(modules: Module[]): void {
    this.modules = modules;
    this.localNames = lazyLocals(() => moduleRefHeads(modules));
    const errors: CompileError[] = [];
    const guard = (f: () => void): void => {
      try {
        f();
      } catch (e) {
        if (e instanceof Fail) errors.push(...e.all);
        else throw e;
      }
    };
    // Pass 1: package → rule names; nodes for every rule.
    for (const m of modules) {
      const key = m.package.join('\u0000');
      let names = this.packages.get(key);
      if (!names) this.packages.set(key, (names = new Set()));
      for (const r of m.rules) {
        const h = r.head.ref[0];
        if (h?.type === 'var') names.add(h.name);
      }
    }
    // Every package exists as a document, even one without rules (`data.pkg` is then `{}`).
    for (const m of modules) {
      guard(() => {
        if (m.package.length > MAX_RULE_PATH) fail('rego_compile_error', m.packageLoc, `package path is longer than ${MAX_RULE_PATH} segments`);
        this.nodeAt(m.package, true);
      });
    }
    if (errors.length > 0) throw compileError(errors);
    const shells: Array<{ m: Module; r: Rule; node: RuleNode; kind: RuleKind; rest: Term[] }> = [];
    for (const m of modules) {
      for (const r of m.rules) guard(() => shells.push({ m, r, ...this.place(m, r) }));
    }
    // Pass 2: bodies.
    for (const s of shells) guard(() => this.compileRule(s.m, s.r, s.node, s.kind, s.rest));
    guard(() => this.checkTree(this.root));
    for (const m of modules) guard(() => this.checkImports(m));
    if (errors.length === 0) guard(() => this.checkRecursion());
    // Types are checked last, on the reordered bodies, and only when every earlier stage passed (as OPA's
    // CheckTypes stage): all the type errors of all rules are reported together, in source order.
    if (errors.length === 0) {
      this.types = ruleTypes(this.compiled, this.root, { refs: this.refChecks, deps: this.deps, locals: this.localNames });
      errors.push(...sortErrors(this.types.errors().map(typeCompileError)));
    }
    if (errors.length > 0) throw compileError(errors);
  }

  private nodeAt(path: Value[], create: boolean): RuleNode | undefined {
    let n = this.root;
    for (let i = 0; i < path.length; i++) {
      const k = keyOf(path[i]!);
      let c = n.children.get(k);
      if (!c) {
        if (!create) return undefined;
        const p = path.slice(0, i + 1);
        c = new RuleNode(path[i]!, p, refName(p));
        n.children.set(k, c);
      }
      n = c;
    }
    return n;
  }

  findNode(path: Value[]): RuleNode | undefined {
    return this.nodeAt(path, false);
  }

  /** Where a rule lives in the tree and what kind it is. */
  private place(m: Module, r: Rule): { node: RuleNode; kind: RuleKind; rest: Term[] } {
    const ref = r.head.ref;
    const head = ref[0]!;
    if (head.type !== 'var') fail('rego_parse_error', r.loc, 'invalid rule head');
    const version1 = m.version === 'v1' || m.regoV1;
    if (version1 && (head.name === 'input' || head.name === 'data') && ref.length === 1) {
      fail('rego_compile_error', r.loc, `rules must not shadow ${head.name} (use a different rule name)`);
    }
    const path: Value[] = [...m.package, head.name];
    let i = 1;
    for (; i < ref.length; i++) {
      const t = ref[i]!;
      if (t.type !== 'scalar') break;
      path.push(t.value);
    }
    // Every rule-tree node keeps its path and name, so path length bounds both memory and tree depth.
    if (path.length > MAX_RULE_PATH) fail('rego_compile_error', r.loc, `rule path is longer than ${MAX_RULE_PATH} segments`);
    const rest = ref.slice(i);
    let kind: RuleKind;
    if (r.head.args !== undefined) {
      kind = 'func';
      if (rest.length > 0) fail('rego_parse_error', r.loc, 'function name must be a ground ref');
    } else if (r.head.contains) kind = 'multi';
    else kind = rest.length > 0 ? 'object' : 'complete';
    if (r.isDefault && rest.length > 0) fail('rego_type_error', r.loc, 'default rules must have a ground ref head');
    if (r.elseChain.length > 0 && (kind === 'multi' || rest.length > 0)) {
      fail('rego_parse_error', r.loc, kind === 'multi' ? 'else keyword cannot be used on multi-value rules' : 'else keyword cannot be used on rules with variables in head');
    }
    const node = this.nodeAt(path, true)!;
    node.declared = true;
    if (kind === 'func') {
      const arity = r.head.args!.length;
      if (node.arity >= 0 && node.arity !== arity) fail('rego_type_error', r.loc, `conflicting rules ${node.name} found`);
      node.arity = arity;
    }
    return { node, kind, rest };
  }

  private newCtx(m: Module | undefined, pkg: string[]): Ctx {
    const imports = new Map<string, Term>();
    if (m) {
      for (const imp of m.imports) {
        const p = imp.path;
        if (p.type !== 'ref' || p.head.type !== 'var') continue;
        const root = p.head.name;
        if (root === 'future' || root === 'rego') continue;
        const last = p.path.length > 0 ? p.path[p.path.length - 1]! : p.head;
        const name = imp.alias ?? (last.type === 'scalar' ? String(last.value) : root);
        imports.set(name, p);
      }
    }
    const ctx: Ctx = {
      module: m,
      pkg,
      ruleNames: this.packages.get(pkg.join('\u0000')) ?? new Set(),
      imports,
      nslots: 0,
      slotOwner: [],
      slotNames: [],
      scopeIds: 0,
      scopeParent: [],
      ruleSuffix: '',
      assigned: [],
      lines: m ? linesOf(m) : [],
    };
    currentCtx = ctx;
    return ctx;
  }

  private compileRule(m: Module, r: Rule, node: RuleNode, kind: RuleKind, rest: Term[]): void {
    const ctx = this.newCtx(m, m.package);
    ctx.rule = { path: node.path, node, annotations: r.annotations };
    const sameLine = new Set(m.rules.filter((x) => x.loc.row === r.loc.row).map((x) => headName(x)));
    if (sameLine.size > 1) ctx.ruleSuffix = ` in rule ${headName(r)}`;
    const scope = newScope(ctx, undefined);
    const version1 = m.version === 'v1' || m.regoV1;
    const headTerms: Term[] = [...rest];
    if (r.head.key) headTerms.push(r.head.key);
    if (r.head.value) headTerms.push(r.head.value);
    for (const e of r.elseChain) if (e.value) headTerms.push(e.value);
    // Function parameters are declared locals.
    let params: CTerm[] | undefined;
    const bound = new Set<number>();
    if (r.head.args) {
      for (const a of r.head.args) {
        // Arguments are patterns matched against the call's values; a reference, call or comprehension there
        // has no value to match until the body runs, so it is refused here rather than failing at evaluation.
        const computed = computedIn(a);
        if (computed) fail('rego_compile_error', a.loc, `function argument must not contain a ${computed}`);
        for (const v of varsIn(a)) {
          if (v === '_') continue;
          if (version1 && (v === 'input' || v === 'data')) fail('rego_compile_error', a.loc, `args must not shadow ${v} (use a different variable name)`);
          if (!scope.vars.has(v)) scope.vars.set(v, allocSlot(ctx, scope, v));
        }
      }
      params = r.head.args.map((a) => this.term(ctx, scope, a));
      for (const p of params) for (const s of termSlots(p)) bound.add(s);
    }
    const paramVars = new Map(scope.vars);
    for (const t of headTerms) collectUsed(t, scope.used);
    for (const lit of r.body) collectUsedLit(lit, scope.used);
    for (const e of r.elseChain) for (const lit of e.body) collectUsedLit(lit, scope.used);
    // Names declared with `:=`/`some` are not captured by comprehensions that come before the declaration.
    for (const lit of [...r.body, ...r.elseChain.flatMap((e) => e.body)]) for (const n of declaredNames(lit)) scope.used.delete(n);
    if (r.isDefault) {
      // A comprehension is a closed term: its variables are its own, so OPA accepts one as a default value.
      if (r.head.value && !isGroundAst(r.head.value, true)) fail('rego_compile_error', r.loc, 'default rule value cannot contain variables');
    }
    const body = this.body(ctx, scope, r.body, bound);
    const headBound = new Set(bound);
    for (const l of body) for (const s of litBinds(l)) headBound.add(s);
    const restC = rest.map((t) => this.term(ctx, scope, t));
    const key = r.head.key ? this.term(ctx, scope, r.head.key) : undefined;
    const value: CTerm = r.head.value ? this.term(ctx, scope, r.head.value) : { t: 'const', v: true };
    checkHeadSafe(ctx, [...restC, ...(key ? [key] : []), value], headBound, r.loc);
    const elseChain: CElse[] = r.elseChain.map((e) => {
      // Each `else` is a body of its own: it sees the function's arguments, not the locals of the bodies
      // before it, so `r := …` may be declared again (genpolicy's rules do this).
      const es: Scope = { id: scope.id, parent: undefined, vars: new Map(paramVars), used: scope.used };
      const eb = this.body(ctx, es, e.body, bound);
      const ev: CTerm = e.value ? this.term(ctx, es, e.value) : { t: 'const', v: true };
      const eBound = new Set(bound);
      for (const l of eb) for (const s of litBinds(l)) eBound.add(s);
      checkHeadSafe(ctx, [ev], eBound, e.loc);
      return { value: ev, body: eb, loc: e.loc };
    });
    if (this.strict) checkUnused(ctx, { body, value, key, rest: restC, elseChain }, params, r);
    const rule: CRule = {
      kind,
      node,
      rest: restC,
      key,
      value,
      params,
      body,
      elseChain,
      nslots: ctx.nslots,
      isDefault: r.isDefault,
      loc: r.loc,
      text: r.text,
    };
    this.compiled.push(rule);
    if (kind === 'func') {
      if (r.isDefault) {
        if (node.defaultFunc) fail('rego_type_error', r.loc, `multiple default rules ${node.name} found`);
        node.defaultFunc = rule;
      } else node.funcs.push(rule);
    } else if (r.isDefault) {
      if (node.defaultRule) fail('rego_type_error', r.loc, `multiple default rules ${node.name} found`);
      node.defaultRule = rule;
    } else node.rules.push(rule);
  }

  private checkTree(n: RuleNode): void {
    if (n.isFunction && n.hasRules) {
      const r = n.rules[0] ?? n.defaultRule!;
      fail('rego_type_error', r.loc, `conflicting rules ${n.name} found`);
    }
    const kinds = new Set(n.rules.map((r) => (r.kind === 'multi' && r.rest.length === 0 ? 'multi' : r.kind === 'complete' ? 'complete' : 'object')));
    if (kinds.size > 1 && kinds.has('multi')) fail('rego_type_error', n.rules[0]!.loc, `conflicting rules ${n.name} found`);
    if (n.defaultRule && kinds.has('multi')) fail('rego_type_error', n.defaultRule.loc, `conflicting rules ${n.name} found`);
    for (const c of n.children.values()) this.checkTree(c);
  }

  /** Duplicate imports (Rego v1 or strict) and, in strict mode, unused imports. */
  private checkImports(m: Module): void {
    const v1 = m.version === 'v1' || m.regoV1;
    const seen = new Map<string, string>();
    for (const imp of m.imports) {
      const names = refNames(imp.path) ?? [];
      const root = names[0];
      if (root === 'future' || root === 'rego') continue;
      const text = names.join('.');
      const alias = imp.alias ?? names[names.length - 1]!;
      if ((v1 || this.strict) && seen.has(alias)) fail('rego_compile_error', imp.loc, `import must not shadow import ${seen.get(alias)}`);
      seen.set(alias, text);
      if (this.strict && !this.usedImports.has(imp.path)) fail('rego_compile_error', imp.loc, `import ${text} unused`);
    }
  }

  /**
   * OPA rejects recursion at compile time (`rego_recursion_error`): a rule or function that depends on itself
   * through refs or calls, however indirectly. A ref with a variable depends on everything below its prefix.
   */
  private checkRecursion(): void {
    const deps = this.deps;
    const all: RuleNode[] = [];
    const collect = (n: RuleNode): void => {
      if (n.hasRules || n.isFunction) all.push(n);
      for (const c of n.children.values()) collect(c);
    };
    collect(this.root);
    const below = (n: RuleNode, out: Set<RuleNode>): void => {
      if (n.hasRules || n.isFunction) out.add(n);
      for (const c of n.children.values()) below(c, out);
    };
    const refDeps = (t: CTerm, out: Set<RuleNode>): void => {
      if (t.t === 'ref' && t.head.t === 'root' && t.head.root === 'data') {
        // Match the ref against the tree: a variable segment matches every child, a constant one its child.
        const match = (n: RuleNode, i: number): void => {
          if (n.hasRules || n.isFunction) {
            out.add(n);
            return;
          }
          if (i === t.path.length) {
            below(n, out);
            return;
          }
          const seg = t.path[i]!;
          if (seg.t === 'const') {
            const c = n.children.get(keyOf(seg.v));
            if (c) match(c, i + 1);
          } else for (const c of n.children.values()) match(c, i + 1);
        };
        match(this.root, 0);
      } else if (t.t === 'root' && t.root === 'data') below(this.root, out);
      else if (t.t === 'call' && t.fn.kind === 'user') out.add(t.fn.node);
    };
    for (const n of all) {
      const out = new Set<RuleNode>();
      const visit = (t: CTerm): void => refDeps(t, out);
      for (const r of [...n.rules, ...n.funcs, ...(n.defaultRule ? [n.defaultRule] : []), ...(n.defaultFunc ? [n.defaultFunc] : [])]) {
        forEachTermIn(r.body, visit);
        for (const t of [r.value, ...(r.key ? [r.key] : []), ...r.rest]) forEachTerm(t, visit);
        for (const e of r.elseChain) {
          forEachTermIn(e.body, visit);
          forEachTerm(e.value, visit);
        }
      }
      deps.set(n, out);
    }
    const state = new Map<RuleNode, 1 | 2>();
    const stack: RuleNode[] = [];
    const visit = (n: RuleNode): void => {
      state.set(n, 1);
      stack.push(n);
      for (const d of deps.get(n) ?? []) {
        const st = state.get(d);
        if (st === 1) {
          const cycle = [...stack.slice(stack.indexOf(d)), d].map((x) => x.name);
          const r = d.rules[0] ?? d.funcs[0] ?? d.defaultRule ?? d.defaultFunc;
          fail('rego_recursion_error', r?.loc ?? { file: '', row: 0, col: 0 }, `rule ${d.name} is recursive: ${cycle.join(' -> ')}`);
        }
        if (st === undefined) visit(d);
      }
      stack.pop();
      state.set(n, 2);
    };
    for (const n of all) if (!state.has(n)) visit(n);
  }

  /** Compiles an ad-hoc query body. Its variables are the result bindings. */
  compileQuery(lits: Literal[], pkg: string[] = [], source = ''): CQuery {
    const ctx = this.newCtx(undefined, pkg);
    ctx.lines = source.split('\n');
    const scope = newScope(ctx, undefined);
    for (const lit of lits) collectUsedLit(lit, scope.used);
    try {
      const body = this.body(ctx, scope, lits, new Set());
      const locals = lazyLocals(() => queryRefHeads(lits));
      const typeErrors = this.types ? this.types.query(body, locals) : checkQuery(body, { refs: this.refChecks, locals });
      if (typeErrors.length > 0) throw compileError(sortErrors(typeErrors.map(typeCompileError)));
      const vars: Array<[string, number]> = [];
      for (const [name, slot] of scope.vars) if (name !== '_' && !name.includes('$')) vars.push([name, slot]);
      vars.sort((a, b) => a[1] - b[1]);
      return { body, nslots: ctx.nslots, vars, names: locals };
    } catch (e) {
      if (e instanceof Fail) throw compileError(e.all);
      throw e;
    }
  }

  // ------------------------------------------------------------------------------------------- bodies

  private body(ctx: Ctx, scope: Scope, lits: Literal[], bound: Set<number>): CLit[] {
    const compiled = lits.map((l) => this.literal(ctx, scope, l));
    return reorder(ctx, compiled, bound);
  }

  private literal(ctx: Ctx, scope: Scope, l: Literal): CLit {
    const text = l.text ?? ((ctx.lines[l.loc.row - 1] ?? '').slice(l.loc.col - 1).split(';')[0] ?? '').trim();
    const withs = l.with.map((w) => this.withMod(ctx, scope, w));
    let notBody: CLit[] | undefined;
    let notScope = -1;
    if (l.notBody) {
      const inner = newScope(ctx, scope);
      notScope = inner.id;
      for (const x of l.notBody) collectUsedLit(x, inner.used);
      notBody = l.notBody.map((x) => this.literal(ctx, inner, x));
    }
    const expr = this.expr(ctx, scope, l.expr, l);
    return { negated: l.negated, expr, withs, notBody, notScope, loc: l.loc, text };
  }

  private expr(ctx: Ctx, scope: Scope, e: Expr, l: Literal): CExpr {
    switch (e.kind) {
      case 'term':
        return { k: 'term', term: e.term.type === 'call' ? this.call(ctx, scope, e.term, true) : this.term(ctx, scope, e.term) };
      case 'unify':
        // A rule of this package named `eq` (or `assign`) shadows the operator: the expression calls that rule.
        if (ctx.ruleNames.has('eq')) return this.expr(ctx, scope, { kind: 'term', term: { type: 'call', name: 'eq', args: [e.a, e.b], loc: l.loc } }, l);
        return unifyExpr(this.term(ctx, scope, e.a), this.term(ctx, scope, e.b));
      case 'assign': {
        if (ctx.ruleNames.has('assign')) return this.expr(ctx, scope, { kind: 'term', term: { type: 'call', name: 'assign', args: [e.a, e.b], loc: l.loc } }, l);
        const version1 = ctx.module ? ctx.module.version === 'v1' || ctx.module.regoV1 : true;
        // `:=` declares every variable of its left side in this scope.
        const b = this.term(ctx, scope, e.b);
        if (e.a.type !== 'var' && e.a.type !== 'array' && e.a.type !== 'object') fail('rego_parse_error', l.loc, 'cannot assign to ' + e.a.type);
        for (const v of varsIn(e.a)) {
          if (v === '_') continue;
          if (version1 && (v === 'input' || v === 'data')) fail('rego_compile_error', l.loc, `variables must not shadow ${v} (use a different variable name)`);
          if (scope.vars.has(v) && !v.startsWith('$')) fail('rego_compile_error', l.loc, `var ${v} assigned above`);
          const slot = allocSlot(ctx, scope, v);
          scope.vars.set(v, slot);
          ctx.assigned.push([slot, l.loc]);
        }
        return unifyExpr(this.term(ctx, scope, e.a), b);
      }
      case 'some':
        for (const v of e.vars) {
          if (v.name !== '_') scope.vars.set(v.name, allocSlot(ctx, scope, v.name));
        }
        return { k: 'true' };
      case 'somein': {
        const coll = this.term(ctx, scope, e.coll);
        for (const t of [e.key, e.value]) {
          if (!t) continue;
          for (const v of varsIn(t)) if (v !== '_') scope.vars.set(v, allocSlot(ctx, scope, v));
        }
        return {
          k: 'somein',
          key: e.key ? this.term(ctx, scope, e.key) : undefined,
          value: this.term(ctx, scope, e.value),
          coll,
        };
      }
      case 'every': {
        const domain = this.term(ctx, scope, e.domain);
        const inner = newScope(ctx, scope);
        for (const t of [e.key, e.value]) {
          if (!t) continue;
          for (const v of varsIn(t)) if (v !== '_') inner.vars.set(v, allocSlot(ctx, inner, v));
        }
        for (const x of e.body) collectUsedLit(x, inner.used);
        const key = e.key ? this.term(ctx, inner, e.key) : undefined;
        const value = this.term(ctx, inner, e.value);
        const body = e.body.map((x) => this.literal(ctx, inner, x));
        return { k: 'every', key, value, domain, body, scope: inner.id };
      }
      case 'logic': {
        const sa = newScope(ctx, scope);
        for (const x of e.a) collectUsedLit(x, sa.used);
        const a = e.a.map((x) => this.literal(ctx, sa, x));
        const sb = newScope(ctx, scope);
        for (const x of e.b) collectUsedLit(x, sb.used);
        const b = e.b.map((x) => this.literal(ctx, sb, x));
        return { k: 'logic', op: e.op, a, b, scopeA: sa.id, scopeB: sb.id };
      }
    }
  }

  private withMod(ctx: Ctx, scope: Scope, w: { target: Term; value: Term; loc: Loc }): CWith {
    const t = w.target;
    let target: WithTarget | undefined;
    let names = refNames(t);
    // A target written through an import alias or a rule name of this package is a `data` path.
    if (names && names[0] !== 'input' && names[0] !== 'data') {
      const imp = ctx.imports.get(names[0]!);
      const impNames = imp ? refNames(imp) : undefined;
      if (impNames) {
        this.usedImports.add(imp!);
        names = [...impNames, ...names.slice(1)];
      } else if (ctx.ruleNames.has(names[0]!)) names = ['data', ...ctx.pkg, ...names];
    }
    if (names && (names[0] === 'input' || names[0] === 'data')) {
      const path = names.slice(1);
      if (names[0] === 'data') {
        const node = this.findNode(path);
        if (node?.isFunction) target = { kind: 'fn', name: node.name, node };
        else target = { kind: 'data', path };
      } else target = { kind: 'input', path };
    } else if (names) {
      const fn = this.resolveFn(ctx, scope, names.join('.'), w.loc, true);
      if (fn) target = { kind: 'fn', name: fn.name, ...(fn.kind === 'user' ? { node: fn.node } : {}) };
    }
    if (!target) fail('rego_compile_error', w.loc, `with keyword target must reference existing input, data, or a function`);
    let value: WithValue | undefined;
    if (target.kind === 'fn') {
      const vn = refNames(w.value);
      if (vn && !(vn.length === 1 && scope.vars.has(vn[0]!))) {
        const fn = this.resolveFn(ctx, scope, vn.join('.'), w.loc, true);
        if (fn) value = { kind: 'fn', fn };
      }
    }
    value ??= { kind: 'term', term: this.term(ctx, scope, w.value) };
    return { target, value, loc: w.loc };
  }

  // ------------------------------------------------------------------------------------------- terms

  private term(ctx: Ctx, scope: Scope, t: Term): CTerm {
    switch (t.type) {
      case 'scalar':
        return { t: 'const', v: t.value };
      case 'var':
        return this.varTerm(ctx, scope, t.name, t.loc);
      case 'ref': {
        const head = this.term(ctx, scope, t.head);
        const path = t.path.map((p) => this.term(ctx, scope, p));
        if (head.t === 'ref') return { t: 'ref', head: head.head, path: [...head.path, ...path], loc: t.loc };
        return { t: 'ref', head, path, loc: t.loc };
      }
      case 'array': {
        const items = t.items.map((x) => this.term(ctx, scope, x));
        return items.every((x) => x.t === 'const') ? { t: 'const', v: items.map((x) => (x as { v: Value }).v) } : { t: 'array', items };
      }
      case 'set': {
        const items = t.items.map((x) => this.term(ctx, scope, x));
        return items.every((x) => x.t === 'const') ? { t: 'const', v: RSet.from(items.map((x) => (x as { v: Value }).v)) } : { t: 'set', items };
      }
      case 'object': {
        const entries = t.entries.map(([k, v]) => [this.term(ctx, scope, k), this.term(ctx, scope, v)] as [CTerm, CTerm]);
        if (entries.every(([k, v]) => k.t === 'const' && v.t === 'const')) {
          const o = new RObject();
          for (const [k, v] of entries) o.set((k as { v: Value }).v, (v as { v: Value }).v);
          return { t: 'const', v: o };
        }
        return { t: 'object', entries };
      }
      case 'arraycompr':
      case 'setcompr': {
        const inner = newScope(ctx, scope);
        collectUsed(t.term, inner.used);
        for (const x of t.body) collectUsedLit(x, inner.used);
        const body = t.body.map((x) => this.literal(ctx, inner, x));
        const term = this.term(ctx, inner, t.term);
        return { t: t.type, term, body, scope: inner.id };
      }
      case 'objectcompr': {
        const inner = newScope(ctx, scope);
        collectUsed(t.key, inner.used);
        collectUsed(t.value, inner.used);
        for (const x of t.body) collectUsedLit(x, inner.used);
        const body = t.body.map((x) => this.literal(ctx, inner, x));
        return { t: 'objectcompr', key: this.term(ctx, inner, t.key), value: this.term(ctx, inner, t.value), body, scope: inner.id };
      }
      case 'template':
        return { t: 'template', parts: t.parts.map((p) => (typeof p === 'string' ? p : this.term(ctx, scope, p))), loc: t.loc };
      case 'call':
        return this.call(ctx, scope, t);
    }
  }

  private varTerm(ctx: Ctx, scope: Scope, name: string, loc: Loc): CTerm {
    if (name === '_') return { t: 'var', slot: allocSlot(ctx, scope, '_'), name: '_', loc };
    for (let s: Scope | undefined = scope; s; s = s.parent) {
      const slot = s.vars.get(name);
      if (slot !== undefined) return { t: 'var', slot, name, loc };
    }
    if (name === 'input' || name === 'data') return { t: 'root', root: name };
    if (ctx.ruleNames.has(name)) {
      return { t: 'ref', head: { t: 'root', root: 'data' }, path: [...ctx.pkg, name].map((v) => ({ t: 'const', v })), loc };
    }
    const imp = ctx.imports.get(name);
    if (imp) {
      this.usedImports.add(imp);
      // The reference starts where the name is written, as opa's resolved reference does.
      const t = this.term(ctx, scope, imp);
      return t.t === 'ref' && loc !== undefined ? { ...t, loc } : t;
    }
    // An undeclared variable belongs to the outermost enclosing scope that uses it directly.
    const chain: Scope[] = [];
    for (let s: Scope | undefined = scope; s; s = s.parent) chain.unshift(s);
    const owner = chain.find((s) => s.used.has(name)) ?? scope;
    const slot = allocSlot(ctx, owner, name);
    owner.vars.set(name, slot);
    return { t: 'var', slot, name, loc };
  }

  /** Resolves a dotted function name; `soft` returns undefined instead of failing. */
  private resolveFn(ctx: Ctx, scope: Scope, name: string, loc: Loc, soft = false): FnRef | undefined {
    const parts = name.split('.');
    const first = parts[0]!;
    let path: Value[] | undefined;
    let declared = false;
    for (let s: Scope | undefined = scope; s; s = s.parent) if (s.vars.has(first)) declared = true;
    if (!declared) {
      if (first === 'data') path = parts.slice(1);
      else if (ctx.ruleNames.has(first)) path = [...ctx.pkg, ...parts];
      else if (ctx.imports.has(first)) {
        this.usedImports.add(ctx.imports.get(first)!);
        const imp = refNames(ctx.imports.get(first)!);
        if (imp && imp[0] === 'data') path = [...imp.slice(1), ...parts.slice(1)];
      }
    }
    if (path) {
      const node = this.findNode(path);
      if (node && (node.isFunction || !soft)) return { kind: 'user', name: node.name, node };
      if (soft) return undefined;
      fail('rego_type_error', loc, `undefined function data.${path.join('.')}`);
    }
    const def = this.builtins.get(name);
    if (def) {
      const v1 = ctx.module ? ctx.module.version === 'v1' || ctx.module.regoV1 : false;
      if ((v1 || this.strict) && DEPRECATED.has(name)) fail('rego_type_error', loc, `deprecated built-in function calls in expression: ${name}`);
      return { kind: 'builtin', name, def };
    }
    if (soft) return undefined;
    fail('rego_type_error', loc, `undefined function ${name}`);
  }

  /** Annotations of other definitions of the same rule with `scope: document`. */
  private documentAnnotations(ctx: Ctx): Annotations | undefined {
    const node = ctx.rule?.node;
    if (!node) return undefined;
    for (const m of this.modules) {
      for (const r of m.rules) {
        if (r.annotations?.scope !== 'document') continue;
        const h = r.head.ref[0];
        if (h?.type !== 'var') continue;
        const path: Value[] = [...m.package, h.name, ...r.head.ref.slice(1).filter((x) => x.type === 'scalar').map((x) => (x as { value: Value }).value)];
        if (keyOf(path) === keyOf(node.path)) return r.annotations;
      }
    }
    return undefined;
  }

  private metadataChain(ctx: Ctx): Value {
    const out: Value[] = [];
    const entry = (path: Value[], a: Annotations | undefined): RObject => {
      const o = new RObject().set('path', path);
      if (a) o.set('annotations', fromJson(a));
      return o;
    };
    if (ctx.rule) {
      const own = ctx.rule.annotations?.scope === 'document' ? undefined : ctx.rule.annotations;
      const doc = this.documentAnnotations(ctx);
      if (own || !doc) out.push(entry(ctx.rule.path, own));
      if (doc) out.push(entry(ctx.rule.path, doc));
    }
    // Package annotations: this package, then parents with `scope: subpackages`.
    for (let n = ctx.pkg.length; n >= 1; n--) {
      const prefix = ctx.pkg.slice(0, n);
      for (const m of this.modules) {
        if (m.package.length !== n || m.package.some((p, i) => p !== prefix[i]) || !m.annotations) continue;
        if (n < ctx.pkg.length && m.annotations.scope !== 'subpackages') continue;
        out.push(entry(prefix, m.annotations));
        break;
      }
    }
    return out;
  }

  private metadataRule(ctx: Ctx): Value {
    const a = ctx.rule?.annotations ?? this.documentAnnotations(ctx);
    return a ? fromJson(a) : new RObject();
  }

  /** `stmt`: the call is a whole body expression (it may then take one output argument beyond the arity). */
  private call(ctx: Ctx, scope: Scope, t: Extract<Term, { type: 'call' }>, stmt = false): CTerm {
    if (t.name === 'print') {
      return { t: 'print', args: t.args.map((a) => this.term(ctx, scope, a)), loc: t.loc };
    }
    // Annotations are static: the chain of the rule a call appears in is a constant (opa:v1/topdown/annotations.go).
    if ((t.name === 'rego.metadata.chain' || t.name === 'rego.metadata.rule') && t.args.length === 0) {
      return { t: 'const', v: t.name === 'rego.metadata.chain' ? this.metadataChain(ctx) : this.metadataRule(ctx) };
    }
    const fn = this.resolveFn(ctx, scope, t.name, t.loc)!;
    const args = t.args.map((a) => this.term(ctx, scope, a));
    let arity: number;
    if (fn.kind === 'builtin') arity = fn.def.arity;
    else {
      arity = fn.node.arity;
      if (arity < 0) {
        // Not a function (every function's arity is known from the first pass). A rule that is not a function has
        // arity 0 to OPA (a rule named like a builtin shadows it within its package), and OPA checks calls before
        // safety: a call in a value position takes exactly the arity, a whole expression one output more; a call
        // whose count fits is an undefined function.
        const n = args.length;
        if (fn.node.declared && n !== 0 && (!stmt || n !== 1)) fail('rego_type_error', t.loc, `function ${fn.name} has arity 0, got ${n} argument${n === 1 ? '' : 's'}`);
        fail('rego_type_error', t.loc, `undefined function ${fn.name}`);
      }
    }
    if (arity >= 0 && args.length !== arity) {
      // Only a call that is a whole expression may add an output argument (OPA's checkUndefinedFuncs).
      if (args.length === arity + 1 && stmt) {
        return { t: 'call', fn, args: args.slice(0, arity), out: args[arity], loc: t.loc };
      }
      const n = args.length;
      if (fn.kind === 'user') fail('rego_type_error', t.loc, `function ${fn.name} has arity ${arity}, got ${n} argument${n === 1 ? '' : 's'}`);
      // The operands as OPA types them before any variable has a type (a call's value is unknown: `???`).
      const have = [...args, ...(stmt ? [] : [undefined])].map((a) => (a ? showType(termTypeUntyped(a)) : '???'));
      fail('rego_type_error', t.loc, `${fn.name}: arity mismatch\n\thave: (${have.join(', ')})\n\twant: (${signature(fn.name)?.shown.slice(0, arity).join(', ') ?? ''})`);
    }
    return { t: 'call', fn, args, out: undefined, loc: t.loc };
  }
}

/** Arguments that bind variables by iteration are evaluated first (`x == a[x]`). */
export function argOrder(args: CTerm[]): number[] | undefined {
  const it = args.map((a) => {
    const s = new Set<number>();
    iterSlots(a, s);
    return s.size > 0;
  });
  if (!it.some((x, i) => x && i > 0)) return undefined;
  return args.map((_, i) => i).sort((x, y) => Number(it[y]) - Number(it[x]) || x - y);
}

// -----------------------------------------------------------------------------------------------------------
// helpers

function typeCompileError(e: TypeError): CompileError {
  return { code: 'rego_type_error', message: e.message, file: e.loc.file, row: e.loc.row, col: e.loc.col };
}

/** OPA's order of a stage's errors: by location, then by text. */
function sortErrors(errors: CompileError[]): CompileError[] {
  const text = (e: CompileError): string => `${e.code}: ${e.message}`;
  return errors.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.row - b.row || a.col - b.col || (text(a) < text(b) ? -1 : text(a) > text(b) ? 1 : 0)));
}

/**
 * `{"a": x, …} = {"a": y, …}` with the same constant keys unifies value by value; rewriting it as an array
 * unification lets the safety analysis see each pair (OPA unifies objects key by key). The objects are kept
 * for the type check, which reports a mismatch with their types, as OPA does.
 */
function unifyExpr(a: CTerm, b: CTerm): CExpr {
  const objKeys = (t: CTerm): Map<string, CTerm> | undefined => {
    if (t.t === 'const' && t.v instanceof RObject) return new Map(t.v.entries().map(([k, v]) => [keyOf(k), { t: 'const', v } as CTerm]));
    if (t.t !== 'object' || !t.entries.every(([k]) => k.t === 'const')) return undefined;
    return new Map(t.entries.map(([k, v]) => [keyOf((k as { v: Value }).v), v]));
  };
  if (a.t === 'object' || b.t === 'object') {
    const ka = objKeys(a);
    const kb = objKeys(b);
    if (ka && kb) {
      if (ka.size !== kb.size || ![...ka.keys()].every((k) => kb.has(k))) return { k: 'term', term: { t: 'const', v: false }, objects: [a, b] };
      const keys = [...ka.keys()].sort();
      return { k: 'unify', a: { t: 'array', items: keys.map((k) => ka.get(k)!) }, b: { t: 'array', items: keys.map((k) => kb.get(k)!) }, objects: [a, b] };
    }
  }
  return { k: 'unify', a, b };
}

const LINES = new WeakMap<Module, string[]>();

function linesOf(m: Module): string[] {
  let l = LINES.get(m);
  if (!l) LINES.set(m, (l = m.source.split('\n')));
  return l;
}

/**
 * Calls `f` on each term directly inside `t` (ref head and path, items, entries, call arguments and output,
 * print arguments, template parts). Comprehensions are left to the caller: their bodies are scopes of their own.
 */
function termChildren(t: CTerm, f: (t: CTerm) => void): void {
  switch (t.t) {
    case 'ref':
      if (t.head.t !== 'root') f(t.head);
      t.path.forEach(f);
      break;
    case 'array':
    case 'set':
      t.items.forEach(f);
      break;
    case 'object':
      t.entries.forEach(([k, v]) => {
        f(k);
        f(v);
      });
      break;
    case 'call':
      t.args.forEach(f);
      if (t.out) f(t.out);
      break;
    case 'print':
      t.args.forEach(f);
      break;
    case 'template':
      t.parts.forEach((p) => typeof p !== 'string' && f(p));
      break;
    default:
      break;
  }
}

/** Calls `f` on a term and every term inside it (refs' heads and paths, calls, composites, comprehensions). */
function forEachTerm(t: CTerm, f: (t: CTerm) => void): void {
  f(t);
  switch (t.t) {
    case 'arraycompr':
    case 'setcompr':
      forEachTerm(t.term, f);
      forEachTermIn(t.body, f);
      break;
    case 'objectcompr':
      forEachTerm(t.key, f);
      forEachTerm(t.value, f);
      forEachTermIn(t.body, f);
      break;
    default:
      termChildren(t, (x) => forEachTerm(x, f));
  }
}

function forEachTermIn(lits: CLit[], f: (t: CTerm) => void): void {
  for (const l of lits) {
    const e = l.expr;
    switch (e.k) {
      case 'term':
        forEachTerm(e.term, f);
        break;
      case 'unify':
        forEachTerm(e.a, f);
        forEachTerm(e.b, f);
        break;
      case 'somein':
        if (e.key) forEachTerm(e.key, f);
        forEachTerm(e.value, f);
        forEachTerm(e.coll, f);
        break;
      case 'every':
        if (e.key) forEachTerm(e.key, f);
        forEachTerm(e.value, f);
        forEachTerm(e.domain, f);
        forEachTermIn(e.body, f);
        break;
      case 'logic':
        forEachTermIn(e.a, f);
        forEachTermIn(e.b, f);
        break;
      default:
        break;
    }
    if (l.notBody) forEachTermIn(l.notBody, f);
    for (const w of l.withs) if (w.value.kind === 'term') forEachTerm(w.value.term, f);
  }
}

/** Strict mode: `:=` variables never read, and function arguments never used (opa:v1/ast/compile.go). */
function checkUnused(ctx: Ctx, parts: unknown, params: CTerm[] | undefined, r: Rule): void {
  const count = new Map<number, number>();
  const walk = (x: unknown): void => {
    if (x === null || typeof x !== 'object' || x instanceof RuleNode || x instanceof RObject || x instanceof RSet) return;
    if (Array.isArray(x)) return x.forEach(walk);
    const o = x as Record<string, unknown>;
    if (o['t'] === 'var' && typeof o['slot'] === 'number') count.set(o['slot'], (count.get(o['slot']) ?? 0) + 1);
    for (const [k, v] of Object.entries(o)) if (k !== 'fn' && k !== 'loc' && typeof v === 'object') walk(v);
  };
  walk(parts);
  for (const [slot, loc] of ctx.assigned) {
    if ((count.get(slot) ?? 0) <= 1) fail('rego_compile_error', loc, `assigned var ${ctx.slotNames[slot]} unused`);
  }
  if (params && r.head.args) {
    for (const p of params) {
      if (p.t !== 'var' || p.name === '_') continue;
      if ((count.get(p.slot) ?? 0) === 0) fail('rego_compile_error', p.loc ?? r.loc, `unused argument ${p.name}. (hint: use _ (wildcard variable) instead)`);
    }
  }
}

/** A rule's name as written: `p`, `a.b.c`. */
function headName(r: Rule): string {
  const [h, ...rest] = r.head.ref;
  let s = h?.type === 'var' ? h.name : '?';
  for (const t of rest) s += t.type === 'scalar' && typeof t.value === 'string' ? '.' + t.value : '[…]';
  return s;
}

function newScope(ctx: Ctx, parent: Scope | undefined): Scope {
  const id = ctx.scopeIds++;
  ctx.scopeParent[id] = parent?.id;
  return { id, parent, vars: new Map(), used: new Set() };
}

function allocSlot(ctx: Ctx, scope: Scope, name: string): number {
  ctx.slotOwner.push(scope.id);
  ctx.slotNames.push(name);
  return ctx.nslots++;
}

function refName(path: Value[]): string {
  return 'data' + path.map((p) => (typeof p === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(p) ? '.' + p : '[' + toRegoString(p) + ']')).join('');
}

/** `a.b.c` as names when the term is a plain dotted ref or a var. */
function refNames(t: Term): string[] | undefined {
  if (t.type === 'var') return [t.name];
  if (t.type !== 'ref' || t.head.type !== 'var') return undefined;
  const out = [t.head.name];
  for (const p of t.path) {
    if (p.type !== 'scalar' || typeof p.value !== 'string') return undefined;
    out.push(p.value);
  }
  return out;
}

function isGroundAst(t: Term, comprehensions = false): boolean {
  switch (t.type) {
    case 'scalar':
      return true;
    case 'array':
    case 'set':
      return t.items.every((x) => isGroundAst(x, comprehensions));
    case 'object':
      return t.entries.every(([k, v]) => isGroundAst(k, comprehensions) && isGroundAst(v, comprehensions));
    case 'arraycompr':
    case 'setcompr':
    case 'objectcompr':
      return comprehensions;
    default:
      return false;
  }
}

/** Variable names in a pattern (not descending into comprehensions). */
/** The first term kind inside `t` that needs evaluation (a reference, call or comprehension), if any. */
function computedIn(t: Term): string | undefined {
  switch (t.type) {
    case 'ref':
      return 'reference';
    case 'call':
      return 'call';
    case 'array':
    case 'set':
      for (const x of t.items) {
        const c = computedIn(x);
        if (c) return c;
      }
      return undefined;
    case 'object':
      for (const [k, v] of t.entries) {
        const c = computedIn(k) ?? computedIn(v);
        if (c) return c;
      }
      return undefined;
    case 'var':
    case 'scalar':
      return undefined;
    default:
      return 'comprehension';
  }
}

function varsIn(t: Term): string[] {
  const out: string[] = [];
  const walk = (x: Term): void => {
    switch (x.type) {
      case 'var':
        out.push(x.name);
        break;
      case 'array':
      case 'set':
        x.items.forEach(walk);
        break;
      case 'object':
        x.entries.forEach(([k, v]) => {
          walk(k);
          walk(v);
        });
        break;
      case 'ref':
        walk(x.head);
        x.path.forEach(walk);
        break;
      case 'call':
        x.args.forEach(walk);
        break;
      default:
        break;
    }
  };
  walk(t);
  return out;
}

function collectUsed(t: Term, used: Set<string>): void {
  switch (t.type) {
    case 'var':
      used.add(t.name);
      break;
    case 'ref':
      collectUsed(t.head, used);
      t.path.forEach((p) => collectUsed(p, used));
      break;
    case 'array':
    case 'set':
      t.items.forEach((p) => collectUsed(p, used));
      break;
    case 'object':
      t.entries.forEach(([k, v]) => {
        collectUsed(k, used);
        collectUsed(v, used);
      });
      break;
    case 'call':
      t.args.forEach((p) => collectUsed(p, used));
      break;
    case 'template':
      t.parts.forEach((p) => typeof p !== 'string' && collectUsed(p, used));
      break;
    default:
      break;
  }
}

function declaredNames(l: Literal): string[] {
  const e = l.expr;
  if (e.kind === 'assign') return varsIn(e.a);
  if (e.kind === 'some') return e.vars.map((v) => v.name);
  if (e.kind === 'somein') return [...(e.key ? varsIn(e.key) : []), ...varsIn(e.value)];
  return [];
}

function collectUsedLit(l: Literal, used: Set<string>): void {
  const e = l.expr;
  switch (e.kind) {
    case 'term':
      collectUsed(e.term, used);
      break;
    case 'unify':
      collectUsed(e.a, used);
      collectUsed(e.b, used);
      break;
    case 'assign':
      // `:=` declares; its left side does not make a name an outer variable.
      collectUsed(e.b, used);
      break;
    case 'somein':
      collectUsed(e.coll, used);
      break;
    case 'every':
      collectUsed(e.domain, used);
      break;
    default:
      break;
  }
  for (const w of l.with) collectUsed(w.value, used);
}

// -----------------------------------------------------------------------------------------------------------
// Safety analysis and reordering

/** Slots a term needs bound to be evaluated as a value (ref-path variables excluded: they iterate). */
function needs(t: CTerm, out: Set<number>): void {
  switch (t.t) {
    case 'var':
      out.add(t.slot);
      break;
    case 'ref':
      needs(t.head, out);
      for (const p of t.path) if (p.t !== 'var') needs(p, out);
      break;
    case 'array':
    case 'set':
      t.items.forEach((x) => needs(x, out));
      break;
    case 'object':
      t.entries.forEach(([k, v]) => {
        needs(k, out);
        needs(v, out);
      });
      break;
    case 'call':
      t.args.forEach((x) => needs(x, out));
      break;
    case 'print':
      break;
    case 'template':
      t.parts.forEach((p) => typeof p !== 'string' && needs(p, out));
      break;
    case 'arraycompr':
    case 'setcompr':
    case 'objectcompr':
      freeSlots(t, out);
      break;
    default:
      break;
  }
}

/** Slots a term binds when evaluated (ref-path variables, nested). */
function iterSlots(t: CTerm, out: Set<number>): void {
  switch (t.t) {
    case 'ref':
      iterSlots(t.head, out);
      for (const p of t.path) {
        if (p.t === 'var') out.add(p.slot);
        else iterSlots(p, out);
      }
      break;
    case 'array':
    case 'set':
      t.items.forEach((x) => iterSlots(x, out));
      break;
    case 'object':
      t.entries.forEach(([k, v]) => {
        iterSlots(k, out);
        iterSlots(v, out);
      });
      break;
    case 'call':
      t.args.forEach((x) => iterSlots(x, out));
      if (t.out) patternSlots(t.out, out);
      break;
    default:
      break;
  }
}

/** Slots in pattern position (vars, inside array/object literals). */
function patternSlots(t: CTerm, out: Set<number>): void {
  switch (t.t) {
    case 'var':
      out.add(t.slot);
      break;
    case 'array':
      t.items.forEach((x) => patternSlots(x, out));
      break;
    case 'object':
      t.entries.forEach(([, v]) => patternSlots(v, out));
      break;
    default:
      iterSlots(t, out);
      break;
  }
}

function termSlots(t: CTerm): Set<number> {
  const s = new Set<number>();
  patternSlots(t, s);
  needs(t, s);
  return s;
}

/** Every slot a term mentions, including inside comprehensions. */
function allSlots(t: CTerm, out: Set<number>): void {
  forEachTerm(t, (x) => x.t === 'var' && out.add(x.slot));
}

function litAllSlots(l: CLit, out: Set<number>): void {
  forEachTermIn([l], (x) => x.t === 'var' && out.add(x.slot));
}

let currentCtx: Ctx | undefined;

/** The slot was declared by `scope` or a scope nested in it. */
function ownedWithin(slot: number, scope: number): boolean {
  const ctx = currentCtx!;
  for (let s: number | undefined = ctx.slotOwner[slot]; s !== undefined; s = ctx.scopeParent[s]) if (s === scope) return true;
  return false;
}

function freeSlots(t: Extract<CTerm, { t: 'arraycompr' | 'setcompr' | 'objectcompr' }>, out: Set<number>): void {
  const all = new Set<number>();
  allSlots(t, all);
  for (const s of all) if (!ownedWithin(s, t.scope)) out.add(s);
}

function freeOfBody(lits: CLit[], scope: number, out: Set<number>): void {
  const all = new Set<number>();
  lits.forEach((x) => litAllSlots(x, all));
  for (const s of all) if (!ownedWithin(s, scope)) out.add(s);
}

function litNeeds(l: CLit, bound: Set<number>): Set<number> {
  const need = new Set<number>();
  const e = l.expr;
  if (l.notBody) {
    freeOfBody(l.notBody, l.notScope, need);
    return need;
  }
  if (l.negated) {
    // Everything a negated expression mentions must be bound, except its wildcards and nested locals.
    const inner = new Set<number>();
    switch (e.k) {
      case 'term':
        needs(e.term, inner);
        iterSlots(e.term, inner);
        break;
      case 'unify':
        needs(e.a, inner);
        needs(e.b, inner);
        patternSlots(e.a, inner);
        patternSlots(e.b, inner);
        break;
      case 'logic':
        freeOfBody(e.a, e.scopeA, inner);
        freeOfBody(e.b, e.scopeB, inner);
        break;
      default:
        break;
    }
    for (const s of inner) if (currentCtx!.slotNames[s] !== '_') need.add(s);
    for (const w of l.withs) if (w.value.kind === 'term') needs(w.value.term, need);
    return need;
  }
  switch (e.k) {
    case 'term':
      if (e.term.t === 'call' && e.term.out) {
        e.term.args.forEach((x) => needs(x, need));
        const o = new Set<number>();
        patternSlots(e.term.out, o);
        const n2 = new Set<number>();
        needs(e.term.out, n2);
        for (const s of n2) if (!o.has(s)) need.add(s);
      } else {
        needs(e.term, need);
        const it = new Set<number>();
        iterSlots(e.term, it);
        for (const s of it) need.delete(s);
      }
      break;
    case 'unify':
      unifyNeeds(e.a, e.b, bound, need);
      break;
    case 'somein':
      needs(e.coll, need);
      break;
    case 'every':
      needs(e.domain, need);
      freeOfBody(e.body, e.scope, need);
      break;
    case 'logic':
      freeOfBody(e.a, e.scopeA, need);
      freeOfBody(e.b, e.scopeB, need);
      break;
    default:
      break;
  }
  for (const w of l.withs) if (w.value.kind === 'term') needs(w.value.term, need);
  return need;
}

/** What a unification needs: the side(s) that must be evaluated as values. */
function unifyNeeds(a: CTerm, b: CTerm, bound: Set<number>, need: Set<number>): void {
  if (a.t === 'array' && b.t === 'array' && a.items.length === b.items.length) {
    // Pairs are taken in any order that works, as OPA's unifier does (`[x, y] = [y, 1]` binds y, then x):
    // each round takes the pairs whose needs are met; what no round could take needs its variables from outside.
    const bb = new Set(bound);
    let pending = a.items.map((_, i) => i);
    for (let progress = true; progress && pending.length > 0; ) {
      progress = false;
      pending = pending.filter((i) => {
        const n = new Set<number>();
        unifyNeeds(a.items[i]!, b.items[i]!, bb, n);
        if (![...n].every((s) => bb.has(s))) return true;
        // Variables bound by another pair of this same unification are not needed from outside.
        for (const s of n) if (bound.has(s)) need.add(s);
        for (const s of unifyBinds(a.items[i]!, b.items[i]!)) bb.add(s);
        progress = true;
        return false;
      });
    }
    for (const i of pending) {
      const n = new Set<number>();
      unifyNeeds(a.items[i]!, b.items[i]!, bb, n);
      for (const s of n) if (bound.has(s) || !bb.has(s)) need.add(s);
    }
    return;
  }
  const na = new Set<number>();
  needs(a, na);
  const nb = new Set<number>();
  needs(b, nb);
  const pa = new Set<number>();
  patternSlots(a, pa);
  const pb = new Set<number>();
  patternSlots(b, pb);
  // Evaluate b, bind a's pattern: needs b's inputs and a's non-pattern inputs.
  const optB = new Set<number>([...nb]);
  for (const s of na) if (!pa.has(s)) optB.add(s);
  const optA = new Set<number>([...na]);
  for (const s of nb) if (!pb.has(s)) optA.add(s);
  const okB = [...optB].every((s) => bound.has(s));
  const okA = [...optA].every((s) => bound.has(s));
  const pick = okB ? optB : okA ? optA : optB;
  for (const s of pick) need.add(s);
}

function unifyBinds(a: CTerm, b: CTerm): Set<number> {
  const s = new Set<number>();
  patternSlots(a, s);
  patternSlots(b, s);
  return s;
}

function litBinds(l: CLit): Set<number> {
  const out = new Set<number>();
  if (l.negated || l.notBody) return out;
  const e = l.expr;
  switch (e.k) {
    case 'term':
      iterSlots(e.term, out);
      break;
    case 'unify':
      for (const s of unifyBinds(e.a, e.b)) out.add(s);
      iterSlots(e.a, out);
      iterSlots(e.b, out);
      break;
    case 'somein':
      if (e.key) patternSlots(e.key, out);
      patternSlots(e.value, out);
      iterSlots(e.coll, out);
      break;
    default:
      break;
  }
  return out;
}

/** Orders a body so each literal runs once its inputs are bound; reorders nested bodies likewise. */
function reorder(ctx: Ctx, lits: CLit[], bound0: Set<number>): CLit[] {
  currentCtx = ctx;
  const bound = new Set(bound0);
  const remaining = [...lits];
  const out: CLit[] = [];
  while (remaining.length > 0) {
    let idx = -1;
    for (let i = 0; i < remaining.length; i++) {
      const need = litNeeds(remaining[i]!, bound);
      let ok = true;
      for (const s of need) {
        if (!bound.has(s)) {
          ok = false;
          break;
        }
      }
      if (ok) {
        idx = i;
        break;
      }
    }
    if (idx < 0) {
      const l = remaining[0]!;
      const need = litNeeds(l, bound);
      const unsafe = [...need].filter((s) => !bound.has(s)).map((s) => ctx.slotNames[s]!);
      const name = unsafe.find((n) => n !== '_') ?? unsafe[0] ?? '?';
      fail('rego_unsafe_var_error', l.loc, `var ${name} is unsafe${ctx.ruleSuffix}`);
    }
    const l = remaining.splice(idx, 1)[0]!;
    reorderNested(ctx, l, bound);
    checkPrintArgs(ctx, l, bound);
    for (const s of litBinds(l)) bound.add(s);
    out.push(l);
  }
  currentCtx = ctx;
  return out;
}

function reorderNested(ctx: Ctx, l: CLit, bound: Set<number>): void {
  const e = l.expr;
  const sub = (lits: CLit[], extra: Set<number> = new Set()): CLit[] => {
    const b = new Set([...bound, ...extra]);
    const r = reorder(ctx, lits, b);
    currentCtx = ctx;
    return r;
  };
  const walk = (t: CTerm): void => {
    switch (t.t) {
      case 'arraycompr':
      case 'setcompr': {
        const body = sub(t.body);
        t.body.splice(0, t.body.length, ...body);
        const b = new Set(bound);
        for (const x of body) for (const s of litBinds(x)) b.add(s);
        checkHeadSafe(ctx, [t.term], b, body[0]?.loc ?? { file: '', row: 0, col: 0 });
        break;
      }
      case 'objectcompr': {
        const body = sub(t.body);
        t.body.splice(0, t.body.length, ...body);
        const b = new Set(bound);
        for (const x of body) for (const s of litBinds(x)) b.add(s);
        checkHeadSafe(ctx, [t.key, t.value], b, body[0]?.loc ?? { file: '', row: 0, col: 0 });
        break;
      }
      default:
        termChildren(t, walk);
    }
  };
  switch (e.k) {
    case 'term':
      walk(e.term);
      break;
    case 'unify':
      walk(e.a);
      walk(e.b);
      break;
    case 'somein':
      walk(e.coll);
      break;
    case 'every': {
      walk(e.domain);
      const pv = new Set<number>();
      if (e.key) patternSlots(e.key, pv);
      patternSlots(e.value, pv);
      const body = sub(e.body, pv);
      e.body.splice(0, e.body.length, ...body);
      break;
    }
    case 'logic': {
      const a = sub(e.a);
      e.a.splice(0, e.a.length, ...a);
      const b = sub(e.b);
      e.b.splice(0, e.b.length, ...b);
      break;
    }
    default:
      break;
  }
  if (l.notBody) {
    const nb = sub(l.notBody);
    l.notBody.splice(0, l.notBody.length, ...nb);
  }
  for (const w of l.withs) if (w.value.kind === 'term') walk(w.value.term);
}

function checkHeadSafe(ctx: Ctx, terms: CTerm[], bound: Set<number>, loc: Loc): void {
  for (const t of terms) {
    const s = new Set<number>();
    needs(t, s);
    for (const slot of s) {
      if (!bound.has(slot)) fail('rego_unsafe_var_error', varLoc(t, slot) ?? loc, `var ${ctx.slotNames[slot]} is unsafe${ctx.ruleSuffix}`);
    }
  }
}

/** Where a slot's variable first occurs in a term (OPA reports head vars at their own position). */
function varLoc(t: CTerm, slot: number): Loc | undefined {
  let found: Loc | undefined;
  const walk = (x: unknown): void => {
    if (found || x === null || typeof x !== 'object') return;
    const o = x as Record<string, unknown>;
    if (o['t'] === 'var' && o['slot'] === slot) {
      found = o['loc'] as Loc | undefined;
      return;
    }
    // `fn` of a call leads into the rule tree (a user function's node and its bodies), which is cyclic.
    for (const [key, v] of Object.entries(o)) if (key !== 'fn' && typeof v === 'object') walk(v);
  };
  walk(t);
  return found;
}

/** `print` operands must be bound where the print runs ("var x is undeclared", opa issue #5624). */
function checkPrintArgs(ctx: Ctx, l: CLit, bound: Set<number>): void {
  const errors: CompileError[] = [];
  const walk = (t: CTerm): void => {
    switch (t.t) {
      case 'print':
        for (const a of t.args) {
          if (a.t === 'arraycompr' || a.t === 'setcompr' || a.t === 'objectcompr') continue;
          const s = new Set<number>();
          needs(a, s);
          for (const slot of s) {
            if (bound.has(slot) || ctx.slotNames[slot] === '_') continue;
            const loc = varLoc(a, slot) ?? l.loc;
            if (!errors.some((e) => e.row === loc.row && e.col === loc.col)) {
              errors.push({ code: 'rego_compile_error', message: `var ${ctx.slotNames[slot]} is undeclared`, file: loc.file, row: loc.row, col: loc.col });
            }
          }
        }
        break;
      case 'arraycompr':
      case 'setcompr':
      case 'objectcompr':
        break;
      default:
        termChildren(t, walk);
    }
  };
  if (l.expr.k === 'term') walk(l.expr.term);
  if (errors.length > 0) throw new Fail(errors[0]!, errors);
}

export type { CExpr };

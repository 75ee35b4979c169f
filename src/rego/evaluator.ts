/**
 * Top-down Rego evaluator (specs/rego.md §2.9): backtracking search in continuation-passing style over
 * compiled bodies. A continuation returns `true` to stop the search (used by `not`, existence checks and
 * early exit); variables live in per-rule frames and are unbound again when a continuation returns.
 *
 * Rule values are computed lazily, once per query and `with` context, with OPA's conflict errors; `with`
 * builds a new context (input, data overrides, function mocks, fresh caches) for the literal it modifies.
 */
import { CocoError } from '../errors.js';
import type { Loc } from './ast.js';
import { BuiltinError, BuiltinPanic, type BuiltinContext, type BuiltinDef } from './builtins/registry.js';
import type { CExpr, CLit, CQuery, CRule, CTerm, CWith, FnRef } from './compiled.js';
import { RuleNode } from './compiled.js';
import { argOrder } from './compiler.js';
import type { Profiler } from './profile.js';
import { type Guard, type GroupIndex, failedGuard, groupCandidates, groupIndexOf, guardsOf } from './rule-index.js';
import { slotNamesOf } from './explain.js';
import { type Locals, refKey } from './opa-locals.js';
import { originOf, ruleBody, tracedBody, tracedRuleBody } from './trace-rewrite.js';
import { type TraceEvent, type TraceNode, type TraceOp, capturesValue, exprText, iterates, litText, opaTermText } from './trace.js';
import { type Value, RObject, RSet, equal, keyOf, toRegoString } from './value.js';

type K = () => boolean;
type KV = (v: Value) => boolean;

/** A group index and the rules it admits for the current input. */
type Admission = { ix: GroupIndex; hits: ReadonlySet<CRule> } | undefined;

type FnOverride = { kind: 'value'; value: Value } | { kind: 'fn'; fn: FnRef };

const PENDING = Symbol('pending');

const orderCache = new WeakMap<object, number[] | null>();

const pathCache = new WeakMap<Value[], CTerm[]>();

/** A rule path as constant ref segments (cached per path array: prepared policies reuse theirs). */
function constPath(path: Value[]): CTerm[] {
  let p = pathCache.get(path);
  if (!p) pathCache.set(path, (p = path.map((v) => ({ t: 'const', v }) as CTerm)));
  return p;
}

interface EvalCtx {
  input: Value | undefined;
  base: Value;
  forced: Map<RuleNode, Value> | undefined;
  deep: Map<RuleNode, Array<[Value[], Value]>> | undefined;
  fns: Map<string, FnOverride> | undefined;
  cache: Map<RuleNode, Value | undefined | typeof PENDING>;
  docCache: Map<RuleNode, Value | undefined>;
  fnCache: Map<string, Value | undefined>;
}

export interface EvalOptions {
  input: Value | undefined;
  data: Value;
  strict: boolean;
  /** Collected `print` output (`file:row: text`); undefined disables printing. */
  prints: string[] | undefined;
  now: () => bigint;
  random: () => number;
  env: Readonly<Record<string, string>>;
  /** Bounds rule/function nesting (OPA reports recursion at compile time; this is the runtime guard). */
  maxDepth?: number;
  /** Bounds the work of one evaluation (number of literal evaluations); exceeded → REGO_LIMIT. */
  maxSteps?: number;
  trace?: Tracer;
  /** `--explain`: receives OPA's trace events (trace.ts). */
  events?: TraceEvent[];
  /** While tracing: the names of the variables OPA's compiler generates in the modules (trace-rewrite.ts). */
  names?: Locals;
  /** Per-expression statistics for `--profile`. */
  profiler?: Profiler;
  /** Awaited results of asynchronous builtins; when given, a pending call throws `Suspend` out of evaluation. */
  resolved?: Map<string, Value | undefined>;
  /** Skip rule bodies whose `input.<path> == <constant>` literals cannot hold (rule-index.ts); default on. */
  ruleIndex?: boolean;
}

/** Records, per rule body, how far evaluation got: for `--explain`. */
export interface Tracer {
  enterBody(rule: CRule | undefined, branch: number, lits: CLit[]): void;
  reached(lits: CLit[], index: number, frame: Array<Value | undefined>): void;
  exitBody(lits: CLit[], succeeded: boolean): void;
}

/**
 * Thrown by an asynchronous host builtin whose result is not known yet: the async entry points await `run()`,
 * record the result under `key` and evaluate again (evaluation has no side effects, so a restart is safe).
 */
export class Suspend {
  constructor(
    readonly key: string,
    readonly run: () => Promise<Value | undefined>,
  ) {}
}

export function evalError(opaCode: string, loc: Loc | undefined, message: string): CocoError {
  const code =
    opaCode === 'eval_conflict_error'
      ? 'REGO_EVAL_CONFLICT'
      : opaCode === 'eval_builtin_error'
        ? 'REGO_BUILTIN'
        : opaCode === 'eval_type_error'
          ? 'REGO_EVAL_TYPE'
          : opaCode === 'eval_with_merge_error'
            ? 'REGO_EVAL_WITH_MERGE'
            : opaCode === 'rego_recursion_error'
              ? 'REGO_COMPILE'
              : 'REGO_EVAL';
  const where = loc ? `${loc.file}:${loc.row}: ` : '';
  return new CocoError(code, `${where}${opaCode}: ${message}`, {
    kind: code === 'REGO_EVAL' ? 'internal' : 'input',
    detail: { opaCode, message, ...(loc ? { file: loc.file, row: loc.row, col: loc.col } : {}) },
  });
}

export class Evaluator {
  private ctx: EvalCtx;
  private readonly bctx: BuiltinContext;
  private readonly ndCache = new Map<string, Value | undefined>();
  private depth = 0;
  private steps = 0;
  private readonly maxDepth: number;
  private readonly maxSteps: number;
  private readonly indexing: boolean;
  /** Rule bodies the rule index ruled out without evaluating them. */
  bodiesSkipped = 0;

  constructor(
    private readonly root: RuleNode,
    private readonly opts: EvalOptions,
  ) {
    this.ctx = {
      input: opts.input,
      base: opts.data,
      forced: undefined,
      deep: undefined,
      fns: undefined,
      cache: new Map(),
      docCache: new Map(),
      fnCache: new Map(),
    };
    const cache = new Map<string, unknown>();
    let nowCached: bigint | undefined;
    this.bctx = {
      strict: opts.strict,
      now: () => (nowCached ??= opts.now()),
      random: opts.random,
      cache,
      env: opts.env,
      resolved: opts.resolved,
    };
    this.maxDepth = opts.maxDepth ?? 2000;
    this.tracer = opts.trace;
    this.events = opts.events;
    this.profiler = opts.profiler;
    this.maxSteps = opts.maxSteps ?? 50_000_000;
    this.indexing = opts.ruleIndex ?? true;
  }

  // ------------------------------------------------------------------------------------------ entry points

  /** All result rows of a compiled query: variable name → value. */
  query(q: CQuery): Array<Map<string, Value>> {
    const frame: Array<Value | undefined> = new Array(q.nslots);
    const rows: Array<Map<string, Value>> = [];
    this.guard(() =>
      this.queryBody(q.body, q.names, frame, () => {
        const row = new Map<string, Value>();
        for (const [name, slot] of q.vars) {
          const v = frame[slot];
          if (v !== undefined) row.set(name, v);
        }
        rows.push(row);
        return false;
      }),
    );
    return rows;
  }

  /** Result rows with the value of each top-level term expression (for OPA-shaped query output). */
  queryWithExpressions(q: CQuery): Array<{ bindings: Map<string, Value>; values: Array<Value | undefined> }> {
    const frame: Array<Value | undefined> = new Array(q.nslots);
    const values: Array<Value | undefined> = new Array(q.body.length);
    const index = new Map<CLit, number>();
    q.body.forEach((l, i) => index.set(l, i));
    const indexOf = (l: CLit): number | undefined => index.get(l) ?? index.get(originOf(l));
    this.exprHook = (l, v) => {
      values[indexOf(l)!] = v;
    };
    this.topLevel = (l) => indexOf(l) !== undefined;
    // As opa eval's rewriteQueryToCaptureValue: a query of several expressions, or one that iterates, keeps only
    // the rows where no captured value is false (its checks, appended at the end); a lone expression's value is
    // the result whatever it is (`1 == 2` is `false`, not undefined).
    // Only captured expressions record a value, so an expression passes unless it captured `false`.
    const passes = (l: CLit): boolean => values[indexOf(l) ?? -1] !== false;
    const checked = q.body.length > 1 || iterates(q.body);
    this.captureCheck = checked ? passes : undefined;
    const rows: Array<{ bindings: Map<string, Value>; values: Array<Value | undefined> }> = [];
    try {
      this.guard(() =>
        this.queryBody(q.body, q.names, frame, () => {
          if (checked && !q.body.every(passes)) return false;
          const row = new Map<string, Value>();
          for (const [name, slot] of q.vars) {
            const v = frame[slot];
            if (v !== undefined) row.set(name, v);
          }
          rows.push({ bindings: row, values: values.slice() });
          return false;
        }),
      );
    } finally {
      this.exprHook = undefined;
      this.topLevel = undefined;
      this.captureCheck = undefined;
    }
    return rows;
  }

  private exprHook: ((l: CLit, v: Value) => void) | undefined;
  /** While a query's expression values are recorded: whether a literal is one of the query's own (not a rule's). */
  private topLevel: ((l: CLit) => boolean) | undefined;
  /** While a query's captured values are checked (see queryWithExpressions): whether a capture passes its check. */
  private captureCheck: ((l: CLit) => boolean) | undefined;
  private tracer: Tracer | undefined;
  private readonly events: TraceEvent[] | undefined;
  /** While tracing: the current query's id and its parent's, the last id given, the expression evaluated. */
  private qid = 0;
  private pqid = 0;
  private qids = 0;
  private cur: TraceNode | undefined;
  private topBody: CLit[] | undefined;
  private queryNames: Locals | undefined;
  private readonly profiler: Profiler | undefined;

  /** The first value of a term in a frame, or undefined (errors included); no tracing. For explanations. */
  peek(t: CTerm, frame: Array<Value | undefined>): Value | undefined {
    const tr = this.tracer;
    this.tracer = undefined;
    let v: Value | undefined;
    try {
      this.term(t, frame.slice(), (x) => ((v = x), true));
    } catch {
      v = undefined;
    } finally {
      this.tracer = tr;
    }
    return v;
  }

  /** The value of the document at `path` under `data` (undefined when undefined). */
  document(path: Value[]): Value | undefined {
    let result: Value | undefined;
    this.guard(() =>
      this.dataPath(
        this.root,
        this.ctx.base,
        constPath(path),
        0,
        [],
        (v) => {
          result = v;
          return true;
        },
      ),
    );
    return result;
  }

  private guard(f: () => boolean): void {
    try {
      f();
    } catch (e) {
      if (e instanceof CocoError) throw e;
      if (e instanceof Suspend) {
        if (this.opts.resolved) throw e;
        throw new CocoError('REGO_ASYNC_BUILTIN', `an asynchronous builtin was called (${e.key.split('\u0000')[0]}); use the async evaluation API`, { kind: 'usage' });
      }
      if (e instanceof RangeError && /call stack/i.test(e.message)) {
        throw new CocoError('REGO_LIMIT', 'evaluation exceeded the maximum nesting depth', { kind: 'limit' });
      }
      throw new CocoError('REGO_EVAL', `eval_internal_error: ${(e as Error).message}`, { kind: 'internal', cause: e });
    }
  }

  // ------------------------------------------------------------------------------------------ bodies

  private body(lits: CLit[], i: number, f: Array<Value | undefined>, k: K): boolean {
    if (this.events) return this.tbody(lits, i, f, k);
    if (i === lits.length) return k();
    const tr = this.tracer;
    if (tr) tr.reached(lits, i, f);
    if (++this.steps > this.maxSteps) throw new CocoError('REGO_LIMIT', `evaluation exceeded ${this.maxSteps} steps`, { kind: 'limit' });
    const pr = this.profiler;
    if (pr) {
      const l = lits[i]!;
      return pr.literal(l, () => this.literal(l, f, () => pr.redo(l, () => this.body(lits, i + 1, f, k))));
    }
    return this.literal(lits[i]!, f, () => this.body(lits, i + 1, f, k));
  }

  private literal(l: CLit, f: Array<Value | undefined>, k: K): boolean {
    if (l.withs.length > 0) return this.withLiteral(l, 0, f, k);
    return this.literalInner(l, f, k);
  }

  private literalInner(l: CLit, f: Array<Value | undefined>, k: K): boolean {
    if (this.exprHook && (capturesValue(l) || capturesCall(l)) && this.topLevel!(l)) {
      const hook = this.exprHook;
      // opa eval's query rewriting captures a top-level expression's value (`__localq0__ = data.x`,
      // `equal(x, 1, __localq1__)`): a rule that is `false` or a comparison that does not hold shows as `false`
      // rather than as an undefined query; the query's checks (queryWithExpressions) decide what a false keeps.
      const term = (l.expr as { k: 'term'; term: CTerm }).term;
      return this.term(term, f, (v) => {
        hook(l, v);
        return k();
      });
    }
    if (l.notBody) {
      const found = this.sub(l.notBody, f, () => true);
      return found ? false : k();
    }
    if (l.negated) {
      const found = this.events ? this.negatedExpr(l, f) : this.expr(l.expr, f, () => true);
      return found ? false : k();
    }
    return this.expr(l.expr, f, k);
  }

  private expr(e: CExpr, f: Array<Value | undefined>, k: K): boolean {
    switch (e.k) {
      case 'term': {
        const t = e.term;
        if (t.t === 'call' && t.out) {
          const out = t.out;
          return this.call(t, f, (v) => this.bind(out, v, f, k));
        }
        return this.term(t, f, (v) => (v === false ? false : k()));
      }
      case 'unify':
        return this.unify(e.a, e.b, f, k);
      case 'somein':
        return this.term(e.coll, f, (c) => this.iterate(c, (key, val) => this.bind(e.value, val, f, () => (e.key ? this.bind(e.key, key, f, k) : k()))));
      case 'every':
        if (this.events) return this.tevery(e, f, k);
        return this.term(e.domain, f, (d) => {
          if (!(Array.isArray(d) || d instanceof RObject || d instanceof RSet)) return false;
          let all = true;
          this.iterate(d, (key, val) => {
            const ok = this.bind(e.value, val, f, () => (e.key ? this.bind(e.key, key, f, () => this.sub(e.body, f, () => true)) : this.sub(e.body, f, () => true)));
            if (!ok) {
              all = false;
              return true;
            }
            return false;
          });
          return all ? k() : false;
        });
      case 'logic': {
        const a = this.sub(e.a, f, () => true, true);
        if (e.op === 'and') {
          if (!a) return false;
          if (e.b.length > 0 && !this.sub(e.b, f, () => true, true)) return false;
          return k();
        }
        if (a || this.sub(e.b, f, () => true, true)) return k();
        return false;
      }
      case 'true':
        return k();
    }
  }

  // ------------------------------------------------------------------------------------------ with

  private withLiteral(l: CLit, i: number, f: Array<Value | undefined>, k: K, vals: Array<Value | FnRef> = []): boolean {
    if (i < l.withs.length) {
      const w = l.withs[i]!;
      if (w.value.kind === 'fn') return this.withLiteral(l, i + 1, f, k, [...vals, w.value.fn]);
      return this.term(w.value.term, f, (v) => this.withLiteral(l, i + 1, f, k, [...vals, v]));
    }
    const saved = this.ctx;
    const next = this.withContext(saved, l.withs, vals);
    this.ctx = next;
    try {
      return this.literalInner(l, f, () => {
        this.ctx = saved;
        try {
          return k();
        } finally {
          this.ctx = next;
        }
      });
    } finally {
      this.ctx = saved;
    }
  }

  private withContext(prev: EvalCtx, withs: CWith[], vals: Array<Value | FnRef>): EvalCtx {
    const ctx: EvalCtx = {
      input: prev.input,
      base: prev.base,
      forced: prev.forced ? new Map(prev.forced) : undefined,
      deep: prev.deep ? new Map(prev.deep) : undefined,
      fns: prev.fns ? new Map(prev.fns) : undefined,
      cache: new Map(),
      docCache: new Map(),
      fnCache: new Map(),
    };
    withs.forEach((w, i) => {
      const v = vals[i]!;
      const t = w.target;
      if (t.kind === 'input') {
        // opa:v1/topdown/eval.go mergeTermWithValues: a one-segment path into a defined non-object input
        // cannot be merged; deeper paths replace whatever non-object is in the way.
        if (t.path.length === 1 && ctx.input !== undefined && !(ctx.input instanceof RObject)) {
          throw evalError('eval_with_merge_error', w.loc, 'real and replacement data could not be merged');
        }
        ctx.input = t.path.length === 0 ? (v as Value) : setIn(ctx.input, t.path, v as Value);
      } else if (t.kind === 'data') {
        let n = this.root;
        let j = 0;
        while (j < t.path.length && !n.hasRules && !n.isFunction) {
          const c = n.children.get(keyOf(t.path[j]!));
          if (!c) break;
          n = c;
          j++;
        }
        if (j === t.path.length && j > 0) {
          (ctx.forced ??= new Map()).set(n, v as Value);
        } else if (n.hasRules) {
          const list = [...(ctx.deep?.get(n) ?? []), [t.path.slice(j), v as Value] as [Value[], Value]];
          (ctx.deep ??= new Map()).set(n, list);
        } else {
          ctx.base = setIn(ctx.base, t.path, v as Value) ?? ctx.base;
        }
      } else {
        const fn = isFnRef(v) ? ({ kind: 'fn', fn: v } as const) : ({ kind: 'value', value: v } as const);
        (ctx.fns ??= new Map()).set(t.name, fn);
      }
    });
    return ctx;
  }

  // ------------------------------------------------------------------------------------------ unification

  private bind(t: CTerm, v: Value, f: Array<Value | undefined>, k: K): boolean {
    switch (t.t) {
      case 'var': {
        const cur = f[t.slot];
        if (cur === undefined) {
          f[t.slot] = v;
          try {
            return k();
          } finally {
            f[t.slot] = undefined;
          }
        }
        return equal(cur, v) ? k() : false;
      }
      case 'const':
        return equal(t.v, v) ? k() : false;
      case 'array':
        if (!Array.isArray(v) || v.length !== t.items.length) return false;
        return this.bindItems(t.items, v, 0, f, k);
      case 'object': {
        if (!(v instanceof RObject) || v.size !== t.entries.length) return false;
        return this.bindEntries(t.entries, v, 0, f, k);
      }
      default:
        return this.term(t, f, (x) => (equal(x, v) ? k() : false));
    }
  }

  private bindItems(items: CTerm[], v: Value[], i: number, f: Array<Value | undefined>, k: K): boolean {
    if (i === items.length) return k();
    return this.bind(items[i]!, v[i]!, f, () => this.bindItems(items, v, i + 1, f, k));
  }

  private bindEntries(entries: Array<[CTerm, CTerm]>, v: RObject, i: number, f: Array<Value | undefined>, k: K): boolean {
    if (i === entries.length) return k();
    const [kt, vt] = entries[i]!;
    return this.term(kt, f, (key) => {
      const x = v.get(key);
      if (x === undefined) return false;
      return this.bind(vt, x, f, () => this.bindEntries(entries, v, i + 1, f, k));
    });
  }

  private hasUnbound(t: CTerm, f: Array<Value | undefined>): boolean {
    switch (t.t) {
      case 'var':
        return f[t.slot] === undefined;
      case 'array':
        return t.items.some((x) => this.hasUnbound(x, f));
      case 'object':
        return t.entries.some(([, x]) => this.hasUnbound(x, f));
      default:
        return false;
    }
  }

  private unify(a: CTerm, b: CTerm, f: Array<Value | undefined>, k: K): boolean {
    if (a.t === 'array' && b.t === 'array') {
      if (a.items.length !== b.items.length) return false;
      return this.unifyItems(a.items, b.items, 0, f, k);
    }
    if (this.hasUnbound(a, f)) {
      if (this.hasUnbound(b, f) && b.t !== 'var' && a.t === 'var') return this.term(a, f, (x) => this.bind(b, x, f, k));
      return this.term(b, f, (x) => this.bind(a, x, f, k));
    }
    return this.term(a, f, (x) => this.bind(b, x, f, k));
  }

  private unifyItems(a: CTerm[], b: CTerm[], i: number, f: Array<Value | undefined>, k: K): boolean {
    if (i === a.length) return k();
    if (this.stuck(a[i]!, b[i]!, f)) {
      // Neither side of this pair has a value yet: unify a later pair that binds what it lacks first.
      for (let j = i + 1; j < a.length; j++) {
        if (this.stuck(a[j]!, b[j]!, f)) continue;
        const ra = [...a.slice(0, j), ...a.slice(j + 1)];
        const rb = [...b.slice(0, j), ...b.slice(j + 1)];
        return this.unify(a[j]!, b[j]!, f, () => this.unifyItems(ra, rb, i, f, k));
      }
    }
    return this.unify(a[i]!, b[i]!, f, () => this.unifyItems(a, b, i + 1, f, k));
  }

  /** Whether unifying a with b now would need a value neither side has (for nested arrays: some pair inside). */
  private stuck(a: CTerm, b: CTerm, f: Array<Value | undefined>): boolean {
    if (a.t === 'array' && b.t === 'array') return a.items.length === b.items.length && a.items.some((x, i) => this.stuck(x, b.items[i]!, f));
    return this.hasUnbound(a, f) && this.hasUnbound(b, f);
  }

  // ------------------------------------------------------------------------------------------ terms

  private term(t: CTerm, f: Array<Value | undefined>, k: KV): boolean {
    switch (t.t) {
      case 'const':
        return k(t.v);
      case 'var': {
        const v = f[t.slot];
        if (v === undefined) throw evalError('eval_internal_error', undefined, `var ${t.name} is unbound`);
        return k(v);
      }
      case 'root':
        if (t.root === 'input') return this.ctx.input === undefined ? false : k(this.ctx.input);
        return this.dataPath(this.root, this.ctx.base, [], 0, f, k);
      case 'ref':
        return this.ref(t, f, k);
      case 'array':
        return this.items(t.items, 0, [], f, (xs) => k(xs));
      case 'set':
        return this.items(t.items, 0, [], f, (xs) => k(RSet.from(xs)));
      case 'object':
        return this.objEntries(t.entries, 0, [], f, k);
      case 'arraycompr': {
        const out: Value[] = [];
        this.sub(t.body, f, () => this.term(t.term, f, (v) => (out.push(v), false)));
        return k(out);
      }
      case 'setcompr': {
        const out = new RSet();
        this.sub(t.body, f, () => this.term(t.term, f, (v) => (out.add(v), false)));
        return k(out);
      }
      case 'objectcompr': {
        const out = new RObject();
        this.sub(t.body, f, () =>
          this.term(t.key, f, (key) =>
            this.term(t.value, f, (v) => {
              const cur = out.get(key);
              if (cur !== undefined && !equal(cur, v)) throw evalError('eval_conflict_error', undefined, 'object keys must be unique');
              out.set(key, v);
              return false;
            }),
          ),
        );
        return k(out);
      }
      case 'call':
        return this.call(t, f, k);
      case 'print':
        return this.print(t, f, k);
      case 'template': {
        // Like OPA's internal.template_string: each expression contributes the set of its values (empty →
        // `<undefined>`); more than one combination is a conflict.
        const lines = this.crossProduct(t.parts.map((p) => (typeof p === 'string' ? p : this.valueSet(p, f))));
        if (lines.length > 1) throw evalError('eval_conflict_error', t.loc, 'template-strings must not produce multiple outputs');
        return k(lines[0]!.join(''));
      }
    }
  }

  /** All values of a term, as a set (OPA rewrites print/template operands to `{x | x = operand}`). */
  private valueSet(t: CTerm, f: Array<Value | undefined>): RSet {
    const out = new RSet();
    this.term(t, f, (v) => (out.add(v), false));
    return out;
  }

  /** Text combinations of print/template operands: strings raw, other values in Rego syntax. */
  private crossProduct(parts: Array<string | RSet>): string[][] {
    let rows: string[][] = [[]];
    for (const p of parts) {
      if (typeof p === 'string') {
        rows = rows.map((r) => [...r, p]);
        continue;
      }
      const texts = p.size === 0 ? ['<undefined>'] : p.values().map((v) => (typeof v === 'string' ? v : toRegoString(v)));
      rows = rows.flatMap((r) => texts.map((x) => [...r, x]));
    }
    return rows;
  }

  private items(items: CTerm[], i: number, acc: Value[], f: Array<Value | undefined>, k: (xs: Value[]) => boolean): boolean {
    if (i === items.length) return k(acc.slice());
    return this.term(items[i]!, f, (v) => {
      acc.push(v);
      try {
        return this.items(items, i + 1, acc, f, k);
      } finally {
        acc.pop();
      }
    });
  }

  private objEntries(entries: Array<[CTerm, CTerm]>, i: number, acc: Array<[Value, Value]>, f: Array<Value | undefined>, k: KV): boolean {
    if (i === entries.length) return k(RObject.from(acc));
    const [kt, vt] = entries[i]!;
    return this.term(kt, f, (key) =>
      this.term(vt, f, (v) => {
        acc.push([key, v]);
        try {
          return this.objEntries(entries, i + 1, acc, f, k);
        } finally {
          acc.pop();
        }
      }),
    );
  }

  private print(t: Extract<CTerm, { t: 'print' }>, f: Array<Value | undefined>, k: KV): boolean {
    if (this.opts.prints) {
      for (const line of this.crossProduct(t.args.map((a) => this.valueSet(a, f)))) {
        this.opts.prints.push(`${t.loc.file}:${t.loc.row}: ${line.join(' ')}`);
      }
    }
    return k(true);
  }

  // ------------------------------------------------------------------------------------------ refs

  private ref(t: Extract<CTerm, { t: 'ref' }>, f: Array<Value | undefined>, k: KV): boolean {
    const h = t.head;
    if (h.t === 'root') {
      if (h.root === 'data') return this.dataPath(this.root, this.ctx.base, t.path, 0, f, k);
      const input = this.ctx.input;
      if (input === undefined) return false;
      return this.path(input, t.path, 0, f, k);
    }
    return this.term(h, f, (v) => this.path(v, t.path, 0, f, k));
  }

  /** Walks `path[i…]` into a value; unbound variables iterate keys/indices/members. */
  private path(v: Value, path: CTerm[], i: number, f: Array<Value | undefined>, k: KV, store = false): boolean {
    // Fast path: constant segments and bound variables index directly, without recursion.
    while (i < path.length) {
      const seg = path[i]!;
      let key: Value | undefined;
      if (seg.t === 'const') key = seg.v;
      else if (seg.t === 'var') key = f[seg.slot];
      if (key === undefined) break;
      let c = index(v, key);
      if (c === undefined && store && typeof key === 'number' && v instanceof RObject) c = v.get(String(key));
      if (c === undefined) return false;
      v = c;
      i++;
    }
    if (i === path.length) return k(v);
    const seg = path[i]!;
    if (seg.t === 'const') {
      let c = index(v, seg.v);
      // Base documents are JSON: an integer ref segment finds the object key with that text (`data.a[2]`).
      if (c === undefined && store && typeof seg.v === 'number' && v instanceof RObject) c = v.get(String(seg.v));
      return c === undefined ? false : this.path(c, path, i + 1, f, k, store);
    }
    if (seg.t === 'var') {
      const cur = f[seg.slot];
      if (cur !== undefined) {
        const c = index(v, cur);
        return c === undefined ? false : this.path(c, path, i + 1, f, k);
      }
      return this.iterate(v, (key, val) => {
        f[seg.slot] = key;
        try {
          return this.path(val, path, i + 1, f, k);
        } finally {
          f[seg.slot] = undefined;
        }
      });
    }
    if (this.hasUnbound(seg, f)) {
      return this.iterate(v, (key, val) => this.bind(seg, key, f, () => this.path(val, path, i + 1, f, k)));
    }
    return this.term(seg, f, (key) => {
      const c = index(v, key);
      return c === undefined ? false : this.path(c, path, i + 1, f, k);
    });
  }

  /** Calls `g(key, value)` for each element in Rego order; stops when `g` returns true. */
  private iterate(v: Value, g: (key: Value, val: Value) => boolean): boolean {
    // Each element is a step: chained iterations inside one expression (`a[_] == a[_] == …`) multiply
    // without passing through a body literal, and must still meet the step bound.
    if (Array.isArray(v)) {
      for (let j = 0; j < v.length; j++) if (this.step() || g(j, v[j]!)) return true;
      return false;
    }
    if (v instanceof RObject) {
      for (const [key, val] of v.entries()) if (this.step() || g(key, val)) return true;
      return false;
    }
    if (v instanceof RSet) {
      for (const x of v.values()) if (this.step() || g(x, x)) return true;
      return false;
    }
    return false;
  }

  /** Counts one evaluation step; throws past the bound (returns false so it can lead a condition). */
  private step(): false {
    if (++this.steps > this.maxSteps) throw new CocoError('REGO_LIMIT', `evaluation exceeded ${this.maxSteps} steps`, { kind: 'limit' });
    return false;
  }

  /** Walks the rule tree and base data together. */
  private dataPath(node: RuleNode | undefined, base: Value | undefined, path: CTerm[], i: number, f: Array<Value | undefined>, k: KV): boolean {
    if (node === undefined) return base === undefined ? false : this.path(base, path, i, f, k);
    const forced = this.ctx.forced?.get(node);
    if (forced !== undefined) return this.path(forced, path, i, f, k);
    if (node.hasRules || node.isFunction) {
      if (this.events && !node.isFunction && this.ctx.deep?.get(node) === undefined) {
        if ((node.simple ??= simpleNode(node))) return this.tcomplete(node, (v) => this.path(v, path, i, f, k));
        // A partial rule looked up by a known key: each rule tried for that key alone, as opa does.
        const seg = path[i];
        if (seg !== undefined && !this.ctx.cache.has(node) && keyedNode(node)) {
          const next = (v: Value): boolean => this.path(v, path, i + 1, f, k);
          if (seg.t === 'const') return this.tkeyed(node, seg.v, next);
          if (seg.t === 'var') {
            const key = f[seg.slot];
            if (key !== undefined) return this.tkeyed(node, key, next);
          } else if (!this.hasUnbound(seg, f)) return this.term(seg, f, (key) => this.tkeyed(node, key, next));
        }
      }
      const v = this.nodeValue(node);
      return v === undefined ? false : this.path(v, path, i, f, k);
    }
    if (i === path.length) {
      const v = this.docValue(node, base);
      return v === undefined ? false : k(v);
    }
    const seg = path[i]!;
    let key: Value | undefined;
    if (seg.t === 'const') key = seg.v;
    else if (seg.t === 'var') key = f[seg.slot];
    if (key === undefined && seg.t !== 'var' && !this.hasUnbound(seg, f)) {
      return this.term(seg, f, (kv) => this.dataStep(node, base, kv, path, i, f, k));
    }
    if (key === undefined) {
      const v = this.docValue(node, base);
      return v === undefined ? false : this.path(v, path, i, f, k);
    }
    return this.dataStep(node, base, key, path, i, f, k);
  }

  private dataStep(node: RuleNode, base: Value | undefined, key: Value, path: CTerm[], i: number, f: Array<Value | undefined>, k: KV): boolean {
    const child = node.children.get(keyOf(key));
    let cb = base instanceof RObject ? base.get(key) : undefined;
    // The store keeps JSON objects: an integer path segment finds the key with that text (`data[2]`).
    if (cb === undefined && base instanceof RObject && typeof key === 'number') cb = base.get(String(key));
    if (child) return this.dataPath(child, cb, path, i + 1, f, k);
    if (cb === undefined) return false;
    return this.path(cb, path, i + 1, f, k, true);
  }

  /** The merged document at a node: base data plus the values of every rule below it. */
  private docValue(node: RuleNode, base: Value | undefined): Value | undefined {
    const forced = this.ctx.forced?.get(node);
    if (forced !== undefined) return forced;
    if (node.hasRules || node.isFunction) return this.nodeValue(node);
    if (this.ctx.docCache.has(node)) return this.ctx.docCache.get(node);
    const o = base instanceof RObject ? base.copy() : new RObject();
    for (const c of node.children.values()) {
      const cb = base instanceof RObject ? base.get(c.key) : undefined;
      // OPA keeps the base document where base and virtual documents overlap at a leaf.
      if (cb !== undefined && !(cb instanceof RObject)) continue;
      const cv = this.docValue(c, cb);
      if (cv !== undefined) o.set(c.key, cv);
    }
    this.ctx.docCache.set(node, o);
    return o;
  }

  // ------------------------------------------------------------------------------------------ rules

  private nodeValue(node: RuleNode): Value | undefined {
    if (node.isFunction) {
      // A zero-argument function (`f() := 1`) is also a document: `data.pkg.f` and `data.pkg` show its value.
      if (node.arity !== 0) return undefined;
      let v: Value | undefined;
      this.userFn(node, [], (x) => ((v = x), true));
      return v;
    }
    const forced = this.ctx.forced?.get(node);
    if (forced !== undefined) return forced;
    if (this.events) this.indexEvent(node, node.rules);
    const c = this.ctx.cache.get(node);
    if (c === PENDING) {
      const r = node.rules[0] ?? node.defaultRule;
      throw evalError('rego_recursion_error', r?.loc, `rule ${node.name} is recursive`);
    }
    if (c !== undefined || this.ctx.cache.has(node)) return c as Value | undefined;
    if (++this.depth > this.maxDepth) throw new CocoError('REGO_LIMIT', `rule evaluation nested deeper than ${this.maxDepth}`, { kind: 'limit' });
    this.ctx.cache.set(node, PENDING);
    let v: Value | undefined;
    try {
      v = this.computeNode(node);
      const deep = this.ctx.deep?.get(node);
      if (deep) for (const [p, x] of deep) v = setIn(v, p, x);
    } catch (e) {
      this.ctx.cache.delete(node);
      throw e;
    } finally {
      this.depth--;
    }
    this.ctx.cache.set(node, v);
    return v;
  }

  private computeNode(node: RuleNode): Value | undefined {
    if ((node.simple ??= simpleNode(node))) return this.completeValue(node);
    return this.computeGeneral(node);
  }

  /** The common case: a node with only complete definitions (plus an optional default). */
  private completeValue(node: RuleNode): Value | undefined {
    let complete: Value | undefined;
    const adm = this.admission(node.rules);
    const early = (node.earlyExit ??= earlyExitOf(node.rules));
    for (const rule of node.rules) {
      this.ruleValues(
        rule,
        (v) => {
          if (complete === undefined) complete = v;
          else if (!equal(complete, v)) throw evalError('eval_conflict_error', rule.loc, 'complete rules must not produce multiple outputs');
          return true;
        },
        undefined,
        adm,
        early,
      );
      // Every rule gives this one constant: the others need not be tried (OPA's early exit).
      if (early && complete !== undefined) break;
    }
    if (complete === undefined && node.defaultRule) this.defaultValue(node.defaultRule, early, (v) => ((complete = v), true));
    return complete;
  }

  /**
   * While tracing, a node of complete rules is evaluated as OPA evaluates one: the caller goes on with the
   * first value inside the rule's Exit and Redo, and the value is checked against later bodies afterwards.
   */
  private tcomplete(node: RuleNode, k: KV): boolean {
    this.indexEvent(node, node.rules);
    const cache = this.ctx.cache;
    const c = cache.get(node);
    if (c === PENDING) {
      const r = node.rules[0] ?? node.defaultRule;
      throw evalError('rego_recursion_error', r?.loc, `rule ${node.name} is recursive`);
    }
    if (cache.has(node)) return c === undefined ? false : k(c as Value);
    if (++this.depth > this.maxDepth) throw new CocoError('REGO_LIMIT', `rule evaluation nested deeper than ${this.maxDepth}`, { kind: 'limit' });
    cache.set(node, PENDING);
    let complete: Value | undefined;
    let stop = false;
    try {
      const adm = this.admission(node.rules);
      const early = (node.earlyExit ??= earlyExitOf(node.rules));
      const first = (v: Value): boolean => {
        complete = v;
        cache.set(node, v);
        stop = this.unnested(() => k(v));
        return true;
      };
      for (const rule of node.rules) {
        this.ruleValues(
          rule,
          (v) => {
            if (complete === undefined) return first(v);
            if (!equal(complete, v)) throw evalError('eval_conflict_error', rule.loc, 'complete rules must not produce multiple outputs');
            return true;
          },
          undefined,
          adm,
          early,
        );
        if (stop || (early && complete !== undefined)) break;
      }
      if (complete === undefined && node.defaultRule) this.defaultValue(node.defaultRule, early, first);
      if (complete === undefined) cache.set(node, undefined);
    } catch (e) {
      cache.delete(node);
      throw e;
    } finally {
      this.depth--;
    }
    return stop;
  }

  /**
   * While tracing, `q[key]` for a partial set or object with the key known, as OPA's evalOneRulePreUnify
   * evaluates it: each rule entered, its head key unified with the key first (Fail of the rule when it cannot
   * be), its body, then Exit and Redo per solution, or Duplicate for a value already found. The answer for the
   * key is kept for later lookups in this evaluation.
   */
  private tkeyed(node: RuleNode, key: Value, k: KV): boolean {
    this.indexEvent(node, node.rules);
    const cacheKey = node.name + '\u0001' + keyOf(key);
    const cache = this.ctx.fnCache;
    if (cache.has(cacheKey)) {
      const c = cache.get(cacheKey);
      return c === undefined ? false : k(c);
    }
    if (++this.depth > this.maxDepth) throw new CocoError('REGO_LIMIT', `rule evaluation nested deeper than ${this.maxDepth}`, { kind: 'limit' });
    let found: Value | undefined;
    try {
      const adm = this.admission(node.rules);
      for (const rule of node.rules) {
        const frame: Array<Value | undefined> = new Array(rule.nslots);
        if (this.ruledOut(rule, 0, rule.body, frame, adm)) continue;
        const rn = ruleNode(rule);
        const keyTerm = rule.kind === 'multi' ? rule.key! : rule.rest[0]!;
        const value = (go: KV): boolean => (rule.kind === 'multi' ? go(key) : this.headValue(rule.value, rule.loc, frame, go));
        this.inChild(() => {
          this.emit('Enter', rn, rule.loc);
          let defined = false;
          this.bind(keyTerm, key, frame, () => {
            defined = true;
            return this.tbody(rule.body, 0, frame, () =>
              value((v) => {
                this.emit('Exit', rn, rule.loc);
                if (found !== undefined) {
                  if (!equal(found, v)) throw evalError('eval_conflict_error', rule.loc, 'object keys must be unique');
                  this.emit('Duplicate', rn, rule.loc);
                  return false;
                }
                found = v;
                this.emit('Redo', rn, rule.loc);
                return false;
              }),
            );
          });
          if (!defined) this.emit('Fail', rn, rule.loc);
          return false;
        });
      }
    } finally {
      this.depth--;
    }
    cache.set(cacheKey, found);
    return found === undefined ? false : k(found);
  }

  /** The caller's continuation, run from inside a rule's evaluation: not nested in the rule for the depth bound. */
  private unnested(k: K): boolean {
    this.depth--;
    try {
      return k();
    } finally {
      this.depth++;
    }
  }

  /** The value of a default rule (traced as OPA traces one: a rule whose body is `true`). */
  private defaultValue(d: CRule, early: boolean, k: KV): void {
    const frame: Array<Value | undefined> = new Array(d.nslots);
    if (!this.events) {
      this.term(d.value, frame, k);
      return;
    }
    this.child(ruleNode(d), d.loc, trueBody(d.loc), frame, early ? 'early' : '', () => this.term(d.value, frame, k));
  }

  private computeGeneral(node: RuleNode): Value | undefined {
    let complete: Value | undefined;
    let completeRule: CRule | undefined;
    let setOut: RSet | undefined;
    let objOut: RObject | undefined;
    // Objects and sets created here may be extended by other rules; values produced by rules may not.
    const built = new Set<RObject | RSet>();
    const mk = (): RObject => {
      const o = new RObject();
      built.add(o);
      return o;
    };
    const adopt = (v: Value): Value => {
      if (v instanceof RObject) {
        const o = mk();
        for (const [k2, v2] of v.entries()) o.set(k2, adopt(v2));
        return o;
      }
      if (v instanceof RSet) {
        const s2 = v.copy();
        built.add(s2);
        return s2;
      }
      return v;
    };
    const conflict = (rule: CRule | undefined): never => {
      throw evalError('eval_conflict_error', rule?.loc, 'object keys must be unique');
    };
    const put = (o: RObject, keys: Value[], j: number, v: Value, rule: CRule | undefined): void => {
      const key = keys[j]!;
      const cur = o.get(key);
      if (j < keys.length - 1) {
        if (cur === undefined) {
          const n = mk();
          o.set(key, n);
          return put(n, keys, j + 1, v, rule);
        }
        if (cur instanceof RObject && built.has(cur)) return put(cur, keys, j + 1, v, rule);
        return conflict(rule);
      }
      if (cur === undefined) {
        o.set(key, v);
        return;
      }
      if (cur instanceof RObject && built.has(cur) && v instanceof RObject) {
        for (const [k2, v2] of v.entries()) put(cur, [k2], 0, v2, rule);
        return;
      }
      if (cur instanceof RSet && built.has(cur) && v instanceof RSet) {
        for (const x of v.values()) cur.add(x);
        return;
      }
      if (!equal(cur, v)) conflict(rule);
    };
    const insert = (keys: Value[], v: Value, rule: CRule | undefined): void => {
      objOut ??= mk();
      put(objOut, keys, 0, v, rule);
    };
    const insertMember = (keys: Value[], v: Value, rule: CRule): void => {
      const s2 = new RSet();
      built.add(s2);
      s2.add(v);
      insert(keys, s2, rule);
    };
    const adm = this.admission(node.rules);
    for (const rule of node.rules) {
      if (rule.kind === 'complete') {
        this.ruleValues(
          rule,
          (v) => {
            if (complete === undefined) {
              complete = v;
              completeRule = rule;
            } else if (!equal(complete, v)) {
              throw evalError('eval_conflict_error', rule.loc, 'complete rules must not produce multiple outputs');
            }
            return true;
          },
          undefined,
          adm,
        );
      } else if (rule.kind === 'multi') {
        const frame: Array<Value | undefined> = new Array(rule.nslots);
        if (this.ruledOut(rule, 0, rule.body, frame, adm)) continue;
        this.ruleBody(rule, frame, () =>
          this.term(rule.key!, frame, (m) => {
            if (rule.rest.length === 0) (setOut ??= new RSet()).add(m);
            else return this.items(rule.rest, 0, [], frame, (keys) => (insertMember(keys, m, rule), false));
            return false;
          }),
        );
      } else {
        const frame: Array<Value | undefined> = new Array(rule.nslots);
        if (this.ruledOut(rule, 0, rule.body, frame, adm)) continue;
        this.ruleBody(rule, frame, () => this.items(rule.rest, 0, [], frame, (keys) => this.term(rule.value, frame, (v) => (insert(keys, v, rule), false))));
      }
    }
    const hasComplete = node.rules.some((r) => r.kind === 'complete');
    const hasMultiSet = node.rules.some((r) => r.kind === 'multi' && r.rest.length === 0);
    if (complete === undefined && node.defaultRule) this.defaultValue(node.defaultRule, false, (v) => ((complete = v), true));
    if (hasMultiSet) return setOut ?? new RSet();
    const hasObj = node.rules.some((r) => r.kind !== 'complete');
    if (hasObj || (node.children.size > 0 && !hasComplete)) {
      if (complete !== undefined) {
        if (!(complete instanceof RObject)) throw evalError('eval_conflict_error', completeRule?.loc, 'object keys must be unique');
        for (const [kk, vv] of complete.entries()) insert([kk], vv, completeRule);
      }
      for (const c of node.children.values()) {
        const cv = this.docValue(c, undefined);
        if (cv !== undefined && !(cv instanceof RObject && cv.size === 0 && !c.hasRules)) insert([c.key], adopt(cv), node.rules[0]);
      }
      return objOut ?? new RObject();
    }
    if (node.children.size > 0 && complete !== undefined) {
      let o: Value = complete;
      for (const c of node.children.values()) {
        const cv = this.docValue(c, undefined);
        if (cv === undefined) continue;
        if (!(o instanceof RObject)) throw evalError('eval_conflict_error', completeRule?.loc, 'object keys must be unique');
        const cur = o.get(c.key);
        if (cur !== undefined && !equal(cur, cv)) throw evalError('eval_conflict_error', completeRule?.loc, 'object keys must be unique');
        o = o.copy().set(c.key, cv);
      }
      return o;
    }
    return complete;
  }

  /**
   * True when the rule index rules out a body for the current input (rule-index.ts): one of its guards reads
   * an undefined or different `input` document, so the body would fail at that literal. A tracer sees the
   * body tried and failed at that literal.
   */
  private ruledOut(rule: CRule, branch: number, lits: CLit[], frame: Array<Value | undefined>, adm?: Admission): boolean {
    const g = this.failingGuard(rule, branch, lits, adm);
    if (!g) return false;
    this.bodiesSkipped++;
    const tr = this.tracer;
    if (tr) {
      tr.enterBody(rule, branch, lits);
      tr.reached(lits, g.lit, frame);
      tr.exitBody(lits, false);
    }
    return true;
  }

  /** The guard of a body that the rule index finds cannot hold for the current input, if any. */
  private failingGuard(rule: CRule, branch: number, lits: CLit[], adm: Admission): Guard | undefined {
    if (!this.indexing) return undefined;
    if (adm && branch === 0) {
      const pg = adm.ix.guarded.get(rule);
      if (pg && !adm.hits.has(rule)) return pg;
    }
    const guards = guardsOf(lits);
    if (guards.length === 0) return undefined;
    return failedGuard(guards, this.ctx.input, this.ctx.fns?.has('equal') ?? false);
  }

  /** The group index of a node's rules or functions and what it admits for the current input. */
  private admission(rules: CRule[]): Admission {
    if (!this.indexing) return undefined;
    const ix = groupIndexOf(rules);
    if (!ix) return undefined;
    const hits = groupCandidates(ix, this.ctx.input, this.ctx.fns?.has('equal') ?? false);
    return hits ? { ix, hits } : undefined;
  }

  /** A partial (set or object) rule's body, with `k` for each solution. */
  private ruleBody(rule: CRule, frame: Array<Value | undefined>, k: K): boolean {
    if (this.events) return this.child(ruleNode(rule), rule.loc, ruleBody(rule.body, rule.loc), frame, '', k);
    const tr = this.tracer;
    const run = (): boolean => this.body(rule.body, 0, frame, k);
    if (!tr) return run();
    tr.enterBody(rule, 0, rule.body);
    let ok = false;
    try {
      const r = run();
      ok = true;
      return r;
    } finally {
      tr.exitBody(rule.body, ok);
    }
  }

  /** Emits the value of each solution of a complete rule or function body (with its `else` chain). */
  private ruleValues(rule: CRule, emit: KV, frame: Array<Value | undefined> = new Array(rule.nslots), adm?: Admission, early = false): boolean {
    if (this.events) return this.truleValues(rule, emit, frame, adm, early);
    let found = false;
    const tr = this.tracer;
    let stop = false;
    if (!this.ruledOut(rule, 0, rule.body, frame, adm)) {
      if (tr) tr.enterBody(rule, 0, rule.body);
      try {
        stop = this.body(rule.body, 0, frame, () =>
          this.term(rule.value, frame, (v) => {
            found = true;
            return emit(v) && rule.value.t === 'const';
          }),
        );
      } finally {
        if (tr) tr.exitBody(rule.body, found);
      }
      if (found || stop) return stop;
    }
    for (let j = 0; j < rule.elseChain.length; j++) {
      const e = rule.elseChain[j]!;
      if (this.ruledOut(rule, j + 1, e.body, frame)) continue;
      if (tr) tr.enterBody(rule, j + 1, e.body);
      try {
        stop = this.body(e.body, 0, frame, () =>
          this.term(e.value, frame, (v) => {
            found = true;
            return emit(v) && e.value.t === 'const';
          }),
        );
      } finally {
        if (tr) tr.exitBody(e.body, found);
      }
      if (found || stop) return stop;
    }
    return false;
  }

  /** `ruleValues` while tracing: each body (and `else` branch) tried is a query of its own. */
  private truleValues(rule: CRule, emit: KV, frame: Array<Value | undefined>, adm: Admission, early: boolean): boolean {
    let found = false;
    const node = ruleNode(rule);
    for (let j = 0; j <= rule.elseChain.length; j++) {
      const b = j === 0 ? rule : rule.elseChain[j - 1]!;
      if (this.ruledOut(rule, j, b.body, frame, j === 0 ? adm : undefined)) continue;
      let value: Value | undefined;
      // The head value as opa's compiler moves it into the body (trace-rewrite.ts).
      const traced = tracedRuleBody(b.body, b.value, b.loc, this.opts.names);
      if (rule.params && !bodyParams.has(traced.lits)) bodyParams.set(traced.lits, rule.params);
      const stop = this.child(
        node,
        b.loc,
        traced.lits,
        frame,
        early ? 'early' : '',
        () => {
          found = true;
          return emit(value!) && b.value.t === 'const';
        },
        (go) => this.headValue(traced.value, b.loc, frame, (v) => ((value = v), go())),
      );
      if (found || stop) return stop;
    }
    return false;
  }

  // ------------------------------------------------------------------------------------------ tracing

  private emit(op: TraceOp, node: TraceNode | undefined, loc: Loc | undefined, message = '', ref?: string, locals: TraceEvent['locals'] = []): void {
    this.events!.push({
      op,
      queryId: this.qid,
      parentId: this.pqid,
      node,
      location: loc === undefined ? undefined : { file: loc.file === 'query' ? '' : loc.file, row: loc.row, col: loc.col },
      message,
      ref,
      locals,
    });
  }

  /**
   * The variables bound in the frame, for an event. In a body opa's compiler rewrote (names known): every
   * variable of the body that is bound, by the compiler's name (`__local0__` for a declared `x`), with the
   * written name and where it is declared for `LocalMetadata`, as opa lists its query's bindings. Otherwise the
   * named variables the expression mentions.
   */
  private locals(l: CLit | undefined, f: Array<Value | undefined>, lits?: CLit[]): TraceEvent['locals'] {
    if (!l) return [];
    const names = lits === undefined ? undefined : lits === this.topBody ? this.queryNames : this.opts.names;
    if (names !== undefined && lits !== undefined) {
      let rows = bodyVars.get(lits);
      if (!rows) bodyVars.set(lits, (rows = varRows(lits, names)));
      const out: TraceEvent['locals'] = [];
      for (const r of rows) {
        const v = f[r.slot];
        if (v !== undefined) out.push([r.name, v, r.written, r.loc]);
      }
      return out;
    }
    let written = slotNames.get(l);
    if (!written) slotNames.set(l, (written = [...slotNamesOf(l)].filter(([, n]) => !n.startsWith('_') && !n.startsWith('$'))));
    const out: TraceEvent['locals'] = [];
    for (const [slot, name] of written) {
      const v = f[slot];
      if (v !== undefined) out.push([name, v]);
    }
    return out;
  }

  /**
   * The top-level query: one query (id 0) as opa eval compiles it. Each expression whose value opa captures
   * shows its capture (`data.p = _`, `equal(x, 1, _)`); the query compiler's rewriting (`__localq0__ =
   * input.x`) is traced as in rule bodies; and when the query has several expressions or iterates, each
   * captured value is checked by an expression of its own at the end (`_`), as opa's rewriteQueryToCaptureValue
   * appends it.
   */
  private queryBody(lits: CLit[], names: Locals | undefined, f: Array<Value | undefined>, k: K): boolean {
    if (!this.events) return this.body(lits, 0, f, k);
    const body = tracedBody(lits, this.opts.names ? names : undefined);
    this.topBody = body;
    this.queryNames = this.opts.names ? names : undefined;
    const checks = lits.length > 1 || iterates(lits) ? body.filter((l) => capturesValue(l) || capturesCall(l)) : [];
    const text = [...body.map((l) => topText(l)), ...checks.map(() => '_')].join('; ');
    const node: TraceNode = { kind: 'body', text, lits: body };
    const loc = lits[0]?.loc;
    this.emit('Enter', node, loc);
    const check = (i: number): boolean => {
      if (i === checks.length) {
        this.emit('Exit', node, loc);
        const r = k();
        this.emit('Redo', node, loc);
        return r;
      }
      const l = checks[i]!;
      const expr: TraceNode = { kind: 'expr', text: '_', lit: undefined, index: body.length + i };
      this.emit('Eval', expr, l.loc);
      if (this.captureCheck && !this.captureCheck(l)) {
        this.emit('Fail', expr, l.loc);
        return false;
      }
      const r = check(i + 1);
      this.emit('Redo', expr, l.loc);
      return r;
    };
    return this.tbody(body, 0, f, () => check(0));
  }

  /** `body` while tracing: Eval before each expression, Redo when it is tried again, Fail when it has no (more) solution. */
  private tbody(lits: CLit[], i: number, f: Array<Value | undefined>, k: K): boolean {
    if (i === lits.length) return k();
    if (++this.steps > this.maxSteps) throw new CocoError('REGO_LIMIT', `evaluation exceeded ${this.maxSteps} steps`, { kind: 'limit' });
    const l = lits[i]!;
    const node: TraceNode = { kind: 'expr', text: lits === this.topBody ? topText(l) : litText(l), lit: l, index: i };
    const saved = this.cur;
    this.cur = node;
    // A negation goes on without a Redo of itself (opa: evalNot calls the continuation directly).
    const negation = l.negated || l.notBody !== undefined;
    this.emit('Eval', node, l.loc, '', undefined, this.locals(l, f, lits));
    let defined = false;
    const rest = (): boolean => {
      defined = true;
      const r2 = this.tbody(lits, i + 1, f, k);
      this.cur = node;
      if (!negation) this.emit('Redo', node, l.loc, '', undefined, this.locals(l, f, lits));
      return r2;
    };
    const pr = this.profiler;
    try {
      const r = pr ? pr.literal(l, () => this.literal(l, f, () => pr.redo(l, rest))) : this.literal(l, f, rest);
      if (!defined) this.emit('Fail', node, l.loc, '', undefined, this.locals(l, f, lits));
      return r;
    } finally {
      this.cur = saved;
    }
  }

  /**
   * A body inside an expression (comprehension, `not`, `every`, `and`/`or`): a query of its own when tracing;
   * `early` when only its first solution is wanted (OPA's findOne: its Exit says `early`).
   */
  private sub(lits: CLit[], f: Array<Value | undefined>, k: K, early = false): boolean {
    if (!this.events) return this.body(lits, 0, f, k);
    const body = tracedBody(lits, this.opts.names);
    return this.child({ kind: 'body', text: body.map(litText).join('; '), lits: body }, body[0]?.loc, body, f, early ? 'early' : '', k);
  }

  /**
   * `every` while tracing, as OPA's evalEvery traces it: a query over the domain (Enter and Exit or Fail of the
   * `every` expression, the generator `domain[key] = value` evaluated and redone per element) and, per element,
   * the body as a query of its own followed by a Redo of the `every` expression.
   */
  private tevery(e: Extract<CExpr, { k: 'every' }>, f: Array<Value | undefined>, k: K): boolean {
    const every = this.cur;
    const loc = every?.kind === 'expr' ? every.lit?.loc : undefined;
    const gen: TraceNode = { kind: 'expr', text: `${opaTermText(e.domain)}[${e.key ? opaTermText(e.key) : '_'}] = ${opaTermText(e.value)}`, lit: undefined, index: 0 };
    return this.term(e.domain, f, (d) => {
      const q = this.qid;
      const p = this.pqid;
      return this.inChild(() => {
        this.emit('Enter', every, loc);
        if (!(Array.isArray(d) || d instanceof RObject || d instanceof RSet)) {
          this.emit('Fail', every, loc);
          return false;
        }
        this.emit('Eval', gen, loc);
        let all = true;
        this.iterate(d, (key, val) => {
          const ok = this.bind(e.value, val, f, () => (e.key ? this.bind(e.key, key, f, () => this.sub(e.body, f, () => true, true)) : this.sub(e.body, f, () => true, true)));
          this.emit('Redo', every, loc);
          this.emit('Redo', gen, loc);
          if (!ok) all = false;
          return !ok;
        });
        if (!all) {
          this.emit('Fail', every, loc);
          return false;
        }
        const cq = this.qid;
        const cp = this.pqid;
        this.qid = q;
        this.pqid = p;
        let r: boolean;
        try {
          r = k();
        } finally {
          this.qid = cq;
          this.pqid = cp;
        }
        this.emit('Exit', every, loc);
        return r;
      });
    });
  }

  /** `not expr`: the expression evaluated as a query of its own. */
  private negatedExpr(l: CLit, f: Array<Value | undefined>): boolean {
    const text = exprText(l);
    const body: TraceNode = { kind: 'body', text, lits: [l] };
    const expr: TraceNode = { kind: 'expr', text, lit: l, index: 0 };
    return this.inChild(() => {
      this.emit('Enter', body, l.loc);
      this.emit('Eval', expr, l.loc, '', undefined, this.locals(l, f));
      let defined = false;
      const found = this.expr(l.expr, f, () => {
        defined = true;
        this.emit('Exit', body, l.loc);
        this.emit('Redo', body, l.loc);
        this.emit('Redo', expr, l.loc, '', undefined, this.locals(l, f));
        return true;
      });
      if (!defined) this.emit('Fail', expr, l.loc, '', undefined, this.locals(l, f));
      return found;
    });
  }

  private inChild(run: () => boolean): boolean {
    const q = this.qid;
    const p = this.pqid;
    const cur = this.cur;
    this.pqid = q;
    this.qid = ++this.qids;
    try {
      return run();
    } finally {
      this.qid = q;
      this.pqid = p;
      this.cur = cur;
    }
  }

  /**
   * A query under the current one (a rule body, or a body inside an expression): Enter, its expressions,
   * then for each solution Exit, the continuation (back in the parent query) and Redo. `head` computes a
   * rule's value within the rule's query, before its Exit.
   */
  private child(node: TraceNode, loc: Loc | undefined, lits: CLit[], f: Array<Value | undefined>, exitMessage: string, k: K, head?: (go: K) => boolean): boolean {
    const q = this.qid;
    const p = this.pqid;
    const cur = this.cur;
    const exit = (): boolean => {
      this.emit('Exit', node, loc, exitMessage);
      const cq = this.qid;
      const cp = this.pqid;
      const cc = this.cur;
      this.qid = q;
      this.pqid = p;
      this.cur = cur;
      let r: boolean;
      try {
        r = k();
      } finally {
        this.qid = cq;
        this.pqid = cp;
        this.cur = cc;
      }
      this.emit('Redo', node, loc);
      return r;
    };
    const body = tracedBody(lits, this.opts.names);
    return this.inChild(() => {
      this.emit('Enter', node, loc);
      return this.tbody(body, 0, f, head ? () => head(exit) : exit);
    });
  }

  /** A rule's head value, computed in the rule's query: what it calls is traced at the rule's location. */
  private headValue(t: CTerm, loc: Loc, f: Array<Value | undefined>, k: KV): boolean {
    if (t.t === 'const') return k(t.v);
    let lit = headLits.get(t);
    if (!lit) headLits.set(t, (lit = { negated: false, expr: { k: 'term', term: t }, withs: [], notBody: undefined, notScope: 0, loc, text: '' }));
    const saved = this.cur;
    this.cur = { kind: 'expr', text: litText(lit), lit, index: 0 };
    try {
      return this.term(t, f, (v) => {
        this.cur = saved;
        return k(v);
      });
    } finally {
      this.cur = saved;
    }
  }

  /** `Index data.p (matched 2 rules, early exit)`: the rules a reference reaches that the index admits. */
  private indexEvent(node: RuleNode, rules: CRule[]): void {
    const adm = this.admission(rules);
    let n = 0;
    for (const r of rules) if (!this.failingGuard(r, 0, r.body, adm)) n++;
    const early = (node.earlyExit ??= earlyExitOf(rules));
    const cur = this.cur;
    const lit = cur?.kind === 'expr' ? cur.lit : undefined;
    this.emit('Index', cur, lit?.loc, `(matched ${n === 1 ? '1 rule' : `${n} rules`}${early ? ', early exit' : ''})`, node.name);
  }

  // ------------------------------------------------------------------------------------------ calls

  private call(t: Extract<CTerm, { t: 'call' }>, f: Array<Value | undefined>, k: KV): boolean {
    let order = orderCache.get(t);
    if (order === undefined) orderCache.set(t, (order = argOrder(t.args) ?? null));
    if (order === null) return this.items(t.args, 0, [], f, (args) => this.invoke(t.fn, args, t.loc, k));
    const o = order;
    const sorted = o.map((i) => t.args[i]!);
    return this.items(sorted, 0, [], f, (vals) => {
      const args: Value[] = new Array(vals.length);
      o.forEach((i, j) => (args[i] = vals[j]!));
      return this.invoke(t.fn, args, t.loc, k);
    });
  }

  private invoke(fn: FnRef, args: Value[], loc: Loc, k: KV): boolean {
    const ov = this.ctx.fns?.get(fn.name);
    if (ov) {
      if (ov.kind === 'value') return k(ov.value);
      if (ov.fn !== fn) {
        const saved = this.ctx;
        // A replacement function runs without any function mocks: it can call the original, and one
        // mock never calls another (withkeyword "mock will not call other mock").
        this.ctx = { ...saved, fns: undefined, cache: new Map(), docCache: new Map(), fnCache: new Map() };
        let results: Value[] = [];
        try {
          this.invoke(ov.fn, args, loc, (v) => (results.push(v), false));
        } finally {
          this.ctx = saved;
        }
        results = dedupe(results);
        for (const r of results) if (k(r)) return true;
        return false;
      }
    }
    if (fn.kind === 'builtin') return this.builtin(fn.def, args, loc, k);
    return this.userFn(fn.node, args, k);
  }

  private builtin(def: BuiltinDef, args: Value[], loc: Loc, k: KV): boolean {
    let r: Value | undefined;
    const ndKey = def.nondeterministic ? def.name + '\u0000' + keyOf(args) : undefined;
    if (ndKey !== undefined && this.ndCache.has(ndKey)) r = this.ndCache.get(ndKey);
    else {
      try {
        this.bctx.location = loc ? (loc.file ? `${loc.file}:${loc.row}` : `${loc.row}:${loc.col}`) : undefined;
        r = def.fn(args, this.bctx);
      } catch (e) {
        if (e instanceof BuiltinError) {
          if (this.opts.strict || e instanceof BuiltinPanic) throw evalError(e.code, loc, e.message);
          return false;
        }
        if (e instanceof CocoError || e instanceof Suspend) throw e;
        if (e instanceof RangeError && /call stack/i.test(e.message)) throw e;
        if (this.opts.strict) throw evalError('eval_builtin_error', loc, `${def.name}: ${(e as Error).message}`);
        return false;
      }
      if (ndKey !== undefined) this.ndCache.set(ndKey, r);
    }
    if (r === undefined) return false;
    if (this.events && def.name === 'trace' && typeof args[0] === 'string') {
      const cur = this.cur;
      this.emit('Note', undefined, cur?.kind === 'expr' && cur.lit ? cur.lit.loc : loc, args[0]);
    }
    if (def.relation && Array.isArray(r)) {
      for (const x of r) if (k(x)) return true;
      return false;
    }
    return k(r);
  }

  private userFn(node: RuleNode, args: Value[], k: KV): boolean {
    if (this.events) return this.tuserFn(node, args, k);
    const cacheKey = node.name + '\u0000' + keyOf(args);
    let v: Value | undefined;
    if (this.ctx.fnCache.has(cacheKey)) v = this.ctx.fnCache.get(cacheKey);
    else {
      if (++this.depth > this.maxDepth) throw new CocoError('REGO_LIMIT', `function calls nested deeper than ${this.maxDepth} (recursive function ${node.name}?)`, { kind: 'limit' });
      try {
        const adm = this.admission(node.funcs);
        const early = (node.earlyExit ??= earlyExitOf(node.funcs));
        for (const rule of node.funcs) {
          const frame: Array<Value | undefined> = new Array(rule.nslots);
          this.bindItems(rule.params!, args, 0, frame, () =>
            this.ruleValues(
              rule,
              (x) => {
                if (v === undefined) v = x;
                else if (!equal(v, x)) throw evalError('eval_conflict_error', rule.loc, 'functions must not produce multiple outputs for same inputs');
                return true;
              },
              frame,
              adm,
            ),
          );
          // Every body gives this one constant: the others need not be tried (OPA's early exit).
          if (early && v !== undefined) break;
        }
        if (v === undefined && node.defaultFunc) this.defaultValue(node.defaultFunc, false, (x) => ((v = x), true));
      } finally {
        this.depth--;
      }
      this.ctx.fnCache.set(cacheKey, v);
    }
    return v === undefined ? false : k(v);
  }

  /**
   * A user function call while tracing, as OPA's evalFunc makes one: Index, then each body tried as a query,
   * the caller going on with the first value inside its Exit and Redo; a cached result goes straight on.
   */
  private tuserFn(node: RuleNode, args: Value[], k: KV): boolean {
    this.indexEvent(node, node.funcs);
    const cacheKey = node.name + '\u0000' + keyOf(args);
    const cache = this.ctx.fnCache;
    if (cache.has(cacheKey)) {
      const c = cache.get(cacheKey);
      return c === undefined ? false : k(c);
    }
    if (++this.depth > this.maxDepth) throw new CocoError('REGO_LIMIT', `function calls nested deeper than ${this.maxDepth} (recursive function ${node.name}?)`, { kind: 'limit' });
    let v: Value | undefined;
    let stop = false;
    try {
      const adm = this.admission(node.funcs);
      const early = (node.earlyExit ??= earlyExitOf(node.funcs));
      const first = (x: Value): boolean => {
        v = x;
        cache.set(cacheKey, x);
        stop = this.unnested(() => k(x));
        return true;
      };
      for (const rule of node.funcs) {
        const frame: Array<Value | undefined> = new Array(rule.nslots);
        this.bindItems(rule.params!, args, 0, frame, () =>
          this.ruleValues(
            rule,
            (x) => {
              if (v === undefined) return first(x);
              if (!equal(v, x)) throw evalError('eval_conflict_error', rule.loc, 'functions must not produce multiple outputs for same inputs');
              return true;
            },
            frame,
            adm,
            early,
          ),
        );
        if (stop || (early && v !== undefined)) break;
      }
      if (v === undefined && node.defaultFunc) this.defaultValue(node.defaultFunc, early, first);
      if (v === undefined) cache.set(cacheKey, undefined);
    } catch (e) {
      cache.delete(cacheKey);
      throw e;
    } finally {
      this.depth--;
    }
    return stop;
  }
}

const slotNames = new WeakMap<CLit, Array<[number, string]>>();

interface VarRow {
  slot: number;
  name: string;
  written: string;
  loc: Loc | undefined;
}
const bodyVars = new WeakMap<CLit[], VarRow[]>();
/** A function body's parameters: bound when the body is entered. */
const bodyParams = new WeakMap<CLit[], CTerm[]>();

/**
 * The variables of a body (its parameters first, then its expressions, not the bodies nested in them), each
 * by the name opa's compiler gives it: a declared variable's generated name, found where it is declared.
 */
function varRows(lits: CLit[], names: Locals): VarRow[] {
  const rows = new Map<number, VarRow>();
  const seen = new Set<object>();
  const visit = (x: unknown): void => {
    if (x === null || typeof x !== 'object' || seen.has(x)) return;
    seen.add(x);
    const o = x as Record<string, unknown>;
    if (o['t'] === 'var' && typeof o['slot'] === 'number') {
      const t = o as unknown as Extract<CTerm, { t: 'var' }>;
      if (t.name.startsWith('$') || t.name === '_') return;
      const declared = t.loc === undefined ? undefined : names.get(`decl:${refKey(t.loc)}`);
      const row = rows.get(t.slot);
      if (row === undefined) rows.set(t.slot, { slot: t.slot, name: declared ?? t.name, written: t.name, loc: t.loc });
      else if (declared !== undefined && row.name === row.written) Object.assign(row, { name: declared, loc: t.loc });
      return;
    }
    if (o['t'] === 'arraycompr' || o['t'] === 'setcompr' || o['t'] === 'objectcompr') return;
    for (const [k, v] of Object.entries(o)) {
      if ((k === 'fn' && o['t'] === 'call') || k === 'body' || k === 'a' && o['k'] === 'logic' || k === 'b' && o['k'] === 'logic' || k === 'loc') continue;
      if (typeof v === 'object') visit(v);
    }
  };
  for (const p of bodyParams.get(lits) ?? []) visit(p);
  for (const l of lits) visit(l.expr);
  return [...rows.values()];
}
const trueBodies = new WeakMap<Loc, CLit[]>();
const headLits = new WeakMap<CTerm, CLit>();

/**
 * A partial set (`q contains x`) or object (`p[k] := v`) node whose rules' keys are patterns a known key can be
 * bound to (variables, constants, arrays and objects of them).
 */
function keyedNode(node: RuleNode): boolean {
  if (node.children.size > 0 || node.defaultRule || node.rules.length === 0) return false;
  return node.rules.every((r) => (r.kind === 'multi' && r.rest.length === 0 && isPattern(r.key!)) || (r.kind === 'object' && r.rest.length === 1 && isPattern(r.rest[0]!)));
}

function isPattern(t: CTerm): boolean {
  switch (t.t) {
    case 'var':
    case 'const':
      return true;
    case 'array':
      return t.items.every(isPattern);
    case 'object':
      return t.entries.every(([k, v]) => k.t === 'const' && isPattern(v));
    default:
      return false;
  }
}

/** Only complete definitions and no children. */
function simpleNode(node: RuleNode): boolean {
  return node.children.size === 0 && node.rules.every((r) => r.kind === 'complete');
}

/** OPA's index "early exit": every rule is complete, without `else`, and gives one and the same constant. */
function earlyExitOf(rules: CRule[]): boolean {
  const first = rules[0];
  if (!first || first.value.t !== 'const') return false;
  const v = first.value.v;
  return rules.every((r) => (r.kind === 'complete' || r.kind === 'func') && r.elseChain.length === 0 && r.value.t === 'const' && equal(r.value.v, v));
}

function ruleNode(rule: CRule): TraceNode {
  return { kind: 'rule', text: rule.node.name, rule };
}

/** A default rule's body, as OPA gives it one: `true`. */
function trueBody(loc: Loc): CLit[] {
  let b = trueBodies.get(loc);
  if (!b) trueBodies.set(loc, (b = [{ negated: false, expr: { k: 'true' }, withs: [], notBody: undefined, notScope: 0, loc, text: 'true' }]));
  return b;
}

/** A top-level query expression as opa shows it: a captured value is `<term> = _`. */
function topText(l: CLit): string {
  if (capturesValue(l)) return `${litText(l)} = _`;
  if (capturesCall(l)) {
    const t = l.expr.k === 'term' && l.expr.term.t === 'call' ? l.expr.term : undefined;
    return `${t!.fn.name}(${[...t!.args.map(opaTermText), '_'].join(', ')})${litText(l).slice(exprText(l).length)}`;
  }
  return litText(l);
}

/** A top-level call without its output argument: opa's query rewriting captures its value (`f(x, _)`). */
function capturesCall(l: CLit): boolean {
  return !l.negated && !l.notBody && l.expr.k === 'term' && l.expr.term.t === 'call' && l.expr.term.out === undefined;
}

function isFnRef(v: unknown): v is FnRef {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof RObject) && !(v instanceof RSet) && 'kind' in v;
}

function dedupe(vs: Value[]): Value[] {
  const seen = new Set<string>();
  return vs.filter((v) => {
    const k = keyOf(v);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** `v[key]` for arrays (integer index), objects and sets (membership); undefined otherwise. */
export function index(v: Value, key: Value): Value | undefined {
  if (Array.isArray(v)) {
    if (typeof key !== 'number' || !Number.isInteger(key) || key < 0 || key >= v.length) return undefined;
    return v[key];
  }
  if (v instanceof RObject) return v.get(key);
  if (v instanceof RSet) return v.has(key) ? key : undefined;
  return undefined;
}

/** A copy of `doc` with `value` at `path`, creating objects on the way (`with input.a.b as …`). */
export function setIn(doc: Value | undefined, path: Value[], value: Value): Value {
  if (path.length === 0) return value;
  const o = doc instanceof RObject ? doc.copy() : new RObject();
  const [h, ...rest] = path;
  o.set(h!, setIn(o.get(h!), rest, value));
  return o;
}

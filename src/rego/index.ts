/**
 * The cocokit Rego engine: a pure-TypeScript implementation of OPA's policy language (specs/rego.md), split
 * like microsoft/regorus — lexer → parser → compiler → evaluator, values in value.ts, builtins by namespace.
 *
 * ```ts
 * const engine = new Engine();
 * engine.addPolicy('policy.rego', text);            // Rego v1 unless { regoVersion: 'v0' }
 * engine.addData({ reference: {...} });
 * engine.setInput(claims);
 * engine.evalRule('data.policy.allow');              // plain JSON value, or undefined
 * engine.evalQuery('data.policy.allow == true');     // OPA-shaped { result: [...] }
 * const prepared = engine.prepare();                 // parse + compile once, evaluate many times
 * prepared.evalRule('data.policy.allow', { input });
 * ```
 * All failures are CocoErrors: REGO_PARSE, REGO_COMPILE, REGO_EVAL_CONFLICT, REGO_BUILTIN, REGO_EVAL_TYPE,
 * REGO_LIMIT, … with `detail` carrying OPA's code (`opaCode`) and the position.
 */
import { CocoError } from '../errors.js';
import type { Module, RegoVersion } from './ast.js';
import { BUILTINS } from './builtins/index.js';
import type { BuiltinDef } from './builtins/registry.js';
import type { CQuery, RuleNode } from './compiled.js';
import type { Explanation } from './explain.js';
import { Compiler } from './compiler.js';
import { Evaluator, Suspend, type Tracer } from './evaluator.js';
import { ExplainTracer } from './explain.js';
import { applyJsonPatch } from './json-patch.js';

const STANDARD: ReadonlyMap<string, BuiltinDef> = BUILTINS;
import { parseModule, parseQuery, parseTerm } from './parser.js';
import { Profiler } from './profile.js';
import type { TraceEvent } from './trace.js';
import { type Value, RObject, fromJs, fromJson, keyOf, toJs, toRegoString } from './value.js';

export type { Value } from './value.js';
export type { BuiltinDef, BuiltinContext } from './builtins/registry.js';
export { BuiltinError, typeError, builtinError } from './builtins/registry.js';
export { BigNum, fromJs, fromJson, numText, toJs, toJsonText, parseJsonValue, toRegoString } from './value.js';
export { applyJsonPatch, parsePointer, type JsonPatchOperation, type JsonValue } from './json-patch.js';
export { parseModule } from './parser.js';
export { Profiler, PROFILE_SORTS, type ProfileSort, type ExprStats, goDuration } from './profile.js';
export { EXPLAIN_MODES, type ExplainMode, type TraceEvent, filterTrace, prettyTrace, traceJson } from './trace.js';

export interface EngineOptions {
  /** Strict built-in errors: a failing builtin halts evaluation instead of making the call undefined. */
  strict?: boolean;
  /** Collect `print` output (default true). */
  printing?: boolean;
  /** Experimental keywords (`future.keywords.and` / `.or`). */
  experimental?: boolean;
  /** Injected clock for `time.now_ns` (ns since the epoch). */
  now?: () => bigint;
  /** Injected randomness in [0, 1). */
  random?: () => number;
  env?: Record<string, string>;
  /** Upper bound on evaluation steps per query (default 50 million). */
  maxSteps?: number;
  /** OPA's strict compiler checks (unused assignments/arguments/imports, duplicate imports, deprecated builtins). */
  strictCompile?: boolean;
  /**
   * OPA's `undefined ref` type errors: a reference into a rule or local value whose type cannot have the
   * key (`q := {"a": 1}` then `q.b`) is refused at compile time (default true).
   */
  refChecks?: boolean;
}

export interface PolicyOptions {
  regoVersion?: RegoVersion;
}

export interface QueryResult {
  result: Array<{ expressions: Array<{ value: unknown; text: string; location: { row: number; col: number } }>; bindings: Record<string, unknown> }>;
}

export type { BodyExplanation, Explanation } from './explain.js';

/** A parsed and compiled policy set: evaluate it any number of times without re-parsing. */
export class PreparedPolicy {
  private readonly queries = new Map<string, CQuery>();
  private readonly paths = new Map<string, Value[]>();

  constructor(
    private readonly compiler: Compiler,
    private readonly builtins: ReadonlyMap<string, BuiltinDef>,
    private data: Value,
    private readonly options: EngineOptions,
  ) {}

  /** The `data` document evaluations use when none is passed (base documents only, no rules). */
  dataDocument(): Value {
    return this.data;
  }

  /**
   * Applies an RFC 6902 JSON Patch to this policy's `data` document, as the Kata agent does with a decision's
   * `ops` (specs/rego.md §3.4: serialize data → patch → replace data). Atomic: on a CocoError
   * `REGO_JSON_PATCH` (or `REGO_DATA` when the result is not an object) the data is unchanged. Compiled
   * rules are kept; later evaluations see the new data.
   */
  patchData(ops: unknown): void {
    this.data = patchedData(this.data, ops);
  }

  /** Replaces the `data` document (an object) without recompiling. */
  replaceData(data: Value): void {
    if (!(data instanceof RObject)) throw new CocoError('REGO_DATA', 'data must be a JSON object', { kind: 'usage' });
    this.data = data;
  }

  private evaluator(input: Value | undefined, prints: string[] | undefined, data?: Value, trace?: Tracer, resolved?: Map<string, Value | undefined>, profiler?: Profiler, events?: TraceEvent[]): Evaluator {
    return new Evaluator(this.compiler.root, {
      events,
      names: events ? this.compiler.localNames : undefined,
      profiler,
      resolved,
      input,
      data: data ?? this.data,
      strict: this.options.strict ?? false,
      prints,
      now: this.options.now ?? (() => BigInt(Date.now()) * 1_000_000n),
      random: this.options.random ?? Math.random,
      env: this.options.env ?? {},
      maxSteps: this.options.maxSteps,
      trace,
    });
  }

  /** The Rego value of `data.a.b.c` (a rule or any document), or undefined. */
  evalRuleValue(path: string, opts: { input?: Value; data?: Value; prints?: string[] } = {}): Value | undefined {
    let p = this.paths.get(path);
    if (!p) this.paths.set(path, (p = rulePath(path)));
    return this.evaluator(opts.input, opts.prints, opts.data).document(p);
  }

  /**
   * `evalRuleValue` for policies that call asynchronous host builtins (`Engine.addAsyncBuiltin`): each
   * pending call is awaited and the evaluation restarted with its result, at most `maxCalls` times.
   */
  async evalRuleValueAsync(path: string, opts: { input?: Value; data?: Value; prints?: string[]; maxCalls?: number } = {}): Promise<Value | undefined> {
    let p = this.paths.get(path);
    if (!p) this.paths.set(path, (p = rulePath(path)));
    const resolved = new Map<string, Value | undefined>();
    const max = opts.maxCalls ?? 1000;
    for (let i = 0; i <= max; i++) {
      const prints: string[] = [];
      try {
        const v = this.evaluator(opts.input, opts.prints ? prints : undefined, opts.data, undefined, resolved).document(p);
        opts.prints?.push(...prints);
        return v;
      } catch (e) {
        if (!(e instanceof Suspend)) throw e;
        resolved.set(e.key, await e.run());
      }
    }
    throw new CocoError('REGO_LIMIT', `more than ${max} asynchronous builtin calls`, { kind: 'limit' });
  }

  /** Like `evalRule`, for policies with asynchronous host builtins. */
  async evalRuleAsync(path: string, opts: { input?: unknown; prints?: string[] } = {}): Promise<unknown> {
    const v = await this.evalRuleValueAsync(path, { input: opts.input === undefined ? undefined : fromJs(opts.input), prints: opts.prints });
    return v === undefined ? undefined : toJs(v);
  }

  /** Like `evalRuleValue` with plain JSON in and out (sets become arrays). */
  evalRule(path: string, opts: { input?: unknown; prints?: string[] } = {}): unknown {
    const v = this.evalRuleValue(path, { input: opts.input === undefined ? undefined : fromJs(opts.input), prints: opts.prints });
    return v === undefined ? undefined : toJs(v);
  }

  /**
   * Several rules of one package over one input, as one evaluation: the input is converted once and a rule
   * both depend on is computed once. Each answer is plain JSON, or undefined, in the order of `paths`.
   */
  evalRules(paths: readonly string[], opts: { input?: unknown } = {}): unknown[] {
    const ev = this.evaluator(opts.input === undefined ? undefined : fromJs(opts.input), undefined);
    return paths.map((path) => {
      let p = this.paths.get(path);
      if (!p) this.paths.set(path, (p = rulePath(path)));
      const v = ev.document(p);
      return v === undefined ? undefined : toJs(v);
    });
  }

  /** Compiles (and caches) a query. */
  compileQuery(text: string, version: RegoVersion = 'v1'): CQuery {
    const key = version === 'v1' ? text : `${version}\0${text}`;
    let q = this.queries.get(key);
    if (!q) {
      q = this.compiler.compileQuery(parseQuery(text, { version, experimental: this.options.experimental }), [], text);
      this.queries.set(key, q);
    }
    return q;
  }

  /** All result rows of a query, as Rego values. */
  queryRows(text: string, opts: { input?: Value; prints?: string[]; version?: RegoVersion } = {}): Array<Map<string, Value>> {
    const q = this.compileQuery(text, opts.version);
    return this.evaluator(opts.input, opts.prints).query(q);
  }

  /**
   * OPA-shaped query result: expression values (`true` for non-term expressions) and bindings. `events`, when
   * given, receives the evaluation's trace as opa's tracer reports it (trace.ts), also when evaluation fails.
   */
  evalQuery(text: string, opts: { input?: Value; prints?: string[]; version?: RegoVersion; profiler?: Profiler; events?: TraceEvent[] } = {}): QueryResult {
    const q = this.compileQuery(text, opts.version);
    const ev = this.evaluator(opts.input, opts.prints, undefined, undefined, undefined, opts.profiler, opts.events);
    const rows = ev.queryWithExpressions(q);
    return {
      result: rows.map(({ bindings, values }) => ({
        expressions: q.body.map((lit, i) => ({
          value: toJs(values[i] ?? true),
          text: lit.text,
          location: { row: lit.loc.row, col: lit.loc.col },
        })),
        bindings: Object.fromEntries([...bindings].map(([k, v]) => [k, toJs(v)])),
      })),
    };
  }

  /**
   * Explains the value of a rule: for every body (and `else` branch) evaluated, whether it succeeded and,
   * if not, the first literal that failed with the values of its variables at that point.
   */
  explain(path: string, opts: { input?: Value; data?: Value } = {}): Explanation {
    const tracer = new ExplainTracer();
    const ev = this.evaluator(opts.input, undefined, opts.data, tracer);
    tracer.peek = (t, f) => ev.peek(t, f);
    const v = ev.document(rulePath(path));
    return { query: path, value: v === undefined ? undefined : toJs(v), defined: v !== undefined, bodies: tracer.result() };
  }

  /** Names of builtins available (for diagnostics). */
  builtinNames(): string[] {
    return [...this.builtins.keys()].sort();
  }
}

function patchedData(data: Value, ops: unknown): RObject {
  const out = fromJson(applyJsonPatch(toJs(data), ops));
  if (!(out instanceof RObject)) throw new CocoError('REGO_DATA', 'a JSON patch of data must leave an object at the root', { kind: 'input' });
  return out;
}

/** `data.a.b["c"]` → ['a', 'b', 'c']. */
function rulePath(path: string): Value[] {
  const t = parseTerm(path, { version: 'v1' }, 'rule path');
  const out: Value[] = [];
  if (t.type === 'var' && t.name === 'data') return out;
  if (t.type !== 'ref' || t.head.type !== 'var' || t.head.name !== 'data') {
    throw new CocoError('REGO_RULE_PATH', `not a valid rule path: ${path} (must start with data.)`, { kind: 'usage' });
  }
  for (const p of t.path) {
    if (p.type !== 'scalar') throw new CocoError('REGO_RULE_PATH', `not a valid rule path: ${path}`, { kind: 'usage' });
    out.push(p.value);
  }
  return out;
}

/** The mutable front end: collects policies, data, input and custom builtins; compiles on demand. */
export class Engine {
  private readonly modules: Module[] = [];
  private data = new RObject();
  private input: Value | undefined;
  private readonly custom = new Map<string, BuiltinDef>();
  private prepared: PreparedPolicy | undefined;
  private prints: string[] = [];

  constructor(private readonly options: EngineOptions = {}) {}

  /** Parses a policy module; syntax errors throw REGO_PARSE immediately. */
  addPolicy(name: string, text: string, opts: PolicyOptions = {}): string[] {
    const m = parseModule(text, name, { version: opts.regoVersion ?? 'v1', experimental: this.options.experimental });
    this.modules.push(m);
    this.prepared = undefined;
    return m.package;
  }

  /** Merges a JSON document into `data` (objects merge recursively; other values replace). */
  addData(json: unknown): void {
    const v = json instanceof RObject ? json : fromJs(json);
    if (!(v instanceof RObject)) throw new CocoError('REGO_DATA', 'data must be a JSON object', { kind: 'usage' });
    this.data = mergeObjects(this.data, v);
    this.prepared = undefined;
  }

  /**
   * Applies an RFC 6902 JSON Patch to the whole `data` document (the Kata agent's `ops`, specs/rego.md §3.4).
   * Atomic: a failing patch throws CocoError `REGO_JSON_PATCH` and leaves data unchanged. A prepared form
   * is updated in place rather than recompiled.
   */
  patchData(ops: unknown): void {
    this.data = patchedData(this.data, ops);
    this.prepared?.replaceData(this.data);
  }

  /** The current `data` document (base documents added with addData / patchData) as plain JSON. */
  dataJson(): unknown {
    return toJs(this.data);
  }

  setInput(json: unknown): void {
    this.input = json === undefined ? undefined : fromJs(json);
  }

  setInputValue(v: Value | undefined): void {
    this.input = v;
  }

  /** Registers a host builtin (e.g. Trustee's `query_reference_value/1`); it may shadow a standard one. */
  addBuiltin(def: BuiltinDef): void {
    this.custom.set(def.name, def);
    this.prepared = undefined;
  }

  /**
   * Registers an asynchronous host builtin (e.g. `query_reference_value` backed by a database). Policies that
   * call it must be evaluated with the async API (`evalRuleAsync`); results are memoised per evaluation.
   */
  addAsyncBuiltin(name: string, arity: number, fn: (args: Value[]) => Promise<Value | undefined>): void {
    this.addBuiltin({
      name,
      arity,
      fn: (args, ctx) => {
        const key = name + '\u0000' + keyOf(args);
        if (ctx.resolved?.has(key)) return ctx.resolved.get(key);
        throw new Suspend(key, () => fn(args));
      },
    });
  }

  async evalRuleAsync(path: string): Promise<unknown> {
    return this.prepare().evalRuleAsync(path, { input: this.input === undefined ? undefined : toJs(this.input), prints: this.printSink() });
  }

  /** Parses and compiles everything added so far (cached until something changes). */
  prepare(): PreparedPolicy {
    if (!this.prepared) {
      const builtins = this.custom.size === 0 ? STANDARD : new Map([...STANDARD, ...this.custom]);
      const compiler = new Compiler(builtins, this.options.strictCompile ?? false, this.options.refChecks ?? true);
      compiler.compile(this.modules);
      this.prepared = new PreparedPolicy(compiler, builtins, this.data, this.options);
    }
    return this.prepared;
  }

  evalRule(path: string): unknown {
    return this.prepare().evalRule(path, { input: this.input === undefined ? undefined : toJs(this.input), prints: this.printSink() });
  }

  evalRuleValue(path: string): Value | undefined {
    return this.prepare().evalRuleValue(path, { input: this.input, prints: this.printSink() });
  }

  evalQuery(text: string, version: RegoVersion = 'v1', profiler?: Profiler, events?: TraceEvent[]): QueryResult {
    return this.prepare().evalQuery(text, { input: this.input, prints: this.printSink(), version, profiler, events });
  }

  queryRows(text: string, version: RegoVersion = 'v1'): Array<Map<string, Value>> {
    return this.prepare().queryRows(text, { input: this.input, prints: this.printSink(), version });
  }

  explain(path: string): Explanation {
    return this.prepare().explain(path, { input: this.input });
  }

  /** The `print` lines gathered since the last call (`file:row: text`). */
  takePrints(): string[] {
    const p = this.prints;
    this.prints = [];
    return p;
  }

  private printSink(): string[] | undefined {
    return this.options.printing === false ? undefined : this.prints;
  }

  /** The package paths of the policies added (for diagnostics). */
  packages(): string[] {
    return this.modules.map((m) => 'data.' + m.package.join('.'));
  }
}

function mergeObjects(a: RObject, b: RObject): RObject {
  const out = a.copy();
  for (const [k, v] of b.entries()) {
    const cur = out.get(k);
    out.set(k, cur instanceof RObject && v instanceof RObject ? mergeObjects(cur, v) : v);
  }
  return out;
}

export type { RuleNode };
export { toRegoString as formatValue };

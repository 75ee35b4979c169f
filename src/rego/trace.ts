/**
 * `--explain`: the evaluator's trace events as OPA's tracer reports them (opa:v1/topdown/trace.go): each query
 * (the top-level query, a rule body, a comprehension or negation body) has an id and its parent's id; within
 * it, `Enter` when it starts, `Eval` before each expression, `Fail` when an expression has no (more) solution,
 * `Redo` when evaluation backtracks into an expression or query, `Exit` for each solution of a query, `Index`
 * when a reference reaches a rule (how many rules the index matched), `Note` for `trace(msg)`.
 *
 * The filters follow OPA's lineage package (full, fails, notes); the text is PrettyTraceWithLocation's, the
 * JSON the Go encoding of `[]*topdown.Event` that `opa eval --format json` prints under `explanation`.
 */
import type { CLit, CRule, CTerm } from './compiled.js';
import { goQuote } from './builtins/sprintf.js';
import { type Value, RObject, RSet, compare, numText, toJs, typeName, BigNum } from './value.js';

export type TraceOp = 'Enter' | 'Exit' | 'Eval' | 'Redo' | 'Fail' | 'Note' | 'Index' | 'Duplicate';

/** What an event is about: an expression, a query body, or a rule. */
export type TraceNode =
  | { kind: 'expr'; text: string; lit: CLit | undefined; index: number }
  | { kind: 'body'; text: string; lits: CLit[] }
  | { kind: 'rule'; text: string; rule: CRule | undefined };

export interface TraceEvent {
  op: TraceOp;
  queryId: number;
  parentId: number;
  node: TraceNode | undefined;
  /** Undefined for a Note made outside any expression. `file` is '' for the query. */
  location: { file: string; row: number; col: number } | undefined;
  message: string;
  /** The rule reference of an Index event. */
  ref: string | undefined;
  /**
   * The variables bound at the event: name, value and, when the name is the compiler's (`__local0__`), the
   * written name and where the variable is declared (for `LocalMetadata`).
   */
  locals: Array<[name: string, value: Value, written?: string, loc?: { file: string; row: number; col: number }]>;
}

/** `opa eval --explain` modes, in opa's order; debug also keeps Unify events, which this evaluator does not make. */
export const EXPLAIN_MODES = ['off', 'full', 'notes', 'fails', 'debug'] as const;
export type ExplainMode = (typeof EXPLAIN_MODES)[number];

// ------------------------------------------------------------------------------------------ node texts

const litTextCache = new WeakMap<CLit, string>();

/**
 * An expression as OPA prints it in a trace: calls in call form (`equal(input.x, 1)`, `count(xs, __local1__)`,
 * `internal.member_2(x, xs)`), `x = 1` for `x := 1` and `x = 1`, `not …`, `… with … as …`.
 */
export function litText(l: CLit): string {
  let s = litTextCache.get(l);
  if (s === undefined) litTextCache.set(l, (s = computeLitText(l)));
  return s;
}

function computeLitText(l: CLit): string {
  let s: string;
  if (l.notBody) s = 'not ' + l.notBody.map(litText).join('; ');
  else {
    s = exprText(l);
    if (l.negated) s = 'not ' + s;
  }
  for (const w of l.withs) {
    const t = w.target;
    const target = t.kind === 'fn' ? t.name : [t.kind, ...t.path.map((p) => (typeof p === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(p) ? p : `[${JSON.stringify(p)}]`))].join('.').replace(/\.\[/g, '[');
    s += ` with ${target} as ${w.value.kind === 'fn' ? w.value.fn.name : opaTermText(w.value.term)}`;
  }
  return s;
}

/** The expression of a literal without its `not` and `with` parts. */
export function exprText(l: CLit): string {
  const e = l.expr;
  switch (e.k) {
    case 'term': {
      const t = e.term;
      if (t.t === 'call' && t.out) return `${t.fn.name}(${[...t.args, t.out].map(opaTermText).join(', ')})`;
      return opaTermText(t);
    }
    case 'unify':
      return `${opaTermText(e.a)} = ${opaTermText(e.b)}`;
    case 'somein':
      return e.key ? `internal.member_3(${opaTermText(e.key)}, ${opaTermText(e.value)}, ${opaTermText(e.coll)})` : `internal.member_2(${opaTermText(e.value)}, ${opaTermText(e.coll)})`;
    case 'every':
      return `every ${e.key ? opaTermText(e.key) + ', ' : ''}${opaTermText(e.value)} in ${opaTermText(e.domain)} { ${e.body.map(litText).join('; ')} }`;
    case 'logic':
      return `${e.a.map(litText).join('; ')} ${e.op} ${e.b.map(litText).join('; ')}`;
    case 'true':
      return 'true';
  }
}

/** How `printTerm` shows the parts where its callers differ: constants, calls, comprehension bodies, templates. */
export interface TermStyle {
  value(v: Value): string;
  call(name: string, args: CTerm[], text: (t: CTerm) => string): string;
  body(lits: CLit[]): string;
  template(parts: Array<string | CTerm>, text: (t: CTerm) => string): string;
}

/** A compiled term as text: references, collections and comprehensions laid out once, the rest by `style`. */
export function printTerm(t: CTerm, style: TermStyle): string {
  const text = (x: CTerm): string => printTerm(x, style);
  switch (t.t) {
    case 'const':
      return style.value(t.v);
    case 'var':
      return t.name;
    case 'root':
      return t.root;
    case 'ref': {
      let s = text(t.head);
      for (const p of t.path) {
        if (p.t === 'const' && typeof p.v === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(p.v)) s += '.' + p.v;
        else s += '[' + text(p) + ']';
      }
      return s;
    }
    case 'array':
      return '[' + t.items.map(text).join(', ') + ']';
    case 'set':
      return t.items.length === 0 ? 'set()' : '{' + t.items.map(text).join(', ') + '}';
    case 'object':
      return '{' + t.entries.map(([k, v]) => text(k) + ': ' + text(v)).join(', ') + '}';
    case 'call':
      return style.call(t.fn.name, t.args, text);
    case 'print':
      return `print(${t.args.map(text).join(', ')})`;
    case 'arraycompr':
      return `[${text(t.term)} | ${style.body(t.body)}]`;
    case 'setcompr':
      return `{${text(t.term)} | ${style.body(t.body)}}`;
    case 'objectcompr':
      return `{${text(t.key)}: ${text(t.value)} | ${style.body(t.body)}}`;
    case 'template':
      return style.template(t.parts, text);
  }
}

const OPA_STYLE: TermStyle = {
  value: (v) => opaValueText(v),
  call: (name, args, text) => `${name}(${args.map(text).join(', ')})`,
  body: (lits) => lits.map(litText).join('; '),
  template: (parts, text) => '$"' + parts.map((p) => (typeof p === 'string' ? p : `{${text(p)}}`)).join('') + '"',
};

/** A compiled term as OPA's AST prints it (ast.Term String): calls in call form, strings as Go quotes them. */
export function opaTermText(t: CTerm): string {
  return printTerm(t, OPA_STYLE);
}

/** A value as OPA's AST prints it: strings Go-quoted, object keys and set members in OPA's order. */
function opaValueText(v: Value): string {
  if (typeof v === 'string') return goQuote(v);
  if (typeof v === 'number' || typeof v === 'bigint') return numText(v);
  if (v instanceof BigNum) return v.text;
  if (v === null || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return '[' + v.map(opaValueText).join(', ') + ']';
  if (v instanceof RSet) return v.size === 0 ? 'set()' : '{' + [...v.values()].sort(compare).map(opaValueText).join(', ') + '}';
  return '{' + [...v.entries()].sort(([a], [b]) => compare(a, b)).map(([k, x]) => opaValueText(k) + ': ' + opaValueText(x)).join(', ') + '}';
}

/** A top-level query expression whose value opa captures: `data.p` is evaluated as `data.p = _`. */
export function capturesValue(l: CLit): boolean {
  return !l.negated && !l.notBody && l.expr.k === 'term' && l.expr.term.t !== 'call';
}

/**
 * A query that iterates as opa eval's rewriting sees it (rego.go iteration): a reference with a variable key
 * outside any comprehension.
 */
export function iterates(lits: readonly CLit[]): boolean {
  const term = (t: CTerm): boolean => {
    switch (t.t) {
      case 'ref':
        return t.path.some((p) => p.t === 'var') || term(t.head) || t.path.some(term);
      case 'array':
      case 'set':
        return t.items.some(term);
      case 'object':
        return t.entries.some(([k, v]) => term(k) || term(v));
      case 'call':
        return t.args.some(term) || (t.out !== undefined && term(t.out));
      default:
        return false;
    }
  };
  return lits.some((l) => {
    const e = l.expr;
    if (l.notBody) return iterates(l.notBody);
    switch (e.k) {
      case 'term':
        return term(e.term);
      case 'unify':
        return term(e.a) || term(e.b);
      case 'somein':
        // `some x in xs` is `x = xs[k]` with a generated key by then.
        return true;
      case 'every':
        return term(e.domain) || iterates(e.body);
      default:
        return false;
    }
  });
}

// ------------------------------------------------------------------------------------------ filters

/** OPA's lineage.Filter: each kept event preceded by the Enter/Redo events of the queries that lead to it. */
function lineage(events: readonly TraceEvent[], keep: (e: TraceEvent) => boolean): TraceEvent[] {
  const out: TraceEvent[] = [];
  let qids = new Map<number, TraceEvent>();
  for (const e of events) {
    if (keep(e)) {
      const path = [e];
      let curr = qids.get(e.queryId);
      let prev: TraceEvent | undefined;
      while (curr !== undefined && curr !== prev) {
        path.push(curr);
        prev = curr;
        curr = qids.get(curr.parentId);
      }
      for (let i = path.length - 1; i >= 0; i--) out.push(path[i]!);
      qids = new Map();
    }
    if ((e.op === 'Enter' || e.op === 'Redo') && (e.node?.kind === 'rule' || e.node?.kind === 'body')) qids.set(e.queryId, e);
  }
  return out;
}

/** The events `--explain=<mode>` shows: full and debug (all), fails (the chains to each Fail), notes (to each Note). */
export function filterTrace(events: readonly TraceEvent[], mode: Exclude<ExplainMode, 'off'>): TraceEvent[] {
  if (mode === 'full' || mode === 'debug') return events.slice();
  const op = mode === 'fails' ? 'Fail' : 'Note';
  return lineage(events, (e) => e.op === op);
}

// ------------------------------------------------------------------------------------------ pretty text

const MIN_LOCATION_WIDTH = 5; // "query"
const MAX_IDEAL_LOCATION_WIDTH = 64;
const COLUMN_PADDING = 4;

/** PrettyTraceWithLocation: a location column (`file:row`, `query:row`), then the event indented by depth. */
export function prettyTrace(events: readonly TraceEvent[]): string {
  const aliases = shortenedFileNames(events);
  const depths = new Map<number, number>();
  const rows: Array<[string, string]> = [];
  for (const e of events) {
    let depth = depths.get(e.queryId) ?? 0;
    if (depth === 0) {
      depth = (depths.get(e.parentId) ?? 0) + 1;
      depths.set(e.queryId, depth);
    }
    const loc = e.location === undefined ? '' : e.location.file === '' ? `query:${e.location.row}` : `${aliases.get(e.location.file) ?? e.location.file}:${e.location.row}`;
    rows.push([loc, eventText(e, depth)]);
  }
  const width = Math.max(0, ...rows.map(([l]) => l.length)) + COLUMN_PADDING;
  return rows.map(([l, t]) => l.padEnd(width) + ' ' + t + '\n').join('');
}

function eventText(e: TraceEvent, depth: number): string {
  const spaces = e.op === 'Enter' || (e.op === 'Redo' && e.node?.kind !== 'expr') ? depth : depth + 1;
  const pad = spaces > 1 ? '| '.repeat(spaces - 1) : '';
  if (e.op === 'Note') return `${pad}Note ${goQuote(e.message)}`;
  const details = e.ref ?? e.node?.text ?? '';
  return `${pad}${e.op} ${details}${e.message !== '' ? ' ' + e.message : ''}`;
}

/**
 * File names as the location column shows them (OPA's getShortenedFileNames and internal/strings
 * TruncateFilePaths): whole, unless the longest location is wider than 64 characters; then the longest
 * directory part the files share (after their first directory) is cut to what brings the column to that width,
 * favouring the right-hand end, and replaced by `...`.
 */
function shortenedFileNames(events: readonly TraceEvent[]): Map<string, string> {
  const files = new Map<string, string>();
  let longest = 0;
  for (const e of events) {
    const l = e.location;
    if (!l) continue;
    if (l.file !== '') {
      longest = Math.max(longest, l.file.length + String(l.row).length + 1);
      files.set(l.file, l.file);
    } else longest = Math.max(longest, MIN_LOCATION_WIDTH + String(l.row).length + 1);
  }
  if (files.size === 0 || longest <= MAX_IDEAL_LOCATION_WIDTH) return files;
  let common = longestCommonSubstring([...files.keys()].map(afterFirstDirectory));
  const diff = MAX_IDEAL_LOCATION_WIDTH - (longest - common.length + 3);
  if (diff > 0) common = diff > common.length ? '' : common.slice(0, common.length - diff);
  if (common.length > 3) for (const f of files.keys()) files.set(f, f.replace(common, '...'));
  return files;
}

/** The directory of a path without its first segment (`a/b/c/x.rego` → `b/c`). */
function afterFirstDirectory(path: string): string {
  const slash = path.lastIndexOf('/');
  let dir = slash < 0 ? '.' : slash === 0 ? '/' : path.slice(0, slash);
  if (dir.startsWith('/')) dir = dir.slice(1);
  const first = dir.indexOf('/');
  return first > 0 ? dir.slice(first + 1) : dir;
}

function longestCommonSubstring(xs: string[]): string {
  if (xs.length === 1) return xs[0]!;
  const [a, ...rest] = [...xs].sort((x, y) => x.length - y.length);
  for (let len = a!.length; len > 0; len--) {
    for (let i = 0; i + len <= a!.length; i++) {
      const s = a!.slice(i, i + len);
      if (rest.every((x) => x.includes(s))) return s;
    }
  }
  return '';
}

// ------------------------------------------------------------------------------------------ JSON

/** The events as Go encodes `[]*topdown.Event` (no JSON tags: the field names as declared). */
export function traceJson(events: readonly TraceEvent[]): unknown[] {
  return events.map((e) => ({
    Node: e.node === undefined ? null : nodeJson(e.node),
    Location: e.location === undefined ? null : { file: e.location.file, row: e.location.row, col: e.location.col },
    Locals: e.locals.length === 0 ? null : e.locals.map(([name, v]) => ({ name, type: typeName(v), value: (valueJson(v) as { value: unknown }).value })),
    LocalMetadata: Object.fromEntries(e.locals.map(([name, , written, loc]) => [name, { location: loc === undefined ? null : { file: loc.file === 'query' ? '' : loc.file, row: loc.row, col: loc.col }, name: written ?? name }])),
    // ast.Ref is a slice of terms: an array, not a term.
    Ref: e.ref === undefined ? null : refTextJson(e.ref).value,
    Op: e.op,
    Message: e.message,
    QueryID: e.queryId,
    ParentID: e.parentId,
  }));
}

function nodeJson(n: TraceNode): unknown {
  switch (n.kind) {
    case 'expr':
      return n.lit ? exprJson(n.lit, n.index) : { index: n.index, terms: { type: 'boolean', value: true } };
    case 'body':
      return n.lits.map((l, i) => exprJson(l, i));
    case 'rule':
      return { head: { ref: refTextJson(n.text).value }, body: n.rule ? n.rule.body.map((l, i) => exprJson(l, i)) : [] };
  }
}

function refTextJson(ref: string): { type: 'ref'; value: unknown[] } {
  const [head, ...rest] = ref.split('.');
  return { type: 'ref', value: [{ type: 'var', value: head }, ...rest.map((p) => ({ type: 'string', value: p }))] };
}

function exprJson(l: CLit, index: number): unknown {
  const e = l.expr;
  let terms: unknown;
  switch (e.k) {
    case 'term':
      terms = e.term.t === 'call' ? [refTextJson(e.term.fn.name), ...e.term.args.map(termJson), ...(e.term.out ? [termJson(e.term.out)] : [])] : termJson(e.term);
      break;
    case 'unify':
      terms = [refTextJson('eq'), termJson(e.a), termJson(e.b)];
      break;
    case 'somein':
      terms = [refTextJson(e.key ? 'internal.member_3' : 'internal.member_2'), ...(e.key ? [termJson(e.key)] : []), termJson(e.value), termJson(e.coll)];
      break;
    case 'every':
      terms = { key: e.key ? termJson(e.key) : null, value: termJson(e.value), domain: termJson(e.domain), body: e.body.map((b, i) => exprJson(b, i)) };
      break;
    case 'logic':
      terms = { type: 'string', value: l.text };
      break;
    case 'true':
      terms = { type: 'boolean', value: true };
      break;
  }
  return { ...(l.negated || l.notBody ? { negated: true } : {}), index, terms };
}

/** A compiled term as OPA's AST JSON (`{"type": …, "value": …}`). */
function termJson(t: CTerm): unknown {
  switch (t.t) {
    case 'const':
      return valueJson(t.v);
    case 'var':
      return { type: 'var', value: t.name };
    case 'root':
      return { type: 'var', value: t.root };
    case 'ref': {
      const head = termJson(t.head) as { type: string; value: unknown };
      const path = t.path.map(termJson);
      return head.type === 'ref' ? { type: 'ref', value: [...(head.value as unknown[]), ...path] } : { type: 'ref', value: [head, ...path] };
    }
    case 'array':
      return { type: 'array', value: t.items.map(termJson) };
    case 'set':
      return { type: 'set', value: t.items.map(termJson) };
    case 'object':
      return { type: 'object', value: t.entries.map(([k, v]) => [termJson(k), termJson(v)]) };
    case 'call':
      return { type: 'call', value: [refTextJson(t.fn.name), ...t.args.map(termJson)] };
    case 'arraycompr':
      return { type: 'arraycomprehension', value: { term: termJson(t.term), body: t.body.map((b, i) => exprJson(b, i)) } };
    case 'setcompr':
      return { type: 'setcomprehension', value: { term: termJson(t.term), body: t.body.map((b, i) => exprJson(b, i)) } };
    case 'objectcompr':
      return { type: 'objectcomprehension', value: { key: termJson(t.key), value: termJson(t.value), body: t.body.map((b, i) => exprJson(b, i)) } };
    case 'print':
      return { type: 'call', value: [refTextJson('print'), ...t.args.map(termJson)] };
    case 'template':
      return { type: 'templatestring', value: opaTermText(t) };
  }
}

/** A value as an AST term: scalars as themselves, composites as terms of terms. */
function valueJson(v: Value): unknown {
  if (Array.isArray(v)) return { type: 'array', value: v.map(valueJson) };
  if (v instanceof RSet) return { type: 'set', value: v.values().map(valueJson) };
  if (v instanceof RObject) return { type: 'object', value: [...v.entries()].map(([k, x]) => [valueJson(k), valueJson(x)]) };
  return { type: typeName(v), value: toJs(v) };
}

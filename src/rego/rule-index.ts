/**
 * Rule indexing (like OPA's topdown rule index, opa:v1/ast/index.go): a rule body that requires
 * `input.<const path> == <constant>` cannot succeed when that input document is undefined or different, so
 * the evaluator skips it without running its other literals. A policy such as the Kata agent's, with dozens
 * of bodies per rule name each starting with `input.kind == "…"`-style conditions, then only evaluates the
 * bodies that can match the current input.
 *
 * A guard is taken only from a top-level, non-negated literal without `with` modifiers (a `with` only changes
 * the context of its own literal, so every other literal of the body sees the input the body started with)
 * whose operands are `input` or a ref rooted at `input` with constant segments and a ground constant, joined by `==`
 * (the `equal` builtin) or `=` (unification). Rego equality is `value.ts` `equal` (1 == 1.0), which is what
 * both `equal` and unification with a constant use.
 */
import type { CLit, CRule, CTerm } from './compiled.js';
import { index } from './evaluator.js';
import { type Value, equal, keyOf } from './value.js';

export interface Guard {
  /** Index of the literal in the body (explanations report the skipped body as failed there). */
  lit: number;
  /** Constant path under `input`. */
  path: Value[];
  value: Value;
  /** The literal calls the `equal` builtin (which a `with equal as …` mock would replace). */
  viaEqual: boolean;
}

const cache = new WeakMap<CLit[], Guard[]>();

/** The guards of a compiled body (computed once per body). */
export function guardsOf(lits: CLit[]): Guard[] {
  let g = cache.get(lits);
  if (!g) cache.set(lits, (g = findGuards(lits)));
  return g;
}

function findGuards(lits: CLit[]): Guard[] {
  const out: Guard[] = [];
  lits.forEach((l, i) => {
    if (l.negated || l.notBody || l.withs.length > 0) return;
    const e = l.expr;
    let a: CTerm;
    let b: CTerm;
    let viaEqual = false;
    if (e.k === 'unify') {
      a = e.a;
      b = e.b;
    } else if (e.k === 'term' && e.term.t === 'call' && e.term.fn.kind === 'builtin' && e.term.fn.name === 'equal' && !e.term.out && e.term.args.length === 2) {
      a = e.term.args[0]!;
      b = e.term.args[1]!;
      viaEqual = true;
    } else return;
    const g = guardOf(a, b) ?? guardOf(b, a);
    if (g) out.push({ lit: i, path: g.path, value: g.value, viaEqual });
  });
  return out;
}

function guardOf(ref: CTerm, c: CTerm): { path: Value[]; value: Value } | undefined {
  if (c.t !== 'const') return undefined;
  if (ref.t === 'root' && ref.root === 'input') return { path: [], value: c.v };
  if (ref.t !== 'ref' || ref.head.t !== 'root' || ref.head.root !== 'input') return undefined;
  const path: Value[] = [];
  for (const seg of ref.path) {
    if (seg.t !== 'const') return undefined;
    path.push(seg.v);
  }
  return { path, value: c.v };
}

/**
 * The first guard of `guards` that `input` fails (its document is undefined or unequal), or undefined when
 * the body may match. Guards through `equal` are ignored when that builtin is mocked.
 */
export function failedGuard(guards: Guard[], input: Value | undefined, equalMocked: boolean): Guard | undefined {
  for (const g of guards) {
    if (equalMocked && g.viaEqual) continue;
    if (input === undefined) return g;
    let v: Value | undefined = input;
    // The same walk as the evaluator's `input` refs with constant segments (evaluator.ts `path`).
    for (const key of g.path) {
      v = index(v, key);
      if (v === undefined) break;
    }
    if (v === undefined || !equal(v, g.value)) return g;
  }
  return undefined;
}

/**
 * A hash index over the bodies of one rule group (a node's rules or functions), like OPA's trie: the input
 * path that most main bodies guard, and for each constant the rules whose main body requires it, so a
 * group of hundreds of `input.kind == "…"` bodies finds its candidates with one lookup. `else` branches and
 * any other guards are still checked body by body.
 */
export interface GroupIndex {
  path: Value[];
  /** Rules whose main body guards `path`, with that guard. */
  guarded: Map<CRule, Guard>;
  /** keyOf(constant) → rules requiring it (keyOf hashes 1 and 1.0 alike). */
  byValue: Map<string, Set<CRule>>;
  /** Some of the guards call `equal` (a `with equal as …` mock disables the group index). */
  viaEqual: boolean;
}

const groupCache = new WeakMap<CRule[], GroupIndex | null>();

export function groupIndexOf(rules: CRule[]): GroupIndex | undefined {
  let ix = groupCache.get(rules);
  if (ix === undefined) groupCache.set(rules, (ix = buildGroupIndex(rules)));
  return ix ?? undefined;
}

function buildGroupIndex(rules: CRule[]): GroupIndex | null {
  if (rules.length < 2) return null;
  const counts = new Map<string, { path: Value[]; n: number }>();
  for (const r of rules) {
    const seen = new Set<string>();
    for (const g of guardsOf(r.body)) {
      const k = keyOf(g.path);
      if (seen.has(k)) continue;
      seen.add(k);
      const c = counts.get(k);
      if (c) c.n++;
      else counts.set(k, { path: g.path, n: 1 });
    }
  }
  let best: { path: Value[]; n: number } | undefined;
  for (const c of counts.values()) if (!best || c.n > best.n) best = c;
  if (!best || best.n < 2) return null;
  const pk = keyOf(best.path);
  const ix: GroupIndex = { path: best.path, guarded: new Map(), byValue: new Map(), viaEqual: false };
  for (const r of rules) {
    const g = guardsOf(r.body).find((x) => keyOf(x.path) === pk);
    if (!g) continue;
    ix.guarded.set(r, g);
    if (g.viaEqual) ix.viaEqual = true;
    const vk = keyOf(g.value);
    let s = ix.byValue.get(vk);
    if (!s) ix.byValue.set(vk, (s = new Set()));
    s.add(r);
  }
  return ix;
}

const NONE: ReadonlySet<CRule> = new Set();

/** The rules of a group index whose guard on its path holds for `input` (undefined: index not usable). */
export function groupCandidates(ix: GroupIndex, input: Value | undefined, equalMocked: boolean): ReadonlySet<CRule> | undefined {
  if (equalMocked && ix.viaEqual) return undefined;
  let v: Value | undefined = input;
  for (const key of ix.path) {
    if (v === undefined) break;
    v = index(v, key);
  }
  return v === undefined ? NONE : (ix.byValue.get(keyOf(v)) ?? NONE);
}

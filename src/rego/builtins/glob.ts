/**
 * `glob.match` and `glob.quote_meta` with gobwas/glob semantics (opa:v1/topdown/glob.go):
 * `*` any run of non-delimiter characters, `**` any run, `?` one non-delimiter character, `[abc]`/`[a-z]`
 * and negations `[!…]` (any character, delimiters included), `{a,b}` alternatives (nestable), `\` escapes.
 * Delimiters: `null` means none, an empty array means `["."]`. The glob is compiled to an NFA matched in
 * time linear in the text (see `Nfa`), so no pattern can make a match backtrack.
 */
import { type Value } from '../value.js';
import { type BuiltinDef, BuiltinError, argString, builtinError, typeErrorOneOf } from './registry.js';

class GlobError extends Error {}

type Test = (cp: number) => boolean;
/** One element of a glob: a single character test, a run of a test (`*`, `**`), or alternatives. */
type Elem = { k: 'one'; test: Test } | { k: 'run'; test: Test } | { k: 'alt'; alts: Elem[][] };

/**
 * The glob as a Thompson NFA: a state either tests one character (`test`, then `out[0]`) or is an epsilon
 * split to every state of `out`; state 0 is the accepting state. Matching simulates all states at once, so
 * the work is at most (text length × states) — no backtracking (`*a*a*a*b` against `aaaa…` is linear).
 */
interface Nfa {
  tests: Array<Test | null>;
  outs: number[][];
  start: number;
}

function parseGlob(pattern: string, delims: string[]): Elem[] {
  const cps = Array.from(pattern);
  let i = 0;
  const sep = new Set(delims.map((d) => d.codePointAt(0)!));
  const notSep: Test = (cp) => !sep.has(cp);
  const any: Test = () => true;

  const seq = (inTerms: boolean): Elem[] => {
    const out: Elem[] = [];
    while (i < cps.length) {
      const c = cps[i]!;
      if (inTerms && (c === ',' || c === '}')) return out;
      i++;
      switch (c) {
        case '*':
          if (cps[i] === '*') {
            while (cps[i] === '*') i++;
            out.push({ k: 'run', test: any });
          } else out.push({ k: 'run', test: notSep });
          break;
        case '?':
          out.push({ k: 'one', test: notSep });
          break;
        case '\\': {
          if (i >= cps.length) throw new GlobError('unexpected end of input');
          const lit = cps[i++]!.codePointAt(0)!;
          out.push({ k: 'one', test: (cp) => cp === lit });
          break;
        }
        case '[': {
          let neg = false;
          if (cps[i] === '!') {
            neg = true;
            i++;
          }
          const ranges: Array<[number, number]> = [];
          while (i < cps.length && cps[i] !== ']') {
            const lo = cps[i++]!.codePointAt(0)!;
            if (cps[i] === '-' && cps[i + 1] !== undefined && cps[i + 1] !== ']') {
              const hi = cps[i + 1]!.codePointAt(0)!;
              i += 2;
              if (hi < lo) throw new GlobError(`hi character '${String.fromCodePoint(hi)}' should be greater than lo '${String.fromCodePoint(lo)}'`);
              ranges.push([lo, hi]);
            } else ranges.push([lo, lo]);
          }
          if (i >= cps.length) throw new GlobError('unexpected end of input');
          i++; // ]
          if (ranges.length === 0) throw new GlobError('unexpected length of lo character');
          out.push({ k: 'one', test: (cp) => ranges.some(([lo, hi]) => cp >= lo && cp <= hi) !== neg });
          break;
        }
        case '{': {
          const alts: Elem[][] = [];
          for (;;) {
            alts.push(seq(true));
            if (i >= cps.length) throw new GlobError('unexpected end of input');
            if (cps[i++] === '}') break;
          }
          out.push({ k: 'alt', alts });
          break;
        }
        default: {
          const lit = c.codePointAt(0)!;
          out.push({ k: 'one', test: (cp) => cp === lit });
        }
      }
    }
    if (inTerms) throw new GlobError('unexpected end of input');
    return out;
  };
  return seq(false);
}

function compileGlob(pattern: string, delims: string[]): Nfa {
  const tests: Array<Test | null> = [null];
  const outs: number[][] = [[]];
  const state = (test: Test | null, out: number[]): number => {
    tests.push(test);
    outs.push(out);
    return tests.length - 1;
  };
  // Built back to front: each element gets the state that follows it.
  const build = (elems: Elem[], next: number): number => {
    for (let j = elems.length - 1; j >= 0; j--) {
      const e = elems[j]!;
      if (e.k === 'one') next = state(e.test, [next]);
      else if (e.k === 'run') {
        const split = state(null, []);
        outs[split] = [state(e.test, [split]), next];
        next = split;
      } else {
        const after = next;
        next = state(
          null,
          e.alts.map((alt) => build(alt, after)),
        );
      }
    }
    return next;
  };
  const start = build(parseGlob(pattern, delims), 0);
  return { tests, outs, start };
}

function matchNfa(nfa: Nfa, text: string): boolean {
  const n = nfa.tests.length;
  const mark = new Int32Array(n).fill(-1);
  let current: number[] = [];
  let step = 0;
  // Adds `s` and every state reachable from it by epsilon splits (iteratively: alternatives may nest deeply).
  const add = (list: number[], s: number): void => {
    const stack = [s];
    while (stack.length > 0) {
      const x = stack.pop()!;
      if (mark[x] === step) continue;
      mark[x] = step;
      if (nfa.tests[x] === null && x !== 0) for (let k = nfa.outs[x]!.length - 1; k >= 0; k--) stack.push(nfa.outs[x]![k]!);
      else list.push(x);
    }
  };
  add(current, nfa.start);
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    step++;
    const next: number[] = [];
    for (const s of current) if (s !== 0 && nfa.tests[s]!(cp)) add(next, nfa.outs[s]![0]!);
    if (next.length === 0) return false;
    current = next;
  }
  return current.includes(0);
}

const CACHE = new Map<string, Nfa>();

/** gobwas glob.QuoteMeta: escapes the glob metacharacters. */
function quoteMeta(s: string): string {
  return s.replace(/[*?\\[\]{}]/g, '\\$&');
}

export const builtins: BuiltinDef[] = [
  {
    name: 'glob.match',
    arity: 3,
    fn: (a: Value[]) => {
      const name = 'glob.match';
      const pattern = argString(name, a, 0);
      const d = a[1]!;
      let delims: string[];
      if (d === null) delims = [];
      else if (Array.isArray(d)) {
        delims = d.map((x) => {
          if (typeof x !== 'string' || Array.from(x).length !== 1) {
            throw new BuiltinError('eval_type_error', `${name}: operand 2 must be array of single-character strings`);
          }
          return x;
        });
        if (delims.length === 0) delims = ['.'];
      } else throw typeErrorOneOf(name, 2, ['array', 'null'], d);
      const match = argString(name, a, 2);
      const key = `${pattern}\u0000${delims.join('')}`;
      let nfa = CACHE.get(key);
      if (!nfa) {
        try {
          nfa = compileGlob(pattern, delims);
        } catch (e) {
          if (e instanceof GlobError) throw builtinError(name, e.message);
          throw e;
        }
        if (CACHE.size > 500) CACHE.clear();
        CACHE.set(key, nfa);
      }
      return matchNfa(nfa, match);
    },
  },
  { name: 'glob.quote_meta', arity: 1, fn: (a) => quoteMeta(argString('glob.quote_meta', a, 0)) },
];

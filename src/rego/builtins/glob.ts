/**
 * `glob.match` and `glob.quote_meta` with gobwas/glob semantics (opa:v1/topdown/glob.go):
 * `*` any run of non-delimiter characters, `**` any run, `?` one non-delimiter character, `[abc]`/`[a-z]`
 * and negations `[!…]` (any character, delimiters included), `{a,b}` alternatives (nestable), `\` escapes;
 * malformed patterns fail with gobwas/glob's lexer and parser messages.
 * Delimiters: `null` means none, an empty array means `["."]`. The glob is compiled to an NFA matched in
 * time linear in the text (see `Nfa`), so no pattern can make a match backtrack.
 */
import { type Value, typeName } from '../value.js';
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

type Token =
  | { t: 'text'; s: number[] }
  | { t: 'any' | 'super' | 'single' | 'rangeOpen' | 'not' | 'between' | 'rangeClose' | 'termsOpen' | 'sep' | 'termsClose' | 'eof' }
  | { t: 'lo' | 'hi'; cp: number };

/**
 * gobwas/glob's lexer (v0.2.3, the version OPA builds with). Tokens are produced one item at a time, and once
 * an item fails the error is all the parser sees from then on, even tokens of that item queued before the
 * failure: `[a-]` is `unexpected end of input`, not a range. A trailing `\` escapes nothing and is dropped;
 * `{` left open simply ends the alternatives at the end of the pattern.
 */
class GlobLexer {
  private pos = 0;
  private readonly queue: Token[] = [];
  private err: string | undefined;
  private termsLevel = 0;
  constructor(private readonly cps: number[]) {}

  next(): Token | { t: 'error'; msg: string } {
    for (;;) {
      if (this.err !== undefined) return { t: 'error', msg: this.err };
      const tok = this.queue.shift();
      if (tok) return tok;
      this.fetchItem();
    }
  }

  /**
   * The next rune, `undefined` at the end. As in gobwas/glob, whose end-of-input rune is 0, a NUL reads as the
   * end (and is consumed: a text item just drops it, while at the start of an item it ends the pattern), and
   * a rune that fails to decode — U+FFFD, or a lone surrogate no UTF-8 string holds — records
   * `could not read rune` and reads as the end without being consumed.
   */
  private read(): number | undefined {
    const r = this.cps[this.pos];
    if (r === undefined) return undefined;
    if (r === 0xfffd || (r >= 0xd800 && r <= 0xdfff)) {
      this.err = 'could not read rune';
      return undefined;
    }
    this.pos++;
    return r === 0 ? undefined : r;
  }

  private fetchItem(): void {
    const r = this.read();
    if (r === undefined) {
      this.queue.push({ t: 'eof' });
    } else if (r === 0x7b /* { */) {
      this.termsLevel++;
      this.queue.push({ t: 'termsOpen' });
    } else if (r === 0x2c /* , */ && this.termsLevel > 0) {
      this.queue.push({ t: 'sep' });
    } else if (r === 0x7d /* } */ && this.termsLevel > 0) {
      this.queue.push({ t: 'termsClose' });
      this.termsLevel--;
    } else if (r === 0x5b /* [ */) {
      this.queue.push({ t: 'rangeOpen' });
      this.fetchRange();
    } else if (r === 0x3f /* ? */) {
      this.queue.push({ t: 'single' });
    } else if (r === 0x2a /* * */) {
      if (this.cps[this.pos] === 0x2a) {
        this.pos++;
        this.queue.push({ t: 'super' });
      } else this.queue.push({ t: 'any' });
    } else {
      this.pos--;
      this.fetchText(this.termsLevel > 0 ? [0x3f, 0x2a, 0x5b, 0x7b, 0x7d, 0x2c] : [0x3f, 0x2a, 0x5b, 0x7b]);
    }
  }

  private fetchRange(): void {
    let wantHi = false;
    let wantClose = false;
    let seenNot = false;
    for (;;) {
      const r = this.read();
      if (r === undefined) {
        this.err = 'unexpected end of input';
        return;
      }
      if (wantClose) {
        if (r !== 0x5d /* ] */) this.err = 'expected close range character';
        else this.queue.push({ t: 'rangeClose' });
        return;
      }
      if (wantHi) {
        this.queue.push({ t: 'hi', cp: r });
        wantClose = true;
        continue;
      }
      if (!seenNot && r === 0x21 /* ! */) {
        this.queue.push({ t: 'not' });
        seenNot = true;
        continue;
      }
      if (this.cps[this.pos] === 0x2d /* - */) {
        this.pos++;
        this.queue.push({ t: 'lo', cp: r }, { t: 'between' });
        wantHi = true;
        continue;
      }
      this.pos--;
      this.fetchText([0x5d]);
      wantClose = true;
    }
  }

  private fetchText(breakers: number[]): void {
    const data: number[] = [];
    let escaped = false;
    for (;;) {
      const r = this.read();
      if (r === undefined) break;
      if (!escaped) {
        if (r === 0x5c /* \ */) {
          escaped = true;
          continue;
        }
        if (breakers.includes(r)) {
          this.pos--;
          break;
        }
      }
      escaped = false;
      data.push(r);
    }
    if (data.length > 0) this.queue.push({ t: 'text', s: data });
  }
}

/** gobwas/glob's parser over the lexer's tokens, building the elements the NFA is compiled from. */
function parseGlob(pattern: string, delims: string[]): Elem[] {
  const lex = new GlobLexer(Array.from(pattern, (c) => c.codePointAt(0)!));
  const sep = new Set(delims.map((d) => d.codePointAt(0)!));
  const notSep: Test = (cp) => !sep.has(cp);
  const any: Test = () => true;
  const root: Elem[] = [];
  // The open alternatives: each entry is the `alt` element and the pattern being filled.
  const stack: Array<{ alt: { k: 'alt'; alts: Elem[][] }; parent: Elem[] }> = [];
  let current = root;
  for (;;) {
    const tok = lex.next();
    switch (tok.t) {
      case 'eof':
        return root;
      case 'error':
        throw new GlobError(tok.msg);
      case 'text':
        for (const cp of tok.s) current.push({ k: 'one', test: (x) => x === cp });
        break;
      case 'any':
        current.push({ k: 'run', test: notSep });
        break;
      case 'super':
        current.push({ k: 'run', test: any });
        break;
      case 'single':
        current.push({ k: 'one', test: notSep });
        break;
      case 'termsOpen': {
        const alt = { k: 'alt' as const, alts: [[] as Elem[]] };
        current.push(alt);
        stack.push({ alt, parent: current });
        current = alt.alts[0]!;
        break;
      }
      case 'sep': {
        const top = stack[stack.length - 1]!;
        current = [];
        top.alt.alts.push(current);
        break;
      }
      case 'termsClose':
        current = stack.pop()!.parent;
        break;
      case 'rangeOpen':
        current.push(parseRange(lex));
        break;
      default:
        throw new GlobError(`unexpected token: ${tok.t}`);
    }
  }
}

/** A `[…]` item: one `lo-hi` range or a list of characters, `!` negating either. */
function parseRange(lex: GlobLexer): Elem {
  let not = false;
  let lo = 0;
  let hi = 0;
  let chars: number[] = [];
  for (;;) {
    const tok = lex.next();
    switch (tok.t) {
      case 'eof':
        throw new GlobError('unexpected end');
      case 'error':
        throw new GlobError(tok.msg);
      case 'not':
        not = true;
        break;
      case 'lo':
        lo = tok.cp;
        break;
      case 'hi':
        hi = tok.cp;
        if (hi < lo) throw new GlobError(`hi character '${String.fromCodePoint(hi)}' should be greater than lo '${String.fromCodePoint(lo)}'`);
        break;
      case 'text':
        chars = tok.s;
        break;
      case 'rangeClose': {
        const isRange = lo !== 0 && hi !== 0;
        if ((chars.length > 0) === isRange) throw new GlobError('could not parse range');
        const set = chars;
        const [l, h] = [lo, hi];
        return { k: 'one', test: isRange ? (cp) => (cp >= l && cp <= h) !== not : (cp) => set.includes(cp) !== not };
      }
      default:
        break;
    }
  }
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
        // builtins.RuneSliceOperand: every element a string of exactly one rune.
        delims = d.map((x) => {
          if (typeof x !== 'string') throw new BuiltinError('eval_type_error', `${name}: operand 2 must be array of strings but got array containing ${typeName(x)}`);
          if (Array.from(x).length !== 1) throw new BuiltinError('eval_type_error', `${name}: operand 2 must be array of runes but got array containing string`);
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

/**
 * `glob.match` and `glob.quote_meta` with gobwas/glob semantics (opa:v1/topdown/glob.go):
 * `*` any run of non-delimiter characters, `**` any run, `?` one non-delimiter character, `[abc]`/`[a-z]`
 * and negations `[!…]` (any character, delimiters included), `{a,b}` alternatives (nestable), `\` escapes;
 * malformed patterns fail with gobwas/glob's lexer and parser messages.
 * Delimiters: `null` means none, an empty array means `["."]`. The glob is parsed here and compiled into
 * gobwas/glob's own matchers (see globmatch.ts), so a match answers as OPA's does, library quirks included.
 */
import { type Value, typeName } from '../value.js';
import { GoPanic, type Matcher, type Node, compile, globMatches } from './globmatch.js';
import { type BuiltinDef, BuiltinError, BuiltinPanic, argString, builtinError, typeErrorOneOf } from './registry.js';

class GlobError extends Error {}

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

/** gobwas/glob's parser (syntax/ast/parser.go) over the lexer's tokens, building its syntax tree. */
function parseGlob(pattern: string): Node {
  const lex = new GlobLexer(Array.from(pattern, (c) => c.codePointAt(0)!));
  const root: Node = { kind: 'pattern', children: [] };
  // The open alternatives: each entry is the `anyOf` node and the pattern holding it.
  const stack: Array<{ anyOf: Node; parent: Node }> = [];
  let current: Node = root;
  for (;;) {
    const tok = lex.next();
    switch (tok.t) {
      case 'eof':
        return root;
      case 'error':
        throw new GlobError(tok.msg);
      case 'text':
        current.children.push({ kind: 'text', text: String.fromCodePoint(...tok.s), children: [] });
        break;
      case 'any':
        current.children.push({ kind: 'any', children: [] });
        break;
      case 'super':
        current.children.push({ kind: 'super', children: [] });
        break;
      case 'single':
        current.children.push({ kind: 'single', children: [] });
        break;
      case 'termsOpen': {
        const anyOf: Node = { kind: 'anyOf', children: [] };
        current.children.push(anyOf);
        stack.push({ anyOf, parent: current });
        current = { kind: 'pattern', children: [] };
        anyOf.children.push(current);
        break;
      }
      case 'sep': {
        current = { kind: 'pattern', children: [] };
        stack[stack.length - 1]!.anyOf.children.push(current);
        break;
      }
      case 'termsClose':
        current = stack.pop()!.parent;
        break;
      case 'rangeOpen':
        current.children.push(parseRange(lex));
        break;
      default:
        throw new GlobError(`unexpected token: ${tok.t}`);
    }
  }
}

/** A `[…]` item: one `lo-hi` range or a list of characters, `!` negating either. */
function parseRange(lex: GlobLexer): Node {
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
        return isRange ? { kind: 'range', lo, hi, not, children: [] } : { kind: 'list', chars, not, children: [] };
      }
      default:
        break;
    }
  }
}

const CACHE = new Map<string, Matcher>();

/** gobwas glob.QuoteMeta: escapes the glob metacharacters. */
function quoteMeta(s: string): string {
  return s.replace(/[*?\\[\]{}]/g, '\\$&');
}

/**
 * gobwas/glob's Compile and Match for callers outside Rego (a bundle manifest's `file_rego_versions` patterns,
 * compiled with no separators): the pattern's compile error as gobwas words it, or a test of texts.
 */
export function compileGlob(pattern: string, seps: number[] = []): { error: string } | { match: (text: string) => boolean } {
  let m: Matcher;
  try {
    m = compile(parseGlob(pattern), seps);
  } catch (e) {
    if (e instanceof GlobError) return { error: e.message };
    throw e;
  }
  return { match: (text) => globMatches(m, text) };
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
      const key = JSON.stringify([pattern, delims]);
      let matcher = CACHE.get(key);
      if (!matcher) {
        try {
          // A lone surrogate is U+FFFD in the UTF-8 string Go would hold.
          const seps = delims.map((x) => {
            const cp = x.codePointAt(0)!;
            return cp >= 0xd800 && cp <= 0xdfff ? 0xfffd : cp;
          });
          matcher = compile(parseGlob(pattern), seps);
        } catch (e) {
          if (e instanceof GlobError) throw builtinError(name, e.message);
          throw e;
        }
        if (CACHE.size > 500) CACHE.clear();
        CACHE.set(key, matcher);
      }
      try {
        return globMatches(matcher, match);
      } catch (e) {
        if (e instanceof GoPanic) throw new BuiltinPanic(name, e.message);
        throw e;
      }
    },
  },
  { name: 'glob.quote_meta', arity: 1, fn: (a) => quoteMeta(argString('glob.quote_meta', a, 0)) },
];

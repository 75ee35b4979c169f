/**
 * RE2 (Go `regexp/syntax`, Perl flags) → JavaScript RegExp translation, and Go's match-iteration semantics.
 *
 * OPA's regex builtins use Go's RE2. JS RegExp is a backtracking engine with a different syntax surface, so a
 * pattern is parsed here and re-emitted as an equivalent JS pattern (always compiled with the `u` flag, so
 * positions are code points as in Go's rune iteration):
 *
 * - `.` excludes only `\n` in Go (JS also excludes `\r`, U+2028/9) → `[^\n]`; with `(?s)` → `[\s\S]`.
 * - `^`/`$` are text anchors in Go (no "before final newline") → look-arounds; with `(?m)` line anchors.
 *   `\A` and `\z` map to text anchors; `\Z` does not exist in RE2 and is rejected.
 * - Inline flags `(?i)`, `(?s)`, `(?m)`, `(?U)`, scoped `(?i:…)` and clearing `(?-i)` are applied during
 *   translation (Node 20 has no inline modifiers): case-insensitivity expands letters and class ranges into
 *   their case variants, `U` swaps greedy and lazy quantifiers.
 * - `(?P<name>…)` and `(?<name>…)` become JS named groups; group numbers are preserved (the translation only
 *   adds non-capturing constructs). A name RE2 accepts but JS cannot carry (repeated, non-ASCII) becomes a
 *   plain group; a repeated name refers to its leftmost group, as in Go.
 * - Empty-width assertions (`^ $ \A \z \b \B`) are emitted inside `(?:…)`, since RE2 lets them be quantified.
 * - `\d \w \s \b` are ASCII in Go (`\s` is `[\t\n\f\r ]`, no `\v`); POSIX classes `[[:alpha:]]` and their
 *   negations, `\pL`, `\p{Greek}`, `\PL`, `\p{^Greek}` (scripts become `Script=…`), `\Q…\E`, `\x{10FFFF}` and
 *   octal `\123` are translated.
 * - Literal `{`, `}` and `]` that Go accepts are escaped; a leading `]` in a class is literal as in Go.
 *
 * Rejected, with Go's error text, as RE2 rejects them: backreferences (`\1`), look-around (`(?=`, `(?<=` …),
 * `\C`, `\Z`, unknown escapes, nested repetition (`a**`), repeat counts above 1000, unbalanced parentheses and
 * brackets, reversed class ranges. What JS cannot express faithfully: RE2's linear-time guarantee (a JS
 * pattern can backtrack exponentially) and case folding beyond simple one-to-one mappings.
 */

export class Re2Error extends Error {}

interface Flags {
  i: boolean;
  s: boolean;
  m: boolean;
  U: boolean;
}

type Range = [number, number];

const MAX_CP = 0x10ffff;

const POSIX: Record<string, Range[]> = {
  alnum: [[0x30, 0x39], [0x41, 0x5a], [0x61, 0x7a]],
  alpha: [[0x41, 0x5a], [0x61, 0x7a]],
  ascii: [[0x00, 0x7f]],
  blank: [[0x09, 0x09], [0x20, 0x20]],
  cntrl: [[0x00, 0x1f], [0x7f, 0x7f]],
  digit: [[0x30, 0x39]],
  graph: [[0x21, 0x7e]],
  lower: [[0x61, 0x7a]],
  print: [[0x20, 0x7e]],
  punct: [[0x21, 0x2f], [0x3a, 0x40], [0x5b, 0x60], [0x7b, 0x7e]],
  space: [[0x09, 0x0d], [0x20, 0x20]],
  upper: [[0x41, 0x5a]],
  word: [[0x30, 0x39], [0x41, 0x5a], [0x61, 0x7a], [0x5f, 0x5f]],
  xdigit: [[0x30, 0x39], [0x41, 0x46], [0x61, 0x66]],
};

const PERL: Record<string, Range[]> = {
  d: [[0x30, 0x39]],
  w: [[0x30, 0x39], [0x41, 0x5a], [0x5f, 0x5f], [0x61, 0x7a]],
  s: [[0x09, 0x0a], [0x0c, 0x0d], [0x20, 0x20]],
};

function complement(rs: Range[]): Range[] {
  const sorted = [...rs].sort((a, b) => a[0] - b[0]);
  const out: Range[] = [];
  let next = 0;
  for (const [lo, hi] of sorted) {
    if (lo > next) out.push([next, lo - 1]);
    next = Math.max(next, hi + 1);
  }
  if (next <= MAX_CP) out.push([next, MAX_CP]);
  return out;
}

function cpEsc(c: number): string {
  if ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f) return String.fromCharCode(c);
  return `\\u{${c.toString(16)}}`;
}

function rangesSrc(rs: Range[]): string {
  return rs.map(([lo, hi]) => (lo === hi ? cpEsc(lo) : `${cpEsc(lo)}-${cpEsc(hi)}`)).join('');
}

/** Simple one-to-one case variants of a code point (Go's unicode.SimpleFold orbit, approximately). */
function caseVariants(c: number): number[] {
  const ch = String.fromCodePoint(c);
  const out = new Set<number>([c]);
  for (const v of [ch.toLowerCase(), ch.toUpperCase()]) {
    const cps = [...v];
    if (cps.length === 1) out.add(cps[0]!.codePointAt(0)!);
  }
  return [...out];
}

function foldRanges(rs: Range[]): Range[] {
  const out: Range[] = [...rs];
  for (const [lo, hi] of rs) {
    if (hi - lo > 2000) continue; // wide ranges already span both cases in practice
    for (let c = lo; c <= hi; c++) for (const v of caseVariants(c)) if (v !== c) out.push([v, v]);
  }
  return out;
}

class Translator {
  private i = 0;
  private readonly cps: string[];
  private groups = 0;
  private readonly names = new Set<string>();
  /** The repeat need (see `alternation`) of the group `alternation` last parsed. */
  private groupNeed = 0;
  /** Capturing groups open around the current position. */
  private captureDepth = 0;

  constructor(private readonly pat: string) {
    this.cps = Array.from(pat);
  }

  private err(kind: string, frag: string): never {
    throw new Re2Error(`error parsing regexp: ${kind}: \`${frag}\``);
  }

  private peek(k = 0): string | undefined {
    return this.cps[this.i + k];
  }

  private rest(from = this.i): string {
    return this.cps.slice(from).join('');
  }

  translate(): { source: string; groups: number } {
    const src = this.alternation({ i: false, s: false, m: false, U: false }, 0);
    if (this.i < this.cps.length) this.err('unexpected )', this.pat);
    return { source: src, groups: this.groups };
  }

  /**
   * Parses until an unmatched `)` or the end; `flags` may be changed by `(?i)` for the rest of the group.
   *
   * Go's parser refuses a counted repetition whose nesting with the counted repetitions inside it would copy
   * the innermost thing more than 1000 times (regexp/syntax repeatIsValid, `(x{1000}){2}`). The "need" of a
   * piece is the least budget it passes with: a count m (the maximum, or the minimum when unbounded) over a
   * piece of need s needs max(m, m*s), a count of 0 needs nothing; `*`, `+`, `?` and grouping add nothing.
   * The need of what this parses is left in `groupNeed`.
   */
  private alternation(outer: Flags, depth: number): string {
    const flags = { ...outer };
    let out = '';
    let lastAtom: 'none' | 'atom' | 'quant' = 'none';
    let lastQuantText = '';
    let maxNeed = 0;
    let lastNeed = 0;
    const settle = (): void => {
      maxNeed = Math.max(maxNeed, lastNeed);
      lastNeed = 0;
    };
    while (this.i < this.cps.length) {
      const c = this.cps[this.i]!;
      if (c === ')') {
        if (depth === 0) this.err('unexpected )', this.pat);
        settle();
        this.groupNeed = maxNeed;
        return out;
      }
      if (c === '|') {
        this.i++;
        out += '|';
        lastAtom = 'none';
        settle();
        continue;
      }
      if (c === '*' || c === '+' || c === '?' || (c === '{' && this.repeatAhead())) {
        const start = this.i;
        let q: string;
        if (c === '{') q = this.repeat();
        else {
          this.i++;
          q = c;
        }
        let lazy = false;
        if (this.peek() === '?') {
          this.i++;
          lazy = true;
        }
        const opText = this.cps.slice(start, this.i).join('');
        if (lastAtom === 'none') this.err('missing argument to repetition operator', opText);
        if (lastAtom === 'quant') this.err('invalid nested repetition operator', lastQuantText + opText);
        if (c === '{') {
          const m = /^\{(\d+)(?:,(\d*))?\}/.exec(q)!;
          const count = m[2] !== undefined && m[2] !== '' ? Number(m[2]) : Number(m[1]);
          lastNeed = count === 0 ? 0 : Math.max(count, count * lastNeed);
          if (lastNeed > 1000) this.err('invalid repeat count', opText);
        }
        if (flags.U) lazy = !lazy;
        out += q + (lazy ? '?' : '');
        lastAtom = 'quant';
        lastQuantText = opText;
        continue;
      }
      if (c === '(') {
        settle();
        const g = this.group(flags, depth);
        if (g === null) {
          lastAtom = 'none';
          continue; // a flag-setting group `(?i)` emits nothing
        }
        out += g;
        lastAtom = 'atom';
        lastNeed = this.groupNeed;
        continue;
      }
      settle();
      out += this.atom(flags);
      lastAtom = c === '^' || c === '$' ? 'atom' : 'atom';
    }
    if (depth > 0) this.err('missing closing )', this.pat);
    settle();
    this.groupNeed = maxNeed;
    return out;
  }

  private repeatAhead(): boolean {
    return /^\{(\d+)(,(\d*))?\}/.test(this.rest());
  }

  private repeat(): string {
    const m = /^\{(\d+)(,(\d*))?\}/.exec(this.rest())!;
    const min = Number(m[1]);
    const max = m[3] !== undefined && m[3] !== '' ? Number(m[3]) : undefined;
    if (min > 1000 || (max !== undefined && (max > 1000 || max < min))) this.err('invalid repeat count', m[0]);
    this.i += [...m[0]].length;
    return m[0];
  }

  /**
   * Go's parser refuses a tree more than 1000 levels high (`expression nests too deeply`, quoting the whole
   * pattern); every capturing group is a level, so 1000 of them nested, around anything, are too deep.
   * Other constructs also add levels in Go's tree; only this sure part of the rule is applied.
   */
  private enterCapture(): void {
    if (++this.captureDepth >= 1000) this.err('expression nests too deeply', this.pat);
  }

  /** Returns the emitted group, or null for a bare flag group. */
  private group(flags: Flags, depth: number): string | null {
    const start = this.i;
    this.i++; // (
    if (this.peek() === '?') {
      const r = this.rest(this.i);
      if (r.startsWith('?P<') || r.startsWith('?<')) {
        // Go's parsePerlFlags: the name runs to the first `>`; without one the whole rest is quoted, with an
        // invalid name the `(?P<name>` part. A name may repeat (it then refers to its leftmost group).
        const s0 = this.rest(start);
        const close = s0.indexOf('>');
        if (close < 0) this.err('invalid named capture', s0);
        const capture = s0.slice(0, close + 1);
        const name = capture.slice(r.startsWith('?P<') ? 4 : 3, -1);
        if (!/^[\p{L}\p{Nd}_]+$/u.test(name)) this.err('invalid named capture', capture);
        this.i = start + Array.from(capture).length;
        this.groups++;
        this.enterCapture();
        const inner = this.alternation(flags, depth + 1);
        this.captureDepth--;
        this.close(start);
        const jsName = /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) && !this.names.has(name) ? name : undefined;
        this.names.add(name);
        return jsName ? `(?<${jsName}>${inner})` : `(${inner})`;
      }
      // Flags: `(?flags)` or `(?flags:re)`, flags from `imsU`, at most one `-` followed by at least one flag.
      const nf: Flags = { ...flags };
      let j = this.i + 1;
      let sign = 1;
      let sawFlag = false;
      let end: string | undefined;
      for (; j < this.cps.length; j++) {
        const c = this.cps[j]!;
        if ('imsU'.includes(c)) {
          nf[c as keyof Flags] = sign > 0;
          sawFlag = true;
        } else if (c === '-' && sign > 0) {
          sign = -1;
          sawFlag = false;
        } else if ((c === ':' || c === ')') && (sign > 0 || sawFlag)) {
          end = c;
          break;
        } else break;
      }
      if (end === undefined) this.err('invalid or unsupported Perl syntax', this.cps.slice(start, Math.min(j + 1, this.cps.length)).join(''));
      this.i = j + 1;
      if (end === ')') {
        Object.assign(flags, nf);
        return null;
      }
      const inner = this.alternation(nf, depth + 1);
      this.close(start);
      return `(?:${inner})`;
    }
    this.groups++;
    this.enterCapture();
    const inner = this.alternation(flags, depth + 1);
    this.captureDepth--;
    this.close(start);
    return `(${inner})`;
  }

  private close(_start: number): void {
    if (this.peek() !== ')') this.err('missing closing )', this.pat);
    this.i++;
  }

  private literal(c: number, flags: Flags): string {
    if (flags.i) {
      const vs = caseVariants(c);
      if (vs.length > 1) return `[${vs.map(cpEsc).join('')}]`;
    }
    return cpEsc(c);
  }

  private atom(flags: Flags): string {
    const c = this.cps[this.i]!;
    switch (c) {
      case '.':
        this.i++;
        return flags.s ? '[\\s\\S]' : '[^\\n]';
      case '^':
        this.i++;
        return flags.m ? '(?:(?<![^\\n]))' : '(?:(?<![\\s\\S]))';
      case '$':
        this.i++;
        return flags.m ? '(?:(?![^\\n]))' : '(?:(?![\\s\\S]))';
      case '[':
        return this.cls(flags);
      case '\\':
        return this.escape(flags);
      default:
        this.i++;
        return this.literal(c.codePointAt(0)!, flags);
    }
  }

  /** An escape outside a class. */
  private escape(flags: Flags): string {
    const start = this.i;
    this.i++;
    const e = this.peek();
    if (e === undefined) this.err('trailing backslash at end of expression', '');
    switch (e) {
      // Empty-width assertions are atoms in RE2 (`\\b*` is valid); JS quantifies them only inside a group.
      case 'A':
        this.i++;
        return '(?:(?<![\\s\\S]))';
      case 'z':
        this.i++;
        return '(?:(?![\\s\\S]))';
      case 'b':
        this.i++;
        return '(?:\\b)';
      case 'B':
        this.i++;
        return '(?:\\B)';
      case 'Q': {
        this.i++;
        let out = '';
        while (this.i < this.cps.length) {
          if (this.peek() === '\\' && this.peek(1) === 'E') {
            this.i += 2;
            break;
          }
          out += this.literal(this.cps[this.i]!.codePointAt(0)!, flags);
          this.i++;
        }
        return out.length > 0 ? `(?:${out})` : '';
      }
      default: {
        const set = this.classEscape(start);
        if (set.kind === 'char') return this.literal(set.cp, flags);
        return `[${set.negate ? '^' : ''}${set.src}]`;
      }
    }
  }

  /**
   * Escapes valid both inside and outside classes: returns a single code point or a set of ranges / a
   * `\p{…}` property. `this.i` is at the character after the backslash.
   */
  private classEscape(start: number): { kind: 'char'; cp: number } | { kind: 'set'; src: string; negate: boolean; ranges?: Range[] } {
    const e = this.cps[this.i];
    if (e === undefined) this.err('missing closing ]', this.rest(start));
    this.i++;
    const frag = (): string => this.cps.slice(start, this.i).join('');
    if (e in PERL || e.toLowerCase() in PERL) {
      const rs = PERL[e.toLowerCase()];
      if (rs) {
        const neg = e !== e.toLowerCase();
        return { kind: 'set', src: rangesSrc(neg ? complement(rs) : rs), negate: false, ranges: neg ? complement(rs) : rs };
      }
    }
    if (e === 'p' || e === 'P') {
      let name: string;
      if (this.peek() === '{') {
        const close = this.cps.indexOf('}', this.i);
        if (close < 0) this.err('invalid character class range', this.rest(start));
        name = this.cps.slice(this.i + 1, close).join('');
        this.i = close + 1;
      } else {
        const n = this.peek();
        if (n === undefined) this.err('invalid character class range', frag());
        name = n;
        this.i++;
      }
      let neg = e === 'P';
      if (name.startsWith('^')) {
        neg = !neg;
        name = name.slice(1);
      }
      const prop = unicodeProperty(name);
      if (prop === undefined) this.err('invalid character class range', frag());
      return { kind: 'set', src: `\\${neg ? 'P' : 'p'}{${prop}}`, negate: false };
    }
    const simple: Record<string, number> = { a: 7, f: 12, t: 9, n: 10, r: 13, v: 11 };
    if (e in simple) return { kind: 'char', cp: simple[e]! };
    if (e === 'x') {
      if (this.peek() === '{') {
        const close = this.cps.indexOf('}', this.i);
        const hex = close < 0 ? '' : this.cps.slice(this.i + 1, close).join('');
        if (!/^[0-9a-fA-F]{1,8}$/.test(hex) || parseInt(hex, 16) > MAX_CP) this.err('invalid escape sequence', this.rest(start).slice(0, 12));
        this.i = close + 1;
        return { kind: 'char', cp: parseInt(hex, 16) };
      }
      const hex = this.cps.slice(this.i, this.i + 2).join('');
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) this.err('invalid escape sequence', this.cps.slice(start, this.i + 2).join(''));
      this.i += 2;
      return { kind: 'char', cp: parseInt(hex, 16) };
    }
    if (/[0-7]/.test(e)) {
      // A single non-zero digit would be a backreference, which RE2 does not support.
      if (e !== '0' && !/[0-7]/.test(this.peek() ?? '')) this.err('invalid escape sequence', frag());
      let digits = e;
      while (digits.length < 3 && /[0-7]/.test(this.peek() ?? '')) digits += this.cps[this.i++];
      return { kind: 'char', cp: parseInt(digits, 8) };
    }
    if (/[!-/:-@[-`{-~]/.test(e)) return { kind: 'char', cp: e.codePointAt(0)! };
    this.err('invalid escape sequence', frag());
  }

  private cls(flags: Flags): string {
    const start = this.i;
    this.i++; // [
    let negate = false;
    if (this.peek() === '^') {
      negate = true;
      this.i++;
    }
    const ranges: Range[] = [];
    const props: string[] = [];
    let first = true;
    for (;;) {
      const c = this.peek();
      if (c === undefined) this.err('missing closing ]', this.rest(start));
      if (c === ']' && !first) {
        this.i++;
        break;
      }
      first = false;
      // POSIX class
      if (c === '[' && this.peek(1) === ':') {
        const m = /^\[:(\^?)([a-z]+):\]/.exec(this.rest());
        if (m) {
          const rs = POSIX[m[2]!];
          if (!rs) this.err('invalid character class range', m[0]);
          ranges.push(...(m[1] ? complement(rs) : rs));
          this.i += m[0].length;
          continue;
        }
      }
      let lo: number;
      if (c === '\\') {
        const escStart = this.i;
        this.i++;
        if (this.peek() === undefined) this.err('missing closing ]', this.rest(start));
        const e = this.classEscape(escStart);
        if (e.kind === 'set') {
          if (e.ranges) ranges.push(...e.ranges);
          else props.push(e.src);
          continue;
        }
        lo = e.cp;
      } else {
        lo = c.codePointAt(0)!;
        this.i++;
      }
      // range?
      if (this.peek() === '-' && this.peek(1) !== undefined && this.peek(1) !== ']') {
        const save = this.i;
        this.i++;
        let hi: number;
        const h = this.peek()!;
        if (h === '\\') {
          const escStart = this.i;
          this.i++;
          const e = this.classEscape(escStart);
          if (e.kind === 'set') this.err('invalid character class range', this.cps.slice(save - 1, this.i).join(''));
          hi = e.cp;
        } else {
          hi = h.codePointAt(0)!;
          this.i++;
        }
        if (hi < lo) this.err('invalid character class range', this.cps.slice(save - 1, this.i).join(''));
        ranges.push([lo, hi]);
      } else ranges.push([lo, lo]);
    }
    const rs = flags.i ? foldRanges(ranges) : ranges;
    const body = rangesSrc(rs) + props.join('');
    if (body === '') return negate ? '[\\s\\S]' : '[^\\s\\S]';
    return `[${negate ? '^' : ''}${body}]`;
  }
}

const GENERAL_CATEGORIES = new Set(
  'C Cc Cf Co Cs L Ll Lm Lo Lt Lu M Mc Me Mn N Nd Nl No P Pc Pd Pe Pf Pi Po Ps S Sc Sk Sm So Z Zl Zp Zs'.split(' '),
);

function unicodeProperty(name: string): string | undefined {
  if (name === 'Any') return 'Any';
  if (GENERAL_CATEGORIES.has(name)) return name;
  try {
    new RegExp(`\\p{Script=${name}}`, 'u');
    return `Script=${name}`;
  } catch {
    return undefined;
  }
}

export interface GoRegexp {
  readonly re: RegExp;
  readonly groups: number;
}

const CACHE = new Map<string, GoRegexp>();

/** Compiles an RE2 pattern (throws Re2Error with Go's message for what RE2 rejects). */
export function compileRe2(pattern: string): GoRegexp {
  const hit = CACHE.get(pattern);
  if (hit) return hit;
  let translated: { source: string; groups: number };
  try {
    translated = new Translator(pattern).translate();
  } catch (e) {
    // Thousands of nested non-capturing groups, which Go's tree flattens, exhaust the translator's stack.
    if (e instanceof RangeError) throw new Re2Error(`error parsing regexp: expression nests too deeply: \`${pattern}\``);
    throw e;
  }
  const { source, groups } = translated;
  let re: RegExp;
  try {
    re = new RegExp(source, 'gu');
  } catch (e) {
    throw new Re2Error(`error parsing regexp: ${(e as Error).message}`);
  }
  const out = { re, groups };
  if (CACHE.size > 500) CACHE.clear();
  CACHE.set(pattern, out);
  return out;
}

interface Match {
  start: number;
  end: number;
  /** The whole match and each group; a group that did not participate is "" as in Go. */
  texts: string[];
}

function execAt(g: GoRegexp, s: string, pos: number): Match | undefined {
  g.re.lastIndex = pos;
  const m = g.re.exec(s);
  if (!m) return undefined;
  return { start: m.index, end: m.index + m[0].length, texts: [...m].map((t) => t ?? '') };
}

function runeWidth(s: string, pos: number): number {
  if (pos >= s.length) return 1;
  const c = s.codePointAt(pos)!;
  return c > 0xffff ? 2 : 1;
}

/** Go's regexp allMatches: every match of `g` in `s`, at most `n` (n < 0: all). Each is the group texts. */
export function findAll(g: GoRegexp, s: string, n: number): Array<{ idx: [number, number]; texts: string[] }> {
  const out: Array<{ idx: [number, number]; texts: string[] }> = [];
  if (n === 0) return out;
  let pos = 0;
  let prevMatchEnd = -1;
  while ((n < 0 || out.length < n) && pos <= s.length) {
    const m = execAt(g, s, pos);
    if (!m) break;
    let accept = true;
    if (m.end === m.start) {
      // An empty match: none is allowed right after the previous match; move on by one rune.
      if (m.start === prevMatchEnd) accept = false;
      pos = m.end + runeWidth(s, m.end);
    } else pos = m.end;
    prevMatchEnd = m.end;
    if (accept) out.push({ idx: [m.start, m.end], texts: m.texts });
  }
  return out;
}

/** Go's Regexp.Split(s, -1). */
export function split(g: GoRegexp, pattern: string, s: string): string[] {
  if (pattern.length > 0 && s.length === 0) return [''];
  const matches = findAll(g, s, -1);
  const out: string[] = [];
  let beg = 0;
  let end = 0;
  for (const { idx } of matches) {
    end = idx[0];
    if (idx[1] !== 0) out.push(s.slice(beg, end));
    beg = idx[1];
  }
  if (end !== s.length) out.push(s.slice(beg));
  return out;
}

/** Go's Regexp.Expand template syntax: `$1`, `${1}`, `$name`, `${name}`, `$$`. */
function expand(template: string, texts: string[], names: Map<string, number>): string {
  let out = '';
  for (let i = 0; i < template.length; i++) {
    const c = template[i]!;
    if (c !== '$') {
      out += c;
      continue;
    }
    if (template[i + 1] === '$') {
      out += '$';
      i++;
      continue;
    }
    let name: string | undefined;
    let len = 0;
    if (template[i + 1] === '{') {
      const m = /^\{([A-Za-z0-9_]+)\}/.exec(template.slice(i + 1));
      if (m) {
        name = m[1];
        len = m[0].length;
      }
    } else {
      const m = /^[A-Za-z0-9_]+/.exec(template.slice(i + 1));
      if (m) {
        name = m[0];
        len = m[0].length;
      }
    }
    if (name === undefined) {
      // A malformed reference is copied as is.
      out += '$';
      continue;
    }
    i += len;
    const num = /^[0-9]+$/.test(name) ? Number(name) : names.get(name);
    if (num !== undefined && num < texts.length) out += texts[num] ?? '';
  }
  return out;
}

function groupNames(pattern: string): Map<string, number> {
  const names = new Map<string, number>();
  // Count capturing groups in order: `(` not followed by `?`, or `(?P<` / `(?<` (not look-behind).
  let n = 0;
  const cps = Array.from(pattern);
  let inClass = false;
  for (let i = 0; i < cps.length; i++) {
    const c = cps[i];
    if (c === '\\') {
      if (cps[i + 1] === 'Q') {
        const end = pattern.indexOf('\\E', i);
        if (end < 0) break;
      }
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') {
      inClass = true;
      if (cps[i + 1] === ']') i++;
      else if (cps[i + 1] === '^' && cps[i + 2] === ']') i += 2;
      continue;
    }
    if (c !== '(') continue;
    if (cps[i + 1] !== '?') {
      n++;
      continue;
    }
    const m = /^\(\?P?<([A-Za-z0-9_]+)>/.exec(cps.slice(i, i + 40).join(''));
    if (m) {
      n++;
      // A name used twice refers to its leftmost group (Go's SubexpIndex).
      if (!names.has(m[1]!)) names.set(m[1]!, n);
    }
  }
  return names;
}

/** Go's Regexp.ReplaceAllString. */
export function replaceAll(g: GoRegexp, pattern: string, src: string, repl: string): string {
  const names = groupNames(pattern);
  let out = '';
  let lastMatchEnd = 0;
  let searchPos = 0;
  while (searchPos <= src.length) {
    const m = execAt(g, src, searchPos);
    if (!m) break;
    const [a0, a1] = [m.start, m.end];
    out += src.slice(lastMatchEnd, a0);
    if (a1 > lastMatchEnd || a0 === 0) out += expand(repl, m.texts, names);
    lastMatchEnd = a1;
    const width = runeWidth(src, searchPos);
    if (searchPos + width > a1) searchPos += width;
    else if (searchPos + 1 > a1) searchPos++;
    else searchPos = a1;
  }
  return out + src.slice(lastMatchEnd);
}

/** Go's regexp.QuoteMeta. */
export function quoteMeta(s: string): string {
  return s.replace(/[\\.+*?()|[\]{}^$]/g, '\\$&');
}

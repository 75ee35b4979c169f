/**
 * `regex.globs_match` (github.com/yashtewari/glob-intersection, used by OPA): do two "globs" share at least
 * one string? The glob dialect: literal characters, `.` (any character), `[…]` sets with ranges (no
 * negation), `\` escapes, and the postfix flags `*` (zero or more) and `+` (one or more) on a single token.
 * Non-emptiness of the intersection is decided exactly on the product of the two token automata (a search
 * over position pairs), rather than by the library's greedy matcher. Tokenizer errors keep the library's
 * texts: `input:pqrs], pos:5, set-close ']' with no preceding '[': the input provided is invalid`.
 */
import { type BuiltinDef, argString, builtinError } from './registry.js';

type Flag = 'none' | 'plus' | 'star';
type Token = { kind: 'char'; c: string; flag: Flag } | { kind: 'dot'; flag: Flag } | { kind: 'set'; cs: Set<string>; flag: Flag };

class GlobsError extends Error {}

function tokenize(input: string): Token[] {
  const rs = Array.from(input);
  const fail = (pos: number, msg: string): never => {
    throw new GlobsError(`input:${input}, pos:${pos}, ${msg}: the input provided is invalid`);
  };
  const next = (i: number): [number, string, boolean] => {
    if (rs[i] === '\\') {
      if (i === rs.length - 1) fail(i, 'input ends with a \\ (escape) character');
      return [i + 2, rs[i + 1]!, true];
    }
    return [i + 1, rs[i]!, false];
  };
  const out: Token[] = [];
  let i = 0;
  while (i < rs.length) {
    const [ni, r, esc] = next(i);
    i = ni;
    if (!esc && (r === '*' || r === '+')) {
      const last = out[out.length - 1];
      if (!last || last.flag !== 'none') fail(i, `flag '${r}' must be preceded by a non-flag`);
      last!.flag = r === '*' ? 'star' : 'plus';
      continue;
    }
    if (!esc && r === '.') out.push({ kind: 'dot', flag: 'none' });
    else if (!esc && r === ']') fail(i, "set-close ']' with no preceding '['");
    else if (!esc && r === '[') {
      const cs = new Set<string>();
      let prev: string | undefined;
      let complete = false;
      while (i < rs.length) {
        const [j, c, e] = next(i);
        i = j;
        if (!e && c === ']') {
          complete = true;
          break;
        }
        if (!e && c === '-') {
          if (prev === undefined) fail(i, "range character '-' must be preceded by a Unicode character");
          // The library asks for at least two runes after the `-` (its hi and the set's `]`), counting raw runes.
          if (i >= rs.length - 1) fail(i, "range character '-' must be followed by a Unicode character");
          const [k, hi, he] = next(i);
          i = k;
          if (!he && (hi === ']' || hi === '-')) fail(i, "range character '-' cannot be followed by a special symbol");
          const lo = prev!.codePointAt(0)!;
          const h = hi.codePointAt(0)!;
          if (h < lo) fail(i, `range is out of order: '${hi}' comes before '${prev}' in Unicode`);
          for (let x = lo; x <= h; x++) cs.add(String.fromCodePoint(x));
          prev = undefined;
          continue;
        }
        cs.add(c);
        prev = c;
      }
      if (!complete) fail(i, 'found [ without matching ]');
      out.push({ kind: 'set', cs, flag: 'none' });
    } else out.push({ kind: 'char', c: r, flag: 'none' });
  }
  return out;
}

function match(a: Token, b: Token): boolean {
  if (a.kind === 'dot') return b.kind !== 'set' || b.cs.size > 0;
  if (b.kind === 'dot') return a.kind !== 'set' || a.cs.size > 0;
  if (a.kind === 'char' && b.kind === 'char') return a.c === b.c;
  if (a.kind === 'char') return (b as { cs: Set<string> }).cs.has(a.c);
  if (b.kind === 'char') return a.cs.has(b.c);
  for (const c of a.cs) if (b.cs.has(c)) return true;
  return false;
}

/** Depth-first search over pairs of token positions; a `*` token may loop, be skipped, or both advance. */
export function globsIntersect(g1: Token[], g2: Token[]): boolean {
  const seen = new Set<string>();
  const stack: Array<[number, number]> = [[0, 0]];
  // A `+` token is expanded into "one, then star" up front so states stay simple pairs.
  const expand = (g: Token[]): Token[] =>
    g.flatMap((t) => (t.flag === 'plus' ? [{ ...t, flag: 'none' as Flag }, { ...t, flag: 'star' as Flag }] : [t]));
  const a = expand(g1);
  const b = expand(g2);
  while (stack.length > 0) {
    const [i, j] = stack.pop()!;
    const key = `${i},${j}`;
    if (seen.has(key)) continue;
    seen.add(key);
    if (i === a.length && j === b.length) return true;
    const ta = a[i];
    const tb = b[j];
    if (ta?.flag === 'star') stack.push([i + 1, j]);
    if (tb?.flag === 'star') stack.push([i, j + 1]);
    if (ta && tb && match(ta, tb)) {
      stack.push([ta.flag === 'star' ? i : i + 1, tb.flag === 'star' ? j : j + 1]);
      if (ta.flag === 'star' && tb.flag === 'star') {
        stack.push([i + 1, j]);
        stack.push([i, j + 1]);
      }
    }
  }
  return false;
}

export const builtins: BuiltinDef[] = [
  {
    name: 'regex.globs_match',
    arity: 2,
    fn: (a) => {
      const x = argString('regex.globs_match', a, 0);
      const y = argString('regex.globs_match', a, 1);
      try {
        return globsIntersect(tokenize(x), tokenize(y));
      } catch (e) {
        if (e instanceof GlobsError) throw builtinError('regex.globs_match', e.message);
        throw e;
      }
    },
  },
];

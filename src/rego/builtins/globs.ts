/**
 * `regex.globs_match` (github.com/yashtewari/glob-intersection, used by OPA): do two "globs" share at least
 * one string? The glob dialect: literal characters, `.` (any character), `[…]` sets with ranges (no
 * negation), `\` escapes, and the postfix flags `*` (zero or more) and `+` (one or more) on a single token.
 * The answer is the library's (Simplify, then NonEmpty's trimming and greedy walk), including where that walk
 * differs from an exact intersection, since OPA returns what the library returns. Tokenizer errors keep the
 * library's texts: `input:pqrs], pos:5, set-close ']' with no preceding '[': the input provided is invalid`.
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

/** The library's Match: a dot meets anything (even an empty set), a character meets itself or a set holding it. */
function match(a: Token, b: Token): boolean {
  if (a.kind === 'dot' || b.kind === 'dot') return true;
  if (a.kind === 'char' && b.kind === 'char') return a.c === b.c;
  if (a.kind === 'char') return (b as { cs: Set<string> }).cs.has(a.c);
  if (b.kind === 'char') return a.cs.has(b.c);
  for (const c of a.cs) if (b.cs.has(c)) return true;
  return false;
}

function sameToken(a: Token, b: Token): boolean {
  if (a.kind === 'dot' || b.kind === 'dot') return a.kind === b.kind;
  if (a.kind === 'char' || b.kind === 'char') return a.kind === b.kind && (a as { c: string }).c === (b as { c: string }).c;
  return a.cs.size === b.cs.size && [...a.cs].every((c) => b.cs.has(c));
}

/** The library's Simplify: of two neighbouring flagged tokens with equal content the second is dropped, `+` winning. */
function simplify(tokens: Token[]): Token[] {
  const out: Token[] = [];
  for (const t of tokens) {
    const last = out[out.length - 1];
    if (last && t.flag !== 'none' && last.flag !== 'none' && sameToken(t, last)) {
      last.flag = t.flag === 'plus' || last.flag === 'plus' ? 'plus' : 'star';
    } else out.push(t);
  }
  return out;
}

/**
 * glob-intersection's NonEmpty: trim the unflagged prefix and suffix both globs share (one token kept on each
 * side), then walk the two globs, a flagged token "gobbling" tokens of the other greedily. This is the
 * library's decision procedure, not an exact intersection test (`a*` and the empty glob do not intersect, as
 * the library looks for non-empty strings); each step is memoised on its pair of positions, so nested stars
 * stay polynomial.
 */
export function globsIntersect(x: Token[], y: Token[]): boolean {
  let l = 0;
  for (; l < x.length && l < y.length && x[l]!.flag === 'none' && y[l]!.flag === 'none'; l++) {
    if (!match(x[l]!, y[l]!)) return false;
  }
  if (l > 0) l--;
  let r1 = x.length - 1;
  let r2 = y.length - 1;
  for (; r1 >= 0 && r1 >= l && r2 >= 0 && r2 >= l && x[r1]!.flag === 'none' && y[r2]!.flag === 'none'; r1--, r2--) {
    if (!match(x[r1]!, y[r2]!)) return false;
  }
  if (r1 < x.length - 1) {
    r1++;
    r2++;
  }
  const globs = [x.slice(l, r1 + 1), y.slice(l, r2 + 1)] as const;
  // A suffix of one of the two trimmed globs: which glob, and where it starts.
  type Suffix = readonly [g: 0 | 1, i: number];
  const memo = new Map<string, boolean>();
  const len = (s: Suffix): number => globs[s[0]].length - s[1];
  const at = (s: Suffix, k: number): Token => globs[s[0]][s[1] + k]!;
  const from = (s: Suffix, k: number): Suffix => [s[0], s[1] + k];
  const memoised = (kind: string, a: Suffix, b: Suffix, f: () => boolean): boolean => {
    const key = `${kind}${a[0]}.${a[1]}.${b[0]}.${b[1]}`;
    let v = memo.get(key);
    if (v === undefined) {
      v = f();
      memo.set(key, v);
    }
    return v;
  };
  const normal = (a: Suffix, b: Suffix): boolean =>
    memoised('n', a, b, () => {
      let i = 0;
      for (; i < len(a) && i < len(b); i++) {
        if (at(a, i).flag === 'none' && at(b, i).flag === 'none') {
          if (!match(at(a, i), at(b, i))) return false;
        } else return special(from(a, i), from(b, i));
      }
      return i === len(a) && i === len(b);
    });
  const special = (a: Suffix, b: Suffix): boolean => {
    if (at(a, 0).flag !== 'none') return at(a, 0).flag === 'plus' ? plus(a, b) : star(a, b);
    return at(b, 0).flag === 'plus' ? plus(b, a) : star(b, a);
  };
  const plus = (p: Suffix, o: Suffix): boolean =>
    memoised('p', p, o, () => {
      if (!match(at(p, 0), at(o, 0))) return false;
      if (star(p, from(o, 1))) return true;
      return at(o, 0).flag !== 'none' && normal(from(p, 1), o);
    });
  const star = (s: Suffix, o: Suffix): boolean =>
    memoised('s', s, o, () => {
      const starToken = at(s, 0);
      const next = len(s) > 1 ? at(s, 1) : undefined;
      for (let i = 0; i < len(o); i++) {
        const t = at(o, i);
        if (next !== undefined && match(t, next)) {
          if (normal(from(s, 1), from(o, i))) return true;
          if (!match(t, starToken)) return false;
        } else if (!match(t, starToken)) return false;
      }
      return next === undefined;
    });
  return normal([0, 0], [1, 0]);
}

export const builtins: BuiltinDef[] = [
  {
    name: 'regex.globs_match',
    arity: 2,
    fn: (a) => {
      const x = argString('regex.globs_match', a, 0);
      const y = argString('regex.globs_match', a, 1);
      try {
        return globsIntersect(simplify(tokenize(x)), simplify(tokenize(y)));
      } catch (e) {
        if (e instanceof GlobsError) throw builtinError('regex.globs_match', e.message);
        throw e;
      }
    },
  },
];

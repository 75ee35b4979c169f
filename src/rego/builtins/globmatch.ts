/**
 * The matchers gobwas/glob v0.2.3 compiles a glob into (its `compiler` and `match` packages), with the
 * library's behaviour kept where it differs from what the glob syntax promises, because `glob.match` in OPA
 * answers with exactly these matchers.
 *
 * gobwas works on Go strings, that is on UTF-8 bytes, and mixes rune counts with byte offsets: a fixed-length
 * run (`?`, `[…]`, literal text next to them) is glued into a row that measures each part in runes but cuts
 * the part's slice one byte past the start of its last rune: a part that must match a multi-byte rune (text,
 * a list or range holding it) fails on it, while `?` and `[!…]` take the cut byte as U+FFFD and pass, leaving
 * the next part to start inside the rune; a row found inside a longer text reports its length in runes, which
 * the tree around it then uses as a byte length; a tree skips as many bytes as the fixed parts beside it
 * count runes. Slices
 * that cut a rune decode, as in Go, to U+FFFD one byte wide, while `utf8.RuneLen(U+FFFD)` is 3.
 * Library quirks that show on ASCII text too, kept as well:
 * - `a**a` becomes a prefix-suffix test, so it also matches `a` (prefix and suffix overlap);
 * - a tree never matches the empty string (`{a,}{a,}a` does not match `a`);
 * - alternatives whose first branch has no fixed length take the next branch's length as theirs;
 * - several delimiters: a run of `?`/`*` tests the delimiters joined as one substring (adjacent `[!ab]` lists
 *   likewise their characters), and the search for the first delimiter takes them in order, not by position;
 * - `?`, `[…]` or `[!…]` as the whole pattern reads U+FFFD from an empty text: `?` and `[!a]` match `""`.
 *
 * Every string a matcher sees is a slice of the text being matched, so a matcher takes the text's bytes and
 * a `[start, end)` slice; the text's tree matches are memoised per slice, which keeps nested `*` polynomial.
 */

/** Go panics (a slice past the end); `glob.match` reports them as errors. */
export class GoPanic extends Error {}

/** The text being matched, as UTF-8, with the memo of tree matches over its slices. */
class Text {
  readonly memo = new Map<Matcher, Map<number, boolean>>();
  constructor(readonly b: Buffer) {}
}

const RUNE_ERROR = 0xfffd;

/** utf8.DecodeRuneInString over b[i:e]: the rune and its width; U+FFFD of width 1 for bad bytes, 0 at the end. */
function decode(b: Buffer, i: number, e: number): [number, number] {
  if (i >= e) return [RUNE_ERROR, 0];
  const c0 = b[i]!;
  if (c0 < 0x80) return [c0, 1];
  let need: number;
  let lo = 0x80;
  let hi = 0xbf;
  if (c0 < 0xc2) return [RUNE_ERROR, 1];
  if (c0 < 0xe0) need = 1;
  else if (c0 < 0xf0) {
    need = 2;
    if (c0 === 0xe0) lo = 0xa0;
    if (c0 === 0xed) hi = 0x9f;
  } else if (c0 < 0xf5) {
    need = 3;
    if (c0 === 0xf0) lo = 0x90;
    if (c0 === 0xf4) hi = 0x8f;
  } else return [RUNE_ERROR, 1];
  if (e - i < need + 1) return [RUNE_ERROR, 1];
  const c1 = b[i + 1]!;
  if (c1 < lo || c1 > hi) return [RUNE_ERROR, 1];
  let r = need === 1 ? c0 & 0x1f : need === 2 ? c0 & 0x0f : c0 & 0x07;
  r = (r << 6) | (c1 & 0x3f);
  for (let k = 2; k <= need; k++) {
    const c = b[i + k]!;
    if (c < 0x80 || c > 0xbf) return [RUNE_ERROR, 1];
    r = (r << 6) | (c & 0x3f);
  }
  return [r, need + 1];
}

/** `for i, r := range s` over b[s:e]: each rune's offset from s and the rune. */
function* runes(b: Buffer, s: number, e: number): Generator<[number, number]> {
  for (let i = s; i < e; ) {
    const [r, w] = decode(b, i, e);
    yield [i - s, r];
    i += w;
  }
}

function runeCount(b: Buffer, s: number, e: number): number {
  let n = 0;
  for (let i = s; i < e; n++) i += decode(b, i, e)[1];
  return n;
}

/** utf8.RuneLen for the runes a decoder yields (never a surrogate). */
function runeLen(r: number): number {
  return r < 0x80 ? 1 : r < 0x800 ? 2 : r < 0x10000 ? 3 : 4;
}

function encodeRune(r: number): Buffer {
  return Buffer.from(String.fromCodePoint(r), 'utf8');
}

/** strings.Index(b[s:e], needle): offset from s, or -1. */
function indexOf(b: Buffer, s: number, e: number, needle: Buffer): number {
  if (needle.length === 0) return 0;
  return b.subarray(s, e).indexOf(needle);
}

function lastIndexOf(b: Buffer, s: number, e: number, needle: Buffer): number {
  if (needle.length === 0) return e - s;
  return b.subarray(s, e).lastIndexOf(needle);
}

function hasPrefix(b: Buffer, s: number, e: number, p: Buffer): boolean {
  return e - s >= p.length && b.subarray(s, s + p.length).equals(p);
}

function hasSuffix(b: Buffer, s: number, e: number, p: Buffer): boolean {
  return e - s >= p.length && b.subarray(e - p.length, e).equals(p);
}

/** strings.IndexRune: U+FFFD also finds a byte that does not decode. */
function indexRune(b: Buffer, s: number, e: number, r: number): number {
  if (r === RUNE_ERROR) {
    for (const [i, x] of runes(b, s, e)) if (x === RUNE_ERROR) return i;
    return -1;
  }
  return indexOf(b, s, e, encodeRune(r));
}

/** gobwas util/strings.IndexAnyRunes: the first hit of the first separator that occurs at all. */
function indexAnyRunes(b: Buffer, s: number, e: number, seps: number[]): number {
  for (const r of seps) {
    const i = indexRune(b, s, e, r);
    if (i !== -1) return i;
  }
  return -1;
}

/**
 * gobwas util/strings.LastIndexAnyRunes: the last byte for an ASCII separator, but for any other the loop
 * searches the whole string again each time, so it ends with the first occurrence.
 */
function lastIndexAnyRunes(b: Buffer, s: number, e: number, seps: number[]): number {
  for (const r of seps) {
    let i = -1;
    if (r < 0x80) i = b.subarray(s, e).lastIndexOf(r);
    else {
      for (let sub = e - s; sub > 0; ) {
        const j = indexRune(b, s, e, r);
        if (j === -1) break;
        i = j;
        // gobwas slices the shrinking copy by an index found in the whole string: Go's `sub[i+1:]` past its end.
        if (i + 1 > sub) throw new GoPanic(`runtime error: slice bounds out of range [${i + 1}:${sub}]`);
        sub -= i + 1;
      }
    }
    if (i !== -1) return i;
  }
  return -1;
}

type Index = [number, number[]] | null;

export interface Matcher {
  readonly kind: string;
  len(): number;
  match(t: Text, s: number, e: number): boolean;
  /** The first offset (from s) where the matcher matches, with the byte lengths it can match there. */
  index(t: Text, s: number, e: number): Index;
}

/** Rune starts of b[s:e] as offsets plus `base`, then the length plus `base` (Any's and Super's segments). */
function allSegments(b: Buffer, s: number, e: number, base: number): number[] {
  const out: number[] = [];
  for (const [i] of runes(b, s, e)) out.push(base + i);
  out.push(base + e - s);
  return out;
}

class TextM implements Matcher {
  readonly kind = 'text';
  readonly runes: number;
  constructor(readonly str: Buffer) {
    this.runes = runeCount(str, 0, str.length);
  }
  len(): number {
    return this.runes;
  }
  match(t: Text, s: number, e: number): boolean {
    return e - s === this.str.length && t.b.subarray(s, e).equals(this.str);
  }
  index(t: Text, s: number, e: number): Index {
    const i = indexOf(t.b, s, e, this.str);
    return i === -1 ? null : [i, [this.str.length]];
  }
}

class AnyM implements Matcher {
  readonly kind = 'any';
  constructor(readonly seps: number[]) {}
  len(): number {
    return -1;
  }
  match(t: Text, s: number, e: number): boolean {
    return indexAnyRunes(t.b, s, e, this.seps) === -1;
  }
  index(t: Text, s: number, e: number): Index {
    const found = indexAnyRunes(t.b, s, e, this.seps);
    if (found === 0) return [0, [0]];
    return [0, allSegments(t.b, s, found === -1 ? e : s + found, 0)];
  }
}

class SuperM implements Matcher {
  readonly kind = 'super';
  len(): number {
    return -1;
  }
  match(): boolean {
    return true;
  }
  index(t: Text, s: number, e: number): Index {
    return [0, allSegments(t.b, s, e, 0)];
  }
}

/** `?`, `[…]` and `[a-z]`: one rune, tested by `test`. */
abstract class OneRune implements Matcher {
  abstract readonly kind: string;
  protected abstract test(r: number): boolean;
  len(): number {
    return 1;
  }
  match(t: Text, s: number, e: number): boolean {
    const [r, w] = decode(t.b, s, e);
    if (e - s > w) return false;
    return this.test(r);
  }
  index(t: Text, s: number, e: number): Index {
    for (const [i, r] of runes(t.b, s, e)) if (this.test(r)) return [i, [runeLen(r)]];
    return null;
  }
}

class SingleM extends OneRune {
  readonly kind = 'single';
  constructor(readonly seps: number[]) {
    super();
  }
  protected test(r: number): boolean {
    return !this.seps.includes(r);
  }
}

class ListM extends OneRune {
  readonly kind = 'list';
  constructor(
    readonly list: number[],
    readonly not: boolean,
  ) {
    super();
  }
  protected test(r: number): boolean {
    return this.list.includes(r) === !this.not;
  }
}

class RangeM extends OneRune {
  readonly kind = 'range';
  constructor(
    readonly lo: number,
    readonly hi: number,
    readonly not: boolean,
  ) {
    super();
  }
  protected test(r: number): boolean {
    return (r >= this.lo && r <= this.hi) === !this.not;
  }
}

class NothingM implements Matcher {
  readonly kind = 'nothing';
  len(): number {
    return 0;
  }
  match(_t: Text, s: number, e: number): boolean {
    return e === s;
  }
  index(): Index {
    return [0, [0]];
  }
}

class PrefixM implements Matcher {
  readonly kind = 'prefix';
  constructor(readonly prefix: Buffer) {}
  len(): number {
    return -1;
  }
  match(t: Text, s: number, e: number): boolean {
    return hasPrefix(t.b, s, e, this.prefix);
  }
  index(t: Text, s: number, e: number): Index {
    const idx = indexOf(t.b, s, e, this.prefix);
    if (idx === -1) return null;
    const n = this.prefix.length;
    const segs = [n];
    for (const [i, r] of runes(t.b, s + idx + n, e)) segs.push(n + i + runeLen(r));
    return [idx, segs];
  }
}

class PrefixAnyM implements Matcher {
  readonly kind = 'prefix_any';
  constructor(
    readonly prefix: Buffer,
    readonly seps: number[],
  ) {}
  len(): number {
    return -1;
  }
  match(t: Text, s: number, e: number): boolean {
    return hasPrefix(t.b, s, e, this.prefix) && indexAnyRunes(t.b, s + this.prefix.length, e, this.seps) === -1;
  }
  index(t: Text, s: number, e: number): Index {
    const idx = indexOf(t.b, s, e, this.prefix);
    if (idx === -1) return null;
    const n = this.prefix.length;
    let end = e;
    const i = indexAnyRunes(t.b, s + idx + n, e, this.seps);
    if (i > -1) end = s + idx + n + i;
    const segs = [n];
    for (const [j, r] of runes(t.b, s + idx + n, end)) segs.push(n + j + runeLen(r));
    return [idx, segs];
  }
}

class SuffixM implements Matcher {
  readonly kind = 'suffix';
  constructor(readonly suffix: Buffer) {}
  len(): number {
    return -1;
  }
  match(t: Text, s: number, e: number): boolean {
    return hasSuffix(t.b, s, e, this.suffix);
  }
  index(t: Text, s: number, e: number): Index {
    const idx = indexOf(t.b, s, e, this.suffix);
    return idx === -1 ? null : [0, [idx + this.suffix.length]];
  }
}

class SuffixAnyM implements Matcher {
  readonly kind = 'suffix_any';
  constructor(
    readonly suffix: Buffer,
    readonly seps: number[],
  ) {}
  len(): number {
    return -1;
  }
  match(t: Text, s: number, e: number): boolean {
    return hasSuffix(t.b, s, e, this.suffix) && indexAnyRunes(t.b, s, e - this.suffix.length, this.seps) === -1;
  }
  index(t: Text, s: number, e: number): Index {
    const idx = indexOf(t.b, s, e, this.suffix);
    if (idx === -1) return null;
    const i = lastIndexAnyRunes(t.b, s, s + idx, this.seps) + 1;
    return [i, [idx + this.suffix.length - i]];
  }
}

class PrefixSuffixM implements Matcher {
  readonly kind = 'prefix_suffix';
  constructor(
    readonly prefix: Buffer,
    readonly suffix: Buffer,
  ) {}
  len(): number {
    return -1;
  }
  match(t: Text, s: number, e: number): boolean {
    return hasPrefix(t.b, s, e, this.prefix) && hasSuffix(t.b, s, e, this.suffix);
  }
  index(t: Text, s: number, e: number): Index {
    const p = indexOf(t.b, s, e, this.prefix);
    if (p === -1) return null;
    const sl = this.suffix.length;
    if (sl <= 0) return [p, [e - s - p]];
    if (e - s - p <= 0) return null;
    const segs: number[] = [];
    for (let subEnd = e; ; ) {
      const si = lastIndexOf(t.b, s + p, subEnd, this.suffix);
      if (si === -1) break;
      segs.push(si + sl);
      subEnd = s + p + si;
    }
    if (segs.length === 0) return null;
    segs.reverse();
    return [p, segs];
  }
}

class ContainsM implements Matcher {
  readonly kind = 'contains';
  constructor(
    readonly needle: Buffer,
    readonly not: boolean,
  ) {}
  len(): number {
    return -1;
  }
  match(t: Text, s: number, e: number): boolean {
    return (indexOf(t.b, s, e, this.needle) !== -1) !== this.not;
  }
  index(t: Text, s: number, e: number): Index {
    let offset = 0;
    let from = s;
    let to = e;
    const idx = indexOf(t.b, s, e, this.needle);
    if (!this.not) {
      if (idx === -1) return null;
      offset = idx + this.needle.length;
      if (e - s <= offset) return [0, [offset]];
      from = s + offset;
    } else if (idx !== -1) to = s + idx;
    return [0, allSegments(t.b, from, to, offset)];
  }
}

class MinM implements Matcher {
  readonly kind = 'min';
  constructor(readonly limit: number) {}
  len(): number {
    return -1;
  }
  match(t: Text, s: number, e: number): boolean {
    let l = 0;
    for (const _ of runes(t.b, s, e)) if (++l >= this.limit) return true;
    return false;
  }
  index(t: Text, s: number, e: number): Index {
    if (e - s - this.limit + 1 <= 0) return null;
    const segs: number[] = [];
    let count = 0;
    for (const [i, r] of runes(t.b, s, e)) if (++count >= this.limit) segs.push(i + runeLen(r));
    return segs.length === 0 ? null : [0, segs];
  }
}

class MaxM implements Matcher {
  readonly kind = 'max';
  constructor(readonly limit: number) {}
  len(): number {
    return -1;
  }
  match(t: Text, s: number, e: number): boolean {
    let l = 0;
    for (const _ of runes(t.b, s, e)) if (++l > this.limit) return false;
    return true;
  }
  index(t: Text, s: number, e: number): Index {
    const segs = [0];
    let count = 0;
    for (const [i, r] of runes(t.b, s, e)) {
      if (++count > this.limit) break;
      segs.push(i + runeLen(r));
    }
    return [0, segs];
  }
}

class EveryOfM implements Matcher {
  readonly kind = 'every_of';
  constructor(readonly ms: Matcher[]) {}
  /** As gobwas computes it: -1 whenever there is a matcher at all. */
  len(): number {
    return this.ms.length === 0 ? 0 : -1;
  }
  match(t: Text, s: number, e: number): boolean {
    return this.ms.every((m) => m.match(t, s, e));
  }
  index(t: Text, s: number, e: number): Index {
    let index = 0;
    let offset = 0;
    let current: number[] = [];
    let sub = s;
    for (let i = 0; i < this.ms.length; i++) {
      const r = this.ms[i]!.index(t, sub, e);
      if (r === null) return null;
      const [idx, seg] = r;
      if (i === 0) current = [...seg];
      else {
        const next: number[] = [];
        const delta = index - (idx + offset);
        for (const ex of current) for (const n of seg) if (ex + delta === n) next.push(n);
        if (next.length === 0) return null;
        current = next;
      }
      index = idx + offset;
      sub = s + index;
      offset += idx;
    }
    return [index, current];
  }
}

/** gobwas appendMerge: merges two ascending lists without repeats. */
function appendMerge(target: number[], sub: number[]): number[] {
  const out: number[] = [];
  let x = 0;
  let y = 0;
  while (x < target.length || y < sub.length) {
    if (x >= target.length) {
      out.push(...sub.slice(y));
      break;
    }
    if (y >= sub.length) {
      out.push(...target.slice(x));
      break;
    }
    const a = target[x]!;
    const c = sub[y]!;
    if (a === c) {
      out.push(a);
      x++;
      y++;
    } else if (a < c) {
      out.push(a);
      x++;
    } else {
      out.push(c);
      y++;
    }
  }
  return out;
}

class AnyOfM implements Matcher {
  readonly kind = 'any_of';
  constructor(readonly ms: Matcher[]) {}
  /** gobwas's loop: while no length is known yet, the next matcher's length (even -1) is taken. */
  len(): number {
    let l = -1;
    for (const m of this.ms) {
      const ml = m.len();
      if (l === -1) l = ml;
      else if (ml === -1 || l !== ml) return -1;
    }
    return l;
  }
  match(t: Text, s: number, e: number): boolean {
    return this.ms.some((m) => m.match(t, s, e));
  }
  index(t: Text, s: number, e: number): Index {
    let index = -1;
    let segs: number[] = [];
    for (const m of this.ms) {
      const r = m.index(t, s, e);
      if (r === null) continue;
      const [idx, seg] = r;
      if (index === -1 || idx < index) {
        index = idx;
        segs = [...seg];
        continue;
      }
      if (idx > index) continue;
      segs = appendMerge(segs, seg);
    }
    return index === -1 ? null : [index, segs];
  }
}

class RowM implements Matcher {
  readonly kind = 'row';
  constructor(
    readonly ms: Matcher[],
    readonly runesLength: number,
  ) {}
  len(): number {
    return this.runesLength;
  }
  /** Each part gets its length in runes, cut one byte past the start of its last rune. */
  private matchAll(t: Text, s: number, e: number): boolean {
    let idx = s;
    for (const m of this.ms) {
      const length = m.len();
      let next = 0;
      let i = 0;
      for (const [off] of runes(t.b, idx, e)) {
        next = off;
        i++;
        if (i === length) break;
      }
      if (i < length) return false;
      // Go's `s[idx:idx+next+1]` past the end of the string the row was given.
      if (idx + next + 1 > e) throw new GoPanic(`runtime error: slice bounds out of range [:${idx - s + next + 1}] with length ${e - s}`);
      if (!m.match(t, idx, idx + next + 1)) return false;
      idx += next + 1;
    }
    return true;
  }
  match(t: Text, s: number, e: number): boolean {
    let i = 0;
    for (const _ of runes(t.b, s, e)) if (++i > this.runesLength) return false;
    return i === this.runesLength && this.matchAll(t, s, e);
  }
  index(t: Text, s: number, e: number): Index {
    for (const [i] of runes(t.b, s, e)) {
      if (e - (s + i) < this.runesLength) break;
      if (this.matchAll(t, s + i, e)) return [i, [this.runesLength]];
    }
    return null;
  }
}

class BTreeM implements Matcher {
  readonly kind = 'btree';
  readonly valueLen: number;
  readonly leftLen: number;
  readonly rightLen: number;
  readonly length: number;
  constructor(
    readonly value: Matcher,
    public left: Matcher | null,
    public right: Matcher | null,
  ) {
    let ok = true;
    this.valueLen = value.len();
    if (this.valueLen === -1) ok = false;
    this.leftLen = left ? left.len() : 0;
    if (this.leftLen === -1) ok = false;
    this.rightLen = right ? right.len() : 0;
    if (this.rightLen === -1) ok = false;
    this.length = ok ? this.leftLen + this.valueLen + this.rightLen : -1;
  }
  len(): number {
    return this.length;
  }
  index(): Index {
    return null;
  }
  match(t: Text, s: number, e: number): boolean {
    let memo = t.memo.get(this);
    if (!memo) t.memo.set(this, (memo = new Map()));
    const key = s * (t.b.length + 1) + e;
    const hit = memo.get(key);
    if (hit !== undefined) return hit;
    const out = this.matchSlice(t, s, e);
    memo.set(key, out);
    return out;
  }
  /** Lengths in runes taken as byte counts, as gobwas does. */
  private matchSlice(t: Text, s: number, e: number): boolean {
    const inputLen = e - s;
    if (this.length !== -1 && this.length > inputLen) return false;
    let offset = this.leftLen >= 0 ? this.leftLen : 0;
    const limit = this.rightLen >= 0 ? inputLen - this.rightLen : inputLen;
    while (offset < limit) {
      const found = this.value.index(t, s + offset, s + limit);
      if (found === null) return false;
      const [index, segments] = found;
      const left = this.left ? this.left.match(t, s, s + offset + index) : offset + index === 0;
      if (left) {
        for (let i = segments.length - 1; i >= 0; i--) {
          const at = offset + index + segments[i]!;
          const rs = inputLen <= at ? e : s + at;
          const right = this.right ? this.right.match(t, rs, e) : rs === e;
          if (right) return true;
        }
      }
      const step = decode(t.b, s + offset + index, e)[1];
      offset += index + Math.max(step, 1);
    }
    return false;
  }
}

// --- the compiler (gobwas compiler/compiler.go) ---------------------------------------------------------

export type Node =
  | { kind: 'pattern' | 'anyOf'; children: Node[] }
  | { kind: 'nothing' | 'any' | 'super' | 'single'; children: Node[] }
  | { kind: 'text'; text: string; children: Node[] }
  | { kind: 'list'; chars: number[]; not: boolean; children: Node[] }
  | { kind: 'range'; lo: number; hi: number; not: boolean; children: Node[] };

function nodeEqual(a: Node, b: Node): boolean {
  if (a.kind !== b.kind || a.children.length !== b.children.length) return false;
  if (a.kind === 'text' && b.kind === 'text' && a.text !== b.text) return false;
  if (a.kind === 'list' && b.kind === 'list' && (a.not !== b.not || a.chars.join() !== b.chars.join())) return false;
  if (a.kind === 'range' && b.kind === 'range' && (a.not !== b.not || a.lo !== b.lo || a.hi !== b.hi)) return false;
  return a.children.every((c, i) => nodeEqual(c, b.children[i]!));
}

function optimize(m: Matcher): Matcher;
function optimize(m: Matcher | null): Matcher | null;
function optimize(m: Matcher | null): Matcher | null {
  if (m instanceof AnyM) return m.seps.length === 0 ? new SuperM() : m;
  if (m instanceof AnyOfM) return m.ms.length === 1 ? m.ms[0]! : m;
  if (m instanceof ListM) return !m.not && m.list.length === 1 ? new TextM(encodeRune(m.list[0]!)) : m;
  if (!(m instanceof BTreeM)) return m;
  // A copy, as gobwas's tree is a value: the lengths stay those computed from the children before.
  const tree = Object.assign(Object.create(BTreeM.prototype) as BTreeM, m);
  tree.left = optimize(m.left);
  tree.right = optimize(m.right);
  const v = tree.value;
  if (!(v instanceof TextM)) return tree;
  const { left, right } = tree;
  if (left === null && right === null) return new TextM(v.str);
  if (left instanceof SuperM && right instanceof SuperM) return new ContainsM(v.str, false);
  if (left instanceof SuperM && right === null) return new SuffixM(v.str);
  if (right instanceof SuperM && left === null) return new PrefixM(v.str);
  if (left === null && right instanceof SuffixM) return new PrefixSuffixM(v.str, right.suffix);
  if (right === null && left instanceof PrefixM) return new PrefixSuffixM(left.prefix, v.str);
  if (right === null && left instanceof AnyM) return new SuffixAnyM(v.str, left.seps);
  if (left === null && right instanceof AnyM) return new PrefixAnyM(v.str, right.seps);
  return tree;
}

function sameRunes(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function glueAsEvery(ms: Matcher[]): Matcher | null {
  if (ms.length <= 1) return null;
  let hasAny = false;
  let hasSuper = false;
  let hasSingle = false;
  let min = 0;
  let separator: number[] = [];
  for (let i = 0; i < ms.length; i++) {
    const m = ms[i]!;
    let sep: number[];
    if (m instanceof SuperM) {
      sep = [];
      hasSuper = true;
    } else if (m instanceof AnyM) {
      sep = m.seps;
      hasAny = true;
    } else if (m instanceof SingleM) {
      sep = m.seps;
      hasSingle = true;
      min++;
    } else if (m instanceof ListM) {
      if (!m.not) return null;
      sep = m.list;
      hasSingle = true;
      min++;
    } else return null;
    if (i === 0) separator = sep;
    if (!sameRunes(sep, separator)) return null;
  }
  if (hasSuper && !hasAny && !hasSingle) return new SuperM();
  if (hasAny && !hasSuper && !hasSingle) return new AnyM(separator);
  if ((hasAny || hasSuper) && min > 0 && separator.length === 0) return new MinM(min);
  const every: Matcher[] = [];
  if (min > 0) {
    every.push(new MinM(min));
    if (!hasAny && !hasSuper) every.push(new MaxM(min));
  }
  // The separators joined into one string, searched for as a whole.
  if (separator.length > 0) every.push(new ContainsM(Buffer.from(String.fromCodePoint(...separator), 'utf8'), true));
  return new EveryOfM(every);
}

function glueAsRow(ms: Matcher[]): Matcher | null {
  if (ms.length <= 1) return null;
  let l = 0;
  for (const m of ms) {
    const ml = m.len();
    if (ml === -1) return null;
    l += ml;
  }
  return new RowM([...ms], l);
}

function glue(ms: Matcher[]): Matcher | null {
  return glueAsEvery(ms) ?? glueAsRow(ms);
}

function minimizeMatchers(ms: Matcher[]): Matcher[] {
  for (;;) {
    let done: Matcher | null = null;
    let left = 0;
    let right = 0;
    let count = 0;
    for (let l = 0; l < ms.length; l++) {
      for (let r = ms.length; r > l; r--) {
        const glued = glue(ms.slice(l, r));
        if (glued === null) continue;
        let swap: boolean;
        if (done === null) swap = true;
        else {
          const cl = done.len();
          const gl = glued.len();
          swap = (cl > -1 && gl > -1 && gl > cl) || count < r - l;
        }
        if (swap) {
          done = glued;
          left = l;
          right = r;
          count = r - l;
        }
      }
    }
    if (done === null) return ms;
    const next = [...ms.slice(0, left), done, ...ms.slice(right)];
    if (next.length === ms.length) return next;
    ms = next;
  }
}

function compileMatchers(ms: Matcher[]): Matcher {
  if (ms.length === 0) throw new Error('compile error: need at least one matcher');
  if (ms.length === 1) return ms[0]!;
  const glued = glue(ms);
  if (glued) return glued;
  let idx = -1;
  let maxLen = -1;
  for (let i = 0; i < ms.length; i++) {
    const l = ms[i]!.len();
    if (l !== -1 && l >= maxLen) {
      maxLen = l;
      idx = i;
    }
  }
  if (idx === -1) return new BTreeM(ms[0]!, null, compileMatchers(ms.slice(1)));
  const left = ms.slice(0, idx);
  const right = ms.slice(idx + 1);
  return new BTreeM(ms[idx]!, left.length > 0 ? compileMatchers(left) : null, right.length > 0 ? compileMatchers(right) : null);
}

/** Common leading and trailing children of the alternatives, as gobwas's commonChildren finds them. */
function commonChildren(nodes: Node[]): [Node[], Node[]] {
  if (nodes.length <= 1) return [[], []];
  let idx = -1;
  let min = -1;
  nodes.forEach((n, i) => {
    if (idx === -1 || n.children.length < min) {
      min = n.children.length;
      idx = i;
    }
  });
  const tree = nodes[idx]!;
  const tl = tree.children.length;
  const commonLeft: Node[] = [];
  const commonRight: Array<Node | undefined> = new Array<Node | undefined>(tl);
  let lastRight = tl;
  let breakLeft = false;
  let breakRight = false;
  let total = 0;
  for (let i = 0, j = tl - 1; total < tl && j >= 0 && !(breakLeft && breakRight); i++, j--) {
    const treeLeft = tree.children[i]!;
    const treeRight = tree.children[j]!;
    for (let k = 0; k < nodes.length && !(breakLeft && breakRight); k++) {
      if (k === idx) continue;
      const other = nodes[k]!.children;
      breakLeft = breakLeft || !nodeEqual(treeLeft, other[i]!);
      breakRight = breakRight || (!breakLeft && j <= i);
      breakRight = breakRight || !nodeEqual(treeRight, other[j + other.length - tl]!);
    }
    if (!breakLeft) {
      total++;
      commonLeft.push(treeLeft);
    }
    if (!breakRight) {
      total++;
      lastRight = j;
      commonRight[j] = treeRight;
    }
  }
  return [commonLeft, commonRight.slice(lastRight) as Node[]];
}

function minimizeAnyOf(tree: Node): Node | null {
  if (!tree.children.every((c) => c.kind === 'pattern')) return null;
  const [cl, cr] = commonChildren(tree.children);
  if (cl.length === 0 && cr.length === 0) return null;
  const result: Node[] = [];
  if (cl.length > 0) result.push({ kind: 'pattern', children: cl });
  const anyOf: Node[] = [];
  for (const child of tree.children) {
    const reuse = child.children.slice(cl.length, child.children.length - cr.length);
    const node: Node = reuse.length === 0 ? { kind: 'nothing', children: [] } : { kind: 'pattern', children: reuse };
    if (!anyOf.some((n) => nodeEqual(n, node))) anyOf.push(node);
  }
  if (anyOf.length === 1 && anyOf[0]!.kind !== 'nothing') result.push(anyOf[0]!);
  else if (anyOf.length > 1) result.push({ kind: 'anyOf', children: anyOf });
  if (cr.length > 0) result.push({ kind: 'pattern', children: cr });
  return { kind: 'pattern', children: result };
}

export function compile(tree: Node, sep: number[]): Matcher {
  let m: Matcher;
  switch (tree.kind) {
    case 'anyOf': {
      const n = minimizeAnyOf(tree);
      if (n) return compile(n, sep);
      return new AnyOfM(tree.children.map((c) => optimize(compile(c, sep))));
    }
    case 'pattern':
      if (tree.children.length === 0) return new NothingM();
      m = compileMatchers(minimizeMatchers(tree.children.map((c) => optimize(compile(c, sep)))));
      break;
    case 'any':
      m = new AnyM(sep);
      break;
    case 'super':
      m = new SuperM();
      break;
    case 'single':
      m = new SingleM(sep);
      break;
    case 'nothing':
      m = new NothingM();
      break;
    case 'list':
      m = new ListM(tree.chars, tree.not);
      break;
    case 'range':
      m = new RangeM(tree.lo, tree.hi, tree.not);
      break;
    case 'text':
      m = new TextM(Buffer.from(tree.text, 'utf8'));
      break;
  }
  return optimize(m);
}

/** The compiled glob's answer for `text` (a Go panic surfaces as GoPanic). */
export function globMatches(m: Matcher, text: string): boolean {
  const t = new Text(Buffer.from(text, 'utf8'));
  return m.match(t, 0, t.b.length);
}

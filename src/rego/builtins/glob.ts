/**
 * `glob.match` and `glob.quote_meta` with gobwas/glob semantics (opa:v1/topdown/glob.go):
 * `*` any run of non-delimiter characters, `**` any run, `?` one non-delimiter character, `[abc]`/`[a-z]`
 * and negations `[!…]` (any character, delimiters included), `{a,b}` alternatives (nestable), `\` escapes.
 * Delimiters: `null` means none, an empty array means `["."]`. The glob is compiled to an anchored RegExp.
 */
import { type Value } from '../value.js';
import { type BuiltinDef, BuiltinError, argString, builtinError, typeErrorOneOf } from './registry.js';

class GlobError extends Error {}

function esc(ch: string): string {
  return `\\u{${ch.codePointAt(0)!.toString(16)}}`;
}

function compileGlob(pattern: string, delims: string[]): RegExp {
  const cps = Array.from(pattern);
  let i = 0;
  const notSep = delims.length > 0 ? `[^${delims.map(esc).join('')}]` : '[\\s\\S]';

  const seq = (inTerms: boolean): string => {
    let out = '';
    while (i < cps.length) {
      const c = cps[i]!;
      if (inTerms && (c === ',' || c === '}')) return out;
      i++;
      switch (c) {
        case '*':
          if (cps[i] === '*') {
            while (cps[i] === '*') i++;
            out += '[\\s\\S]*';
          } else out += `${notSep}*`;
          break;
        case '?':
          out += notSep;
          break;
        case '\\':
          if (i >= cps.length) throw new GlobError('unexpected end of input');
          out += esc(cps[i++]!);
          break;
        case '[': {
          let neg = false;
          if (cps[i] === '!') {
            neg = true;
            i++;
          }
          let body = '';
          let n = 0;
          while (i < cps.length && cps[i] !== ']') {
            const lo = cps[i++]!;
            if (cps[i] === '-' && cps[i + 1] !== undefined && cps[i + 1] !== ']') {
              const hi = cps[i + 1]!;
              i += 2;
              if (hi.codePointAt(0)! < lo.codePointAt(0)!) throw new GlobError(`hi character '${hi}' should be greater than lo '${lo}'`);
              body += `${esc(lo)}-${esc(hi)}`;
            } else body += esc(lo);
            n++;
          }
          if (i >= cps.length) throw new GlobError('unexpected end of input');
          i++; // ]
          if (n === 0) throw new GlobError('unexpected length of lo character');
          out += `[${neg ? '^' : ''}${body}]`;
          break;
        }
        case '{': {
          const alts: string[] = [];
          for (;;) {
            alts.push(seq(true));
            if (i >= cps.length) throw new GlobError('unexpected end of input');
            if (cps[i++] === '}') break;
          }
          out += `(?:${alts.join('|')})`;
          break;
        }
        default:
          out += esc(c);
      }
    }
    if (inTerms) throw new GlobError('unexpected end of input');
    return out;
  };
  const body = seq(false);
  return new RegExp(`^${body}$`, 'u');
}

const CACHE = new Map<string, RegExp>();

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
      let re = CACHE.get(key);
      if (!re) {
        try {
          re = compileGlob(pattern, delims);
        } catch (e) {
          if (e instanceof GlobError) throw builtinError(name, e.message);
          throw e;
        }
        if (CACHE.size > 500) CACHE.clear();
        CACHE.set(key, re);
      }
      return re.test(match);
    },
  },
  { name: 'glob.quote_meta', arity: 1, fn: (a) => quoteMeta(argString('glob.quote_meta', a, 0)) },
];

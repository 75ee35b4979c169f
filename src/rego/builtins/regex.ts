/**
 * `regex.*` built-ins (opa:v1/topdown/regex.go, regex_template.go) on Go RE2 semantics; the RE2 → JS
 * translation and its limits are described in ./re2.ts. A pattern RE2 rejects is a builtin error
 * (`error parsing regexp: …`), which makes the call undefined unless strict builtin errors are on.
 * `regex.globs_match` lives in ./globs.ts.
 */
import { type Value } from '../value.js';
import { type BuiltinDef, argInteger, argString, builtinError } from './registry.js';
import { goQuote } from './sprintf.js';
import { Re2Error, compileRe2, findAll, quoteMeta, replaceAll, split, type GoRegexp } from './re2.js';

function compile(name: string, pattern: string): GoRegexp {
  try {
    return compileRe2(pattern);
  } catch (e) {
    if (e instanceof Re2Error) throw builtinError(name, e.message);
    throw e;
  }
}

function nArg(name: string, a: Value[], i: number): number {
  const n = argInteger(name, a, i);
  return typeof n === 'bigint' ? (n < 0n ? -1 : Number.MAX_SAFE_INTEGER) : n;
}

/** regex_template.go delimiterIndices: balanced delimiter pairs as [start, end+1] offsets. */
function delimiterIndices(s: string, open: string, close: string): number[] {
  let level = 0;
  let idx = 0;
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === open) {
      if (++level === 1) idx = i;
    } else if (s[i] === close) {
      if (--level === 0) out.push(idx, i + 1);
      else if (level < 0) throw builtinError('regex.template_match', `unbalanced braces in ${goQuote(s)}`);
    }
  }
  if (level !== 0) throw builtinError('regex.template_match', `unbalanced braces in ${goQuote(s)}`);
  return out;
}

function templateMatch(a: Value[]): Value {
  const name = 'regex.template_match';
  const tpl = argString(name, a, 0);
  const input = argString(name, a, 1);
  const start = argString(name, a, 2);
  const end = argString(name, a, 3);
  if (Buffer.byteLength(start) !== 1) throw builtinError(name, `start delimiter has to be exactly one character long but is ${Buffer.byteLength(start)} long`);
  if (Buffer.byteLength(end) !== 1) throw builtinError(name, `end delimiter has to be exactly one character long but is ${Buffer.byteLength(start)} long`);
  const idxs = delimiterIndices(tpl, start, end);
  let pattern = '^';
  let last = 0;
  for (let i = 0; i < idxs.length; i += 2) {
    const raw = tpl.slice(last, idxs[i]);
    last = idxs[i + 1]!;
    const inner = tpl.slice(idxs[i]! + 1, last - 1);
    compile(name, `^${inner}$`);
    pattern += `${quoteMeta(raw)}(${inner})`;
  }
  pattern += quoteMeta(tpl.slice(last)) + '$';
  return findAll(compile(name, pattern), input, 1).length > 0;
}

export const builtins: BuiltinDef[] = [
  {
    name: 'regex.is_valid',
    arity: 1,
    fn: (a) => {
      if (typeof a[0] !== 'string') return false;
      try {
        compileRe2(a[0]);
        return true;
      } catch (e) {
        if (e instanceof Re2Error) return false;
        throw e;
      }
    },
  },
  {
    name: 'regex.match',
    arity: 2,
    fn: (a) => findAll(compile('regex.match', argString('regex.match', a, 0)), argString('regex.match', a, 1), 1).length > 0,
  },
  {
    name: 'regex.split',
    arity: 2,
    fn: (a) => {
      const p = argString('regex.split', a, 0);
      return split(compile('regex.split', p), p, argString('regex.split', a, 1));
    },
  },
  {
    name: 'regex.find_n',
    arity: 3,
    fn: (a) => {
      const g = compile('regex.find_n', argString('regex.find_n', a, 0));
      const s = argString('regex.find_n', a, 1);
      return findAll(g, s, nArg('regex.find_n', a, 2)).map((m) => m.texts[0]!);
    },
  },
  {
    name: 'regex.find_all_string_submatch_n',
    arity: 3,
    fn: (a) => {
      const name = 'regex.find_all_string_submatch_n';
      const g = compile(name, argString(name, a, 0));
      const s = argString(name, a, 1);
      return findAll(g, s, nArg(name, a, 2)).map((m) => m.texts);
    },
  },
  {
    name: 'regex.replace',
    arity: 3,
    fn: (a) => {
      const s = argString('regex.replace', a, 0);
      const p = argString('regex.replace', a, 1);
      const r = argString('regex.replace', a, 2);
      return replaceAll(compile('regex.replace', p), p, s, r);
    },
  },
  { name: 'regex.template_match', arity: 4, fn: templateMatch },
  {
    // Deprecated alias of regex.match (Rego v0 only).
    name: 're_match',
    arity: 2,
    deprecated: true,
    fn: (a) => findAll(compile('re_match', argString('re_match', a, 0)), argString('re_match', a, 1), 1).length > 0,
  },
];

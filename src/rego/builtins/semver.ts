/**
 * `semver.is_valid` and `semver.compare` (opa:v1/topdown/semver.go with OPA's internal semver parser): build
 * metadata is cut at the first `+`, a pre-release at the first `-`, each must be dot-separated `[0-9A-Za-z-]`
 * identifiers when not empty, and what remains is exactly three base-10 int64 numbers. Like OPA (and unlike the
 * SemVer grammar) leading zeros are accepted and an empty pre-release or metadata part is no pre-release; a
 * `v` prefix is refused.
 */
import { type Value } from '../value.js';
import { type BuiltinDef, argString, builtinError } from './registry.js';
import { goQuote } from './sprintf.js';

const IDENTS = /^[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*$/;
const INT64_MAX = (1n << 63n) - 1n;

interface Version {
  core: [bigint, bigint, bigint];
  pre: string[];
}

function cut(s: string, sep: string): [string, string] {
  const i = s.indexOf(sep);
  return i < 0 ? [s, ''] : [s.slice(0, i), s.slice(i + 1)];
}

function parse(s: string): Version | undefined {
  const [rest, meta] = cut(s, '+');
  if (meta !== '' && !IDENTS.test(meta)) return undefined;
  const [core, pre] = cut(rest, '-');
  if (pre !== '' && !IDENTS.test(pre)) return undefined;
  const parts = core.split('.');
  if (parts.length !== 3) return undefined;
  const nums: bigint[] = [];
  for (const p of parts) {
    if (!/^[0-9]+$/.test(p)) return undefined;
    const n = BigInt(p);
    if (n > INT64_MAX) return undefined;
    nums.push(n);
  }
  return { core: [nums[0]!, nums[1]!, nums[2]!], pre: pre === '' ? [] : pre.split('.') };
}

function cmpIdent(a: string, b: string): number {
  const na = /^\d+$/.test(a);
  const nb = /^\d+$/.test(b);
  if (na && nb) return BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0;
  if (na) return -1;
  if (nb) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** SemVer 2.0.0 precedence (build metadata ignored). */
export function compareVersions(x: Version, y: Version): number {
  for (let i = 0; i < 3; i++) if (x.core[i] !== y.core[i]) return x.core[i]! < y.core[i]! ? -1 : 1;
  if (x.pre.length === 0 || y.pre.length === 0) return x.pre.length === y.pre.length ? 0 : x.pre.length === 0 ? 1 : -1;
  for (let i = 0; i < Math.min(x.pre.length, y.pre.length); i++) {
    const c = cmpIdent(x.pre[i]!, y.pre[i]!);
    if (c !== 0) return c;
  }
  return Math.sign(x.pre.length - y.pre.length);
}

function versionArg(name: string, a: Value[], i: number): Version {
  const s = argString(name, a, i);
  const v = parse(s);
  if (!v) throw builtinError(name, `operand ${i + 1}: string ${goQuote(s)} is not a valid SemVer`);
  return v;
}

export const builtins: BuiltinDef[] = [
  { name: 'semver.is_valid', arity: 1, fn: (a) => typeof a[0] === 'string' && parse(a[0]) !== undefined },
  {
    name: 'semver.compare',
    arity: 2,
    fn: (a) => compareVersions(versionArg('semver.compare', a, 0), versionArg('semver.compare', a, 1)),
  },
];

/**
 * `units.parse` and `units.parse_bytes` (opa:v1/topdown/parse_units.go, parse_bytes.go). Amounts are parsed
 * exactly (decimal → rational) so `1.1K` is 1100, not 1100.0000000000002; `parse_bytes` truncates to an
 * integer like big.Float.Int. Error texts repeat the builtin name, as OPA's do.
 */
import { type Value, normNum } from '../value.js';
import { type BuiltinDef, argString, builtinError } from './registry.js';

const K = 1000n;
const KI = 1024n;
const SI: Record<string, bigint> = { k: K, m: K ** 2n, g: K ** 3n, t: K ** 4n, p: K ** 5n, e: K ** 6n };
const BIN: Record<string, bigint> = { ki: KI, mi: KI ** 2n, gi: KI ** 3n, ti: KI ** 4n, pi: KI ** 5n, ei: KI ** 6n };

class UnitsError extends Error {}

/**
 * Go's strings.ToLower: each code point folded on its own (no final-sigma context; U+0130 becomes a plain `i`,
 * not JavaScript's `i` with a combining dot).
 */
function goLower(s: string): string {
  let out = '';
  for (const c of s) out += c === '\u0130' ? 'i' : c.toLowerCase();
  return out;
}

/**
 * units.parse folds the unit after its first byte: a unit that starts with a multi-byte character keeps a lone
 * lead byte, and the character's other bytes are invalid UTF-8 that ToLower turns into U+FFFD; the lead byte
 * prints as U+FFFD too once the message is written out.
 */
function foldUnitTail(unit: string): string {
  const first = String.fromCodePoint(unit.codePointAt(0)!);
  if (first.charCodeAt(0) < 0x80) return first + goLower(unit.slice(1));
  return '\ufffd'.repeat(new TextEncoder().encode(first).length) + goLower(unit.slice(first.length));
}

/** extractNumAndUnit: the leading number text (digits, '.', an exponent of at most 6 digits) and the unit. */
function split(s: string): [string, string] {
  let first = -1;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (!/[0-9.eE+-]/.test(c)) {
      first = i;
      break;
    }
    if (c === 'e' || c === 'E') {
      const n = s[i + 1];
      if (n === undefined || !/[0-9+-]/.test(n)) {
        first = i;
        break;
      }
      if (n === '+' || n === '-') i++;
      let j = i + 1;
      while (j < s.length && /[0-9]/.test(s[j]!)) j++;
      if (j - (i + 1) > 6) throw new UnitsError('exponent too large');
    }
  }
  if (first === -1) return [s, ''];
  if (first === 0) return ['', s];
  return [s.slice(0, first), s.slice(first)];
}

/** A decimal text as an exact fraction [num, den]; undefined when big.Rat/big.Float would not parse it. */
function rational(t: string): [bigint, bigint] | undefined {
  const m = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(t);
  if (!m || (m[2] === '' && (m[3] ?? '') === '')) return undefined;
  const digits = (m[2] ?? '') + (m[3] ?? '');
  let num = BigInt(digits === '' ? '0' : digits);
  let den = 10n ** BigInt((m[3] ?? '').length);
  const exp = Number(m[4] ?? '0');
  if (exp >= 0) num *= 10n ** BigInt(exp);
  else den *= 10n ** BigInt(-exp);
  if (m[1] === '-') num = -num;
  return [num, den];
}

function parseUnits(raw: string): Value {
  const name = 'units.parse';
  const s = raw.replaceAll('"', '');
  if (s.includes(' ')) throw builtinError(name, `${name}: spaces not allowed in resource strings`);
  let num: string;
  let unit: string;
  try {
    [num, unit] = split(s);
  } catch {
    throw builtinError(name, `${name}: exponent too large`);
  }
  if (num === '') throw builtinError(name, `${name}: no amount provided`);
  // Only the letters after the first are case-folded, so 'm' (milli) and 'M' (mega) stay apart.
  if (new TextEncoder().encode(unit).length > 1) unit = foldUnitTail(unit);
  let mul: [bigint, bigint];
  if (unit === '') mul = [1n, 1n];
  else if (unit === 'm') mul = [1n, 1000n];
  else if (unit === 'M') mul = [SI.m!, 1n];
  else if (unit.length === 1 && SI[unit.toLowerCase()] !== undefined && unit !== 'm') mul = [SI[unit.toLowerCase()]!, 1n];
  else if (unit.length === 2 && BIN[unit.toLowerCase()] !== undefined) mul = [BIN[unit.toLowerCase()]!, 1n];
  else throw builtinError(name, `${name}: unit ${unit} not recognized`);
  const r = rational(num);
  if (!r) throw builtinError(name, `${name}: could not parse amount to a number`);
  const n = r[0] * mul[0];
  const d = r[1] * mul[1];
  if (n % d === 0n) return normNum(n / d);
  // big.Rat.FloatString(10): rounded to 10 decimals.
  const scaled = (n * 10n ** 10n * 2n + (n >= 0n ? d : -d)) / (2n * d);
  return normNum(Number(scaled) / 1e10);
}

function parseBytes(raw: string): Value {
  const name = 'units.parse_bytes';
  const s = goLower(raw).replaceAll('"', '');
  if (s.includes(' ')) throw builtinError(name, `${name}: spaces not allowed in resource strings`);
  let num: string;
  let unit: string;
  try {
    [num, unit] = split(s);
  } catch {
    throw builtinError(name, `${name}: exponent too large`);
  }
  if (num === '') throw builtinError(name, `${name}: no byte amount provided`);
  let mul: bigint;
  if (unit === '') mul = 1n;
  else if (unit.length <= 2 && (unit.length === 1 || unit.endsWith('b')) && SI[unit[0]!] !== undefined) mul = SI[unit[0]!]!;
  else if ((unit.length === 2 || (unit.length === 3 && unit.endsWith('b'))) && BIN[unit.slice(0, 2)] !== undefined && unit[1] === 'i') {
    mul = BIN[unit.slice(0, 2)]!;
  } else throw builtinError(name, `${name}: byte unit ${unit} not recognized`);
  const r = rational(num);
  if (!r) throw builtinError(name, `${name}: could not parse byte amount to a number`);
  return normNum((r[0] * mul) / r[1]);
}

export const builtins: BuiltinDef[] = [
  { name: 'units.parse', arity: 1, fn: (a) => parseUnits(argString('units.parse', a, 0)) },
  { name: 'units.parse_bytes', arity: 1, fn: (a) => parseBytes(argString('units.parse_bytes', a, 0)) },
];

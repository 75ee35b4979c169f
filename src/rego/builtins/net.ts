/**
 * `net.*` built-ins (opa:v1/topdown/cidr.go, net.go) with Go's `net` package parsing and printing:
 * IPv4 addresses are 4 bytes, IPv6 16 bytes (an IPv4-mapped IPv6 address prints as dotted IPv4), IPv6 text
 * follows Go (longest zero run compressed, lower case), and `net.cidr_merge` ports OPA's netaddr-derived
 * range merge, including classful default masks for bare IPv4 addresses.
 *
 * `net.lookup_ip_addr` answers offline only for IP literals and `localhost`; any other name is refused with the
 * error OPA gives for a host its capabilities' `allow_net` does not list (`unallowed host: NAME`), because the
 * verifier never resolves names at evaluation time (no network at verification). Nothing is
 * awaited, so the call answers at once: OPA with a resolver that fails returns Go's lookup error (a builtin
 * error, undefined unless strict) and halts with `eval_cancel_error` only on a timeout or cancellation, which
 * cannot happen here.
 */
import { type Value, RSet, isObject, isSet } from '../value.js';
import { type BuiltinDef, argString, builtinError } from './registry.js';

type IP = Uint8Array;

function parseIPv4(s: string): IP | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    // Go rejects empty fields, non-digits, values > 255 and (since 1.17) leading zeros.
    if (!/^[0-9]{1,3}$/.test(p) || (p.length > 1 && p[0] === '0')) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

function parseIPv6(s: string): IP | undefined {
  if (s.includes('%')) return undefined;
  let ellipsis = -1;
  const out = new Uint8Array(16);
  let i = 0;
  let rest = s;
  if (rest.startsWith('::')) {
    ellipsis = 0;
    rest = rest.slice(2);
    if (rest === '') return out;
  }
  while (i < 16) {
    // An embedded IPv4 address ends the text.
    const m = /^([0-9a-fA-F]{1,4})/.exec(rest);
    if (rest.includes('.') && !/^[0-9a-fA-F]{1,4}:/.test(rest)) {
      if (i > 12) return undefined;
      const v4 = parseIPv4(rest);
      if (!v4) return undefined;
      out.set(v4, i);
      i += 4;
      rest = '';
      break;
    }
    if (!m) return undefined;
    const n = parseInt(m[1]!, 16);
    out[i] = n >> 8;
    out[i + 1] = n & 0xff;
    i += 2;
    rest = rest.slice(m[1]!.length);
    if (rest === '') break;
    if (rest[0] !== ':' || rest.length === 1) return undefined;
    rest = rest.slice(1);
    if (rest[0] === ':') {
      if (ellipsis >= 0) return undefined;
      ellipsis = i;
      rest = rest.slice(1);
      if (rest === '') break;
    }
  }
  if (rest !== '') return undefined;
  if (i < 16) {
    if (ellipsis < 0) return undefined;
    const n = 16 - i;
    for (let j = i - 1; j >= ellipsis; j--) out[j + n] = out[j]!;
    for (let j = ellipsis + n - 1; j >= ellipsis; j--) out[j] = 0;
  } else if (ellipsis >= 0) return undefined;
  return out;
}

/** net.ParseIP; IPv4 (and IPv4-mapped IPv6) come back as 4 bytes. */
export function parseIP(s: string): IP | undefined {
  if (s.includes(':')) {
    const v6 = parseIPv6(s);
    if (v6 && isV4Mapped(v6)) return v6.slice(12);
    return v6;
  }
  return parseIPv4(s);
}

function isV4Mapped(ip: IP): boolean {
  return ip.length === 16 && ip.slice(0, 10).every((b) => b === 0) && ip[10] === 0xff && ip[11] === 0xff;
}

export function ipString(ip: IP): string {
  if (ip.length === 4) return Array.from(ip).join('.');
  if (isV4Mapped(ip)) return Array.from(ip.slice(12)).join('.');
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((ip[i]! << 8) | ip[i + 1]!);
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestStart < 0) return groups.map((g) => g.toString(16)).join(':');
  const head = groups.slice(0, bestStart).map((g) => g.toString(16)).join(':');
  const tail = groups.slice(bestStart + bestLen).map((g) => g.toString(16)).join(':');
  return `${head}::${tail}`;
}

interface Net {
  ip: IP; // network address (masked)
  prefix: number;
}

function toBig(ip: IP): bigint {
  let n = 0n;
  for (const b of ip) n = (n << 8n) | BigInt(b);
  return n;
}

function fromBig(n: bigint, len: number): IP {
  const out = new Uint8Array(len);
  for (let i = len - 1; i >= 0; i--) {
    out[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return out;
}

function mask(ip: IP, prefix: number): IP {
  const bits = BigInt(ip.length * 8);
  const m = ((1n << bits) - 1n) ^ ((1n << (bits - BigInt(prefix))) - 1n);
  return fromBig(toBig(ip) & m, ip.length);
}

class ParseError extends Error {}

/** net.ParseCIDR (error text `invalid CIDR address: …`). */
export function parseCIDR(s: string): Net {
  const slash = s.indexOf('/');
  const bad = (): never => {
    throw new ParseError(`invalid CIDR address: ${s}`);
  };
  if (slash < 0) bad();
  const addr = s.slice(0, slash);
  const pfx = s.slice(slash + 1);
  const ip = addr.includes(':') ? parseIPv6(addr) : parseIPv4(addr);
  // Go's dtoi: decimal digits, any number of leading zeros, refused once the value reaches 0xFFFFFF.
  if (!ip || !/^[0-9]+$/.test(pfx)) return bad();
  const digits = pfx.replace(/^0+(?=.)/, '');
  const prefix = digits.length > 3 ? Infinity : Number(digits);
  if (prefix > ip.length * 8) bad();
  return { ip: mask(ip, prefix), prefix };
}

function contains(n: Net, ip: IP): boolean {
  let x = ip;
  if (n.ip.length === 4 && x.length === 16) {
    if (!isV4Mapped(x)) return false;
    x = x.slice(12);
  }
  if (n.ip.length === 16 && x.length === 4) x = Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...x]);
  return Buffer.compare(Buffer.from(mask(x, n.prefix)), Buffer.from(n.ip)) === 0;
}

function lastIP(n: Net): IP {
  const bits = BigInt(n.ip.length * 8);
  return fromBig(toBig(n.ip) | ((1n << (bits - BigInt(n.prefix))) - 1n), n.ip.length);
}

function netString(n: Net): string {
  return `${ipString(n.ip)}/${n.prefix}`;
}

/**
 * An operand read as a CIDR. OPA's getNetFromOperand reads every operand under position 1, so a non-string
 * second operand is reported as `operand 1` too.
 */
function netArg(name: string, a: Value[], i: number): Net {
  const s = argString(name, [a[i]!], 0);
  try {
    return parseCIDR(s);
  } catch (e) {
    if (e instanceof ParseError) throw builtinError(name, e.message);
    throw e;
  }
}

/** OPA's builtinNetCIDRContains: operand 1 parsed first, then operand 2 read (under position 1) as a string. */
function cidrContains(name: string, args: Value[]): boolean {
  const a = netArg(name, args, 0);
  const other = argString(name, [args[1]!], 0);
  const ip = parseIP(other);
  if (ip) return contains(a, ip);
  let b: Net;
  try {
    b = parseCIDR(other);
  } catch {
    throw builtinError(name, `not a valid textual representation of an IP address or CIDR: ${other}`);
  }
  return contains(a, b.ip) && contains(a, lastIP(b));
}

// --- cidr_contains_matches ---------------------------------------------------------------------------

function matchOperand(name: string, pos: number, v: Value): Array<[Value, Value]> {
  const elem = (x: Value): Value => {
    if (typeof x === 'string') return x;
    if (Array.isArray(x) && x.length > 0) return x[0]!;
    throw builtinError(name, `operand ${pos}: element must be string or non-empty array`);
  };
  if (typeof v === 'string') return [[v, v]];
  if (Array.isArray(v)) return v.map((x, i) => [elem(x), i]);
  if (isSet(v)) return v.values().map((x) => [elem(x), x]);
  if (isObject(v)) return v.entries().map(([k, x]) => [elem(x), k]);
  return [];
}

// --- cidr_merge ----------------------------------------------------------------------------------------

interface Block {
  first: IP;
  last: IP;
  net?: Net;
}

function cmpIP(a: IP, b: IP): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

function previousIP(ip: IP): IP {
  const n = toBig(ip);
  return n === 0n ? ip : fromBig(n - 1n, ip.length);
}

function rangeToCIDRs(first: IP, last: IP): Net[] {
  const len = first.length;
  const bits = len * 8;
  let cur = toBig(first);
  const end = toBig(last);
  const out: Net[] = [];
  while (cur <= end) {
    let k = 0;
    while (k < bits && ((cur >> BigInt(k)) & 1n) === 0n) k++;
    while (k > 0 && cur + (1n << BigInt(k)) - 1n > end) k--;
    out.push({ ip: fromBig(cur, len), prefix: bits - k });
    cur += 1n << BigInt(k);
  }
  return out;
}

function mergeNet(name: string, x: Value): Net {
  if (typeof x !== 'string') throw builtinError(name, 'element must be string');
  const ip = parseIP(x);
  if (!ip) {
    try {
      return parseCIDR(x);
    } catch (e) {
      if (e instanceof ParseError) throw builtinError(name, e.message);
      throw e;
    }
  }
  if (ip.length === 4) {
    // Go's IP.DefaultMask: the classful mask.
    const prefix = ip[0]! < 0x80 ? 8 : ip[0]! < 0xc0 ? 16 : 24;
    return { ip: mask(ip, prefix), prefix };
  }
  throw builtinError(name, 'IPv6 invalid: needs prefix length');
}

function cidrMerge(name: string, v: Value): RSet {
  let xs: readonly Value[];
  if (Array.isArray(v)) xs = v;
  else if (isSet(v)) xs = v.values();
  else throw builtinError(name, 'operand must be an array');
  let ranges: Block[] = xs.map((x) => {
    const n = mergeNet(name, x);
    return { first: n.ip, last: lastIP(n), net: n };
  });
  ranges.sort((a, b) => cmpIP(a.last, b.last) || cmpIP(a.first, b.first));
  for (let i = ranges.length - 1; i > 0; i--) {
    const prev = previousIP(ranges[i]!.first);
    if (cmpIP(prev, ranges[i - 1]!.last) <= 0) {
      const first = cmpIP(ranges[i - 1]!.first, ranges[i]!.first) < 0 ? ranges[i - 1]!.first : ranges[i]!.first;
      ranges[i - 1] = { first, last: ranges[i]!.last };
      ranges = [...ranges.slice(0, i), ...ranges.slice(i + 1)];
    }
  }
  const out = new RSet();
  for (const r of ranges) {
    if (r.net) out.add(netString(r.net));
    else for (const n of rangeToCIDRs(r.first, r.last)) out.add(netString(n));
  }
  return out;
}

const MAX_EXPAND = 1n << 20n;

export const builtins: BuiltinDef[] = [
  {
    name: 'net.cidr_contains',
    arity: 2,
    fn: (a) => cidrContains('net.cidr_contains', a),
  },
  {
    name: 'net.cidr_overlap',
    arity: 2,
    deprecated: true,
    fn: (a) => cidrContains('net.cidr_overlap', a),
  },
  {
    name: 'net.cidr_intersects',
    arity: 2,
    fn: (a) => {
      const x = netArg('net.cidr_intersects', a, 0);
      const y = netArg('net.cidr_intersects', a, 1);
      return contains(x, y.ip) || contains(y, x.ip);
    },
  },
  {
    name: 'net.cidr_contains_matches',
    arity: 2,
    fn: (a) => {
      const name = 'net.cidr_contains_matches';
      const out = new RSet();
      const xs = matchOperand(name, 1, a[0]!);
      const ys = matchOperand(name, 2, a[1]!);
      for (const [c1, i1] of xs) {
        for (const [c2, i2] of ys) {
          // The first element of an array pair goes to net.cidr_contains as it is, which type-checks it.
          if (cidrContains(name, [c1, c2])) out.add([i1, i2]);
        }
      }
      return out;
    },
  },
  {
    name: 'net.cidr_expand',
    arity: 1,
    fn: (a) => {
      const n = netArg('net.cidr_expand', a, 0);
      const count = 1n << BigInt(n.ip.length * 8 - n.prefix);
      if (count > MAX_EXPAND) throw builtinError('net.cidr_expand', `${netString(n)} has too many addresses to expand`);
      const base = toBig(n.ip);
      const out = new RSet();
      for (let i = 0n; i < count; i++) out.add(ipString(fromBig(base + i, n.ip.length)));
      return out;
    },
  },
  {
    name: 'net.cidr_is_valid',
    arity: 1,
    fn: (a) => {
      if (typeof a[0] !== 'string') return false;
      try {
        parseCIDR(a[0]);
        return true;
      } catch {
        return false;
      }
    },
  },
  { name: 'net.cidr_merge', arity: 1, fn: (a) => cidrMerge('net.cidr_merge', a[0]!) },
  {
    name: 'net.lookup_ip_addr',
    arity: 1,
    nondeterministic: true,
    fn: (a) => {
      const name = argString('net.lookup_ip_addr', a, 0);
      const ip = parseIP(name);
      if (ip) return RSet.from([ipString(ip)]);
      if (name === 'localhost') return RSet.from(['127.0.0.1', '::1']);
      throw builtinError('net.lookup_ip_addr', `unallowed host: ${name}`);
    },
  },
];

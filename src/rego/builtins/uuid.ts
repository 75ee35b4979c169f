/**
 * `uuid.rfc4122` and `uuid.parse` (opa:v1/topdown/uuid.go over github.com/google/uuid). Parsing accepts the
 * forms google/uuid accepts: 36 characters with dashes, 38 with any enclosing pair (`{…}`, `(…)`), a
 * case-insensitive `urn:uuid:` prefix, or 32 hex digits. Versions 1 and 2 also decode their time
 * (ns since the Unix epoch), clock sequence and node id; version 2 its id and domain.
 */
import { type Value, RObject, normNum } from '../value.js';
import { type BuiltinDef, argString } from './registry.js';

function parseUuid(s0: string): Uint8Array | undefined {
  let s = s0;
  switch (s.length) {
    case 36:
      break;
    case 45:
      if (s.slice(0, 9).toLowerCase() !== 'urn:uuid:') return undefined;
      s = s.slice(9);
      break;
    case 38:
      s = s.slice(1, 37);
      break;
    case 32:
      return /^[0-9a-fA-F]{32}$/.test(s) ? Buffer.from(s, 'hex') : undefined;
    default:
      return undefined;
  }
  if (s[8] !== '-' || s[13] !== '-' || s[18] !== '-' || s[23] !== '-') return undefined;
  const hex = s.slice(0, 8) + s.slice(9, 13) + s.slice(14, 18) + s.slice(19, 23) + s.slice(24);
  return /^[0-9a-fA-F]{32}$/.test(hex) ? Buffer.from(hex, 'hex') : undefined;
}

function variant(b: number): string {
  if ((b & 0xc0) === 0x80) return 'RFC4122';
  if ((b & 0xe0) === 0xe0) return 'Future';
  if ((b & 0xe0) === 0xc0) return 'Microsoft';
  return 'Reserved';
}

function macVars(b: number): string {
  if ((b & 3) === 3) return 'local:multicast';
  if ((b & 1) === 1) return 'global:multicast';
  if ((b & 2) === 2) return 'local:unicast';
  return 'global:unicast';
}

/** 100-ns intervals between 1582-10-15 and the Unix epoch. */
const G1582 = 122192928000000000n;

function describe(u: Uint8Array): RObject {
  const version = u[6]! >> 4;
  const o = new RObject();
  o.set('version', version);
  o.set('variant', variant(u[8]!));
  if (version === 1 || version === 2) {
    const b = Buffer.from(u);
    const t = BigInt(b.readUInt32BE(0)) | (BigInt(b.readUInt16BE(4)) << 32n) | (BigInt(b.readUInt16BE(6) & 0xfff) << 48n);
    const since = t - G1582;
    // google/uuid UnixTime truncates toward zero (Go integer division).
    o.set('time', normNum((since / 10000000n) * 1000000000n + (since % 10000000n) * 100n));
    o.set('clocksequence', b.readUInt16BE(8) & 0x3fff);
    o.set('nodeid', Array.from(u.slice(10), (x) => x.toString(16).padStart(2, '0')).join('-'));
    o.set('macvariables', macVars(u[10]!));
    if (version === 2) {
      o.set('id', b.readUInt32BE(0));
      const d = u[9]!;
      o.set('domain', d === 0 ? 'Person' : d === 1 ? 'Group' : d === 2 ? 'Org' : `Domain${d}`);
    }
  }
  return o;
}

export const builtins: BuiltinDef[] = [
  {
    name: 'uuid.rfc4122',
    arity: 1,
    nondeterministic: true,
    // The argument is only the memoisation key: OPA hashes whatever value it gets (uuid.go), so a
    // non-string at run time is no error (the compile-time checker still wants a string literal).
    fn: (_a: Value[], ctx) => {
      const bs = new Uint8Array(16);
      for (let i = 0; i < 16; i++) bs[i] = Math.floor(ctx.random() * 256);
      bs[8] = (bs[8]! & ~0xc0) | 0x80;
      bs[6] = (bs[6]! & ~0xf0) | 0x40;
      const h = Buffer.from(bs).toString('hex');
      return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
    },
  },
  {
    name: 'uuid.parse',
    arity: 1,
    fn: (a) => {
      const u = parseUuid(argString('uuid.parse', a, 0));
      return u ? describe(u) : undefined;
    },
  },
];

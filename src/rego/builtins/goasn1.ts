/**
 * The checks Go's encoding/asn1 `Unmarshal` makes when it reads DER into a Go struct, with its error texts
 * (`asn1: structure error: tags don't match (16 vs {class:0 tag:2 length:97 isCompound:true}) {…} certificateRequest @2`,
 * `asn1: syntax error: data truncated`, …). x509's CSR and private-key parsers read their input this way, and
 * OPA passes their errors on. A shape describes the Go type being filled: structs (SEQUENCE, extra elements
 * at the end allowed), slices (SEQUENCE OF, or SET OF for a type named `…SET`), int / *big.Int, []byte, OID,
 * BitString, RawValue and interface{} (any element, strings and numbers in it checked).
 */

export class GoAsn1Error extends Error {}

export type Shape =
  | { k: 'struct'; name: string; fields: Field[] }
  | { k: 'slice'; name: string; set?: boolean; elem: Shape }
  | { k: 'int' }
  | { k: 'bigint' }
  | { k: 'bytes' }
  | { k: 'oid' }
  | { k: 'bits' }
  | { k: 'bool' }
  | { k: 'raw' }
  | { k: 'any' };

export interface Field {
  shape: Shape;
  optional?: boolean;
  explicit?: boolean;
  /** Context-specific tag number (`asn1:"tag:n"`). */
  tag?: number;
}

const structural = (msg: string) => new GoAsn1Error(`asn1: structure error: ${msg}`);
const syntax = (msg: string) => new GoAsn1Error(`asn1: syntax error: ${msg}`);

interface TagAndLength {
  cls: number;
  tag: number;
  length: number;
  compound: boolean;
}

function base128(b: Buffer, off: number): [number, number] {
  let ret = 0;
  for (let shifted = 0; off < b.length; shifted++) {
    if (shifted === 5) throw structural('base 128 integer too large');
    const byte = b[off]!;
    if (shifted === 0 && byte === 0x80) throw syntax('integer is not minimally encoded');
    ret = ret * 128 + (byte & 0x7f);
    off++;
    if ((byte & 0x80) === 0) {
      if (ret > 0x7fffffff) throw structural('base 128 integer too large');
      return [ret, off];
    }
  }
  throw syntax('truncated base 128 integer');
}

function tagAndLength(b: Buffer, off: number): [TagAndLength, number] {
  let byte = b[off++]!;
  const t: TagAndLength = { cls: byte >> 6, compound: (byte & 0x20) !== 0, tag: byte & 0x1f, length: 0 };
  if (t.tag === 0x1f) {
    [t.tag, off] = base128(b, off);
    if (t.tag < 0x1f) throw syntax('non-minimal tag');
  }
  if (off >= b.length) throw syntax('truncated tag or length');
  byte = b[off++]!;
  if ((byte & 0x80) === 0) t.length = byte & 0x7f;
  else {
    const n = byte & 0x7f;
    if (n === 0) throw syntax('indefinite length found (not DER)');
    for (let i = 0; i < n; i++) {
      if (off >= b.length) throw syntax('truncated tag or length');
      byte = b[off++]!;
      if (t.length >= 1 << 23) throw structural('length too large');
      t.length = t.length * 256 + byte;
      if (t.length === 0) throw structural('superfluous leading zeros in length');
    }
    if (t.length < 0x80) throw structural('non-minimal length');
  }
  return [t, off];
}

const invalidLength = (off: number, len: number, total: number): boolean => off + len < off || off + len > total;

function checkInteger(b: Buffer): void {
  if (b.length === 0) throw structural('empty integer');
  if (b.length === 1) return;
  if ((b[0] === 0 && (b[1]! & 0x80) === 0) || (b[0] === 0xff && (b[1]! & 0x80) === 0x80)) throw structural('integer not minimally-encoded');
}

function checkOid(b: Buffer): void {
  if (b.length === 0) throw syntax('zero length OBJECT IDENTIFIER');
  let off = 0;
  while (off < b.length) [, off] = base128(b, off);
}

function checkBits(b: Buffer): void {
  if (b.length === 0) throw syntax('zero length BIT STRING');
  const pad = b[0]!;
  if (pad > 7 || (b.length === 1 && pad > 0) || (b[b.length - 1]! & ((1 << pad) - 1)) !== 0) throw syntax('invalid padding bits in BIT STRING');
}

/** Go's universal tag and constructedness for a shape; undefined for RawValue / interface{} (any). */
function universal(s: Shape): [number, boolean] | undefined {
  switch (s.k) {
    case 'struct':
      return [16, true];
    case 'slice':
      return [s.set ? 17 : 16, true];
    case 'int':
    case 'bigint':
      return [2, false];
    case 'bytes':
      return [4, false];
    case 'oid':
      return [6, false];
    case 'bits':
      return [3, false];
    case 'bool':
      return [1, false];
    default:
      return undefined;
  }
}

/** reflect.Type.Name() of the Go type a shape stands for (empty for pointers and unnamed slices). */
function typeName(s: Shape): string {
  switch (s.k) {
    case 'struct':
    case 'slice':
      return s.name;
    case 'int':
      return 'int';
    case 'oid':
      return 'ObjectIdentifier';
    case 'bits':
      return 'BitString';
    case 'bool':
      return 'bool';
    case 'raw':
      return 'RawValue';
    default:
      return '';
  }
}

/** fmt's %+v of Go's fieldParameters (a set tag is a pointer: Go prints its address, here `0xc000000000`). */
function paramsText(f: Field): string {
  return `{optional:${!!f.optional} explicit:${!!f.explicit} application:false private:false defaultValue:<nil> tag:${f.tag === undefined ? '<nil>' : '0xc000000000'} stringType:0 timeType:0 set:false omitEmpty:false}`;
}

function checkString(tag: number, b: Buffer): void {
  switch (tag) {
    case 19:
      if (!b.every((x) => /[a-zA-Z0-9 '()+,\-./:=?*&]/.test(String.fromCharCode(x)))) throw syntax('PrintableString contains invalid character');
      return;
    case 18:
      if (!b.every((x) => (x >= 0x30 && x <= 0x39) || x === 0x20)) throw syntax('NumericString contains invalid character');
      return;
    case 22:
      if (!b.every((x) => x < 0x80)) throw syntax('IA5String contains invalid character');
      return;
    case 12:
      try {
        new TextDecoder('utf-8', { fatal: true }).decode(b);
      } catch {
        throw syntax('invalid UTF-8 string');
      }
      return;
    case 2:
      checkInteger(b);
      if (b.length > 8) throw structural('integer too large');
      return;
    case 3:
      return checkBits(b);
    case 6:
      return checkOid(b);
  }
}

function parseSequenceOf(b: Buffer, elem: Shape): void {
  const u = universal(elem);
  const ends: number[] = [];
  for (let off = 0; off < b.length; ) {
    const [t, o] = tagAndLength(b, off);
    let tag = t.tag;
    if ([22, 27, 20, 12, 18, 30].includes(tag)) tag = 19;
    else if (tag === 24) tag = 23;
    if (u && (t.cls !== 0 || t.compound !== u[1] || tag !== u[0])) throw structural('sequence tag mismatch');
    if (invalidLength(o, t.length, b.length)) throw syntax('truncated sequence');
    off = o + t.length;
    ends.push(off);
  }
  let off = 0;
  for (let i = 0; i < ends.length; i++) off = parseField(b, off, { shape: elem });
}

/** encoding/asn1 parseField: reads one element of `b` at `off` into the field; returns the offset after it. */
export function parseField(b: Buffer, off: number, f: Field): number {
  const s = f.shape;
  if (off === b.length) {
    if (f.optional) return off;
    throw syntax('sequence truncated');
  }
  if (s.k === 'raw' || s.k === 'any') {
    const [t, o] = tagAndLength(b, off);
    if (invalidLength(o, t.length, b.length)) throw syntax('data truncated');
    if (s.k === 'any' && !t.compound && t.cls === 0) checkString(t.tag, b.subarray(o, o + t.length));
    return o + t.length;
  }
  let [t, o] = tagAndLength(b, off);
  if (f.explicit) {
    if (o === b.length) throw structural('explicit tag has no child');
    if (t.cls === 2 && t.tag === f.tag && (t.length === 0 || t.compound)) {
      if (t.length > 0) [t, o] = tagAndLength(b, o);
      else if (s.k !== 'bits') throw structural('zero length explicit tag was not an asn1.Flag');
    } else {
      if (f.optional) return off;
      throw structural("explicitly tagged member didn't match");
    }
  }
  const [utag, ucompound] = universal(s)!;
  const [cls, tag] = !f.explicit && f.tag !== undefined ? [2, f.tag] : [0, utag];
  if (t.cls !== cls || t.tag !== tag || t.compound !== ucompound) {
    if (f.optional) return off;
    throw structural(`tags don't match (${tag} vs {class:${t.cls} tag:${t.tag} length:${t.length} isCompound:${t.compound}}) ${paramsText(f)} ${typeName(s)} @${o}`);
  }
  if (invalidLength(o, t.length, b.length)) throw syntax('data truncated');
  const inner = b.subarray(o, o + t.length);
  switch (s.k) {
    case 'struct': {
      let io = 0;
      for (const field of s.fields) io = parseField(inner, io, field);
      break;
    }
    case 'slice':
      parseSequenceOf(inner, s.elem);
      break;
    case 'int':
      checkInteger(inner);
      if (inner.length > 8) throw structural('integer too large');
      break;
    case 'bigint':
      checkInteger(inner);
      break;
    case 'oid':
      checkOid(inner);
      break;
    case 'bits':
      checkBits(inner);
      break;
    case 'bool':
      if (inner.length !== 1 || (inner[0] !== 0 && inner[0] !== 0xff)) throw syntax('invalid boolean');
      break;
  }
  return o + t.length;
}

/** asn1.Unmarshal: the error Go gives reading `der` into the shape, or undefined; `rest` is what follows. */
export function unmarshal(der: Buffer, shape: Shape): { error?: string; rest: number } {
  try {
    const end = parseField(der, 0, { shape });
    return { rest: der.length - end };
  } catch (e) {
    if (e instanceof GoAsn1Error) return { error: e.message, rest: 0 };
    throw e;
  }
}

const algorithmIdentifier: Shape = { k: 'struct', name: 'AlgorithmIdentifier', fields: [{ shape: { k: 'oid' } }, { shape: { k: 'raw' }, optional: true }] };
const bigint: Field = { shape: { k: 'bigint' } };

export const SHAPES = {
  certificateRequest: {
    k: 'struct',
    name: 'certificateRequest',
    fields: [
      {
        shape: {
          k: 'struct',
          name: 'tbsCertificateRequest',
          fields: [
            { shape: { k: 'int' } },
            { shape: { k: 'raw' } },
            { shape: { k: 'struct', name: 'publicKeyInfo', fields: [{ shape: algorithmIdentifier }, { shape: { k: 'bits' } }] } },
            { shape: { k: 'slice', name: '', elem: { k: 'raw' } }, tag: 0 },
          ],
        },
      },
      { shape: algorithmIdentifier },
      { shape: { k: 'bits' } },
    ],
  } as Shape,
  rdnSequence: {
    k: 'slice',
    name: 'RDNSequence',
    elem: { k: 'slice', name: 'RelativeDistinguishedNameSET', set: true, elem: { k: 'struct', name: 'AttributeTypeAndValue', fields: [{ shape: { k: 'oid' } }, { shape: { k: 'any' } }] } },
  } as Shape,
  pkcs1PrivateKey: {
    k: 'struct',
    name: 'pkcs1PrivateKey',
    fields: [
      { shape: { k: 'int' } },
      bigint,
      { shape: { k: 'int' } },
      bigint,
      bigint,
      bigint,
      bigint,
      bigint,
      bigint,
      { shape: { k: 'slice', name: '', elem: { k: 'struct', name: 'pkcs1AdditionalRSAPrime', fields: [bigint, bigint, bigint] } }, optional: true },
    ],
  } as Shape,
  extensions: {
    k: 'slice',
    name: '',
    elem: { k: 'struct', name: 'Extension', fields: [{ shape: { k: 'oid' } }, { shape: { k: 'bool' }, optional: true }, { shape: { k: 'bytes' } }] },
  } as Shape,
  pkcs10Attribute: { k: 'struct', name: 'pkcs10Attribute', fields: [{ shape: { k: 'oid' } }, { shape: { k: 'slice', name: '', set: true, elem: { k: 'raw' } } }] } as Shape,
  pkcs8: { k: 'struct', name: 'pkcs8', fields: [{ shape: { k: 'int' } }, { shape: algorithmIdentifier }, { shape: { k: 'bytes' } }] } as Shape,
  ecPrivateKey: {
    k: 'struct',
    name: 'ecPrivateKey',
    fields: [{ shape: { k: 'int' } }, { shape: { k: 'bytes' } }, { shape: { k: 'oid' }, optional: true, explicit: true, tag: 0 }, { shape: { k: 'bits' }, optional: true, explicit: true, tag: 1 }],
  } as Shape,
};

/**
 * The little DER reading Node's `X509Certificate` does not offer: the raw extension list of a certificate
 * (vendor extensions such as AMD's VCEK TCB fields, specs/snp.md §2.2) and X.509 v2 CRLs. Signatures are
 * still verified by node:crypto; this module only finds bytes.
 *
 * Every malformed input gives a `X509_DER` CocoError; lengths are bounds-checked against the input.
 */
import type { KeyObject, X509Certificate } from 'node:crypto';
import { CocoError } from '../errors.js';

export interface DerNode {
  /** The identifier octet (class, constructed bit and tag number; low-tag form only). */
  tag: number;
  /** Offset of the identifier octet within the buffer passed to `readDer`. */
  start: number;
  /** Offset one past the last content byte. */
  end: number;
  /** Content octets. */
  value: Uint8Array;
  /** Identifier, length and content octets. */
  raw: Uint8Array;
}

function derError(message: string): CocoError {
  return new CocoError('X509_DER', `DER: ${message}`, { kind: 'input' });
}

/** Reads one TLV at `offset` (definite lengths only, as DER requires). */
export function readDer(bytes: Uint8Array, offset = 0): DerNode {
  if (offset + 2 > bytes.length) throw derError(`truncated header at ${offset}`);
  const tag = bytes[offset];
  if ((tag & 0x1f) === 0x1f) throw derError(`high tag number form at ${offset} is not supported`);
  let len = bytes[offset + 1];
  let p = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw derError(`unsupported length form at ${offset}`);
    if (p + n > bytes.length) throw derError(`truncated length at ${offset}`);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + bytes[p + i];
    p += n;
  }
  if (p + len > bytes.length) throw derError(`element at ${offset} claims ${len} bytes, ${bytes.length - p} remain`);
  return { tag, start: offset, end: p + len, value: bytes.subarray(p, p + len), raw: bytes.subarray(offset, p + len) };
}

/** The elements inside a constructed node. */
export function derChildren(node: DerNode): DerNode[] {
  if ((node.tag & 0x20) === 0) throw derError(`tag 0x${node.tag.toString(16)} is not constructed`);
  const out: DerNode[] = [];
  for (let at = 0; at < node.value.length; ) {
    const child = readDer(node.value, at);
    out.push(child);
    at = child.end;
  }
  return out;
}

function expectTag(node: DerNode, tag: number, what: string): DerNode {
  if (node.tag !== tag) throw derError(`${what}: expected tag 0x${tag.toString(16)}, got 0x${node.tag.toString(16)}`);
  return node;
}

/** Dotted form of an OBJECT IDENTIFIER's content octets. */
export function oidToString(value: Uint8Array): string {
  if (value.length === 0) throw derError('empty OID');
  const parts: number[] = [];
  let acc = 0;
  for (let i = 0; i < value.length; i++) {
    acc = acc * 128 + (value[i] & 0x7f);
    if (acc > Number.MAX_SAFE_INTEGER) throw derError('OID arc too large');
    if ((value[i] & 0x80) === 0) {
      if (parts.length === 0) parts.push(acc < 80 ? Math.floor(acc / 40) : 2, acc < 80 ? acc % 40 : acc - 80);
      else parts.push(acc);
      acc = 0;
    } else if (i === value.length - 1) throw derError('OID ends inside an arc');
  }
  return parts.join('.');
}

/** Content octets of an OBJECT IDENTIFIER in dotted form (for building DER). */
export function oidToBytes(oid: string): Uint8Array {
  const arcs = oid.split('.').map((s) => Number(s));
  if (arcs.length < 2 || arcs.some((a) => !Number.isSafeInteger(a) || a < 0)) throw derError(`bad OID ${oid}`);
  const out: number[] = [];
  const push = (n: number): void => {
    const stack = [n & 0x7f];
    for (n = Math.floor(n / 128); n > 0; n = Math.floor(n / 128)) stack.unshift((n & 0x7f) | 0x80);
    out.push(...stack);
  };
  push(arcs[0] * 40 + arcs[1]);
  for (const a of arcs.slice(2)) push(a);
  return new Uint8Array(out);
}

/** A DER INTEGER's content octets as a bigint (two's complement). */
export function derIntegerValue(value: Uint8Array): bigint {
  if (value.length === 0) throw derError('empty INTEGER');
  let v = 0n;
  for (const b of value) v = (v << 8n) | BigInt(b);
  if (value[0] & 0x80) v -= 1n << BigInt(8 * value.length);
  return v;
}

/** Decodes a complete DER INTEGER element (`02 len …`), e.g. an AMD SPL extension value. */
export function decodeDerInteger(der: Uint8Array): bigint {
  const node = expectTag(readDer(der), 0x02, 'INTEGER');
  if (node.end !== der.length) throw derError('trailing bytes after INTEGER');
  return derIntegerValue(node.value);
}

/** Decodes a complete DER IA5String / UTF8String / PrintableString element. */
export function decodeDerString(der: Uint8Array): string {
  const node = readDer(der);
  if (![0x16, 0x0c, 0x13].includes(node.tag)) throw derError(`expected a string, got tag 0x${node.tag.toString(16)}`);
  if (node.end !== der.length) throw derError('trailing bytes after string');
  return Buffer.from(node.value).toString(node.tag === 0x0c ? 'utf8' : 'latin1');
}

function decodeTime(node: DerNode): Date {
  const s = Buffer.from(node.value).toString('latin1');
  let m: RegExpMatchArray | null;
  let year: number;
  if (node.tag === 0x17 && (m = s.match(/^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/))) {
    year = Number(m[1]);
    year += year >= 50 ? 1900 : 2000; // RFC 5280 §4.1.2.5.1
  } else if (node.tag === 0x18 && (m = s.match(/^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/))) {
    year = Number(m[1]);
  } else throw derError(`bad time ${JSON.stringify(s)}`);
  return new Date(Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
}

export interface X509Extension {
  oid: string;
  critical: boolean;
  /** Content octets of extnValue (what the OCTET STRING wraps). */
  value: Uint8Array;
}

export interface CertificateParts {
  /** The DER of tbsCertificate, the signed bytes. */
  tbs: Uint8Array;
  /** DER of the outer signatureAlgorithm AlgorithmIdentifier. */
  signatureAlgorithm: Uint8Array;
  /** BIT STRING content without the unused-bits octet. */
  signature: Uint8Array;
  serialNumber: bigint;
  extensions: X509Extension[];
}

/** Splits a DER certificate (RFC 5280 §4.1) and lists its extensions. */
export function parseCertificate(der: Uint8Array): CertificateParts {
  const cert = expectTag(readDer(der), 0x30, 'Certificate');
  if (cert.end !== der.length) throw derError('trailing bytes after Certificate');
  const [tbsNode, algNode, sigNode] = derChildren(cert);
  if (!tbsNode || !algNode || !sigNode) throw derError('Certificate needs 3 elements');
  expectTag(tbsNode, 0x30, 'tbsCertificate');
  expectTag(algNode, 0x30, 'signatureAlgorithm');
  expectTag(sigNode, 0x03, 'signatureValue');
  if (sigNode.value.length < 1 || sigNode.value[0] !== 0) throw derError('signature BIT STRING has unused bits');
  const tbs = derChildren(tbsNode);
  let i = 0;
  if (tbs[i]?.tag === 0xa0) i++; // [0] version
  const serial = tbs[i];
  if (!serial) throw derError('tbsCertificate has no serialNumber');
  expectTag(serial, 0x02, 'serialNumber');
  const extensions: X509Extension[] = [];
  for (const node of tbs.slice(i + 1)) {
    if (node.tag !== 0xa3) continue; // [3] extensions
    const [seq] = derChildren(node);
    if (!seq) throw derError('empty extensions');
    for (const ext of derChildren(expectTag(seq, 0x30, 'Extensions'))) {
      const parts = derChildren(expectTag(ext, 0x30, 'Extension'));
      const oid = expectTag(parts[0] ?? readDer(new Uint8Array([0, 0])), 0x06, 'extnID');
      let critical = false;
      let valueNode = parts[1];
      if (valueNode?.tag === 0x01) {
        critical = valueNode.value.length === 1 && valueNode.value[0] !== 0;
        valueNode = parts[2];
      }
      if (!valueNode) throw derError('Extension has no extnValue');
      extensions.push({ oid: oidToString(oid.value), critical, value: expectTag(valueNode, 0x04, 'extnValue').value });
    }
  }
  return {
    tbs: tbsNode.raw,
    signatureAlgorithm: algNode.raw,
    signature: sigNode.value.subarray(1),
    serialNumber: derIntegerValue(serial.value),
    extensions,
  };
}

export interface RevokedCertificate {
  serialNumber: bigint;
  revocationDate: Date;
}

export interface CertificateList {
  tbs: Uint8Array;
  signatureAlgorithm: Uint8Array;
  signature: Uint8Array;
  /** DER of the issuer Name. */
  issuer: Uint8Array;
  thisUpdate: Date;
  nextUpdate: Date | null;
  revoked: RevokedCertificate[];
}

/** Parses an X.509 CRL (RFC 5280 §5.1), e.g. AMD's `/vcek/v1/<Product>/crl`. */
export function parseCrl(der: Uint8Array): CertificateList {
  const crl = expectTag(readDer(der), 0x30, 'CertificateList');
  if (crl.end !== der.length) throw derError('trailing bytes after CertificateList');
  const [tbsNode, algNode, sigNode] = derChildren(crl);
  if (!tbsNode || !algNode || !sigNode) throw derError('CertificateList needs 3 elements');
  expectTag(sigNode, 0x03, 'signatureValue');
  if (sigNode.value.length < 1 || sigNode.value[0] !== 0) throw derError('signature BIT STRING has unused bits');
  const tbs = derChildren(expectTag(tbsNode, 0x30, 'tbsCertList'));
  let i = 0;
  if (tbs[i]?.tag === 0x02) i++; // version
  i++; // signature AlgorithmIdentifier
  const issuer = tbs[i++];
  const thisUpdate = tbs[i++];
  if (!issuer || !thisUpdate) throw derError('tbsCertList is too short');
  let nextUpdate: Date | null = null;
  if (tbs[i] && (tbs[i].tag === 0x17 || tbs[i].tag === 0x18)) nextUpdate = decodeTime(tbs[i++]);
  const revoked: RevokedCertificate[] = [];
  if (tbs[i]?.tag === 0x30) {
    for (const entry of derChildren(tbs[i])) {
      const [serial, date] = derChildren(expectTag(entry, 0x30, 'revokedCertificate'));
      if (!serial || !date) throw derError('revokedCertificate is too short');
      revoked.push({ serialNumber: derIntegerValue(expectTag(serial, 0x02, 'userCertificate').value), revocationDate: decodeTime(date) });
    }
  }
  return {
    tbs: tbsNode.raw,
    signatureAlgorithm: algNode.raw,
    signature: sigNode.value.subarray(1),
    issuer: expectTag(issuer, 0x30, 'issuer').raw,
    thisUpdate: decodeTime(thisUpdate),
    nextUpdate,
    revoked,
  };
}

const publicKeys = new WeakMap<X509Certificate, KeyObject>();

/**
 * A certificate's public key as one KeyObject per certificate object. `X509Certificate.publicKey` makes a new
 * key at every read, and a verify with a key OpenSSL has not seen before pays for loading it again (a P-384
 * verify with a fresh key costs about a quarter more): certificates the verifiers keep (a VCEK, a PCK
 * leaf) keep their key with them.
 */
export function certPublicKey(cert: X509Certificate): KeyObject {
  let key = publicKeys.get(cert);
  if (key === undefined) {
    key = cert.publicKey;
    publicKeys.set(cert, key);
  }
  return key;
}

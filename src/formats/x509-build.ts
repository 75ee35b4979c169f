/**
 * A minimal DER writer for building certificates and CRLs in tests and test roots of trust (no npm package
 * for X.509 creation is a dependency). Only the handful of types RFC 5280 structures need.
 */
import { oidToBytes } from './x509.js';

function lengthBytes(n: number): number[] {
  if (n < 0x80) return [n];
  const out: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) out.unshift(v & 0xff);
  return [0x80 | out.length, ...out];
}

/** One TLV with the given identifier octet. */
export function der(tag: number, ...content: Uint8Array[]): Uint8Array {
  const len = content.reduce((n, c) => n + c.length, 0);
  const head = [tag, ...lengthBytes(len)];
  const out = new Uint8Array(head.length + len);
  out.set(head, 0);
  let at = head.length;
  for (const c of content) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

export const seq = (...c: Uint8Array[]): Uint8Array => der(0x30, ...c);
export const set = (...c: Uint8Array[]): Uint8Array => der(0x31, ...c);
export const explicit = (n: number, ...c: Uint8Array[]): Uint8Array => der(0xa0 | n, ...c);
export const oid = (dotted: string): Uint8Array => der(0x06, oidToBytes(dotted));
export const octetString = (b: Uint8Array): Uint8Array => der(0x04, b);
export const bitString = (b: Uint8Array): Uint8Array => der(0x03, new Uint8Array([0]), b);
export const utf8String = (s: string): Uint8Array => der(0x0c, new Uint8Array(Buffer.from(s, 'utf8')));
export const printableString = (s: string): Uint8Array => der(0x13, new Uint8Array(Buffer.from(s, 'latin1')));
export const ia5String = (s: string): Uint8Array => der(0x16, new Uint8Array(Buffer.from(s, 'latin1')));
export const boolean = (v: boolean): Uint8Array => der(0x01, new Uint8Array([v ? 0xff : 0]));
export const nullValue = (): Uint8Array => der(0x05);

/** Minimal two's-complement INTEGER. */
export function integer(v: bigint | number): Uint8Array {
  let n = BigInt(v);
  const bytes: number[] = [];
  if (n === 0n) bytes.push(0);
  const neg = n < 0n;
  while (n !== 0n && n !== -1n) {
    bytes.unshift(Number(n & 0xffn));
    n >>= 8n;
  }
  if (!neg && bytes[0] & 0x80) bytes.unshift(0);
  if (neg && (bytes.length === 0 || !(bytes[0] & 0x80))) bytes.unshift(0xff);
  return der(0x02, new Uint8Array(bytes));
}

/** UTCTime before 2050, GeneralizedTime after (RFC 5280 §4.1.2.5). */
export function time(d: Date): Uint8Array {
  const iso = d.toISOString();
  const digits = iso.slice(0, 19).replace(/[-:T]/g, '');
  return d.getUTCFullYear() < 2050 ? der(0x17, new Uint8Array(Buffer.from(`${digits.slice(2)}Z`))) : der(0x18, new Uint8Array(Buffer.from(`${digits}Z`)));
}

/** A Name from (OID, value) pairs; countryName as PrintableString, the rest UTF8String. */
export function name(attrs: Array<[string, string]>): Uint8Array {
  return seq(...attrs.map(([o, v]) => set(seq(oid(o), o === '2.5.4.6' ? printableString(v) : utf8String(v)))));
}

export function extension(oidText: string, critical: boolean, value: Uint8Array): Uint8Array {
  return critical ? seq(oid(oidText), boolean(true), octetString(value)) : seq(oid(oidText), octetString(value));
}

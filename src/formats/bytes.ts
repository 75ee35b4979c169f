/** Hex, base64 and byte-array helpers shared by every wire format. */
import { timingSafeEqual } from 'node:crypto';
import { CocoError } from '../errors.js';

const HEX_RE = /^(?:[0-9a-fA-F]{2})*$/;

/** Lower-case hex of the bytes. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Parses hex (an optional `0x` prefix, either case); anything else is a `FORMAT_HEX` error. */
export function fromHex(text: string, what = 'hex string'): Uint8Array {
  const s = text.startsWith('0x') || text.startsWith('0X') ? text.slice(2) : text;
  if (!HEX_RE.test(s)) throw new CocoError('FORMAT_HEX', `${what} is not valid hex`, { kind: 'input' });
  return new Uint8Array(Buffer.from(s, 'hex'));
}

export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

export function toBase64Url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

const B64_RE = /^[A-Za-z0-9+/]*={0,2}$/;
const B64URL_RE = /^[A-Za-z0-9_-]*={0,2}$/;

/** Strict standard base64 (padding optional); whitespace is not accepted. */
export function fromBase64(text: string, what = 'base64 string'): Uint8Array {
  if (!B64_RE.test(text) || text.replace(/=+$/, '').length % 4 === 1) {
    throw new CocoError('FORMAT_BASE64', `${what} is not valid base64`, { kind: 'input' });
  }
  return new Uint8Array(Buffer.from(text, 'base64'));
}

/** Strict base64url (padding tolerated, as some peers emit it). */
export function fromBase64Url(text: string, what = 'base64url string'): Uint8Array {
  if (!B64URL_RE.test(text) || text.replace(/=+$/, '').length % 4 === 1) {
    throw new CocoError('FORMAT_BASE64', `${what} is not valid base64url`, { kind: 'input' });
  }
  return new Uint8Array(Buffer.from(text.replace(/=+$/, ''), 'base64url'));
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Byte equality that takes the same time wherever the first difference is (for secrets and MACs). */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  return timingSafeEqual(a, b);
}

/** Plain byte equality, for public values. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function isAllZero(bytes: Uint8Array): boolean {
  for (const b of bytes) if (b !== 0) return false;
  return true;
}

export const utf8 = {
  encode: (s: string): Uint8Array => new TextEncoder().encode(s),
  decode: (b: Uint8Array): string => new TextDecoder('utf-8', { fatal: false }).decode(b),
};

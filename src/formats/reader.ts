/**
 * Bounds-checked little/big-endian reading of wire structures. Every read past the end throws a
 * `FORMAT_TRUNCATED` CocoError naming the structure, so parsers never index out of range.
 */
import { CocoError } from '../errors.js';

export class ByteReader {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  offset: number;
  readonly what: string;

  constructor(bytes: Uint8Array, what: string, offset = 0) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.offset = offset;
    this.what = what;
  }

  get remaining(): number {
    return this.bytes.length - this.offset;
  }

  private need(n: number, at = this.offset): void {
    if (n < 0 || at < 0 || at + n > this.bytes.length) {
      throw new CocoError(
        'FORMAT_TRUNCATED',
        `${this.what}: needs ${n} byte(s) at offset ${at}, but only ${Math.max(0, this.bytes.length - at)} remain`,
        { kind: 'input', detail: { offset: at, needed: n, length: this.bytes.length } },
      );
    }
  }

  u8(): number {
    this.need(1);
    return this.bytes[this.offset++];
  }
  u16le(): number {
    this.need(2);
    const v = this.view.getUint16(this.offset, true);
    this.offset += 2;
    return v;
  }
  u16be(): number {
    this.need(2);
    const v = this.view.getUint16(this.offset, false);
    this.offset += 2;
    return v;
  }
  u32le(): number {
    this.need(4);
    const v = this.view.getUint32(this.offset, true);
    this.offset += 4;
    return v;
  }
  u32be(): number {
    this.need(4);
    const v = this.view.getUint32(this.offset, false);
    this.offset += 4;
    return v;
  }
  u64le(): bigint {
    this.need(8);
    const v = this.view.getBigUint64(this.offset, true);
    this.offset += 8;
    return v;
  }
  u64be(): bigint {
    this.need(8);
    const v = this.view.getBigUint64(this.offset, false);
    this.offset += 8;
    return v;
  }
  /** A copy-free view of the next `n` bytes. */
  take(n: number): Uint8Array {
    this.need(n);
    const v = this.bytes.subarray(this.offset, this.offset + n);
    this.offset += n;
    return v;
  }
  skip(n: number): void {
    this.need(n);
    this.offset += n;
  }
  seek(offset: number): void {
    this.need(0, offset);
    this.offset = offset;
  }
  /** Bytes at an absolute offset, without moving. */
  at(offset: number, n: number): Uint8Array {
    this.need(n, offset);
    return this.bytes.subarray(offset, offset + n);
  }
}

/** Growable little/big-endian writer, the inverse of `ByteReader`. */
export class ByteWriter {
  private buf: Uint8Array;
  private view: DataView;
  length = 0;

  constructor(initial = 256) {
    this.buf = new Uint8Array(initial);
    this.view = new DataView(this.buf.buffer);
  }

  private ensure(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(v: number): this {
    this.ensure(1);
    this.buf[this.length++] = v;
    return this;
  }
  u16le(v: number): this {
    this.ensure(2);
    this.view.setUint16(this.length, v, true);
    this.length += 2;
    return this;
  }
  u16be(v: number): this {
    this.ensure(2);
    this.view.setUint16(this.length, v, false);
    this.length += 2;
    return this;
  }
  u32le(v: number): this {
    this.ensure(4);
    this.view.setUint32(this.length, v, true);
    this.length += 4;
    return this;
  }
  u32be(v: number): this {
    this.ensure(4);
    this.view.setUint32(this.length, v, false);
    this.length += 4;
    return this;
  }
  u64le(v: bigint): this {
    this.ensure(8);
    this.view.setBigUint64(this.length, v, true);
    this.length += 8;
    return this;
  }
  u64be(v: bigint): this {
    this.ensure(8);
    this.view.setBigUint64(this.length, v, false);
    this.length += 8;
    return this;
  }
  bytes(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
    return this;
  }
  zeros(n: number): this {
    this.ensure(n);
    this.buf.fill(0, this.length, this.length + n);
    this.length += n;
    return this;
  }
  finish(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

/**
 * A small tar reader (POSIX ustar, GNU and PAX headers) over a random-access source: each entry's header
 * fields, its path and link name after GNU long-name and PAX records, and where its header and data lie, so
 * callers read only what they need (a `docker save` archive's manifest, a layer's /etc/passwd) and can index
 * a layer without extracting it.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { CocoError } from '../errors.js';

export const BLOCK = 512;

/** Reads `length` bytes at `offset` (fewer only at the end of the source). */
export type ReadAt = (offset: number, length: number) => Uint8Array;

export interface TarEntry {
  /** The typeflag byte as a character ("0", "5", "2", "1", "3", "4", "6", "g", …; "\0" for old regular files). */
  type: string;
  /** The path: GNU long name, else PAX `path`, else the header's prefix/name. */
  path: Uint8Array;
  /** The link target: GNU long link, else PAX `linkpath`, else the header's; undefined when empty. */
  linkName?: Uint8Array;
  /** The header's own link-name field (undefined when empty). */
  headerLinkName?: Uint8Array;
  /** Permission bits and more as stored, or undefined when the field does not parse. */
  mode?: number;
  uid: number;
  gid: number;
  mtime: number;
  devMajor?: number;
  devMinor?: number;
  /**
   * The mode and device numbers read strictly (octal digits up to the first NUL, blanks trimmed, not empty),
   * undefined otherwise: the tarfs index skips entries whose fields do not read this way.
   */
  modeStrict?: number;
  devMajorStrict?: number;
  devMinorStrict?: number;
  size: number;
  /** Offset of this entry's own header block (after any long-name or PAX records). */
  headerOffset: number;
  /** Offset of the entry's data. */
  dataOffset: number;
  /** Whether the header has the ustar or GNU magic (device numbers only exist then). */
  ustar: boolean;
}

function bad(what: string, msg: string): CocoError {
  return new CocoError('TAR', `${what}: ${msg}`, { kind: 'input' });
}

function cstr(b: Uint8Array): Uint8Array {
  const i = b.indexOf(0);
  return i < 0 ? b : b.subarray(0, i);
}

function trimNul(b: Uint8Array): Uint8Array {
  return b.length > 0 && b[b.length - 1] === 0 ? b.subarray(0, b.length - 1) : b;
}

/** A numeric header field: octal text (spaces and NULs around it), or base-256 when the top bit is set. */
function numField(b: Uint8Array): number | undefined {
  if (b[0]! & 0x80) {
    let v = 0n;
    for (let i = 0; i < b.length; i++) v = (v << 8n) | BigInt(i === 0 ? b[0]! & 0x7f : b[i]!);
    return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : undefined;
  }
  let s = 0;
  let e = b.length;
  while (s < e && (b[s] === 0x20 || b[s] === 0)) s++;
  while (e > s && (b[e - 1] === 0x20 || b[e - 1] === 0)) e--;
  if (s === e) return 0;
  let v = 0;
  for (let i = s; i < e; i++) {
    const c = b[i]!;
    if (c < 0x30 || c > 0x37) return undefined;
    v = v * 8 + (c - 0x30);
  }
  return Number.isSafeInteger(v) ? v : undefined;
}

function strictOctal(b: Uint8Array): number | undefined {
  const t = Buffer.from(cstr(b)).toString('latin1').trim();
  return /^[0-7]+$/.test(t) && t.length <= 17 ? parseInt(t, 8) : undefined;
}

function checksumOk(h: Uint8Array): boolean {
  const stored = numField(h.subarray(148, 156));
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
  return stored === sum;
}

/** PAX extended header records ("<len> key=value\n"). */
function paxRecords(data: Uint8Array, what: string): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  let off = 0;
  while (off < data.length) {
    const sp = data.indexOf(0x20, off);
    if (sp < 0) break;
    const len = Number(Buffer.from(data.subarray(off, sp)).toString('latin1'));
    if (!Number.isSafeInteger(len) || len <= sp - off || off + len > data.length) throw bad(what, 'malformed PAX record');
    const rec = data.subarray(sp + 1, off + len - 1);
    const eq = rec.indexOf(0x3d);
    if (eq > 0) out.set(Buffer.from(rec.subarray(0, eq)).toString('utf8'), rec.subarray(eq + 1));
    off += len;
  }
  return out;
}

const MAX_META = 1024 * 1024;

/**
 * The entries of a tar archive in order, up to the first all-zero header block (or the end of the source).
 * Long-name and PAX records are folded into the entry that follows them.
 */
export function* tarEntries(read: ReadAt, size: number, what = 'tar archive'): Generator<TarEntry> {
  let off = 0;
  let longName: Uint8Array | undefined;
  let longLink: Uint8Array | undefined;
  let pax: Map<string, Uint8Array> | undefined;
  while (off + BLOCK <= size) {
    const h = read(off, BLOCK);
    if (h.length < BLOCK) throw bad(what, `truncated header at ${off}`);
    if (h.every((x) => x === 0)) return;
    if (!checksumOk(h)) throw bad(what, `header checksum mismatch at offset ${off}`);
    const type = String.fromCharCode(h[156]!);
    const magic = Buffer.from(h.subarray(257, 263)).toString('latin1');
    const ustar = magic === 'ustar\0' || magic === 'ustar ';
    let entrySize = numField(h.subarray(124, 136));
    if (entrySize === undefined) throw bad(what, `bad size field at offset ${off}`);
    const paxSize = pax?.get('size');
    if (paxSize !== undefined && type !== 'x' && type !== 'L' && type !== 'K') {
      const n = Number(Buffer.from(paxSize).toString('latin1'));
      if (!Number.isSafeInteger(n) || n < 0) throw bad(what, `bad PAX size at offset ${off}`);
      entrySize = n;
    }
    const dataOffset = off + BLOCK;
    const next = dataOffset + Math.ceil(entrySize / BLOCK) * BLOCK;
    if (dataOffset + entrySize > size) throw bad(what, `entry at offset ${off} runs past the end (${entrySize} bytes of data)`);
    if (type === 'L' || type === 'K' || type === 'x') {
      if (entrySize > MAX_META) throw bad(what, `metadata record of ${entrySize} bytes at offset ${off}`);
      const data = read(dataOffset, entrySize);
      if (type === 'L') longName = trimNul(data);
      else if (type === 'K') longLink = trimNul(data);
      else pax = paxRecords(data, what);
      off = next;
      continue;
    }
    const name = cstr(h.subarray(0, 100));
    const prefix = magic === 'ustar\0' ? cstr(h.subarray(345, 500)) : new Uint8Array(0);
    const headerPath = prefix.length > 0 ? Buffer.concat([prefix, Buffer.from('/'), name]) : name;
    const hl = cstr(h.subarray(157, 257));
    yield {
      type,
      path: longName ?? pax?.get('path') ?? headerPath,
      linkName: longLink ?? pax?.get('linkpath') ?? (hl.length > 0 ? hl : undefined),
      headerLinkName: hl.length > 0 ? hl : undefined,
      mode: numField(h.subarray(100, 108)),
      uid: numField(h.subarray(108, 116)) ?? 0,
      gid: numField(h.subarray(116, 124)) ?? 0,
      mtime: numField(h.subarray(136, 148)) ?? 0,
      devMajor: ustar ? numField(h.subarray(329, 337)) : undefined,
      devMinor: ustar ? numField(h.subarray(337, 345)) : undefined,
      modeStrict: strictOctal(h.subarray(100, 108)),
      devMajorStrict: ustar ? strictOctal(h.subarray(329, 337)) : undefined,
      devMinorStrict: ustar ? strictOctal(h.subarray(337, 345)) : undefined,
      size: entrySize,
      headerOffset: off,
      dataOffset,
      ustar,
    };
    longName = longLink = pax = undefined;
    off = next;
  }
  if (off < size) throw bad(what, `archive ends inside a header at offset ${off}`);
}

/** A ReadAt over an open file descriptor. */
export function fdReader(fd: number): ReadAt {
  return (offset, length) => {
    const buf = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const n = readSync(fd, buf, done, length - done, offset + done);
      if (n === 0) break;
      done += n;
    }
    return done === length ? buf : buf.subarray(0, done);
  };
}

/** A ReadAt over bytes in memory. */
export function bytesReader(bytes: Uint8Array): ReadAt {
  return (offset, length) => bytes.subarray(offset, Math.min(bytes.length, offset + length));
}

/** Runs `fn` with a reader over the file at `path` and its size. */
export function withTarFile<T>(path: string, fn: (read: ReadAt, size: number) => T, what = path): T {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new CocoError('TAR', `${what}: cannot open: ${(e as Error).message}`, { kind: 'file', cause: e });
  }
  try {
    return fn(fdReader(fd), fstatSync(fd).size);
  } finally {
    closeSync(fd);
  }
}

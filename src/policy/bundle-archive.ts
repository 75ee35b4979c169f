/**
 * Reading a policy bundle archive (`opa build`'s output, a gzipped tar) into its regular files, through the
 * project's tar reader (ustar, GNU long names, PAX `path` records). Directories, links and other entries are
 * skipped.
 */
import { constants as zlibConstants, crc32, inflateRawSync } from 'node:zlib';
import { CocoError } from '../errors.js';
import { bytesReader, tarEntries } from '../formats/tar.js';

export interface TarEntry {
  path: string;
  data: Buffer;
}

/** Largest archive content accepted once decompressed. */
export const MAX_BUNDLE_TAR_BYTES = 256 * 1024 * 1024;

/**
 * The failure of reading a bundle archive as opa's tarball loader reads one (Go's compress/gzip and archive/tar
 * under opa:v1/bundle/file.go): the text is Go's, e.g. `archive read failed: gzip: invalid header`,
 * `unexpected EOF`, `failed to copy file x.rego: unexpected EOF`, `archive/tar: invalid tar header`.
 */
export class TarballError extends CocoError {
  constructor(message: string) {
    super('BUNDLE_FORMAT', message, { kind: 'input' });
  }
}

const GZIP_FLAG = { hcrc: 2, extra: 4, name: 8, comment: 16 } as const;

/**
 * One gzip member header at `at` as Go's gzip reader reads it: where the compressed data begins, or the error Go
 * gives (`EOF` when nothing is left, `unexpected EOF` when the header is cut, `gzip: invalid header`).
 */
function gzipHeader(gz: Buffer, at: number): number | string {
  if (at >= gz.length) return 'EOF';
  if (gz.length - at < 10) return 'unexpected EOF';
  if (gz[at] !== 0x1f || gz[at + 1] !== 0x8b || gz[at + 2] !== 8) return 'gzip: invalid header';
  const flags = gz[at + 3]!;
  let p = at + 10;
  if (flags & GZIP_FLAG.extra) {
    if (p + 2 > gz.length) return 'unexpected EOF';
    p += 2 + gz.readUInt16LE(p);
    if (p > gz.length) return 'unexpected EOF';
  }
  for (const f of [GZIP_FLAG.name, GZIP_FLAG.comment]) {
    if (!(flags & f)) continue;
    // Go reads a name or comment into a 512-byte buffer: a longer one is a bad header.
    const nul = gz.indexOf(0, p);
    if (nul < 0 ? gz.length - p >= 512 : nul - p >= 512) return 'gzip: invalid header';
    if (nul < 0) return 'unexpected EOF';
    p = nul + 1;
  }
  if (flags & GZIP_FLAG.hcrc) {
    if (p + 2 > gz.length) return 'unexpected EOF';
    if ((crc32(gz.subarray(at, p)) & 0xffff) !== gz.readUInt16LE(p)) return 'gzip: invalid header';
    p += 2;
  }
  return p;
}

/**
 * A gzip stream inflated as Go's reader yields it: the bytes it gives before stopping, and the error a reader
 * asking for more would then get (undefined: a clean end). Members follow one another (multistream); each
 * member's CRC-32 and length are checked when its data is all read.
 */
function goGunzip(gz: Buffer, maxBytes: number): { out: Buffer; tail: string | undefined } {
  const head = gzipHeader(gz, 0);
  if (typeof head === 'string') throw new TarballError(`archive read failed: ${head}`);
  const parts: Buffer[] = [];
  let total = 0;
  let at = head;
  for (;;) {
    const body = gz.subarray(at);
    const budget = maxBytes - total + 1;
    let out: Buffer;
    let used: number;
    try {
      const r = inflateRawSync(body, { info: true, maxOutputLength: budget }) as unknown as { buffer: Buffer; engine: { bytesWritten: number } };
      out = r.buffer;
      used = r.engine.bytesWritten;
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === 'ERR_BUFFER_TOO_LARGE') throw new TarballError(`archive larger than ${maxBytes} bytes once decompressed`);
      if (code !== 'Z_BUF_ERROR') {
        // Damaged deflate data: Go gives what inflated before the damage, then names the input offset it had
        // reached in the member's data. zlib does not say where it stopped, so the shortest damaged prefix is
        // searched for (inflating each prefix as far as it goes).
        const partial = (n: number): Buffer | undefined => {
          try {
            return inflateRawSync(body.subarray(0, n), { finishFlush: zlibConstants.Z_SYNC_FLUSH, maxOutputLength: budget });
          } catch (e2) {
            if ((e2 as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw new TarballError(`archive larger than ${maxBytes} bytes once decompressed`);
            return undefined;
          }
        };
        let lo = 0;
        let hi = body.length;
        while (lo + 1 < hi) {
          const mid = (lo + hi) >>> 1;
          if (partial(mid) === undefined) hi = mid;
          else lo = mid;
        }
        const before = partial(lo) ?? Buffer.alloc(0);
        if (total + before.length > maxBytes) throw new TarballError(`archive larger than ${maxBytes} bytes once decompressed`);
        parts.push(before);
        return { out: Buffer.concat(parts), tail: `flate: corrupt input before offset ${hi}` };
      }
      // Cut short: what inflates before the cut, then Go's unexpected EOF.
      try {
        out = inflateRawSync(body, { finishFlush: zlibConstants.Z_SYNC_FLUSH, maxOutputLength: budget });
      } catch (e2) {
        if ((e2 as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw new TarballError(`archive larger than ${maxBytes} bytes once decompressed`);
        out = Buffer.alloc(0);
      }
      if (total + out.length > maxBytes) throw new TarballError(`archive larger than ${maxBytes} bytes once decompressed`);
      parts.push(out);
      return { out: Buffer.concat(parts), tail: 'unexpected EOF' };
    }
    total += out.length;
    if (total > maxBytes) throw new TarballError(`archive larger than ${maxBytes} bytes once decompressed`);
    parts.push(out);
    const trailer = at + used;
    if (trailer + 8 > gz.length) return { out: Buffer.concat(parts), tail: 'unexpected EOF' };
    if (gz.readUInt32LE(trailer) !== crc32(out) || gz.readUInt32LE(trailer + 4) !== (out.length & 0xffffffff) >>> 0) {
      return { out: Buffer.concat(parts), tail: 'gzip: invalid checksum' };
    }
    const next = gzipHeader(gz, trailer + 8);
    if (next === 'EOF') return { out: Buffer.concat(parts), tail: undefined };
    if (typeof next === 'string') return { out: Buffer.concat(parts), tail: next };
    at = next;
  }
}

/** A header's name field with its ustar prefix, as a last resort for naming an entry whose data is cut. */
function headerName(h: Uint8Array): string {
  const cut = (b: Uint8Array): Buffer => {
    const i = b.indexOf(0);
    return Buffer.from(i < 0 ? b : b.subarray(0, i));
  };
  const name = cut(h.subarray(0, 100));
  const prefix = Buffer.from(h.subarray(257, 263)).toString('latin1') === 'ustar\0' ? cut(h.subarray(345, 500)) : Buffer.alloc(0);
  return (prefix.length > 0 ? Buffer.concat([prefix, Buffer.from('/'), name]) : name).toString('utf8');
}

/**
 * The regular files of a bundle archive, read as opa's tarball loader reads them, for `-d` directories holding
 * `*.tar.gz` bundles: entry names as stored (`./a/x.rego`, `/data.json`), and every failure a TarballError with
 * the text Go's readers give at the point the archive goes wrong — reading stops at the tar end marker, so
 * damage past it goes unnoticed, as in opa. The decompressed archive is bounded by `maxTarBytes`.
 */
export function readBundleTarball(gz: Buffer, maxTarBytes = MAX_BUNDLE_TAR_BYTES): TarEntry[] {
  const { out: tar, tail } = goGunzip(gz, maxTarBytes);
  const entries: TarEntry[] = [];
  // Where the walk stands after the last entry it gave, padding included.
  let end = 0;
  try {
    for (const e of tarEntries(bytesReader(tar), tar.length, 'bundle archive')) {
      end = e.dataOffset + Math.ceil(e.size / 512) * 512;
      const name = Buffer.from(e.path).toString('utf8');
      // Go's reader turns an old-style regular entry into a directory when its name ends in a slash.
      if (e.type === '0' || (e.type === '\0' && !name.endsWith('/'))) entries.push({ path: name, data: Buffer.from(tar.subarray(e.dataOffset, e.dataOffset + e.size)) });
    }
  } catch (e) {
    if (!(e instanceof CocoError)) throw e;
    const past = /entry at offset (\d+) runs past the end/.exec(e.message);
    if (past) {
      const h = tar.subarray(Number(past[1]), Number(past[1]) + 512);
      const type = String.fromCharCode(h[156]!);
      const why = tail ?? 'unexpected EOF';
      throw new TarballError(type === 'x' || type === 'L' || type === 'K' || type === 'g' ? why : `failed to copy file ${headerName(h)}: ${why}`);
    }
    if (/archive ends inside a header|truncated header/.test(e.message)) throw new TarballError(tail ?? 'unexpected EOF');
    throw new TarballError('archive/tar: invalid tar header');
  }
  const zero = (at: number): boolean => tar.subarray(at, at + 512).every((b) => b === 0);
  if (end + 512 <= tar.length && zero(end)) {
    // The end marker: two zero blocks, the second one may be missing at a clean end.
    const second = end + 512;
    if (second + 512 <= tar.length) {
      if (!zero(second)) throw new TarballError('archive/tar: invalid tar header');
    } else if (second < tar.length || tail !== undefined) throw new TarballError(tail ?? 'unexpected EOF');
  } else if (end > tar.length || tail !== undefined) throw new TarballError(tail ?? 'unexpected EOF');
  return entries;
}

/**
 * Reading a gzipped tar archive (a policy bundle, `opa build`'s output) into its regular files: ustar headers,
 * with GNU long names (`L`) and pax `path` records. Directories, links and other entries are skipped.
 */
import { gunzipSync } from 'node:zlib';
import { CocoError } from '../errors.js';

export interface TarEntry {
  path: string;
  data: Buffer;
}

/** Largest archive content accepted once decompressed. */
const MAX_TAR_BYTES = 256 * 1024 * 1024;

function bad(message: string): CocoError {
  return new CocoError('BUNDLE_FORMAT', `bundle archive: ${message}`, { kind: 'input' });
}

function field(h: Buffer, start: number, len: number): string {
  const raw = h.subarray(start, start + len);
  const end = raw.indexOf(0);
  return raw.subarray(0, end < 0 ? len : end).toString('utf8');
}

export function readTarGz(gz: Buffer): TarEntry[] {
  let tar: Buffer;
  try {
    tar = gunzipSync(gz, { maxOutputLength: MAX_TAR_BYTES });
  } catch (e) {
    throw bad(`not a gzip stream or too large: ${(e as Error).message}`);
  }
  const out: TarEntry[] = [];
  let off = 0;
  let longName: string | undefined;
  while (off + 512 <= tar.length) {
    const h = tar.subarray(off, off + 512);
    if (h.every((b) => b === 0)) return out;
    const sizeText = field(h, 124, 12).trim();
    if (!/^[0-7]+$/.test(sizeText)) throw bad(`bad size field at offset ${off}`);
    const size = parseInt(sizeText, 8);
    const type = String.fromCharCode(h[156]!);
    const dataStart = off + 512;
    if (dataStart + size > tar.length) throw bad(`entry at offset ${off} is truncated`);
    const data = tar.subarray(dataStart, dataStart + size);
    off = dataStart + Math.ceil(size / 512) * 512;
    if (type === 'L') {
      longName = field(data, 0, data.length);
      continue;
    }
    if (type === 'x') {
      const m = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(data.toString('utf8'));
      if (m) longName = m[1];
      continue;
    }
    const prefix = field(h, 345, 155);
    const name = longName ?? (prefix ? `${prefix}/${field(h, 0, 100)}` : field(h, 0, 100));
    longName = undefined;
    if (type === '0' || type === '\0') out.push({ path: name, data: Buffer.from(data) });
  }
  if (off !== tar.length) throw bad('archive ends inside a header');
  return out;
}

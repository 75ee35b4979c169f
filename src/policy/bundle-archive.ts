/**
 * Reading a policy bundle archive (`opa build`'s output, a gzipped tar) into its regular files, through the
 * project's tar reader (ustar, GNU long names, PAX `path` records). Directories, links and other entries are
 * skipped.
 */
import { gunzipSync } from 'node:zlib';
import { CocoError } from '../errors.js';
import { bytesReader, tarEntries } from '../formats/tar.js';

export interface TarEntry {
  path: string;
  data: Buffer;
}

/** Largest archive content accepted once decompressed. */
export const MAX_BUNDLE_TAR_BYTES = 256 * 1024 * 1024;

export function readTarGz(gz: Buffer, maxTarBytes = MAX_BUNDLE_TAR_BYTES): TarEntry[] {
  let tar: Buffer;
  try {
    tar = gunzipSync(gz, { maxOutputLength: maxTarBytes });
  } catch (e) {
    throw new CocoError('BUNDLE_FORMAT', `bundle archive: not a gzip stream or too large: ${(e as Error).message}`, { kind: 'input' });
  }
  const out: TarEntry[] = [];
  for (const e of tarEntries(bytesReader(tar), tar.length, 'bundle archive')) {
    if (e.type !== '0' && e.type !== '\0') continue;
    out.push({ path: Buffer.from(e.path).toString('utf8'), data: Buffer.from(tar.subarray(e.dataOffset, e.dataOffset + e.size)) });
  }
  return out;
}

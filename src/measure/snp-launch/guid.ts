/** EFI GUIDs as stored in firmware and in QEMU's hashes table: the "bytes_le" layout (specs/snp.md §4.3). */
import { CocoError } from '../../errors.js';

const GUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The 16 bytes of a GUID string with the first three groups little-endian, as EFI stores them. */
export function guidToBytesLe(guid: string): Uint8Array {
  if (!GUID_RE.test(guid)) throw new CocoError('MEASURE_GUID', `not a GUID: ${guid}`, { kind: 'internal' });
  const b = Buffer.from(guid.replace(/-/g, ''), 'hex');
  return new Uint8Array([b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], ...b.subarray(8)]);
}

/** The lower-case GUID string of 16 bytes in EFI ("bytes_le") order. */
export function guidFromBytesLe(bytes: Uint8Array): string {
  const b = bytes;
  const h = (from: number, to: number, rev: boolean): string => {
    const part = Array.from(b.subarray(from, to));
    return Buffer.from(rev ? part.reverse() : part).toString('hex');
  };
  return `${h(0, 4, true)}-${h(4, 6, true)}-${h(6, 8, true)}-${h(8, 10, false)}-${h(10, 16, false)}`;
}

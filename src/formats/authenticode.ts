/**
 * The Authenticode digest of a PE/COFF image (Microsoft "Windows Authenticode Portable Executable Signature
 * Format", §"Calculating the PE Image Hash"): the headers without the CheckSum field and the Certificate Table
 * directory entry, the section raw data in file order, then any bytes after them other than the attribute
 * certificate table. UEFI firmware measures EFI applications with it (EV_EFI_BOOT_SERVICES_APPLICATION).
 */
import { createHash } from 'node:crypto';
import { CocoError } from '../errors.js';
import { parsePe } from './pe.js';
import { ByteReader } from './reader.js';

function bad(message: string): never {
  throw new CocoError('PE_FORMAT', `Authenticode: ${message}`, { kind: 'input' });
}

/** Authenticode digest with `alg` (`sha256`, `sha384`, …). */
export function authenticodeDigest(bytes: Uint8Array, alg = 'sha384'): Uint8Array {
  const image = parsePe(bytes); // validates the section table against the file
  const r = new ByteReader(bytes, 'PE image');
  r.seek(0x3c);
  const optional = r.u32le() + 4 + 20; // "PE\0\0" and the COFF file header
  const checksumAt = optional + 64;
  // Data directories follow the Windows-specific fields: 96 bytes in PE32, 112 in PE32+.
  const dirs = optional + (image.pe32plus ? 112 : 96);
  r.seek(dirs - 4);
  const dirCount = r.u32le();
  r.seek(optional + 60);
  const sizeOfHeaders = r.u32le();
  const certDirAt = dirs + 4 * 8;
  let certOffset = 0;
  let certSize = 0;
  if (dirCount > 4) {
    r.seek(certDirAt);
    certOffset = r.u32le();
    certSize = r.u32le();
  }
  if (sizeOfHeaders > bytes.length || sizeOfHeaders < certDirAt + 8) bad(`SizeOfHeaders ${sizeOfHeaders} does not cover the headers`);
  if (certSize > 0 && (certOffset < sizeOfHeaders || certOffset + certSize > bytes.length)) bad('the certificate table lies outside the file');
  const h = createHash(alg);
  h.update(bytes.subarray(0, checksumAt));
  h.update(bytes.subarray(checksumAt + 4, dirCount > 4 ? certDirAt : sizeOfHeaders));
  if (dirCount > 4) h.update(bytes.subarray(certDirAt + 8, sizeOfHeaders));
  let hashed = sizeOfHeaders;
  const sections = image.sections.filter((s) => s.sizeOfRawData > 0).sort((a, b) => a.pointerToRawData - b.pointerToRawData);
  for (const s of sections) {
    h.update(bytes.subarray(s.pointerToRawData, s.pointerToRawData + s.sizeOfRawData));
    hashed += s.sizeOfRawData;
  }
  // Extra data after the last section is hashed too, except the certificate table.
  const end = bytes.length - certSize;
  if (end > hashed) h.update(bytes.subarray(hashed, end));
  return new Uint8Array(h.digest());
}

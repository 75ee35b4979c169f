/**
 * TDX MRTD from a TDVF (OVMF built for TDX) or td-shim image (specs/tdx-initdata.md §4.1): the TDX metadata
 * found through the OVMF footer table, then the sequence of TDH.MEM.PAGE.ADD and TDH.MR.EXTEND operations
 * the VMM performs while building the TD, replayed into one SHA-384.
 *
 * Both page orders VMMs use are offered: `single-pass` (upstream KVM: add a page, then extend it) and
 * `two-pass` (older stacks: add every page of a section, then extend them).
 */
import { createHash, type Hash } from 'node:crypto';
import { CocoError } from '../../errors.js';
import { parseOvmf } from '../snp-launch/ovmf.js';

export const TDX_METADATA_OFFSET_GUID = 'e47a6535-984a-4798-865e-4685a7bf8ec2';
const PAGE = 0x1000;
const CHUNK = 0x100;
/** Section attributes (QEMU `hw/i386/tdvf.c`): measured with MR.EXTEND, or added later by PAGE.AUG (unmeasured). */
export const ATTR_MR_EXTEND = 1;
export const ATTR_PAGE_AUG = 2;
export const TDVF_SECTION_TYPES = ['BFV', 'CFV', 'TD_HOB', 'TempMem', 'PermMem', 'Payload', 'PayloadParam'] as const;

export interface TdvfSection {
  dataOffset: number;
  rawDataSize: number;
  memoryAddress: bigint;
  memoryDataSize: bigint;
  type: number;
  attributes: number;
}

export type PageAddOrder = 'single-pass' | 'two-pass';

function bad(message: string): never {
  throw new CocoError('MEASURE_TDVF_FORMAT', `TDVF: ${message}`, { kind: 'input' });
}

/** The TDVF descriptor's sections (16-byte `TDVF` header, then 32-byte entries, §4.1 item 3). */
export function parseTdvfSections(fw: Uint8Array): TdvfSection[] {
  const entry = parseOvmf(fw).table.get(TDX_METADATA_OFFSET_GUID);
  if (!entry) bad('no TDX metadata offset entry in the OVMF footer table (not a TDX firmware image)');
  if (entry.length < 4) bad('TDX metadata offset entry is shorter than 4 bytes');
  const dv = new DataView(fw.buffer, fw.byteOffset, fw.byteLength);
  const fromEnd = new DataView(entry.buffer, entry.byteOffset, entry.byteLength).getUint32(entry.length - 4, true);
  const at = fw.length - fromEnd;
  if (fromEnd === 0 || at < 0 || at + 16 > fw.length) bad(`metadata offset ${fromEnd} from the end lies outside the ${fw.length}-byte image`);
  if (Buffer.from(fw.subarray(at, at + 4)).toString('latin1') !== 'TDVF') bad('the descriptor signature is not "TDVF"');
  const length = dv.getUint32(at + 4, true);
  const version = dv.getUint32(at + 8, true);
  const count = dv.getUint32(at + 12, true);
  if (version !== 1) bad(`descriptor version ${version} is not 1`);
  if (length !== 16 + 32 * count || at + length > fw.length) bad(`descriptor length ${length} does not hold ${count} sections inside the image`);
  const sections: TdvfSection[] = [];
  for (let i = 0; i < count; i++) {
    const o = at + 16 + 32 * i;
    const s: TdvfSection = {
      dataOffset: dv.getUint32(o, true),
      rawDataSize: dv.getUint32(o + 4, true),
      memoryAddress: dv.getBigUint64(o + 8, true),
      memoryDataSize: dv.getBigUint64(o + 16, true),
      type: dv.getUint32(o + 24, true),
      attributes: dv.getUint32(o + 28, true),
    };
    if (s.memoryAddress % BigInt(PAGE) !== 0n) bad(`section ${i}: memory address is not 4 KiB aligned`);
    if (s.memoryDataSize % BigInt(PAGE) !== 0n) bad(`section ${i}: memory size is not a 4 KiB multiple`);
    if (s.memoryDataSize < BigInt(s.rawDataSize)) bad(`section ${i}: memory size is smaller than its raw data`);
    // MR.EXTEND hashes the image bytes of every page, so those bytes must exist.
    if (s.attributes & ATTR_MR_EXTEND && BigInt(s.dataOffset) + s.memoryDataSize > BigInt(fw.length)) bad(`section ${i}: measured pages run past the end of the image`);
    if (s.memoryDataSize > 0x1_0000_0000n) bad(`section ${i}: ${s.memoryDataSize} bytes is larger than any firmware section`);
    sections.push(s);
  }
  return sections;
}

function pageAdd(h: Hash, gpa: bigint): void {
  const block = Buffer.alloc(128);
  block.write('MEM.PAGE.ADD', 0, 'latin1');
  block.writeBigUInt64LE(gpa, 16);
  h.update(block);
}

function mrExtend(h: Hash, fw: Uint8Array, gpa: bigint, offset: number): void {
  for (let i = 0; i < PAGE / CHUNK; i++) {
    const block = Buffer.alloc(128);
    block.write('MR.EXTEND', 0, 'latin1');
    block.writeBigUInt64LE(gpa + BigInt(i * CHUNK), 16);
    h.update(block);
    h.update(fw.subarray(offset + i * CHUNK, offset + (i + 1) * CHUNK));
  }
}

/** MRTD of a firmware image as the TDX module computes it while the VMM builds the TD (§4.1). */
export function tdvfMrtd(fw: Uint8Array, order: PageAddOrder = 'single-pass'): Uint8Array {
  const h = createHash('sha384');
  for (const s of parseTdvfSections(fw)) {
    const pages = Number(s.memoryDataSize / BigInt(PAGE));
    const gpa = (p: number): bigint => s.memoryAddress + BigInt(p * PAGE);
    const add = (p: number): void => {
      if (!(s.attributes & ATTR_PAGE_AUG)) pageAdd(h, gpa(p));
    };
    const extend = (p: number): void => {
      if (s.attributes & ATTR_MR_EXTEND) mrExtend(h, fw, gpa(p), s.dataOffset + p * PAGE);
    };
    if (order === 'single-pass') {
      for (let p = 0; p < pages; p++) {
        add(p);
        extend(p);
      }
    } else {
      for (let p = 0; p < pages; p++) add(p);
      for (let p = 0; p < pages; p++) extend(p);
    }
  }
  return new Uint8Array(h.digest());
}

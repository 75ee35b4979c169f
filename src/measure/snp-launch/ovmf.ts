/**
 * OVMF firmware image: the GUID-keyed footer table at the end of the reset vector and the SEV metadata it
 * points to (specs/snp.md §4.3, sev-snp-measure `ovmf.py`). Every malformed structure is a CocoError.
 */
import { CocoError } from '../../errors.js';
import { guidFromBytesLe, guidToBytesLe } from './guid.js';

export const FOUR_GB = 0x1_0000_0000;

export const OVMF_TABLE_FOOTER_GUID = '96b582de-1fb2-45f7-baea-a366c55a082d';
export const SEV_HASH_TABLE_RV_GUID = '7255371f-3a3b-4b04-927b-1da6efa8d454';
export const SEV_ES_RESET_BLOCK_GUID = '00f771de-1a7e-4fcb-890e-68c77e2fb44e';
export const OVMF_SEV_METADATA_GUID = 'dc886566-984a-4798-a75e-5585a7bf67cc';
export const SVSM_INFO_GUID = 'a789a612-0597-4c4b-a49f-cbb1fe9d1ddd';

/** Section types of the OVMF SEV metadata (edk2 OvmfPkg/ResetVector/X64/OvmfSevMetadata.asm). */
export const SectionType = {
  SNP_SEC_MEM: 1,
  SNP_SECRETS: 2,
  CPUID: 3,
  SVSM_CAA: 4,
  SNP_KERNEL_HASHES: 0x10,
} as const;
export type SectionType = (typeof SectionType)[keyof typeof SectionType];

export interface SevMetadataSection {
  gpa: number;
  size: number;
  /** The raw u32; unknown values are rejected when the section is measured, as the tool does. */
  sectionType: number;
}

export interface OvmfImage {
  data: Uint8Array;
  /** GPA of the first byte: the image is mapped to end at `endAt` (4 GiB for OVMF). */
  gpa: number;
  /** Footer table entries by lower-case GUID string, each the entry's data bytes. */
  table: Map<string, Uint8Array>;
  /** SEV metadata sections in table order (empty when the image has none). */
  sections: SevMetadataSection[];
}

const ENTRY_HEADER = 18; // u16 length + 16-byte GUID
const FOOTER_TAIL = 32; // the table ends 32 bytes before the end of the image
/** Most guest memory the SEV metadata sections of one firmware image may describe, all sections together. */
export const MAX_METADATA_BYTES = 64 * 2 ** 20;
const META_HEADER = 16; // "ASEV", u32 size, u32 version, u32 num_items
const META_DESC = 12; // u32 gpa, u32 size, u32 type

function bad(message: string): CocoError {
  return new CocoError('MEASURE_OVMF_FORMAT', message, { kind: 'input' });
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** Parses the footer table and SEV metadata of an OVMF (or SVSM) image mapped to end at `endAt`. */
export function parseOvmf(data: Uint8Array, endAt = FOUR_GB): OvmfImage {
  if (data.length > endAt) throw bad(`firmware image of ${data.length} bytes does not fit below ${endAt.toString(16)}`);
  const table = parseFooterTable(data);
  const sections = parseSevMetadata(data, table);
  return { data, gpa: endAt - data.length, table, sections };
}

function parseFooterTable(data: Uint8Array): Map<string, Uint8Array> {
  const table = new Map<string, Uint8Array>();
  const footerStart = data.length - FOOTER_TAIL - ENTRY_HEADER;
  // Too small to hold a footer: like an image whose footer GUID does not match, it simply has no table.
  if (footerStart < 0) return table;
  const dv = view(data);
  const footerGuid = data.subarray(footerStart + 2, footerStart + ENTRY_HEADER);
  if (!Buffer.from(footerGuid).equals(Buffer.from(guidToBytesLe(OVMF_TABLE_FOOTER_GUID)))) return table;
  const tableSize = dv.getUint16(footerStart, true) - ENTRY_HEADER;
  if (tableSize < 0) return table;
  if (tableSize > footerStart) throw bad(`OVMF footer table length ${tableSize + ENTRY_HEADER} runs past the start of the image`);
  // Walk the entries backwards: each ends with its u16 length and GUID, its data precedes them.
  let end = footerStart;
  const start = footerStart - tableSize;
  while (end - start >= ENTRY_HEADER) {
    const entrySize = dv.getUint16(end - ENTRY_HEADER, true);
    if (entrySize < ENTRY_HEADER) throw bad(`OVMF footer table entry at offset ${end - ENTRY_HEADER} has invalid size ${entrySize}`);
    if (entrySize > end - start) throw bad(`OVMF footer table entry at offset ${end - ENTRY_HEADER} (size ${entrySize}) runs past the table`);
    const guid = guidFromBytesLe(data.subarray(end - 16, end));
    table.set(guid, data.subarray(end - entrySize, end - ENTRY_HEADER));
    end -= entrySize;
  }
  return table;
}

function parseSevMetadata(data: Uint8Array, table: Map<string, Uint8Array>): SevMetadataSection[] {
  const entry = table.get(OVMF_SEV_METADATA_GUID);
  if (entry === undefined) return [];
  const offsetFromEnd = u32Entry(entry, 'SEV metadata');
  const start = data.length - offsetFromEnd;
  if (offsetFromEnd === 0 || start < 0 || start + META_HEADER > data.length) {
    throw bad(`SEV metadata offset ${offsetFromEnd} from the end is outside the ${data.length}-byte image`);
  }
  const dv = view(data);
  const signature = Buffer.from(data.subarray(start, start + 4)).toString('latin1');
  if (signature !== 'ASEV') throw bad('Wrong SEV metadata signature');
  const size = dv.getUint32(start + 4, true);
  const version = dv.getUint32(start + 8, true);
  const numItems = dv.getUint32(start + 12, true);
  if (version !== 1) throw bad('Wrong SEV metadata version');
  if (size < META_HEADER || start + size > data.length) throw bad(`SEV metadata size ${size} runs past the end of the image`);
  if (numItems * META_DESC > size - META_HEADER) {
    throw bad(`SEV metadata declares ${numItems} sections but its size ${size} holds ${Math.floor((size - META_HEADER) / META_DESC)}`);
  }
  const sections: SevMetadataSection[] = [];
  let total = 0;
  for (let i = 0; i < numItems; i++) {
    const off = start + META_HEADER + i * META_DESC;
    const section = { gpa: dv.getUint32(off, true), size: dv.getUint32(off + 4, true), sectionType: dv.getUint32(off + 8, true) };
    // GPAs are 32-bit in this table: a section reaching past 4 GiB cannot describe real firmware memory.
    if (section.gpa + section.size > FOUR_GB) throw bad(`SEV metadata section ${i} [0x${section.gpa.toString(16)}, +0x${section.size.toString(16)}) runs past 4 GiB`);
    // Each section is measured page by page (zero, secrets, CPUID or unmeasured pages); real firmware
    // describes a few hundred KiB, so a table asking for more is refused before any page is measured.
    total += section.size;
    if (total > MAX_METADATA_BYTES) {
      throw new CocoError('MEASURE_OVMF_LIMIT', `SEV metadata sections cover more than ${MAX_METADATA_BYTES / 2 ** 20} MiB of guest memory (section ${i})`, { kind: 'limit' });
    }
    sections.push(section);
  }
  return sections;
}

function u32Entry(entry: Uint8Array, what: string): number {
  if (entry.length < 4) throw bad(`OVMF table entry ${what} has ${entry.length} data bytes, needs 4`);
  return view(entry).getUint32(0, true);
}

/** The AP reset EIP from the SEV-ES reset block; SEV-ES and SNP guests cannot start APs without it. */
export function sevEsResetEip(ovmf: OvmfImage): number {
  const entry = ovmf.table.get(SEV_ES_RESET_BLOCK_GUID);
  if (entry === undefined) throw bad("Can't find SEV_ES_RESET_BLOCK_GUID entry in OVMF table");
  return u32Entry(entry, 'SEV_ES_RESET_BLOCK');
}

/** GPA of the kernel hashes table QEMU fills (0 when the firmware does not support it). */
export function sevHashesTableGpa(ovmf: OvmfImage): number {
  const entry = ovmf.table.get(SEV_HASH_TABLE_RV_GUID);
  if (entry === undefined) throw bad("Can't find SEV_HASH_TABLE_RV_GUID entry in OVMF table");
  return u32Entry(entry, 'SEV_HASH_TABLE_RV');
}

export function isSevHashesTableSupported(ovmf: OvmfImage): boolean {
  return ovmf.table.has(SEV_HASH_TABLE_RV_GUID) && sevHashesTableGpa(ovmf) !== 0;
}

export function hasSection(ovmf: OvmfImage, type: SectionType): boolean {
  return ovmf.sections.some((s) => s.sectionType === type);
}

/** The SVSM entry point: the SVSM-info entry's u32 offset plus the image's GPA (Coconut QEMU). */
export function svsmEntry(svsm: OvmfImage): number {
  const entry = svsm.table.get(SVSM_INFO_GUID);
  if (entry === undefined) throw bad("Can't find SVSM_INFO_GUID entry in SVSM table");
  return u32Entry(entry, 'SVSM_INFO') + svsm.gpa;
}

/**
 * A bounds-checked reader of PE/COFF images (the EFI executables UKIs are), enough to find sections and
 * the bytes a loader places in memory for each (Microsoft PE format spec: MS-DOS stub, "PE\0\0" signature,
 * COFF file header, optional header, section table). Every malformed or truncated image is a CocoError.
 */
import { CocoError } from '../errors.js';
import { ByteReader } from './reader.js';

export interface PeSection {
  /** Section name, NUL padding removed (`.linux`, `.osrel`, …). */
  name: string;
  virtualSize: number;
  virtualAddress: number;
  sizeOfRawData: number;
  pointerToRawData: number;
  characteristics: number;
}

export interface PeImage {
  machine: number;
  /** PE32+ (optional header magic 0x20b) rather than PE32 (0x10b). */
  pe32plus: boolean;
  sizeOfImage: number;
  sections: PeSection[];
}

const OPTIONAL_MAGIC_PE32 = 0x10b;
const OPTIONAL_MAGIC_PE32PLUS = 0x20b;
const SECTION_HEADER_SIZE = 40;

function peError(message: string, detail?: unknown): CocoError {
  return new CocoError('PE_FORMAT', message, { kind: 'input', detail });
}

/**
 * Parses the headers and the section table. Checks that every section's raw data lies inside the file
 * and that sections fit in SizeOfImage, so callers can take bytes without further checks.
 * @throws CocoError PE_FORMAT (not a PE image, inconsistent headers), FORMAT_TRUNCATED (cut short)
 */
export function parsePe(bytes: Uint8Array): PeImage {
  const r = new ByteReader(bytes, 'PE image');
  if (bytes.length < 0x40 || bytes[0] !== 0x4d || bytes[1] !== 0x5a) {
    throw peError('not a PE image: no "MZ" DOS header');
  }
  r.seek(0x3c);
  const peOffset = r.u32le();
  r.seek(peOffset);
  const sig = r.take(4);
  if (sig[0] !== 0x50 || sig[1] !== 0x45 || sig[2] !== 0 || sig[3] !== 0) {
    throw peError(`not a PE image: no "PE\\0\\0" signature at e_lfanew 0x${peOffset.toString(16)}`);
  }
  // COFF file header (20 bytes).
  const machine = r.u16le();
  const numberOfSections = r.u16le();
  r.skip(12); // TimeDateStamp, PointerToSymbolTable, NumberOfSymbols
  const sizeOfOptionalHeader = r.u16le();
  r.skip(2); // Characteristics
  const optionalStart = r.offset;
  if (sizeOfOptionalHeader < 60) {
    throw peError(`PE optional header is ${sizeOfOptionalHeader} bytes, too short to hold SizeOfImage`);
  }
  const magic = r.u16le();
  if (magic !== OPTIONAL_MAGIC_PE32 && magic !== OPTIONAL_MAGIC_PE32PLUS) {
    throw peError(`PE optional header magic 0x${magic.toString(16)} is neither PE32 (0x10b) nor PE32+ (0x20b)`);
  }
  // SizeOfImage sits at offset 56 of the optional header in both PE32 and PE32+.
  r.seek(optionalStart + 56);
  const sizeOfImage = r.u32le();
  r.seek(optionalStart);
  r.skip(sizeOfOptionalHeader);
  const sections: PeSection[] = [];
  for (let i = 0; i < numberOfSections; i++) {
    const h = new ByteReader(r.take(SECTION_HEADER_SIZE), `PE section header ${i}`);
    const rawName = h.take(8);
    const nul = rawName.indexOf(0);
    const name = Buffer.from(rawName.subarray(0, nul < 0 ? 8 : nul)).toString('latin1');
    const virtualSize = h.u32le();
    const virtualAddress = h.u32le();
    const sizeOfRawData = h.u32le();
    const pointerToRawData = h.u32le();
    h.skip(12); // PointerToRelocations, PointerToLinenumbers, NumberOfRelocations, NumberOfLinenumbers
    const section: PeSection = { name, virtualSize, virtualAddress, sizeOfRawData, pointerToRawData, characteristics: h.u32le() };
    const rawEnd = section.pointerToRawData + section.sizeOfRawData;
    if (section.sizeOfRawData > 0 && rawEnd > bytes.length) {
      throw new CocoError(
        'FORMAT_TRUNCATED',
        `PE section ${JSON.stringify(name)}: raw data 0x${section.pointerToRawData.toString(16)}+0x${section.sizeOfRawData.toString(16)} extends past the end of the ${bytes.length}-byte file`,
        { kind: 'input', detail: { section: name, end: rawEnd, length: bytes.length } },
      );
    }
    if (section.virtualAddress + section.virtualSize > sizeOfImage) {
      throw peError(
        `PE section ${JSON.stringify(name)}: 0x${section.virtualAddress.toString(16)}+0x${section.virtualSize.toString(16)} lies beyond SizeOfImage 0x${sizeOfImage.toString(16)}`,
      );
    }
    sections.push(section);
  }
  return { machine, pe32plus: magic === OPTIONAL_MAGIC_PE32PLUS, sizeOfImage, sections };
}

/** The first section with this name, or undefined. */
export function findSection(image: PeImage, name: string): PeSection | undefined {
  return image.sections.find((s) => s.name === name);
}

/**
 * The bytes a loader maps for the section, as two parts so callers can hash without allocating the zero
 * fill: `raw` (the first min(VirtualSize, SizeOfRawData) file bytes) and `zeroFill` (VirtualSize beyond
 * the raw data, which the loader zero-initialises).
 */
export function sectionMemory(bytes: Uint8Array, section: PeSection): { raw: Uint8Array; zeroFill: number } {
  const rawLen = Math.min(section.virtualSize, section.sizeOfRawData);
  const raw = bytes.subarray(section.pointerToRawData, section.pointerToRawData + rawLen);
  return { raw, zeroFill: section.virtualSize - rawLen };
}

/** The section's in-memory bytes as one array (VirtualSize long). */
export function sectionBytes(bytes: Uint8Array, section: PeSection): Uint8Array {
  const { raw, zeroFill } = sectionMemory(bytes, section);
  if (zeroFill === 0) return raw;
  const out = new Uint8Array(raw.length + zeroFill);
  out.set(raw);
  return out;
}

/**
 * RTMR0 of a TD booted by OVMF/TDVF directly into a kernel (QEMU `-kernel`), predicted from the firmware
 * image, the guest memory size and the three ACPI blobs QEMU hands the firmware through fw_cfg
 * (specs/tdx-initdata.md §4.3, following the event sequence virtee/tdx-measure models):
 *
 *   TD HOB, CFV, SecureBoot, PK, KEK, db, dbx (all empty: no secure boot), separator,
 *   ACPI `etc/table-loader`, `etc/acpi/rsdp`, `etc/acpi/tables`, BootOrder, Boot0000
 *   [, separator — where the OVMF build logs it here rather than in RTMR1]
 *
 * The TD HOB is the hand-off block list the VMM writes into the TD_HOB section: a PHIT HOB and one
 * resource-descriptor HOB per memory range, accepted (the TD_HOB and TempMem sections) or unaccepted (the
 * rest of RAM, split around the 32-bit PCI hole from 2 GiB once RAM reaches 2.75 GiB, as QEMU lays it out).
 */
import { createHash } from 'node:crypto';
import { CocoError } from '../../errors.js';
import { guidToBytesLe } from '../snp-launch/guid.js';
import { parseTdvfSections, type TdvfSection } from './tdvf.js';

const sha384 = (b: Uint8Array): Uint8Array => new Uint8Array(createHash('sha384').update(b).digest());

const SECTION_CFV = 1;
const SECTION_TD_HOB = 2;
const SECTION_TEMP_MEM = 3;
/** Where OVMF's TD HOB lives when the metadata has no TD_HOB section (OvmfPkg IntelTdx layout). */
const DEFAULT_HOB_BASE = 0x809000n;
const GIB2 = 0x8000_0000n;
const GIB4 = 0x1_0000_0000n;
/** QEMU q35 keeps RAM below 4 GiB under 2 GiB once the guest has at least 2.75 GiB (the PCI hole). */
const LOWMEM_SPLIT = 0xb000_0000n;

/** UEFI global variable vendor (EFI_GLOBAL_VARIABLE) and the image-security database vendor. */
export const EFI_GLOBAL_VARIABLE = '8be4df61-93ca-11d2-aa0d-00e098032b8c';
export const EFI_IMAGE_SECURITY_DATABASE = 'd719b2cb-3d3a-4596-a3bc-dad00e67656f';

/**
 * The fixed Boot0000 load option OVMF creates for a direct boot (the UiApp entry of its firmware volume,
 * EFI_LOAD_OPTION: attributes, file-path-list length, description "UiApp", FvFile device path). Its digest
 * is the `EV_EFI_VARIABLE_BOOT` Boot0000 event of OVMF's direct-boot logs.
 */
const BOOT0000_DIRECT =
  '090100002c0055006900410070007000000004071400c9bdb87cebf8344faaea3ee4af6516a10406140021aa2c4614760345836e8ab6f46623317fff0400';

/**
 * SHA-384 of a UEFI_VARIABLE_DATA (TCG PC Client PFP §10.2.6): VariableName GUID (mixed-endian), u64 name
 * length in UTF-16 characters, u64 data length, the UTF-16LE name without NUL, the data.
 */
export function efiVariableDigest(vendorGuid: string, name: string, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const nameBytes = Buffer.from(name, 'utf16le');
  const head = Buffer.alloc(32);
  Buffer.from(guidToBytesLe(vendorGuid)).copy(head, 0);
  head.writeBigUInt64LE(BigInt(name.length), 16);
  head.writeBigUInt64LE(BigInt(data.length), 24);
  return sha384(Buffer.concat([head, nameBytes, data]));
}

interface MemRange {
  accepted: boolean;
  start: bigint;
  end: bigint;
}

/** RAM [0, size) as ranges, with the TD_HOB and TempMem sections marked accepted (the VMM adds their pages). */
function memoryRanges(sections: readonly TdvfSection[], memorySize: bigint): MemRange[] {
  let ranges: MemRange[] = [{ accepted: false, start: 0n, end: memorySize }];
  for (const s of sections) {
    if (s.type !== SECTION_TD_HOB && s.type !== SECTION_TEMP_MEM) continue;
    const start = s.memoryAddress;
    const end = s.memoryAddress + s.memoryDataSize;
    if (start >= end) continue;
    const next: MemRange[] = [];
    for (const r of ranges) {
      if (r.accepted || r.end <= start || r.start >= end) {
        next.push(r);
        continue;
      }
      if (r.start < start) next.push({ accepted: false, start: r.start, end: start });
      if (r.end > end) next.push({ accepted: false, start: end, end: r.end });
    }
    next.push({ accepted: true, start, end });
    ranges = next.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  }
  return ranges;
}

/**
 * The TD HOB list bytes OVMF measures (without the END HOB): PHIT (type 1, version 9, only EndOfHobList
 * set) and resource descriptors (type 3: resource type 0 system memory when accepted, 7 unaccepted;
 * attributes PRESENT|INITIALIZED|TESTED).
 */
export function tdHobList(sections: readonly TdvfSection[], memorySize: bigint): Uint8Array {
  if (memorySize <= 0n) throw new CocoError('MEASURE_TDX_MEMORY', 'the guest memory size must be positive', { kind: 'usage' });
  const hobBase = sections.find((s) => s.type === SECTION_TD_HOB)?.memoryAddress ?? DEFAULT_HOB_BASE;
  const ranges = memoryRanges(sections, memorySize);
  const top = ranges.pop();
  if (!top || top.accepted) throw new CocoError('MEASURE_TDX_MEMORY', 'the guest memory ends inside a TD_HOB or TempMem section; give more memory', { kind: 'usage' });
  const resources: { type: number; start: bigint; length: bigint }[] = ranges.map((r) => ({ type: r.accepted ? 0 : 7, start: r.start, length: r.end - r.start }));
  if (memorySize >= LOWMEM_SPLIT) {
    if (top.start >= GIB2) throw new CocoError('MEASURE_TDX_MEMORY', 'firmware sections reach above 2 GiB; the RAM split is not modelled', { kind: 'usage' });
    resources.push({ type: 7, start: top.start, length: GIB2 - top.start }, { type: 7, start: GIB4, length: top.end - GIB2 });
  } else {
    resources.push({ type: 7, start: top.start, length: top.end - top.start });
  }
  const out = Buffer.alloc(56 + 48 * resources.length);
  out.writeUInt16LE(1, 0); // EFI_HOB_TYPE_HANDOFF
  out.writeUInt16LE(56, 2);
  out.writeUInt32LE(9, 8); // EFI_HOB_HANDOFF_TABLE_VERSION
  // EndOfHobList points past the END HOB (8 bytes) that follows the measured list.
  out.writeBigUInt64LE(hobBase + BigInt(out.length) + 8n, 48);
  resources.forEach((r, i) => {
    const o = 56 + 48 * i;
    out.writeUInt16LE(3, o); // EFI_HOB_TYPE_RESOURCE_DESCRIPTOR
    out.writeUInt16LE(48, o + 2);
    out.writeUInt32LE(r.type, o + 24);
    out.writeUInt32LE(7, o + 28);
    out.writeBigUInt64LE(r.start, o + 32);
    out.writeBigUInt64LE(r.length, o + 40);
  });
  return new Uint8Array(out);
}

/** SHA-384 of the configuration firmware volume (UEFI variable store) as the image holds it. */
export function cfvDigest(fw: Uint8Array, sections: readonly TdvfSection[] = parseTdvfSections(fw)): Uint8Array {
  const cfv = sections.find((s) => s.type === SECTION_CFV);
  if (!cfv) throw new CocoError('MEASURE_TDVF_FORMAT', 'TDVF: the image has no CFV section (configuration firmware volume)', { kind: 'input' });
  if (cfv.dataOffset + cfv.rawDataSize > fw.length) throw new CocoError('MEASURE_TDVF_FORMAT', 'TDVF: the CFV section lies outside the image', { kind: 'input' });
  return sha384(fw.subarray(cfv.dataOffset, cfv.dataOffset + cfv.rawDataSize));
}

/** The event digests of RTMR0 whose inputs are not fixed by the firmware's direct-boot behaviour. */
export interface Rtmr0Inputs {
  tdHob: Uint8Array;
  cfv: Uint8Array;
  acpiLoader: Uint8Array;
  acpiRsdp: Uint8Array;
  acpiTables: Uint8Array;
}

/** The RTMR0 event digests of a direct boot without secure boot, in extend order. */
export function rtmr0Events(d: Rtmr0Inputs, o: { separatorInRtmr1?: boolean } = {}): Uint8Array[] {
  const separator = sha384(new Uint8Array(4));
  return [
    d.tdHob,
    d.cfv,
    efiVariableDigest(EFI_GLOBAL_VARIABLE, 'SecureBoot'),
    efiVariableDigest(EFI_GLOBAL_VARIABLE, 'PK'),
    efiVariableDigest(EFI_GLOBAL_VARIABLE, 'KEK'),
    efiVariableDigest(EFI_IMAGE_SECURITY_DATABASE, 'db'),
    efiVariableDigest(EFI_IMAGE_SECURITY_DATABASE, 'dbx'),
    separator,
    d.acpiLoader,
    d.acpiRsdp,
    d.acpiTables,
    // EV_EFI_VARIABLE_BOOT events measure the variable data only: BootOrder = [0000], then Boot0000.
    sha384(new Uint8Array(2)),
    sha384(Buffer.from(BOOT0000_DIRECT, 'hex')),
    ...(o.separatorInRtmr1 === false ? [separator] : []),
  ];
}

export interface Rtmr0Files {
  firmware: Uint8Array;
  memorySize: bigint;
  /** QEMU fw_cfg `etc/table-loader`, `etc/acpi/rsdp`, `etc/acpi/tables` as the guest firmware read them. */
  acpiLoader: Uint8Array;
  acpiRsdp: Uint8Array;
  acpiTables: Uint8Array;
}

/** The RTMR0 event digests of a direct boot, from the files. */
export function rtmr0EventsFromFiles(f: Rtmr0Files, o: { separatorInRtmr1?: boolean } = {}): Uint8Array[] {
  const sections = parseTdvfSections(f.firmware);
  return rtmr0Events(
    {
      tdHob: sha384(tdHobList(sections, f.memorySize)),
      cfv: cfvDigest(f.firmware, sections),
      acpiLoader: sha384(f.acpiLoader),
      acpiRsdp: sha384(f.acpiRsdp),
      acpiTables: sha384(f.acpiTables),
    },
    o,
  );
}

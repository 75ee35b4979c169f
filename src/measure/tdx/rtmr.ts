/**
 * RTMR1 and RTMR2 of a TD that OVMF/TDVF boots directly into a kernel (QEMU `-kernel/-initrd/-append`),
 * predicted from the files (specs/tdx-initdata.md §4.3, following virtee/tdx-measure's direct-boot model):
 *
 * - RTMR1: Authenticode SHA-384 of the kernel, "Calling EFI Application from Boot Option", a separator
 *   (where the OVMF build logs it in RTMR1), "Exit Boot Services Invocation", "Exit Boot Services Returned
 *   with Success".
 * - RTMR2: SHA-384 of the load options OVMF passes (UTF-16LE of the command line plus " initrd=initrd",
 *   NUL-terminated) and SHA-384 of the initrd.
 *
 * OVMF ≥ 2025.05 measures the kernel file as is. OVMF 2025.02 (Ubuntu 25.04) measures the image after QEMU
 * has written its boot-protocol fields into the setup header (`patchKernelSetupHeader`). RTMR0 is in rtmr0.ts.
 */
import { createHash } from 'node:crypto';
import { CocoError } from '../../errors.js';
import { authenticodeDigest } from '../../formats/authenticode.js';

const sha384 = (b: Uint8Array | string): Uint8Array => new Uint8Array(createHash('sha384').update(b).digest());

/** RTMR = SHA-384(RTMR ‖ digest) for each digest, from zero (§4.2). */
export function replayRtmr(digests: readonly Uint8Array[]): Uint8Array {
  let v: Uint8Array = new Uint8Array(48);
  for (const d of digests) v = new Uint8Array(createHash('sha384').update(v).update(d).digest());
  return v;
}

export interface DirectBootOptions {
  /** Whether the OVMF build logs the EV_SEPARATOR into RTMR1 (tdx-measure's model; some builds log it in RTMR0). */
  separatorInRtmr1?: boolean;
  /** OVMF 2025.02: measure the kernel with QEMU's setup-header fields written in, for this guest memory size. */
  patchKernel?: { memorySize: bigint; acpiDataSize?: number };
}

/** Bytes QEMU reserves below the top of low RAM for ACPI data (pc_machine's default `acpi_data_size`). */
const QEMU_ACPI_DATA_SIZE = 0x28000;

/**
 * The kernel image as QEMU leaves it after loading it for a direct boot (Linux boot protocol,
 * Documentation/arch/x86/boot.rst): type_of_loader, CAN_USE_HEAP with heap_end_ptr, cmd_line_ptr (or the
 * old command-line magic), and the initrd's address (page-aligned, as high as initrd_addr_max and low RAM
 * minus the ACPI data allow) and size.
 */
export function patchKernelSetupHeader(kernel: Uint8Array, initrdSize: number, memorySize: bigint, acpiDataSize = QEMU_ACPI_DATA_SIZE): Uint8Array {
  const bad = (m: string): never => {
    throw new CocoError('MEASURE_KERNEL', `kernel setup header: ${m}`, { kind: 'input' });
  };
  if (kernel.length < 0x1000) bad(`a ${kernel.length}-byte image is too short for a bzImage`);
  const k = Buffer.from(kernel);
  const protocol = k.readUInt16LE(0x206);
  // A kernel that is not "loaded high" keeps its real-mode code at 0x90000 (boot.rst "memory layout").
  const [realAddr, cmdlineAddr] = protocol < 0x200 || (k[0x211] & 0x01) === 0 ? [0x90000, 0x9a000] : [0x10000, 0x20000];
  if (protocol >= 0x200) k[0x210] = 0xb0; // type_of_loader: QEMU
  if (protocol >= 0x201) {
    k[0x211] |= 0x80; // CAN_USE_HEAP
    k.writeUInt32LE(cmdlineAddr - realAddr - 0x200, 0x224);
  }
  if (protocol >= 0x202) k.writeUInt32LE(cmdlineAddr, 0x228);
  else {
    k.writeUInt16LE(0xa33f, 0x20);
    k.writeUInt16LE(cmdlineAddr - realAddr, 0x22);
  }
  if (initrdSize > 0) {
    if (protocol < 0x200) bad(`boot protocol ${protocol.toString(16)} cannot take an initrd`);
    let initrdMax = 0x37ffffff;
    if (protocol >= 0x20c) {
      if (k.readUInt16LE(0x236) & 0x40) initrdMax = 0xffffffff; // XLF_CAN_BE_LOADED_ABOVE_4G
    } else if (protocol >= 0x203) {
      initrdMax = k.readUInt32LE(0x22c) || 0x37ffffff;
    }
    const lowmem = memorySize < 0xb000_0000n ? 0xb000_0000n : 0x8000_0000n;
    const below4g = Number(memorySize >= lowmem ? lowmem : memorySize);
    if (below4g <= acpiDataSize) bad('guest memory is smaller than the ACPI data area');
    if (initrdMax >= below4g - acpiDataSize) initrdMax = below4g - acpiDataSize - 1;
    if (initrdSize >= initrdMax) bad(`a ${initrdSize}-byte initrd does not fit below ${initrdMax.toString(16)}`);
    k.writeUInt32LE(((initrdMax - initrdSize) & ~4095) >>> 0, 0x218);
    k.writeUInt32LE(initrdSize, 0x21c);
  }
  return new Uint8Array(k);
}

/** The RTMR1 event digests of a direct boot, from the kernel's Authenticode digest. */
export function rtmr1Events(kernelDigest: Uint8Array, o: DirectBootOptions = {}): Uint8Array[] {
  return [
    kernelDigest,
    sha384('Calling EFI Application from Boot Option'),
    ...(o.separatorInRtmr1 === false ? [] : [sha384(new Uint8Array(4))]),
    sha384('Exit Boot Services Invocation'),
    sha384('Exit Boot Services Returned with Success'),
  ];
}

/** The RTMR2 event digests of a direct boot: the load options and the initrd. */
export function rtmr2Events(cmdline: string, initrd: Uint8Array): Uint8Array[] {
  const options = Buffer.from(`${cmdline} initrd=initrd\0`, 'utf16le');
  return [sha384(options), sha384(initrd)];
}

export function directBootRtmrs(kernel: Uint8Array, initrd: Uint8Array, cmdline: string, o: DirectBootOptions = {}): { rtmr1: Uint8Array; rtmr2: Uint8Array } {
  const measured = o.patchKernel ? patchKernelSetupHeader(kernel, initrd.length, o.patchKernel.memorySize, o.patchKernel.acpiDataSize) : kernel;
  return { rtmr1: replayRtmr(rtmr1Events(authenticodeDigest(measured, 'sha384'), o)), rtmr2: replayRtmr(rtmr2Events(cmdline, initrd)) };
}

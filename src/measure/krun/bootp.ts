/**
 * The Linux zero page ("boot_params") libkrun writes at GPA 0x7000 for SEV guests and that
 * krunfw_measurement measures (specs/keybroker.md §4.2, libkrun `src/arch/src/x86_64/mod.rs`).
 */
import { CocoError } from '../../errors.js';

export const BOOTP_GPA = 0x7000;
export const INITRD_GPA = 0xa0_0000;
const CMDLINE_GPA = 0x2_0000;
/** libkrun `layout.rs` CMDLINE_SEV_SIZE. */
const CMDLINE_SEV_SIZE = 0x200;
const KERNEL_ALIGNMENT = 0x100_0000;
const MMIO_GAP_START = 0xd000_0000;
const HIGH_RAM_START = 0x1_0000_0000;
const HIMEM_START = 0x10_0000;
const E820_RAM = 1;

export interface BootParamsOptions {
  cpus: number;
  ramMib: number;
  /** Size of the (64 KiB-padded) initrd bundle. */
  initrdSize: number;
}

/** The 4096-byte zero page. */
export function bootParams({ cpus, ramMib, initrdSize }: BootParamsOptions): Uint8Array {
  if (!Number.isSafeInteger(cpus) || cpus < 1 || cpus > 0xffff_ffff) throw new CocoError('MEASURE_KRUN_CPUS', `the number of vCPUs must be at least 1, got ${cpus}`, { kind: 'usage' });
  if (!Number.isSafeInteger(ramMib) || ramMib < 1 || ramMib * 0x10_0000 <= HIMEM_START) {
    throw new CocoError('MEASURE_KRUN_RAM', `the guest RAM must be more than 1 MiB, got ${ramMib} MiB`, { kind: 'usage' });
  }
  if (initrdSize > 0xffff_ffff) throw new CocoError('MEASURE_KRUN_INITRD', `an initrd of ${initrdSize} bytes does not fit the 32-bit ramdisk_size`, { kind: 'input' });
  const p = Buffer.alloc(4096);
  p.writeUInt32LE(cpus, 0x1f4); // hdr.syssize: libkrun's TEE builds pass the vCPU count here
  p.writeUInt16LE(0xaa55, 0x1fe);
  p.writeUInt32LE(0x5372_6448, 0x202); // "HdrS"
  p.writeUInt8(0xff, 0x210); // type_of_loader: undefined
  p.writeUInt32LE(INITRD_GPA, 0x218);
  p.writeUInt32LE(initrdSize, 0x21c);
  p.writeUInt32LE(CMDLINE_GPA, 0x228);
  p.writeUInt32LE(KERNEL_ALIGNMENT, 0x230);
  p.writeUInt32LE(CMDLINE_SEV_SIZE, 0x238);
  const mem = ramMib * 0x10_0000;
  // libkrun passes the RAM size where configure_64bit_boot expects the last address, hence the "+ 1".
  const e820: Array<[number, number]> = [[0, 0x9_fc00]];
  if (mem <= MMIO_GAP_START) e820.push([HIMEM_START, mem - HIMEM_START + 1]);
  else e820.push([HIMEM_START, MMIO_GAP_START - HIMEM_START], [HIGH_RAM_START, mem - MMIO_GAP_START + 1]);
  p.writeUInt8(e820.length, 0x1e8);
  e820.forEach(([addr, size], i) => {
    const off = 0x2d0 + 20 * i;
    p.writeBigUInt64LE(BigInt(addr), off);
    p.writeBigUInt64LE(BigInt(size), off + 8);
    p.writeUInt32LE(E820_RAM, off + 16);
  });
  return new Uint8Array(p.buffer, p.byteOffset, 4096);
}

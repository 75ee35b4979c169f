/**
 * The kernel hashes table QEMU writes into the firmware for `-kernel/-initrd/-append` measured boot
 * (specs/snp.md §4.5, QEMU `sev_add_kernel_loader_hashes`, sev-snp-measure `sev_hashes.py`).
 */
import { createHash } from 'node:crypto';
import { CocoError } from '../../errors.js';
import { PAGE_SIZE } from './gctx.js';
import { guidToBytesLe } from './guid.js';

const TABLE_HEADER_GUID = '9438d606-4f22-4cc9-b479-a793d411fd21';
const CMDLINE_GUID = '97d02dd8-bd20-4c94-aa78-e7714d36ab2a';
const INITRD_GUID = '44baf731-3a2f-4bd7-9af1-41e29169781d';
const KERNEL_GUID = '4de79437-abd2-427f-b835-d5b172d2045b';

const ENTRY_SIZE = 16 + 2 + 32;
const TABLE_SIZE = 16 + 2 + 3 * ENTRY_SIZE; // 168
/** The table padded to a multiple of 16 bytes, as QEMU places it. */
export const PADDED_TABLE_SIZE = (TABLE_SIZE + 15) & ~15; // 176

export interface KernelInputs {
  kernel: Uint8Array;
  /** Absent means an empty initrd: QEMU hashes zero bytes. */
  initrd?: Uint8Array;
  /** Absent or empty means just the NUL terminator (Python truthiness upstream: `--append ""` == none). */
  cmdline?: string;
}

function sha256(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(data).digest());
}

/** The exact bytes whose SHA-256 is the cmdline entry: UTF-8 of the command line plus one NUL. */
export function cmdlineBytes(cmdline: string | undefined): Uint8Array {
  return cmdline ? new Uint8Array(Buffer.concat([Buffer.from(cmdline, 'utf8'), Buffer.from([0])])) : new Uint8Array([0]);
}

/** The 176-byte padded hashes table. */
export function sevHashesTable({ kernel, initrd, cmdline }: KernelInputs): Uint8Array {
  const out = Buffer.alloc(PADDED_TABLE_SIZE);
  out.set(guidToBytesLe(TABLE_HEADER_GUID), 0);
  out.writeUInt16LE(TABLE_SIZE, 16);
  const entries: Array<[string, Uint8Array]> = [
    [CMDLINE_GUID, sha256(cmdlineBytes(cmdline))],
    [INITRD_GUID, sha256(initrd ?? new Uint8Array(0))],
    [KERNEL_GUID, sha256(kernel)],
  ];
  let off = 18;
  for (const [guid, hash] of entries) {
    out.set(guidToBytesLe(guid), off);
    out.writeUInt16LE(ENTRY_SIZE, off + 16);
    out.set(hash, off + 18);
    off += ENTRY_SIZE;
  }
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

/** A zero page with the table at `offset` (the hashes-table GPA's offset within its page). */
export function sevHashesPage(inputs: KernelInputs, offset: number): Uint8Array {
  if (offset < 0 || offset + PADDED_TABLE_SIZE > PAGE_SIZE) {
    throw new CocoError('MEASURE_SNP_HASHES', `the kernel hashes table does not fit in its page at offset 0x${offset.toString(16)}`, { kind: 'input' });
  }
  const page = new Uint8Array(PAGE_SIZE);
  page.set(sevHashesTable(inputs), offset);
  return page;
}

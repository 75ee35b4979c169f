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
 * The kernel is measured as is (OVMF ≥ 2025.05); the QEMU setup-header patching older OVMF needs is not done.
 * RTMR0 depends on the VMM's ACPI tables and memory layout and is not predicted.
 */
import { createHash } from 'node:crypto';
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
  return { rtmr1: replayRtmr(rtmr1Events(authenticodeDigest(kernel, 'sha384'), o)), rtmr2: replayRtmr(rtmr2Events(cmdline, initrd)) };
}

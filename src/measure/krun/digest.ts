/**
 * The launch measurements libkrunfw's `krunfw_measurement` prints for a libkrun TEE guest and that buildah
 * registers (specs/keybroker.md §3.5, §4): SEV and SEV-ES SHA-256 digests, and the SNP launch digest chain.
 */
import { createHash } from 'node:crypto';
import { CocoError } from '../../errors.js';
import { LaunchDigest, PAGE_SIZE } from '../snp-launch/gctx.js';
import { BOOTP_GPA, INITRD_GPA, bootParams } from './bootp.js';
import { krunVmsa } from './vmsa.js';

/** qboot is mapped so it ends at 4 GiB (a 64 KiB image). */
export const QBOOT_GPA = 0xffff_0000;
/** libkrunfw pads every bundle to a multiple of 64 KiB (`bin2cbundle.py`). */
const BUNDLE_ALIGN = 0x1_0000;

export interface KrunFirmware {
  qboot: Uint8Array;
  /** The kernel bundle: PT_LOAD segments as libkrunfw lays them out, loaded at `kernelLoadAddr`. */
  kernel: Uint8Array;
  kernelLoadAddr: number;
  initrd: Uint8Array;
}

export interface KrunMeasureOptions extends KrunFirmware {
  cpus: number;
  ramMib: number;
}

export interface KrunMeasurements {
  sev: Uint8Array;
  sevEs: Uint8Array;
  snp: Uint8Array;
}

/** Zero-pads a bundle to the 64 KiB multiple libkrunfw reports as its size. */
export function padBundle(b: Uint8Array): Uint8Array {
  const size = Math.ceil(b.length / BUNDLE_ALIGN) * BUNDLE_ALIGN;
  if (size === b.length) return b;
  const out = new Uint8Array(size);
  out.set(b);
  return out;
}

function checkFirmware(f: KrunFirmware): void {
  if (f.qboot.length === 0 || f.qboot.length > 0x1_0000_0000 - QBOOT_GPA) {
    throw new CocoError('MEASURE_KRUN_QBOOT', `qboot must be 1..${0x1_0000_0000 - QBOOT_GPA} bytes, got ${f.qboot.length}`, { kind: 'input' });
  }
  if (f.kernel.length === 0) throw new CocoError('MEASURE_KRUN_KERNEL', 'the kernel bundle is empty', { kind: 'input' });
  if (!Number.isSafeInteger(f.kernelLoadAddr) || f.kernelLoadAddr < 0 || f.kernelLoadAddr % PAGE_SIZE !== 0) {
    throw new CocoError('MEASURE_KRUN_KERNEL', `the kernel load address 0x${f.kernelLoadAddr.toString(16)} is not page-aligned`, { kind: 'input' });
  }
}

/** All three digests krunfw_measurement prints, for `cpus` vCPUs and `ramMib` MiB of guest RAM. */
export function krunMeasurements(o: KrunMeasureOptions): KrunMeasurements {
  checkFirmware(o);
  const qboot = padBundle(o.qboot);
  const kernel = padBundle(o.kernel);
  const initrd = padBundle(o.initrd);
  const bootp = bootParams({ cpus: o.cpus, ramMib: o.ramMib, initrdSize: initrd.length });

  const sev = createHash('sha256').update(qboot).update(kernel).update(initrd).update(bootp);
  const sevEs = sev.copy().update(krunVmsa('bsp', false));
  const apEs = krunVmsa('ap', false);
  for (let i = 1; i < o.cpus; i++) sevEs.update(apEs);

  // The order of libkrun's measured regions (`builder.rs`) and of `amdsnp/mod.rs` vm_measure.
  const gctx = new LaunchDigest();
  gctx.updateNormalPages(QBOOT_GPA, qboot);
  gctx.updateNormalPages(o.kernelLoadAddr, kernel);
  gctx.updateNormalPages(INITRD_GPA, initrd);
  gctx.updateNormalPages(BOOTP_GPA, bootp);
  gctx.updateZeroPages(0x0000, PAGE_SIZE); // initial LIDT
  gctx.updateSecretsPage(0x5000);
  gctx.updateCpuidPage(0x6000); // only type and GPA: the CPUID table itself is not in the digest
  gctx.updateZeroPages(0x8000, 7 * PAGE_SIZE); // firmware stack and page tables
  gctx.updateVmsaPage(krunVmsa('bsp', true));
  const ap = krunVmsa('ap', true);
  for (let i = 1; i < o.cpus; i++) gctx.updateVmsaPage(ap);

  return { sev: new Uint8Array(sev.digest()), sevEs: new Uint8Array(sevEs.digest()), snp: gctx.ld };
}

/**
 * Launch digests of SEV, SEV-ES and SEV-SNP guests booted from OVMF, reproducing virtee/sev-snp-measure
 * (specs/snp.md §4.2, §4.8): the order of pages, the per-VMM quirks and the error cases.
 */
import { createHash } from 'node:crypto';
import { CocoError } from '../../errors.js';
import { LaunchDigest, PAGE_SIZE, type PageHook } from './gctx.js';
import {
  type OvmfImage,
  type SevMetadataSection,
  SectionType,
  hasSection,
  isSevHashesTableSupported,
  parseOvmf,
  sevEsResetEip,
  sevHashesTableGpa,
  svsmEntry,
} from './ovmf.js';
import { type KernelInputs, sevHashesPage, sevHashesTable } from './sev-hashes.js';
import { vcpuTypeSig } from './vcpu-types.js';
import { type VmmType, buildSvsmVmsa, vmsaPages } from './vmsa.js';

export interface SnpLaunchOptions {
  /** The firmware image bytes (mapped to end at 4 GiB). */
  ovmf: Uint8Array;
  kernel?: Uint8Array;
  initrd?: Uint8Array;
  cmdline?: string;
  vcpus: number;
  /** CPUID(1).EAX of the guest vCPUs (QEMU puts it in RDX; EC2 and GCE ignore it). */
  vcpuSig?: number;
  /** A QEMU vCPU model name (`EPYC-Milan`, …), used when `vcpuSig` is not given. */
  vcpuType?: string;
  vmm?: VmmType;
  /** SEV_FEATURES of the VMSAs; default 0x1 (SNPActive), as sev-snp-measure >= 0.0.10. */
  guestFeatures?: bigint;
  /** A precomputed firmware digest (`snpOvmfHash`): the firmware pages are not measured again. */
  ovmfHash?: Uint8Array;
  /** Called after every PAGE_INFO update. */
  onPage?: PageHook;
  /** Called with each measured VMSA page (vCPU index, page bytes), e.g. to dump them. */
  onVmsa?: VmsaHook;
}

export type VmsaHook = (vcpu: number, page: Uint8Array) => void;

const PAGE_MASK = 0xfff;

function kernelInputs(o: { kernel?: Uint8Array; initrd?: Uint8Array; cmdline?: string }): KernelInputs | undefined {
  if (o.kernel === undefined) return undefined;
  return { kernel: o.kernel, initrd: o.initrd, cmdline: o.cmdline };
}

function checkVcpus(vcpus: number): void {
  if (!Number.isSafeInteger(vcpus) || vcpus < 0) {
    throw new CocoError('MEASURE_SNP_VCPUS', `the number of vCPUs must be a non-negative integer, got ${vcpus}`, { kind: 'usage' });
  }
}

function sectionPages(gctx: LaunchDigest, ovmf: OvmfImage, s: SevMetadataSection, hashes: KernelInputs | undefined, vmm: VmmType): void {
  switch (s.sectionType) {
    case SectionType.SNP_SEC_MEM:
      // GCE validates the pre-zeroed firmware memory in the guest instead of having the PSP measure it.
      if (vmm === 'gce') gctx.updateUnmeasuredPages(s.gpa, s.size);
      else gctx.updateZeroPages(s.gpa, s.size);
      return;
    case SectionType.SNP_SECRETS:
      gctx.updateSecretsPage(s.gpa);
      return;
    case SectionType.CPUID:
      // EC2 inserts the CPUID page after every other section (handled by the caller).
      if (vmm !== 'ec2') gctx.updateCpuidPage(s.gpa);
      return;
    case SectionType.SVSM_CAA:
      gctx.updateZeroPages(s.gpa, s.size);
      return;
    case SectionType.SNP_KERNEL_HASHES:
      if (hashes === undefined) {
        gctx.updateZeroPages(s.gpa, s.size);
        return;
      }
      if (s.size !== PAGE_SIZE) {
        throw new CocoError('MEASURE_OVMF_FORMAT', `SNP_KERNEL_HASHES section is ${s.size} bytes; QEMU fills exactly one ${PAGE_SIZE}-byte page`, { kind: 'input' });
      }
      // The table lands at its GPA's offset within the page, but the page is measured at the section GPA.
      gctx.updateNormalPages(s.gpa, sevHashesPage(hashes, sevHashesTableGpa(ovmf) & PAGE_MASK));
      return;
    default:
      throw new CocoError('MEASURE_OVMF_FORMAT', 'unknown OVMF metadata section type', { kind: 'input', detail: { sectionType: s.sectionType } });
  }
}

/** SEV metadata pages of the firmware (specs/snp.md §4.2 step 2). */
export function measureMetadataPages(gctx: LaunchDigest, ovmf: OvmfImage, hashes: KernelInputs | undefined, vmm: VmmType): void {
  for (const s of ovmf.sections) sectionPages(gctx, ovmf, s, hashes, vmm);
  if (vmm === 'ec2') for (const s of ovmf.sections) if (s.sectionType === SectionType.CPUID) gctx.updateCpuidPage(s.gpa);
  if (hashes !== undefined && !hasSection(ovmf, SectionType.SNP_KERNEL_HASHES)) {
    throw new CocoError('MEASURE_SNP_NO_KERNEL_HASHES', "Kernel specified but OVMF metadata doesn't include SNP_KERNEL_HASHES section", { kind: 'input' });
  }
}

/** The firmware-only digest (`--mode snp:ovmf-hash`), usable later as `ovmfHash`. */
export function snpOvmfHash(ovmf: Uint8Array, onPage?: PageHook): Uint8Array {
  const image = parseOvmf(ovmf);
  const gctx = new LaunchDigest(undefined, onPage);
  gctx.updateNormalPages(image.gpa, image.data);
  return gctx.ld;
}

/** The 48-byte SEV-SNP launch digest (MEASUREMENT of the attestation report). */
export function snpLaunchDigest(o: SnpLaunchOptions): Uint8Array {
  checkVcpus(o.vcpus);
  const vmm = o.vmm ?? 'QEMU';
  const image = parseOvmf(o.ovmf);
  const gctx = new LaunchDigest(o.ovmfHash, o.onPage);
  if (o.ovmfHash === undefined) gctx.updateNormalPages(image.gpa, image.data);
  measureMetadataPages(gctx, image, kernelInputs(o), vmm);
  const apEip = sevEsResetEip(image);
  if (o.vcpus > 1 && apEip === 0) throw new CocoError('MEASURE_OVMF_FORMAT', 'the OVMF SEV-ES reset EIP is 0: application processors cannot start', { kind: 'input' });
  const vcpuSig = o.vcpuSig ?? (o.vcpuType === undefined ? 0 : vcpuTypeSig(o.vcpuType));
  let i = 0;
  for (const page of vmsaPages(o.vcpus, apEip, { sevFeatures: o.guestFeatures ?? 0x1n, vcpuSig, vmm })) {
    gctx.updateVmsaPage(page);
    o.onVmsa?.(i++, page);
  }
  return gctx.ld;
}

export interface SevOptions {
  ovmf: Uint8Array;
  kernel?: Uint8Array;
  initrd?: Uint8Array;
  cmdline?: string;
}

function sevHash(o: SevOptions, image: OvmfImage): ReturnType<typeof createHash> {
  const h = createHash('sha256').update(image.data);
  const hashes = kernelInputs(o);
  if (hashes !== undefined) {
    if (!isSevHashesTableSupported(image)) {
      throw new CocoError('MEASURE_SEV_NO_KERNEL_HASHES', "Kernel specified but OVMF doesn't support kernel/initrd/cmdline measurement", { kind: 'input' });
    }
    h.update(sevHashesTable(hashes));
  }
  return h;
}

/** The 32-byte SEV (plain) launch digest: SHA-256 of the firmware and the kernel hashes table. */
export function sevLaunchDigest(o: SevOptions): Uint8Array {
  return new Uint8Array(sevHash(o, parseOvmf(o.ovmf)).digest());
}

export interface SevEsOptions extends SevOptions {
  vcpus: number;
  vcpuSig?: number;
  vmm?: VmmType;
  onVmsa?: VmsaHook;
}

/** The 32-byte SEV-ES launch digest: as SEV, followed by every VMSA page (SEV_FEATURES 0). */
export function sevEsLaunchDigest(o: SevEsOptions): Uint8Array {
  checkVcpus(o.vcpus);
  const image = parseOvmf(o.ovmf);
  const h = sevHash(o, image);
  const apEip = sevEsResetEip(image);
  if (o.vcpus > 1 && apEip === 0) throw new CocoError('MEASURE_OVMF_FORMAT', 'the OVMF SEV-ES reset EIP is 0: application processors cannot start', { kind: 'input' });
  let i = 0;
  for (const page of vmsaPages(o.vcpus, apEip, { sevFeatures: 0n, vcpuSig: o.vcpuSig ?? 0, vmm: o.vmm ?? 'QEMU' })) {
    h.update(page);
    o.onVmsa?.(i++, page);
  }
  return new Uint8Array(h.digest());
}

export interface SvsmOptions {
  ovmf: Uint8Array;
  svsm: Uint8Array;
  /** Size of the OVMF variable store mapped between the SVSM image and OVMF. */
  varsSize: number;
  vcpus: number;
  vcpuSig?: number;
  onPage?: PageHook;
  onVmsa?: VmsaHook;
}

/**
 * The SEV-SNP digest of a Coconut-SVSM launch (specs/snp.md §4.8): OVMF, then the SVSM image below the
 * variable store, the SVSM's metadata sections, and one SVSM VMSA per vCPU.
 */
export function svsmLaunchDigest(o: SvsmOptions): Uint8Array {
  checkVcpus(o.vcpus);
  if (!Number.isSafeInteger(o.varsSize) || o.varsSize < 0) {
    throw new CocoError('MEASURE_SNP_VARS', `the OVMF vars size must be a non-negative integer, got ${o.varsSize}`, { kind: 'usage' });
  }
  const ovmf = parseOvmf(o.ovmf);
  const svsm = parseOvmf(o.svsm, ovmf.gpa - o.varsSize);
  const entry = svsmEntry(svsm);
  const gctx = new LaunchDigest(undefined, o.onPage);
  gctx.updateNormalPages(ovmf.gpa, ovmf.data);
  gctx.updateNormalPages(svsm.gpa, svsm.data);
  measureMetadataPages(gctx, svsm, undefined, 'QEMU');
  const page = buildSvsmVmsa(entry, o.vcpuSig ?? 0);
  for (let i = 0; i < o.vcpus; i++) {
    gctx.updateVmsaPage(page);
    o.onVmsa?.(i, page);
  }
  return gctx.ld;
}

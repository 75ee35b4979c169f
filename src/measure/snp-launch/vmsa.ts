/**
 * The initial VMSA (SEV-ES save area) page each vCPU starts from, as the VMM hands it to the PSP
 * (specs/snp.md §4.6, sev-snp-measure `vmsa.py`). Offsets follow the save-area layout of the AMD APM vol. 2
 * table B-4; fields the VMMs leave zero are not named.
 */
import { CocoError } from '../../errors.js';
import { PAGE_SIZE } from './gctx.js';

export type VmmType = 'QEMU' | 'ec2' | 'gce';
export const VMM_TYPES: readonly VmmType[] = ['QEMU', 'ec2', 'gce'];

/** A VMCB segment register: u16 selector, u16 attrib, u32 limit, u64 base. */
export interface Segment {
  selector: number;
  attrib: number;
  limit: number;
  base: number;
}

const SEGMENTS = { es: 0x00, cs: 0x10, ss: 0x20, ds: 0x30, fs: 0x40, gs: 0x50, gdtr: 0x60, ldtr: 0x70, idtr: 0x80, tr: 0x90 } as const;
const U64 = {
  efer: 0xd0,
  cr4: 0x148,
  cr0: 0x158,
  dr7: 0x160,
  dr6: 0x168,
  rflags: 0x170,
  rip: 0x178,
  rsp: 0x1d8,
  gPat: 0x268,
  rdx: 0x310,
  rbp: 0x328,
  rsi: 0x330,
  sevFeatures: 0x3b0,
  xcr0: 0x3e8,
} as const;
const MXCSR = 0x408; // u32
const X87_FCW = 0x410; // u16

/** The named registers of a save area; everything not given is zero. */
export type SaveArea = { -readonly [K in keyof typeof SEGMENTS]: Segment } & { -readonly [K in keyof typeof U64]?: bigint } & { mxcsr?: number; x87Fcw?: number };

/** Serialises a save area into a 4096-byte VMSA page. */
export function vmsaPage(area: SaveArea): Uint8Array {
  const page = Buffer.alloc(PAGE_SIZE);
  for (const [name, off] of Object.entries(SEGMENTS) as Array<[keyof typeof SEGMENTS, number]>) {
    const s = area[name];
    page.writeUInt16LE(s.selector, off);
    page.writeUInt16LE(s.attrib, off + 2);
    page.writeUInt32LE(s.limit, off + 4);
    page.writeBigUInt64LE(BigInt(s.base), off + 8);
  }
  for (const [name, off] of Object.entries(U64) as Array<[keyof typeof U64, number]>) {
    const v = area[name];
    if (v !== undefined) page.writeBigUInt64LE(BigInt.asUintN(64, v), off);
  }
  if (area.mxcsr !== undefined) page.writeUInt32LE(area.mxcsr, MXCSR);
  if (area.x87Fcw !== undefined) page.writeUInt16LE(area.x87Fcw, X87_FCW);
  return new Uint8Array(page.buffer, page.byteOffset, PAGE_SIZE);
}

const seg = (selector: number, attrib: number, limit: number, base = 0): Segment => ({ selector, attrib, limit, base });

/** The reset vector of the boot processor. */
export const BSP_EIP = 0xffff_fff0;
/** PAT MSR power-on value (AMD APM vol. 2 §A.3); GCE starts with its own value. */
const G_PAT_DEFAULT = 0x0007_0406_0007_0406n;
const G_PAT_GCE = 0x0000_0000_0007_0106n;

export interface VmsaOptions {
  eip: number;
  sevFeatures: bigint;
  /** CPUID(1).EAX, which QEMU places in RDX; ignored by EC2 and GCE. */
  vcpuSig: number;
  vmm: VmmType;
}

/** The VMSA page a QEMU, EC2 or GCE vCPU starts from at `eip` (specs/snp.md §4.6 table). */
export function buildVmsa({ eip, sevFeatures, vcpuSig, vmm }: VmsaOptions): Uint8Array {
  if (!Number.isSafeInteger(eip) || eip < 0 || eip > 0xffff_ffff) {
    throw new CocoError('MEASURE_SNP_EIP', `reset EIP ${eip} is not a 32-bit address`, { kind: 'input' });
  }
  let csAttrib = 0x9b;
  let ssAttrib = 0x93;
  let trAttrib = 0x8b;
  let rdx = BigInt(vcpuSig >>> 0);
  let gPat = G_PAT_DEFAULT;
  // KVM_SEV_INIT2 (QEMU on host kernels >= 6.10) sets MXCSR and the x87 control word; EC2 and GCE leave them 0.
  let mxcsr = 0x1f80;
  let x87Fcw = 0x37f;
  if (vmm === 'ec2') {
    // EC2 starts the BSP with a non-accessed code segment and uses its own SS/TR attributes.
    if (eip === BSP_EIP) csAttrib = 0x9a;
    ssAttrib = 0x92;
    trAttrib = 0x83;
    rdx = 0x600n; // sev-snp-measure >= 0.0.13 (earlier versions, and the Rust sev crate, use 0)
    mxcsr = 0;
    x87Fcw = 0;
  } else if (vmm === 'gce') {
    rdx = 0x600n;
    gPat = G_PAT_GCE;
    mxcsr = 0;
    x87Fcw = 0;
  }
  return vmsaPage({
    es: seg(0, 0x93, 0xffff),
    cs: seg(0xf000, csAttrib, 0xffff, (eip & 0xffff0000) >>> 0),
    ss: seg(0, ssAttrib, 0xffff),
    ds: seg(0, 0x93, 0xffff),
    fs: seg(0, 0x93, 0xffff),
    gs: seg(0, 0x93, 0xffff),
    gdtr: seg(0, 0, 0xffff),
    ldtr: seg(0, 0x82, 0xffff),
    idtr: seg(0, 0, 0xffff),
    tr: seg(0, trAttrib, 0xffff),
    efer: 0x1000n, // KVM sets EFER.SVME
    cr4: 0x40n, // KVM sets CR4.MCE
    cr0: 0x10n,
    dr7: 0x400n,
    dr6: 0xffff0ff0n,
    rflags: 0x2n,
    rip: BigInt(eip & 0xffff),
    gPat,
    rdx,
    sevFeatures,
    xcr0: 0x1n,
    mxcsr,
    x87Fcw,
  });
}

/**
 * The VMSA pages of `vcpus` vCPUs: the BSP at the reset vector, every AP at the firmware's SEV-ES reset EIP
 * (all APs share one image).
 */
export function* vmsaPages(vcpus: number, apEip: number, opts: Omit<VmsaOptions, 'eip'>): Generator<Uint8Array> {
  if (vcpus <= 0) return;
  yield buildVmsa({ ...opts, eip: BSP_EIP });
  if (vcpus === 1) return;
  const ap = buildVmsa({ ...opts, eip: apEip });
  for (let i = 1; i < vcpus; i++) yield ap;
}

/**
 * The Coconut-SVSM VMSA: every vCPU starts in 32-bit protected mode at the SVSM entry (specs/snp.md §4.8).
 * The upstream tool passes the x87 control word under a name the structure lacks, so FCW stays 0.
 */
export function buildSvsmVmsa(entry: number, vcpuSig: number): Uint8Array {
  const flat = (sel: number, attrib: number): Segment => seg(sel, attrib, 0xffff_ffff);
  return vmsaPage({
    es: flat(16, 0xc93),
    cs: flat(8, 0xc9b),
    ss: flat(16, 0xc93),
    ds: flat(16, 0xc93),
    fs: flat(16, 0xc93),
    gs: seg(0, 0x93, 0xffff),
    gdtr: seg(0, 0, 0xffff),
    ldtr: seg(0, 0x82, 0xffff),
    idtr: seg(0, 0, 0xffff),
    tr: seg(0, 0x8b, 0xffff),
    efer: 0x1000n,
    cr4: 0x40n,
    cr0: 0x11n,
    dr7: 0x400n,
    dr6: 0xffff0ff0n,
    rflags: 0x2n,
    rip: BigInt(entry),
    gPat: G_PAT_DEFAULT,
    rdx: BigInt(vcpuSig >>> 0),
    sevFeatures: 0x1n,
    xcr0: 0x1n,
    mxcsr: 0x1f80,
  });
}

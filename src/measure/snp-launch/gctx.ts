/**
 * The SNP launch digest chain (the PSP's GCTX.LD as sev-snp-measure's `gctx.py` emulates it, specs/snp.md
 * §4.1): every measured 4 KiB page replaces LD with SHA-384 of a 0x70-byte PAGE_INFO holding the old LD,
 * the page contents' hash (NORMAL and VMSA pages only), the page type and the GPA.
 */
import * as nodeCrypto from 'node:crypto';
import { CocoError } from '../../errors.js';

export const PAGE_SIZE = 4096;
export const LD_SIZE = 48;

/** SNP ABI page types of SNP_LAUNCH_UPDATE. */
export const PageType = {
  NORMAL: 1,
  VMSA: 2,
  ZERO: 3,
  UNMEASURED: 4,
  SECRETS: 5,
  CPUID: 6,
} as const;
export type PageType = (typeof PageType)[keyof typeof PageType];

export const PAGE_TYPE_NAMES: Record<PageType, string> = {
  1: 'NORMAL',
  2: 'VMSA',
  3: 'ZERO',
  4: 'UNMEASURED',
  5: 'SECRETS',
  6: 'CPUID',
};

/** The RMP records VMSA pages at "-1": page-aligned, bits above 51 cleared (specs/snp.md §4.1). */
export const VMSA_GPA = 0xffff_ffff_f000;

/** One PAGE_INFO update, as reported to a trace hook. */
export interface PageUpdate {
  pageType: PageType;
  gpa: number;
  /** SHA-384 of the page for NORMAL/VMSA pages, 48 zero bytes otherwise. */
  contents: Uint8Array;
  /** LD after this update. */
  ld: Uint8Array;
}

export type PageHook = (update: PageUpdate) => void;

const ZERO_CONTENTS = new Uint8Array(LD_SIZE);

// The one-shot crypto.hash (Node >= 20.12) skips the Hash object and is ~40% faster on 4 KiB pages, which
// dominate the cost of a launch digest; older Node 20 releases fall back to createHash.
const oneShot = typeof nodeCrypto.hash === 'function' ? nodeCrypto.hash : undefined;

export function sha384(data: Uint8Array): Uint8Array {
  if (oneShot !== undefined) {
    const b = oneShot('sha384', data, 'buffer');
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  }
  return new Uint8Array(nodeCrypto.createHash('sha384').update(data).digest());
}

/** The digest chain; `seed` replaces the initial 48 zero bytes (`--snp-ovmf-hash`). */
export class LaunchDigest {
  private cur: Uint8Array;
  private readonly info = Buffer.alloc(0x70);
  private count = 0;

  constructor(
    seed?: Uint8Array,
    private readonly hook?: PageHook,
  ) {
    if (seed !== undefined && seed.length !== LD_SIZE) {
      throw new CocoError('MEASURE_SNP_SEED', `the OVMF hash must be ${LD_SIZE} bytes, got ${seed.length}`, { kind: 'usage' });
    }
    this.cur = seed === undefined ? new Uint8Array(LD_SIZE) : Uint8Array.from(seed);
  }

  /** The current launch digest (a copy). */
  get ld(): Uint8Array {
    return Uint8Array.from(this.cur);
  }

  /** How many PAGE_INFO updates went into the chain (a seed counts as none). */
  get pages(): number {
    return this.count;
  }

  update(pageType: PageType, gpa: number, contents: Uint8Array): void {
    const info = this.info;
    info.set(this.cur, 0);
    info.set(contents, 0x30);
    info.writeUInt16LE(0x70, 0x60);
    info.writeUInt8(pageType, 0x62);
    info.fill(0, 0x63, 0x68); // IMI_PAGE, VMPL3..1 permissions, reserved
    info.writeBigUInt64LE(BigInt(gpa), 0x68);
    this.cur = sha384(info);
    this.count++;
    this.hook?.({ pageType, gpa, contents, ld: this.cur });
  }

  /** NORMAL pages for `data` (a multiple of 4 KiB) starting at `gpa`. */
  updateNormalPages(gpa: number, data: Uint8Array): void {
    if (data.length % PAGE_SIZE !== 0) {
      throw new CocoError('MEASURE_SNP_PAGE_SIZE', `measured data must be a multiple of ${PAGE_SIZE} bytes, got ${data.length}`);
    }
    for (let off = 0; off < data.length; off += PAGE_SIZE) {
      this.update(PageType.NORMAL, gpa + off, sha384(data.subarray(off, off + PAGE_SIZE)));
    }
  }

  /** Pages of a type whose contents are not measured, one per 4 KiB of [gpa, gpa + size). */
  updateBlankPages(pageType: PageType, gpa: number, size: number): void {
    for (let off = 0; off < size; off += PAGE_SIZE) this.update(pageType, gpa + off, ZERO_CONTENTS);
  }

  updateZeroPages(gpa: number, size: number): void {
    this.updateBlankPages(PageType.ZERO, gpa, size);
  }

  updateUnmeasuredPages(gpa: number, size: number): void {
    this.updateBlankPages(PageType.UNMEASURED, gpa, size);
  }

  updateSecretsPage(gpa: number): void {
    this.update(PageType.SECRETS, gpa, ZERO_CONTENTS);
  }

  updateCpuidPage(gpa: number): void {
    this.update(PageType.CPUID, gpa, ZERO_CONTENTS);
  }

  updateVmsaPage(page: Uint8Array): void {
    if (page.length !== PAGE_SIZE) throw new CocoError('MEASURE_SNP_VMSA', `a VMSA page is ${PAGE_SIZE} bytes, got ${page.length}`, { kind: 'internal' });
    this.update(PageType.VMSA, VMSA_GPA, sha384(page));
  }
}

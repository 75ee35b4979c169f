/**
 * The initial VMSA pages of libkrunfw (`utils/vmsa.h`, specs/keybroker.md §4.3): the boot processor starts
 * at the qboot reset vector with a stack and the zero page in RSI; APs start at libkrun's
 * RESET_VECTOR_SEV_AP. SNP pages set SEV_FEATURES = SNPActive, SEV-ES pages leave it 0.
 */
import { type SaveArea, type Segment, vmsaPage } from '../snp-launch/vmsa.js';
import { BOOTP_GPA } from './bootp.js';

const seg = (selector: number, attrib: number, limit: number, base = 0): Segment => ({ selector, attrib, limit, base });
const FW_STACK_TOP = 0x8ff0n;

export function krunVmsa(role: 'bsp' | 'ap', snp: boolean): Uint8Array {
  const area: SaveArea = {
    es: seg(0, 0x93, 0xffff),
    cs: seg(0xf000, 0x9a, 0xffff, 0xffff_0000),
    ss: seg(0, 0x92, 0xffff),
    ds: seg(0, 0x93, 0xffff),
    fs: seg(0, 0x93, 0xffff),
    gs: seg(0, 0x93, 0xffff),
    gdtr: seg(0, 0, 0xffff),
    ldtr: seg(0, 0x82, 0xffff),
    idtr: seg(0, 0, 0xffff),
    tr: seg(0, 0x83, 0xffff),
    efer: 0x1000n,
    cr4: 0x40n,
    cr0: 0x10n,
    dr7: 0x400n,
    dr6: 0xffff0ff0n,
    rflags: 0x2n,
    rip: role === 'bsp' ? 0xfff0n : 0xfff3n,
    gPat: 0x0007_0406_0007_0406n,
    xcr0: 0x1n,
  };
  if (role === 'bsp') {
    area.rsp = FW_STACK_TOP;
    area.rbp = FW_STACK_TOP;
    area.rsi = BigInt(BOOTP_GPA);
  }
  if (snp) area.sevFeatures = 0x1n;
  return vmsaPage(area);
}

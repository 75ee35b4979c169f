/** A hand-built TDX firmware image for tests (specs/tdx-initdata.md §4.1), with no upstream bytes in it. */
import { guidToBytesLe } from '../snp-launch/guid.js';
import { OVMF_TABLE_FOOTER_GUID } from '../snp-launch/ovmf.js';
import { TDX_METADATA_OFFSET_GUID } from '../tdx/tdvf.js';

/**
 * A 16 KiB firmware image built by hand as §4.1 describes it: a 2-page BFV (MR.EXTEND) at offset 0, the TDVF
 * descriptor at 0x2000, a 2-page TD_HOB (PAGE.ADD only), a PAGE.AUG section (never measured), and the OVMF
 * footer table at the end pointing at the descriptor; with `cfv`, also a CFV section.
 */
export function tinyFirmware(o: { cfv?: boolean } = {}): Uint8Array {
  const fw = Buffer.alloc(0x4000);
  for (let i = 0; i < 0x2000; i++) fw[i] = (i * 7 + 3) & 0xff; // BFV contents
  const desc = 0x2000;
  const sections = [
    { off: 0, raw: 0x2000, gpa: 0xfffc0000n, size: 0x2000n, type: 0, attr: 1 },
    { off: 0, raw: 0, gpa: 0x809000n, size: 0x2000n, type: 2, attr: 0 },
    { off: 0, raw: 0, gpa: 0x900000n, size: 0x1000n, type: 3, attr: 2 },
  ];
  if (o.cfv) {
    // A 0x800-byte CFV (variable store) at file offset 0x3000, added but not extended (§4.1 item 4).
    for (let i = 0x3000; i < 0x3800; i++) fw[i] = (i * 13 + 5) & 0xff;
    sections.push({ off: 0x3000, raw: 0x800, gpa: 0xffc00000n, size: 0x1000n, type: 1, attr: 0 });
  }
  fw.write('TDVF', desc, 'latin1');
  fw.writeUInt32LE(16 + 32 * sections.length, desc + 4);
  fw.writeUInt32LE(1, desc + 8);
  fw.writeUInt32LE(sections.length, desc + 12);
  sections.forEach((s, i) => {
    const o = desc + 16 + 32 * i;
    fw.writeUInt32LE(s.off, o);
    fw.writeUInt32LE(s.raw, o + 4);
    fw.writeBigUInt64LE(s.gpa, o + 8);
    fw.writeBigUInt64LE(s.size, o + 16);
    fw.writeUInt32LE(s.type, o + 24);
    fw.writeUInt32LE(s.attr, o + 28);
  });
  // Footer table: [u32 offset-from-end | u16 22 | TDX metadata offset GUID] [u16 total | footer GUID] + 32 bytes.
  const footerEnd = fw.length - 32;
  const footer = footerEnd - 18;
  const entry = footer - 22;
  fw.writeUInt32LE(fw.length - desc, entry);
  fw.writeUInt16LE(22, entry + 4);
  Buffer.from(guidToBytesLe(TDX_METADATA_OFFSET_GUID)).copy(fw, entry + 6);
  fw.writeUInt16LE(22 + 18, footer);
  Buffer.from(guidToBytesLe(OVMF_TABLE_FOOTER_GUID)).copy(fw, footer + 2);
  return new Uint8Array(fw);
}


import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readVector } from '../../test-support/vectors.js';
import { toHex } from '../../formats/bytes.js';
import { CocoError } from '../../errors.js';
import { guidToBytesLe } from './guid.js';
import { OVMF_SEV_METADATA_GUID, OVMF_TABLE_FOOTER_GUID, SVSM_INFO_GUID, SectionType } from './ovmf.js';
import { type PageUpdate, PageType, VMSA_GPA } from './gctx.js';
import { svsmLaunchDigest } from './digest.js';
import { buildSvsmVmsa } from './vmsa.js';

// No sev-snp-measure vector covers snp:svsm (its fixtures are not in shared/vectors), so these tests pin the
// structure specs/snp.md §4.8 describes: which pages go where, in which order, and the SVSM VMSA layout.

/** An image with a GUID footer table (specs/snp.md §4.3 layout) and, optionally, SEV metadata. */
function firmwareImage(size: number, entries: Array<[string, Uint8Array]>, sections: Array<[number, number, number]>): Uint8Array {
  const img = Buffer.alloc(size);
  const metaAt = 0x100;
  if (sections.length > 0) {
    img.write('ASEV', metaAt, 'latin1');
    img.writeUInt32LE(16 + 12 * sections.length, metaAt + 4);
    img.writeUInt32LE(1, metaAt + 8);
    img.writeUInt32LE(sections.length, metaAt + 12);
    sections.forEach(([gpa, len, type], i) => {
      img.writeUInt32LE(gpa, metaAt + 16 + 12 * i);
      img.writeUInt32LE(len, metaAt + 20 + 12 * i);
      img.writeUInt32LE(type, metaAt + 24 + 12 * i);
    });
    const off = Buffer.alloc(4);
    off.writeUInt32LE(size - metaAt);
    entries = [...entries, [OVMF_SEV_METADATA_GUID, off]];
  }
  let end = size - 32 - 18;
  let total = 18;
  for (const [guid, data] of entries) {
    img.set(guidToBytesLe(guid), end - 16);
    img.writeUInt16LE(data.length + 18, end - 18);
    img.set(data, end - 18 - data.length);
    end -= data.length + 18;
    total += data.length + 18;
  }
  img.writeUInt16LE(total, size - 32 - 18);
  img.set(guidToBytesLe(OVMF_TABLE_FOOTER_GUID), size - 32 - 16);
  return new Uint8Array(img.buffer, img.byteOffset, size);
}

const ovmf = new Uint8Array(readVector('snp', 'ovmf', 'ovmf_AmdSev_suffix.bin'));
const entryOffset = Buffer.alloc(4);
entryOffset.writeUInt32LE(0x40);
const svsm = firmwareImage(
  0x2000,
  [[SVSM_INFO_GUID, entryOffset]],
  [
    [0x800000, 0x2000, SectionType.SNP_SEC_MEM],
    [0x802000, 0x1000, SectionType.SNP_SECRETS],
    [0x803000, 0x1000, SectionType.CPUID],
    [0x804000, 0x1000, SectionType.SVSM_CAA],
  ],
);
const varsSize = 0x84000;

test('snp:svsm measures OVMF, the SVSM image below the vars store, its metadata, then one SVSM VMSA per vCPU', () => {
  const updates: PageUpdate[] = [];
  const ld = svsmLaunchDigest({ ovmf, svsm, varsSize, vcpus: 2, vcpuSig: 0xa00f11, onPage: (u) => updates.push({ ...u }) });
  const svsmGpa = 0x1_0000_0000 - ovmf.length - varsSize - svsm.length;
  const sha = (b: Uint8Array): string => createHash('sha384').update(b).digest('hex');
  const vmsa = buildSvsmVmsa(svsmGpa + 0x40, 0xa00f11);
  assert.deepEqual(
    updates.map((u) => [u.pageType, u.gpa, toHex(u.contents)]),
    [
      [PageType.NORMAL, 0xffff_f000, sha(ovmf)],
      [PageType.NORMAL, svsmGpa, sha(svsm.subarray(0, 0x1000))],
      [PageType.NORMAL, svsmGpa + 0x1000, sha(svsm.subarray(0x1000))],
      [PageType.ZERO, 0x800000, '00'.repeat(48)],
      [PageType.ZERO, 0x801000, '00'.repeat(48)],
      [PageType.SECRETS, 0x802000, '00'.repeat(48)],
      [PageType.CPUID, 0x803000, '00'.repeat(48)],
      [PageType.ZERO, 0x804000, '00'.repeat(48)],
      [PageType.VMSA, VMSA_GPA, sha(vmsa)],
      [PageType.VMSA, VMSA_GPA, sha(vmsa)],
    ],
  );
  assert.deepEqual(ld, updates[updates.length - 1].ld);
});

test('the SVSM VMSA starts every vCPU in flat 32-bit protected mode at the SVSM entry', () => {
  const p = Buffer.from(buildSvsmVmsa(0xffbf_0040, 0xa00f11));
  const segment = (off: number) => [p.readUInt16LE(off), p.readUInt16LE(off + 2), p.readUInt32LE(off + 4), p.readBigUInt64LE(off + 8)];
  assert.deepEqual(segment(0x00), [16, 0xc93, 0xffff_ffff, 0n]); // ES
  assert.deepEqual(segment(0x10), [8, 0xc9b, 0xffff_ffff, 0n]); // CS
  assert.deepEqual(segment(0x50), [0, 0x93, 0xffff, 0n]); // GS
  assert.equal(p.readBigUInt64LE(0x158), 0x11n); // CR0: PE set
  assert.equal(p.readBigUInt64LE(0x178), 0xffbf_0040n); // RIP = full entry address
  assert.equal(p.readBigUInt64LE(0x310), 0xa00f11n); // RDX = vCPU signature
  assert.equal(p.readBigUInt64LE(0x3b0), 1n); // SEV_FEATURES fixed to SNPActive
  assert.equal(p.readUInt32LE(0x408), 0x1f80); // MXCSR
  assert.equal(p.readUInt16LE(0x410), 0); // FCW stays 0, as upstream
});

test('an SVSM image without the SVSM info entry is an input error', () => {
  assert.throws(
    () => svsmLaunchDigest({ ovmf, svsm: firmwareImage(0x1000, [], []), varsSize, vcpus: 1 }),
    (e: unknown) => e instanceof CocoError && /SVSM_INFO_GUID/.test(e.message),
  );
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { readVector } from '../../test-support/vectors.js';
import { CocoError } from '../../errors.js';
import { OVMF_SEV_METADATA_GUID, SectionType, parseOvmf, sevEsResetEip, sevHashesTableGpa } from './ovmf.js';
import { guidFromBytesLe, guidToBytesLe } from './guid.js';
import { snpLaunchDigest } from './digest.js';

const amdSev = new Uint8Array(readVector('snp', 'ovmf', 'ovmf_AmdSev_suffix.bin'));
const debian = new Uint8Array(readVector('snp', 'ovmf', 'OVMF.fd'));

const isCocoInput = (e: unknown): boolean => e instanceof CocoError && e.kind === 'input';

test('reads the footer table and SEV metadata of the AmdSev firmware (specs/snp.md §4.3)', () => {
  const o = parseOvmf(amdSev);
  assert.equal(o.gpa, 0xffff_f000);
  assert.equal(sevEsResetEip(o), 0x80b004);
  assert.equal(sevHashesTableGpa(o), 0x810c00);
  const hashes = o.sections.find((s) => s.sectionType === SectionType.SNP_KERNEL_HASHES);
  assert.deepEqual(hashes, { gpa: 0x810000, size: 0x1000, sectionType: SectionType.SNP_KERNEL_HASHES });
  assert.deepEqual(o.sections.find((s) => s.sectionType === SectionType.SVSM_CAA), { gpa: 0x80f000, size: 0x1000, sectionType: SectionType.SVSM_CAA });
});

test('reads the Debian OVMF.fd sections in table order, with no kernel hashes section', () => {
  const o = parseOvmf(debian);
  assert.equal(o.gpa, 0x1_0000_0000 - 2 * 1024 * 1024);
  assert.deepEqual(
    o.sections.map((s) => [s.sectionType, s.gpa, s.size]),
    [
      [SectionType.SNP_SEC_MEM, 0x800000, 0x9000],
      [SectionType.SNP_SEC_MEM, 0x80a000, 0x3000],
      [SectionType.SNP_SECRETS, 0x80d000, 0x1000],
      [SectionType.CPUID, 0x80e000, 0x1000],
      [SectionType.SNP_SEC_MEM, 0x80f000, 0x11000],
    ],
  );
  assert.equal(sevHashesTableGpa(o), 0);
});

test('GUIDs round-trip through the EFI byte order', () => {
  const g = OVMF_SEV_METADATA_GUID;
  assert.equal(guidFromBytesLe(guidToBytesLe(g)), g);
  assert.equal(Buffer.from(guidToBytesLe('96b582de-1fb2-45f7-baea-a366c55a082d')).toString('hex'), 'de82b596b21ff745baeaa366c55a082d');
});

test('an image without the footer GUID has no table, and SNP measurement then fails cleanly', () => {
  const truncated = amdSev.subarray(0, 2048);
  const o = parseOvmf(truncated);
  assert.equal(o.table.size, 0);
  assert.deepEqual(o.sections, []);
  assert.throws(() => snpLaunchDigest({ ovmf: amdSev.subarray(0, 0), vcpus: 1 }), isCocoInput);
  assert.throws(() => snpLaunchDigest({ ovmf: new Uint8Array(4096), vcpus: 1 }), /SEV_ES_RESET_BLOCK_GUID/);
});

function metadataStart(img: Uint8Array): number {
  const entry = parseOvmf(img).table.get(OVMF_SEV_METADATA_GUID)!;
  return img.length - Buffer.from(entry).readUInt32LE(0);
}

test('a flipped SEV metadata signature, a wrong version or too many sections are input errors', () => {
  const start = metadataStart(amdSev);
  const sig = Uint8Array.from(amdSev);
  sig[start] ^= 1;
  assert.throws(() => parseOvmf(sig), (e: unknown) => isCocoInput(e) && /Wrong SEV metadata signature/.test((e as Error).message));
  const ver = Uint8Array.from(amdSev);
  ver[start + 8] = 2;
  assert.throws(() => parseOvmf(ver), /Wrong SEV metadata version/);
  const items = Uint8Array.from(amdSev);
  Buffer.from(items.buffer).writeUInt32LE(1000, start + 12);
  assert.throws(() => parseOvmf(items), isCocoInput);
});

test('an unknown section type is rejected when measured', () => {
  const start = metadataStart(amdSev);
  const img = Uint8Array.from(amdSev);
  Buffer.from(img.buffer).writeUInt32LE(0x77, start + 16 + 8);
  assert.throws(() => snpLaunchDigest({ ovmf: img, vcpus: 1, vcpuSig: 0x800f12 }), /unknown OVMF metadata section type/);
});

test('a footer table entry whose length is too small or too large is an input error', () => {
  const footer = amdSev.length - 32 - 18;
  const img = Uint8Array.from(amdSev);
  const dv = Buffer.from(img.buffer);
  const tableLen = dv.readUInt16LE(footer);
  // the last entry's u16 length sits just before its GUID, right before the footer entry
  dv.writeUInt16LE(3, footer - 18);
  assert.throws(() => parseOvmf(img), /invalid size 3/);
  dv.writeUInt16LE(tableLen + 100, footer - 18);
  assert.throws(() => parseOvmf(img), /runs past the table/);
  const huge = Uint8Array.from(amdSev);
  Buffer.from(huge.buffer).writeUInt16LE(0xffff, footer);
  assert.throws(() => parseOvmf(huge), /runs past the start/);
});

test('a metadata offset pointing outside the image is an input error', () => {
  const img = Uint8Array.from(amdSev);
  const entry = parseOvmf(img).table.get(OVMF_SEV_METADATA_GUID)!;
  Buffer.from(entry.buffer, entry.byteOffset, 4).writeUInt32LE(0x10_0000);
  assert.throws(() => parseOvmf(img), /outside/);
});

test('fuzz: random bytes and random mutations of real firmware parse or fail with a CocoError', () => {
  const check = (bytes: Uint8Array): void => {
    try {
      const o = parseOvmf(bytes);
      // A mutated size can legitimately ask for a million ZERO pages: real work, not a hang; skip measuring those.
      if (o.sections.reduce((n, x) => n + x.size, 0) > 16 * 1024 * 1024) return;
      snpLaunchDigest({ ovmf: o.data.subarray(0, o.data.length - (o.data.length % 4096)), vcpus: 2, vcpuSig: 0x800f12 });
    } catch (e) {
      if (!(e instanceof CocoError)) throw e;
    }
  };
  fc.assert(fc.property(fc.uint8Array({ maxLength: 8192 }), (b) => check(b)), { numRuns: 300 });
  // Mutations confined to the table region and metadata, where the parser actually reads.
  const tail = metadataStart(amdSev) - 0x20;
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.integer({ min: tail, max: amdSev.length - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), (muts) => {
      const img = Uint8Array.from(amdSev);
      for (const [at, v] of muts) img[at] = v;
      check(img);
    }),
    { numRuns: 500 },
  );
});

test('metadata sections asking to measure gigabytes are a limit error before any page is measured', () => {
  const start = metadataStart(amdSev);
  const n = Buffer.from(amdSev.buffer, amdSev.byteOffset).readUInt32LE(start + 12);
  const img = Uint8Array.from(amdSev);
  const b = Buffer.from(img.buffer);
  for (let i = 0; i < n; i++) {
    b.writeUInt32LE(0, start + 16 + i * 12);
    b.writeUInt32LE(0xffff_f000, start + 16 + i * 12 + 4);
    b.writeUInt32LE(SectionType.SNP_SEC_MEM, start + 16 + i * 12 + 8);
  }
  const t0 = performance.now();
  assert.throws(() => snpLaunchDigest({ ovmf: img, vcpus: 1, vcpuSig: 0x800f12 }), (e: unknown) => e instanceof CocoError && e.kind === 'limit');
  assert.ok(performance.now() - t0 < 500, `took ${performance.now() - t0} ms`);
  assert.ok(parseOvmf(amdSev).sections.length === n);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { CocoError } from '../errors.js';
import { vectorPath } from '../test-support/vectors.js';
import { findSection, parsePe, sectionBytes, sectionMemory } from './pe.js';
import { ukiSections } from '../measure/uki.js';

const pe = new Uint8Array(readFileSync(vectorPath('uki', 'pe', 'pe-s01.efi')));

function onlyCocoErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof CocoError, `expected a CocoError, got ${String(e)}`);
  }
}

test('reads the section table of a PE32+ UKI in physical order', () => {
  const image = parsePe(pe);
  assert.equal(image.pe32plus, true);
  assert.deepEqual(
    image.sections.map((s) => s.name),
    ['.text', '.sbat', '.cmdline', '.osrel', '.linux'],
  );
});

test("a section's memory image is VirtualSize bytes: truncated raw data, then zero fill", () => {
  const image = parsePe(pe);
  const cmdline = findSection(image, '.cmdline')!;
  assert.ok(cmdline.virtualSize < cmdline.sizeOfRawData);
  // cases.json pe-s01 gives .cmdline as the text "console=ttyS0".
  assert.equal(Buffer.from(sectionBytes(pe, cmdline)).toString(), 'console=ttyS0');
  const grown = { ...cmdline, virtualSize: cmdline.sizeOfRawData + 100 };
  const m = sectionMemory(pe, grown);
  assert.equal(m.raw.length, cmdline.sizeOfRawData);
  assert.equal(m.zeroFill, 100);
  const full = sectionBytes(pe, grown);
  assert.equal(full.length, grown.virtualSize);
  assert.ok(full.subarray(cmdline.sizeOfRawData).every((b) => b === 0));
});

test('rejects a section whose raw data runs past the end of the file', () => {
  assert.throws(() => parsePe(pe.subarray(0, pe.length - 1)), (e: unknown) => e instanceof CocoError && e.code === 'FORMAT_TRUNCATED');
});

test('rejects a wrong PE signature and a wrong optional header magic', () => {
  const lfanew = new DataView(pe.buffer, pe.byteOffset).getUint32(0x3c, true);
  const sig = pe.slice();
  sig[lfanew] = 0x4e;
  assert.throws(() => parsePe(sig), /PE\\0\\0/);
  const magic = pe.slice();
  magic[lfanew + 24] = 0x07;
  assert.throws(() => parsePe(magic), /magic/);
});

test('fuzz: random bytes give a PE image or a CocoError', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), fc.boolean(), (b, mz) => {
      if (mz && b.length >= 2) {
        b[0] = 0x4d;
        b[1] = 0x5a;
      }
      onlyCocoErrors(() => parsePe(b));
    }),
    { numRuns: 1000 },
  );
});

test('fuzz: flipped header bytes and truncations of a real UKI give sections or a CocoError', () => {
  // Headers and the section table end before the first section's raw data (0x400 in pe-s01).
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat(0x3ff), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 6 }),
      fc.nat(pe.length),
      (flips, cut) => {
        const b = pe.slice(0, Math.max(cut, 0x400));
        for (const [at, x] of flips) b[at] ^= x;
        onlyCocoErrors(() => {
          const image = parsePe(b);
          for (const s of image.sections) sectionMemory(b, s);
          ukiSections(b);
        });
      },
    ),
    { numRuns: 1000 },
  );
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { CocoError } from '../../errors.js';
import { parseTdvfSections, tdvfMrtd } from './tdvf.js';
import { tinyFirmware } from '../test-support/tdvf.js';

const block = (op: string, gpa: bigint): Buffer => {
  const b = Buffer.alloc(128);
  b.write(op, 0, 'latin1');
  b.writeBigUInt64LE(gpa, 16);
  return b;
};

test('MRTD of a hand-built TDVF image equals the SEAMCALL sequence hashed by hand, in both page orders', () => {
  const fw = tinyFirmware();
  assert.deepEqual(
    parseTdvfSections(fw).map((s) => [s.type, s.attributes, s.memoryAddress]),
    [
      [0, 1, 0xfffc0000n],
      [2, 0, 0x809000n],
      [3, 2, 0x900000n],
    ],
  );
  const extendPage = (page: number): Buffer[] =>
    Array.from({ length: 16 }, (_, i) => [block('MR.EXTEND', 0xfffc0000n + BigInt(page * 0x1000 + i * 0x100)), Buffer.from(fw.subarray(page * 0x1000 + i * 0x100, page * 0x1000 + (i + 1) * 0x100))]).flat();
  const hob = [block('MEM.PAGE.ADD', 0x809000n), block('MEM.PAGE.ADD', 0x80a000n)];
  const single = [block('MEM.PAGE.ADD', 0xfffc0000n), ...extendPage(0), block('MEM.PAGE.ADD', 0xfffc1000n), ...extendPage(1), ...hob];
  const two = [block('MEM.PAGE.ADD', 0xfffc0000n), block('MEM.PAGE.ADD', 0xfffc1000n), ...extendPage(0), ...extendPage(1), ...hob];
  const sha = (parts: Buffer[]): string => createHash('sha384').update(Buffer.concat(parts)).digest('hex');
  assert.equal(Buffer.from(tdvfMrtd(fw, 'single-pass')).toString('hex'), sha(single));
  assert.equal(Buffer.from(tdvfMrtd(fw, 'two-pass')).toString('hex'), sha(two));
  assert.notEqual(sha(single), sha(two));
  // A changed byte of the measured BFV changes MRTD.
  const code = new Uint8Array(fw);
  code[0x1234] ^= 1;
  assert.notEqual(Buffer.from(tdvfMrtd(code)).toString('hex'), sha(single));
});

test('images without TDX metadata, or with a broken descriptor, are input errors', () => {
  const isInput = (e: unknown): boolean => e instanceof CocoError && e.kind === 'input';
  assert.throws(() => tdvfMrtd(new Uint8Array(0x4000)), isInput);
  const fw = tinyFirmware();
  const sig = new Uint8Array(fw);
  sig[0x2000] = 0x58;
  assert.throws(() => tdvfMrtd(sig), /signature/);
  const unaligned = new Uint8Array(fw);
  unaligned[0x2000 + 16 + 8] = 1;
  assert.throws(() => tdvfMrtd(unaligned), /aligned/);
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.integer({ min: 0x2000, max: fw.length - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), (flips) => {
      const b = new Uint8Array(fw);
      for (const [i, v] of flips) b[i] = v;
      try {
        tdvfMrtd(b);
      } catch (e) {
        assert.ok(e instanceof CocoError && e.kind !== 'internal', String(e));
      }
    }),
    { numRuns: 300 },
  );
});

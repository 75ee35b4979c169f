import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CocoError } from '../errors.js';
import { readVector, readVectorJson } from '../test-support/vectors.js';
import { encodeKrunFooter, parseKrunFooter, parseWorkloadConfig, teeDataGeneration } from './krun-footer.js';

const disk = new Uint8Array(readVector('keybroker', 'footer', 'disk_img_with_footer_example.bin'));
const layout = readVectorJson('keybroker', 'footer', 'footer_layout.json');
const krunSev = new Uint8Array(readVector('keybroker', 'footer', 'krun-sev.json'));

test('the example disk.img footer gives back the krun-sev.json bytes at the documented offsets', () => {
  const f = parseKrunFooter(disk);
  assert.equal(f.imageSize, layout.total_size);
  assert.equal(f.configOffset, layout.config_offset);
  assert.equal(f.configBytes.length, layout.config_length);
  assert.deepEqual(f.configBytes, krunSev);
  assert.deepEqual(f.config, JSON.parse(new TextDecoder().decode(krunSev)));
  assert.equal(teeDataGeneration(f.config), 'milan');
  // Re-encoding the footer reproduces the file's tail byte for byte (config ‖ "KRUN" ‖ u64le(len)).
  assert.deepEqual(encodeKrunFooter(krunSev), disk.subarray(layout.config_offset));
  assert.equal(disk.length % 4096, 0);
});

test('upstream example configs parse as WorkloadConfigs', () => {
  for (const f of ['libkrun-examples-snp-config-attest.json', 'libkrun-examples-sev-config.json', 'oci2cw-tee-config-snp.json', 'oci2cw-tee-config-sev.json']) {
    const bytes = readVector('keybroker', 'upstream', f);
    const c = parseWorkloadConfig(bytes, f);
    assert.deepEqual(c, { ...JSON.parse(bytes.toString()) });
  }
});

test('a missing magic, a zero, oversize or overlong length, and a broken config are KRUN errors', () => {
  const expectCode = (b: Uint8Array, code: RegExp) => assert.throws(() => parseKrunFooter(b), (e: CocoError) => e instanceof CocoError && code.test(e.code));
  expectCode(disk.subarray(0, 8), /KRUN_FOOTER/);
  const noMagic = disk.slice();
  noMagic[layout.magic_offset] = 0x6b; // 'k'
  expectCode(noMagic, /KRUN_FOOTER/);
  const setLen = (n: bigint) => {
    const b = disk.slice();
    new DataView(b.buffer).setBigUint64(b.length - 8, n, true);
    return b;
  };
  expectCode(setLen(0n), /KRUN_FOOTER/);
  expectCode(setLen(2n ** 20n + 1n), /KRUN_FOOTER/);
  expectCode(setLen(2n ** 64n - 1n), /KRUN_FOOTER/);
  expectCode(setLen(BigInt(disk.length)), /KRUN_FOOTER/);
  expectCode(setLen(BigInt(layout.config_length - 1)), /KRUN_CONFIG/);
  const c = JSON.parse(new TextDecoder().decode(krunSev));
  for (const bad of [{ ...c, cpus: 0 }, { ...c, cpus: 256 }, { ...c, ram_mib: '512' }, { ...c, tee: 'SNP' }, { tee: 'snp' }, [c]]) {
    expectCode(encodeKrunFooter(new TextEncoder().encode(JSON.stringify(bad))), /KRUN_CONFIG/);
  }
});

test('fuzzed footers and flipped bytes give CocoErrors, never crashes', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), fc.boolean(), (tail, withMagic) => {
      let b = tail;
      if (withMagic && tail.length >= 12) {
        b = tail.slice();
        b.set([0x4b, 0x52, 0x55, 0x4e], b.length - 12);
      }
      try {
        parseKrunFooter(b);
      } catch (e) {
        assert.ok(e instanceof CocoError, String(e));
      }
    }),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(fc.integer({ min: layout.config_offset, max: disk.length - 1 }), fc.integer({ min: 1, max: 255 }), (i, x) => {
      const b = disk.slice();
      b[i] ^= x;
      try {
        parseKrunFooter(b);
      } catch (e) {
        assert.ok(e instanceof CocoError, String(e));
      }
    }),
    { numRuns: 300 },
  );
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readVector, readVectorJson } from '../../test-support/vectors.js';
import { toHex } from '../../formats/bytes.js';
import { CocoError } from '../../errors.js';
import { bootParams, krunMeasurements, krunVmsa, padBundle } from './index.js';

interface KrunVectors {
  blobs: { kernel: { load_addr: string } };
  zero_page_examples: Record<string, { cpus: number; ram_mib: number; ramdisk_size: number }>;
  cases: Array<{ cpus: number; ram_mib: number; SEV: string; 'SEV-ES': string; SNP: string }>;
}

const DIR = ['keybroker', 'measurement'];
const v = readVectorJson<KrunVectors>(...DIR, 'krunfw_measurement_vectors.json');
const bin = (name: string): Uint8Array => new Uint8Array(readVector(...DIR, name));
const firmware = { qboot: bin('qboot.bin'), kernel: bin('kernel.bin'), initrd: bin('initrd.bin'), kernelLoadAddr: Number(v.blobs.kernel.load_addr) };

for (const c of v.cases) {
  test(`matches krunfw_measurement for ${c.cpus} vCPUs and ${c.ram_mib} MiB`, () => {
    const m = krunMeasurements({ ...firmware, cpus: c.cpus, ramMib: c.ram_mib });
    assert.equal(toHex(m.sev), c.SEV);
    assert.equal(toHex(m.sevEs), c['SEV-ES']);
    assert.equal(toHex(m.snp), c.SNP);
  });
}

for (const [name, z] of Object.entries(v.zero_page_examples)) {
  test(`the zero page for ${name} is byte-identical`, () => {
    assert.deepEqual(Buffer.from(bootParams({ cpus: z.cpus, ramMib: z.ram_mib, initrdSize: z.ramdisk_size })), readVector(...DIR, name));
  });
}

test('the SNP and SEV-ES VMSA pages equal libkrunfw vmsa.h', () => {
  assert.deepEqual(Buffer.from(krunVmsa('bsp', true)), readVector(...DIR, 'snp_vmsa_bp.bin'));
  assert.deepEqual(Buffer.from(krunVmsa('ap', true)), readVector(...DIR, 'snp_vmsa_ap.bin'));
  assert.deepEqual(Buffer.from(krunVmsa('bsp', false)), readVector(...DIR, 'sev_es_vmsa_bp.bin'));
  assert.deepEqual(Buffer.from(krunVmsa('ap', false)), readVector(...DIR, 'sev_es_vmsa_ap.bin'));
});

test('bundles are zero-padded to 64 KiB as libkrunfw reports them', () => {
  const c = v.cases[0];
  const unpadded = { ...firmware, initrd: firmware.initrd.subarray(0, firmware.initrd.length - 5000) };
  const padded = { ...unpadded, initrd: padBundle(unpadded.initrd) };
  assert.equal(padded.initrd.length, firmware.initrd.length);
  const a = krunMeasurements({ ...unpadded, cpus: c.cpus, ramMib: c.ram_mib });
  const b = krunMeasurements({ ...padded, cpus: c.cpus, ramMib: c.ram_mib });
  assert.deepEqual(a, b);
  assert.notEqual(toHex(a.snp), c.SNP);
});

test('bad sizes and counts are CocoErrors', () => {
  const bad = (o: Partial<Parameters<typeof krunMeasurements>[0]>): void =>
    assert.throws(() => krunMeasurements({ ...firmware, cpus: 1, ramMib: 512, ...o }), (e: unknown) => e instanceof CocoError);
  bad({ cpus: 0 });
  bad({ ramMib: 1 });
  bad({ qboot: new Uint8Array(0) });
  bad({ qboot: new Uint8Array(0x2_0000) });
  bad({ kernel: new Uint8Array(0) });
  bad({ kernelLoadAddr: 0x1000001 });
});

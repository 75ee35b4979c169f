import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readVector, readVectorJson } from '../../test-support/vectors.js';
import { buildVmsa, BSP_EIP, type VmmType } from './vmsa.js';
import { parseOvmf, sevEsResetEip } from './ovmf.js';
import { CPU_SIGS } from './vcpu-types.js';

// vmsa/*.bin: the oracle's --dump-vmsa with --ovmf ovmf_AmdSev_suffix.bin --vcpus 2 (vectors/snp/PROVENANCE.md)
const dumps: Array<[string, VmmType, number, bigint]> = [
  ['qemu-epycv4-gf1', 'QEMU', CPU_SIGS.get('EPYC-v4')!, 0x1n],
  ['qemu-milan-gf21', 'QEMU', CPU_SIGS.get('EPYC-Milan')!, 0x21n],
  ['ec2-gf1', 'ec2', 0, 0x1n],
  ['gce-gf1', 'gce', 0, 0x1n],
];
const apEip = sevEsResetEip(parseOvmf(new Uint8Array(readVector('snp', 'ovmf', 'ovmf_AmdSev_suffix.bin'))));

for (const [name, vmm, vcpuSig, sevFeatures] of dumps) {
  test(`the BSP and AP VMSA pages of ${name} are byte-identical to the oracle's dump`, () => {
    assert.deepEqual(Buffer.from(buildVmsa({ eip: BSP_EIP, vmm, vcpuSig, sevFeatures })), readVector('snp', 'vmsa', `${name}-bsp.bin`));
    assert.deepEqual(Buffer.from(buildVmsa({ eip: apEip, vmm, vcpuSig, sevFeatures })), readVector('snp', 'vmsa', `${name}-ap.bin`));
  });
}

test('a reset EIP outside 32 bits is rejected', () => {
  assert.throws(() => buildVmsa({ eip: 2 ** 32, vmm: 'QEMU', vcpuSig: 0, sevFeatures: 1n }), /32-bit/);
});

test('RDX and SEV_FEATURES of every oracle case are what the oracle fed into its VMSAs', () => {
  const cases = readVectorJson<{ cases: Array<{ id: string; vmm_type: VmmType; effective: { vcpu_sig: string | null; vmsa_rdx: string | null; sev_features: string | null } }> }>(
    'snp',
    'measure-cases.json',
  ).cases;
  for (const c of cases.filter((x) => x.effective.vmsa_rdx !== null)) {
    const page = Buffer.from(buildVmsa({ eip: BSP_EIP, vmm: c.vmm_type, vcpuSig: Number(c.effective.vcpu_sig ?? 0), sevFeatures: BigInt(c.effective.sev_features!) }));
    assert.equal(page.readBigUInt64LE(0x310), BigInt(c.effective.vmsa_rdx!), c.id);
    assert.equal(page.readBigUInt64LE(0x3b0), BigInt(c.effective.sev_features!), c.id);
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CocoError } from '../errors.js';
import { fromHex, toHex } from '../formats/bytes.js';
import { readVector, readVectorJson } from '../test-support/vectors.js';
import { explainSnpMismatch, snpReferenceValuesFromArtifacts } from './from-artifacts.js';
import { bindInitData, initDataDigest } from './initdata.js';
import { snpLaunchDigest } from './snp-launch/index.js';

interface Case { id: string; ovmf: string; kernel: string | null; initrd: string | null; append: string | null; vcpus: number; vcpu_type: string | null; vmm_type: string; guest_features_arg: string | null; expected: string }
const cases = readVectorJson<{ cases: Case[] }>('snp', 'measure-cases.json').cases;
const byId = (id: string): Case => cases.find((c) => c.id === id)!;
const artifactsOf = (c: Case) => ({
  ovmf: readVector('snp', c.ovmf),
  ...(c.kernel ? { kernel: readVector('snp', c.kernel) } : {}),
  ...(c.initrd ? { initrd: readVector('snp', c.initrd) } : {}),
  ...(c.append !== null ? { append: c.append } : {}),
  vcpus: c.vcpus,
  ...(c.vcpu_type ? { vcpuType: c.vcpu_type } : {}),
  vmmType: c.vmm_type as 'QEMU',
  ...(c.guest_features_arg ? { guestFeatures: BigInt(c.guest_features_arg) } : {}),
});

test('measurement from artifacts equals sev-snp-measure for the shared cases, with input digests as provenance', () => {
  for (const id of ['s04-debian-4-milan-gf21', 's11-amdsev-k-i-a', 's16-amdsev-ec2-k']) {
    const c = byId(id);
    const rv = snpReferenceValuesFromArtifacts(artifactsOf(c));
    assert.equal(rv.values.measurement, c.expected, id);
    assert.equal(rv.provenance.measurement.algorithm, 'snp-launch-digest');
    if (c.ovmf === 'ovmf/OVMF.fd') assert.equal(rv.provenance.measurement.inputs.ovmf, '7b456907dd0786d415999e801a1ac4637b8ed4d7cf5378cfc6edbe5e574dd773');
    assert.equal(rv.provenance.measurement.parameters.vcpus, c.vcpus);
    assert.equal(rv.provenance.measurement.parameters.kernelHashes, c.kernel !== null);
  }
});

test('host_data from an init-data document is its digest bound for SNP', () => {
  const doc = new TextEncoder().encode('version = "0.1.0"\nalgorithm = "sha384"\n[data]\n"policy.rego" = "package agent_policy\\n"\n');
  const rv = snpReferenceValuesFromArtifacts({ ...artifactsOf(byId('s03-debian-1-epycv4')), initData: doc });
  assert.equal(rv.values.host_data, toHex(bindInitData(initDataDigest(doc).digest, 'snp').value));
  assert.equal(rv.values.host_data.length, 64);
  assert.equal(rv.provenance.host_data.parameters.digestAlgorithm, 'sha384');
});

test('a mismatch is explained by the one parameter that reproduces it: vCPU count, kernel hashes', async () => {
  const reg = artifactsOf(byId('s04-debian-4-milan-gf21'));
  const reported = snpLaunchDigest({ ovmf: reg.ovmf, vcpus: 2, vcpuType: 'EPYC-Milan', guestFeatures: 0x21n });
  const why = await explainSnpMismatch(reg, reported);
  assert.equal(why?.hint, 'matches with --vcpus 2; registered with 4');
  // Oracle pair: s11 registered (kernel, initrd, append) and s18 measured by sev-snp-measure without a kernel.
  const k = await explainSnpMismatch(artifactsOf(byId('s11-amdsev-k-i-a')), fromHex(byId('s18-amdsev-nokernel').expected));
  assert.equal(k?.hint, 'matches with kernel hashes off; registered with kernel hashes on');
  // A different firmware is not a parameter slip.
  assert.equal(await explainSnpMismatch(reg, fromHex(byId('s19-ovmfx64-nokernel').expected)), undefined);
});

test('the search yields to the event loop between candidates', async () => {
  const reg = artifactsOf(byId('s04-debian-4-milan-gf21'));
  let ticks = 0;
  const timer = setInterval(() => ticks++, 0);
  const t0 = Date.now();
  await explainSnpMismatch(reg, new Uint8Array(48));
  clearInterval(timer);
  assert.ok(ticks > 5, `the event loop ran ${ticks} times during ${Date.now() - t0} ms`);
});

test('bad artifacts and flags are usage or input CocoErrors, never crashes', () => {
  const ovmf = readVector('snp', 'ovmf', 'OVMF.fd');
  for (const bad of [{ vcpus: 0 }, { vcpus: 1.5 }, { vcpus: 1, vcpuType: 'Pentium' }, { vcpus: 1, vmmType: 'xen' as 'QEMU' }, { vcpus: 1, append: 'x' }]) {
    assert.throws(() => snpReferenceValuesFromArtifacts({ ovmf, ...bad }), (e: unknown) => e instanceof CocoError && e.kind === 'usage');
  }
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 8192 }), fc.uint8Array({ maxLength: 300 }), (fw, initData) => {
      for (const a of [{ ovmf: fw, vcpus: 1 }, { ovmf, vcpus: 1, initData }]) {
        try {
          snpReferenceValuesFromArtifacts(a);
        } catch (e) {
          assert.ok(e instanceof CocoError && e.kind !== 'internal', String(e));
        }
      }
    }),
    { numRuns: 30 },
  );
  // A truncated and a bit-flipped firmware.
  const flipped = new Uint8Array(ovmf);
  flipped[flipped.length - 40] ^= 0xff;
  for (const fw of [ovmf.subarray(0, 4000), flipped]) {
    try {
      snpReferenceValuesFromArtifacts({ ovmf: fw, vcpus: 1 });
    } catch (e) {
      assert.ok(e instanceof CocoError && e.kind !== 'internal', String(e));
    }
  }
});

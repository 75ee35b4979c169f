import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import fc from 'fast-check';
import { CocoError } from '../errors.js';
import { fromHex, toHex } from '../formats/bytes.js';
import { readVector, readVectorJson } from '../test-support/vectors.js';
import { snpArtifactsOf, snpMeasureCase } from './test-support/snp-cases.js';
import { createHash } from 'node:crypto';
import { explainSnpMismatch, referenceValuesFromArtifacts, snpReferenceValuesFromArtifacts } from './from-artifacts.js';
import { tinyFirmware } from './test-support/tdvf.js';
import { generateData, tempDir, verityCases, writeData } from './test-support/verity.js';
import { tdvfMrtd } from './tdx/index.js';
import { verityFormat } from './verity.js';
import { bindInitData, initDataDigest } from './initdata.js';
import { snpLaunchDigest } from './snp-launch/index.js';

const byId = snpMeasureCase;
const artifactsOf = snpArtifactsOf;

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

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

test('one call from all the artifacts: SNP, init-data bindings, UKI PCR 11 and krun, each value from its oracle', async () => {
  const s04 = byId('s04-debian-4-milan-gf21');
  const initData = readVector('initdata', 'kata-default-initdata.toml');
  const digests = readVectorJson<Record<string, Record<string, string>>>('initdata', 'expected-digests.json');
  const uki = readVectorJson<{ pe_cases: { pe_file: string; expected: { sha256: Record<string, string> } }[] }>('uki', 'cases.json').pe_cases[0];
  const rv = await referenceValuesFromArtifacts({ snp: artifactsOf(s04), initData, uki: readVector('uki', uki.pe_file) });
  assert.equal(rv.values.measurement, s04.expected);
  const want = digests['kata-default-initdata.toml'];
  assert.equal(rv.values.host_data, want.snp_hostdata_hex);
  assert.equal(rv.values.mr_config_id, want.tdx_mrconfigid_hex);
  assert.equal(rv.values.tpm_pcr08, want.tpm_pcr8_sha256_after_single_extend_from_zero_hex);
  assert.equal(rv.provenance.tpm_pcr08.inputs.initData, want.sha256_of_file);
  assert.equal(rv.values.tpm_pcr11, uki.expected.sha256['enter-initrd:leave-initrd:sysinit:ready']);
  assert.deepEqual(rv.provenance.tpm_pcr11.parameters, { bank: 'sha256', phase: 'enter-initrd:leave-initrd:sysinit:ready', rules: 'systemd 252' });
  assert.equal(rv.provenance.tpm_pcr11.inputs.uki, sha256(readVector('uki', uki.pe_file)));

  // A sha384 document has no PCR 8 value: the TPM attesters refuse to extend PCR 8 with it.
  const sha384Doc = await referenceValuesFromArtifacts({ initData: readVector('initdata', 'trustee-kbs-doc-simple.toml') });
  assert.deepEqual(Object.keys(sha384Doc.values).sort(), ['host_data', 'mr_config_id']);
  assert.equal(sha384Doc.values.mr_config_id, digests['trustee-kbs-doc-simple.toml'].tdx_mrconfigid_hex);

  // libkrun: krunfw_measurement's SNP digest for --cpus / --ram-mib.
  const dir = ['keybroker', 'measurement'];
  const kv = readVectorJson<{ blobs: { kernel: { load_addr: string } }; cases: { cpus: number; ram_mib: number; SNP: string }[] }>(...dir, 'krunfw_measurement_vectors.json');
  const fw = { qboot: readVector(...dir, 'qboot.bin'), kernel: readVector(...dir, 'kernel.bin'), initrd: readVector(...dir, 'initrd.bin'), kernelLoadAddr: Number(kv.blobs.kernel.load_addr) };
  const c = kv.cases[kv.cases.length - 1];
  const krun = await referenceValuesFromArtifacts({ krun: { ...fw, cpus: c.cpus, ramMib: c.ram_mib } });
  assert.equal(krun.values.measurement, c.SNP);
  assert.equal(krun.provenance.measurement.algorithm, 'krun-launch-digest');
  assert.deepEqual(krun.provenance.measurement.parameters, { cpus: c.cpus, ramMib: c.ram_mib, kernelLoadAddr: kv.blobs.kernel.load_addr.toLowerCase() });
});

test('a TDX firmware gives mr_td in the page-add order it was launched with', async () => {
  const fw = tinyFirmware();
  const rv = await referenceValuesFromArtifacts({ tdx: { firmware: fw, pageAddOrder: 'two-pass' } });
  assert.deepEqual(Object.keys(rv.values), ['mr_td']);
  assert.equal(rv.values.mr_td, toHex(tdvfMrtd(fw, 'two-pass')));
  assert.notEqual(rv.values.mr_td, toHex(tdvfMrtd(fw, 'single-pass')));
  await assert.rejects(referenceValuesFromArtifacts({ tdx: { firmware: fw, append: 'x' } }), (e: unknown) => e instanceof CocoError && e.kind === 'usage');
  await assert.rejects(referenceValuesFromArtifacts({ tdx: { firmware: new Uint8Array(100) } }), (e: unknown) => e instanceof CocoError && e.kind !== 'internal');
});

test('a rootfs image gives the dm-verity root hash veritysetup printed, from its hash device or its salt', async () => {
  const t = tempDir();
  try {
    for (const c of verityCases().filter((x) => !x.params.no_superblock && !x.params.same_device && x.params.hash_offset === 0 && x.params.data_blocks === null).slice(0, 2)) {
      const image = writeData(t.dir, `${c.id}.img`, generateData(c.data));
      const salt = fromHex(c.params.salt);
      const p = { hashAlgorithm: c.params.hash, hashType: c.params.format as 0 | 1, dataBlockSize: c.params.data_block_size, hashBlockSize: c.params.hash_block_size };
      const bySalt = await referenceValuesFromArtifacts({ rootfs: { image, salt, ...p } });
      assert.equal(bySalt.values.rootfs_root_hash, c.expected.root_hash, c.id);
      assert.equal(bySalt.provenance.rootfs_root_hash.inputs.rootfs, sha256(generateData(c.data)));
      // The hash device's superblock supplies the parameters; the root is recomputed from the image.
      const hashDevice = join(t.dir, `${c.id}.hash`);
      await verityFormat({ data: image, hash: hashDevice, ...p, salt, uuid: c.params.uuid ?? undefined });
      const byDevice = await referenceValuesFromArtifacts({ rootfs: { image, hashDevice } });
      assert.equal(byDevice.values.rootfs_root_hash, c.expected.root_hash, c.id);
      assert.equal(byDevice.provenance.rootfs_root_hash.parameters.salt, c.params.salt);
      // Another image with this hash device: its own root, not the device's.
      const other = writeData(t.dir, `${c.id}-other.img`, generateData({ ...c.data, generator: 'mod251' }));
      assert.notEqual((await referenceValuesFromArtifacts({ rootfs: { image: other, hashDevice } })).values.rootfs_root_hash, c.expected.root_hash);
    }
    const image = writeData(t.dir, 'x.img', new Uint8Array(8192));
    await assert.rejects(referenceValuesFromArtifacts({ rootfs: { image } }), (e: unknown) => e instanceof CocoError && e.kind === 'usage' && /salt/.test(e.message));
    await assert.rejects(referenceValuesFromArtifacts({ rootfs: { image, hashDevice: image } }), (e: unknown) => e instanceof CocoError && e.kind !== 'internal');
    await assert.rejects(referenceValuesFromArtifacts({ rootfs: { image: join(t.dir, 'missing'), salt: new Uint8Array(0) } }), (e: unknown) => e instanceof CocoError && e.kind !== 'internal');
  } finally {
    t.cleanup();
  }
});

test('inconsistent or empty artifact sets and garbage artifacts are CocoErrors', async () => {
  const ovmf = readVector('snp', 'ovmf', 'OVMF.fd');
  const usage = (e: unknown): boolean => e instanceof CocoError && e.kind === 'usage';
  await assert.rejects(referenceValuesFromArtifacts({}), usage);
  const k = { qboot: new Uint8Array(4096), kernel: new Uint8Array(4096), initrd: new Uint8Array(0), kernelLoadAddr: 0x1000 };
  await assert.rejects(referenceValuesFromArtifacts({ snp: { ovmf, vcpus: 1 }, krun: { ...k, cpus: 1, ramMib: 512 } }), usage);
  await assert.rejects(referenceValuesFromArtifacts({ krun: { ...k, cpus: 0, ramMib: 512 } }), usage);
  await assert.rejects(referenceValuesFromArtifacts({ krun: { ...k, cpus: 1, ramMib: 1.5 } }), usage);
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ maxLength: 4096 }), async (junk) => {
      for (const a of [{ uki: junk }, { initData: junk }, { tdx: { firmware: junk } }]) {
        try {
          await referenceValuesFromArtifacts(a);
        } catch (e) {
          assert.ok(e instanceof CocoError && e.kind !== 'internal', String(e));
        }
      }
    }),
    { numRuns: 40 },
  );
});

/**
 * From build artifacts to a released secret: `cocokit kbs workload register --from-artifacts` computes the
 * SNP measurement a guest built from the shared OVMF will report; a guest under a `cocokit snp test-root`
 * chip launched with it gets the secret, one launched with another vCPU count is refused and both
 * `kbs workload explain` (from the artifacts) and the KBS's decision record (from the registration's search
 * states) name the slip. `kbs config set-reference-value --from-artifacts` stores the same value.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CocoError } from '../errors.js';
import { fromHex, toHex } from '../formats/bytes.js';
import { hostDataForUuid } from '../attestation/workload.js';
import { snpLaunchDigest } from '../measure/snp-launch/index.js';
import { bindInitData } from '../measure/initdata.js';
import { startKbs } from '../server/test-harness.js';
import { readVector, readVectorJson, vectorPath } from '../test-support/vectors.js';
import { startTestRootSetting } from '../test-support/test-root-guest.js';
import { bufferIO } from './io.js';
import { startServe } from './kbs-serve.js';

const { dir, url, kbs, cli, guest } = await startTestRootSetting('kbs-artifacts-');

const OVMF = vectorPath('snp', 'ovmf', 'OVMF.fd');
// sev-snp-measure's value for these flags (shared/vectors/snp/measure-cases.json, case s04).
const S04 = readVectorJson<{ cases: { id: string; expected: string }[] }>('snp', 'measure-cases.json').cases.find((c) => c.id === 's04-debian-4-milan-gf21')!.expected;
const launchFlags = ['--ovmf', OVMF, '--vcpus', '4', '--vcpu-type', 'EPYC-Milan', '--guest-features', '0x21'];
const adminCli = ['kbs', 'workload', '--url', url, '--auth-private-key', 'admin.pem', '--namespace', 'tenant-x'];

// The decision log spans every namespace: an auditor identity bound to none reads it.
const configCli = ['kbs', 'config', '--url', url, '--auth-private-key', 'auditor.pem', '--role', 'auditor'];

/** The newest denied decision on a workload, read back through the admin API as `get-decision` prints it. */
async function lastDenial(workload: string): Promise<{ id: number; parameter_search?: Record<string, Record<string, string>> }> {
  const list = await cli([...configCli, 'list-decisions', '--workload', workload, '--verdict', 'deny', '--limit', '1']);
  assert.equal(list.code, 0, list.err);
  const [d] = JSON.parse(list.out) as Array<{ id: number }>;
  const got = await cli([...configCli, 'get-decision', String(d!.id)]);
  assert.equal(got.code, 0, got.err);
  return JSON.parse(got.out) as { id: number; parameter_search?: Record<string, Record<string, string>> };
}

test('register --from-artifacts: the guest launched from those artifacts gets the secret; a 2-vCPU launch is refused and explained', async () => {
  const reg = await cli([...adminCli, 'register', '--tee', 'snp', '--from-artifacts', ...launchFlags, '--resource', 'passphrase=from-artifacts']);
  assert.equal(reg.code, 0, reg.err);
  const id = reg.out.trim();
  assert.match(reg.err, new RegExp(`"measurement":"${S04}"`));
  const shown = JSON.parse((await cli([...adminCli, 'show', id])).out) as { reference_values: Record<string, unknown>; provenance: Record<string, Record<string, unknown>> };
  assert.equal(shown.reference_values.measurement, S04);
  // Provenance through the admin API: algorithm, parameters, input digests, who, when, version.
  const p = shown.provenance.measurement;
  assert.equal(p.algorithm, 'snp-launch-digest');
  const { searchStates, ...parameters } = p.parameters as Record<string, unknown>;
  assert.deepEqual(parameters, { vcpus: 4, vcpuType: 'EPYC-Milan', vmmType: 'QEMU', guestFeatures: '0x21', kernelHashes: false });
  assert.deepEqual(Object.keys((searchStates as { digests: object }).digests), ['QEMU', 'ec2', 'gce']);
  assert.deepEqual(p.inputs, { ovmf: createHash('sha256').update(readVector('snp', 'ovmf', 'OVMF.fd')).digest('hex') });
  assert.equal(p.registered_by, 'role=admin sub=admin');
  assert.ok(Math.abs(Date.parse(String(p.registered_at)) - Date.now()) < 60_000);
  assert.equal(p.version, 1);
  const hostData = hostDataForUuid(id);
  assert.equal(await guest({ hostData, measurement: fromHex(S04) }), 'from-artifacts');
  const twoVcpus = snpLaunchDigest({ ovmf: readVector('snp', 'ovmf', 'OVMF.fd'), vcpus: 2, vcpuType: 'EPYC-Milan', guestFeatures: 0x21n });
  // The denial shows how the registered value was computed and the command that explains the difference.
  await assert.rejects(guest({ hostData, measurement: twoVcpus }), (e: unknown) => {
    const m = String((e as Error).message);
    assert.match(m, /policy denied: .*measurement.*registered measurement computed by snp-launch-digest with \{"vcpus":4,/);
    assert.ok(m.includes(`; reported ${toHex(twoVcpus)}; the decision record names the nearby launch parameters that reproduce it`), m);
    assert.ok(!m.includes('searchStates'), m);
    return true;
  });
  const why = await cli([...adminCli, 'explain', ...launchFlags, '--reported', toHex(twoVcpus)]);
  assert.equal(why.code, 0, why.err);
  assert.equal(why.out.trim(), 'matches with --vcpus 2; registered with 4');
  // The KBS names the same change itself, without the artifacts, when the decision is read.
  const denial = await lastDenial(id);
  assert.deepEqual(denial.parameter_search, { measurement: { hint: 'matches with --vcpus 2; registered with 4', flag: '--vcpus', registered: '4', reported: '2' } });
  const text = await cli([...configCli, 'get-decision', String(denial.id), '--explain']);
  assert.equal(text.code, 0, text.err);
  assert.match(text.out, /— deny \(WORKLOAD_POLICY_DENY\)\n/);
  assert.ok(text.out.includes(`measurement: registered measurement computed by snp-launch-digest with {"vcpus":4,`), text.out);
  assert.ok(text.out.endsWith('\n  matches with --vcpus 2; registered with 4\n'), text.out);
  const same = await cli([...adminCli, 'explain', ...launchFlags, '--reported', S04]);
  assert.match(same.out, /matches the artifacts as registered/);
  // A reference value whose provenance has expired releases nothing.
  const { WorkloadAdminClient } = await import('../client/workload-client.js');
  const c = new WorkloadAdminClient(url, { namespace: 'tenant-x', role: 'admin', privateKeyPem: readFileSync(join(dir, 'admin.pem'), 'utf8') });
  const old = await c.register({ tee: 'snp', reference_values: { measurement: S04 }, resources: { passphrase: 'stale' }, provenance: { measurement: { algorithm: 'snp-launch-digest', parameters: {}, inputs: {}, expires: '2020-01-01T00:00:00Z' } } });
  await assert.rejects(guest({ hostData: hostDataForUuid(old.workload_id), measurement: fromHex(S04) }), /reference value measurement expired at 2020-01-01T00:00:00.000Z/);
  const none = await cli([...adminCli, 'explain', ...launchFlags, '--reported', 'ab'.repeat(48)]);
  assert.equal(none.code, 5);
  assert.match(none.err, /no single launch parameter change/);
});

test('the decision names kernel hashes off against a kernel registration, and says when no nearby parameter reproduces a measurement', async () => {
  // sev-snp-measure oracle pair: s11 (kernel, initrd, append) registered, s18 (the same firmware without a kernel) reported.
  const cases = readVectorJson<{ cases: { id: string; expected: string }[] }>('snp', 'measure-cases.json').cases;
  const s11 = cases.find((c) => c.id === 's11-amdsev-k-i-a')!.expected;
  const s18 = cases.find((c) => c.id === 's18-amdsev-nokernel')!.expected;
  const flags = ['--ovmf', vectorPath('snp', 'ovmf', 'ovmf_AmdSev_suffix.bin'), '--kernel', vectorPath('snp', 'gen', 'kernel-s1.bin'), '--initrd', vectorPath('snp', 'gen', 'initrd-s1.bin'), '--append', 'console=ttyS0 loglevel=7', '--vcpus', '1', '--vcpu-type', 'EPYC-v4'];
  const reg = await cli([...adminCli, 'register', '--tee', 'snp', '--from-artifacts', ...flags, '--resource', 'passphrase=kernel']);
  assert.equal(reg.code, 0, reg.err);
  const id = reg.out.trim();
  const hostData = hostDataForUuid(id);
  assert.equal(await guest({ hostData, measurement: fromHex(s11) }), 'kernel');
  await assert.rejects(guest({ hostData, measurement: fromHex(s18) }), /policy denied/);
  const off = await lastDenial(id);
  assert.equal(off.parameter_search?.measurement?.hint, 'matches with kernel hashes off; registered with kernel hashes on');
  // Reading it again answers from the cache with the same words.
  assert.deepEqual((await lastDenial(id)).parameter_search, off.parameter_search);
  await assert.rejects(guest({ hostData, measurement: fromHex('ab'.repeat(48)) }), /policy denied/);
  const none = await lastDenial(id);
  assert.match(none.parameter_search?.measurement?.note ?? '', /^no nearby launch parameter reproduces the reported measurement \(\d+ candidates/);
  const text = await cli([...configCli, 'get-decision', String(none.id), '--explain']);
  assert.match(text.out, /\n {2}no nearby launch parameter reproduces the reported measurement/);
  // Bad ids are usage errors before any request.
  assert.equal((await cli([...configCli, 'get-decision', '0x1'])).code, 1);
});

test('register --from-artifacts refuses missing, unreadable or contradicting inputs with usage or file errors', async () => {
  const base = [...adminCli, 'register', '--tee', 'snp', '--from-artifacts'];
  const noOvmf = await cli([...base, '--vcpus', '1']);
  assert.equal(noOvmf.code, 1);
  assert.match(noOvmf.err, /needs --ovmf/);
  const noVcpus = await cli([...base, '--ovmf', OVMF]);
  assert.match(noVcpus.err, /needs --vcpus/);
  const missing = await cli([...base, '--ovmf', 'nope.fd', '--vcpus', '1']);
  assert.equal(missing.code, 11);
  const contra = await cli([...base, ...launchFlags, '--reference-value', `measurement=${'00'.repeat(48)}`]);
  assert.equal(contra.code, 1);
  assert.match(contra.err, /contradicts the value computed/);
  const notSnp = await cli([...adminCli, 'register', '--tee', 'tdx', '--from-artifacts', ...launchFlags]);
  assert.match(notSnp.err, /--tee tdx needs the TD firmware: --tdx-firmware/);
  const tpm = await cli([...adminCli, 'register', '--tee', 'tpm', '--from-artifacts', ...launchFlags]);
  assert.match(tpm.err, /use it with --tee snp or --tee tdx/);
  const badGf = await cli([...base, '--ovmf', OVMF, '--vcpus', '1', '--guest-features', 'lots']);
  assert.equal(badGf.code, 1);
  const garbageFw = join(dir, 'garbage.fd');
  writeFileSync(garbageFw, new Uint8Array(8192).fill(0x5a));
  const garbage = await cli([...base, '--ovmf', garbageFw, '--vcpus', '1']);
  assert.equal(garbage.code, 4, garbage.err);
});

test('kbs config set-reference-value --from-artifacts stores the computed measurement or host_data', async () => {
  const h = await startKbs();
  try {
    writeFileSync(join(dir, 'rvps-admin.pem'), h.adminKeyPem);
    writeFileSync(join(dir, 'initdata.toml'), 'version = "0.1.0"\nalgorithm = "sha256"\n[data]\n"aa.toml" = "x"\n');
    const admin = ['kbs', 'config', '--url', h.url, '--auth-private-key', 'rvps-admin.pem'];
    const set = await cli([...admin, 'set-reference-value', 'snp_launch_measurement', '--from-artifacts', ...launchFlags]);
    assert.equal(set.code, 0, set.err);
    assert.match(set.err, /"algorithm":"snp-launch-digest"/);
    assert.equal((await cli([...admin, 'get-reference-value', 'snp_launch_measurement'])).out.trim(), JSON.stringify([S04]));
    const hd = await cli([...admin, 'set-reference-value', 'snp_host_data', '--as-single-value', '--claim', 'host_data', '--from-artifacts', ...launchFlags, '--init-data', 'initdata.toml']);
    assert.equal(hd.code, 0, hd.err);
    const stored = JSON.parse((await cli([...admin, 'get-reference-value', 'snp_host_data'])).out) as string;
    const doc = readFileSync(join(dir, 'initdata.toml'));
    assert.equal(stored, toHex(bindInitData(createHash('sha256').update(doc).digest(), 'snp').value));
    const both = await cli([...admin, 'set-reference-value', 'x', 'y', '--from-artifacts', ...launchFlags]);
    assert.match(both.err, /either a value or --from-artifacts/);
    const noClaim = await cli([...admin, 'set-reference-value', 'x', '--claim', 'host_data', '--from-artifacts', ...launchFlags]);
    assert.match(noClaim.err, /not computed from these artifacts/);
  } finally {
    await h.stop();
  }
});

test('register --from-artifacts with libkrun firmware: the krun guest of that --cpus / --ram-mib gets the secret', async () => {
  const krunDir = vectorPath('keybroker', 'measurement');
  const kv = readVectorJson<{ cases: { cpus: number; ram_mib: number; SNP: string }[] }>('keybroker', 'measurement', 'krunfw_measurement_vectors.json');
  const c = kv.cases[0];
  const reg = await cli([...adminCli, 'register', '--tee', 'snp', '--from-artifacts', '--krun-firmware', krunDir, '--cpus', String(c.cpus), '--ram-mib', String(c.ram_mib), '--resource', 'passphrase=krun']);
  assert.equal(reg.code, 0, reg.err);
  const id = reg.out.trim();
  const shown = JSON.parse((await cli([...adminCli, 'show', id])).out) as { reference_values: Record<string, unknown>; provenance: Record<string, Record<string, unknown>> };
  assert.equal(shown.reference_values.measurement, c.SNP);
  assert.equal(shown.provenance.measurement.algorithm, 'krun-launch-digest');
  assert.equal(await guest({ hostData: hostDataForUuid(id), measurement: fromHex(c.SNP) }), 'krun');
  const other = kv.cases.find((x) => x.SNP !== c.SNP)!;
  await assert.rejects(guest({ hostData: hostDataForUuid(id), measurement: fromHex(other.SNP) }), /policy denied/);
  const noCpus = await cli([...adminCli, 'register', '--tee', 'snp', '--from-artifacts', '--krun-firmware', krunDir, '--ram-mib', '512']);
  assert.equal(noCpus.code, 1);
  assert.match(noCpus.err, /--cpus needs a positive integer/);
  const noLaunch = await cli([...adminCli, 'register', '--tee', 'snp', '--from-artifacts', '--uki', vectorPath('uki', 'pe', 'pe-s01.efi')]);
  assert.match(noLaunch.err, /needs the launch artifacts/);
});

test('kbs config set-reference-value --from-artifacts: UKI PCR 11, init-data PCR 8, rootfs root hash, TDX MRCONFIGID', async () => {
  const h = await startKbs();
  try {
    writeFileSync(join(dir, 'rvps-admin2.pem'), h.adminKeyPem);
    const admin = ['kbs', 'config', '--url', h.url, '--auth-private-key', 'rvps-admin2.pem'];
    const get = async (name: string): Promise<unknown> => JSON.parse((await cli([...admin, 'get-reference-value', name])).out);
    const uki = readVectorJson<{ pe_cases: { pe_file: string; expected: { sha256: Record<string, string> } }[] }>('uki', 'cases.json').pe_cases[0];
    const pcr11 = await cli([...admin, 'set-reference-value', 'tpm_pcr11', '--claim', 'tpm_pcr11', '--from-artifacts', '--uki', vectorPath('uki', uki.pe_file)]);
    assert.equal(pcr11.code, 0, pcr11.err);
    assert.deepEqual(await get('tpm_pcr11'), [uki.expected.sha256['enter-initrd:leave-initrd:sysinit:ready']]);
    const digests = readVectorJson<Record<string, Record<string, string>>>('initdata', 'expected-digests.json');
    const doc = vectorPath('initdata', 'kata-default-initdata.toml');
    assert.equal((await cli([...admin, 'set-reference-value', 'tpm_pcr08', '--claim', 'tpm_pcr08', '--from-artifacts', '--init-data', doc])).code, 0);
    assert.deepEqual(await get('tpm_pcr08'), [digests['kata-default-initdata.toml'].tpm_pcr8_sha256_after_single_extend_from_zero_hex]);
    assert.equal((await cli([...admin, 'set-reference-value', 'mr_config_id', '--claim', 'mr_config_id', '--from-artifacts', '--init-data', doc])).code, 0);
    assert.deepEqual(await get('mr_config_id'), [digests['kata-default-initdata.toml'].tdx_mrconfigid_hex]);
    // veritysetup's root hash for case s01 of the shared verity vectors, with its salt.
    const { generateData, verityCases } = await import('../measure/test-support/verity.js');
    const vc = verityCases().find((x) => x.id === 's01')!;
    writeFileSync(join(dir, 'rootfs.img'), generateData(vc.data));
    const root = await cli([...admin, 'set-reference-value', 'rootfs_root_hash', '--claim', 'rootfs_root_hash', '--from-artifacts', '--rootfs', 'rootfs.img', '--verity-salt', vc.params.salt]);
    assert.equal(root.code, 0, root.err);
    assert.deepEqual(await get('rootfs_root_hash'), [vc.expected.root_hash]);
    const noSalt = await cli([...admin, 'set-reference-value', 'r', '--claim', 'rootfs_root_hash', '--from-artifacts', '--rootfs', 'rootfs.img']);
    assert.equal(noSalt.code, 1);
    assert.match(noSalt.err, /salt/);
    const badSalt = await cli([...admin, 'set-reference-value', 'r', '--from-artifacts', '--rootfs', 'rootfs.img', '--verity-salt', 'xyz']);
    assert.equal(badSalt.code, 1);
    const nothing = await cli([...admin, 'set-reference-value', 'r', '--from-artifacts']);
    assert.match(nothing.err, /needs artifacts/);
    const notUki = await cli([...admin, 'set-reference-value', 'r', '--claim', 'tpm_pcr11', '--from-artifacts', '--uki', 'rootfs.img']);
    assert.equal(notUki.code, 4, notUki.err);
  } finally {
    await h.stop();
  }
});

test('provenance survives a restart of the KBS and is kept for unchanged values on update', async () => {
  const reg = await cli([...adminCli, 'register', '--tee', 'snp', '--from-artifacts', ...launchFlags, '--reference-value', 'policy_svn=3', '--resource', 'k=v']);
  assert.equal(reg.code, 0, reg.err);
  const id = reg.out.trim();
  const before = (await cli([...adminCli, 'show', id])).out;
  await kbs.close();
  const again = await startServe({ config: 'kbs.toml' }, bufferIO({ COCOKIT_LOG_LEVEL: 'silent' }, dir));
  const url2 = again.url;
  try {
    const cli2 = ['kbs', 'workload', '--url', url2, '--auth-private-key', 'admin.pem', '--namespace', 'tenant-x'];
    const after = JSON.parse((await cli([...cli2, 'show', id])).out) as { provenance: Record<string, unknown>; version: number };
    assert.deepEqual(after.provenance, (JSON.parse(before) as { provenance: unknown }).provenance);
    // An update changing policy_svn keeps the measurement's provenance; one changing the measurement drops it.
    const put = async (rv: Record<string, unknown>, version: number) => {
      const { WorkloadAdminClient } = await import('../client/workload-client.js');
      const c = new WorkloadAdminClient(url2, { namespace: 'tenant-x', role: 'admin', privateKeyPem: readFileSync(join(dir, 'admin.pem'), 'utf8') });
      return c.update(id, { tee: 'snp', reference_values: rv, version });
    };
    await put({ measurement: S04, policy_svn: 4 }, after.version);
    const kept = JSON.parse((await cli([...cli2, 'show', id])).out) as { provenance: Record<string, unknown>; version: number };
    assert.deepEqual(kept.provenance, after.provenance);
    await put({ measurement: 'ab'.repeat(48), policy_svn: 4 }, kept.version);
    const dropped = JSON.parse((await cli([...cli2, 'show', id])).out) as Record<string, unknown>;
    assert.equal(dropped.provenance, undefined);
    // Malformed provenance is a 400 with the field named, never stored.
    for (const [provenance, re] of [
      [[], /must be an object/],
      [{ nope: { algorithm: 'x', parameters: {}, inputs: {} } }, /not a reference value/],
      [{ measurement: { algorithm: 'x', parameters: {}, inputs: { ovmf: 'zz' } } }, /SHA-256 hex/],
      [{ measurement: { algorithm: 'x', parameters: {}, inputs: {}, expires: 'soon' } }, /RFC 3339/],
      [{ measurement: { algorithm: 'x', parameters: {}, inputs: {}, extra: 1 } }, /unknown field/],
      [{ measurement: { algorithm: 'x', parameters: { big: 'a'.repeat(70_000) }, inputs: {} } }, /larger than/],
    ] as const) {
      const { WorkloadAdminClient } = await import('../client/workload-client.js');
      const c = new WorkloadAdminClient(url2, { namespace: 'tenant-x', role: 'admin', privateKeyPem: readFileSync(join(dir, 'admin.pem'), 'utf8') });
      await assert.rejects(c.register({ tee: 'snp', reference_values: { measurement: S04 }, resources: {}, provenance: provenance as unknown as Record<string, unknown> }), (e: unknown) => e instanceof CocoError && e.kind !== 'internal' && re.test(e.message));
    }
  } finally {
    await again.kbs.close();
  }
});

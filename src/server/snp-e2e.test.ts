import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { KbsClient } from '../client/kbs-client.js';
import { KbsAdminClient } from '../client/admin-client.js';
import { toHex, utf8 } from '../formats/bytes.js';
import { regularize, digest } from '../formats/runtime-data.js';
import { VerifierRegistry } from '../attestation/verifiers.js';
import { createSnpVerifier } from '../tee/snp/verifier.js';
import { createTestRoot, type TestChip, type TestRoot } from '../tee/snp/test-root.js';
import { evidenceToJson } from '../tee/snp/evidence.js';
import { parseReport } from '../tee/snp/format.js';
import type { Attester } from '../tee/verifier.js';
import { readVector, readVectorJson } from '../test-support/vectors.js';
import { fromHex } from '../formats/bytes.js';
import { snpReferenceValuesFromArtifacts } from '../measure/from-artifacts.js';
import { snpLaunchDigest } from '../measure/snp-launch/index.js';
import { startKbs, type Harness } from './test-harness.js';

/** An SNP guest whose "firmware" is the generated test root: REPORT_DATA and HOST_DATA as the hardware would set them. */
class TestSnpAttester implements Attester {
  readonly tee = 'snp';
  constructor(
    private readonly root: TestRoot,
    private readonly chip: TestChip,
    private readonly hostData: Uint8Array = new Uint8Array(32),
    private readonly measurement: Uint8Array = new Uint8Array(48),
  ) {}

  async getEvidence(reportData: Uint8Array): Promise<unknown> {
    const raw = this.root.signReport(this.chip, { reportData: regularize(reportData, 64), hostData: this.hostData, measurement: this.measurement });
    return evidenceToJson(parseReport(raw), [{ type: 'VCEK', data: new Uint8Array(this.chip.vcek.raw) }]);
  }
}

const I = readVectorJson('trustee', 'generated', 'initdata-and-binding.json');
let root: TestRoot;
let chip: TestChip;
let h: Harness;

before(async () => {
  root = createTestRoot({ product: 'genoa' });
  chip = root.createChip();
  // A production configuration: no sample TEE, the default resource policy.
  h = await startKbs(
    (c) => {
      c.attestation_service.allow_sample_tee = false;
    },
    { verifiers: new VerifierRegistry([createSnpVerifier({ roots: root.roots })]) },
  );
  await new KbsAdminClient(h.url, { privateKeyPem: h.adminKeyPem }).setResource('default/key/snp', utf8.encode('released to SNP'));
});
after(async () => {
  await h.stop();
});

test('an SNP guest with bound init-data but no reference values is appraised contraindicated and refused by the default resource policy', async () => {
  const hostData = regularize(digest('sha384', I.toml), 32);
  const c = new KbsClient(h.url, new TestSnpAttester(root, chip, hostData), { initData: I.toml, maxAttempts: 1 });
  await assert.rejects(c.getResourceText('default/key/snp'), /PolicyDeny.*not contraindicated/);
  const { token } = await c.attest();
  const ae = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).submods.cpu0['ear.veraison.annotated-evidence'];
  assert.equal(ae.init_data, toHex(hostData));
  assert.deepEqual(ae.init_data_claims, I.expected_init_data_claims);
});

test('init-data that does not match HOST_DATA is refused with the host-data check', async () => {
  const c = new KbsClient(h.url, new TestSnpAttester(root, chip, new Uint8Array(32)), { initData: I.toml, maxAttempts: 1 });
  await assert.rejects(c.attest(), /snp evidence failed check "host-data"/);
});

test('reference values for the launch measurement and TCB make default_cpu recognise the SNP guest', async () => {
  const c = new KbsClient(h.url, new TestSnpAttester(root, chip));
  const first = JSON.parse(Buffer.from((await c.attest()).token.split('.')[1], 'base64url').toString()).submods.cpu0;
  assert.equal(first['ear.status'], 'contraindicated');
  const snp = first['ear.veraison.annotated-evidence'].snp;
  await new KbsAdminClient(h.url, { privateKeyPem: h.adminKeyPem }).setReferenceValues({
    snp_launch_measurement: [snp.measurement],
    snp_bootloader: [snp.reported_tcb_bootloader],
    snp_microcode: [snp.reported_tcb_microcode],
    snp_snp_svn: [snp.reported_tcb_snp],
    snp_tee_svn: [snp.reported_tcb_tee],
  });
  const tv = JSON.parse(Buffer.from((await new KbsClient(h.url, new TestSnpAttester(root, chip)).attest()).token.split('.')[1], 'base64url').toString()).submods.cpu0['ear.trustworthiness-vector'];
  assert.equal(tv.executables, 3);
  assert.equal(tv.hardware, 2);
  // Recognised, the guest is no longer contraindicated and the default resource policy releases the secret.
  assert.equal(await new KbsClient(h.url, new TestSnpAttester(root, chip)).getResourceText('default/key/snp'), 'released to SNP');
});

test('a launch measurement registered from artifacts: a guest launched with 2 vCPUs instead of 4 is not recognised, and the decision names the slip', async () => {
  const ovmf = readVector('snp', 'ovmf', 'OVMF.fd');
  const launch = { ovmf, vcpus: 4, vcpuType: 'EPYC-Milan', guestFeatures: 0x21n };
  const computed = snpReferenceValuesFromArtifacts(launch);
  const admin = new KbsAdminClient(h.url, { privateKeyPem: h.adminKeyPem });
  const provenance = computed.provenance.measurement as unknown as Record<string, unknown>;
  await admin.setReferenceValues({ snp_launch_measurement: [computed.values.measurement] }, { snp_launch_measurement: provenance });
  const registered = new TestSnpAttester(root, chip, new Uint8Array(32), fromHex(computed.values.measurement));
  assert.equal(await new KbsClient(h.url, registered).getResourceText('default/key/snp'), 'released to SNP');
  const two = snpLaunchDigest({ ...launch, vcpus: 2 });
  const { token } = await new KbsClient(h.url, new TestSnpAttester(root, chip, new Uint8Array(32), two)).attest();
  const tv = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).submods.cpu0['ear.trustworthiness-vector'];
  assert.notEqual(tv.executables, 3);
  // The attestation's record says the measurement differs; reading it runs the search from the stored states.
  const [d] = await admin.listDecisions({ type: 'attestation', limit: '1' });
  assert.match(String((d!.explanations as Record<string, string>).snp_launch_measurement), new RegExp(`; reported ${toHex(two)}; the decision record names the nearby launch parameters`));
  const read = await admin.getDecision(String(d!.id));
  assert.deepEqual(read.parameter_search, { snp_launch_measurement: { hint: 'matches with --vcpus 2; registered with 4', flag: '--vcpus', registered: '4', reported: '2' } });
  // Malformed states are refused at registration, the field named.
  const params = computed.provenance.measurement.parameters;
  const states = params.searchStates as { digests: Record<string, string> };
  const truncated = { ...provenance, parameters: { ...params, searchStates: { ...states, digests: { ...states.digests, QEMU: states.digests.QEMU!.slice(2) } } } };
  await assert.rejects(admin.setReferenceValues({ snp_launch_measurement: [computed.values.measurement] }, { snp_launch_measurement: truncated }), /search states: the state QEMU must be 96 lower-case hex digits/);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { decodeProtectedHeader, importJWK, jwtVerify } from 'jose';
import { readVectorJson } from '../test-support/vectors.js';
import { CocoError } from '../errors.js';
import { fromHex, toBase64 } from '../formats/bytes.js';
import { defaultAttestationPolicy } from '../policy/builtin.js';
import { policyEvaluators } from '../policy/evaluators.js';
import { AttestationService, attestationPolicyId } from './service.js';
import { TokenSigner } from './signer.js';
import { defaultVerifiers } from './verifiers.js';
import { statusOf, tierOf } from './ear.js';

const R = readVectorJson('trustee', 'generated', 'rcar-sample-0.4.0.json');
const now = new Date('2026-03-01T00:00:00Z');

function service(rvs: Record<string, unknown> = {}, policyText: (id: string) => Promise<string | undefined> = async (id) => defaultAttestationPolicy(id)): AttestationService {
  return new AttestationService({
    verifiers: defaultVerifiers({ sample: true }),
    policy: policyEvaluators().attestationPolicy,
    policyText,
    referenceValues: async () => rvs,
    signer: TokenSigner.generate(),
    clock: () => now,
  });
}

function request(body = R.attest_request_body) {
  return {
    tee: 'sample',
    evidence: body['tee-evidence'].primary_evidence,
    nonce: body['runtime-data'].nonce,
    teePubkey: body['runtime-data']['tee-pubkey'],
    additionalEvidence: body['tee-evidence'].additional_evidence,
  };
}

test('the vector attestation yields an ES256 EAR token with the jwk header and the expected runtime-data claims', async () => {
  const s = service();
  const r = await s.evaluate(request());
  const header = decodeProtectedHeader(r.token);
  assert.deepEqual(Object.keys(header), ['typ', 'alg', 'jwk']);
  const { payload } = await jwtVerify(r.token, await importJWK(header.jwk as any, 'ES256'), { currentDate: now });
  const ae = (payload as any).submods.cpu0['ear.veraison.annotated-evidence'];
  assert.deepEqual(ae.runtime_data_claims, R.expected_ear_runtime_data_claims);
  assert.equal(ae.report_data, R.attest_request_body['tee-evidence'].primary_evidence.report_data);
  assert.equal(payload.exp, Math.floor(now.getTime() / 1000) + 300);
  assert.equal((payload as any)['ear.verifier-id'].developer, 'https://confidentialcontainers.org');
  // The default_cpu policy without reference values: the synthetic EAR vector's trust vector and status.
  const ear = readVectorJson('trustee', 'generated', 'ear-token-synthetic.json').claims.submods.cpu0;
  assert.deepEqual((payload as any).submods.cpu0['ear.trustworthiness-vector'], ear['ear.trustworthiness-vector']);
  assert.equal((payload as any).submods.cpu0['ear.status'], ear['ear.status']);
  assert.deepEqual((payload as any).submods.cpu0['ear.trustee.identifiers'], ear['ear.trustee.identifiers']);
});

test('sampledevice additional evidence adds a gpu0 appraisal bound to the device digest', async () => {
  const r = await service().evaluate(request(R.with_sample_device.attest_request_body));
  assert.deepEqual(Object.keys((r.claims as any).submods), R.with_sample_device.expected_submods);
  assert.equal(r.verified[1].tee, 'sampledevice');
});

test('evidence for another runtime-data digest fails with the check list as detail', async () => {
  const body = structuredClone(R.attest_request_body);
  body['tee-evidence'].primary_evidence.report_data = toBase64(fromHex(R.device_runtime_data_sha384_hex));
  await assert.rejects(service().evaluate(request(body)), (e: unknown) => {
    assert.ok(e instanceof CocoError);
    assert.equal(e.code, 'AS_EVIDENCE_CHECK');
    assert.match(e.message, /report-data/);
    assert.ok(Array.isArray((e.detail as any).checks));
    return true;
  });
});

test('init-data is hashed, reported as init_data and parsed into init_data_claims', async () => {
  const I = readVectorJson('trustee', 'generated', 'initdata-and-binding.json');
  const r = await service().evaluate({ ...request(), initData: { format: 'toml', body: I.toml } });
  const ae = (r.claims as any).submods.cpu0['ear.veraison.annotated-evidence'];
  assert.equal(ae.init_data, toBase64(fromHex(I.digest_sha384_hex)));
  assert.deepEqual(ae.init_data_claims, I.expected_init_data_claims);
});

test('an unknown TEE, a missing policy and undecodable additional evidence are CocoErrors', async () => {
  await assert.rejects(service().evaluate({ ...request(), tee: 'cca' }), /no verifier for tee "cca"/);
  await assert.rejects(service({}, async () => undefined).evaluate(request()), /attestation policy "default_cpu" does not exist/);
  await assert.rejects(service().evaluate({ ...request(), additionalEvidence: '{' }), CocoError);
});

test('an uploaded attestation policy decides the trust vector', async () => {
  const policy = 'package policy\n\ntrust_claims := {"executables": 3, "hardware": 2} if input.sample.svn == "1"\n';
  const r = await service({}, async () => policy).evaluate(request());
  assert.deepEqual((r.claims as any).submods.cpu0['ear.trustworthiness-vector'], { executables: 3, hardware: 2 });
  assert.equal((r.claims as any).submods.cpu0['ear.status'], 'affirming');
});

test('EAR tiers follow the AR4SI bands', () => {
  assert.deepEqual([0, 1, -1, 2, 31, -32, 32, 95, -96, 96, 127].map(tierOf), ['none', 'none', 'none', 'affirming', 'affirming', 'affirming', 'warning', 'warning', 'warning', 'contraindicated', 'contraindicated']);
  assert.equal(statusOf({ executables: 33, hardware: 2 }), 'warning');
});

test('with several stored policies, each appraisal takes its class default and the primary one is named', async () => {
  const stored: Record<string, string> = {};
  // Distinct texts for the named defaults, and decoys under ids a loose lookup would pick.
  for (const id of ['default_cpu', 'default_gpu', 'strict_cpu', 'strict_gpu']) stored[id] = `${defaultAttestationPolicy(id.replace(/^strict_/, 'default_'))}\n# ${id}\n`;
  for (const id of ['default', 'cpu0', 'gpu0', 'default_cpu0', 'default_sample']) stored[id] = 'package policy\n';
  const asked: string[] = [];
  const s = service({}, async (id) => {
    asked.push(id);
    return stored[id];
  });
  const r = await s.evaluate(request(R.with_sample_device.attest_request_body));
  assert.deepEqual(asked, ['default_cpu', 'default_gpu']);
  assert.deepEqual(r.primaryPolicy, { submod: 'cpu0', id: 'default_cpu', text: stored.default_cpu });
  assert.deepEqual(Object.fromEntries(Object.entries(r.policies).map(([k, v]) => [k, v.id])), { cpu0: 'default_cpu', gpu0: 'default_gpu' });
  assert.equal(r.policies.gpu0.text, stored.default_gpu);

  // Another requested policy id names another pair; the primary is still the cpu evidence's.
  asked.length = 0;
  const strict = await s.evaluate({ ...request(R.with_sample_device.attest_request_body), policyIds: ['strict'] });
  assert.deepEqual(asked, ['strict_cpu', 'strict_gpu']);
  assert.deepEqual(strict.primaryPolicy, { submod: 'cpu0', id: 'strict_cpu', text: stored.strict_cpu });

  // A missing class default is an error, not a fall back to another stored policy.
  delete stored.default_gpu;
  await assert.rejects(s.evaluate(request(R.with_sample_device.attest_request_body)), { code: 'AS_POLICY_NOT_FOUND', message: /"default_gpu"/ });
});

test('the default attestation policy of each TEE class is named default_<class>', () => {
  assert.equal(attestationPolicyId('cpu'), 'default_cpu');
  assert.equal(attestationPolicyId('gpu'), 'default_gpu');
  assert.equal(attestationPolicyId('gpu', 'strict'), 'strict_gpu');
  // The built-in policies exist under exactly those names.
  for (const c of ['cpu', 'gpu'] as const) assert.ok(defaultAttestationPolicy(attestationPolicyId(c)));
});

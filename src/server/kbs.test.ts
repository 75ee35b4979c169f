import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { KbsClient } from '../client/kbs-client.js';
import { KbsAdminClient } from '../client/admin-client.js';
import { SampleAttester } from '../tee/sample/attester.js';
import { readVectorJson, vectorPath } from '../test-support/vectors.js';
import { utf8 } from '../formats/bytes.js';
import { startKbs, type Harness } from './test-harness.js';

const harnesses: Harness[] = [];
after(async () => {
  for (const h of harnesses) await h.stop();
});

async function kbs(...args: Parameters<typeof startKbs>): Promise<Harness> {
  const h = await startKbs(...args);
  harnesses.push(h);
  return h;
}

test('a guest fetches a resource over loopback with every TEE key algorithm', async () => {
  const h = await kbs();
  const admin = new KbsAdminClient(h.url, { privateKeyPem: h.adminKeyPem });
  await admin.setResource('default/key/one', utf8.encode('s3cret'));
  for (const alg of ['ec-p256', 'ec-p521', 'rsa'] as const) {
    const c = new KbsClient(h.url, new SampleAttester(), { teeKeyAlgorithm: alg });
    assert.equal(utf8.decode(await c.getResource('default/key/one')), 's3cret', alg);
  }
});

test('init-data and device evidence travel with the attestation and land in the token', async () => {
  const h = await kbs();
  const I = readVectorJson('trustee', 'generated', 'initdata-and-binding.json');
  const c = new KbsClient(h.url, new SampleAttester(), { initData: I.toml, deviceAttesters: [new SampleAttester('sampledevice')] });
  const { token } = await c.attest();
  const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
  assert.deepEqual(Object.keys(claims.submods), ['cpu0', 'gpu0']);
  assert.deepEqual(claims.submods.cpu0['ear.veraison.annotated-evidence'].init_data_claims, I.expected_init_data_claims);
  assert.equal(Buffer.from(claims.submods.cpu0['ear.veraison.annotated-evidence'].init_data, 'base64').toString('hex'), I.digest_sha384_hex);
});

test('the admin API sets an attestation policy and reference values that shape the next token', async () => {
  const h = await kbs();
  const admin = new KbsAdminClient(h.url, { privateKeyPem: h.adminKeyPem });
  await admin.setReferenceValues({ svn: ['1'] });
  assert.deepEqual(await admin.getReferenceValue('svn'), ['1']);
  await admin.setAttestationPolicy('package policy\n\ntrust_claims := {"hardware": 2} if input.sample.svn in query_reference_value("svn")\n');
  const { token } = await new KbsClient(h.url, new SampleAttester()).attest();
  const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
  assert.deepEqual(claims.submods.cpu0['ear.trustworthiness-vector'], { hardware: 2 });
  assert.equal(claims.submods.cpu0['ear.status'], 'affirming');
  await assert.rejects(admin.setAttestationPolicy('package policy\ntrust_claims := {'), /ParsePolicyError.*does not compile/);
  await assert.rejects(admin.setResourcePolicy('allow if {'), /ParsePolicyError/);
});

test('the body limit is configurable', async () => {
  const h = await kbs((c) => {
    c.http_server.payload_request_size = 1 / 1024; // 1 KiB
  });
  const admin = new KbsAdminClient(h.url, { privateKeyPem: h.adminKeyPem });
  await admin.setResource('default/key/small', new Uint8Array(1000));
  await assert.rejects(admin.setResource('default/key/big', new Uint8Array(1025)), /HTTP 413 PayloadTooLarge/);
});

test('Trustee\'s default resource policy file, set unmodified, denies the sample TEE naming the rule', async () => {
  const h = await kbs((c) => {
    c.attestation_service.allow_sample_tee = true;
  });
  const admin = new KbsAdminClient(h.url, { privateKeyPem: h.adminKeyPem });
  await admin.setResource('default/key/one', utf8.encode('x'));
  await admin.setResourcePolicy(readFileSync(vectorPath('rego', 'trustee', 'kbs-resource-policy', 'default.rego'), 'utf8'));
  await assert.rejects(new KbsClient(h.url, new SampleAttester(), { maxAttempts: 1 }).getResource('default/key/one'), /PolicyDeny.*ear.veraison.annotated-evidence.*sample/);
});

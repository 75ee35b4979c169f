import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readVectorJson, vectorPath } from '../test-support/vectors.js';
import { toHex } from '../formats/bytes.js';
import { canonicalize } from '../formats/jcs.js';
import { CocoError } from '../errors.js';
import { deviceRuntimeData, primaryRuntimeData, regularize, runtimeDataDigest } from '../formats/runtime-data.js';
import { agentPolicyClaims, evaluateInitData } from './init-data.js';

const R = readVectorJson('trustee', 'generated', 'rcar-sample-0.4.0.json');
const I = readVectorJson('trustee', 'generated', 'initdata-and-binding.json');

test('primary runtime data canonicalizes and hashes to the vector for SHA-256/384/512', () => {
  const body = R.attest_request_body;
  const obj = primaryRuntimeData(body['runtime-data'].nonce, body['runtime-data']['tee-pubkey'], body['tee-evidence'].additional_evidence);
  assert.equal(canonicalize(obj), R.primary_runtime_data_jcs);
  assert.equal(toHex(runtimeDataDigest(obj, 'sha384')), R.primary_runtime_data_sha384_hex);
  assert.equal(toHex(runtimeDataDigest(obj, 'sha256')), R.primary_runtime_data_sha256_hex);
  assert.equal(toHex(runtimeDataDigest(obj, 'sha512')), R.primary_runtime_data_sha512_hex);
  assert.equal(toHex(regularize(runtimeDataDigest(obj), 64)), R.snp_or_tdx_report_data_hex_64B);
  assert.equal(toHex(regularize(runtimeDataDigest(obj), 32)), R.tpm_quote_nonce_hex_32B);
});

test('device runtime data and the sampledevice variant hash to the vector', () => {
  const body = R.attest_request_body;
  const dev = deviceRuntimeData(body['runtime-data'].nonce, body['runtime-data']['tee-pubkey']);
  assert.equal(canonicalize(dev), R.device_runtime_data_jcs);
  assert.equal(toHex(runtimeDataDigest(dev)), R.device_runtime_data_sha384_hex);
  const w = R.with_sample_device;
  const prim = primaryRuntimeData(w.attest_request_body['runtime-data'].nonce, w.attest_request_body['runtime-data']['tee-pubkey'], w.additional_evidence_string);
  assert.equal(canonicalize(prim), w.primary_runtime_data_jcs);
  assert.equal(toHex(runtimeDataDigest(prim)), w.primary_runtime_data_sha384_hex);
});

test('the upstream JCS unit vector hashes to e71ce8e7…', () => {
  const u = I.upstream_jcs_sha384_unit_test;
  assert.equal(canonicalize(u.object), u.jcs);
  assert.equal(toHex(runtimeDataDigest(u.object)), u.sha384_hex);
});

test('init-data digests are over the raw TOML bytes with the declared algorithm', () => {
  const a = evaluateInitData({ format: 'toml', body: I.toml });
  assert.equal(a.algorithm, 'sha384');
  assert.equal(toHex(a.digest), I.digest_sha384_hex);
  assert.deepEqual(a.claims, I.expected_init_data_claims);
  const b = evaluateInitData({ format: 'toml', body: I.same_toml_with_algorithm_sha256 });
  assert.equal(toHex(b.digest), I.sha256_variant_digest_hex);
});

test('a real CoCo init-data yields its digest and the genpolicy agent policy claims', () => {
  const body = readFileSync(vectorPath('trustee', 'initdata', 'init-data-with-policy.toml'), 'utf8');
  const d = evaluateInitData({ format: 'toml', body });
  assert.equal(toHex(d.digest), I['upstream_vector_init-data-with-policy.toml'].sha256_hex);
  const claims = d.claims.agent_policy_claims as any;
  assert.equal(claims.containers[1].OCI.Process.Args[0], '/opt/bitnami/scripts/nginx/entrypoint.sh');
  assert.equal(d.claims['policy.rego'], undefined);
});

test('init-data in another format, with an IANA hash name or broken TOML is rejected', () => {
  assert.throws(() => evaluateInitData({ format: 'json', body: '{}' }), /must be "toml"/);
  assert.throws(() => evaluateInitData({ format: 'toml', body: I.toml.replace('sha384', 'sha-384') }), /algorithm/);
  assert.throws(() => evaluateInitData({ format: 'toml', body: 'version = ' }), CocoError);
  assert.deepEqual(agentPolicyClaims('policy_data := {"a": [1, "}"]}\n'), { a: [1, '}'] });
  assert.equal(agentPolicyClaims('policy_data := {"a": '), undefined);
});

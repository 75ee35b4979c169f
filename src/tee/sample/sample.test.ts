import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { readVectorJson } from '../../test-support/vectors.js';
import { fromHex } from '../../formats/bytes.js';
import { CocoError } from '../../errors.js';
import { SampleAttester } from './attester.js';
import { SampleVerifier, SampleDeviceVerifier } from './verify.js';

const R = readVectorJson('trustee', 'generated', 'rcar-sample-0.4.0.json');
const now = new Date('2026-01-01T00:00:00Z');

test('the sample attester produces the vector evidence for the vector digest', async () => {
  const ev = await new SampleAttester().getEvidence(fromHex(R.primary_runtime_data_sha384_hex));
  assert.deepEqual(ev, R.attest_request_body['tee-evidence'].primary_evidence);
});

test('the sample verifier accepts the vector evidence and emits Trustee claims', async () => {
  const r = await new SampleVerifier().verify(R.attest_request_body['tee-evidence'].primary_evidence, {
    expectedReportData: fromHex(R.primary_runtime_data_sha384_hex),
    now,
  });
  assert.ok(r.checks.every((c) => c.ok));
  assert.equal(r.teeClass, 'cpu');
  const ear = readVectorJson('trustee', 'generated', 'ear-token-synthetic.json');
  const { report_data, ...rest } = r.claims;
  assert.equal(report_data, ear.claims.submods.cpu0['ear.veraison.annotated-evidence'].report_data);
  assert.deepEqual(rest, ear.claims.submods.cpu0['ear.veraison.annotated-evidence'].sample);
});

test('report_data of another key fails the report-data check with both values', async () => {
  const r = await new SampleVerifier().verify(R.attest_request_body['tee-evidence'].primary_evidence, {
    expectedReportData: fromHex(R.device_runtime_data_sha384_hex),
    now,
  });
  const c = r.checks.find((x) => x.id === 'report-data')!;
  assert.equal(c.ok, false);
  assert.equal(c.actual, R.attest_request_body['tee-evidence'].primary_evidence.report_data);
});

test('sampledevice evidence verifies as class gpu against the device digest', async () => {
  const dev = JSON.parse(R.with_sample_device.additional_evidence_string).sampledevice;
  const r = await new SampleDeviceVerifier().verify(dev, { expectedReportData: fromHex(R.device_runtime_data_sha384_hex), now });
  assert.equal(r.teeClass, 'gpu');
  assert.ok(r.checks.every((c) => c.ok));
});

test('malformed sample evidence is a CocoError, never a crash', async () => {
  await fc.assert(
    fc.asyncProperty(fc.anything(), async (ev) => {
      try {
        const r = await new SampleVerifier().verify(ev, { expectedReportData: new Uint8Array(48), now });
        assert.equal(r.checks[0].ok, false);
      } catch (e) {
        assert.ok(e instanceof CocoError, String(e));
      }
    }),
    { numRuns: 200 },
  );
});

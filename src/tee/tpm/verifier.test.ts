import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { CocoError } from '../../errors.js';
import { failures } from '../../formats/check.js';
import { fromBase64 } from '../../formats/bytes.js';
import { readVectorJson } from '../../test-support/vectors.js';
import { parseAttest } from '../../tpm/attest.js';
import { akFingerprint, createTpmVerifier, tpmEvidenceFromJson } from './index.js';

const vector = readVectorJson('trustee', 'tpm', 'tpm_evidence.json');
// The vector's quote carries a 48-byte SHA-384 runtime-data digest zero-padded to 64 bytes.
const digest = parseAttest(fromBase64(vector.tpm_quote.message)).extraData.subarray(0, 48);
const now = new Date();

test('Trustee\'s TPM evidence verifies with its runtime-data digest, with pcrNN, report_data and AK claims', async () => {
  const r = await createTpmVerifier().verify(vector, { expectedReportData: digest, now });
  assert.deepEqual(failures(r.checks), []);
  assert.deepEqual(r.checks.map((c) => c.id), ['attest-type', 'signature', 'nonce', 'pcr-values', 'pcr-digest']);
  assert.equal(r.claims.pcr00, vector.tpm_quote.pcrs[0]);
  assert.equal(r.claims.pcr23, vector.tpm_quote.pcrs[23]);
  assert.equal(r.claims.init_data, vector.tpm_quote.pcrs[8]);
  assert.equal(r.claims.ak_public, vector.ak_public);
  // No AK is configured: the AK is visible as unanchored, and policy decides.
  assert.equal(r.claims.ak_anchored, false);
  const fp = akFingerprint(fromBase64(vector.ak_public));
  assert.equal(r.claims.ak_fingerprint, fp);
  const anchored = await createTpmVerifier({ trustedAks: [fp] }).verify(vector, { expectedReportData: digest, now });
  assert.equal(anchored.claims.ak_anchored, true);
  const other = await createTpmVerifier({ trustedAks: ['00'.repeat(32)] }).verify(vector, { expectedReportData: digest, now });
  assert.deepEqual(failures(other.checks).map((c) => c.id), ['ak-trusted']);
});

test('another nonce, an altered PCR, a flipped signature and the wrong init-data each fail their check', async () => {
  const v = createTpmVerifier();
  const ids = async (ev: unknown, ctx: { expectedReportData?: Uint8Array; expectedInitDataHash?: Uint8Array } = { expectedReportData: digest }) =>
    failures((await v.verify(ev, { ...ctx, now })).checks).map((c) => c.id);
  assert.deepEqual(await ids(vector, { expectedReportData: randomBytes(48) }), ['nonce']);
  const pcrs = [...vector.tpm_quote.pcrs];
  pcrs[11] = 'ff'.repeat(32);
  assert.deepEqual(await ids({ ...vector, tpm_quote: { ...vector.tpm_quote, pcrs } }), ['pcr-digest']);
  const sig = Buffer.from(vector.tpm_quote.signature, 'base64');
  sig[sig.length - 1] ^= 1;
  assert.deepEqual(await ids({ ...vector, tpm_quote: { ...vector.tpm_quote, signature: sig.toString('base64') } }), ['signature']);
  // PCR 8 of the vector is zero: no init-data was extended, so any expected init-data fails.
  assert.deepEqual(await ids(vector, { expectedReportData: digest, expectedInitDataHash: createHash('sha256').update('x').digest() }), ['init-data']);
  assert.deepEqual(await ids(vector, { expectedReportData: digest, expectedInitDataHash: randomBytes(48) }), ['init-data']);
});

test('malformed TPM evidence is a TPM_EVIDENCE or TPM_FORMAT input error', () => {
  const bads: unknown[] = [null, {}, { ...vector, ak_public: 'AAAA' }, { ...vector, tpm_quote: { ...vector.tpm_quote, pcrs: ['zz'] } }, { ...vector, tpm_quote: { ...vector.tpm_quote, signature: 'AAAA' } }, { ...vector, tpm_quote: 7 }];
  for (const b of bads) assert.throws(() => tpmEvidenceFromJson(b), (e: CocoError) => e instanceof CocoError && e.kind === 'input', JSON.stringify(b)?.slice(0, 80));
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 3 }), (j) => {
      try {
        tpmEvidenceFromJson(j);
      } catch (e) {
        assert.ok(e instanceof CocoError && e.kind === 'input');
      }
    }),
    { numRuns: 200 },
  );
});

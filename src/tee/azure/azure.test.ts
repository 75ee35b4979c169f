import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import fc from 'fast-check';
import { CocoError } from '../../errors.js';
import { failures } from '../../formats/check.js';
import { toBase64Url } from '../../formats/bytes.js';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readVector, readVectorJson, vectorPath } from '../../test-support/vectors.js';
import { defaultVerifiers } from '../../attestation/verifiers.js';
import { createAzSnpVtpmVerifier } from '../az-snp-vtpm/verifier.js';
import { createAzTdxVtpmVerifier } from '../az-tdx-vtpm/verifier.js';
import { pcr8ForInitData } from '../tpm/pcr8.js';
import { azureEvidenceFromJson, hclAkPublic, parseBincodeQuote, parseHclReport } from './index.js';
import { createPublicKey } from 'node:crypto';
import { verifyQuote } from '../../tpm/quote.js';

const expected = readVectorJson('azure', 'expected.json');
const snp = createAzSnpVtpmVerifier();
const tdx = createAzTdxVtpmVerifier();

/** A time inside the VCEK's validity (the samples record none; the VCEK bounds when they could be verified). */
function vcekTime(vcekPem: string): Date {
  const c = new X509Certificate(vcekPem.slice(0, vcekPem.indexOf('-----END CERTIFICATE-----') + 25));
  return new Date(new Date(c.validFrom).getTime() + 86400_000);
}
function timeFor(evidence: any): Date {
  if (typeof evidence.vcek === 'string' && evidence.vcek.includes('BEGIN')) return vcekTime(evidence.vcek);
  const der = Buffer.from(evidence.vcek.replace(/=+$/, ''), 'base64url');
  return new Date(new Date(new X509Certificate(der).validFrom).getTime() + 86400_000);
}

for (const [file, want] of Object.entries<any>(expected.evidence)) {
  const tee = file.includes('az-tdx-vtpm') ? 'az-tdx-vtpm' : 'az-snp-vtpm';
  test(`${tee} verifies ${file} with its expected report data, and claims Trustee's values`, async () => {
    const evidence = readVectorJson('azure', ...file.split('/'));
    const reportData = Buffer.from(want.expected_report_data_hex, 'hex');
    const v = tee === 'az-snp-vtpm' ? snp : tdx;
    const now = tee === 'az-snp-vtpm' ? timeFor(evidence) : new Date();
    const r = await v.verify(evidence, { expectedReportData: reportData, now });
    const bad = failures(r.checks).map((c) => c.id);
    // TDX: everything but the DCAP verification of the TD quote itself.
    assert.deepEqual(bad, tee === 'az-tdx-vtpm' ? ['td-quote'] : [], JSON.stringify(failures(r.checks)));
    const ids = new Set(r.checks.map((c) => c.id));
    for (const id of ['signature', 'nonce', 'pcr-digest', 'runtime-data']) assert.ok(ids.has(id), id);
    if (want.evidence_format_version === 2) assert.ok(ids.has('user-data'));
    if (tee === 'az-snp-vtpm') for (const id of ['chain', 'signature', 'tcb', 'vmpl']) assert.ok(ids.has(id), id);
    else assert.ok(ids.has('td-quote-report-data'));
    const claims = r.claims as any;
    assert.equal(claims.tpm.pcr00, want.expected_claims_subset['tpm.pcr00']);
    assert.equal(claims.tpm.pcr08, want.expected_claims_subset['tpm.pcr08 (init_data PCR)']);
    assert.equal(claims.report_data, want.expected_claims_subset.report_data);
    assert.equal(claims.init_data, want.expected_claims_subset['tpm.pcr08 (init_data PCR)']);
    if (tee === 'az-snp-vtpm') {
      assert.equal(Buffer.from(claims.measurement, 'base64').toString('hex'), want.snp.measurement);
      assert.equal(typeof claims.reported_tcb_snp, 'string');
    }
    // Another nonce (a replay of this evidence to a new session) fails the nonce check only.
    const replay = await v.verify(evidence, { expectedReportData: Buffer.from('another nonce'), now });
    assert.ok(failures(replay.checks).some((c) => c.id === 'nonce'));
  });
}

test('the negative recipes from Trustee\'s tests fail the check they target', async () => {
  const evidence = readVectorJson('azure', 'trustee', 'az-snp-vtpm', 'evidence-v1.json');
  const now = timeFor(evidence);
  const nonce = Buffer.from('challenge');
  const hcl = new Uint8Array(Buffer.from(evidence.hcl_report.replace(/=+$/, ''), 'base64url'));
  const withHcl = (mutate: (b: Uint8Array) => void) => {
    const b = hcl.slice();
    mutate(b);
    return { ...evidence, hcl_report: toBase64Url(b) };
  };
  const failed = async (ev: unknown, reportData: Uint8Array = nonce) => failures((await snp.verify(ev, { expectedReportData: reportData, now })).checks).map((c) => c.id);
  assert.ok((await failed(withHcl((b) => (b[0x1a6] = 0)))).includes('tcb'), 'SNP version mismatch');
  assert.ok((await failed(withHcl((b) => (b[0x6e0] += 1)))).includes('runtime-data'), 'var data digest');
  await assert.rejects(snp.verify(withHcl((b) => (b[0x540] = 0)), { expectedReportData: nonce, now }), (e: CocoError) => e.kind === 'input');
  const sig = evidence.tpm_quote.signature;
  const flipped = { ...evidence, tpm_quote: { ...evidence.tpm_quote, signature: (parseInt(sig[0], 16) ^ 1).toString(16) + sig.slice(1) } };
  assert.deepEqual(await failed(flipped), ['signature']);
  assert.deepEqual(await failed(evidence, Buffer.from('challenge').reverse()), ['nonce']);
  const pcrs = [...evidence.tpm_quote.pcrs];
  pcrs[0] = (parseInt(pcrs[0][0], 16) ^ 1).toString(16) + pcrs[0].slice(1);
  assert.deepEqual(await failed({ ...evidence, tpm_quote: { ...evidence.tpm_quote, pcrs } }), ['pcr-digest']);
  // An init-data digest the PCR 8 does not carry fails init-data; Trustee's PCR 8 vector holds.
  assert.deepEqual(failures((await snp.verify(evidence, { expectedReportData: nonce, expectedInitDataHash: new Uint8Array(32).fill(1), now })).checks).map((c) => c.id), ['init-data']);
  assert.equal(
    Buffer.from(pcr8ForInitData(Buffer.from('8505e4e25e50a27c5dc8147af88efbece627fbea55291911eff832d9ee127781', 'hex'))).toString('hex'),
    'bddaccb9c52249e97a31baea61b7d91be8221a16e703d92148d04fb8e9c1dfdd',
  );
  // Verified at a time outside the VCEK's validity, the chain's validity check fails.
  const early = await snp.verify(evidence, { expectedReportData: nonce, now: new Date('2000-01-01T00:00:00Z') });
  assert.ok(failures(early.checks).some((c) => c.id === 'validity'));
});

test('HCL reports parse: SNP and TDX, the AK JWK, the runtime data bound in REPORT_DATA', () => {
  for (const [f, type] of [['hcl-report-snp.bin', 'snp'], ['hcl-report-tdx.bin', 'tdx']] as const) {
    const r = parseHclReport(new Uint8Array(readVector('azure', 'azure-cvm-tooling', f)));
    assert.equal(r.reportType, type);
    assert.equal(r.igvm.variableDataSize, expected.azure_cvm_tooling[f].var_data_size);
    assert.equal(hclAkPublic(r).asymmetricKeyType, 'rsa');
  }
  const bytes = new Uint8Array(readVector('azure', 'trustee', 'az-snp-vtpm', 'hcl-report.bin'));
  const isInput = (e: unknown) => e instanceof CocoError && e.kind === 'input';
  for (let n = 0; n < 0x4d4 + 10; n += 7) assert.throws(() => parseHclReport(bytes.subarray(0, n)), isInput);
  const badMagic = bytes.slice();
  badMagic[0] = 0;
  assert.throws(() => parseHclReport(badMagic), (e: CocoError) => e.code === 'HCL_REPORT' && /HCLA/.test(e.message));
  const bigVar = bytes.slice();
  new DataView(bigVar.buffer).setUint32(0x4d0, 0xffffffff, true);
  assert.throws(() => parseHclReport(bigVar), (e: CocoError) => e.code === 'HCL_REPORT' && /does not fit/.test(e.message));
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0x4d4 + 700 }), fc.integer({ min: 1, max: 255 }), (i, x) => {
      const b = bytes.slice();
      b[i] ^= x;
      try {
        hclAkPublic(parseHclReport(b));
      } catch (e) {
        assert.ok(isInput(e), String(e));
      }
    }),
    { numRuns: 300 },
  );
});

test('malformed Azure evidence JSON is an AZ_EVIDENCE input error', () => {
  const v1 = readVectorJson('azure', 'trustee', 'az-snp-vtpm', 'evidence-v1.json');
  const bads: unknown[] = [null, [], 'x', {}, { version: 3 }, { ...v1, tpm_quote: { ...v1.tpm_quote, pcrs: v1.tpm_quote.pcrs.slice(1) } }, { ...v1, tpm_quote: { ...v1.tpm_quote, signature: 'zz' } }, { ...v1, hcl_report: '***' }, { quote: { signature: [256], message: [], pcrs: [] } }];
  for (const b of bads) assert.throws(() => azureEvidenceFromJson(b, 'snp'), (e: CocoError) => e.code === 'AZ_EVIDENCE' && e.kind === 'input', JSON.stringify(b)?.slice(0, 60));
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 3 }), (j) => {
      try {
        azureEvidenceFromJson(j, 'tdx');
      } catch (e) {
        assert.ok(e instanceof CocoError && e.kind === 'input');
      }
    }),
    { numRuns: 200 },
  );
});

test('bincode quotes verify with the AK of their HCL report (or akpub.pem), over the nonce "challenge"', () => {
  const nonce = Buffer.from('challenge');
  const cases: [Uint8Array, ReturnType<typeof hclAkPublic>][] = [
    [new Uint8Array(readVector('azure', 'trustee', 'az-snp-vtpm', 'quote.bin')), hclAkPublic(parseHclReport(new Uint8Array(readVector('azure', 'trustee', 'az-snp-vtpm', 'hcl-report.bin'))))],
    [new Uint8Array(readVector('azure', 'trustee', 'az-tdx-vtpm', 'quote.bin')), hclAkPublic(parseHclReport(new Uint8Array(readVector('azure', 'trustee', 'az-tdx-vtpm', 'hcl-report.bin'))))],
    [new Uint8Array(readVector('azure', 'azure-cvm-tooling', 'quote.bin')), createPublicKey(readVector('azure', 'azure-cvm-tooling', 'akpub.pem'))],
  ];
  for (const [bytes, ak] of cases) {
    const q = parseBincodeQuote(bytes);
    const pcrs = new Map([['sha256', new Map(q.pcrs.map((p, i) => [i, p] as const))]]);
    const v = verifyQuote({ attest: q.message, signature: { sigAlg: 0x0014, hash: 0x000b, sig: q.signature }, ak, nonce, pcrs });
    assert.deepEqual(failures(v.checks), []);
    for (let n = 0; n < bytes.length; n += 97) assert.throws(() => parseBincodeQuote(bytes.subarray(0, n)), (e: CocoError) => e.code === 'AZ_EVIDENCE');
  }
  // The azure-cvm-tooling quote comes from another VM than its HCL reports: their AK does not verify it.
  const other = hclAkPublic(parseHclReport(new Uint8Array(readVector('azure', 'azure-cvm-tooling', 'hcl-report-snp.bin'))));
  const q = parseBincodeQuote(new Uint8Array(readVector('azure', 'azure-cvm-tooling', 'quote.bin')));
  assert.deepEqual(failures(verifyQuote({ attest: q.message, signature: { sigAlg: 0x0014, hash: 0x000b, sig: q.signature }, ak: other }).checks).map((c) => c.id), ['signature']);
});

test('the HCL report and tpm-quote-v1.json pair verifies together; tpm-quote.msg parses but no sample AK signs it', () => {
  const hcl = parseHclReport(new Uint8Array(readVector('azure', 'trustee', 'az-snp-vtpm', 'hcl-report.bin')));
  const q = readVectorJson('azure', 'trustee', 'az-snp-vtpm', 'tpm-quote-v1.json');
  const pcrs = new Map([['sha256', new Map((q.pcrs as string[]).map((p, i) => [i, new Uint8Array(Buffer.from(p, 'hex'))] as const))]]);
  const v = verifyQuote({ attest: Buffer.from(q.message, 'hex'), signature: { sigAlg: 0x0014, hash: 0x000b, sig: Buffer.from(q.signature, 'hex') }, ak: hclAkPublic(hcl), nonce: Buffer.from('challenge'), pcrs });
  assert.deepEqual(failures(v.checks), []);
  const msg = new Uint8Array(readVector('azure', 'trustee', 'az-snp-vtpm', 'tpm-quote.msg'));
  const orphan = verifyQuote({ attest: msg, signature: { sigAlg: 0x0014, hash: 0x000b, sig: new Uint8Array(readVector('azure', 'trustee', 'az-snp-vtpm', 'tpm-quote.sig')) }, ak: hclAkPublic(hcl), nonce: Buffer.from('challenge') });
  assert.deepEqual(failures(orphan.checks).map((c) => c.id), ['signature']);
});

test('with the TDX verification wired in (the default registry), Azure TDX evidence fails only for want of collateral', async () => {
  const v = defaultVerifiers().get('az-tdx-vtpm');
  for (const f of ['evidence-v0.json', 'evidence-v1.json']) {
    const r = await v.verify(readVectorJson('azure', 'trustee', 'az-tdx-vtpm', f), { expectedReportData: Buffer.from('challenge'), now: new Date('2025-06-01T00:00:00Z') });
    assert.deepEqual(failures(r.checks).map((c) => c.id), ['collateral'], f);
    const ids = new Set(r.checks.map((c) => c.id));
    for (const id of ['td-quote-report-data', 'pck-chain', 'qe-report-signature', 'quote-signature', 'signature', 'runtime-data']) assert.ok(ids.has(id), id);
    // The vTPM side's report_data (the quote nonce) overrides the TD quote's, as in Trustee.
    assert.equal((r.claims as any).report_data, Buffer.from('challenge').toString('hex'));
  }
});

test('with its platform\'s collateral (FMSPC 00806f050000 in the TDX vectors) the Azure TD quote verifies completely: TCB OutOfDate', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-az-tdx-'));
  try {
    mkdirSync(join(dir, 'tdx'));
    copyFileSync(vectorPath('tdx', 'gotdx-cos113-ccel.collateral.json'), join(dir, 'tdx', '00806f050000-platform.collateral.json'));
    const v = defaultVerifiers({ tdx: { collateralDir: dir } }).get('az-tdx-vtpm');
    const evidence = readVectorJson('azure', 'trustee', 'az-tdx-vtpm', 'evidence-v1.json');
    const ctx = { expectedReportData: Buffer.from('challenge'), now: new Date('2025-11-01T00:00:00Z') };
    const r = await v.verify(evidence, ctx);
    assert.deepEqual(failures(r.checks), []);
    const ids = new Set(r.checks.map((c) => c.id));
    for (const id of ['pck-chain', 'qe-report-signature', 'quote-signature', 'td-quote-report-data', 'tcb-status', 'collateral-validity', 'signature', 'nonce', 'runtime-data']) assert.ok(ids.has(id), id);
    const claims = r.claims as any;
    assert.equal(claims.tcb_status, 'OutOfDate');
    assert.deepEqual(claims.advisory_ids, ['INTEL-SA-00960', 'INTEL-SA-00982', 'INTEL-SA-00986']);
    assert.equal(claims.collateral_expiration_status, '0');
    // After the bundle's window (TCB Info and QE Identity next updates in November 2025) it is stale.
    const late = await v.verify(evidence, { ...ctx, now: new Date('2025-12-01T00:00:00Z') });
    assert.deepEqual(failures(late.checks).map((c) => c.id), ['collateral-validity']);
    // A flipped byte of the TD quote's body breaks its signature, whatever the collateral.
    const td = Buffer.from(evidence.td_quote.replace(/=+$/, ''), 'base64url');
    td[48 + 136] ^= 1;
    const forged = await v.verify({ ...evidence, td_quote: toBase64Url(td) }, ctx);
    assert.ok(failures(forged.checks).some((c) => c.id === 'quote-signature'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

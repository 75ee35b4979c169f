/**
 * Azure confidential VM evidence (the published az-snp-vtpm and az-tdx-vtpm samples) through the real KBS
 * HTTP path: auth → attest → resource, with the default verifier registry and policies.
 *
 * The samples were recorded for challenges of their own, so each KBS here is opened with
 * `recordedEvidence` (its challenges are the samples' report data) and with its clock at a time the samples'
 * certificates and collateral were valid. A fresh KBS per case: a challenge is consumed by its first attestation.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { KbsClient } from '../client/kbs-client.js';
import { KbsAdminClient } from '../client/admin-client.js';
import { toBase64, toBase64Url, utf8 } from '../formats/bytes.js';
import { PROTOCOL_VERSION } from './app.js';
import { defaultVerifiers } from '../attestation/verifiers.js';
import type { Attester } from '../tee/verifier.js';
import { readVectorJson, vectorPath } from '../test-support/vectors.js';
import { startKbs, type Harness } from './test-harness.js';

const expected = readVectorJson('azure', 'expected.json');
const SNP_FILES = ['evidence-v0.json', 'evidence-v1.json', 'evidence-v2.json', 'evidence-genoa.json'];
const TDX_FILES = ['evidence-v0.json', 'evidence-v1.json'];

/**
 * The Azure TD quote's platform (FMSPC 00806f050000, PCK Platform CA) is the one of the TDX vectors'
 * `gotdx-cos113-ccel` collateral; the collateral bundle is valid from 2025-10-19 to 2025-11-12.
 */
const TDX_TIME = new Date('2025-11-01T00:00:00Z');
const collateralDir = mkdtempSync(join(tmpdir(), 'cocokit-az-tdx-collateral-'));
mkdirSync(join(collateralDir, 'tdx'));
copyFileSync(vectorPath('tdx', 'gotdx-cos113-ccel.collateral.json'), join(collateralDir, 'tdx', '00806f050000-platform.collateral.json'));
after(() => rmSync(collateralDir, { recursive: true, force: true }));

/** The samples record no time: a day after their VCEK became valid is a time the SNP chain verifies at. */
function snpTime(evidence: any): Date {
  const pem = typeof evidence.vcek === 'string' && evidence.vcek.includes('BEGIN') ? evidence.vcek.slice(0, evidence.vcek.indexOf('-----END CERTIFICATE-----') + 25) : undefined;
  const cert = new X509Certificate(pem ?? Buffer.from(evidence.vcek.replace(/=+$/, ''), 'base64url'));
  return new Date(new Date(cert.validFrom).getTime() + 86_400_000);
}

/** A guest that answers every challenge with the same recorded evidence. */
class RecordedAttester implements Attester {
  constructor(
    readonly tee: string,
    private readonly evidence: unknown,
  ) {}
  async getEvidence(): Promise<unknown> {
    return this.evidence;
  }
}

interface Case {
  tee: 'az-snp-vtpm' | 'az-tdx-vtpm';
  file: string;
  evidence: any;
  reportData: Buffer;
  time: Date;
}

function vector(tee: Case['tee'], file: string): Case {
  const evidence = readVectorJson('azure', 'trustee', tee, file);
  const reportData = Buffer.from(expected.evidence[`trustee/${tee}/${file}`].expected_report_data_hex, 'hex');
  return { tee, file, evidence, reportData, time: tee === 'az-snp-vtpm' ? snpTime(evidence) : TDX_TIME };
}

/**
 * A production-configured KBS (no sample TEE, default registry with TDX collateral) whose challenges are
 * `challenge` and whose clock is moved to `time` once the admin set-up (made at the real time) is done.
 */
async function kbsFor(c: Case, setup: (admin: KbsAdminClient) => Promise<void>, challenge: Buffer = c.reportData): Promise<Harness> {
  const h = await startKbs(
    (cfg) => {
      cfg.attestation_service.allow_sample_tee = false;
      cfg.attestation_service.tdx_collateral_cache = collateralDir;
    },
    { recordedEvidence: { challenge: () => challenge } },
  );
  try {
    const admin = new KbsAdminClient(h.url, { privateKeyPem: h.adminKeyPem });
    await admin.setResource('default/key/azure', utf8.encode(`released to ${c.tee}`));
    await setup(admin);
  } catch (e) {
    await h.stop();
    throw e;
  }
  h.clock.now = c.time;
  return h;
}

/** The claims the default registry's verifier reads from the sample (for the reference values a deployment lists). */
async function claimsOf(c: Case): Promise<any> {
  const r = await defaultVerifiers({ tdx: { collateralDir } }).get(c.tee).verify(c.evidence, { expectedReportData: c.reportData, now: c.time });
  return r.claims;
}

function submod(token: string): any {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).submods.cpu0;
}

for (const file of SNP_FILES) {
  test(`az-snp-vtpm ${file}: auth → attest → resource over HTTP releases the secret once its platform is listed`, async () => {
    const c = vector('az-snp-vtpm', file);
    const claims = await claimsOf(c);
    // The launch measurement is the sample's recorded one (expected.json), not merely what the verifier read.
    assert.equal(Buffer.from(claims.measurement, 'base64').toString('hex'), expected.evidence[`trustee/az-snp-vtpm/${file}`].snp.measurement);
    const pcrs: string[] = c.evidence.tpm_quote ? c.evidence.tpm_quote.pcrs : c.evidence.quote.pcrs.map((p: number[]) => Buffer.from(p).toString('hex'));
    const h = await kbsFor(c, (admin) =>
      admin.setReferenceValues({
        measurement: [claims.measurement],
        snp_pcr11: [pcrs[11]],
        tcb_bootloader: [claims.reported_tcb_bootloader],
        tcb_microcode: [claims.reported_tcb_microcode],
        tcb_snp: [claims.reported_tcb_snp],
        tcb_tee: [claims.reported_tcb_tee],
        smt_enabled: [claims.platform_smt_enabled],
        tsme_enabled: [claims.platform_tsme_enabled],
        abi_major: [claims.policy_abi_major],
        abi_minor: [claims.policy_abi_minor],
        single_socket: [claims.policy_single_socket],
        smt_allowed: [claims.policy_smt_allowed],
      }),
    );
    try {
      const guest = new KbsClient(h.url, new RecordedAttester(c.tee, c.evidence), { maxAttempts: 1 });
      const { token } = await guest.attest();
      const s = submod(token);
      assert.equal(s['ear.status'], 'affirming');
      const ae = s['ear.veraison.annotated-evidence'];
      assert.equal(ae['az-snp-vtpm'].tpm.pcr00, expected.evidence[`trustee/az-snp-vtpm/${file}`].expected_claims_subset['tpm.pcr00']);
      assert.equal(ae.report_data, c.reportData.toString('hex'));
      assert.equal(await guest.getResourceText('default/key/azure'), 'released to az-snp-vtpm');
      // The same recorded evidence in a second session (the KBS issues the same challenge) is a replay.
      const again = new KbsClient(h.url, new RecordedAttester(c.tee, c.evidence), { maxAttempts: 1 });
      await assert.rejects(again.attest(), /already used/);
    } finally {
      await h.stop();
    }
  });
}

for (const file of TDX_FILES) {
  test(`az-tdx-vtpm ${file}: the TD quote verifies with its platform's collateral; the default policy refuses its OutOfDate TCB, a deployment policy that accepts it releases the secret`, async () => {
    const c = vector('az-tdx-vtpm', file);
    const h = await kbsFor(c, async () => undefined);
    try {
      const guest = new KbsClient(h.url, new RecordedAttester(c.tee, c.evidence), { maxAttempts: 1 });
      const session = await guest.attest();
      const s = submod(session.token);
      const ae = s['ear.veraison.annotated-evidence']['az-tdx-vtpm'];
      assert.equal(s['ear.veraison.annotated-evidence'].report_data, c.reportData.toString('hex'));
      // The whole DCAP verification ran: TCB status and collateral freshness are claims.
      assert.equal(ae.tcb_status, 'OutOfDate');
      assert.equal(ae.collateral_expiration_status, '0');
      assert.deepEqual(ae.advisory_ids, ['INTEL-SA-00960', 'INTEL-SA-00982', 'INTEL-SA-00986']);
      assert.equal(ae.tpm.pcr00, expected.evidence[`trustee/az-tdx-vtpm/${file}`].expected_claims_subset['tpm.pcr00']);
      assert.equal(s['ear.status'], 'contraindicated');
      // Asked directly (the client would re-attest on the 401), the default resource policy refuses.
      const denied = await fetch(`${h.url}/kbs/v0/resource/default/key/azure`, { headers: { cookie: `kbs-session-id=${session.cookie}` } });
      assert.equal(denied.status, 401);
      assert.match(((await denied.json()) as { detail: string }).detail, /resource policy denied/);
      // A deployment that knowingly accepts this platform's TCB for a listed PCR 11 says so in its resource policy.
      const policy = [
        'package policy',
        'import rego.v1',
        'default allow := false',
        'allow if {',
        '  ae := input.submods.cpu0["ear.veraison.annotated-evidence"]["az-tdx-vtpm"]',
        '  ae.tcb_status in {"UpToDate", "OutOfDate"}',
        '  ae.collateral_expiration_status == "0"',
        `  ae.tpm.pcr11 == "${ae.tpm.pcr11}"`,
        '}',
      ].join('\n');
      h.clock.now = new Date();
      await new KbsAdminClient(h.url, { privateKeyPem: h.adminKeyPem }).setResourcePolicy(policy);
      h.clock.now = c.time;
      assert.equal(await guest.getResourceText('default/key/azure'), 'released to az-tdx-vtpm');
      const again = new KbsClient(h.url, new RecordedAttester(c.tee, c.evidence), { maxAttempts: 1 });
      await assert.rejects(again.attest(), /already used/);
    } finally {
      await h.stop();
    }
  });
}

/** `evidence` (v1 form) with one byte of a hex or base64url field changed. */
function flipped(evidence: any, field: 'tpm_quote.message' | 'hcl_report' | 'td_quote', at: number): any {
  if (field === 'tpm_quote.message') {
    const b = Buffer.from(evidence.tpm_quote.message, 'hex');
    b[at] ^= 1;
    return { ...evidence, tpm_quote: { ...evidence.tpm_quote, message: b.toString('hex') } };
  }
  const b = Buffer.from(evidence[field].replace(/=+$/, ''), 'base64url');
  b[at] ^= 1;
  return { ...evidence, [field]: toBase64Url(b) };
}

/** One attestation of `evidence` against a fresh KBS for case `c`; resolves to the refusal's message. */
async function refusal(c: Case, evidence: unknown, challenge?: Buffer): Promise<string> {
  const h = await kbsFor(c, async () => undefined, challenge);
  try {
    const guest = new KbsClient(h.url, new RecordedAttester(c.tee, evidence), { maxAttempts: 1 });
    const err = await guest.attest().then(
      () => undefined,
      (e: Error) => e,
    );
    assert.ok(err, 'the KBS must refuse');
    assert.match(err.message, /\b401\b/);
    return err.message;
  } finally {
    await h.stop();
  }
}

// TPMS_ATTEST with a 9-byte extraData: magic 0..3, type 4..5, qualifiedSigner 6..41, extraData 42..52,
// clockInfo 53..69. A flipped clock byte breaks only the AK signature.
const CLOCK_BYTE = 55;
// HCL report: the hardware report at 0x20 (SNP: MEASUREMENT at report offset 0x90; TDX: TDREPORT), runtime
// data (holding the AK) from 0x4D4.
const HW_REPORT = 0x20;
const RUNTIME_DATA_BYTE = 0x6e0;

test('az-snp-vtpm over HTTP: a flipped byte in the vTPM quote, the HCL runtime data or the SNP report, a wrong challenge, and a forged nonce are refused', async () => {
  const c = vector('az-snp-vtpm', 'evidence-v1.json');
  assert.match(await refusal(c, flipped(c.evidence, 'tpm_quote.message', CLOCK_BYTE)), /az-snp-vtpm evidence failed check "signature": RSASSA signature does not verify/);
  assert.match(await refusal(c, flipped(c.evidence, 'hcl_report', RUNTIME_DATA_BYTE)), /failed check "runtime-data"/);
  assert.match(await refusal(c, flipped(c.evidence, 'hcl_report', HW_REPORT + 0x90)), /failed check "signature": ECDSA P-384/);
  // The KBS asked for another challenge than the one the quote carries.
  assert.match(await refusal(c, c.evidence, Buffer.from('challengf')), /failed check "nonce"/);
  // A client that answers with a nonce of its own choosing, not the session's.
  const h = await kbsFor(c, async () => undefined);
  try {
    const auth = await fetch(`${h.url}/kbs/v0/auth`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ version: PROTOCOL_VERSION, tee: c.tee, 'extra-params': '' }) });
    assert.equal(auth.status, 200);
    assert.equal(((await auth.json()) as { nonce: string }).nonce, toBase64(c.reportData));
    const cookie = /kbs-session-id=([^;]+)/.exec(auth.headers.get('set-cookie') ?? '')![1];
    const teePubkey = { kty: 'EC', crv: 'P-256', alg: 'ECDH-ES+A256KW', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0' };
    const res = await fetch(`${h.url}/kbs/v0/attest`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie: `kbs-session-id=${cookie}` },
      body: JSON.stringify({ 'init-data': null, 'runtime-data': { nonce: toBase64(Buffer.from('another')), 'tee-pubkey': teePubkey }, 'tee-evidence': { primary_evidence: c.evidence, additional_evidence: '' } }),
    });
    assert.equal(res.status, 401);
    assert.match(((await res.json()) as { detail: string }).detail, /nonce does not match the challenge/);
  } finally {
    await h.stop();
  }
});

test('az-tdx-vtpm over HTTP: a flipped byte in the vTPM quote, the HCL runtime data, the TDREPORT or the TD quote, and a wrong challenge are refused', async () => {
  const c = vector('az-tdx-vtpm', 'evidence-v1.json');
  assert.match(await refusal(c, flipped(c.evidence, 'tpm_quote.message', CLOCK_BYTE)), /az-tdx-vtpm evidence failed check "signature": RSASSA signature does not verify/);
  assert.match(await refusal(c, flipped(c.evidence, 'hcl_report', RUNTIME_DATA_BYTE)), /failed check "runtime-data"/);
  // TDREPORT REPORTDATA (offset 128): no longer the TD quote's, nor SHA-256 of the runtime data.
  assert.match(await refusal(c, flipped(c.evidence, 'hcl_report', HW_REPORT + 128)), /failed check "runtime-data"/);
  // MRTD in the TD quote body (header 48 bytes, MRTD at body offset 136): the quote signature breaks.
  assert.match(await refusal(c, flipped(c.evidence, 'td_quote', 48 + 136)), /failed check "quote-signature"/);
  assert.match(await refusal(c, c.evidence, Buffer.from('challengf')), /failed check "nonce"/);
});

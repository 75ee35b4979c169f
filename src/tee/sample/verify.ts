/**
 * The `sample` and `sampledevice` verifiers. There is no hardware root of trust: the only check is that
 * `report_data` (standard base64) decodes to exactly the expected runtime-data digest (specs/kbs-protocol.md
 * §1.5 table, "base64-decode == digest exactly"). Init-data is not bound by this TEE (§1.6: Trustee only
 * warns), so the check list says so instead of pretending.
 */
import { check, type Check } from '../../formats/check.js';
import { fromBase64, toBase64, bytesEqual } from '../../formats/bytes.js';
import { CocoError } from '../../errors.js';
import type { TeeVerifier, VerifierResult, VerifyContext } from '../verifier.js';
import { parseSampleEvidence } from './format.js';
import { sampleClaims, sampleDeviceClaims } from './claims.js';

function reportDataCheck(reportData: string, expected: Uint8Array | undefined, tee: string): Check {
  if (!expected) return check('report-data', true, 'no runtime data to bind');
  let actual: Uint8Array;
  try {
    actual = fromBase64(reportData, `${tee} report_data`);
  } catch (e) {
    if (e instanceof CocoError) return check('report-data', false, e.message, { expected: toBase64(expected), actual: reportData });
    throw e;
  }
  return check('report-data', bytesEqual(actual, expected), 'report_data equals the runtime-data digest', {
    expected: toBase64(expected),
    actual: reportData,
  });
}

export class SampleVerifier implements TeeVerifier {
  readonly tee = 'sample';

  async verify(evidence: unknown, ctx: VerifyContext): Promise<VerifierResult> {
    const e = parseSampleEvidence(evidence, this.tee);
    const checks = [reportDataCheck(e.report_data, ctx.expectedReportData, this.tee)];
    if (ctx.expectedInitDataHash) checks.push(check('init-data', true, 'the sample TEE does not bind init-data; its digest is reported as a claim'));
    return { checks, claims: sampleClaims(e, ctx.expectedInitDataHash), teeClass: 'cpu' };
  }
}

export class SampleDeviceVerifier implements TeeVerifier {
  readonly tee = 'sampledevice';

  async verify(evidence: unknown, ctx: VerifyContext): Promise<VerifierResult> {
    const e = parseSampleEvidence(evidence, this.tee);
    return { checks: [reportDataCheck(e.report_data, ctx.expectedReportData, this.tee)], claims: sampleDeviceClaims(e), teeClass: 'gpu' };
  }
}

/**
 * The checks both Azure flavours make on the vTPM side (specs/measured-boot.md §4.7 steps 1–5 and 8): the
 * quote signed by the HCL report's HCLAkPub (RSASSA-SHA256, raw signature), its extraData equal to the
 * runtime-data digest byte for byte, pcrDigest over the 24 PCRs, SHA-256(runtime data) in the hardware
 * report's REPORT_DATA, the v2 `user-data` binding, and init-data through PCR 8.
 */
import { createHash } from 'node:crypto';
import { bytesEqual, isAllZero, toHex } from '../../formats/bytes.js';
import { check, type Check } from '../../formats/check.js';
import { verifyQuote } from '../../tpm/quote.js';
import type { TpmsAttest } from '../../tpm/attest.js';
import type { VerifyContext } from '../verifier.js';
import { initDataPcr8Check, pcrClaims } from '../tpm/pcr8.js';
import type { AzureEvidence } from './evidence.js';
import { hclAkPublic, hwReportData, parseHclReport, type HclReport, type HclReportType } from './hcl.js';

export interface VtpmVerification {
  checks: Check[];
  hcl: HclReport;
  attest: TpmsAttest;
  /** `tpm`, `init_data` and `report_data` claims that override the hardware ones (§4.7 item 9). */
  claims: Record<string, unknown>;
}

export function verifyAzureVtpm(ev: AzureEvidence, kind: HclReportType, ctx: VerifyContext): VtpmVerification {
  const hcl = parseHclReport(ev.hclReport);
  const checks: Check[] = [check('hcl-report-type', hcl.reportType === kind, `the HCL report carries a ${kind.toUpperCase()} hardware report`, { expected: kind, actual: hcl.reportType })];
  const ak = hclAkPublic(hcl);
  const pcrs = new Map([['sha256', new Map(ev.quote.pcrs.map((v, i) => [i, v] as const))]]);
  // The Azure attester passes the runtime-data digest unpadded as qualifying data (§4.5).
  const q = verifyQuote({ attest: ev.quote.message, signature: { sigAlg: 0x0014, hash: 0x000b, sig: ev.quote.signature }, ak, pcrs, ...(ctx.expectedReportData ? { nonce: ctx.expectedReportData } : {}) });
  checks.push(...q.checks);
  const varDigest = new Uint8Array(createHash('sha256').update(hcl.variableData).digest());
  const reportData = hwReportData(hcl);
  checks.push(
    check('runtime-data', bytesEqual(reportData.subarray(0, 32), varDigest), 'the hardware report\'s REPORT_DATA starts with SHA-256 of the HCL runtime data (which holds the AK)', {
      expected: toHex(varDigest),
      actual: toHex(reportData.subarray(0, 32)),
    }),
  );
  if (ev.version >= 2 && ctx.expectedReportData !== undefined) {
    const ud = hcl.runtime.userData;
    const ok = ud !== undefined && ud.length >= ctx.expectedReportData.length && bytesEqual(ud.subarray(0, ctx.expectedReportData.length), ctx.expectedReportData);
    checks.push(check('user-data', ok, 'the HCL runtime data\'s user-data starts with the runtime-data digest (evidence v2)', { expected: toHex(ctx.expectedReportData), actual: ud === undefined ? 'none' : toHex(ud) }));
  }
  checks.push(...initDataPcr8Check(ev.quote.pcrs[8], ctx.expectedInitDataHash));
  const claims = {
    tpm: pcrClaims(ev.quote.pcrs),
    init_data: toHex(ev.quote.pcrs[8]),
    report_data: toHex(q.attest.extraData),
    ...(hcl.runtime.vmConfiguration ? { vm_configuration: hcl.runtime.vmConfiguration } : {}),
    ...(hcl.runtime.userData && !isAllZero(hcl.runtime.userData) ? { hcl_user_data: toHex(hcl.runtime.userData) } : {}),
  };
  return { checks, hcl, attest: q.attest, claims };
}

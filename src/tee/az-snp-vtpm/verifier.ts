/**
 * `tee: "az-snp-vtpm"` (specs/measured-boot.md §4.7): an Azure SEV-SNP confidential VM's vTPM quote, bound
 * through the HCL report to an SNP report that `tee/snp` verifies (AMD chain, VCEK, signature, TCB), at
 * VMPL 0. Claims are Trustee's: the SNP claims as strings (byte fields in standard base64), then `tpm`,
 * `init_data` and `report_data` from the vTPM side.
 */
import { toBase64 } from '../../formats/bytes.js';
import { check } from '../../formats/check.js';
import { azureEvidenceFromJson } from '../azure/evidence.js';
import { verifyAzureVtpm } from '../azure/vtpm.js';
import { snpClaims } from '../snp/claims.js';
import type { RootSet } from '../snp/certs.js';
import { parseReport } from '../snp/format.js';
import { validateReport } from '../snp/validate.js';
import { verifyReport } from '../snp/verify.js';
import type { TeeVerifier, VerifierResult, VerifyContext } from '../verifier.js';

export interface AzSnpVtpmVerifierConfig {
  /** Trust anchors; the genuine AMD roots when absent. */
  roots?: RootSet;
}

/** Trustee's az-snp-vtpm claim encoding: scalars as strings, measurement/report_data/init_data base64. */
function stringClaims(c: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(c)) {
    if (k === 'measurement' || k === 'report_data' || k === 'init_data') out[k] = toBase64(Buffer.from(String(v), 'hex'));
    else if (typeof v === 'number' || typeof v === 'boolean') out[k] = String(v);
    else out[k] = v;
  }
  return out;
}

export function createAzSnpVtpmVerifier(config: AzSnpVtpmVerifierConfig = {}): TeeVerifier {
  return {
    tee: 'az-snp-vtpm',
    async verify(evidence: unknown, ctx: VerifyContext): Promise<VerifierResult> {
      const ev = azureEvidenceFromJson(evidence, 'snp');
      const vtpm = verifyAzureVtpm(ev, 'snp', ctx);
      if (vtpm.hcl.reportType !== 'snp') return { checks: vtpm.checks, claims: {}, teeClass: 'cpu' };
      const raw = vtpm.hcl.hwReport;
      const report = parseReport(raw);
      const versionCheck = check('report-version', report.version >= 3, 'SNP report version 3 or later (it names its CPU generation)', { expected: '>= 3', actual: String(report.version) });
      const v = verifyReport(report, { now: ctx.now, raw, ...(ev.vcek ? { vek: ev.vcek } : {}), ...(config.roots ? { roots: config.roots } : {}) });
      // REPORT_DATA carries the runtime-data hash and HOST_DATA is unused: only the VMPL is an expectation here.
      const expectations = validateReport(v.report, { vmpl: 0 }, v.product);
      const claims = { ...stringClaims(snpClaims(v.report, v.product)), ...vtpm.claims };
      return { checks: [...vtpm.checks, versionCheck, ...v.checks, ...expectations], claims, teeClass: 'cpu' };
    },
  };
}

export const azSnpVtpmVerifier: TeeVerifier = createAzSnpVtpmVerifier();

/**
 * `tee: "snp"` for the Attestation Service: Trustee's SNP verifier flow (kbs-protocol.md §3.2, snp.md §1.9)
 * over the CoCo JSON evidence — rebuild the ABI report, verify the AMD chain, signature, TCB and chip
 * binding, require VMPL 0, bind REPORT_DATA to the runtime-data digest and HOST_DATA to the init-data
 * digest, and emit Trustee's claims.
 */
import { check } from '../../formats/check.js';
import type { TeeVerifier, VerifierResult, VerifyContext } from '../verifier.js';
import { snpClaims } from './claims.js';
import { evidenceFromJson } from './evidence.js';
import { serializeReport } from './format.js';
import type { RootSet } from './certs.js';
import { validateReport } from './validate.js';
import { verifyReport } from './verify.js';

export interface SnpVerifierConfig {
  /**
   * Trust anchors. The genuine AMD roots when absent; another set (e.g. the test root of `test-root.ts`)
   * only when a deployment passes it explicitly.
   */
  roots?: RootSet;
  /** Offline VCEK cache in Trustee's layout, used when the evidence carries no VCEK. */
  cacheDir?: string;
  /** Lowest accepted report version; Trustee's is 3 (v2 reports do not name their CPU, snp.md §1.1). */
  minReportVersion?: number;
}

export function createSnpVerifier(config: SnpVerifierConfig = {}): TeeVerifier {
  const minVersion = config.minReportVersion ?? 3;
  return {
    tee: 'snp',
    async verify(evidence: unknown, ctx: VerifyContext): Promise<VerifierResult> {
      const { report, certChain } = evidenceFromJson(evidence);
      const raw = serializeReport(report);
      const versionCheck = check('report-version', report.version >= minVersion && report.version <= 5, `report version within ${minVersion}..5`, {
        expected: `${minVersion}..5`,
        actual: String(report.version),
      });
      const v = verifyReport(report, { now: ctx.now, raw, certTable: certChain ?? undefined, roots: config.roots, cacheDir: config.cacheDir });
      const expectations = validateReport(
        v.report,
        // Trustee rejects VMPL != 0 and compares the padded runtime-data and init-data digests (§1.9 items 6–7).
        { vmpl: 0, reportData: ctx.expectedReportData, hostData: ctx.expectedInitDataHash },
        v.product,
      );
      return { checks: [versionCheck, ...v.checks, ...expectations], claims: snpClaims(v.report, v.product), teeClass: 'cpu' };
    },
  };
}

/** The default SNP verifier: genuine AMD roots only, no cache. */
export const snpVerifier: TeeVerifier = createSnpVerifier();

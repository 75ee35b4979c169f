/**
 * `tee: "az-tdx-vtpm"` (specs/measured-boot.md §4.6–§4.7): an Azure TDX confidential VM's vTPM quote, bound
 * through the HCL report's TDREPORT to the runtime data holding the AK. The TD quote itself (Intel's DCAP
 * chain over the TDREPORT) is verified by the `tee/tdx` verification when one is configured
 * (`tdxQuoteVerification`); without it the `td-quote` check fails, so no policy can mistake this evidence
 * for verified hardware.
 */
import { check, type Check } from '../../formats/check.js';
import { bytesEqual, toHex } from '../../formats/bytes.js';
import { azureEvidenceFromJson } from '../azure/evidence.js';
import { verifyAzureVtpm } from '../azure/vtpm.js';
import type { TeeVerifier, VerifierResult, VerifyContext } from '../verifier.js';
import { tdxClaims } from '../tdx/claims.js';
import { loadCachedCollateral, type TdxCollateral } from '../tdx/collateral.js';
import { parseQuote } from '../tdx/format.js';
import { quotePlatform, type TdxVerifierConfig } from '../tdx/verifier.js';
import { verifyQuote as verifyTdxQuote } from '../tdx/verify.js';

export interface AzTdxVtpmVerifierConfig {
  /**
   * Verifies the TD quote and returns its checks and claims; when absent the `td-quote` check fails.
   * (The TDX verifier plugs in here.)
   */
  verifyTdQuote?: (tdQuote: Uint8Array, tdReport: Uint8Array, ctx: VerifyContext) => Promise<{ checks: Check[]; claims: Record<string, unknown> }>;
}

/**
 * The TD quote is for this HCL report: its body's REPORTDATA (quote v4: 48-byte header, REPORTDATA at body
 * offset 520) equals the TDREPORT's (offset 128), which carries SHA-256 of the runtime data.
 */
function tdQuoteBinding(tdQuote: Uint8Array, tdReport: Uint8Array): Check {
  const want = tdReport.subarray(128, 192);
  const version = tdQuote.length >= 2 ? tdQuote[0] | (tdQuote[1] << 8) : 0;
  const got = version === 4 || version === 5 ? tdQuote.subarray(48 + 520, 48 + 584) : new Uint8Array(0);
  return check('td-quote-report-data', got.length === 64 && bytesEqual(got, want), 'the TD quote\'s REPORTDATA equals the HCL report\'s TDREPORT REPORTDATA', { expected: toHex(want), actual: toHex(got) });
}

export function createAzTdxVtpmVerifier(config: AzTdxVtpmVerifierConfig = {}): TeeVerifier {
  return {
    tee: 'az-tdx-vtpm',
    async verify(evidence: unknown, ctx: VerifyContext): Promise<VerifierResult> {
      const ev = azureEvidenceFromJson(evidence, 'tdx');
      const vtpm = verifyAzureVtpm(ev, 'tdx', ctx);
      const tdQuote = ev.tdQuote as Uint8Array;
      const binding = tdQuoteBinding(tdQuote, vtpm.hcl.hwReport);
      if (config.verifyTdQuote === undefined) {
        const checks = [...vtpm.checks, binding, check('td-quote', false, 'TD quote verification (Intel DCAP) is not available in this build: the TDX hardware report is unverified', { actual: `${tdQuote.length} bytes` })];
        return { checks, claims: { ...vtpm.claims, td_report_data: toHex(vtpm.hcl.hwReport.subarray(128, 192)) }, teeClass: 'cpu' };
      }
      const td = await config.verifyTdQuote(tdQuote, vtpm.hcl.hwReport, ctx);
      return { checks: [...vtpm.checks, binding, ...td.checks], claims: { ...td.claims, ...vtpm.claims }, teeClass: 'cpu' };
    },
  };
}

export const azTdxVtpmVerifier: TeeVerifier = createAzTdxVtpmVerifier();

/**
 * The TD quote verified as `tee/tdx` verifies one (Intel chain, signature, TCB from cached collateral), its
 * REPORTDATA compared with the HCL report's TDREPORT: the `verifyTdQuote` of a deployment that has the TDX
 * verifier configured.
 */
export function tdxQuoteVerification(config: TdxVerifierConfig = {}): NonNullable<AzTdxVtpmVerifierConfig['verifyTdQuote']> {
  return async (tdQuote, tdReport, ctx) => {
    const quote = parseQuote(tdQuote);
    const pre: Check[] = [];
    let collateral: TdxCollateral | undefined;
    if (config.collateralDir) {
      const p = quotePlatform(quote);
      collateral = loadCachedCollateral(config.collateralDir, p.fmspc, p.ca);
    } else {
      pre.push(check('collateral', false, 'no TDX collateral cache configured (tdx_verifier.collateral_cache)'));
    }
    const v = verifyTdxQuote(quote, { now: ctx.now, raw: tdQuote, root: config.root, collateral, allowExpiredCollateral: config.allowExpiredCollateral });
    return { checks: [...pre, ...v.checks], claims: tdxClaims(v) };
  };
}

/**
 * Guest side of `tee: "az-tdx-vtpm"` (specs/measured-boot.md §4.6): the HCL report from vTPM NV 0x01400001
 * (its hardware report is a TDREPORT whose REPORTDATA commits to the runtime data holding the AK), a
 * TPM2_Quote by the paravisor's AK (0x81000003) over all 24 SHA-256 PCRs with the runtime-data digest as
 * qualifying data, and a TD quote over that TDREPORT. A TDREPORT is only MAC'd for the local platform, so
 * Azure's quoting service (IMDS `/acc/tdquote`) turns it into a quote; tests pass a quote provider instead.
 * Emits evidence version 1, like the az-snp-vtpm attester and for the same reason.
 */
import { CocoError } from '../../errors.js';
import { fromBase64Url, toBase64Url } from '../../formats/bytes.js';
import { collectAzureVtpm } from '../azure/collect.js';
import { parseHclReport } from '../azure/hcl.js';
import type { Attester } from '../verifier.js';

/** Azure IMDS's TD quoting endpoint, reachable from inside the VM only. */
export const AZURE_TD_QUOTE_URL = 'http://169.254.169.254/acc/tdquote';

export interface AzTdxVtpmAttesterOptions {
  tcti?: string;
  akHandle?: number;
  /** Turns the HCL report's TDREPORT into a TD quote; Azure IMDS when absent. */
  getTdQuote?: (tdReport: Uint8Array) => Promise<Uint8Array>;
}

async function imdsTdQuote(tdReport: Uint8Array): Promise<Uint8Array> {
  let body: { quote?: unknown };
  try {
    const r = await fetch(AZURE_TD_QUOTE_URL, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ report: toBase64Url(tdReport) }),
      signal: AbortSignal.timeout(10_000),
    });
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    body = (await r.json()) as { quote?: unknown };
  } catch (e) {
    throw new CocoError('AZ_TD_QUOTE', `cannot get a TD quote from Azure IMDS: ${(e as Error).message}`, { kind: 'unavailable', cause: e });
  }
  if (typeof body.quote !== 'string') throw new CocoError('AZ_TD_QUOTE', 'Azure IMDS returned no TD quote', { kind: 'unavailable' });
  return fromBase64Url(body.quote.replace(/=+$/, ''), 'quote');
}

export class AzTdxVtpmAttester implements Attester {
  readonly tee = 'az-tdx-vtpm';
  constructor(private readonly opts: AzTdxVtpmAttesterOptions = {}) {}

  async getEvidence(reportData: Uint8Array): Promise<unknown> {
    const { hclReport, tpmQuote } = await collectAzureVtpm(reportData, this.opts);
    const report = parseHclReport(hclReport);
    if (report.reportType !== 'tdx') throw new CocoError('AZ_HCL', `the vTPM's HCL report holds a ${report.reportType} report, not a TDREPORT`, { kind: 'unsupported' });
    const tdQuote = await (this.opts.getTdQuote ?? imdsTdQuote)(report.hwReport);
    return {
      version: 1,
      tpm_quote: tpmQuote,
      hcl_report: toBase64Url(hclReport),
      td_quote: toBase64Url(tdQuote),
    };
  }
}

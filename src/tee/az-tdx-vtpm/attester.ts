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
import { TpmClient } from '../../tpm/client.js';
import { TPM_ALG } from '../../tpm/constants.js';
import { openTransport } from '../../tpm/transport.js';
import { HCL_REPORT_NV_INDEX, parseHclReport } from '../azure/hcl.js';
import { AZURE_AK_HANDLE } from '../az-snp-vtpm/attester.js';
import type { Attester } from '../verifier.js';

/** Azure IMDS's TD quoting endpoint, reachable from inside the VM only. */
export const AZURE_TD_QUOTE_URL = 'http://169.254.169.254/acc/tdquote';

export interface AzTdxVtpmAttesterOptions {
  tcti?: string;
  akHandle?: number;
  /** Turns the HCL report's TDREPORT into a TD quote; Azure IMDS when absent. */
  getTdQuote?: (tdReport: Uint8Array) => Promise<Uint8Array>;
}

const ALL_SHA256 = [{ hash: 0x000b, pcrs: Array.from({ length: 24 }, (_, i) => i) }];

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
    const client = new TpmClient(await openTransport(this.opts.tcti ?? 'device:/dev/tpmrm0'));
    let hcl: Uint8Array;
    let quote: Awaited<ReturnType<TpmClient['quote']>>;
    let pcrs: Uint8Array[];
    try {
      hcl = await client.nvRead(HCL_REPORT_NV_INDEX, 'owner');
      quote = await client.quote(this.opts.akHandle ?? AZURE_AK_HANDLE, reportData, ALL_SHA256);
      pcrs = [...((await client.pcrRead(ALL_SHA256)).get('sha256') ?? new Map()).values()];
    } finally {
      await client.transport.close();
    }
    const sig = quote.signature;
    if (sig.sigAlg !== TPM_ALG.RSASSA) throw new CocoError('AZ_AK', 'the vTPM AK did not sign with RSASSA', { kind: 'unsupported' });
    const report = parseHclReport(hcl);
    if (report.reportType !== 'tdx') throw new CocoError('AZ_HCL', `the vTPM's HCL report holds a ${report.reportType} report, not a TDREPORT`, { kind: 'unsupported' });
    const tdQuote = await (this.opts.getTdQuote ?? imdsTdQuote)(report.hwReport);
    return {
      version: 1,
      tpm_quote: { signature: Buffer.from(sig.sig).toString('hex'), message: Buffer.from(quote.attest).toString('hex'), pcrs: pcrs.map((p) => Buffer.from(p).toString('hex')) },
      hcl_report: toBase64Url(hcl),
      td_quote: toBase64Url(tdQuote),
    };
  }
}

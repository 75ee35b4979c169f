/**
 * The guest-side vTPM part both Azure attesters share (specs/measured-boot.md §4.5, §4.6): the HCL report
 * from vTPM NV 0x01400001 and a TPM2_Quote by the paravisor's AK over all 24 SHA-256 PCRs with the
 * runtime-data digest as qualifying data (unpadded), in the evidence's `tpm_quote` form.
 */
import { CocoError } from '../../errors.js';
import { TpmClient } from '../../tpm/client.js';
import { TPM_ALG } from '../../tpm/constants.js';
import { openTransport } from '../../tpm/transport.js';
import { HCL_REPORT_NV_INDEX } from './hcl.js';

/** Azure's vTPM attestation key (az-cvm-vtpm `AK_HANDLE`). */
export const AZURE_AK_HANDLE = 0x81000003;

export interface AzureVtpmCollectOptions {
  tcti?: string;
  akHandle?: number;
}

/** The evidence JSON's `tpm_quote`: the raw RSASSA signature, the TPMS_ATTEST and the 24 PCRs, all hex. */
export interface AzureTpmQuoteJson {
  signature: string;
  message: string;
  pcrs: string[];
}

export interface AzureVtpmCollection {
  hclReport: Uint8Array;
  tpmQuote: AzureTpmQuoteJson;
}

const ALL_SHA256 = [{ hash: 0x000b, pcrs: Array.from({ length: 24 }, (_, i) => i) }];

/**
 * Reads the HCL report and quotes the PCRs over `reportData` with the AK.
 * @throws CocoError AZ_AK (kind `unsupported`) when the AK does not sign with RSASSA; the TPM's own errors otherwise
 */
export async function collectAzureVtpm(reportData: Uint8Array, opts: AzureVtpmCollectOptions = {}): Promise<AzureVtpmCollection> {
  const client = new TpmClient(await openTransport(opts.tcti ?? 'device:/dev/tpmrm0'));
  let hcl: Uint8Array;
  let quote: Awaited<ReturnType<TpmClient['quote']>>;
  let pcrs: Uint8Array[];
  try {
    hcl = await client.nvRead(HCL_REPORT_NV_INDEX, 'owner');
    quote = await client.quote(opts.akHandle ?? AZURE_AK_HANDLE, reportData, ALL_SHA256);
    pcrs = [...((await client.pcrRead(ALL_SHA256)).get('sha256') ?? new Map()).values()];
  } finally {
    await client.transport.close();
  }
  const sig = quote.signature;
  if (sig.sigAlg !== TPM_ALG.RSASSA) throw new CocoError('AZ_AK', 'the vTPM AK did not sign with RSASSA', { kind: 'unsupported' });
  return {
    hclReport: hcl,
    tpmQuote: { signature: Buffer.from(sig.sig).toString('hex'), message: Buffer.from(quote.attest).toString('hex'), pcrs: pcrs.map((p) => Buffer.from(p).toString('hex')) },
  };
}

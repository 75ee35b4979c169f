/**
 * Guest side of `tee: "az-snp-vtpm"` (specs/measured-boot.md §4.5): the HCL report from vTPM NV 0x01400001,
 * a TPM2_Quote by the paravisor's AK (persistent handle 0x81000003) over all 24 SHA-256 PCRs with the
 * runtime-data digest as qualifying data (unpadded), and the VCEK. Emits evidence version 1: the HCL
 * report is the one present, not one refreshed with the digest as `user-data` (version 2), because only
 * the paravisor can regenerate it.
 */
import { CocoError } from '../../errors.js';
import { toBase64Url } from '../../formats/bytes.js';
import { AZURE_AK_HANDLE, collectAzureVtpm } from '../azure/collect.js';
import type { Attester } from '../verifier.js';

export { AZURE_AK_HANDLE };
/** Azure IMDS's VCEK endpoint (THIM), reachable from inside the VM only. */
export const AZURE_THIM_URL = 'http://169.254.169.254/metadata/THIM/amd/certification';

export interface AzSnpVtpmAttesterOptions {
  tcti?: string;
  /** The VCEK (DER); when absent it is fetched from Azure IMDS (`vcekCert`, PEM). */
  vcek?: Uint8Array;
  akHandle?: number;
}

async function fetchVcek(): Promise<Uint8Array> {
  let body: { vcekCert?: string };
  try {
    const r = await fetch(AZURE_THIM_URL, { headers: { Metadata: 'true' }, signal: AbortSignal.timeout(10_000) });
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    body = (await r.json()) as { vcekCert?: string };
  } catch (e) {
    throw new CocoError('AZ_VCEK', `cannot fetch the VCEK from Azure IMDS: ${(e as Error).message}`, { kind: 'unavailable', cause: e });
  }
  const pem = body.vcekCert ?? '';
  const b64 = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(pem)?.[1];
  if (b64 === undefined) throw new CocoError('AZ_VCEK', 'Azure IMDS returned no VCEK certificate', { kind: 'unavailable' });
  return new Uint8Array(Buffer.from(b64.replace(/\s+/g, ''), 'base64'));
}

export class AzSnpVtpmAttester implements Attester {
  readonly tee = 'az-snp-vtpm';
  constructor(private readonly opts: AzSnpVtpmAttesterOptions = {}) {}

  async getEvidence(reportData: Uint8Array): Promise<unknown> {
    const { hclReport, tpmQuote } = await collectAzureVtpm(reportData, this.opts);
    const vcek = this.opts.vcek ?? (await fetchVcek());
    return {
      version: 1,
      tpm_quote: tpmQuote,
      hcl_report: toBase64Url(hclReport),
      vcek: toBase64Url(vcek),
    };
  }
}

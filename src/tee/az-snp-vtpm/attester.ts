/**
 * Guest side of `tee: "az-snp-vtpm"` (specs/measured-boot.md §4.5): the HCL report from vTPM NV 0x01400001,
 * a TPM2_Quote by the paravisor's AK (persistent handle 0x81000003) over all 24 SHA-256 PCRs with the
 * runtime-data digest as qualifying data (unpadded), and the VCEK. Emits evidence version 1: the HCL
 * report is the one present, not one refreshed with the digest as `user-data` (version 2), because only
 * the paravisor can regenerate it.
 */
import { CocoError } from '../../errors.js';
import { toBase64Url } from '../../formats/bytes.js';
import { TpmClient } from '../../tpm/client.js';
import { TPM_ALG } from '../../tpm/constants.js';
import { openTransport } from '../../tpm/transport.js';
import { HCL_REPORT_NV_INDEX } from '../azure/hcl.js';
import type { Attester } from '../verifier.js';

/** Azure's vTPM attestation key (az-cvm-vtpm `AK_HANDLE`). */
export const AZURE_AK_HANDLE = 0x81000003;
/** Azure IMDS's VCEK endpoint (THIM), reachable from inside the VM only. */
export const AZURE_THIM_URL = 'http://169.254.169.254/metadata/THIM/amd/certification';

export interface AzSnpVtpmAttesterOptions {
  tcti?: string;
  /** The VCEK (DER); when absent it is fetched from Azure IMDS (`vcekCert`, PEM). */
  vcek?: Uint8Array;
  akHandle?: number;
}

const ALL_SHA256 = [{ hash: 0x000b, pcrs: Array.from({ length: 24 }, (_, i) => i) }];

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
    const vcek = this.opts.vcek ?? (await fetchVcek());
    return {
      version: 1,
      tpm_quote: { signature: Buffer.from(sig.sig).toString('hex'), message: Buffer.from(quote.attest).toString('hex'), pcrs: pcrs.map((p) => Buffer.from(p).toString('hex')) },
      hcl_report: toBase64Url(hcl),
      vcek: toBase64Url(vcek),
    };
  }
}

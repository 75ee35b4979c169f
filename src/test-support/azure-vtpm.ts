/**
 * Provisions a test TPM like an Azure vTPM: the paravisor's AK, persistent at 0x81000003, and an HCL report
 * in NV 0x01400001 whose runtime data holds that AK as `HCLAkPub`.
 */
import { toBase64Url } from '../formats/bytes.js';
import { TpmClient, TPM_RH } from '../tpm/client.js';
import { akTemplate } from '../tpm/templates.js';
import { openTransport } from '../tpm/transport.js';
import { AZURE_AK_HANDLE } from '../tee/azure/collect.js';
import { HCL_REPORT_NV_INDEX } from '../tee/azure/hcl.js';

export interface AzureVtpmProvisioning {
  /** Runtime-data members after `keys`; by default a `vm-configuration` with secure boot and the TPM on, and 64 zero bytes of `user-data`. */
  runtime?: Record<string, unknown>;
  /** Builds the HCL report around the runtime data (`variableData`). */
  hclReport: (variableData: Uint8Array) => Uint8Array;
  /** Further provisioning on the same connection (e.g. PCR extends). */
  more?: (client: TpmClient) => Promise<void>;
}

const DEFAULT_RUNTIME = { 'vm-configuration': { 'secure-boot': true, 'tpm-enabled': true }, 'user-data': '00'.repeat(64) };

export async function provisionAzureVtpm(tcti: string, p: AzureVtpmProvisioning): Promise<void> {
  const c = new TpmClient(await openTransport(tcti));
  try {
    const ak = await c.createPrimary(TPM_RH.ENDORSEMENT, akTemplate('rsa'));
    await c.evictControl(ak.handle, AZURE_AK_HANDLE);
    await c.flush(ak.handle);
    const pub = ak.public as Extract<typeof ak.public, { modulus: Uint8Array }>;
    const variableData = new TextEncoder().encode(JSON.stringify({ keys: [{ kid: 'HCLAkPub', key_ops: ['sign'], kty: 'RSA', e: 'AQAB', n: toBase64Url(pub.modulus) }], ...(p.runtime ?? DEFAULT_RUNTIME) }));
    const hcl = p.hclReport(variableData);
    await c.nvDefine(HCL_REPORT_NV_INDEX, hcl.length);
    await c.nvWrite(HCL_REPORT_NV_INDEX, hcl);
    await p.more?.(c);
  } finally {
    await c.transport.close();
  }
}

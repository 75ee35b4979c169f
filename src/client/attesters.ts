/**
 * Attester selection for the guest client: `sample` (development, no hardware), `snp` (configfs-tsm or
 * /dev/sev-guest) or `tdx` (configfs-tsm or /dev/tdx_guest). `auto` asks configfs-tsm which TEE this guest is
 * (its `provider` attribute) and picks SNP for `sev_guest`, TDX for `tdx_guest`, else whichever legacy device
 * exists; it falls back to `sample` only when development mode is asked for, never silently.
 */
import { CocoError } from '../errors.js';
import type { Attester } from '../tee/verifier.js';
import { SampleAttester } from '../tee/sample/attester.js';
import { SnpAttester, TSM_REPORT_PATH, type TsmFs } from '../tee/snp/attester.js';
import { TdxAttester } from '../tee/tdx/attester.js';
import { TpmAttester } from '../tee/tpm/attester.js';
import { AzSnpVtpmAttester } from '../tee/az-snp-vtpm/attester.js';
import { AzTdxVtpmAttester } from '../tee/az-tdx-vtpm/attester.js';

export const ATTESTER_NAMES = ['sample', 'snp', 'tdx', 'tpm', 'az-snp-vtpm', 'az-tdx-vtpm', 'auto'] as const;

export interface AttesterOptions {
  /** configfs-tsm report directory (default `/sys/kernel/config/tsm/report`). */
  tsmPath?: string;
  /** SEV guest device for the SNP fallback (default `/dev/sev-guest`). */
  devicePath?: string;
  /** TDX guest device for the TDX fallback (default `/dev/tdx_guest`). */
  tdxDevicePath?: string;
  /** go-tdx-guest's `attest` tool for the `/dev/tdx_guest` fallback (default `attest` on PATH). */
  tdxAttestTool?: string;
  /** The file operations configfs-tsm is reached through (node:fs by default; tests pass a simulator). */
  tsmFs?: TsmFs;
  /** TPM for `tpm`, `az-snp-vtpm` and `az-tdx-vtpm` (TCTI string, default `device:/dev/tpmrm0`). */
  tcti?: string;
  /** `tpm`: a TCG event log file sent along with the quote. */
  tpmEventLog?: string;
  /** `az-snp-vtpm`: the VCEK (DER) instead of fetching it from Azure IMDS. */
  vcek?: Uint8Array;
  /** CCEL log area the TDX attester sends (default `/sys/firmware/acpi/tables/data/CCEL`). */
  ccelPath?: string;
  /** Development mode: `auto` may fall back to the sample TEE when no hardware TEE is found. */
  development?: boolean;
}

function noTee(message: string): CocoError {
  return new CocoError('KBS_CLIENT_NO_TEE', message, { kind: 'unavailable' });
}

export async function attesterFor(tee: string, opts: AttesterOptions = {}): Promise<Attester> {
  const snp = (): SnpAttester => new SnpAttester({ tsmPath: opts.tsmPath, devicePath: opts.devicePath, fs: opts.tsmFs });
  const tdx = (): TdxAttester => new TdxAttester({ tsmPath: opts.tsmPath, ccelPath: opts.ccelPath, fs: opts.tsmFs, devicePath: opts.tdxDevicePath, attestTool: opts.tdxAttestTool });
  switch (tee) {
    case 'sample':
      return new SampleAttester();
    case 'snp': {
      const a = snp();
      if (a.available()) return a;
      throw noTee(`no SEV-SNP guest interface here (${opts.tsmPath ?? TSM_REPORT_PATH} or /dev/sev-guest)`);
    }
    case 'tpm':
      return new TpmAttester({ ...(opts.tcti ? { tcti: opts.tcti } : {}), ...(opts.tpmEventLog ? { eventLogPath: opts.tpmEventLog } : {}) });
    case 'az-snp-vtpm':
      return new AzSnpVtpmAttester({ ...(opts.tcti ? { tcti: opts.tcti } : {}), ...(opts.vcek ? { vcek: opts.vcek } : {}) });
    case 'az-tdx-vtpm':
      return new AzTdxVtpmAttester({ ...(opts.tcti ? { tcti: opts.tcti } : {}) });
    case 'tdx': {
      const a = tdx();
      if (a.available()) return a;
      throw noTee(`no TDX guest interface here (${opts.tsmPath ?? TSM_REPORT_PATH} or ${opts.tdxDevicePath ?? '/dev/tdx_guest'})`);
    }
    case 'auto': {
      const a = snp();
      const provider = await a.tsmProvider();
      if (provider === 'sev_guest') return a;
      if (provider === 'tdx_guest') return tdx();
      if (provider === null && a.hasDevice()) return a;
      if (provider === null && tdx().available()) return tdx();
      if (opts.development) return new SampleAttester();
      const found = provider === null ? 'no configfs-tsm, no /dev/sev-guest and no /dev/tdx_guest' : `configfs-tsm provider ${JSON.stringify(provider)} has no attester here`;
      throw noTee(`no TEE attester is available on this machine (${found}); use --tee sample or --development for development`);
    }
    default:
      throw new CocoError('KBS_CLIENT_TEE', `no attester for tee "${tee}" (available: ${ATTESTER_NAMES.join(', ')})`, { kind: 'unsupported' });
  }
}

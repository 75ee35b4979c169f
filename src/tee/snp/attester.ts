/**
 * Guest side of `tee: "snp"`: obtains an attestation report (and the host's certificate table) and returns
 * the CoCo JSON evidence Trustee's verifier expects (snp.md §1.8).
 *
 * Primary path: configfs-tsm (Linux ≥ 6.7, tdx-initdata.md §5.1) — mkdir a report entry, optionally write
 * `privlevel`, write `inblob`, read `outblob` and `auxblob`, check `generation`, rmdir. Fallback:
 * `/dev/sev-guest` through virtee's `snpguest` tool, since Node cannot issue the SNP_GET_REPORT ioctl itself.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CocoError } from '../../errors.js';
import { bytesEqual } from '../../formats/bytes.js';
import type { Attester } from '../verifier.js';
import { evidenceToJson } from './evidence.js';
import { parseCertTable, parseReport, type CertTableEntry, type SnpReport } from './format.js';
import { regularize } from './validate.js';
import { nodeTsmFs, TSM_REPORT_PATH, tsmReport, type TsmFs } from '../tsm.js';

export { TSM_REPORT_PATH, type TsmFs } from '../tsm.js';
export const SEV_GUEST_DEVICE = '/dev/sev-guest';

export interface SnpAttesterOptions {
  /** configfs-tsm report directory (default `/sys/kernel/config/tsm/report`). */
  tsmPath?: string;
  /** SEV guest device for the fallback (default `/dev/sev-guest`). */
  devicePath?: string;
  /** VMPL to request (`privlevel`); omitted means the kernel default (0). */
  privlevel?: number;
  fs?: TsmFs;
  /** `snpguest` binary for the `/dev/sev-guest` fallback (default: found on PATH). */
  snpguest?: string;
}

export interface SnpAttestation {
  raw: Uint8Array;
  report: SnpReport;
  certTable: CertTableEntry[] | null;
}

function tsmError(message: string, cause?: unknown): CocoError {
  return new CocoError('SNP_TSM', `configfs-tsm: ${message}`, { kind: 'unavailable', cause });
}

export class SnpAttester implements Attester {
  readonly tee = 'snp';
  private readonly tsmPath: string;
  private readonly devicePath: string;
  private readonly fs: TsmFs;

  constructor(private readonly opts: SnpAttesterOptions = {}) {
    this.tsmPath = opts.tsmPath ?? TSM_REPORT_PATH;
    this.devicePath = opts.devicePath ?? SEV_GUEST_DEVICE;
    this.fs = opts.fs ?? nodeTsmFs;
  }

  /** Whether this guest can produce SNP evidence here (configfs-tsm or the SEV guest device exists). */
  available(): boolean {
    return existsSync(this.tsmPath) || existsSync(this.devicePath);
  }

  /**
   * The configfs-tsm provider of this guest (`sev_guest`, `tdx_guest`, …), or null without configfs-tsm.
   * The provider is an attribute of a report entry, so this creates a probe entry and removes it again.
   */
  async tsmProvider(): Promise<string | null> {
    if (!existsSync(this.tsmPath)) return null;
    const entry = join(this.tsmPath, `cocokit-probe-${randomBytes(8).toString('hex')}`);
    try {
      await this.fs.mkdir(entry);
    } catch (e) {
      throw tsmError(`cannot create ${entry}: ${(e as Error).message}`, e);
    }
    try {
      return Buffer.from(await this.fs.readFile(join(entry, 'provider'))).toString('utf8').trim();
    } catch (e) {
      throw tsmError(`cannot read the provider of ${entry}: ${(e as Error).message}`, e);
    } finally {
      await this.fs.rmdir(entry).catch(() => undefined);
    }
  }

  /** Whether `/dev/sev-guest` (the fallback interface) exists. */
  hasDevice(): boolean {
    return existsSync(this.devicePath);
  }

  async getEvidence(reportData: Uint8Array): Promise<unknown> {
    const a = await this.attest(reportData);
    return evidenceToJson(a.report, a.certTable);
  }

  /** REPORT_DATA is the runtime-data digest zero-padded to 64 bytes; more than 64 bytes is an error (GC attester). */
  async attest(reportData: Uint8Array): Promise<SnpAttestation> {
    if (reportData.length > 64) throw new CocoError('SNP_REPORT_DATA', `report data is ${reportData.length} bytes, at most 64 fit`, { kind: 'usage' });
    const data = regularize(reportData, 64);
    const got = existsSync(this.tsmPath) ? await this.viaConfigfs(data) : this.viaDevice(data);
    const report = parseReport(got.raw);
    // Another writer on the same entry, or a confused provider, would hand back someone else's report.
    if (!bytesEqual(report.reportData, data)) throw tsmError('the report does not carry the REPORT_DATA that was written');
    return { raw: got.raw, report, certTable: got.certTable };
  }

  private async viaConfigfs(data: Uint8Array): Promise<{ raw: Uint8Array; certTable: CertTableEntry[] | null }> {
    const { outblob, auxblob } = await tsmReport(this.fs, this.tsmPath, {
      provider: 'sev_guest',
      inblob: data,
      attributes: this.opts.privlevel === undefined ? [] : [['privlevel', String(this.opts.privlevel)]],
      auxblob: true, // the host's certificate table, when it supplies one
      error: tsmError,
    });
    return { raw: outblob, certTable: auxblob && auxblob.length > 0 ? parseCertTable(auxblob) : null };
  }

  private viaDevice(data: Uint8Array): { raw: Uint8Array; certTable: CertTableEntry[] | null } {
    if (!existsSync(this.devicePath)) {
      throw new CocoError('SNP_NO_DEVICE', `neither ${this.tsmPath} nor ${this.devicePath} exists: not an SEV-SNP guest`, { kind: 'unavailable' });
    }
    const tool = this.opts.snpguest ?? 'snpguest';
    const dir = mkdtempSync(join(tmpdir(), 'cocokit-snp-'));
    try {
      const request = join(dir, 'request.bin');
      const out = join(dir, 'report.bin');
      writeFileSync(request, data);
      const args = ['report', out, request, ...(this.opts.privlevel === undefined ? [] : ['--vmpl', String(this.opts.privlevel)])];
      const r = spawnSync(tool, args, { encoding: 'utf8', timeout: 60_000 });
      if (r.error || r.status !== 0) {
        throw new CocoError('SNP_DEVICE', `${tool} ${args.join(' ')} failed: ${r.error?.message ?? r.stderr.trim()}`, { kind: 'unavailable', cause: r.error });
      }
      return { raw: new Uint8Array(readFileSync(out)), certTable: null };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

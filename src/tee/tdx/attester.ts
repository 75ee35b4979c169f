/**
 * Guest side of `tee: "tdx"`: obtains a DCAP quote through configfs-tsm (Linux ≥ 6.7, specs/tdx-initdata.md
 * §5.1) — mkdir a report entry, check `provider` is `tdx_guest`, write the 64-byte REPORTDATA to `inblob`,
 * read the quote from `outblob`, check `generation`, rmdir — and collects the CCEL event log as Trustee's
 * attester does (`/sys/firmware/acpi/tables/data/CCEL`). Returns the CoCo evidence JSON (§2.4 item 1).
 *
 * Kernels before configfs-tsm expose only `/dev/tdx_guest` (§5.2), whose quote path is an ioctl Node cannot
 * issue; there the quote is obtained through go-tdx-guest's `attest` tool (`-inform hex -outform bin`).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { promisify } from 'node:util';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { CocoError } from '../../errors.js';
import { bytesEqual } from '../../formats/bytes.js';
import { regularize } from '../../formats/runtime-data.js';
import type { Attester } from '../verifier.js';
import { evidenceToJson } from './evidence.js';
import { parseQuote, type TdxQuote } from './format.js';
import { nodeTsmFs, TSM_REPORT_PATH, tsmReport, type TsmFs } from '../tsm.js';

export { TSM_REPORT_PATH, type TsmFs } from '../tsm.js';
/** The CCEL log area as Linux exposes it (§4.2); the ACPI table itself is `/sys/firmware/acpi/tables/CCEL`. */
export const CCEL_DATA_PATH = '/sys/firmware/acpi/tables/data/CCEL';
export const TDX_GUEST_DEVICE = '/dev/tdx_guest';

export interface TdxAttesterOptions {
  /** configfs-tsm report directory (default `/sys/kernel/config/tsm/report`). */
  tsmPath?: string;
  /** CCEL log area (default `/sys/firmware/acpi/tables/data/CCEL`); absent → `cc_eventlog: null`. */
  ccelPath?: string;
  fs?: TsmFs;
  /** TDX guest device for the fallback (default `/dev/tdx_guest`). */
  devicePath?: string;
  /** go-tdx-guest's `attest` binary for the `/dev/tdx_guest` fallback (default: `attest` on PATH). */
  attestTool?: string;
}

function tsmError(message: string, cause?: unknown): CocoError {
  return new CocoError('TDX_TSM', `configfs-tsm: ${message}`, { kind: 'unavailable', cause });
}

export class TdxAttester implements Attester {
  readonly tee = 'tdx';
  private readonly tsmPath: string;
  private readonly ccelPath: string;
  private readonly fs: TsmFs;

  private readonly devicePath: string;
  private readonly attestTool: string;

  constructor(opts: TdxAttesterOptions = {}) {
    this.tsmPath = opts.tsmPath ?? TSM_REPORT_PATH;
    this.ccelPath = opts.ccelPath ?? CCEL_DATA_PATH;
    this.fs = opts.fs ?? nodeTsmFs;
    this.devicePath = opts.devicePath ?? TDX_GUEST_DEVICE;
    this.attestTool = opts.attestTool ?? 'attest';
  }

  available(): boolean {
    return existsSync(this.tsmPath) || existsSync(this.devicePath);
  }

  async getEvidence(reportData: Uint8Array): Promise<unknown> {
    const { raw } = await this.attest(reportData);
    let log: Uint8Array | null = null;
    try {
      log = await this.fs.readFile(this.ccelPath);
    } catch {
      log = null; // firmware without CCEL (or not readable): Trustee then skips the replay
    }
    return evidenceToJson({ quote: raw, ccEventLog: log });
  }

  /** REPORTDATA is the runtime-data digest zero-padded to 64 bytes; more than 64 bytes is an error. */
  async attest(reportData: Uint8Array): Promise<{ raw: Uint8Array; quote: TdxQuote }> {
    if (reportData.length > 64) throw new CocoError('TDX_REPORT_DATA', `report data is ${reportData.length} bytes, at most 64 fit`, { kind: 'usage' });
    const data = regularize(reportData, 64);
    if (!existsSync(this.tsmPath)) {
      if (!existsSync(this.devicePath)) throw new CocoError('TDX_NO_TSM', `neither ${this.tsmPath} nor ${this.devicePath} exists: not a TDX guest`, { kind: 'unavailable' });
      return this.viaDevice(data);
    }
    const { outblob: raw } = await tsmReport(this.fs, this.tsmPath, {
      provider: 'tdx_guest',
      inblob: data,
      error: tsmError,
      generationMessage: (generation) => `generation is ${generation} after 1 write: the entry was used concurrently`,
    });
    const quote = parseQuote(raw);
    if (!bytesEqual(quote.body.reportData, data)) throw tsmError('the quote does not carry the REPORTDATA that was written');
    return { raw, quote };
  }

  private async viaDevice(data: Uint8Array): Promise<{ raw: Uint8Array; quote: TdxQuote }> {
    const dir = mkdtempSync(join(tmpdir(), 'cocokit-tdx-'));
    try {
      const out = join(dir, 'quote.bin');
      const args = ['-inform', 'hex', '-in', Buffer.from(data).toString('hex'), '-outform', 'bin', '-out', out];
      try {
        await promisify(execFile)(this.attestTool, args, { timeout: 60_000 });
      } catch (e) {
        const err = e as Error & { stderr?: string };
        throw new CocoError('TDX_DEVICE', `${this.attestTool} (for ${this.devicePath}) failed: ${(err.stderr ?? '').trim() || err.message}`, { kind: 'unavailable', cause: e });
      }
      const raw = new Uint8Array(await fsp.readFile(out));
      const quote = parseQuote(raw);
      if (!bytesEqual(quote.body.reportData, data)) throw new CocoError('TDX_DEVICE', 'the quote does not carry the REPORTDATA that was asked for', { kind: 'unavailable' });
      return { raw, quote };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

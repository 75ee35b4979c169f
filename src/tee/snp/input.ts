/**
 * Reads SNP evidence in any of the forms a user has at hand: the raw 1184-byte report, its hex, the CoCo
 * JSON evidence (snp.md §1.8), or an Azure HCL report (the SNP report at 0x20..0x4C0 after the `HCLA`
 * header, snp.md vectors `azure-*`).
 */
import { CocoError } from '../../errors.js';
import { parseJson } from '../../formats/json.js';
import { evidenceFromJson } from './evidence.js';
import { REPORT_SIZE, parseReport, serializeReport, type CertTableEntry, type ParseOptions, type SnpReport } from './format.js';

export interface LoadedReport {
  report: SnpReport;
  raw: Uint8Array;
  certTable: CertTableEntry[] | null;
  form: 'raw' | 'hex' | 'json' | 'hcl';
}

const HCL_MAGIC = 'HCLA';
const HCL_REPORT_OFFSET = 0x20;

export function loadReport(bytes: Uint8Array, opts: ParseOptions = {}): LoadedReport {
  if (bytes.length === REPORT_SIZE) return { report: parseReport(bytes, opts), raw: bytes, certTable: null, form: 'raw' };
  if (bytes.length >= HCL_REPORT_OFFSET + REPORT_SIZE && Buffer.from(bytes.subarray(0, 4)).toString('latin1') === HCL_MAGIC) {
    const raw = bytes.slice(HCL_REPORT_OFFSET, HCL_REPORT_OFFSET + REPORT_SIZE);
    return { report: parseReport(raw, opts), raw, certTable: null, form: 'hcl' };
  }
  const text = Buffer.from(bytes).toString('utf8').trim();
  if (text.startsWith('{')) {
    const ev = evidenceFromJson(parseJson(text, 'SNP evidence JSON'));
    return { report: ev.report, raw: serializeReport(ev.report), certTable: ev.certChain, form: 'json' };
  }
  const hex = text.replace(/^0x/i, '').replace(/\s+/g, '');
  if (/^[0-9a-fA-F]+$/.test(hex) && hex.length === REPORT_SIZE * 2) {
    const raw = new Uint8Array(Buffer.from(hex, 'hex'));
    return { report: parseReport(raw, opts), raw, certTable: null, form: 'hex' };
  }
  throw new CocoError('SNP_REPORT_FORM', `not an SNP report: expected ${REPORT_SIZE} raw bytes, ${REPORT_SIZE * 2} hex digits, CoCo JSON evidence or an HCL report (got ${bytes.length} bytes)`, {
    kind: 'input',
  });
}

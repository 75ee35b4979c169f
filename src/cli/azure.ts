/**
 * `cocokit azure show`: an Azure confidential VM's HCL report (the vTPM NV 0x01400001 contents, or the
 * `hcl_report` of az-snp-vtpm / az-tdx-vtpm evidence) — header, runtime data, and the embedded SNP report
 * or TDREPORT with its REPORT_DATA binding. A library call plus formatting.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { CocoError } from '../errors.js';
import { bytesEqual, toHex } from '../formats/bytes.js';
import { azureEvidenceFromJson } from '../tee/azure/evidence.js';
import { hwReportData, parseHclReport } from '../tee/azure/hcl.js';
import { parseReport } from '../tee/snp/format.js';
import { withJsonFailure } from './check-report.js';
import type { CliIO } from './io.js';
import { reportJson } from './snp.js';

/** The HCL report bytes: the file itself, or the report inside Azure evidence JSON (any version). */
function hclBytes(bytes: Uint8Array): Uint8Array {
  // JSON starts with `{` after optional whitespace; an HCL report starts with "HCLA".
  const first = bytes.find((b) => b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09);
  if (first !== 0x7b) return bytes;
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (e) {
    throw new CocoError('AZ_EVIDENCE', `not an HCL report nor evidence JSON: ${(e as Error).message}`, { kind: 'input' });
  }
  const kind = typeof json === 'object' && json !== null && ('td_quote' in json || 'tpm_quote' in json && !('vcek' in json)) ? 'tdx' : 'snp';
  return azureEvidenceFromJson(json, kind).hclReport;
}

export function register(program: Command, io: CliIO): void {
  const azure = program.command('azure').description('Azure confidential VMs (SEV-SNP or TDX under a paravisor vTPM)');
  azure
    .command('show')
    .description('decode an HCL report: header, runtime data (AK, VM configuration, user-data), embedded SNP report or TDREPORT')
    .argument('<file>', 'HCL report (vTPM NV 0x01400001) or az-snp-vtpm / az-tdx-vtpm evidence JSON')
    .option('--json', 'print one JSON object')
    // With --json, a file that is not an HCL report still answers with one JSON object (as the verify commands).
    .action((file: string, f: { json?: boolean }) => withJsonFailure(io, f, () => show(io, file, f)));
}

/** `azure show FILE`: the HCL report's fields, and whether its REPORT_DATA commits to the runtime data. */
function show(io: CliIO, file: string, f: { json?: boolean }): void {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(resolve(io.cwd, file)));
  } catch (e) {
    throw new CocoError('CLI_FILE', `cannot read ${file}: ${(e as Error).message}`, { kind: 'usage', cause: e });
  }
  const hcl = parseHclReport(hclBytes(bytes));
  const digest = new Uint8Array(createHash('sha256').update(hcl.variableData).digest());
  const rd = hwReportData(hcl);
  const bound = bytesEqual(rd.subarray(0, 32), digest);
  const snp = hcl.reportType === 'snp' ? reportJson(parseReport(hcl.hwReport)) : undefined;
  const out = {
    version: hcl.version,
    report_size: hcl.reportSize,
    request_type: hcl.requestType,
    status: hcl.status,
    report_type: hcl.reportType,
    igvm: hcl.igvm,
    runtime_data: hcl.runtime.json,
    runtime_data_sha256: toHex(digest),
    report_data: toHex(rd),
    report_data_binds_runtime_data: bound,
    ...(snp ? { snp_report: snp } : { tdreport: { report_data: toHex(rd), bytes: hcl.hwReport.length } }),
  };
  if (f.json) {
    io.stdout(`${JSON.stringify(out)}\n`);
    return;
  }
  const keys = hcl.runtime.keys.map((k) => `${k.kid ?? '?'} (${k.kty ?? '?'}${typeof k.n === 'string' ? ` ${Buffer.from(k.n, 'base64url').length * 8}-bit` : ''})`).join(', ');
  let text =
    `hcl version        ${hcl.version}\nreport type        ${hcl.reportType} (IGVM type ${hcl.igvm.reportType})\nreport size        ${hcl.reportSize}\n` +
    `runtime data       ${hcl.variableData.length} bytes, SHA-256 ${toHex(digest)}\nkeys               ${keys}\n` +
    (hcl.runtime.vmConfiguration ? `vm-configuration   ${JSON.stringify(hcl.runtime.vmConfiguration)}\n` : '') +
    (hcl.runtime.userData ? `user-data          ${toHex(hcl.runtime.userData)}\n` : '') +
    `report_data        ${toHex(rd)}\nbinding            ${bound ? 'REPORT_DATA[0..32] = SHA-256(runtime data)' : 'MISMATCH: REPORT_DATA does not commit to the runtime data'}\n`;
  if (snp) text += `snp measurement    ${snp.measurement as string}\nsnp vmpl           ${String(snp.vmpl)}\nsnp version        ${String(snp.version)}\n`;
  io.stdout(text);
}

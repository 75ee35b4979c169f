/**
 * The Azure confidential VM "HCL report" (specs/measured-boot.md §4.2–§4.4): what the paravisor writes to
 * vTPM NV index 0x01400001 — a 32-byte header, the hardware report (SEV-SNP ATTESTATION_REPORT, or a TDX
 * TDREPORT in the same 1184-byte slot), the IGVM request header, and the runtime ("variable") data JSON
 * whose SHA-256 the hardware report's REPORT_DATA carries. Parsing only.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { CocoError } from '../../errors.js';
import { ByteReader } from '../../formats/reader.js';

export const HCL_REPORT_NV_INDEX = 0x01400001;
/** NV index a guest writes user data to before reading a fresh HCL report (§4.3). */
export const HCL_USER_DATA_NV_INDEX = 0x01400002;

const HW_REPORT_OFFSET = 0x20;
const HW_REPORT_SIZE = 1184;
const IGVM_OFFSET = 0x4c0;
const VAR_DATA_OFFSET = 0x4d4;
/** Runtime data is a small JSON document; 64 KiB is far above any report seen and bounds the JSON parse. */
const MAX_VAR_DATA = 0x10000;

export type HclReportType = 'snp' | 'tdx';

export interface HclReport {
  version: number;
  reportSize: number;
  requestType: number;
  status: number;
  reportType: HclReportType;
  /** The SNP report (1184 bytes) or TDREPORT (first 1024 bytes of the slot). */
  hwReport: Uint8Array;
  igvm: { dataSize: number; version: number; reportType: number; reportDataHashType: number; variableDataSize: number };
  /** The runtime data exactly as stored: the bytes REPORT_DATA commits to. */
  variableData: Uint8Array;
  runtime: HclRuntimeData;
}

export interface Jwk {
  kid?: string;
  kty?: string;
  n?: string;
  e?: string;
  key_ops?: string[];
  [k: string]: unknown;
}

export interface HclRuntimeData {
  keys: Jwk[];
  vmConfiguration?: Record<string, unknown>;
  /** `user-data`, hex-decoded (64 bytes), when present. */
  userData?: Uint8Array;
  json: Record<string, unknown>;
}

function fail(message: string, offset?: number): CocoError {
  return new CocoError('HCL_REPORT', `HCL report: ${message}`, { kind: 'input', ...(offset === undefined ? {} : { detail: { offset } }) });
}

/** The runtime-data JSON (§4.3). */
export function parseRuntimeData(bytes: Uint8Array): HclRuntimeData {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    throw fail(`runtime data is not UTF-8 JSON: ${(e as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw fail('runtime data is not a JSON object');
  const obj = json as Record<string, unknown>;
  if (!Array.isArray(obj.keys) || obj.keys.some((k) => typeof k !== 'object' || k === null || Array.isArray(k))) throw fail('runtime data has no "keys" array of JWKs');
  const out: HclRuntimeData = { keys: obj.keys as Jwk[], json: obj };
  const vm = obj['vm-configuration'];
  if (typeof vm === 'object' && vm !== null && !Array.isArray(vm)) out.vmConfiguration = vm as Record<string, unknown>;
  const ud = obj['user-data'];
  if (ud !== undefined) {
    if (typeof ud !== 'string' || !/^([0-9a-fA-F]{2})*$/.test(ud) || ud.length > 1024) throw fail('"user-data" is not a hex string');
    out.userData = new Uint8Array(Buffer.from(ud, 'hex'));
  }
  return out;
}

/**
 * Parses an HCL report (the NV index contents, trailing zero padding allowed).
 * @throws CocoError HCL_REPORT (kind `input`): bad magic, unknown report type, sizes past the data, or
 *   runtime data that is not a JSON object with a `keys` array
 */
export function parseHclReport(bytes: Uint8Array): HclReport {
  if (bytes.length < VAR_DATA_OFFSET) throw fail(`${bytes.length} bytes is shorter than the fixed part (${VAR_DATA_OFFSET})`);
  const r = new ByteReader(bytes, 'HCL report');
  const magic = r.u32le();
  if (magic !== 0x414c4348) throw fail('signature is not "HCLA"', 0);
  const version = r.u32le();
  const reportSize = r.u32le();
  const requestType = r.u32le();
  const status = r.u32le();
  r.seek(IGVM_OFFSET);
  const igvm = { dataSize: r.u32le(), version: r.u32le(), reportType: r.u32le(), reportDataHashType: r.u32le(), variableDataSize: r.u32le() };
  const reportType: HclReportType | undefined = igvm.reportType === 2 ? 'snp' : igvm.reportType === 4 ? 'tdx' : undefined;
  if (reportType === undefined) throw fail(`IGVM report type ${igvm.reportType} is neither SNP (2) nor TDX (4)`, IGVM_OFFSET + 8);
  // Only SHA-256 is defined in practice (§4.2); other hash types would need a different binding check.
  if (igvm.reportDataHashType !== 1) throw fail(`report-data hash type ${igvm.reportDataHashType} is not SHA-256 (1)`, IGVM_OFFSET + 12);
  if (igvm.variableDataSize > MAX_VAR_DATA || VAR_DATA_OFFSET + igvm.variableDataSize > bytes.length) {
    throw fail(`variable data of ${igvm.variableDataSize} bytes does not fit the report`, IGVM_OFFSET + 16);
  }
  const hwReport = bytes.subarray(HW_REPORT_OFFSET, HW_REPORT_OFFSET + (reportType === 'snp' ? HW_REPORT_SIZE : 1024));
  const variableData = bytes.subarray(VAR_DATA_OFFSET, VAR_DATA_OFFSET + igvm.variableDataSize);
  return { version, reportSize, requestType, status, reportType, hwReport, igvm, variableData, runtime: parseRuntimeData(variableData) };
}

/**
 * The vTPM attestation key: the RSA JWK whose `kid` is `HCLAkPub` (`key_ops` varies between hosts, §4.3).
 * @throws CocoError HCL_AK (kind `input`) when absent or not a usable RSA key
 */
export function hclAkPublic(report: Pick<HclReport, 'runtime'>): KeyObject {
  const jwk = report.runtime.keys.find((k) => k.kid === 'HCLAkPub');
  if (jwk === undefined) throw new CocoError('HCL_AK', 'HCL runtime data has no HCLAkPub key', { kind: 'input' });
  if (jwk.kty !== 'RSA' || typeof jwk.n !== 'string' || typeof jwk.e !== 'string') throw new CocoError('HCL_AK', 'HCLAkPub is not an RSA JWK', { kind: 'input' });
  try {
    return createPublicKey({ key: { kty: 'RSA', n: jwk.n, e: jwk.e }, format: 'jwk' });
  } catch (e) {
    throw new CocoError('HCL_AK', `HCLAkPub is not a valid RSA key: ${(e as Error).message}`, { kind: 'input', cause: e });
  }
}

/**
 * Builds an HCL report (the inverse of `parseHclReport`): for labs and tests that provision a vTPM the way
 * Azure's paravisor does. The hardware report's REPORT_DATA must already hold SHA-256(variableData).
 */
export function encodeHclReport(f: { reportType: HclReportType; hwReport: Uint8Array; variableData: Uint8Array; version?: number; size?: number }): Uint8Array {
  const size = f.size ?? VAR_DATA_OFFSET + f.variableData.length;
  if (size < VAR_DATA_OFFSET + f.variableData.length) throw new CocoError('HCL_REPORT', `an HCL report of ${size} bytes cannot hold ${f.variableData.length} bytes of runtime data`, { kind: 'usage' });
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  v.setUint32(0, 0x414c4348, true);
  v.setUint32(4, f.version ?? 2, true);
  v.setUint32(8, 0x20 + HW_REPORT_SIZE + 20 + f.variableData.length, true);
  v.setUint32(12, 2, true);
  out.set(f.hwReport.subarray(0, HW_REPORT_SIZE), HW_REPORT_OFFSET);
  v.setUint32(IGVM_OFFSET, 20 + f.variableData.length, true);
  v.setUint32(IGVM_OFFSET + 4, 1, true);
  v.setUint32(IGVM_OFFSET + 8, f.reportType === 'snp' ? 2 : 4, true);
  v.setUint32(IGVM_OFFSET + 12, 1, true);
  v.setUint32(IGVM_OFFSET + 16, f.variableData.length, true);
  out.set(f.variableData, VAR_DATA_OFFSET);
  return out;
}

/** REPORT_DATA of the embedded hardware report: SNP offset 0x50 (64 bytes), TDREPORT offset 128 (64 bytes). */
export function hwReportData(report: Pick<HclReport, 'reportType' | 'hwReport'>): Uint8Array {
  return report.reportType === 'snp' ? report.hwReport.subarray(0x50, 0x90) : report.hwReport.subarray(128, 192);
}

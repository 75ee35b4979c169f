/**
 * Trustee's Azure evidence JSON (specs/measured-boot.md §4.6), all versions: v2/v1 `{"version", "tpm_quote":
 * {"signature": hex, "message": hex, "pcrs": [hex × 24]}, "hcl_report": base64url, "vcek": base64url DER |
 * "td_quote": base64url}` and the legacy v0 form with byte arrays (`quote`/`report`/`vcek` PEM for SNP,
 * `tpm_quote`/`hcl_report`/`td_quote` for TDX). The vTPM signature is the raw 256-byte RSASSA signature.
 */
import { CocoError } from '../../errors.js';
import { fromBase64Url } from '../../formats/bytes.js';

export interface AzureVtpmQuote {
  signature: Uint8Array;
  message: Uint8Array;
  pcrs: Uint8Array[];
}

export interface AzureEvidence {
  version: 0 | 1 | 2;
  quote: AzureVtpmQuote;
  hclReport: Uint8Array;
  /** SNP: the VCEK (DER for v1/v2, PEM bytes for v0). */
  vcek?: Uint8Array;
  /** TDX: the TD quote. */
  tdQuote?: Uint8Array;
}

function bad(path: string, want: string): never {
  throw new CocoError('AZ_EVIDENCE', `Azure vTPM evidence: ${path} must be ${want}`, { kind: 'input', detail: { path } });
}
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const MAX = 1 << 20;

function bytesArray(v: unknown, path: string, length?: number): Uint8Array {
  if (!Array.isArray(v) || v.length > MAX || (length !== undefined && v.length !== length)) bad(path, length === undefined ? 'an array of bytes' : `an array of ${length} bytes`);
  const arr = v as unknown[];
  const out = new Uint8Array(arr.length);
  for (let i = 0; i < arr.length; i++) {
    const b = arr[i];
    if (typeof b !== 'number' || !Number.isInteger(b) || b < 0 || b > 255) bad(`${path}[${i}]`, 'a byte');
    out[i] = b as number;
  }
  return out;
}
function hex(v: unknown, path: string, length?: number): Uint8Array {
  if (typeof v !== 'string' || v.length > 2 * MAX || !/^([0-9a-fA-F]{2})*$/.test(v) || (length !== undefined && v.length !== 2 * length)) bad(path, length === undefined ? 'a hex string' : `a hex string of ${length} bytes`);
  return new Uint8Array(Buffer.from(v as string, 'hex'));
}
function b64url(v: unknown, path: string): Uint8Array {
  if (typeof v !== 'string' || v.length > 2 * MAX) bad(path, 'a base64url string');
  try {
    // The sample evidence pads its base64url; accept both forms.
    return fromBase64Url((v as string).replace(/=+$/, ''), path);
  } catch {
    return bad(path, 'base64url');
  }
}

function pcrList(v: unknown, path: string, item: (x: unknown, p: string) => Uint8Array): Uint8Array[] {
  if (!Array.isArray(v) || v.length !== 24) bad(path, 'an array of 24 SHA-256 PCR values');
  return (v as unknown[]).map((x, i) => item(x, `${path}[${i}]`));
}

/**
 * @param kind which Azure flavour the `tee` named: the SNP form carries a VCEK, the TDX form a TD quote
 * @throws CocoError AZ_EVIDENCE (kind `input`)
 */
export function azureEvidenceFromJson(json: unknown, kind: 'snp' | 'tdx'): AzureEvidence {
  if (!isObject(json)) bad('evidence', 'an object');
  if (json.version !== undefined) {
    if (json.version !== 1 && json.version !== 2) bad('version', '1 or 2');
    const q = json.tpm_quote;
    if (!isObject(q)) bad('tpm_quote', 'an object');
    const quote = { signature: hex(q.signature, 'tpm_quote.signature'), message: hex(q.message, 'tpm_quote.message'), pcrs: pcrList(q.pcrs, 'tpm_quote.pcrs', (x, p) => hex(x, p, 32)) };
    const ev: AzureEvidence = { version: json.version as 1 | 2, quote, hclReport: b64url(json.hcl_report, 'hcl_report') };
    if (kind === 'snp') ev.vcek = b64url(json.vcek, 'vcek');
    else ev.tdQuote = b64url(json.td_quote, 'td_quote');
    return ev;
  }
  // v0: byte arrays; SNP names its parts quote/report/vcek (PEM), TDX tpm_quote/hcl_report/td_quote.
  const q = kind === 'snp' ? json.quote : json.tpm_quote;
  const qPath = kind === 'snp' ? 'quote' : 'tpm_quote';
  if (!isObject(q)) bad(qPath, 'an object');
  const quote = { signature: bytesArray(q.signature, `${qPath}.signature`), message: bytesArray(q.message, `${qPath}.message`), pcrs: pcrList(q.pcrs, `${qPath}.pcrs`, (x, p) => bytesArray(x, p, 32)) };
  if (kind === 'snp') {
    if (typeof json.vcek !== 'string' || !json.vcek.includes('-----BEGIN CERTIFICATE-----')) bad('vcek', 'a PEM certificate');
    return { version: 0, quote, hclReport: bytesArray(json.report, 'report'), vcek: new TextEncoder().encode(json.vcek as string) };
  }
  return { version: 0, quote, hclReport: bytesArray(json.hcl_report, 'hcl_report'), tdQuote: bytesArray(json.td_quote, 'td_quote') };
}

/**
 * az-cvm-vtpm's bincode `Quote` (`quote.bin` in its tests and Trustee's): u64le length + signature, u64le
 * length + message (TPMS_ATTEST), u64le count + count × 32-byte SHA-256 PCRs.
 * @throws CocoError AZ_EVIDENCE (kind `input`)
 */
export function parseBincodeQuote(bytes: Uint8Array): AzureVtpmQuote {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  const len = (unit: number, what: string): number => {
    if (at + 8 > bytes.length) bad(what, 'present (the quote is truncated)');
    const n = v.getBigUint64(at, true);
    at += 8;
    if (n * BigInt(unit) > BigInt(bytes.length - at)) bad(what, `at most the ${bytes.length - at} bytes left`);
    return Number(n);
  };
  const take = (n: number) => bytes.subarray(at, (at += n));
  const signature = take(len(1, 'signature length'));
  const message = take(len(1, 'message length'));
  const count = len(32, 'PCR count');
  if (count !== 24) bad('PCR count', '24');
  const pcrs = Array.from({ length: count }, () => take(32));
  if (at !== bytes.length) bad('quote', `exactly its ${at} bytes`);
  return { signature, message, pcrs };
}

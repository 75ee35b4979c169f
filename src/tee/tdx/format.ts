/**
 * Intel TDX DCAP quote wire format (specs/tdx-initdata.md §1): quote versions 4 and 5 (TD report body types
 * 2 = TDX 1.0 and 3 = TDX 1.5), the ECDSA-P256 signature data, the QE report certification data (type 6) with
 * its QE report, QE authentication data and nested certification data (type 5 = PCK certificate chain). No
 * crypto here (parsing never verifies).
 *
 * Each structure is one offset table; parse and serialize both walk it, so every accepted quote serializes
 * back to the same bytes, trailing buffer bytes included.
 */
import { CocoError } from '../../errors.js';
import { ByteReader, ByteWriter } from '../../formats/reader.js';

/** `tee_type` of a TD quote (§1.2); SGX enclave quotes carry 0. */
export const TEE_TYPE_TDX = 0x81;
/** `att_key_type` 2 = ECDSA-256-with-P-256 (§1.2); 3 (P-384) is defined but no QE produces it. */
export const ATT_KEY_TYPE_ECDSA_P256 = 2;
/** Intel's QE vendor id (§1.2). */
export const INTEL_QE_VENDOR_ID = '939a7233f79c4ca9940a0db3957f0607';
export const HEADER_SIZE = 48;
/** TD report body sizes per v5 body type (§1.1): 2 = TDX 1.0, 3 = TDX 1.5 (adds TEE_TCB_SVN2, MRSERVICETD). */
export const BODY_SIZE: Readonly<Record<2 | 3, number>> = { 2: 584, 3: 648 };
export const QE_REPORT_SIZE = 384;
/** Certification data types (§1.4, `sgx_ql_cert_key_type_t`). */
export const CERT_DATA_PCK_CHAIN = 5;
export const CERT_DATA_QE_REPORT = 6;
/**
 * Upper bound on what is parsed as one quote. configfs-tsm caps `outblob` at 32 KiB (§5.1); fixed-size quote
 * buffers seen in the wild are 8000 bytes. Larger input is refused before any field is read.
 */
export const MAX_QUOTE_SIZE = 64 * 1024;

type Kind = 'u16' | 'u32' | 'bytes';
interface Field<K extends string> {
  off: number;
  size: number;
  kind: Kind;
  name: K;
  /** Present only in body type 3 (TDX 1.5). */
  since?: 3;
}

export interface QuoteHeader {
  version: number;
  attKeyType: number;
  teeType: number;
  /** Bytes 8..11: reserved for TDX in `sgx_quote4_header_t` (QE/PCE SVN in SGX v3). Kept verbatim. */
  reserved: Uint8Array;
  qeVendorId: Uint8Array;
  userData: Uint8Array;
}

/** The header, §1.2 (`sgx_quote4_header_t`). */
export const HEADER_FIELDS: readonly Field<keyof QuoteHeader>[] = [
  { off: 0, size: 2, kind: 'u16', name: 'version' },
  { off: 2, size: 2, kind: 'u16', name: 'attKeyType' },
  { off: 4, size: 4, kind: 'u32', name: 'teeType' },
  { off: 8, size: 4, kind: 'bytes', name: 'reserved' },
  { off: 12, size: 16, kind: 'bytes', name: 'qeVendorId' },
  { off: 28, size: 20, kind: 'bytes', name: 'userData' },
];

/** TD report body ("TD quote body"). Byte fields as on the wire; TDATTRIBUTES etc. are u64 LE (decode below). */
export interface TdReportBody {
  teeTcbSvn: Uint8Array;
  mrSeam: Uint8Array;
  mrSignerSeam: Uint8Array;
  seamAttributes: Uint8Array;
  tdAttributes: Uint8Array;
  xfam: Uint8Array;
  mrTd: Uint8Array;
  mrConfigId: Uint8Array;
  mrOwner: Uint8Array;
  mrOwnerConfig: Uint8Array;
  rtmr0: Uint8Array;
  rtmr1: Uint8Array;
  rtmr2: Uint8Array;
  rtmr3: Uint8Array;
  reportData: Uint8Array;
  /** Body type 3 only (null for TDX 1.0 bodies). */
  teeTcbSvn2: Uint8Array | null;
  mrServiceTd: Uint8Array | null;
}

/** The TD report body, §1.3 (`sgx_report2_body_t`, `sgx_report2_body_v1_5_t`); offsets from the body start. */
export const BODY_FIELDS: readonly Field<keyof TdReportBody>[] = [
  { off: 0, size: 16, kind: 'bytes', name: 'teeTcbSvn' },
  { off: 16, size: 48, kind: 'bytes', name: 'mrSeam' },
  { off: 64, size: 48, kind: 'bytes', name: 'mrSignerSeam' },
  { off: 112, size: 8, kind: 'bytes', name: 'seamAttributes' },
  { off: 120, size: 8, kind: 'bytes', name: 'tdAttributes' },
  { off: 128, size: 8, kind: 'bytes', name: 'xfam' },
  { off: 136, size: 48, kind: 'bytes', name: 'mrTd' },
  { off: 184, size: 48, kind: 'bytes', name: 'mrConfigId' },
  { off: 232, size: 48, kind: 'bytes', name: 'mrOwner' },
  { off: 280, size: 48, kind: 'bytes', name: 'mrOwnerConfig' },
  { off: 328, size: 48, kind: 'bytes', name: 'rtmr0' },
  { off: 376, size: 48, kind: 'bytes', name: 'rtmr1' },
  { off: 424, size: 48, kind: 'bytes', name: 'rtmr2' },
  { off: 472, size: 48, kind: 'bytes', name: 'rtmr3' },
  { off: 520, size: 64, kind: 'bytes', name: 'reportData' },
  { off: 584, size: 16, kind: 'bytes', name: 'teeTcbSvn2', since: 3 },
  { off: 600, size: 48, kind: 'bytes', name: 'mrServiceTd', since: 3 },
];

/** The Quoting Enclave's SGX REPORT body (`sgx_report_body_t`, §1.4). Reserved ranges are kept verbatim: they are signed. */
export interface QeReport {
  cpuSvn: Uint8Array;
  miscSelect: number;
  reserved1: Uint8Array;
  isvExtProdId: Uint8Array;
  attributes: Uint8Array;
  mrEnclave: Uint8Array;
  reserved2: Uint8Array;
  mrSigner: Uint8Array;
  reserved3: Uint8Array;
  configId: Uint8Array;
  isvProdId: number;
  isvSvn: number;
  configSvn: number;
  reserved4: Uint8Array;
  isvFamilyId: Uint8Array;
  reportData: Uint8Array;
}

export const QE_REPORT_FIELDS: readonly Field<keyof QeReport>[] = [
  { off: 0, size: 16, kind: 'bytes', name: 'cpuSvn' },
  { off: 16, size: 4, kind: 'u32', name: 'miscSelect' },
  { off: 20, size: 12, kind: 'bytes', name: 'reserved1' },
  { off: 32, size: 16, kind: 'bytes', name: 'isvExtProdId' },
  { off: 48, size: 16, kind: 'bytes', name: 'attributes' },
  { off: 64, size: 32, kind: 'bytes', name: 'mrEnclave' },
  { off: 96, size: 32, kind: 'bytes', name: 'reserved2' },
  { off: 128, size: 32, kind: 'bytes', name: 'mrSigner' },
  { off: 160, size: 32, kind: 'bytes', name: 'reserved3' },
  { off: 192, size: 64, kind: 'bytes', name: 'configId' },
  { off: 256, size: 2, kind: 'u16', name: 'isvProdId' },
  { off: 258, size: 2, kind: 'u16', name: 'isvSvn' },
  { off: 260, size: 2, kind: 'u16', name: 'configSvn' },
  { off: 262, size: 42, kind: 'bytes', name: 'reserved4' },
  { off: 304, size: 16, kind: 'bytes', name: 'isvFamilyId' },
  { off: 320, size: 64, kind: 'bytes', name: 'reportData' },
];

/** Certification data inside the QE report certification data (normally type 5, the PEM PCK chain). */
export interface CertificationData {
  type: number;
  data: Uint8Array;
}

/** `sgx_ecdsa_sig_data_v4_t` with its type-6 QE report certification data (§1.4). */
export interface QuoteSignatureData {
  /** ECDSA P-256 r‖s (big-endian) over SHA-256 of the signed region. */
  signature: Uint8Array;
  /** Attestation public key X‖Y (big-endian, no 0x04 prefix). */
  attestationKey: Uint8Array;
  qeReport: QeReport;
  /** ECDSA P-256 r‖s by the PCK leaf key over SHA-256 of the 384-byte QE report. */
  qeReportSignature: Uint8Array;
  qeAuthData: Uint8Array;
  certification: CertificationData;
}

export interface TdxQuote {
  header: QuoteHeader;
  /** 2 (TDX 1.0) or 3 (TDX 1.5); v4 quotes are always 2. */
  bodyType: 2 | 3;
  body: TdReportBody;
  signatureData: QuoteSignatureData;
  /** Bytes after the signature data (fixed-size quote buffers, §1.1); ignored by verification, kept for round trip. */
  trailing: Uint8Array;
}

function fail(code: string, message: string, detail?: unknown): never {
  throw new CocoError(code, `TDX quote: ${message}`, { kind: 'input', detail });
}

function readStruct<K extends string>(r: ByteReader, base: number, fields: readonly Field<K>[], bodyType: 2 | 3 = 3): Record<K, number | Uint8Array | null> {
  const out = {} as Record<K, number | Uint8Array | null>;
  for (const f of fields) {
    if (f.since !== undefined && bodyType < f.since) {
      out[f.name] = null;
      continue;
    }
    const b = r.at(base + f.off, f.size);
    out[f.name] = f.kind === 'bytes' ? b : f.kind === 'u16' ? b[0] | (b[1] << 8) : new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true);
  }
  return out;
}

function writeStruct<K extends string>(w: ByteWriter, value: Record<K, unknown>, fields: readonly Field<K>[], what: string, bodyType: 2 | 3 = 3): void {
  for (const f of fields) {
    if (f.since !== undefined && bodyType < f.since) continue;
    const v = value[f.name];
    const bad = (): never =>
      fail('TDX_QUOTE_FIELD', `${what}.${f.name} does not fit its ${f.size} byte(s)`, { field: f.name });
    if (f.kind === 'bytes') {
      if (!(v instanceof Uint8Array) || v.length !== f.size) bad();
      w.bytes(v as Uint8Array);
    } else {
      const max = f.kind === 'u16' ? 0xffff : 0xffffffff;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) bad();
      if (f.kind === 'u16') w.u16le(v as number);
      else w.u32le(v as number);
    }
  }
}

/** Parses the 384-byte QE report. */
export function parseQeReport(bytes: Uint8Array): QeReport {
  if (bytes.length !== QE_REPORT_SIZE) fail('TDX_QUOTE_QE_REPORT', `QE report must be ${QE_REPORT_SIZE} bytes, got ${bytes.length}`);
  return readStruct(new ByteReader(bytes, 'QE report'), 0, QE_REPORT_FIELDS) as unknown as QeReport;
}

export function serializeQeReport(q: QeReport): Uint8Array {
  const w = new ByteWriter(QE_REPORT_SIZE);
  writeStruct(w, q as unknown as Record<keyof QeReport, unknown>, QE_REPORT_FIELDS, 'qeReport');
  return w.finish();
}

/** Offset of the TD report body: 48 for v4, 54 for v5 (after the u16 type and u32 size, §1.1). */
export function bodyOffset(version: number): number {
  return version === 4 ? HEADER_SIZE : HEADER_SIZE + 6;
}

/** Length of the region the attestation key signs: header, (v5 type/size) and body (§1.1). */
export function signedLength(q: Pick<TdxQuote, 'header' | 'bodyType'>): number {
  return bodyOffset(q.header.version) + BODY_SIZE[q.bodyType];
}

function parseSignatureData(r: ByteReader, start: number, length: number): QuoteSignatureData {
  const s = new ByteReader(r.at(start, length), 'TDX quote signature data');
  const signature = s.take(64);
  const attestationKey = s.take(64);
  const certType = s.u16le();
  if (certType !== CERT_DATA_QE_REPORT) {
    fail('TDX_QUOTE_CERT_DATA', `certification data type ${certType}, expected ${CERT_DATA_QE_REPORT} (QE report certification data)`, { type: certType });
  }
  const certSize = s.u32le();
  // go-tdx-guest: the outer certification data fills the signature data exactly (§1.4 consistency rule).
  if (certSize !== s.remaining) fail('TDX_QUOTE_CERT_DATA', `certification data size ${certSize} differs from the ${s.remaining} byte(s) left in the signature data`);
  const qeReport = parseQeReport(s.take(QE_REPORT_SIZE));
  const qeReportSignature = s.take(64);
  const authLen = s.u16le();
  const qeAuthData = s.take(authLen);
  const innerType = s.u16le();
  const innerSize = s.u32le();
  if (innerSize !== s.remaining) fail('TDX_QUOTE_CERT_DATA', `nested certification data size ${innerSize} differs from the ${s.remaining} byte(s) left`);
  const data = s.take(innerSize);
  return { signature, attestationKey, qeReport, qeReportSignature, qeAuthData, certification: { type: innerType, data } };
}

/**
 * Parses a DCAP TD quote (v4, or v5 with body type 2 or 3). Throws a CocoError of kind `input` for truncated
 * or inconsistent quotes, SGX quotes, and unknown versions/key types; `limit` above MAX_QUOTE_SIZE.
 * Bytes after the signature data are kept in `trailing` (§1.1: parse strictly by `sig_data_len`).
 */
export function parseQuote(input: Uint8Array): TdxQuote {
  if (input.length > MAX_QUOTE_SIZE) {
    throw new CocoError('TDX_QUOTE_SIZE', `TDX quote: ${input.length} bytes exceed the ${MAX_QUOTE_SIZE}-byte limit`, { kind: 'limit' });
  }
  const bytes = new Uint8Array(input); // private copy: byte fields are views into it
  const r = new ByteReader(bytes, 'TDX quote');
  const header = readStruct(r, 0, HEADER_FIELDS) as unknown as QuoteHeader;
  if (header.version !== 4 && header.version !== 5) fail('TDX_QUOTE_VERSION', `version ${header.version} is not a TD quote version (4 or 5)`, { version: header.version });
  if (header.teeType !== TEE_TYPE_TDX) fail('TDX_QUOTE_TEE_TYPE', `tee_type 0x${header.teeType.toString(16)} is not TDX (0x81)`);
  if (header.attKeyType !== ATT_KEY_TYPE_ECDSA_P256) fail('TDX_QUOTE_KEY_TYPE', `attestation key type ${header.attKeyType} is not ECDSA P-256 (2)`);
  let bodyType: 2 | 3 = 2;
  if (header.version === 5) {
    r.seek(HEADER_SIZE);
    const t = r.u16le();
    const size = r.u32le();
    if (t !== 2 && t !== 3) fail('TDX_QUOTE_BODY_TYPE', `v5 body type ${t} is not a TD report (2 or 3)`, { type: t });
    bodyType = t;
    if (size !== BODY_SIZE[bodyType]) fail('TDX_QUOTE_BODY_TYPE', `v5 body type ${t} must be ${BODY_SIZE[bodyType]} bytes, size says ${size}`);
  }
  const base = bodyOffset(header.version);
  const body = readStruct(r, base, BODY_FIELDS, bodyType) as unknown as TdReportBody;
  r.seek(base + BODY_SIZE[bodyType]);
  const sigLen = r.u32le();
  const sigStart = r.offset;
  if (sigLen > r.remaining) fail('TDX_QUOTE_TRUNCATED', `signature data length ${sigLen} exceeds the ${r.remaining} byte(s) left`);
  const signatureData = parseSignatureData(r, sigStart, sigLen);
  return { header, bodyType, body, signatureData, trailing: bytes.subarray(sigStart + sigLen) };
}

/** Writes a quote back to its wire bytes (the inverse of `parseQuote`, trailing bytes included). */
export function serializeQuote(q: TdxQuote): Uint8Array {
  const w = new ByteWriter(6000);
  writeStruct(w, q.header as unknown as Record<keyof QuoteHeader, unknown>, HEADER_FIELDS, 'header');
  if (q.header.version === 5) w.u16le(q.bodyType).u32le(BODY_SIZE[q.bodyType]);
  else if (q.header.version !== 4 || q.bodyType !== 2) fail('TDX_QUOTE_VERSION', `version ${q.header.version} with body type ${q.bodyType} cannot be written`);
  writeStruct(w, q.body as unknown as Record<keyof TdReportBody, unknown>, BODY_FIELDS, 'body', q.bodyType);
  const s = q.signatureData;
  const inner = s.certification.data;
  const certSize = QE_REPORT_SIZE + 64 + 2 + s.qeAuthData.length + 6 + inner.length;
  if (s.qeAuthData.length > 0xffff) fail('TDX_QUOTE_FIELD', 'QE auth data exceeds 65535 bytes');
  if (s.signature.length !== 64 || s.attestationKey.length !== 64 || s.qeReportSignature.length !== 64) fail('TDX_QUOTE_FIELD', 'signatures and the attestation key are 64 bytes');
  w.u32le(128 + 6 + certSize);
  w.bytes(s.signature).bytes(s.attestationKey).u16le(CERT_DATA_QE_REPORT).u32le(certSize);
  w.bytes(serializeQeReport(s.qeReport)).bytes(s.qeReportSignature);
  w.u16le(s.qeAuthData.length).bytes(s.qeAuthData);
  w.u16le(s.certification.type).u32le(inner.length).bytes(inner);
  w.bytes(q.trailing);
  return w.finish();
}

// ───────────────────────────── decoded fields ─────────────────────────────

/** TDATTRIBUTES (§1.3): TUD bits 7:0 (bit 0 DEBUG), SEC bits 31:8, OTHER bits 63:32. */
export interface TdAttributes {
  debug: boolean;
  /** Bits 7:1 of TUD: reserved; any set bit also means the TD is untrusted. */
  tudReserved: number;
  septVeDisable: boolean;
  protectionKeys: boolean;
  keyLocker: boolean;
  perfmon: boolean;
  /** Every bit the TDX 1.5 ABI reserves: 7:1, 27:8, 29, 62:32. */
  reserved: bigint;
  raw: bigint;
}

export function u64le(b: Uint8Array): bigint {
  return new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
}

export function decodeTdAttributes(bytes: Uint8Array): TdAttributes {
  const raw = u64le(bytes);
  const bit = (n: number): boolean => ((raw >> BigInt(n)) & 1n) === 1n;
  const known = (1n << 0n) | (1n << 28n) | (1n << 30n) | (1n << 31n) | (1n << 63n);
  return {
    debug: bit(0),
    tudReserved: Number((raw >> 1n) & 0x7fn),
    septVeDisable: bit(28),
    protectionKeys: bit(30),
    keyLocker: bit(31),
    perfmon: bit(63),
    reserved: raw & ~known,
    raw,
  };
}

/** The RTMRs in index order. */
export function rtmrs(b: TdReportBody): Uint8Array[] {
  return [b.rtmr0, b.rtmr1, b.rtmr2, b.rtmr3];
}

/**
 * The PCK certificate chain of a type-5 certification data as DER certificates, in the quote's order (leaf,
 * intermediate, root). The PEM text may end with one NUL byte (§1.4); anything else outside the PEM blocks
 * other than whitespace is refused.
 */
export function pemChain(data: Uint8Array, what = 'PCK certificate chain'): Uint8Array[] {
  let end = data.length;
  if (end > 0 && data[end - 1] === 0) end--;
  const text = Buffer.from(data.subarray(0, end)).toString('latin1');
  const re = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]*?)-----END CERTIFICATE-----/g;
  const out: Uint8Array[] = [];
  let last = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (text.slice(last, m.index).trim() !== '') fail('TDX_QUOTE_PCK_CHAIN', `${what}: unexpected text before certificate ${out.length + 1}`);
    out.push(new Uint8Array(Buffer.from(m[1].replace(/\s+/g, ''), 'base64')));
    last = m.index + m[0].length;
  }
  if (text.slice(last).trim() !== '') fail('TDX_QUOTE_PCK_CHAIN', `${what}: unexpected text after the last certificate`);
  if (out.length === 0) fail('TDX_QUOTE_PCK_CHAIN', `${what}: no PEM certificate`);
  return out;
}

/** The PCK chain carried by a quote (certification data type 5), as DER. */
export function quotePckChain(q: TdxQuote): Uint8Array[] {
  const c = q.signatureData.certification;
  if (c.type !== CERT_DATA_PCK_CHAIN) {
    throw new CocoError('TDX_QUOTE_CERT_DATA', `TDX quote: nested certification data type ${c.type}; only ${CERT_DATA_PCK_CHAIN} (PCK certificate chain) is supported`, {
      kind: 'unsupported',
    });
  }
  return pemChain(c.data);
}

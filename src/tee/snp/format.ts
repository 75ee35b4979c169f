/**
 * SEV-SNP ATTESTATION_REPORT wire format (specs/snp.md §1): parse and serialize the 1184-byte report
 * (versions 2, 3, 4 and 5), decode guest policy, platform info, key info and both TCB layouts, the
 * extended-report certificate table (§1.7), and the CoCo JSON evidence form (§1.8). No crypto here
 * (parsing never verifies).
 *
 * Every field lives in one offset table (`FIELDS`); parse and serialize both walk it, so a parsed report
 * serializes back to the same bytes.
 */
import { CocoError } from '../../errors.js';
import { isAllZero, toHex } from '../../formats/bytes.js';

export const REPORT_SIZE = 0x4a0;
/** The signature covers bytes [0, 0x2A0) (§1.1). */
export const SIGNED_LENGTH = 0x2a0;

export type SnpProduct = 'milan' | 'genoa' | 'turin';
export const PRODUCTS: readonly SnpProduct[] = ['milan', 'genoa', 'turin'];
/** KDS spelling of a product (`Milan`, …), as in URLs and certificate names. */
export function kdsProductName(p: SnpProduct): string {
  return p[0].toUpperCase() + p.slice(1);
}

/** Byte order of a TCB_VERSION: Milan/Genoa `[bl, tee, 0,0,0,0, snp, ucode]`, Turin `[fmc, bl, tee, snp, 0,0,0, ucode]` (§1.3). */
export type TcbLayout = 'legacy' | 'turin';

export interface TcbVersion {
  /** Turin only; null in the legacy layout. */
  fmc: number | null;
  bootloader: number;
  tee: number;
  snp: number;
  microcode: number;
  /** The u64 as on the wire (reserved bytes included, so serialization is exact). */
  raw: bigint;
}

export interface FirmwareVersion {
  major: number;
  minor: number;
  build: number;
}

/** One parsed report. Byte fields are views into a private copy of the input. */
export interface SnpReport {
  version: number;
  guestSvn: number;
  policy: bigint;
  familyId: Uint8Array;
  imageId: Uint8Array;
  vmpl: number;
  signatureAlgo: number;
  currentTcb: TcbVersion;
  platformInfo: bigint;
  keyInfo: number;
  reportData: Uint8Array;
  measurement: Uint8Array;
  hostData: Uint8Array;
  idKeyDigest: Uint8Array;
  authorKeyDigest: Uint8Array;
  reportId: Uint8Array;
  reportIdMa: Uint8Array;
  reportedTcb: TcbVersion;
  /** v3+ only (null for v2). */
  cpuidFamId: number | null;
  cpuidModId: number | null;
  cpuidStep: number | null;
  chipId: Uint8Array;
  committedTcb: TcbVersion;
  current: FirmwareVersion;
  committed: FirmwareVersion;
  launchTcb: TcbVersion;
  /** v5+ only (null before). */
  launchMitVector: bigint | null;
  currentMitVector: bigint | null;
  /** 72-byte little-endian r and s (§1.6). */
  signatureR: Uint8Array;
  signatureS: Uint8Array;
  /** The TCB layout used to decode the four TCB fields. */
  tcbLayout: TcbLayout;
}

type Kind = 'u8' | 'u32' | 'u64' | 'bytes' | 'tcb' | 'mbz';
interface Field {
  off: number;
  size: number;
  kind: Kind;
  /** Key in SnpReport (absent for reserved ranges). */
  name?: keyof SnpReport | 'currentBuild' | 'currentMinor' | 'currentMajor' | 'committedBuild' | 'committedMinor' | 'committedMajor';
  /** Present from this report version on; reserved (must be zero) before. */
  since?: number;
}

/** The ATTESTATION_REPORT layout, §1.2 (go-sev-guest `abi/abi.go`, virtee `AttestationReport`). */
export const FIELDS: readonly Field[] = [
  { off: 0x000, size: 4, kind: 'u32', name: 'version' },
  { off: 0x004, size: 4, kind: 'u32', name: 'guestSvn' },
  { off: 0x008, size: 8, kind: 'u64', name: 'policy' },
  { off: 0x010, size: 16, kind: 'bytes', name: 'familyId' },
  { off: 0x020, size: 16, kind: 'bytes', name: 'imageId' },
  { off: 0x030, size: 4, kind: 'u32', name: 'vmpl' },
  { off: 0x034, size: 4, kind: 'u32', name: 'signatureAlgo' },
  { off: 0x038, size: 8, kind: 'tcb', name: 'currentTcb' },
  { off: 0x040, size: 8, kind: 'u64', name: 'platformInfo' },
  { off: 0x048, size: 4, kind: 'u32', name: 'keyInfo' },
  { off: 0x04c, size: 4, kind: 'mbz' },
  { off: 0x050, size: 64, kind: 'bytes', name: 'reportData' },
  { off: 0x090, size: 48, kind: 'bytes', name: 'measurement' },
  { off: 0x0c0, size: 32, kind: 'bytes', name: 'hostData' },
  { off: 0x0e0, size: 48, kind: 'bytes', name: 'idKeyDigest' },
  { off: 0x110, size: 48, kind: 'bytes', name: 'authorKeyDigest' },
  { off: 0x140, size: 32, kind: 'bytes', name: 'reportId' },
  { off: 0x160, size: 32, kind: 'bytes', name: 'reportIdMa' },
  { off: 0x180, size: 8, kind: 'tcb', name: 'reportedTcb' },
  { off: 0x188, size: 1, kind: 'u8', name: 'cpuidFamId', since: 3 },
  { off: 0x189, size: 1, kind: 'u8', name: 'cpuidModId', since: 3 },
  { off: 0x18a, size: 1, kind: 'u8', name: 'cpuidStep', since: 3 },
  { off: 0x18b, size: 21, kind: 'mbz' },
  { off: 0x1a0, size: 64, kind: 'bytes', name: 'chipId' },
  { off: 0x1e0, size: 8, kind: 'tcb', name: 'committedTcb' },
  { off: 0x1e8, size: 1, kind: 'u8', name: 'currentBuild' },
  { off: 0x1e9, size: 1, kind: 'u8', name: 'currentMinor' },
  { off: 0x1ea, size: 1, kind: 'u8', name: 'currentMajor' },
  { off: 0x1eb, size: 1, kind: 'mbz' },
  { off: 0x1ec, size: 1, kind: 'u8', name: 'committedBuild' },
  { off: 0x1ed, size: 1, kind: 'u8', name: 'committedMinor' },
  { off: 0x1ee, size: 1, kind: 'u8', name: 'committedMajor' },
  { off: 0x1ef, size: 1, kind: 'mbz' },
  { off: 0x1f0, size: 8, kind: 'tcb', name: 'launchTcb' },
  { off: 0x1f8, size: 8, kind: 'u64', name: 'launchMitVector', since: 5 },
  { off: 0x200, size: 8, kind: 'u64', name: 'currentMitVector', since: 5 },
  { off: 0x208, size: 152, kind: 'mbz' },
  { off: 0x2a0, size: 72, kind: 'bytes', name: 'signatureR' },
  { off: 0x2e8, size: 72, kind: 'bytes', name: 'signatureS' },
  { off: 0x330, size: 368, kind: 'mbz' },
];

// ───────────────────────────── product and TCB layout ─────────────────────────────

/**
 * Product from the v3+ CPUID bytes, with Trustee's ranges (`get_processor_generation`, §1.3): family 0x19
 * models 0x00–0x0F Milan, 0x10–0x1F and 0xA0–0xAF Genoa; family 0x1A models 0x00–0x11 Turin.
 */
export function productFromCpuid(family: number, model: number): SnpProduct | null {
  if (family === 0x19) {
    if (model <= 0x0f) return 'milan';
    if ((model >= 0x10 && model <= 0x1f) || (model >= 0xa0 && model <= 0xaf)) return 'genoa';
  }
  if (family === 0x1a && model <= 0x11) return 'turin';
  return null;
}

/** The product a report names itself (v3+), or null for v2 / unknown CPUs. */
export function reportProduct(r: Pick<SnpReport, 'cpuidFamId' | 'cpuidModId'>): SnpProduct | null {
  if (r.cpuidFamId === null || r.cpuidModId === null) return null;
  return productFromCpuid(r.cpuidFamId, r.cpuidModId);
}

export function layoutOf(product: SnpProduct): TcbLayout {
  return product === 'turin' ? 'turin' : 'legacy';
}

export function decodeTcb(raw: bigint, layout: TcbLayout): TcbVersion {
  const b = (i: number): number => Number((raw >> BigInt(8 * i)) & 0xffn);
  return layout === 'turin'
    ? { fmc: b(0), bootloader: b(1), tee: b(2), snp: b(3), microcode: b(7), raw }
    : { fmc: null, bootloader: b(0), tee: b(1), snp: b(6), microcode: b(7), raw };
}

export function encodeTcb(t: Omit<TcbVersion, 'raw'>, layout: TcbLayout): bigint {
  const at = (v: number, i: number): bigint => BigInt(v & 0xff) << BigInt(8 * i);
  return layout === 'turin'
    ? at(t.fmc ?? 0, 0) | at(t.bootloader, 1) | at(t.tee, 2) | at(t.snp, 3) | at(t.microcode, 7)
    : at(t.bootloader, 0) | at(t.tee, 1) | at(t.snp, 6) | at(t.microcode, 7);
}

// ───────────────────────────── raw report ─────────────────────────────

export interface ParseOptions {
  /**
   * Product for version-2 reports, which carry no CPUID bytes (go-sev-guest takes it from configuration).
   * Without it, virtee's guess applies: CHIP_ID with only the first 8 bytes set means Turin.
   */
  product?: SnpProduct;
}

function rd(bytes: Uint8Array, v: DataView, f: Field): number | bigint | Uint8Array {
  switch (f.kind) {
    case 'u8':
      return bytes[f.off];
    case 'u32':
      return v.getUint32(f.off, true);
    case 'u64':
    case 'tcb':
      return v.getBigUint64(f.off, true);
    default:
      return bytes.subarray(f.off, f.off + f.size);
  }
}

function mbz(bytes: Uint8Array, off: number, size: number, what: string): void {
  let any = 0;
  for (let i = off; i < off + size; i++) any |= bytes[i];
  if (any !== 0) {
    throw new CocoError('SNP_REPORT_RESERVED', `SNP report: reserved bytes ${what} at 0x${off.toString(16)}..0x${(off + size).toString(16)} are not zero`, {
      kind: 'input',
      detail: { offset: off, size },
    });
  }
}

/**
 * Parses a 1184-byte ATTESTATION_REPORT. Throws a CocoError (`SNP_REPORT_SIZE`, `SNP_REPORT_VERSION`,
 * `SNP_REPORT_RESERVED`) for anything go-sev-guest's `ReportToProto` would reject, so that
 * `serializeReport(parseReport(b))` equals `b` for every accepted input.
 */
export function parseReport(input: Uint8Array, opts: ParseOptions = {}): SnpReport {
  if (input.length !== REPORT_SIZE) {
    throw new CocoError('SNP_REPORT_SIZE', `SNP report must be ${REPORT_SIZE} bytes, got ${input.length}`, { kind: 'input' });
  }
  const bytes = new Uint8Array(input); // private copy: the report's byte fields are views into it
  const view = new DataView(bytes.buffer);
  const version = view.getUint32(0, true);
  if (version < 2 || version > 5) {
    throw new CocoError('SNP_REPORT_VERSION', `SNP report version ${version} is not supported (2..5)`, { kind: 'input', detail: { version } });
  }
  const out: Record<string, unknown> = {};
  for (const f of FIELDS) {
    if (f.kind === 'mbz') {
      mbz(bytes, f.off, f.size, 'reserved');
      continue;
    }
    if (f.since !== undefined && version < f.since) {
      mbz(bytes, f.off, f.size, `${String(f.name)} (absent before version ${f.since})`);
      out[f.name as string] = null;
      continue;
    }
    out[f.name as string] = rd(bytes, view, f);
  }
  const cpuid = { cpuidFamId: out.cpuidFamId as number | null, cpuidModId: out.cpuidModId as number | null };
  const chipId = out.chipId as Uint8Array;
  let layout: TcbLayout;
  const fromCpuid = reportProduct(cpuid);
  if (fromCpuid) layout = layoutOf(fromCpuid);
  else if (opts.product) layout = layoutOf(opts.product);
  else layout = !isAllZero(chipId) && isAllZero(chipId.subarray(8)) ? 'turin' : 'legacy';

  const tcb = (k: string): TcbVersion => decodeTcb(out[k] as bigint, layout);
  return {
    version,
    guestSvn: out.guestSvn as number,
    policy: out.policy as bigint,
    familyId: out.familyId as Uint8Array,
    imageId: out.imageId as Uint8Array,
    vmpl: out.vmpl as number,
    signatureAlgo: out.signatureAlgo as number,
    currentTcb: tcb('currentTcb'),
    platformInfo: out.platformInfo as bigint,
    keyInfo: out.keyInfo as number,
    reportData: out.reportData as Uint8Array,
    measurement: out.measurement as Uint8Array,
    hostData: out.hostData as Uint8Array,
    idKeyDigest: out.idKeyDigest as Uint8Array,
    authorKeyDigest: out.authorKeyDigest as Uint8Array,
    reportId: out.reportId as Uint8Array,
    reportIdMa: out.reportIdMa as Uint8Array,
    reportedTcb: tcb('reportedTcb'),
    cpuidFamId: cpuid.cpuidFamId,
    cpuidModId: cpuid.cpuidModId,
    cpuidStep: out.cpuidStep as number | null,
    chipId,
    committedTcb: tcb('committedTcb'),
    current: { major: out.currentMajor as number, minor: out.currentMinor as number, build: out.currentBuild as number },
    committed: { major: out.committedMajor as number, minor: out.committedMinor as number, build: out.committedBuild as number },
    launchTcb: tcb('launchTcb'),
    launchMitVector: out.launchMitVector as bigint | null,
    currentMitVector: out.currentMitVector as bigint | null,
    signatureR: out.signatureR as Uint8Array,
    signatureS: out.signatureS as Uint8Array,
    tcbLayout: layout,
  };
}

function fieldValue(r: SnpReport, f: Field): number | bigint | Uint8Array | null {
  switch (f.name) {
    case 'currentBuild':
      return r.current.build;
    case 'currentMinor':
      return r.current.minor;
    case 'currentMajor':
      return r.current.major;
    case 'committedBuild':
      return r.committed.build;
    case 'committedMinor':
      return r.committed.minor;
    case 'committedMajor':
      return r.committed.major;
    default: {
      const v = r[f.name as keyof SnpReport];
      if (f.kind === 'tcb') return (v as TcbVersion).raw;
      return v as number | bigint | Uint8Array | null;
    }
  }
}

function doesNotFit(f: Field): never {
  throw new CocoError('SNP_REPORT_FIELD', `SNP report field ${String(f.name)} does not fit its ${f.size} byte(s)`, { kind: 'input' });
}

/** Writes the report back to its 1184 ABI bytes; fields absent for the version are written as zero. */
export function serializeReport(r: SnpReport): Uint8Array {
  const bytes = new Uint8Array(REPORT_SIZE);
  const view = new DataView(bytes.buffer);
  for (const f of FIELDS) {
    if (f.kind === 'mbz') continue;
    if (f.since !== undefined && r.version < f.since) continue;
    const v = fieldValue(r, f);
    if (v === null || v === undefined) continue;
    switch (f.kind) {
      case 'u8':
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xff) doesNotFit(f);
        view.setUint8(f.off, v as number);
        break;
      case 'u32':
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) doesNotFit(f);
        view.setUint32(f.off, v as number, true);
        break;
      case 'u64':
      case 'tcb':
        if (typeof v !== 'bigint' || v < 0n || v > 0xffffffffffffffffn) doesNotFit(f);
        view.setBigUint64(f.off, v as bigint, true);
        break;
      default:
        if (!(v instanceof Uint8Array) || v.length !== f.size) doesNotFit(f);
        bytes.set(v as Uint8Array, f.off);
    }
  }
  return bytes;
}

// ───────────────────────────── decoded bit fields ─────────────────────────────

/** Guest policy (§1.4; go-sev-guest `ParseSnpPolicy`, virtee `GuestPolicy`). */
export interface GuestPolicy {
  abiMinor: number;
  abiMajor: number;
  smt: boolean;
  /** Bit 17: must be 1. */
  reservedOne: boolean;
  migrateMa: boolean;
  debug: boolean;
  singleSocket: boolean;
  cxlAllow: boolean;
  memAes256Xts: boolean;
  raplDis: boolean;
  ciphertextHiding: boolean;
  pageSwapDisable: boolean;
  /** Bits 63:26 (must be zero). */
  reservedHigh: bigint;
}

export function decodePolicy(p: bigint): GuestPolicy {
  const bit = (n: number): boolean => ((p >> BigInt(n)) & 1n) === 1n;
  return {
    abiMinor: Number(p & 0xffn),
    abiMajor: Number((p >> 8n) & 0xffn),
    smt: bit(16),
    reservedOne: bit(17),
    migrateMa: bit(18),
    debug: bit(19),
    singleSocket: bit(20),
    cxlAllow: bit(21),
    memAes256Xts: bit(22),
    raplDis: bit(23),
    ciphertextHiding: bit(24),
    pageSwapDisable: bit(25),
    reservedHigh: p >> 26n,
  };
}

/** PLATFORM_INFO (§1.5; go-sev-guest `ParseSnpPlatformInfo`). */
export interface PlatformInfo {
  smtEnabled: boolean;
  tsmeEnabled: boolean;
  eccEnabled: boolean;
  raplDisabled: boolean;
  ciphertextHidingEnabled: boolean;
  aliasCheckComplete: boolean;
  tioEnabled: boolean;
  /** Bit 6 and bits 63:8 (reserved). */
  reserved: bigint;
}

export function decodePlatformInfo(p: bigint): PlatformInfo {
  const bit = (n: number): boolean => ((p >> BigInt(n)) & 1n) === 1n;
  return {
    smtEnabled: bit(0),
    tsmeEnabled: bit(1),
    eccEnabled: bit(2),
    raplDisabled: bit(3),
    ciphertextHidingEnabled: bit(4),
    aliasCheckComplete: bit(5),
    tioEnabled: bit(7),
    reserved: p & ~0xbfn,
  };
}

export type SigningKey = 'vcek' | 'vlek' | 'none' | 'reserved';

/** Key info at 0x48 (§1.2; go-sev-guest `ParseSignerInfo`). */
export interface KeyInfo {
  authorKeyEn: boolean;
  maskChipKey: boolean;
  signingKeyCode: number;
  signingKey: SigningKey;
  /** Bits 31:5. */
  reserved: number;
}

export function decodeKeyInfo(k: number): KeyInfo {
  const code = (k >>> 2) & 7;
  return {
    authorKeyEn: (k & 1) === 1,
    maskChipKey: (k & 2) === 2,
    signingKeyCode: code,
    signingKey: code === 0 ? 'vcek' : code === 1 ? 'vlek' : code === 7 ? 'none' : 'reserved',
    reserved: k >>> 5,
  };
}

export function formatVersion(v: FirmwareVersion): string {
  return `${v.major}.${v.minor}.${v.build}`;
}

// ───────────────────────────── extended-report certificate table ─────────────────────────────

export type CertType = 'ARK' | 'ASK' | 'VCEK' | 'VLEK' | 'CRL' | { OTHER: string };

/** GUIDs of the certificate table (§1.7; virtee `CertType`, go-sev-guest `abi.*GUID`). */
export const CERT_GUIDS: Readonly<Record<'ARK' | 'ASK' | 'VCEK' | 'VLEK' | 'CRL', string>> = {
  ARK: 'c0b406a4-a803-4952-9743-3fb6014cd0ae',
  ASK: '4ab7b379-bbac-4fe4-a02f-05aef327c782',
  VCEK: '63da758d-e664-4564-adc5-f4b93be8accd',
  VLEK: 'a8074bc2-a25a-483e-aae6-39c045a0b8a1',
  CRL: '92f81bc3-5811-4d3d-97ff-d19f88dc67ea',
};

export interface CertTableEntry {
  type: CertType;
  data: Uint8Array;
}

function guidString(b: Uint8Array): string {
  const h = toHex(b);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function guidBytes(s: string): Uint8Array {
  const h = s.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(h)) throw new CocoError('SNP_CERT_TABLE', `not a GUID: ${JSON.stringify(s)}`, { kind: 'input' });
  return new Uint8Array(Buffer.from(h, 'hex'));
}

export function certTypeFromGuid(guid: string): CertType {
  const g = guid.toLowerCase();
  for (const [name, id] of Object.entries(CERT_GUIDS)) if (id === g) return name as CertType;
  return { OTHER: g };
}

export function certTypeGuid(t: CertType): string {
  return typeof t === 'string' ? CERT_GUIDS[t] : t.OTHER.toLowerCase();
}

export function certTypeName(t: CertType): string {
  return typeof t === 'string' ? t : `OTHER(${t.OTHER})`;
}

const ENTRY_SIZE = 24;

/**
 * Parses the GHCB extended-report certificate table: 24-byte entries (GUID in RFC 4122 byte order, u32 LE
 * offset from the table start, u32 LE length) up to an all-zero entry, blobs after it.
 */
export function parseCertTable(table: Uint8Array): CertTableEntry[] {
  const out: CertTableEntry[] = [];
  const view = new DataView(table.buffer, table.byteOffset, table.byteLength);
  for (let at = 0; ; at += ENTRY_SIZE) {
    if (at + ENTRY_SIZE > table.length) {
      throw new CocoError('SNP_CERT_TABLE', 'SNP certificate table: no terminating all-zero entry', { kind: 'input' });
    }
    const entry = table.subarray(at, at + ENTRY_SIZE);
    if (isAllZero(entry)) break;
    const offset = view.getUint32(at + 16, true);
    const length = view.getUint32(at + 20, true);
    if (offset < at + ENTRY_SIZE || offset + length > table.length) {
      throw new CocoError('SNP_CERT_TABLE', `SNP certificate table entry ${at / ENTRY_SIZE}: blob ${offset}+${length} is outside the table (${table.length} bytes)`, {
        kind: 'input',
      });
    }
    out.push({ type: certTypeFromGuid(guidString(entry.subarray(0, 16))), data: table.slice(offset, offset + length) });
  }
  return out;
}

export function serializeCertTable(entries: readonly CertTableEntry[]): Uint8Array {
  const head = (entries.length + 1) * ENTRY_SIZE;
  const total = head + entries.reduce((n, e) => n + e.data.length, 0);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let blob = head;
  entries.forEach((e, i) => {
    out.set(guidBytes(certTypeGuid(e.type)), i * ENTRY_SIZE);
    view.setUint32(i * ENTRY_SIZE + 16, blob, true);
    view.setUint32(i * ENTRY_SIZE + 20, e.data.length, true);
    out.set(e.data, blob);
    blob += e.data.length;
  });
  return out;
}

/**
 * The CoCo JSON form of SNP evidence (specs/snp.md §1.8, kbs-protocol.md §3.2): the serde encoding of the
 * `sev` crate's `AttestationReport` plus the certificate table, `{"attestation_report": {…}, "cert_chain":
 * [{"cert_type": "VCEK", "data": [bytes]}] | null}`. Only parsed fields travel, so the 1184 ABI bytes the
 * signature covers are rebuilt from them (`evidenceToReport` + `serializeReport`). No crypto here.
 */
import { CocoError } from '../../errors.js';
import {
  CERT_GUIDS,
  encodeTcb,
  layoutOf,
  productFromCpuid,
  type CertTableEntry,
  type CertType,
  type FirmwareVersion,
  type SnpReport,
  type TcbLayout,
  type TcbVersion,
} from './format.js';

export interface SnpEvidence {
  report: SnpReport;
  certChain: CertTableEntry[] | null;
}

function bad(path: string, want: string): never {
  throw new CocoError('SNP_EVIDENCE', `SNP evidence: ${path} must be ${want}`, { kind: 'input', detail: { path } });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function uint(v: unknown, path: string, max: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max) bad(path, `an integer 0..${max}`);
  return v as number;
}

function u64(v: unknown, path: string): bigint {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) bad(path, 'a non-negative integer');
  return BigInt(v as number);
}

function optUint(v: unknown, path: string, max: number): number | null {
  return v === undefined || v === null ? null : uint(v, path, max);
}

function byteArray(v: unknown, path: string, length?: number): Uint8Array {
  if (!Array.isArray(v) || (length !== undefined && v.length !== length)) bad(path, length === undefined ? 'an array of bytes' : `an array of ${length} bytes`);
  const arr = v as unknown[];
  const out = new Uint8Array(arr.length);
  for (let i = 0; i < arr.length; i++) {
    const b = arr[i];
    if (typeof b !== 'number' || !Number.isInteger(b) || b < 0 || b > 255) bad(`${path}[${i}]`, 'a byte');
    out[i] = b as number;
  }
  return out;
}

function tcbFromJson(v: unknown, path: string, layout: TcbLayout): TcbVersion {
  if (!isObject(v)) bad(path, 'an object {fmc, bootloader, tee, snp, microcode}');
  const o = v as Record<string, unknown>;
  const parts = {
    fmc: optUint(o.fmc, `${path}.fmc`, 255),
    bootloader: uint(o.bootloader, `${path}.bootloader`, 255),
    tee: uint(o.tee, `${path}.tee`, 255),
    snp: uint(o.snp, `${path}.snp`, 255),
    microcode: uint(o.microcode, `${path}.microcode`, 255),
  };
  if (layout === 'turin' && parts.fmc === null) bad(`${path}.fmc`, 'a number for a Turin report');
  if (layout === 'legacy' && parts.fmc !== null) bad(`${path}.fmc`, 'null for a Milan/Genoa report');
  return { ...parts, raw: encodeTcb(parts, layout) };
}

function versionFromJson(v: unknown, path: string): FirmwareVersion {
  if (!isObject(v)) bad(path, 'an object {major, minor, build}');
  const o = v as Record<string, unknown>;
  return { major: uint(o.major, `${path}.major`, 255), minor: uint(o.minor, `${path}.minor`, 255), build: uint(o.build, `${path}.build`, 255) };
}

const CERT_NAMES = Object.keys(CERT_GUIDS);

function certTypeFromJson(v: unknown, path: string): CertType | 'Empty' {
  if (typeof v === 'string') {
    if (v === 'Empty' || CERT_NAMES.includes(v)) return v as CertType | 'Empty';
    bad(path, `one of ${[...CERT_NAMES, 'Empty'].join(', ')} or {"OTHER": uuid}`);
  }
  if (isObject(v) && typeof v.OTHER === 'string' && /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(v.OTHER)) {
    return { OTHER: v.OTHER.toLowerCase() };
  }
  return bad(path, 'a certificate type');
}

/** Rebuilds the report (and certificate table) from the CoCo JSON evidence. */
export function evidenceFromJson(json: unknown): SnpEvidence {
  if (!isObject(json)) bad('evidence', 'an object');
  const ev = json as Record<string, unknown>;
  if (!isObject(ev.attestation_report)) bad('attestation_report', 'an object');
  const r = ev.attestation_report as Record<string, unknown>;
  const p = (k: string): string => `attestation_report.${k}`;
  const version = uint(r.version, p('version'), 0xffffffff);
  if (version < 2 || version > 5) {
    throw new CocoError('SNP_REPORT_VERSION', `SNP report version ${version} is not supported (2..5)`, { kind: 'input', detail: { version } });
  }
  const cpuidFamId = version >= 3 ? uint(r.cpuid_fam_id, p('cpuid_fam_id'), 255) : null;
  const cpuidModId = version >= 3 ? uint(r.cpuid_mod_id, p('cpuid_mod_id'), 255) : null;
  const cpuidStep = version >= 3 ? uint(r.cpuid_step, p('cpuid_step'), 255) : null;
  if (version < 3 && [r.cpuid_fam_id, r.cpuid_mod_id, r.cpuid_step].some((x) => x !== undefined && x !== null)) bad(p('cpuid_*'), 'null before version 3');
  // The layout comes from the CPUID bytes (§1.3); a v2 report has none, so a present fmc means Turin.
  let layout: TcbLayout;
  const product = cpuidFamId !== null && cpuidModId !== null ? productFromCpuid(cpuidFamId, cpuidModId) : null;
  if (product) layout = layoutOf(product);
  else layout = isObject(r.reported_tcb) && r.reported_tcb.fmc !== null && r.reported_tcb.fmc !== undefined ? 'turin' : 'legacy';

  const mit = (k: string): bigint | null => {
    if (version >= 5) return r[k] === undefined || r[k] === null ? 0n : u64(r[k], p(k));
    if (r[k] !== undefined && r[k] !== null) bad(p(k), 'null before version 5');
    return null;
  };
  const sig = r.signature;
  if (!isObject(sig)) bad(p('signature'), 'an object {r, s}');
  const report: SnpReport = {
    version,
    guestSvn: uint(r.guest_svn, p('guest_svn'), 0xffffffff),
    policy: u64(r.policy, p('policy')),
    familyId: byteArray(r.family_id, p('family_id'), 16),
    imageId: byteArray(r.image_id, p('image_id'), 16),
    vmpl: uint(r.vmpl, p('vmpl'), 0xffffffff),
    signatureAlgo: uint(r.sig_algo, p('sig_algo'), 0xffffffff),
    currentTcb: tcbFromJson(r.current_tcb, p('current_tcb'), layout),
    platformInfo: u64(r.plat_info, p('plat_info')),
    keyInfo: uint(r.key_info, p('key_info'), 0xffffffff),
    reportData: byteArray(r.report_data, p('report_data'), 64),
    measurement: byteArray(r.measurement, p('measurement'), 48),
    hostData: byteArray(r.host_data, p('host_data'), 32),
    idKeyDigest: byteArray(r.id_key_digest, p('id_key_digest'), 48),
    authorKeyDigest: byteArray(r.author_key_digest, p('author_key_digest'), 48),
    reportId: byteArray(r.report_id, p('report_id'), 32),
    reportIdMa: byteArray(r.report_id_ma, p('report_id_ma'), 32),
    reportedTcb: tcbFromJson(r.reported_tcb, p('reported_tcb'), layout),
    cpuidFamId,
    cpuidModId,
    cpuidStep,
    chipId: byteArray(r.chip_id, p('chip_id'), 64),
    committedTcb: tcbFromJson(r.committed_tcb, p('committed_tcb'), layout),
    current: versionFromJson(r.current, p('current')),
    committed: versionFromJson(r.committed, p('committed')),
    launchTcb: tcbFromJson(r.launch_tcb, p('launch_tcb'), layout),
    launchMitVector: mit('launch_mit_vector'),
    currentMitVector: mit('current_mit_vector'),
    signatureR: byteArray((sig as Record<string, unknown>).r, p('signature.r'), 72),
    signatureS: byteArray((sig as Record<string, unknown>).s, p('signature.s'), 72),
    tcbLayout: layout,
  };
  let certChain: CertTableEntry[] | null = null;
  if (ev.cert_chain !== null && ev.cert_chain !== undefined) {
    if (!Array.isArray(ev.cert_chain)) bad('cert_chain', 'null or an array');
    certChain = [];
    (ev.cert_chain as unknown[]).forEach((e, i) => {
      if (!isObject(e)) bad(`cert_chain[${i}]`, 'an object {cert_type, data}');
      const type = certTypeFromJson(e.cert_type, `cert_chain[${i}].cert_type`);
      const data = byteArray(e.data, `cert_chain[${i}].data`);
      if (type !== 'Empty') certChain!.push({ type, data });
    });
  }
  return { report, certChain };
}

const arr = (b: Uint8Array): number[] => Array.from(b);

function safeNumber(v: bigint, what: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new CocoError('SNP_EVIDENCE', `${what} = 0x${v.toString(16)} cannot be written as a JSON number`, { kind: 'input' });
  }
  return Number(v);
}

function tcbJson(t: TcbVersion): Record<string, number | null> {
  return { fmc: t.fmc, bootloader: t.bootloader, tee: t.tee, snp: t.snp, microcode: t.microcode };
}

/**
 * The CoCo JSON evidence for a report, member order as the `sev` crate serializes it. The mitigation
 * vectors are written only for version 5+, as newer crate versions do.
 */
export function evidenceToJson(report: SnpReport, certChain: readonly CertTableEntry[] | null = null): Record<string, unknown> {
  const r: Record<string, unknown> = {
    version: report.version,
    guest_svn: report.guestSvn,
    policy: safeNumber(report.policy, 'policy'),
    family_id: arr(report.familyId),
    image_id: arr(report.imageId),
    vmpl: report.vmpl,
    sig_algo: report.signatureAlgo,
    current_tcb: tcbJson(report.currentTcb),
    plat_info: safeNumber(report.platformInfo, 'plat_info'),
    key_info: report.keyInfo,
    report_data: arr(report.reportData),
    measurement: arr(report.measurement),
    host_data: arr(report.hostData),
    id_key_digest: arr(report.idKeyDigest),
    author_key_digest: arr(report.authorKeyDigest),
    report_id: arr(report.reportId),
    report_id_ma: arr(report.reportIdMa),
    reported_tcb: tcbJson(report.reportedTcb),
    cpuid_fam_id: report.cpuidFamId,
    cpuid_mod_id: report.cpuidModId,
    cpuid_step: report.cpuidStep,
    chip_id: arr(report.chipId),
    committed_tcb: tcbJson(report.committedTcb),
    current: { ...report.current },
    committed: { ...report.committed },
    launch_tcb: tcbJson(report.launchTcb),
  };
  if (report.version >= 5) {
    r.launch_mit_vector = safeNumber(report.launchMitVector ?? 0n, 'launch_mit_vector');
    r.current_mit_vector = safeNumber(report.currentMitVector ?? 0n, 'current_mit_vector');
  }
  r.signature = { r: arr(report.signatureR), s: arr(report.signatureS) };
  return {
    attestation_report: r,
    cert_chain: certChain ? certChain.map((e) => ({ cert_type: e.type, data: arr(e.data) })) : null,
  };
}

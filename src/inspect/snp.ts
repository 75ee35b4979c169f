/**
 * The inspector's view of an SNP attestation report: every named field of the ATTESTATION_REPORT table
 * (tee/snp/format.ts `FIELDS`, specs/snp.md §1.2) with its offset, meaning and decoded bits (guest policy
 * §1.4, platform info §1.5, key info §1.2, TCB versions §1.3), then the checks `snp verify --explain` makes.
 */
import { CocoError } from '../errors.js';
import { toHex } from '../formats/bytes.js';
import { loadReport } from '../tee/snp/input.js';
import { FIELDS, decodeKeyInfo, decodePlatformInfo, decodePolicy, reportProduct, type SnpReport, type TcbVersion } from '../tee/snp/format.js';
import { verifyReport } from '../tee/snp/verify.js';
import type { InspectedField, Inspection, InspectOptions } from './types.js';

/** Spec names and meanings, keyed by the parser's field names. */
const MEANING: Record<string, [string, string]> = {
  version: ['VERSION', 'report format version (2: Milan/Genoa firmware before 1.55, 3+: CPUID bytes, 5: mitigation vectors)'],
  guestSvn: ['GUEST_SVN', 'security version number of the guest, from its ID block'],
  policy: ['POLICY', 'guest policy the VM was launched with; the firmware enforces it'],
  familyId: ['FAMILY_ID', 'family id from the ID block (chosen by the image author)'],
  imageId: ['IMAGE_ID', 'image id from the ID block (chosen by the image author)'],
  vmpl: ['VMPL', 'privilege level of the guest software that requested the report (0 is the most privileged)'],
  signatureAlgo: ['SIGNATURE_ALGO', 'signature algorithm (1: ECDSA P-384 with SHA-384)'],
  currentTcb: ['CURRENT_TCB', 'TCB of the firmware now running'],
  platformInfo: ['PLATFORM_INFO', 'platform state when the report was made'],
  keyInfo: ['KEY_INFO', 'which key signed the report and what the author key covers'],
  reportData: ['REPORT_DATA', '64 bytes the guest chose; CoCo puts the hash of the nonce and the TEE public key here'],
  measurement: ['MEASUREMENT', 'launch digest of the initial guest memory and VMSAs; compared with the reference value'],
  hostData: ['HOST_DATA', '32 bytes the host set at launch; CoCo binds the init-data digest here'],
  idKeyDigest: ['ID_KEY_DIGEST', 'SHA-384 of the public key that signed the ID block'],
  authorKeyDigest: ['AUTHOR_KEY_DIGEST', 'SHA-384 of the key that signed the ID key'],
  reportId: ['REPORT_ID', 'id of this guest, unique per launch'],
  reportIdMa: ['REPORT_ID_MA', 'report id of the migration agent'],
  reportedTcb: ['REPORTED_TCB', 'TCB the VCEK was derived for; the reference Trustee compares (§1.3)'],
  cpuidFamId: ['CPUID_FAM_ID', 'CPU family (v3+)'],
  cpuidModId: ['CPUID_MOD_ID', 'CPU model (v3+)'],
  cpuidStep: ['CPUID_STEP', 'CPU stepping (v3+)'],
  chipId: ['CHIP_ID', 'unique chip id; matches the VCEK hwID extension (zero when masked)'],
  committedTcb: ['COMMITTED_TCB', 'TCB the firmware will not roll back below'],
  currentBuild: ['CURRENT_BUILD', 'build of the running firmware'],
  currentMinor: ['CURRENT_MINOR', 'minor version of the running firmware'],
  currentMajor: ['CURRENT_MAJOR', 'major version of the running firmware'],
  committedBuild: ['COMMITTED_BUILD', 'build of the committed firmware'],
  committedMinor: ['COMMITTED_MINOR', 'minor version of the committed firmware'],
  committedMajor: ['COMMITTED_MAJOR', 'major version of the committed firmware'],
  launchTcb: ['LAUNCH_TCB', 'TCB when the guest was launched'],
  launchMitVector: ['LAUNCH_MIT_VECTOR', 'mitigations in effect at launch (v5+)'],
  currentMitVector: ['CURRENT_MIT_VECTOR', 'mitigations in effect now (v5+)'],
  signatureR: ['SIGNATURE.R', 'ECDSA P-384 signature r, little-endian, over bytes 0x000–0x29F'],
  signatureS: ['SIGNATURE.S', 'ECDSA P-384 signature s, little-endian'],
};

/** Reference value names each measurement is looked up under: Trustee's default policy names, then the workload claim names. */
const REFERENCES: Record<string, string[]> = {
  measurement: ['snp_launch_measurement', 'measurement', 'launch_digest'],
  hostData: ['snp_host_data', 'host_data'],
  familyId: ['snp_family_id', 'family_id'],
  imageId: ['snp_image_id', 'image_id'],
  idKeyDigest: ['snp_id_key_digest', 'id_key_digest'],
  authorKeyDigest: ['snp_author_key_digest', 'author_key_digest'],
};

const FIRMWARE: Record<string, ['current' | 'committed', 'build' | 'minor' | 'major']> = {
  currentBuild: ['current', 'build'],
  currentMinor: ['current', 'minor'],
  currentMajor: ['current', 'major'],
  committedBuild: ['committed', 'build'],
  committedMinor: ['committed', 'minor'],
  committedMajor: ['committed', 'major'],
};

function tcbFlags(t: TcbVersion): Record<string, number> {
  return { ...(t.fmc === null ? {} : { fmc: t.fmc }), bootloader: t.bootloader, tee: t.tee, snp: t.snp, microcode: t.microcode };
}

function flagsOf(name: string, r: SnpReport): InspectedField['flags'] {
  switch (name) {
    case 'policy': {
      const p = decodePolicy(r.policy);
      return {
        abi_major: p.abiMajor,
        abi_minor: p.abiMinor,
        smt: p.smt,
        'reserved (must be 1)': p.reservedOne,
        migrate_ma: p.migrateMa,
        debug: p.debug,
        single_socket: p.singleSocket,
        cxl_allow: p.cxlAllow,
        mem_aes_256_xts: p.memAes256Xts,
        rapl_dis: p.raplDis,
        ciphertext_hiding: p.ciphertextHiding,
        page_swap_disable: p.pageSwapDisable,
      };
    }
    case 'platformInfo': {
      const p = decodePlatformInfo(r.platformInfo);
      return { smt_enabled: p.smtEnabled, tsme_enabled: p.tsmeEnabled, ecc_enabled: p.eccEnabled, rapl_disabled: p.raplDisabled, ciphertext_hiding_enabled: p.ciphertextHidingEnabled, alias_check_complete: p.aliasCheckComplete, tio_enabled: p.tioEnabled };
    }
    case 'keyInfo': {
      const k = decodeKeyInfo(r.keyInfo);
      return { author_key_en: k.authorKeyEn, mask_chip_key: k.maskChipKey, signing_key: k.signingKey };
    }
    case 'currentTcb':
    case 'reportedTcb':
    case 'committedTcb':
    case 'launchTcb':
      return tcbFlags(r[name]);
    default:
      return undefined;
  }
}

function valueOf(name: string, r: SnpReport): string {
  const fw = FIRMWARE[name];
  if (fw) return String(r[fw[0]][fw[1]]);
  const v = (r as unknown as Record<string, unknown>)[name];
  if (v instanceof Uint8Array) return toHex(v);
  if (typeof v === 'bigint') return `0x${v.toString(16)}`;
  if (v === null) return '(absent in this version)';
  if (typeof v === 'object' && v !== null && 'raw' in v) return `0x${(v as TcbVersion).raw.toString(16).padStart(16, '0')}`;
  if (name === 'keyInfo' || name === 'policy') return `0x${Number(v).toString(16)}`;
  return String(v);
}

/** Inspects SNP report bytes in any form `snp show` reads (raw, hex, CoCo JSON evidence, Azure HCL). */
export function inspectSnpReport(bytes: Uint8Array, o: InspectOptions = {}): Inspection {
  const { report, raw, certTable, form } = loadReport(bytes);
  // Offsets are within the 1184-byte report; in an HCL report it starts at 0x20.
  const base = form === 'hcl' ? 0x20 : 0;
  const fields: InspectedField[] = [];
  for (const f of FIELDS) {
    if (!f.name) continue;
    const [name, meaning] = MEANING[f.name] ?? [f.name, ''];
    const flags = flagsOf(f.name, report);
    const references = REFERENCES[f.name];
    fields.push({ name, offset: base + f.off, size: f.size, value: valueOf(f.name, report), meaning, ...(flags ? { flags } : {}), ...(references ? { references } : {}) });
  }
  const notes: string[] = [];
  let checks: Inspection['checks'] = [];
  const product = reportProduct(report);
  try {
    const v = verifyReport(report, { now: o.now ?? new Date(), raw, ...(certTable ? { certTable } : {}), ...(o.endorsement ? { vek: o.endorsement } : {}) });
    checks = v.checks;
  } catch (e) {
    if (!(e instanceof CocoError)) throw e;
    notes.push(`not verified: ${e.message}`);
  }
  const ki = decodeKeyInfo(report.keyInfo);
  return {
    format: 'snp-report',
    form,
    title: `AMD SEV-SNP attestation report v${report.version}${product ? ` (${product})` : ''}, signed by the ${ki.signingKey.toUpperCase()}`,
    fields,
    checks,
    notes,
  };
}

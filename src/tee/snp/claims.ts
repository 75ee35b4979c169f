/**
 * Claims for policy from a verified SNP report. The first block is exactly Trustee's SNP verifier set
 * (kbs-protocol.md §3.2, snp.md §1.9 item 8) so Trustee's default policy works unchanged: numbers and
 * booleans as JSON values, byte fields as lower-case hex. The rest are the decoded fields Trustee leaves out.
 */
import { toHex } from '../../formats/bytes.js';
import { decodeKeyInfo, decodePlatformInfo, decodePolicy, formatVersion, type SnpProduct, type SnpReport, type TcbVersion } from './format.js';

/** Adds `<prefix>_bootloader` … `<prefix>_fmc` (Turin only) to `out`, in that order. */
function addTcbClaims(out: Record<string, unknown>, prefix: 'current_tcb' | 'committed_tcb' | 'launch_tcb', t: TcbVersion): void {
  out[`${prefix}_bootloader`] = t.bootloader;
  out[`${prefix}_tee`] = t.tee;
  out[`${prefix}_snp`] = t.snp;
  out[`${prefix}_microcode`] = t.microcode;
  if (t.fmc !== null) out[`${prefix}_fmc`] = t.fmc;
}

export function snpClaims(report: SnpReport, product: SnpProduct | null = null): Record<string, unknown> {
  const pol = decodePolicy(report.policy);
  const plat = decodePlatformInfo(report.platformInfo);
  const ki = decodeKeyInfo(report.keyInfo);
  const out: Record<string, unknown> = {
    // Trustee `snp/mod.rs` parse_tee_evidence
    policy_abi_major: pol.abiMajor,
    policy_abi_minor: pol.abiMinor,
    policy_smt_allowed: pol.smt,
    policy_migrate_ma: pol.migrateMa,
    policy_debug_allowed: pol.debug,
    policy_single_socket: pol.singleSocket,
    reported_tcb_bootloader: report.reportedTcb.bootloader,
    reported_tcb_tee: report.reportedTcb.tee,
    reported_tcb_snp: report.reportedTcb.snp,
    reported_tcb_microcode: report.reportedTcb.microcode,
    platform_tsme_enabled: plat.tsmeEnabled,
    platform_smt_enabled: plat.smtEnabled,
    measurement: toHex(report.measurement),
    report_data: toHex(report.reportData),
    init_data: toHex(report.hostData),
    chip_id: toHex(report.chipId),
    // Decoded fields beyond Trustee's set.
    ...(report.reportedTcb.fmc === null ? {} : { reported_tcb_fmc: report.reportedTcb.fmc }),
    version: report.version,
    product,
    guest_svn: report.guestSvn,
    vmpl: report.vmpl,
    signing_key: ki.signingKey,
    policy_cxl_allowed: pol.cxlAllow,
    policy_mem_aes_256_xts: pol.memAes256Xts,
    policy_rapl_disabled: pol.raplDis,
    policy_ciphertext_hiding: pol.ciphertextHiding,
    policy_page_swap_disabled: pol.pageSwapDisable,
    platform_ecc_enabled: plat.eccEnabled,
    platform_rapl_disabled: plat.raplDisabled,
    platform_ciphertext_hiding_enabled: plat.ciphertextHidingEnabled,
    platform_alias_check_complete: plat.aliasCheckComplete,
    platform_tio_enabled: plat.tioEnabled,
  };
  // Written member by member rather than spread from temporary objects: every attestation builds these.
  addTcbClaims(out, 'current_tcb', report.currentTcb);
  addTcbClaims(out, 'committed_tcb', report.committedTcb);
  addTcbClaims(out, 'launch_tcb', report.launchTcb);
  out.firmware_current = formatVersion(report.current);
  out.firmware_committed = formatVersion(report.committed);
  out.family_id = toHex(report.familyId);
  out.image_id = toHex(report.imageId);
  out.id_key_digest = toHex(report.idKeyDigest);
  out.author_key_digest = toHex(report.authorKeyDigest);
  out.report_id = toHex(report.reportId);
  out.report_id_ma = toHex(report.reportIdMa);
  return out;
}

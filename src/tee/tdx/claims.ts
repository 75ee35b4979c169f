/**
 * Claims for policy from a verified TD quote, shaped as Trustee's `tdx` verifier emits them (specs/
 * tdx-initdata.md §2.4 item 7; trustee `deps/verifier/src/tdx/claims.rs`): `quote.header` and `quote.body` as
 * lower-case hex of the wire bytes (so header `version` is "0400"), decoded `td_attributes`, `report_data`,
 * `init_data` (= MRCONFIGID), `platform_instance_id`, and the collateral-derived claims of Intel QVL
 * (`tcb_status`, `advisory_ids`, …), so Trustee's default TDX policy reads them unchanged.
 */
import { toHex } from '../../formats/bytes.js';
import { decodeTdAttributes, type TdxQuote } from './format.js';
import type { TdxVerification } from './verify.js';

const le16 = (n: number): string => toHex(new Uint8Array([n & 0xff, n >> 8]));
const le32 = (n: number): string => toHex(new Uint8Array([n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >>> 24) & 0xff]));

/** The `quote` claim object for a parsed quote. */
export function quoteClaims(q: TdxQuote): Record<string, unknown> {
  const b = q.body;
  const body: Record<string, string> = {
    mr_config_id: toHex(b.mrConfigId),
    mr_owner: toHex(b.mrOwner),
    mr_owner_config: toHex(b.mrOwnerConfig),
    mr_seam: toHex(b.mrSeam),
    mr_td: toHex(b.mrTd),
    mrsigner_seam: toHex(b.mrSignerSeam),
    report_data: toHex(b.reportData),
    rtmr_0: toHex(b.rtmr0),
    rtmr_1: toHex(b.rtmr1),
    rtmr_2: toHex(b.rtmr2),
    rtmr_3: toHex(b.rtmr3),
    seam_attributes: toHex(b.seamAttributes),
    tcb_svn: toHex(b.teeTcbSvn),
    td_attributes: toHex(b.tdAttributes),
    xfam: toHex(b.xfam),
  };
  if (b.teeTcbSvn2 && b.mrServiceTd) {
    body.tee_tcb_svn2 = toHex(b.teeTcbSvn2);
    body.mr_servicetd = toHex(b.mrServiceTd);
  }
  const h = q.header;
  return {
    header: {
      att_key_type: le16(h.attKeyType),
      reserved: toHex(h.reserved),
      tee_type: le32(h.teeType),
      user_data: toHex(h.userData),
      vendor_id: toHex(h.qeVendorId),
      version: le16(h.version),
    },
    body,
    ...(h.version === 5 ? { type: le16(q.bodyType), size: le32(q.bodyType === 3 ? 648 : 584) } : {}),
  };
}

/** Trustee shows the LE-stored platform instance id as a big-endian number (§1.5). */
function platformInstanceId(id: Uint8Array | null): string | null {
  return id ? toHex(new Uint8Array(id).reverse()) : null;
}

/** All claims of a verification (collateral claims only when collateral was evaluated). */
export function tdxClaims(v: TdxVerification): Record<string, unknown> {
  const q = v.quote;
  const a = decodeTdAttributes(q.body.tdAttributes);
  const ext = v.pck.extensions;
  const claims: Record<string, unknown> = {
    quote: quoteClaims(q),
    td_attributes: { debug: a.debug, key_locker: a.keyLocker, perfmon: a.perfmon, protection_keys: a.protectionKeys, septve_disable: a.septVeDisable },
    report_data: toHex(q.body.reportData),
    init_data: toHex(q.body.mrConfigId),
    platform_instance_id: platformInstanceId(ext.platformInstanceId),
    fmspc: toHex(ext.fmspc),
    sgx_type: ext.sgxType,
    is_dynamic_platform: ext.configuration?.dynamicPlatform ?? null,
    is_cached_keys: ext.configuration?.cachedKeys ?? null,
    is_smt_enabled: ext.configuration?.smtEnabled ?? null,
  };
  if (v.tcb) {
    Object.assign(claims, {
      tcb_status: v.tcb.status,
      advisory_ids: v.tcb.advisoryIds,
      tcb_date: v.tcb.tcbDate,
      tcb_eval_num: v.tcb.tcbEvaluationDataNumber,
      collateral_expiration_status: v.collateralExpired ? '1' : '0',
    });
  }
  if (v.collateralInfo && v.validity) {
    // Dates that did not parse (the collateral-validity check failed on them) are claimed as empty strings.
    const iso = (d: Date): string => (Number.isNaN(d.getTime()) ? '' : d.toISOString());
    Object.assign(claims, {
      earliest_issue_date: iso(v.collateralInfo.earliestIssueDate),
      latest_issue_date: iso(v.collateralInfo.latestIssueDate),
      earliest_expiration_date: iso(v.validity.to),
      pck_crl_num: v.collateralInfo.pckCrlNumber,
      root_ca_crl_num: v.collateralInfo.rootCaCrlNumber,
    });
  }
  return claims;
}

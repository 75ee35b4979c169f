/**
 * Expectations on a verified TD quote (go-tdx-guest `validate`): values the caller knows in advance —
 * REPORTDATA, MRCONFIGID (init-data), MRTD, RTMRs, TD attributes — each compared as one Check. Verification
 * (verify.ts) says the quote is authentic; this says it is the TD the caller wanted.
 */
import { bytesEqual, toHex } from '../../formats/bytes.js';
import { check, type Check } from '../../formats/check.js';
import { regularize } from '../../formats/runtime-data.js';
import { decodeTdAttributes, rtmrs, type TdReportBody } from './format.js';

export interface TdxExpectations {
  /** Compared after Trustee's `regularize_data(expected, 64)`: zero-padded or truncated (specs §2.1 item 8). */
  reportData?: Uint8Array;
  /** The init-data digest, compared after `regularize_data(expected, 48)` with MRCONFIGID (specs §6.1). */
  mrConfigId?: Uint8Array;
  mrTd?: Uint8Array;
  mrOwner?: Uint8Array;
  mrOwnerConfig?: Uint8Array;
  /** RTMR0..3; null entries are not compared. */
  rtmrs?: Array<Uint8Array | null>;
  /** false: refuse a TD whose DEBUG bit (or any TUD bit) is set. */
  debugAllowed?: boolean;
}

export function validateQuoteBody(body: TdReportBody, exp: TdxExpectations): Check[] {
  const checks: Check[] = [];
  const bytes = (id: string, what: string, actual: Uint8Array, expected: Uint8Array): void => {
    checks.push(check(id, bytesEqual(actual, expected), `${what} equals the expected value`, { expected: toHex(expected), actual: toHex(actual) }));
  };
  if (exp.reportData) bytes('report-data', 'REPORTDATA', body.reportData, regularize(exp.reportData, 64));
  if (exp.mrConfigId) bytes('init-data', 'MRCONFIGID', body.mrConfigId, regularize(exp.mrConfigId, 48));
  if (exp.mrTd) bytes('mrtd', 'MRTD', body.mrTd, exp.mrTd);
  if (exp.mrOwner) bytes('mrowner', 'MROWNER', body.mrOwner, exp.mrOwner);
  if (exp.mrOwnerConfig) bytes('mrownerconfig', 'MROWNERCONFIG', body.mrOwnerConfig, exp.mrOwnerConfig);
  const quoteRtmrs = rtmrs(body);
  exp.rtmrs?.forEach((want, i) => {
    if (want) bytes(`rtmr${i}`, `RTMR${i}`, quoteRtmrs[i], want);
  });
  if (exp.debugAllowed === false) {
    const a = decodeTdAttributes(body.tdAttributes);
    // Any TUD bit (7:0) marks the TD as untrusted, not only DEBUG (specs §1.3).
    checks.push(check('debug', !a.debug && a.tudReserved === 0, 'TD attributes: DEBUG and the other TUD bits are clear', { expected: 'false', actual: String(a.debug || a.tudReserved !== 0) }));
  }
  return checks;
}

/**
 * `tee: "tdx"` for the Attestation Service: Trustee's TDX verifier flow (specs/tdx-initdata.md §2.4) over the
 * CoCo evidence JSON — parse the quote, take the platform's collateral from the offline cache (no network
 * at verification time), verify in Intel QVL's order, bind REPORTDATA to the runtime-data digest and
 * MRCONFIGID to the init-data digest, and emit Trustee's claims. Whether the TCB status is acceptable is
 * the policy's decision (Trustee's default policy requires `tcb_status == "UpToDate"`).
 */
import { X509Certificate } from 'node:crypto';
import { check, type Check } from '../../formats/check.js';
import type { TeeVerifier, VerifierResult, VerifyContext } from '../verifier.js';
import { checkCcelReplay, replayCcel, uefiEventLogClaims } from './ccel.js';
import { tdxClaims } from './claims.js';
import { CollateralCache, type TdxCollateral } from './collateral.js';
import { evidenceFromJson } from './evidence.js';
import { parseQuote, quotePckChain, type TdxQuote } from './format.js';
import { pckExtensions } from './pck.js';
import { validateQuoteBody } from './validate.js';
import { commonName, verifyQuote, type TdxRoot } from './verify.js';

export interface TdxVerifierConfig {
  /** Trust anchor; Intel's shipped root when absent, a test root only when a deployment passes it explicitly. */
  root?: TdxRoot;
  /** Offline collateral cache (`<dir>/tdx/<fmspc>-<ca>.collateral.json`, filled by `cocokit tdx fetch-collateral`). */
  collateralDir?: string;
  /** Report expired collateral as `collateral_expiration_status = "1"` instead of failing (Intel QvE's behaviour). */
  allowExpiredCollateral?: boolean;
}

/** FMSPC and PCK CA type of the platform that produced a quote: the key of its collateral. */
export function quotePlatform(q: TdxQuote): { fmspc: Uint8Array; ca: 'platform' | 'processor' } {
  const chain = quotePckChain(q);
  let interCn = '';
  try {
    interCn = chain[1] ? commonName(new X509Certificate(chain[1]).subject) : '';
  } catch {
    interCn = '';
  }
  return { fmspc: pckExtensions(chain[0]).fmspc, ca: interCn.includes('Processor') ? 'processor' : 'platform' };
}

export function createTdxVerifier(config: TdxVerifierConfig = {}): TeeVerifier {
  const cache = config.collateralDir ? new CollateralCache(config.collateralDir) : undefined;
  return {
    tee: 'tdx',
    async verify(evidence: unknown, ctx: VerifyContext): Promise<VerifierResult> {
      const ev = evidenceFromJson(evidence);
      const quote = parseQuote(ev.quote);
      const pre: Check[] = [];
      let collateral: TdxCollateral | undefined;
      if (cache) {
        const p = quotePlatform(quote);
        collateral = await cache.get(p.fmspc, p.ca);
      } else {
        // Trustee always evaluates the TCB; without collateral there is no TCB status to give the policy.
        pre.push(check('collateral', false, 'no TDX collateral cache configured (tdx_verifier.collateral_cache)'));
      }
      const v = verifyQuote(quote, { now: ctx.now, raw: ev.quote, root: config.root, collateral, allowExpiredCollateral: config.allowExpiredCollateral });
      const expectations = validateQuoteBody(quote.body, { reportData: ctx.expectedReportData, mrConfigId: ctx.expectedInitDataHash });
      const claims = tdxClaims(v);
      // With an event log, Trustee replays it and requires CC MR 1..4 to equal RTMR0..3 (specs §2.4 item 6).
      let replayChecks: Check[] = [];
      if (ev.ccEventLog) {
        const replay = replayCcel(ev.ccEventLog);
        replayChecks = checkCcelReplay(replay, quote.body);
        claims.uefi_event_logs = uefiEventLogClaims(replay.log);
      }
      return { checks: [...pre, ...v.checks, ...replayChecks, ...expectations], claims, teeClass: 'cpu' };
    },
  };
}

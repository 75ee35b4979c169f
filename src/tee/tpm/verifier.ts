/**
 * `tee: "tpm"` for the Attestation Service (specs/measured-boot.md §3.9): Trustee's generic TPM verifier —
 * the quote's signature under `ak_public`, pcrDigest over the sent PCRs, the nonce (the runtime-data digest
 * resized to 32 bytes), init-data through PCR 8 — plus what Trustee leaves to policy: all four signature
 * schemes, an event log replayed against the quoted PCRs, and the AK's anchoring.
 *
 * An AK is anchored when its SPKI fingerprint is configured (`trustedAks`); otherwise the `ak_anchored`
 * claim is false and policy decides (Trustee's default policy asks `ak_public in rv("trusted_aks")`).
 * Certifying the AK by the EK (TPM2_Certify / credential activation) needs a round trip with the TPM
 * that the KBS protocol's single evidence message does not carry, so it is not done here.
 */
import { createHash } from 'node:crypto';
import { toHex } from '../../formats/bytes.js';
import { check, type Check } from '../../formats/check.js';
import { compareReplay, parseEventLog, replayEventLog } from '../../eventlog/index.js';
import { parseAttest } from '../../tpm/attest.js';
import { verifyQuote } from '../../tpm/quote.js';
import { regularize } from '../snp/validate.js';
import type { TeeVerifier, VerifierResult, VerifyContext } from '../verifier.js';
import { tpmEvidenceFromJson } from './evidence.js';
import { initDataPcr8Check, pcrClaims } from './pcr8.js';

export interface TpmVerifierConfig {
  /** SHA-256 fingerprints (hex) of the DER SPKI of AKs this deployment trusts. */
  trustedAks?: readonly string[];
}

export function akFingerprint(spkiDer: Uint8Array): string {
  return createHash('sha256').update(spkiDer).digest('hex');
}

export function createTpmVerifier(config: TpmVerifierConfig = {}): TeeVerifier {
  const trusted = new Set((config.trustedAks ?? []).map((f) => f.toLowerCase()));
  return {
    tee: 'tpm',
    async verify(evidence: unknown, ctx: VerifyContext): Promise<VerifierResult> {
      const ev = tpmEvidenceFromJson(evidence);
      const pcrs = new Map([['sha256', new Map(ev.pcrs.map((v, i) => [i, v] as const))]]);
      // Trustee's TPM attester resizes the runtime-data digest to the qualifying-data size it uses: 32 bytes
      // per kbs-protocol.md §1.5, 64 bytes (the 48-byte SHA-384 digest zero-padded) in trustee/tpm's vector.
      // The digest's first 32 bytes are covered either way, so both sizes bind the nonce.
      const extraLength = parseAttest(ev.message).extraData.length;
      const nonce = ctx.expectedReportData === undefined ? undefined : regularize(ctx.expectedReportData, extraLength === 48 || extraLength === 64 ? extraLength : 32);
      const q = verifyQuote({ attest: ev.message, signature: ev.signature, ak: ev.akPublic, pcrs, ...(nonce === undefined ? {} : { nonce }) });
      const checks: Check[] = [...q.checks, ...initDataPcr8Check(ev.pcrs[8], ctx.expectedInitDataHash)];
      const fingerprint = akFingerprint(new Uint8Array(ev.akPublic.export({ type: 'spki', format: 'der' })));
      const anchored = trusted.has(fingerprint);
      if (trusted.size > 0) checks.push(check('ak-trusted', anchored, 'the AK is one this deployment trusts', { actual: fingerprint }));
      if (ev.eventLog !== undefined) {
        const log = parseEventLog(ev.eventLog, { what: 'event_log' });
        const cmp = compareReplay(log, replayEventLog(log, { banks: ['sha256'] }), q.quoted ?? pcrs);
        const d = cmp.firstDivergent;
        checks.push(check('eventlog', cmp.ok, cmp.ok ? 'the event log replays to the quoted PCRs' : `the event log does not replay to PCR ${cmp.registers.filter((r) => !r.ok).map((r) => r.register).join(', ')}${d ? `; first divergent event ${d.seq} (${d.typeName})` : ''}`));
      }
      const claims: Record<string, unknown> = {
        ...pcrClaims(ev.pcrs),
        ...(ev.pcrs[8] ? { init_data: toHex(ev.pcrs[8]) } : {}),
        report_data: toHex(q.attest.extraData),
        ak_public: ev.akPublicB64,
        ak_fingerprint: fingerprint,
        ak_anchored: anchored,
      };
      return { checks, claims, teeClass: 'cpu' };
    },
  };
}

export const tpmVerifier: TeeVerifier = createTpmVerifier();

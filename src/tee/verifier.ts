/**
 * The contract between the Attestation Service and the per-TEE folders (`src/tee/<kind>/`). A verifier turns
 * one piece of evidence into checks and claims; it never decides policy. It mirrors
 * Trustee's `Verifier::evaluate(evidence, expected_report_data, expected_init_data_hash)` (specs/kbs-protocol.md §3.1).
 */
import type { Check } from '../formats/check.js';

/** TEE class as in Trustee's EAR submodules: `cpu` for CPU TEEs, `gpu` for devices. */
export type TeeClass = 'cpu' | 'gpu';

export interface VerifyContext {
  /**
   * Digest of the canonical runtime data (specs/kbs-protocol.md §1.5), as bytes before any per-TEE
   * padding; absent when the caller binds no runtime data.
   */
  expectedReportData?: Uint8Array;
  /** Digest of the init-data TOML (§1.6), unpadded; absent when no init-data was sent. */
  expectedInitDataHash?: Uint8Array;
  /** Verification time for certificates and collateral (injected). */
  now: Date;
}

export interface VerifierResult {
  /** Every check made, in order, passed or not. A result with a failed check must not be trusted. */
  checks: Check[];
  /** Claims for policy, named and encoded as Trustee's verifier for this TEE emits them. */
  claims: Record<string, unknown>;
  teeClass: TeeClass;
}

export interface TeeVerifier {
  /** The KBS protocol's `tee` value (`sample`, `snp`, `tdx`, `az-snp-vtpm`, …). */
  readonly tee: string;
  /**
   * Verifies `evidence` (the parsed `primary_evidence` JSON). Malformed evidence throws a CocoError;
   * evidence that parses but fails a check returns the failed check (and the claims it could read).
   */
  verify(evidence: unknown, ctx: VerifyContext): Promise<VerifierResult>;
}

/** Guest side: produces evidence for the KBS protocol's `primary_evidence`. */
export interface Attester {
  readonly tee: string;
  /** Evidence whose report data carries `reportData` (the runtime-data digest, padded per TEE by the attester). */
  getEvidence(reportData: Uint8Array): Promise<unknown>;
}

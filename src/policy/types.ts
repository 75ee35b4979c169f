import type { Explanation } from '../rego/explain.js';

/**
 * The two policy decisions of the KBS, behind small interfaces so the attestation service and the server do
 * not depend on how a policy is evaluated (specs/kbs-protocol.md §1.9, §3.3–§3.4).
 */

/** Answers `query_reference_value(id)`: the stored JSON value, or `null` when absent (§3.4, §7.11). */
export type ReferenceValueLookup = (id: string) => unknown;

export interface AttestationPolicyOutput {
  /** Value of `data.policy.trust_claims`, undefined when the rule is undefined. */
  trustClaims: unknown;
  /** Value of `data.policy.extensions`, undefined when the rule is undefined. */
  extensions: unknown;
}

export interface AttestationPolicyEvaluator {
  /**
   * Evaluates the attestation policy `policyText` (id `policyId`, e.g. `default_cpu`) over the annotated
   * evidence of one claim set. A policy that fails to parse or evaluate is a CocoError.
   */
  evaluate(policyText: string, policyId: string, input: unknown, referenceValue: ReferenceValueLookup): Promise<AttestationPolicyOutput>;
  /**
   * The same evaluation with the explainer's account of `data.policy.trust_claims`: every rule body tried,
   * and for each that failed the literal that stopped it with its values. Slower than `evaluate`, for reading
   * a decision afterwards, never for the request path.
   */
  explain?(policyText: string, policyId: string, input: unknown, referenceValue: ReferenceValueLookup): Promise<AttestationPolicyOutput & { explanation: Explanation }>;
  /** Parses and compiles a policy before it is stored, so a broken upload is refused at once (TR #1567). */
  validate(policyText: string): Promise<void>;
}

export interface ResourcePolicyData {
  plugin: string;
  'resource-path': string[];
  query: Record<string, string>;
}

export interface ResourcePolicyDecision {
  allow: boolean;
  /** Why: the rule that decided, or what was undefined. Safe to show the client. */
  reason: string;
  /** On a denial (and from `explain`): the explainer's account of every `allow` body tried (for the decision log, not the client). */
  explanation?: Explanation;
}

export interface ResourcePolicyEvaluator {
  /** `input` = the verified token claims, `data` = the request (§1.9); rule `data.policy.allow`. */
  evaluate(policyText: string, input: unknown, data: ResourcePolicyData): Promise<ResourcePolicyDecision>;
  /**
   * The same decision with the explainer's account whatever the verdict (an allow names the body that
   * succeeded): slower than `evaluate`, for reading a decision afterwards, never for the request path.
   */
  explain?(policyText: string, input: unknown, data: ResourcePolicyData): Promise<ResourcePolicyDecision>;
  validate(policyText: string): Promise<void>;
}

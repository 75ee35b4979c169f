/**
 * The KBS policies on the project's Rego engine, as Trustee evaluates them with regorus (specs/kbs-protocol.md
 * §1.9, §3.3–§3.4): Rego v1; the attestation policy yields `data.policy.trust_claims` and
 * `data.policy.extensions` over the annotated evidence, with the host builtin `query_reference_value(id)`;
 * the resource policy yields `data.policy.allow` with `input` = token claims and `data` = the request.
 * Compiled policies are cached by text. A denial names the rule bodies that failed and the literal that
 * stopped each one, with its values.
 */
import { CocoError } from '../errors.js';
import type { PreparedPolicy, Explanation } from '../rego/index.js';
import { loadRego, rego, regoLoaded } from '../rego/lazy.js';
import type { AttestationPolicyEvaluator, AttestationPolicyOutput, ReferenceValueLookup, ResourcePolicyData, ResourcePolicyDecision, ResourcePolicyEvaluator } from './types.js';

const CACHE_SIZE = 32;

/**
 * A stored KBS policy is Rego v1 unless its first line is this comment: Trustee deployments also carry
 * pre-1.0 (v0) policies, and the store keeps only the text, so the text says which syntax it is in.
 * `kbs config set-resource-policy --v0` (and `set-attestation-policy --v0`) adds the line.
 */
export const REGO_V0_MARKER = '# rego-version: v0';

/** The Rego version a stored policy text is written in (see REGO_V0_MARKER). */
export function policyRegoVersion(text: string): 'v0' | 'v1' {
  const nl = text.indexOf('\n');
  return (nl < 0 ? text : text.slice(0, nl)).trim() === REGO_V0_MARKER ? 'v0' : 'v1';
}

/** Marks a policy text as Rego v0 (idempotent). */
export function markRegoV0(text: string): string {
  return policyRegoVersion(text) === 'v0' ? text : `${REGO_V0_MARKER}\n${text}`;
}

class PolicyCache {
  private readonly map = new Map<string, PreparedPolicy>();

  constructor(private readonly build: (text: string) => PreparedPolicy) {}

  get(text: string): PreparedPolicy {
    let p = this.map.get(text);
    if (!p) {
      p = this.build(text);
      if (this.map.size >= CACHE_SIZE) this.map.delete(this.map.keys().next().value as string);
      this.map.set(text, p);
    }
    return p;
  }
}

/** The attestation-policy evaluator; `query_reference_value` answers from the lookup of the current call. */
export class RegoAttestationPolicy implements AttestationPolicyEvaluator {
  private lookup: ReferenceValueLookup = () => null;
  private readonly cache = new PolicyCache((text) => this.compile(text));

  private compile(text: string): PreparedPolicy {
    const engine = new (rego().Engine)();
    engine.addPolicy('attestation-policy.rego', text, { regoVersion: policyRegoVersion(text) });
    engine.addBuiltin({
      name: 'query_reference_value',
      arity: 1,
      // Trustee's extension: the stored JSON value, or null for an unknown id (`x in null` is then false).
      fn: (args) => {
        const id = args[0];
        if (typeof id !== 'string') return undefined;
        return rego().fromJson(this.lookup(id) ?? null);
      },
    });
    return engine.prepare();
  }

  async validate(policyText: string): Promise<void> {
    if (!regoLoaded()) await loadRego();
    this.cache.get(policyText);
  }

  async evaluate(policyText: string, policyId: string, input: unknown, referenceValue: ReferenceValueLookup): Promise<AttestationPolicyOutput> {
    if (!regoLoaded()) await loadRego();
    const prepared = this.cache.get(policyText);
    // Evaluation is synchronous, so the lookup cannot leak between concurrent calls.
    this.lookup = referenceValue;
    try {
      const [trustClaims, extensions] = prepared.evalRules(['data.policy.trust_claims', 'data.policy.extensions'], { input });
      return { trustClaims, extensions };
    } catch (e) {
      if (e instanceof CocoError) throw new CocoError('POLICY_ATTESTATION_EVAL', `attestation policy ${policyId}: ${e.message}`, { kind: e.kind, detail: e.detail, cause: e });
      throw e;
    } finally {
      this.lookup = () => null;
    }
  }

  async explain(policyText: string, policyId: string, input: unknown, referenceValue: ReferenceValueLookup): Promise<AttestationPolicyOutput & { explanation: Explanation }> {
    if (!regoLoaded()) await loadRego();
    // A policy of its own, so the explainer's pass cannot disturb the cached ones the request path uses.
    const engine = new (rego().Engine)();
    engine.addPolicy('attestation-policy.rego', policyText, { regoVersion: policyRegoVersion(policyText) });
    engine.addBuiltin({
      name: 'query_reference_value',
      arity: 1,
      fn: (args) => (typeof args[0] === 'string' ? rego().fromJson(referenceValue(args[0]) ?? null) : undefined),
    });
    engine.setInput(input);
    try {
      const explanation = engine.explain('data.policy.trust_claims');
      return { trustClaims: explanation.value, extensions: engine.evalRule('data.policy.extensions'), explanation };
    } catch (e) {
      if (e instanceof CocoError) throw new CocoError('POLICY_ATTESTATION_EVAL', `attestation policy ${policyId}: ${e.message}`, { kind: e.kind, detail: e.detail, cause: e });
      throw e;
    }
  }
}

export class RegoResourcePolicy implements ResourcePolicyEvaluator {
  private readonly cache = new PolicyCache((text) => {
    const engine = new (rego().Engine)();
    engine.addPolicy('resource-policy.rego', text, { regoVersion: policyRegoVersion(text) });
    return engine.prepare();
  });

  async validate(policyText: string): Promise<void> {
    if (!regoLoaded()) await loadRego();
    this.cache.get(policyText);
  }

  async evaluate(policyText: string, input: unknown, data: ResourcePolicyData): Promise<ResourcePolicyDecision> {
    if (!regoLoaded()) await loadRego();
    const prepared = this.cache.get(policyText);
    const v = prepared.evalRuleValue('data.policy.allow', { input: rego().fromJson(input), data: rego().fromJson(data) });
    // Undefined or non-boolean ⇒ deny (§1.9).
    if (v === true) return { allow: true, reason: 'data.policy.allow is true' };
    return denial(prepared, input, data, v === undefined ? 'undefined' : JSON.stringify(v));
  }

  async explain(policyText: string, input: unknown, data: ResourcePolicyData): Promise<ResourcePolicyDecision> {
    if (!regoLoaded()) await loadRego();
    const prepared = this.cache.get(policyText);
    const v = prepared.evalRuleValue('data.policy.allow', { input: rego().fromJson(input), data: rego().fromJson(data) });
    if (v !== true) return denial(prepared, input, data, v === undefined ? 'undefined' : JSON.stringify(v));
    const ex = explainAllow(prepared, input, data);
    const won = ex.bodies.find((b) => b.succeeded);
    const reason = won ? `data.policy.allow is true: rule ${won.rule} (line ${won.location.row}) succeeded` : 'data.policy.allow is true';
    return { allow: true, reason, explanation: ex };
  }
}

/** The explainer on the compiled (cached) policy: a denial costs an evaluation, not a parse and compile. */
function explainAllow(prepared: PreparedPolicy, input: unknown, data: ResourcePolicyData): Explanation {
  return prepared.explain('data.policy.allow', { input: rego().fromJson(input), data: rego().fromJson(data) });
}

/** Re-evaluates with the explainer to say which `allow` bodies failed and on which literal. */
function denial(prepared: PreparedPolicy, input: unknown, data: ResourcePolicyData, value: string): ResourcePolicyDecision {
  let ex: Explanation;
  try {
    ex = explainAllow(prepared, input, data);
  } catch {
    return { allow: false, reason: `data.policy.allow is ${value}` };
  }
  const failed = ex.bodies.filter((b) => !b.succeeded && b.failed);
  if (failed.length === 0) return { allow: false, reason: `data.policy.allow is ${value} (no allow rule applies)`, explanation: ex };
  const parts = failed.map((b) => {
    const vals = Object.entries(b.failed!.bindings).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ');
    return `rule ${b.rule} (line ${b.location.row}) failed at \`${b.failed!.text}\`${vals ? ` with ${vals}` : ''}`;
  });
  return { allow: false, reason: `data.policy.allow is ${value}: ${parts.join('; ')}`, explanation: ex };
}

export function policyEvaluators(): { attestationPolicy: AttestationPolicyEvaluator; resourcePolicy: ResourcePolicyEvaluator } {
  return { attestationPolicy: new RegoAttestationPolicy(), resourcePolicy: new RegoResourcePolicy() };
}

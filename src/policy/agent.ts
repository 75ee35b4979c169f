/**
 * The Kata agent's policy evaluation (specs/rego.md §3.4; kata:`src/agent/policy/src/policy.rs`), on the
 * project's Rego engine:
 *
 * - the policy text is module `agent_policy` (Rego v1 unless asked for v0), builtin errors are not strict
 *   (a failing builtin makes its call undefined), `print` output is gathered; `data` starts as `{"pstate": {}}`;
 * - each request evaluates the *query* `data.agent_policy.<Endpoint>` with the request as `input`. Exactly one
 *   result is required: none (rule undefined, no default) is an error unless `AllowRequestsFailingPolicy`;
 *   a boolean is the decision; an object is `{"allowed": bool, "ops"?: JSON-Patch}` and, when allowed, its ops
 *   are applied to the whole data document (that is how `data.pstate` keeps state between requests); any other
 *   value is an error;
 * - a denial carries the message `<Endpoint> is blocked by policy: <prints joined with spaces>`; under
 *   `AllowRequestsFailingPolicy` (evaluated once, after loading, with input `{}`) a denied or undefined request
 *   is allowed with a warning.
 *
 * As in the agent, the ops of an object result are decoded before the decision is used, so a malformed result
 * is an error even when it denies; a patch that fails to apply is an error and leaves the state unchanged.
 */
import { CocoError } from '../errors.js';
import { Engine, type JsonPatchOperation, type PreparedPolicy, fromJson, parseJsonValue } from '../rego/index.js';

export const AGENT_POLICY_MODULE = 'agent_policy';

export interface AgentPolicyOptions {
  /** Parse the policy as Rego v0 (the agent's regorus defaults to v1; older generated policies are v0). */
  regoVersion?: 'v0' | 'v1';
  /** Evaluation step limit per request (engine default otherwise). */
  maxSteps?: number;
}

export interface AgentDecision {
  endpoint: string;
  allowed: boolean;
  /** The `print` lines of this evaluation (`file:row: text`). */
  prints: string[];
  /** The JSON-Patch operations applied to `data` by this request (empty when none). */
  ops: JsonPatchOperation[];
  /** `allowed`, or the agent's denial message, or why AllowRequestsFailingPolicy let the request through. */
  reason: string;
  /** Set when the policy denied (or did not define) the request and AllowRequestsFailingPolicy allowed it. */
  warning?: string;
}

const ENDPOINT = /^[A-Za-z_][A-Za-z0-9_]*$/;

export class AgentPolicy {
  private readonly engine: Engine;
  private readonly prepared: PreparedPolicy;
  /** The value of `AllowRequestsFailingPolicy` at load time. */
  readonly allowFailures: boolean;

  constructor(policyText: string, options: AgentPolicyOptions = {}) {
    // kata's agent evaluates its policy with an engine without a type checker, and generated policies read
    // policy_data fields some documents lack (an undefined value there): OPA's undefined-ref check is off.
    this.engine = new Engine({ strict: false, printing: true, maxSteps: options.maxSteps, refChecks: false });
    this.engine.addData({ pstate: {} });
    this.engine.addPolicy(AGENT_POLICY_MODULE, policyText, { regoVersion: options.regoVersion ?? 'v1' });
    this.prepared = this.engine.prepare();
    // kata: an error while evaluating AllowRequestsFailingPolicy (e.g. undefined) leaves it false.
    let allow = false;
    try {
      allow = this.decide('AllowRequestsFailingPolicy', fromJson({}), false).allowed;
    } catch (e) {
      if (!(e instanceof CocoError)) throw e;
    }
    this.allowFailures = allow;
  }

  /** Evaluates one request whose input is a JSON text (the agent's serde JSON of the ttRPC request). */
  evaluateJson(endpoint: string, inputJson: string): AgentDecision {
    let input;
    try {
      input = parseJsonValue(inputJson);
    } catch (e) {
      throw new CocoError('AGENT_POLICY_INPUT', `${endpoint}: request input is not valid JSON: ${(e as Error).message}`, { kind: 'input', cause: e });
    }
    return this.decide(endpoint, input, this.allowFailures);
  }

  /** Evaluates one request whose input is a JSON value. */
  evaluate(endpoint: string, input: unknown): AgentDecision {
    let v;
    try {
      v = fromJson(input);
    } catch (e) {
      throw new CocoError('AGENT_POLICY_INPUT', `${endpoint}: request input is not JSON: ${(e as Error).message}`, { kind: 'input', cause: e });
    }
    return this.decide(endpoint, v, this.allowFailures);
  }

  /** The policy state, `data.pstate`, as plain JSON. */
  state(): unknown {
    return (this.engine.dataJson() as { pstate?: unknown }).pstate;
  }

  /** The whole base `data` document as plain JSON. */
  data(): unknown {
    return this.engine.dataJson();
  }

  private decide(endpoint: string, input: ReturnType<typeof fromJson>, allowFailures: boolean): AgentDecision {
    if (!ENDPOINT.test(endpoint)) throw new CocoError('AGENT_POLICY_ENDPOINT', `not a request name: ${JSON.stringify(endpoint)}`, { kind: 'usage' });
    const prints: string[] = [];
    const rows = this.prepared.evalQuery(`data.${AGENT_POLICY_MODULE}.${endpoint}`, { input, prints }).result;
    const blocked = `${endpoint} is blocked by policy: ${prints.join(' ')}`;
    if (rows.length !== 1 || rows[0]!.expressions.length !== 1) {
      if (allowFailures) return { endpoint, allowed: true, prints, ops: [], reason: 'allowed', warning: `${endpoint} is not defined by the policy; allowed by AllowRequestsFailingPolicy` };
      throw new CocoError('AGENT_POLICY_UNDEFINED', `${endpoint}: the policy gave ${rows.length} results (exactly one is required; is there a rule or default for it?)`, {
        kind: 'input',
        detail: { endpoint, prints },
      });
    }
    const value = rows[0]!.expressions[0]!.value;
    let allowed: boolean;
    let ops: JsonPatchOperation[] = [];
    if (typeof value === 'boolean') allowed = value;
    else if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      const obj = value as Record<string, unknown>;
      if (typeof obj.allowed !== 'boolean') {
        throw new CocoError('AGENT_POLICY_RESULT', `${endpoint}: the policy result object needs a boolean "allowed", got ${describe(obj.allowed)}`, { kind: 'input', detail: { endpoint, prints } });
      }
      allowed = obj.allowed;
      if (obj.ops !== undefined && obj.ops !== null) {
        if (!Array.isArray(obj.ops)) {
          throw new CocoError('AGENT_POLICY_RESULT', `${endpoint}: the policy result "ops" must be a JSON-Patch array, got ${describe(obj.ops)}`, { kind: 'input', detail: { endpoint, prints } });
        }
        if (allowed) {
          // Atomic: a failing patch throws REGO_JSON_PATCH and data is unchanged.
          try {
            this.engine.patchData(obj.ops);
          } catch (e) {
            if (!(e instanceof CocoError)) throw e;
            throw new CocoError(e.code, `${endpoint}: state not updated: ${e.message}`, { kind: e.kind, detail: e.detail, cause: e });
          }
          ops = obj.ops as JsonPatchOperation[];
        }
      }
    } else {
      throw new CocoError('AGENT_POLICY_RESULT', `${endpoint}: the policy result must be a boolean or an object, got ${describe(value)}`, { kind: 'input', detail: { endpoint, prints } });
    }
    if (allowed) return { endpoint, allowed, prints, ops, reason: 'allowed' };
    if (allowFailures) return { endpoint, allowed: true, prints, ops, reason: 'allowed', warning: `${blocked} (allowed by AllowRequestsFailingPolicy)` };
    return { endpoint, allowed: false, prints, ops, reason: blocked };
  }
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return `${typeof v === 'object' ? 'an object' : `a ${typeof v}`}`;
}

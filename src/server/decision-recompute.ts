/**
 * An attestation decision explained again, after the fact: for each appraisal (the CPU's and each device's),
 * the attestation policy version the record names for it by hash, evaluated with the explainer on the
 * appraisal's annotated evidence from the record's claims, with
 * `query_reference_value` answered from the reference-value set version the record names by hash
 * (decision-versions.ts). The answer says, per appraisal, the trust vector the re-run gives beside the one
 * recorded, every rule body tried, and the failing ones: those of a trust claim that came out worse than
 * affirming.
 *
 * Claims are stored redacted (decisions.ts `redactClaims`), so a re-run sees `[redacted]` where the request
 * saw a nonce or a token. `redactionReport` names the redacted claims and the places the policy refers to
 * them: a policy that reads one may decide differently now than it did then; one that reads none decides
 * exactly as it did.
 */
import { statusOf, tierOf, trustVectorFrom, type EarStatus, type TrustVector } from '../attestation/ear.js';
import { isRecord } from '../formats/json.js';
import type { AttestationPolicyEvaluator } from '../policy/types.js';
import { policyRegoVersion } from '../policy/evaluators.js';
import type { BodyExplanation } from '../rego/explain.js';
import { rego } from '../rego/lazy.js';
import type { Store } from '../store/store.js';
import { redactClaims, type Decision } from './decisions.js';
import { keptPolicyVersion, keptReferenceValueSet, type KeptVersion } from './decision-versions.js';

/** The value `redactClaims` leaves in place of a redacted one. */
export const REDACTED = '[redacted]';

/** Where a redacted value was in a document: its path of keys and indices. */
export type ClaimPath = Array<string | number>;

/** The paths of the redacted values in `doc`. */
export function redactedPaths(doc: unknown, max = 200): ClaimPath[] {
  const out: ClaimPath[] = [];
  const walk = (v: unknown, path: ClaimPath, depth: number): void => {
    if (out.length >= max || depth > 32) return;
    if (v === REDACTED) out.push(path);
    else if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...path, i], depth + 1));
    else if (isRecord(v)) for (const [k, x] of Object.entries(v)) walk(x, [...path, k], depth + 1);
  };
  walk(doc, [], 0);
  return out;
}

/** A reference to `input` in a policy: its path (`null` for a part computed at run time) and line. */
export interface InputRef {
  path: Array<string | number | null>;
  text: string;
  row: number;
}

interface AstTerm {
  type: string;
  name?: string;
  value?: unknown;
  head?: AstTerm;
  path?: AstTerm[];
  loc?: { row: number };
}

/** Every reference to `input` in a policy text, as written (the whole document when `input` stands alone). */
export function policyInputRefs(policyText: string): InputRef[] {
  const mod = rego().parseModule(policyText, 'policy.rego', { version: policyRegoVersion(policyText) });
  const out: InputRef[] = [];
  const seen = new Set<unknown>();
  const walk = (x: unknown): void => {
    if (x === null || typeof x !== 'object' || seen.has(x)) return;
    seen.add(x);
    const t = x as AstTerm;
    if (t.type === 'ref' && t.head?.type === 'var' && t.head.name === 'input') {
      const path = (t.path ?? []).map((p) => (p.type === 'scalar' && (typeof p.value === 'string' || typeof p.value === 'number') ? p.value : null));
      out.push({ path, text: refText(path), row: t.loc?.row ?? 0 });
      for (const p of t.path ?? []) walk(p);
      return;
    }
    if (t.type === 'var' && t.name === 'input') {
      out.push({ path: [], text: 'input', row: t.loc?.row ?? 0 });
      return;
    }
    for (const v of Object.values(x)) if (typeof v === 'object') walk(v);
  };
  walk(mod);
  return out;
}

function refText(path: Array<string | number | null>): string {
  return 'input' + path.map((p) => (p === null ? '[_]' : typeof p === 'number' ? `[${p}]` : /^[A-Za-z_][A-Za-z0-9_]*$/.test(p) ? `.${p}` : `[${JSON.stringify(p)}]`)).join('');
}

/** One path leads to the other (a computed part matches any key). */
function overlaps(ref: Array<string | number | null>, claim: ClaimPath): boolean {
  const n = Math.min(ref.length, claim.length);
  for (let i = 0; i < n; i++) {
    const r = ref[i];
    if (r !== null && String(r) !== String(claim[i])) return false;
  }
  return true;
}

export interface RedactionReport {
  /** The redacted claims of the policy's input, as dotted paths. */
  redacted: string[];
  /** The policy's references to them (or to a document holding them), with their lines. */
  read: Array<{ claim: string; ref: string; line: number }>;
  /** True when the policy reads a redacted claim: the re-run may decide differently than the request did. */
  may_differ: boolean;
  note: string;
}

const dotted = (p: ClaimPath): string => p.map(String).join('.');

/** Which of `input`'s claims were redacted and whether the policy reads any of them. */
export function redactionReport(policyText: string, input: unknown): RedactionReport {
  const redacted = redactedPaths(input);
  const read: RedactionReport['read'] = [];
  if (redacted.length) {
    for (const ref of policyInputRefs(policyText)) {
      for (const p of redacted) if (overlaps(ref.path, p)) read.push({ claim: dotted(p), ref: ref.text, line: ref.row });
    }
  }
  const may = read.length > 0;
  const names = [...new Set(read.map((r) => r.claim))];
  const note =
    redacted.length === 0
      ? 'no claim was redacted; the re-run sees what the request saw'
      : may
        ? `re-run may differ: the policy reads redacted claims (${names.join(', ')}), which the record does not keep`
        : 'the policy reads none of the redacted claims; the re-run decides as the request did';
  return { redacted: redacted.map(dotted), read: read.slice(0, 50), may_differ: may, note };
}

const MISSING: Record<'missing' | 'altered', string> = {
  missing: 'is not kept',
  altered: 'is kept altered: its text does not hash to its name',
};

function versionNote(what: string, k: KeptVersion | { state: 'missing' | 'altered' }): string {
  return `${what} ${MISSING[k.state as 'missing' | 'altered']}; the trace is the one recorded`;
}

/** A trust claim's rule name in the policy (`file-system` → `file_system`). */
const ruleOf = (claim: string): string => claim.replace(/-/g, '_');

/**
 * A body that stopped at a literal reading a part of the input this evidence does not have at all, such as
 * `input.tdx…` in a section for another TEE: it does not apply to this evidence rather than fail on it.
 */
function notApplicable(b: BodyExplanation, input: Record<string, unknown>): boolean {
  const f = b.failed;
  if (!f) return false;
  for (const [operand, value] of Object.entries(f.operands)) {
    const m = /^input(?:\.([A-Za-z_][A-Za-z0-9_]*)|\["([^"\\]+)"\])/.exec(operand);
    const top = m?.[1] ?? m?.[2];
    if (value === '<undefined>' && top !== undefined && !Object.prototype.hasOwnProperty.call(input, top)) return true;
  }
  return false;
}

/**
 * The rules behind the trust claims that came out worse than affirming, each with its failed bodies (those
 * that stopped on another platform's part of the input are counted, not listed).
 */
function failingRules(tv: TrustVector, bodies: BodyExplanation[], input: Record<string, unknown>): Array<{ claim: string; value: number; tier: EarStatus; rule: string; bodies: BodyExplanation[]; not_applicable: number }> {
  const out = [];
  for (const [claim, value] of Object.entries(tv) as Array<[string, number]>) {
    const tier = tierOf(value);
    if (tier !== 'warning' && tier !== 'contraindicated') continue;
    const rule = ruleOf(claim);
    const failed = bodies.filter((b) => !b.succeeded && b.failed && b.rule.split('.').pop() === rule);
    const applied = failed.filter((b) => !notApplicable(b, input));
    out.push({ claim, value, tier, rule: `data.policy.${rule}`, bodies: applied, not_applicable: failed.length - applied.length });
  }
  return out;
}

/**
 * The attestation policy's explain trace for an attestation record, recomputed from the versions it names;
 * undefined for a record that is not an attestation or names no policy (one denied before any policy ran).
 */
export async function explainAttestation(o: { store: Pick<Store, 'kv'>; attestationPolicy: AttestationPolicyEvaluator }, d: Decision): Promise<Record<string, unknown> | undefined> {
  if (d.type !== 'attestation' || !d.policy_hash) return undefined;
  const base = { policy_id: d.policy_id, policy_hash: d.policy_hash, ...(d.rv_set_hash ? { rv_set_hash: d.rv_set_hash } : {}) };
  const unavailable = (note: string) => ({ ...base, available: false, note });
  const policy = await keptPolicyVersion(o.store, d.policy_hash);
  if (policy.state !== 'kept') return unavailable(versionNote('the text of this policy version', policy));
  if (!d.rv_set_hash) return unavailable('the record names no reference-value set version; the trace is the one recorded');
  const rvs = await keptReferenceValueSet(o.store, d.rv_set_hash);
  if (rvs.state !== 'kept') return unavailable(versionNote('this reference-value set version', rvs));
  if (!o.attestationPolicy.explain) return unavailable('this server cannot explain attestation policies');
  const submods = isRecord(d.claims) && isRecord(d.claims.submods) ? d.claims.submods : undefined;
  if (!submods) return unavailable(d.omitted?.includes('claims') ? 'the claims were left out of the record for size' : 'the record holds no claims to evaluate the policy on');
  const policyId = d.policy_id ?? 'default_cpu';
  // The policy of each appraisal: as the record names it per submodule, else (records that name one policy)
  // the record's policy for the appraisals of its class.
  const named = isRecord(d.appraisal_policies) ? d.appraisal_policies : {};
  const policyOf = (submod: string): { id: string; hash: string } | undefined => {
    const p = named[submod];
    if (isRecord(p)) return typeof p.id === 'string' && typeof p.hash === 'string' ? { id: p.id, hash: p.hash } : undefined;
    return `default_${submod.replace(/[0-9]+$/, '')}` === policyId ? { id: policyId, hash: d.policy_hash! } : undefined;
  };
  const texts = new Map<string, KeptVersion>([[d.policy_hash, policy]]);
  const appraisals: Record<string, unknown>[] = [];
  let differs = false;
  let mayDiffer = false;
  for (const [submod, sub] of Object.entries(submods)) {
    const recorded = isRecord(sub) && isRecord(sub['ear.trustworthiness-vector']) ? (sub['ear.trustworthiness-vector'] as TrustVector) : undefined;
    const recordedStatus = isRecord(sub) && typeof sub['ear.status'] === 'string' ? sub['ear.status'] : undefined;
    const head = { submod, ...(recordedStatus ? { recorded_status: recordedStatus } : {}), ...(recorded ? { recorded_trust_vector: recorded } : {}) };
    const ae = isRecord(sub) ? sub['ear.veraison.annotated-evidence'] : undefined;
    if (!isRecord(ae)) {
      appraisals.push({ ...head, available: false, note: 'the claims hold no annotated evidence (the token was not verbose)' });
      continue;
    }
    const own = policyOf(submod);
    if (!own) {
      appraisals.push({ ...head, available: false, note: `appraised by default_${submod.replace(/[0-9]+$/, '')}, whose version the record does not name` });
      continue;
    }
    let kept = texts.get(own.hash);
    if (!kept) texts.set(own.hash, (kept = await keptPolicyVersion(o.store, own.hash)));
    const where = { policy_id: own.id, policy_hash: own.hash };
    if (kept.state !== 'kept') {
      appraisals.push({ ...head, ...where, available: false, note: versionNote('the text of this policy version', kept) });
      continue;
    }
    const text = kept.text;
    const consulted: Record<string, unknown> = {};
    const lookup = (id: string): unknown => {
      const v = Object.prototype.hasOwnProperty.call(rvs.values, id) ? rvs.values[id] : null;
      consulted[id] = v;
      return v;
    };
    try {
      const out = await o.attestationPolicy.explain(text, own.id, ae, lookup);
      const tv = trustVectorFrom(out.trustClaims, own.id);
      const status = statusOf(tv);
      const same = recorded === undefined || JSON.stringify(sortKeys(tv)) === JSON.stringify(sortKeys(recorded));
      differs ||= !same;
      const redaction = redactionReport(text, ae);
      mayDiffer ||= redaction.may_differ;
      appraisals.push({
        ...head,
        ...where,
        available: true,
        status,
        trust_vector: tv,
        same_as_recorded: same,
        failing: failingRules(tv, out.explanation.bodies, ae).map((f) => ({ ...f, bodies: f.bodies.map((b) => redactClaims(b)) })),
        explanation: redactClaims(out.explanation),
        reference_values: redactClaims(consulted),
        redaction,
      });
    } catch (e) {
      appraisals.push({ ...head, available: false, note: `the policy could not be evaluated again: ${(e as Error).message}` });
    }
  }
  const any = appraisals.some((a) => a.available === true);
  return {
    ...base,
    available: any,
    appraisals,
    ...(differs ? { note: 're-evaluated on the recorded (redacted) claims, the policy gives a trust vector other than the one recorded' } : {}),
    ...(!differs && mayDiffer ? { note: 'the policy reads redacted claims: a re-run may differ from the request' } : {}),
  };
}

function sortKeys(tv: TrustVector): Array<[string, number]> {
  return (Object.entries(tv) as Array<[string, number]>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

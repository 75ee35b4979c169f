/**
 * The Attestation Service (specs/kbs-protocol.md §3.1): for the primary evidence and each device evidence,
 * runtime-data digest → init-data digest and claims → verifier checks and claims → attestation policy →
 * one EAR appraisal per claim set → a signed EAR token. Reads like Trustee's `evaluate`; each step lives in
 * its own module.
 */
import { CocoError } from '../errors.js';
import { failures, renderChecks, type Check } from '../formats/check.js';
import { isRecord, parseJson } from '../formats/json.js';
import type { AttestationPolicyEvaluator } from '../policy/types.js';
import type { TeeClass } from '../tee/verifier.js';
import { earClaims, extensionsFrom, statusOf, trustVectorFrom, DEFAULT_BROKER, type Appraisal, type BrokerSettings } from './ear.js';
import { evaluateInitData, type InitDataMessage } from './init-data.js';
import { deviceRuntimeData, primaryRuntimeData, runtimeDataDigest, type HashAlgorithm } from '../formats/runtime-data.js';
import type { TokenSigner } from './signer.js';
import type { VerifierRegistry } from './verifiers.js';

export interface AttestationRequest {
  tee: string;
  /** `tee-evidence.primary_evidence`. */
  evidence: unknown;
  nonce: string;
  teePubkey: unknown;
  /** `tee-evidence.additional_evidence`: `""` or the JSON text of `{"<tee>": evidence, …}`. */
  additionalEvidence: string;
  initData?: InitDataMessage;
  /** Policy ids; the KBS passes `default`, evaluated as `default_<tee class>` (§3.3). */
  policyIds?: string[];
  /**
   * The report data the primary evidence must bind, in place of the runtime-data digest: only for replaying
   * recorded evidence (server/app.ts `RecordedEvidenceReplay`), never taken from a request.
   */
  expectedReportData?: Uint8Array;
}

export interface VerifiedClaimSet {
  tee: string;
  teeClass: TeeClass;
  checks: Check[];
}

export interface AttestationResult {
  token: string;
  claims: Record<string, unknown>;
  appraisals: Appraisal[];
  verified: VerifiedClaimSet[];
  /** Ids the attestation policies asked `query_reference_value` for, in first-asked order. */
  referenceValuesConsulted: string[];
  /** The version of the reference-value set the policies read, when the snapshot source names one. */
  referenceValueSet?: { hash: string; text: string };
  /** The attestation policy each appraisal (by submodule, `cpu0`, `gpu0`, …) was made by: its id and text. */
  policies: Record<string, { id: string; text: string }>;
  /** The policy that appraised the primary evidence (its submodule, id and text): what a decision record names. */
  primaryPolicy: AppraisalPolicy;
}

export interface AppraisalPolicy {
  submod: string;
  id: string;
  text: string;
}

/** The policy id the KBS asks the attestation service for (Trustee's `default`, specs §3.3). */
export const DEFAULT_POLICY_BASE = 'default';

/**
 * The attestation policy that appraises evidence of `teeClass` under the requested policy id: `<id>_<class>`,
 * so the default policies are named `default_cpu` (the primary evidence of every TEE) and `default_gpu`
 * (devices); they are stored under those ids, and the built-in ones carry them too.
 */
export function attestationPolicyId(teeClass: TeeClass, base: string = DEFAULT_POLICY_BASE): string {
  return `${base}_${teeClass}`;
}

export interface AttestationServiceOptions {
  verifiers: VerifierRegistry;
  policy: AttestationPolicyEvaluator;
  /** The text of attestation policy `id` (stored, else built in); undefined when there is none. */
  policyText: (id: string) => Promise<string | undefined>;
  /** All reference values, read once per attestation (the Rego builtin is synchronous). */
  referenceValues?: () => Promise<Record<string, unknown>>;
  /**
   * Instead of `referenceValues`: the values and, apart, those whose registration has expired. A policy that
   * consults an expired value denies the attestation, naming it.
   */
  referenceValueSnapshot?: () => Promise<ReferenceValueSnapshot>;
  signer: TokenSigner;
  clock?: () => Date;
  broker?: Partial<BrokerSettings>;
}

/** Annotated-evidence keys the verifier claim `report_data`/`init_data` are lifted to (§3.3). */
function annotate(
  tee: string,
  claims: Record<string, unknown>,
  runtimeData: Record<string, unknown>,
  initDataClaims: Record<string, unknown> | undefined,
  verbose: boolean,
): Record<string, unknown> {
  const { report_data, init_data, ...teeClaims } = claims;
  const out: Record<string, unknown> = { [tee]: teeClaims };
  if (report_data !== undefined) {
    const rd = { ...runtimeData };
    if (!verbose) delete rd['additional-evidence'];
    out.report_data = report_data;
    out.runtime_data_claims = rd;
  }
  if (init_data !== undefined) {
    out.init_data = init_data;
    out.init_data_claims = initDataClaims ?? null;
  }
  return out;
}

/** The reference values an attestation reads: the valid ones, and the expired ones with their expiry. */
export interface ReferenceValueSnapshot {
  values: Record<string, unknown>;
  expired: Record<string, Date>;
  /** The version of `values` as a set (server/decision-versions.ts): its hash and canonical text. */
  version?: { hash: string; text: string };
}

/** The error of an attestation whose policy consulted expired values; undefined when none expired. */
export function expiredReferenceValueError(expiredValues: Record<string, Date>): CocoError | undefined {
  const expired = Object.entries(expiredValues);
  if (expired.length === 0) return undefined;
  const [name, at] = expired[0];
  const more = expired.length > 1 ? ` (and ${expired.length - 1} more)` : '';
  return new CocoError('AS_REFERENCE_VALUE_EXPIRED', `reference value ${JSON.stringify(name.slice(0, 128))} expired at ${at.toISOString()}${more}; register it again`, {
    kind: 'expectation',
    detail: { expired: Object.fromEntries(expired.map(([n, d]) => [n, d.toISOString()])) },
  });
}

/** A lookup for the policy's `query_reference_value`, remembering what it was asked for. */
function referenceLookup(snap: ReferenceValueSnapshot) {
  const consulted = new Set<string>();
  const lookup = (id: string): unknown => {
    consulted.add(id);
    return Object.prototype.hasOwnProperty.call(snap.values, id) ? snap.values[id] : null;
  };
  /** The consulted values whose registration has expired, in first-asked order. */
  const expiredConsulted = (): Record<string, Date> => Object.fromEntries([...consulted].filter((id) => Object.prototype.hasOwnProperty.call(snap.expired, id)).map((id): [string, Date] => [id, snap.expired[id]]));
  /** Throws when the policy consulted a value whose registration has expired. */
  const checkExpiry = (): void => {
    const e = expiredReferenceValueError(expiredConsulted());
    if (e) throw e;
  };
  return { consulted, lookup, checkExpiry, expiredConsulted };
}

export class AttestationService {
  readonly verifiers: VerifierRegistry;
  private readonly opts: AttestationServiceOptions;
  private readonly broker: BrokerSettings;
  private readonly clock: () => Date;

  constructor(opts: AttestationServiceOptions) {
    this.opts = opts;
    this.verifiers = opts.verifiers;
    this.broker = { ...DEFAULT_BROKER, ...opts.broker };
    this.clock = opts.clock ?? (() => new Date());
    if (!opts.referenceValues && !opts.referenceValueSnapshot) throw new CocoError('AS_CONFIG', 'the attestation service needs a reference value source', { kind: 'internal' });
  }

  private async snapshot(): Promise<ReferenceValueSnapshot> {
    if (this.opts.referenceValueSnapshot) return this.opts.referenceValueSnapshot();
    return { values: await this.opts.referenceValues!(), expired: {} };
  }

  async evaluate(req: AttestationRequest): Promise<AttestationResult> {
    const hash: HashAlgorithm = req.tee === 'se' ? 'sha512' : 'sha384';
    const now = this.clock();
    const initData = req.initData ? evaluateInitData(req.initData) : undefined;

    const sets: Array<{ tee: string; evidence: unknown; runtimeData: Record<string, unknown>; initData: boolean; reportData?: Uint8Array }> = [
      { tee: req.tee, evidence: req.evidence, runtimeData: primaryRuntimeData(req.nonce, req.teePubkey, req.additionalEvidence), initData: true, reportData: req.expectedReportData },
    ];
    if (req.additionalEvidence !== '') {
      const devices = parseJson(req.additionalEvidence, 'additional_evidence', 8 * 1024 * 1024);
      if (!isRecord(devices)) throw new CocoError('AS_ADDITIONAL_EVIDENCE', 'additional_evidence must be the JSON text of an object {tee: evidence}', { kind: 'input' });
      for (const [tee, evidence] of Object.entries(devices)) sets.push({ tee, evidence, runtimeData: deviceRuntimeData(req.nonce, req.teePubkey), initData: false });
    }

    const snap = await this.snapshot();
    const { consulted, lookup, checkExpiry } = referenceLookup(snap);
    const basePolicy = req.policyIds?.[0] ?? DEFAULT_POLICY_BASE;
    const counters: Record<string, number> = {};
    const appraisals: Appraisal[] = [];
    const verified: VerifiedClaimSet[] = [];
    const policies: Record<string, { id: string; text: string }> = {};
    let primaryPolicy: AppraisalPolicy | undefined;

    for (const set of sets) {
      const verifier = this.verifiers.get(set.tee);
      const result = await verifier.verify(set.evidence, {
        expectedReportData: set.reportData ?? runtimeDataDigest(set.runtimeData, hash),
        expectedInitDataHash: set.initData ? initData?.digest : undefined,
        now,
      });
      verified.push({ tee: set.tee, teeClass: result.teeClass, checks: result.checks });
      const failed = failures(result.checks);
      if (failed.length > 0) {
        const first = failed[0];
        throw new CocoError('AS_EVIDENCE_CHECK', `${set.tee} evidence failed check "${first.id}": ${first.detail}`, {
          kind: first.id === 'signature' || first.id === 'chain' ? 'crypto' : 'expectation',
          detail: { tee: set.tee, checks: result.checks, explain: renderChecks(result.checks) },
        });
      }
      const annotated = annotate(set.tee, result.claims, set.runtimeData, set.initData ? initData?.claims : undefined, this.broker.verbose);
      const policyId = attestationPolicyId(result.teeClass, basePolicy);
      const text = await this.opts.policyText(policyId);
      if (text === undefined) throw new CocoError('AS_POLICY_NOT_FOUND', `attestation policy "${policyId}" does not exist`, { kind: 'notfound' });
      const out = await this.opts.policy.evaluate(text, policyId, annotated, lookup);
      const tv = trustVectorFrom(out.trustClaims, policyId);
      const index = counters[result.teeClass] ?? 0;
      counters[result.teeClass] = index + 1;
      const submod = `${result.teeClass}${index}`;
      policies[submod] = { id: policyId, text };
      // The primary evidence is the first set, whatever its class and however many devices follow it.
      primaryPolicy ??= { submod, id: policyId, text };
      appraisals.push({
        submod,
        status: statusOf(tv),
        trustVector: tv,
        policyId: basePolicy,
        annotatedEvidence: annotated,
        extensions: extensionsFrom(out.extensions, policyId),
      });
    }

    checkExpiry();
    const claims = earClaims(appraisals, this.broker, now);
    return {
      token: await this.opts.signer.sign(claims),
      claims,
      appraisals,
      verified,
      referenceValuesConsulted: [...consulted],
      ...(snap.version ? { referenceValueSet: snap.version } : {}),
      policies,
      // `sets` always holds the primary evidence, so the loop set it (or threw).
      primaryPolicy: primaryPolicy!,
    };
  }

  /**
   * What `evaluate` would conclude on one piece of evidence presented outside a handshake (a dry-run): the
   * verifier's checks with no runtime-data or init-data binding (there is no challenge to bind to), then the
   * attestation policy — `candidatePolicy` when given, else the stored one — and the EAR claims a token would
   * carry, unsigned. A consulted value whose registration has expired is reported in `expiredReferenceValues`
   * (an attestation would be denied for it) rather than thrown. Reads only; nothing is stored or issued.
   */
  async appraiseEvidence(tee: string, evidence: unknown, candidatePolicy?: string): Promise<EvidenceAppraisal> {
    const verifier = this.verifiers.get(tee);
    const now = this.clock();
    const result = await verifier.verify(evidence, { now });
    const failed = failures(result.checks);
    const policyId = attestationPolicyId(result.teeClass);
    const base = { tee, teeClass: result.teeClass, checks: result.checks, policyId };
    if (failed.length > 0) return { ...base, failed, referenceValuesConsulted: [] };
    const text = candidatePolicy ?? (await this.opts.policyText(policyId));
    if (text === undefined) throw new CocoError('AS_POLICY_NOT_FOUND', `attestation policy "${policyId}" does not exist`, { kind: 'notfound' });
    const { consulted, lookup, expiredConsulted } = referenceLookup(await this.snapshot());
    const annotated = annotate(tee, result.claims, {}, undefined, this.broker.verbose);
    const out = await this.opts.policy.evaluate(text, policyId, annotated, lookup);
    const tv = trustVectorFrom(out.trustClaims, policyId);
    const appraisal: Appraisal = { submod: `${result.teeClass}0`, status: statusOf(tv), trustVector: tv, policyId: 'default', annotatedEvidence: annotated, extensions: extensionsFrom(out.extensions, policyId) };
    return { ...base, failed, policyText: text, appraisal, claims: earClaims([appraisal], this.broker, now), referenceValuesConsulted: [...consulted], expiredReferenceValues: expiredConsulted() };
  }
}

/** `appraiseEvidence`'s answer: the checks, and when they all pass, the appraisal and the claims. */
export interface EvidenceAppraisal {
  tee: string;
  teeClass: TeeClass;
  checks: Check[];
  failed: Check[];
  policyId: string;
  policyText?: string;
  appraisal?: Appraisal;
  claims?: Record<string, unknown>;
  referenceValuesConsulted: string[];
  /** Consulted values whose registration has expired (an attestation would be denied for them). */
  expiredReferenceValues?: Record<string, Date>;
}

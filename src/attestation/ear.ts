/**
 * EAR attestation results (specs/kbs-protocol.md §3.3, veraison/rust-ear): the AR4SI trustworthiness vector
 * produced by the attestation policy, its status tier, and the token claims set Trustee's broker issues.
 */
import { CocoError } from '../errors.js';
import { isRecord } from '../formats/json.js';

export const TRUST_CLAIMS = [
  'instance-identity',
  'configuration',
  'executables',
  'file-system',
  'hardware',
  'runtime-opaque',
  'storage-opaque',
  'sourced-data',
] as const;
export type TrustClaim = (typeof TRUST_CLAIMS)[number];
export type TrustVector = Partial<Record<TrustClaim, number>>;
export type EarStatus = 'none' | 'affirming' | 'warning' | 'contraindicated';

const TIER_ORDER: EarStatus[] = ['none', 'affirming', 'warning', 'contraindicated'];

/** Tier of one claim value (EAR `trust/claim.rs`). */
export function tierOf(v: number): EarStatus {
  if (v >= -1 && v <= 1) return 'none';
  if (v >= -32 && v < 32) return 'affirming';
  if (v >= -96 && v < 96) return 'warning';
  return 'contraindicated';
}

/** Worst tier over the vector. */
export function statusOf(tv: TrustVector): EarStatus {
  let worst: EarStatus = 'none';
  for (const v of Object.values(tv)) {
    const t = tierOf(v as number);
    if (TIER_ORDER.indexOf(t) > TIER_ORDER.indexOf(worst)) worst = t;
  }
  return worst;
}

/**
 * The vector from the policy's `trust_claims`. Undefined ⇒ all eight claims 0 (Trustee's behaviour);
 * an unknown name or a value outside −128..127 is rejected here (the Rust code panics on them).
 */
export function trustVectorFrom(trustClaims: unknown, policyId: string): TrustVector {
  if (trustClaims === undefined) return Object.fromEntries(TRUST_CLAIMS.map((c) => [c, 0])) as TrustVector;
  if (!isRecord(trustClaims)) throw new CocoError('AS_POLICY_OUTPUT', `policy ${policyId}: trust_claims must be an object`, { kind: 'input' });
  const tv: TrustVector = {};
  for (const [k, v] of Object.entries(trustClaims)) {
    if (!(TRUST_CLAIMS as readonly string[]).includes(k)) throw new CocoError('AS_POLICY_OUTPUT', `policy ${policyId}: unknown trust claim "${k}"`, { kind: 'input' });
    if (typeof v !== 'number' || !Number.isInteger(v) || v < -128 || v > 127) {
      throw new CocoError('AS_POLICY_OUTPUT', `policy ${policyId}: trust claim "${k}" must be an integer in -128..127, got ${JSON.stringify(v)}`, { kind: 'input' });
    }
    tv[k as TrustClaim] = v;
  }
  if (Object.keys(tv).length === 0) throw new CocoError('AS_POLICY_OUTPUT', `policy ${policyId}: trust_claims is empty, no appraisal can be issued`, { kind: 'input' });
  return tv;
}

export interface EarExtension {
  name: string;
  key: number;
  value: unknown;
}

/** The policy's `extensions` rule: an array of `{name, key (i32), value}`; undefined ⇒ none. */
export function extensionsFrom(v: unknown, policyId: string): EarExtension[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new CocoError('AS_POLICY_OUTPUT', `policy ${policyId}: extensions must be an array`, { kind: 'input' });
  return v.map((e) => {
    if (!isRecord(e) || typeof e.name !== 'string' || typeof e.key !== 'number' || !Number.isInteger(e.key)) {
      throw new CocoError('AS_POLICY_OUTPUT', `policy ${policyId}: each extension needs a string name and integer key`, { kind: 'input' });
    }
    return { name: e.name, key: e.key, value: e.value };
  });
}

export interface Appraisal {
  /** Submodule name, `<tee_class><index>`. */
  submod: string;
  status: EarStatus;
  trustVector: TrustVector;
  policyId: string;
  annotatedEvidence: Record<string, unknown>;
  extensions: EarExtension[];
}

export interface BrokerSettings {
  durationMin: number;
  issuer: string;
  developer: string;
  build: string;
  profile: string;
  verbose: boolean;
}

export const DEFAULT_BROKER: BrokerSettings = {
  durationMin: 5,
  issuer: 'CoCo-Attestation-Service',
  developer: 'https://confidentialcontainers.org',
  build: 'cocokit-attestation-service 0.1.0',
  profile: 'tag:github.com,2024:confidential-containers/Trustee',
  verbose: true,
};

/** The EAR claims set, members in the order Trustee's broker writes them. */
export function earClaims(appraisals: Appraisal[], settings: BrokerSettings, now: Date): Record<string, unknown> {
  const iat = Math.floor(now.getTime() / 1000);
  const submods: Record<string, unknown> = {};
  for (const a of appraisals) {
    const sub: Record<string, unknown> = {
      'ear.status': a.status,
      'ear.trustworthiness-vector': a.trustVector,
      'ear.appraisal-policy-id': a.policyId,
      'ear.veraison.annotated-evidence': a.annotatedEvidence,
    };
    for (const ext of a.extensions) sub[ext.name] = ext.value;
    submods[a.submod] = sub;
  }
  return {
    eat_profile: settings.profile,
    iat,
    'ear.verifier-id': { developer: settings.developer, build: settings.build },
    submods,
    exp: iat + settings.durationMin * 60,
    iss: settings.issuer,
  };
}

/**
 * Per-workload registration (specs/keybroker.md §7): a workload owner registers reference values, a Rego
 * policy and the workload's secrets, and gets an id. Later only a guest whose verified evidence names that
 * workload, and whose claims satisfy that registration's policy, may read those secrets.
 *
 * This module is the protocol-free part, shared by the native routes and the keybroker / reference-kbs
 * compatibility routes: the registration model and its validation, identification of the workload from
 * evidence, appraisal with the registration's policy (`data` = reference values, `input` = verified claims),
 * and the keybroker / reference-kbs wire details (freshness hash, string-valued claims, registration ids).
 *
 * Validation and appraisal run synchronously on the Rego engine, which is loaded on demand: a caller awaits
 * `loadRego()` (rego/lazy.ts) first, as the server's request hook does for every route that reaches here.
 */
import { existsSync, readFileSync } from 'node:fs';
import { constants, createHash, createPublicKey, publicEncrypt, type KeyObject } from 'node:crypto';
import { CocoError } from '../errors.js';
import { checkReferenceValueShapes } from './reference-value-shapes.js';
import { bytesEqual, fromBase64, fromHex, toBase64, toHex } from '../formats/bytes.js';
import { failures } from '../formats/check.js';
import { isRecord } from '../formats/json.js';
import { canonicalize } from '../formats/jcs.js';
import type { Explanation } from '../rego/index.js';
import { rego } from '../rego/lazy.js';
import type { JsonValue, WorkloadRecord } from '../store/index.js';
import { evidenceFromJson, evidenceToJson } from '../tee/snp/evidence.js';
import { REPORT_SIZE, decodePolicy, parseReport, reportProduct, serializeReport, type SnpReport } from '../tee/snp/format.js';
import { vcekCachePaths } from '../tee/snp/certs.js';
import type { TeeVerifier } from '../tee/verifier.js';
import { checkPredictedRegister } from '../measure/explain-events.js';
import { normalizeProvenance } from './provenance.js';
import { snpSearchInput } from '../measure/snp-search.js';

// ---------------------------------------------------------------------------------------------------------
// Registration model

/** Where the evidence may name its workload (issue: "the registration says which are allowed"). */
export type IdentificationSource = 'host_data' | 'extra_params' | 'init_data';
export const IDENTIFICATION_SOURCES: readonly IdentificationSource[] = ['host_data', 'extra_params', 'init_data'];
/**
 * HOST_DATA and init-data are covered by the hardware signature; the guest-chosen `extra-params` is not, so it
 * is allowed only when a registration asks for it (reference-kbs and krun identify that way, §1.5).
 */
export const DEFAULT_IDENTIFICATION: readonly IdentificationSource[] = ['host_data', 'init_data'];

/** Which front door created the registration; decides which routes may serve it. */
export type WorkloadDialect = 'native' | 'keybroker' | 'reference-kbs';

/** The registration as stored: `WorkloadRecord.referenceValues` holds this envelope. */
export interface WorkloadSpec {
  referenceValues: Record<string, JsonValue>;
  identify: IdentificationSource[];
  dialect: WorkloadDialect;
  /** keybroker registrations: the Rego queries that must all be true (§1.2). */
  queries?: string[];
  /** Where each reference value came from, by claim name (absent for values pasted by hand). */
  provenance?: Record<string, JsonValue>;
}

/** The resource repository workload secrets live under, inside the workload's namespace. */
export const WORKLOAD_REPOSITORY = 'workload';
/** The package a registration's policy must declare; its `allow` rule decides. */
export const POLICY_PACKAGE = 'workload';

/** Trustee's resource path segment rule (TR resource backend), which the store enforces on every key. */
const SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MAX_RESOURCES = 64;
const MAX_SECRET_BYTES = 64 * 1024;
const MAX_REFERENCE_VALUES = 256;

function bad(message: string, code = 'WORKLOAD_BODY'): never {
  throw new CocoError(code, message, { kind: 'input' });
}

export function checkWorkloadId(id: unknown, what = 'workload_id'): string {
  if (typeof id !== 'string' || !SEGMENT.test(id)) bad(`${what} must be 1..128 characters of [A-Za-z0-9_.-] not starting with "." (got ${JSON.stringify(id)?.slice(0, 80)})`);
  return id as string;
}

export function checkResourceName(name: string): string {
  if (!SEGMENT.test(name)) bad(`resource name ${JSON.stringify(name.slice(0, 80))} must be 1..128 characters of [A-Za-z0-9_.-] not starting with "."`);
  return name;
}

export function isUuid(s: string): boolean {
  return UUID.test(s);
}

/** A native registration body, validated (`POST /kbs/v0/workloads`). */
export interface RegistrationBody {
  workloadId?: string;
  tee: string;
  referenceValues: Record<string, JsonValue>;
  policy?: string;
  /** keybroker-style queries that must all be true (instead of `policy`). */
  queries?: string[];
  /** Absent when the body does not say: a create uses `DEFAULT_IDENTIFICATION`, an update keeps the stored one. */
  identify?: IdentificationSource[];
  /** Secret values by resource name; absent on an update that keeps the stored secrets. */
  resources?: Record<string, Uint8Array>;
  /** Required for updates: the version the caller last read. */
  version?: number;
  /** Provenance of reference values, by claim name, as the client computed it (see `checkProvenance`). */
  provenance?: Record<string, Record<string, JsonValue>>;
}

const MAX_PROVENANCE_BYTES = 64 * 1024;

/**
 * Provenance the client states for its reference values: `{claim: {algorithm, parameters, inputs, expires?}}`,
 * `inputs` the SHA-256 (hex) of each input artifact. Only claims the registration has may carry one.
 */
function checkProvenance(p: unknown, rv: Record<string, unknown>): Record<string, Record<string, JsonValue>> {
  if (!isRecord(p)) bad('"provenance" must be an object {claim: {algorithm, parameters, inputs}}');
  if (JSON.stringify(p).length > MAX_PROVENANCE_BYTES) throw new CocoError('WORKLOAD_LIMIT', `"provenance" is larger than ${MAX_PROVENANCE_BYTES} bytes`, { kind: 'limit' });
  const out: Record<string, Record<string, JsonValue>> = {};
  for (const [claim, stated] of Object.entries(p)) {
    if (!(claim in rv)) bad(`provenance for ${JSON.stringify(claim.slice(0, 80))}, which is not a reference value of this registration`);
    if (!isRecord(stated)) bad(`provenance of ${claim} must be an object`);
    // The earlier RVPS members of a statement's provenance are read into the one shape first.
    if (stated.subjects !== undefined && !Array.isArray(stated.subjects)) bad(`provenance of ${claim}: "subjects" must be an array`);
    if (stated.statement_sha256 !== undefined && (typeof stated.statement_sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(stated.statement_sha256))) bad(`provenance of ${claim}: "statement_sha256" must be 64 lower-case hex digits`);
    if (stated.predicate_type !== undefined && (typeof stated.predicate_type !== 'string' || stated.predicate_type.length === 0)) bad(`provenance of ${claim}: "predicate_type" must be a non-empty string`);
    const e = normalizeProvenance(stated) as Record<string, unknown>;
    if (typeof e.algorithm !== 'string' || !/^[a-z0-9][a-z0-9.-]{0,63}$/.test(e.algorithm)) bad(`provenance of ${claim}: "algorithm" must be a short lower-case name`);
    if (!isRecord(e.parameters)) bad(`provenance of ${claim}: "parameters" must be an object`);
    if (!isRecord(e.inputs) || !Object.values(e.inputs).every((d) => typeof d === 'string' && /^[0-9a-f]{64}$/.test(d))) bad(`provenance of ${claim}: "inputs" must map artifact names to SHA-256 hex digests`);
    if (e.expires !== undefined && (typeof e.expires !== 'string' || Number.isNaN(Date.parse(e.expires)))) bad(`provenance of ${claim}: "expires" must be an RFC 3339 time`);
    // A value from a signed statement also names its signer (certificate SAN or key digest), the OIDC issuer
    // of a Sigstore certificate and, for an SBOM, its components: what resource policies ask about.
    if (e.signer !== undefined && (typeof e.signer !== 'string' || e.signer.length === 0 || e.signer.length > 1024)) bad(`provenance of ${claim}: "signer" must be a non-empty string`);
    if (e.signer_issuer !== undefined && (typeof e.signer_issuer !== 'string' || e.signer_issuer.length > 1024)) bad(`provenance of ${claim}: "signer_issuer" must be a string`);
    if (e.components !== undefined && (!Array.isArray(e.components) || !e.components.every((c) => typeof c === 'string' && c.length <= 512))) bad(`provenance of ${claim}: "components" must be a list of name@version strings`);
    if (e.events !== undefined) {
      try {
        checkPredictedRegister(e.events, `provenance of ${claim}`);
      } catch (err) {
        bad((err as Error).message);
      }
    }
    const known = new Set(['algorithm', 'parameters', 'inputs', 'events', 'expires', 'signer', 'signer_issuer', 'components']);
    for (const k of Object.keys(e)) if (!known.has(k)) bad(`provenance of ${claim}: unknown field ${JSON.stringify(k.slice(0, 40))}`);
    // The states of an SNP launch digest's parameter search are read back by the KBS: refused now if malformed.
    if (e.algorithm === 'snp-launch-digest') {
      try {
        snpSearchInput(e.parameters);
      } catch (err) {
        bad(`provenance of ${claim}: ${(err as Error).message}`);
      }
    }
    out[claim] = e as Record<string, JsonValue>;
  }
  return out;
}

export function parseRegistrationBody(body: unknown, mode: 'create' | 'update'): RegistrationBody {
  if (!isRecord(body)) bad('registration body must be a JSON object');
  const known = new Set(['workload_id', 'tee', 'reference_values', 'policy', 'queries', 'identify', 'resources', 'version', 'provenance']);
  for (const k of Object.keys(body)) if (!known.has(k)) bad(`unknown field ${JSON.stringify(k)} (known: ${[...known].join(', ')})`);
  const tee = body.tee;
  if (typeof tee !== 'string' || !/^[a-z][a-z0-9-]{0,31}$/.test(tee)) bad('"tee" must be a kbs-types TEE name such as "snp"');
  const rv = body.reference_values;
  if (!isRecord(rv) || Object.keys(rv).length === 0) bad('"reference_values" must be a non-empty object {claim: expected value}');
  const keys = Object.keys(rv);
  if (keys.length > MAX_REFERENCE_VALUES) throw new CocoError('WORKLOAD_LIMIT', `at most ${MAX_REFERENCE_VALUES} reference values`, { kind: 'limit' });
  for (const k of keys) {
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(k)) bad(`reference value name ${JSON.stringify(k.slice(0, 80))} must be an identifier [A-Za-z_][A-Za-z0-9_]*`);
    if (k === POLICY_PACKAGE) bad(`reference value name "${POLICY_PACKAGE}" is reserved for the policy package`);
  }
  checkReferenceValueShapes(tee as string, rv);
  if (body.policy !== undefined && (typeof body.policy !== 'string' || body.policy.length === 0 || body.policy.length > 256 * 1024)) bad('"policy" must be Rego text (at most 256 KiB)');
  let queries: string[] | undefined;
  if (body.queries !== undefined) {
    if (body.policy !== undefined) bad('give "policy" or "queries", not both');
    queries = checkQueries(body.queries);
  }
  let identify: IdentificationSource[] | undefined = mode === 'create' ? [...DEFAULT_IDENTIFICATION] : undefined;
  if (body.identify !== undefined) {
    const ids = body.identify;
    if (!Array.isArray(ids) || ids.length === 0 || !ids.every((s) => typeof s === 'string' && (IDENTIFICATION_SOURCES as string[]).includes(s))) {
      bad(`"identify" must be a non-empty array of ${IDENTIFICATION_SOURCES.join(', ')}`);
    }
    identify = [...new Set(ids as IdentificationSource[])];
  }
  const workloadId = body.workload_id === undefined ? undefined : checkWorkloadId(body.workload_id);
  if (workloadId !== undefined && identify?.includes('host_data') && !isUuid(workloadId)) {
    bad('a workload identified by host_data needs a lower-case hyphenated UUID id (HOST_DATA[0..16] are its bytes)');
  }
  let resources: Record<string, Uint8Array> | undefined;
  if (body.resources !== undefined || mode === 'create') {
    const rs = body.resources;
    if (!isRecord(rs)) bad('"resources" must be an object {name: secret string}');
    const names = Object.keys(rs);
    if (names.length > MAX_RESOURCES) throw new CocoError('WORKLOAD_LIMIT', `at most ${MAX_RESOURCES} resources`, { kind: 'limit' });
    resources = {};
    for (const n of names) {
      checkResourceName(n);
      const v = rs[n];
      if (typeof v !== 'string') bad(`resource ${JSON.stringify(n)} must be a string`);
      const bytes = new TextEncoder().encode(v as string);
      if (bytes.length > MAX_SECRET_BYTES) throw new CocoError('WORKLOAD_LIMIT', `resource ${n} is larger than ${MAX_SECRET_BYTES} bytes`, { kind: 'limit' });
      resources[n] = bytes;
    }
  }
  let version: number | undefined;
  if (body.version !== undefined) {
    if (typeof body.version !== 'number' || !Number.isSafeInteger(body.version) || body.version < 1) bad('"version" must be a positive integer');
    version = body.version;
  }
  if (mode === 'update' && version === undefined) bad('an update needs the "version" it replaces (from GET)', 'WORKLOAD_VERSION_REQUIRED');
  const provenance = body.provenance === undefined ? undefined : checkProvenance(body.provenance, rv as Record<string, unknown>);
  return { workloadId, tee: tee as string, referenceValues: rv as Record<string, JsonValue>, policy: body.policy as string | undefined, queries, identify, resources, version, ...(provenance ? { provenance } : {}) };
}

/** keybroker-style queries: 1..64 strings of at most 16 KiB (an empty list would decide nothing, so it is refused). */
function checkQueries(q: unknown): string[] {
  if (!Array.isArray(q) || !q.every((x) => typeof x === 'string' && x.length > 0)) bad('"queries" must be an array of Rego query strings');
  if (q.length === 0) bad('"queries" must hold at least one query: an empty list would allow every measurement', 'WORKLOAD_POLICY');
  if (q.length > 64 || q.some((x) => (x as string).length > 16 * 1024)) throw new CocoError('WORKLOAD_LIMIT', 'at most 64 queries of at most 16 KiB', { kind: 'limit' });
  return q as string[];
}

/**
 * The policy part of a registration after an edit: what the body gives, else what was stored. A stored
 * default policy is regenerated for the new reference values (it is derived from their names); custom Rego
 * and keybroker queries are kept as they are, whichever front door made them.
 */
export function editedPolicy(
  current: { spec: WorkloadSpec; policy: string },
  body: Pick<RegistrationBody, 'policy' | 'queries' | 'referenceValues'>,
): { policy: string; queries?: string[] } {
  if (body.policy !== undefined) return { policy: body.policy };
  if (body.queries !== undefined) return { policy: queriesPolicyText(body.queries), queries: body.queries };
  if (current.spec.queries !== undefined) return { policy: current.policy, queries: current.spec.queries };
  if (current.policy === defaultPolicy(current.spec.referenceValues)) return { policy: defaultPolicy(body.referenceValues) };
  return { policy: current.policy };
}

/** The stored policy text of a query registration: the queries, one a line, for reading back. */
export function queriesPolicyText(queries: string[]): string {
  return queries.join('\n');
}

/** Reads the envelope back from a stored record; records not written by this module are refused. */
export function specOf(rec: WorkloadRecord): WorkloadSpec {
  const rv = rec.referenceValues;
  if (!isRecord(rv) || !isRecord(rv.reference_values) || !Array.isArray(rv.identify) || typeof rv.dialect !== 'string') {
    throw new CocoError('WORKLOAD_RECORD', `workload ${rec.id} has no registration envelope`, { kind: 'internal' });
  }
  return {
    referenceValues: rv.reference_values as Record<string, JsonValue>,
    identify: rv.identify as IdentificationSource[],
    dialect: rv.dialect as WorkloadDialect,
    ...(Array.isArray(rv.queries) ? { queries: rv.queries as string[] } : {}),
    // Entries written in the earlier RVPS shape are read into the one shape (attestation/provenance.ts).
    ...(isRecord(rv.provenance) ? { provenance: Object.fromEntries(Object.entries(rv.provenance).map(([k, e]) => [k, normalizeProvenance(e)])) as Record<string, JsonValue> } : {}),
  };
}

export function envelope(spec: WorkloadSpec): JsonValue {
  return {
    reference_values: spec.referenceValues,
    identify: spec.identify,
    dialect: spec.dialect,
    ...(spec.queries ? { queries: spec.queries } : {}),
    ...(spec.provenance ? { provenance: spec.provenance } : {}),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Policy

/**
 * The default policy, generated from the reference value names so it can be read back with the registration:
 * every reference value must equal the claim of the same name.
 */
export function defaultPolicy(referenceValues: Record<string, JsonValue>): string {
  const lines = Object.keys(referenceValues)
    .sort()
    .map((k) => `\tinput[${JSON.stringify(k)}] == data[${JSON.stringify(k)}]`);
  return `package ${POLICY_PACKAGE}\n\n# Every reference value equals the claim of the same name.\ndefault allow := false\n\nallow if {\n${lines.join('\n')}\n}\n`;
}

/** Compiles a registration policy; it must be `package workload` (the `allow` rule is what is asked). */
export function validatePolicy(text: string): void {
  const engine = new (rego().Engine)();
  let pkg: string;
  try {
    pkg = engine.addPolicy('workload.rego', text).join('.');
    engine.prepare();
  } catch (e) {
    throw new CocoError('WORKLOAD_POLICY', `workload policy does not compile: ${(e as Error).message}`, { kind: 'input', cause: e });
  }
  if (pkg !== POLICY_PACKAGE) bad(`workload policy must declare "package ${POLICY_PACKAGE}" (got ${pkg})`, 'WORKLOAD_POLICY');
}

export interface Appraisal {
  allow: boolean;
  reason: string;
  /** How the policy decided: the explainer's account of each `allow` body, or each query's outcome. */
  trace?: { explanation?: Explanation; queries?: Array<{ query: string; result: 'true' | 'false' | 'undefined' | 'error' }> };
}

function describe(ex: Explanation): string {
  const failed = ex.bodies.filter((b) => !b.succeeded && b.failed);
  if (failed.length === 0) return ex.defined ? `allow is ${JSON.stringify(ex.value)}` : 'allow is undefined';
  return failed
    .map((b) => {
      const f = b.failed!;
      const vars = Object.entries(f.bindings).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
      return `${f.text} is not true (line ${f.location.row}${vars.length ? `, ${vars.join(', ')}` : ''})`;
    })
    .join('; ');
}

/** Reference values whose claim differs, for the denial reason (values are measurements, never secrets). */
function mismatches(referenceValues: Record<string, JsonValue>, claims: Record<string, unknown>): string[] {
  return Object.keys(referenceValues)
    .sort()
    .filter((k) => JSON.stringify(claims[k]) !== JSON.stringify(referenceValues[k]))
    .map((k) => `${k}: claim ${claims[k] === undefined ? 'absent' : JSON.stringify(claims[k])}, reference ${JSON.stringify(referenceValues[k])}`);
}

/** `data.workload.allow` with `data` = reference values and `input` = claims; false or undefined denies. */
export function appraise(policy: string, referenceValues: Record<string, JsonValue>, claims: Record<string, unknown>): Appraisal {
  try {
    const engine = new (rego().Engine)({ maxSteps: 1_000_000 });
    engine.addPolicy('workload.rego', policy);
    engine.addData(referenceValues);
    const prepared = engine.prepare();
    const ex = prepared.explain(`data.${POLICY_PACKAGE}.allow`, { input: rego().fromJson(claims) });
    if (ex.value === true) return { allow: true, reason: 'policy allowed', trace: { explanation: ex } };
    const diff = mismatches(referenceValues, claims);
    return { allow: false, reason: `${describe(ex)}${diff.length ? ` [${diff.join('; ')}]` : ''}`, trace: { explanation: ex } };
  } catch (e) {
    return { allow: false, reason: `policy evaluation failed: ${(e as Error).message}` };
  }
}

/**
 * keybroker's appraisal (§1.4 step 7) with the intent enforced: every query must have a result whose every
 * expression is `true`. keybroker only printed "FALSE" and released anyway.
 */
export function appraiseQueries(queries: string[], referenceValues: Record<string, JsonValue>, claims: Record<string, unknown>): Appraisal {
  // No query decides nothing; nothing decided is a denial (keybroker released on an empty list).
  if (queries.length === 0) return { allow: false, reason: 'the registration has no queries; an empty policy denies' };
  const trace: NonNullable<Appraisal['trace']> = { queries: [] };
  for (const q of queries) {
    try {
      const engine = new (rego().Engine)({ maxSteps: 1_000_000 });
      engine.addData(referenceValues);
      engine.setInput(claims);
      const r = engine.evalQuery(q);
      const ok = r.result.length > 0 && r.result.every((row) => row.expressions.every((x) => x.value === true));
      const result = ok ? 'true' : r.result.length === 0 ? 'undefined' : 'false';
      trace.queries!.push({ query: q, result });
      if (!ok) return { allow: false, reason: `query ${JSON.stringify(q)} is ${result}`, trace };
    } catch (e) {
      trace.queries!.push({ query: q, result: 'error' });
      return { allow: false, reason: `query ${JSON.stringify(q)} failed: ${(e as Error).message}`, trace };
    }
  }
  return { allow: true, reason: `${queries.length} queries true`, trace };
}

/**
 * A registration's verdict, the same on every route: its queries when it has them (keybroker-style), else
 * its Rego policy. Which front door created or last edited it makes no difference.
 */
export function appraiseRegistration(rec: Pick<WorkloadRecord, 'policy'>, spec: WorkloadSpec, claims: Record<string, unknown>): Appraisal {
  // The registration's provenance joins the input, after the claims so evidence can never stand in for it:
  // a policy can ask who signed the statement a value came from, or which components its SBOM lists.
  const input = { ...claims, provenance: spec.provenance ?? {} };
  if (spec.queries !== undefined) return appraiseQueries(spec.queries, spec.referenceValues, input);
  return appraise(rec.policy, spec.referenceValues, input);
}

export function validateQueries(queries: string[]): void {
  if (queries.length === 0) bad('at least one query is needed: an empty list would allow every measurement', 'WORKLOAD_POLICY');
  const engine = new (rego().Engine)();
  for (const q of queries) {
    try {
      engine.evalQuery(q);
    } catch (e) {
      // Undefined references are fine at registration time; only syntax errors are rejected.
      if (e instanceof CocoError && e.code === 'REGO_PARSE') bad(`query ${JSON.stringify(q)} does not parse: ${e.message}`, 'WORKLOAD_POLICY');
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Identification

export interface IdentityHint {
  source: IdentificationSource;
  id: string;
}

/** HOST_DATA[0..16] as a UUID (keybroker `Uuid::from_bytes`, §1.4 step 6); bytes 16..31 are ignored. */
export function uuidFromHostData(hostData: Uint8Array): string {
  if (hostData.length < 16) bad('HOST_DATA is shorter than 16 bytes');
  const h = toHex(hostData.subarray(0, 16));
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** The 32 HOST_DATA bytes for a registration id: UUID bytes ‖ 16 zero bytes (§1.2). */
export function hostDataForUuid(uuid: string): Uint8Array {
  if (!isUuid(uuid)) bad(`${JSON.stringify(uuid)} is not a lower-case hyphenated UUID`);
  const out = new Uint8Array(32);
  out.set(Buffer.from(uuid.replace(/-/g, ''), 'hex'), 0);
  return out;
}

/** `workload_id` from kbs `extra-params`: a JSON object, or the JSON text of one (kbs-types 0.2.0 `SnpRequest`). */
export function workloadIdFromExtraParams(extra: unknown): string | undefined {
  let v = extra;
  if (typeof v === 'string') {
    if (v === '') return undefined;
    try {
      v = JSON.parse(v);
    } catch {
      return undefined;
    }
  }
  return isRecord(v) && typeof v.workload_id === 'string' ? v.workload_id : undefined;
}

/**
 * Chooses the workload the evidence names. Each hint counts only if that workload exists and allows the
 * source; hints naming different workloads deny.
 */
export async function identifyWorkload(
  hints: IdentityHint[],
  lookup: (id: string) => Promise<WorkloadRecord | undefined>,
): Promise<{ record: WorkloadRecord; spec: WorkloadSpec; source: IdentificationSource }> {
  const found: Array<{ record: WorkloadRecord; spec: WorkloadSpec; source: IdentificationSource }> = [];
  const reasons: string[] = [];
  for (const h of hints) {
    const rec = await lookup(h.id);
    if (!rec) {
      reasons.push(`${h.source} names ${JSON.stringify(h.id)}, which is not registered`);
      continue;
    }
    const spec = specOf(rec);
    if (!spec.identify.includes(h.source)) {
      reasons.push(`workload ${h.id} does not allow identification by ${h.source}`);
      continue;
    }
    found.push({ record: rec, spec, source: h.source });
  }
  const ids = new Set(found.map((f) => f.record.id));
  if (ids.size > 1) throw new CocoError('WORKLOAD_AMBIGUOUS', `the evidence names several workloads: ${[...ids].join(', ')}`, { kind: 'policy' });
  if (found.length === 0) {
    throw new CocoError('WORKLOAD_UNKNOWN', `no registered workload identified: ${reasons.join('; ') || 'the evidence names no workload'}`, { kind: 'policy' });
  }
  return found[0];
}

// ---------------------------------------------------------------------------------------------------------
// keybroker and reference-kbs wire details

/**
 * The key binding of both dialects (§1.4 step 4, §2.3 step 1): SHA-512(nonce ‖ b64(n) ‖ b64(e)) over the
 * ASCII strings, no separators.
 */
export function freshnessHash(nonce: string, kMod: string, kExp: string): Uint8Array {
  return new Uint8Array(createHash('sha512').update(nonce, 'utf8').update(kMod, 'utf8').update(kExp, 'utf8').digest());
}

/**
 * keybroker recomputes the base64 from the parsed integer (§1.4 step 4): standard padded base64 of the
 * minimal big-endian bytes, so a client's leading zero bytes change the hash.
 */
export function canonicalIntegerBase64(b64: string, what: string): string {
  const bytes = fromBase64(b64, what);
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  return toBase64(bytes.subarray(i));
}

/**
 * The claims keybroker derives from a report (§1.4 step 5): a flat object of strings. Quirk kept on purpose:
 * sev 3.1.1 reads platform_info bit 0 as TSME and bit 1 as SMT, the reverse of the AMD ABI (bit 0 SMT_EN,
 * bit 1 TSME_EN; fixed upstream in sev 8e10d96). Queries written against keybroker see these names.
 */
export function keybrokerClaims(report: SnpReport): Record<string, string> {
  const pol = decodePolicy(report.policy);
  const bit = (n: number): string => String(((report.platformInfo >> BigInt(n)) & 1n) === 1n);
  return {
    measurement: toHex(report.measurement),
    policy_abi_major: String(pol.abiMajor),
    policy_abi_minor: String(pol.abiMinor),
    policy_smt_allowed: String(pol.smt),
    policy_migrate_ma: String(pol.migrateMa),
    policy_debug_allowed: String(pol.debug),
    policy_single_socket: String(pol.singleSocket),
    reported_tcb_bootloader: String(report.reportedTcb.bootloader),
    reported_tcb_tee: String(report.reportedTcb.tee),
    reported_tcb_snp: String(report.reportedTcb.snp),
    reported_tcb_microcode: String(report.reportedTcb.microcode),
    platform_tsme_enabled: bit(0),
    platform_smt_enabled: bit(1),
  };
}

export interface KeybrokerRegistration {
  query: string[];
  reference_values: Record<string, JsonValue>;
  resources: Record<string, string>;
}

/** keybroker `POST /rvp/register` body (§1.2): all three fields required; resource values are strings. */
export function parseKeybrokerRegistration(body: unknown): KeybrokerRegistration {
  if (!isRecord(body)) bad('registration must be a JSON object {query, reference_values, resources}');
  const { query, reference_values: rv, resources } = body;
  if (!Array.isArray(query) || !query.every((q) => typeof q === 'string')) bad('"query" must be an array of strings');
  if (!isRecord(rv)) bad('"reference_values" must be an object');
  if (!isRecord(resources) || !Object.values(resources).every((r) => typeof r === 'string')) bad('"resources" must be an object of strings');
  if (Object.keys(rv).includes(POLICY_PACKAGE)) bad(`reference value name "${POLICY_PACKAGE}" is reserved`);
  const limit = (m: string): never => {
    throw new CocoError('WORKLOAD_LIMIT', m, { kind: 'limit' });
  };
  if ((query as string[]).length > 64 || (query as string[]).some((q) => q.length > 16 * 1024)) limit('at most 64 queries of at most 16 KiB');
  if (Object.keys(rv).length > MAX_REFERENCE_VALUES) limit(`at most ${MAX_REFERENCE_VALUES} reference values`);
  if (Object.keys(resources).length > MAX_RESOURCES) limit(`at most ${MAX_RESOURCES} resources`);
  for (const [n, v] of Object.entries(resources)) {
    checkResourceName(n);
    if (new TextEncoder().encode(v as string).length > MAX_SECRET_BYTES) limit(`resource ${n} is larger than ${MAX_SECRET_BYTES} bytes`);
  }
  return { query: query as string[], reference_values: rv as Record<string, JsonValue>, resources: resources as Record<string, string> };
}

/**
 * What makes two keybroker registrations duplicates: queries, reference values and resource *names* — never
 * the secret values, so neither a stored digest nor the answer to a duplicate can confirm a guessed secret.
 * (keybroker itself deduplicates on a SHA-256 that includes the secrets, §1.2.)
 */
export function keybrokerDuplicateKey(r: Pick<WorkloadSpec, 'queries' | 'referenceValues'>, resourceNames: string[]): string {
  return canonicalize({ queries: r.queries ?? [], reference_values: r.referenceValues, resources: [...resourceNames].sort() });
}

/** The raw-text `/rvp/register` response: base64(UUID bytes ‖ 16 zero bytes), the HOST_DATA to launch with. */
export function rvpRegisterResponse(uuid: string): string {
  return toBase64(hostDataForUuid(uuid));
}

/** reference-kbs `POST /kbs/v0/register_workload` (§2.1): four required strings. */
export interface RefKbsRegistration {
  workload_id: string;
  launch_measurement: string;
  tee_config: string;
  passphrase: string;
}

export function parseRefKbsRegistration(body: unknown): RefKbsRegistration {
  if (!isRecord(body)) bad('register_workload body must be a JSON object');
  for (const k of ['workload_id', 'launch_measurement', 'tee_config', 'passphrase']) if (typeof body[k] !== 'string') bad(`"${k}" must be a string`);
  const r = body as unknown as RefKbsRegistration;
  checkWorkloadId(r.workload_id);
  // SNP measurements are 96 hex, SEV/SEV-ES 64 (§2.1); buildah sends "" only under ignore_attestation_errors,
  // which cocokit refuses: a registration with no measurement would bind nothing.
  if (!/^([0-9a-fA-F]{96}|[0-9a-fA-F]{64})$/.test(r.launch_measurement)) bad('"launch_measurement" must be 96 (SNP) or 64 (SEV) hex characters');
  try {
    if (!isRecord(JSON.parse(r.tee_config))) throw new Error('not an object');
  } catch {
    bad('"tee_config" must be the JSON text of an object');
  }
  if (r.passphrase.length === 0 || new TextEncoder().encode(r.passphrase).length > 190) {
    // RSA-2048 PKCS#1 v1.5 carries at most 245 bytes; krun's buffer holds 511. 190 keeps OAEP-sized keys usable too.
    bad('"passphrase" must be 1..190 bytes');
  }
  return r;
}

// ---------------------------------------------------------------------------------------------------------
// Evidence of the compat dialects: a raw SNP report as hex, key-bound by the freshness hash

/**
 * Verifies a raw SNP report with the KBS's registered SNP verifier (its roots, its VCEK cache: no network at
 * verification time) and binds REPORT_DATA to `reportData`. keybroker reads the first 1184 bytes of whatever
 * hex it gets (§1.4 step 2); shorter input is refused here instead of crashing.
 */
export async function verifyRawSnpReport(
  verifier: TeeVerifier,
  reportHex: string,
  reportData: Uint8Array,
  now: Date,
  opts: { vcekCacheDir?: string; gen?: string } = {},
): Promise<{ report: SnpReport; claims: Record<string, unknown> }> {
  if (!/^([0-9a-fA-F]{2})+$/.test(reportHex)) throw new CocoError('WORKLOAD_EVIDENCE', 'report must be hex', { kind: 'input' });
  const raw = fromHex(reportHex.toLowerCase(), 'report');
  if (raw.length < REPORT_SIZE) throw new CocoError('WORKLOAD_EVIDENCE', `report is ${raw.length} bytes, shorter than ${REPORT_SIZE}`, { kind: 'input' });
  const bytes = raw.subarray(0, REPORT_SIZE);
  const report = parseReport(bytes);
  // The verifier checks the signature over the report rebuilt from its fields (the CoCo JSON path). Raw
  // evidence is held to its own bytes: anything the fields do not carry (reserved TCB bytes) must be zero, so
  // the bytes verified are the bytes received.
  const evidence = evidenceToJson(report, null);
  const vcek = opts.vcekCacheDir ? cachedVcek(opts.vcekCacheDir, report, opts.gen) : undefined;
  if (!bytesEqual(serializeReport(evidenceFromJson(evidence).report), bytes)) {
    throw new CocoError('WORKLOAD_EVIDENCE', 'report has bytes outside its defined fields set (reserved bytes must be zero)', { kind: 'input' });
  }
  // Neither dialect sends the VCEK (upstream servers fetched it from AMD KDS per attestation, §1.4 step 3).
  // Verification makes no network calls, so it comes from the operator's offline cache, handed to the
  // deployment's SNP verifier (its trust roots) as the evidence's certificate table.
  const result = await verifier.verify(vcek ? { ...evidence, cert_chain: [{ cert_type: 'VCEK', data: [...vcek] }] } : evidence, { expectedReportData: reportData, now });
  const failed = failures(result.checks);
  if (failed.length > 0) {
    const f = failed[0];
    const binding = f.id === 'report-data';
    throw new CocoError(binding ? 'WORKLOAD_KEY_BINDING' : 'WORKLOAD_EVIDENCE_CHECK', `SNP evidence failed check "${f.id}": ${f.detail}`, {
      kind: f.id === 'signature' || f.id === 'chain' ? 'crypto' : 'expectation',
    });
  }
  return { report, claims: { ...result.claims, host_data: toHex(report.hostData) } };
}

/** The VCEK for the report's chip and REPORTED_TCB from a cache in Trustee's layout, if present. */
function cachedVcek(dir: string, report: SnpReport, gen: string | undefined): Uint8Array | undefined {
  const product = reportProduct(report) ?? (gen === 'milan' ? 'milan' : gen === undefined ? undefined : 'genoa');
  if (!product) return undefined;
  for (const p of vcekCachePaths(dir, product, report.chipId, report.reportedTcb)) {
    if (existsSync(p)) return new Uint8Array(readFileSync(p));
  }
  return undefined;
}

/** `gen` as the sev crate accepts it (§1.4 step 2): milan, or genoa / bergamo / siena, case-insensitive. */
export function checkGeneration(gen: unknown): string {
  const g = typeof gen === 'string' ? gen.toLowerCase() : '';
  if (!['milan', 'genoa', 'bergamo', 'siena'].includes(g)) throw new CocoError('WORKLOAD_EVIDENCE', `"gen" ${JSON.stringify(gen)} is not milan or genoa`, { kind: 'input' });
  return g;
}

/** An RSA public key from standard-base64 modulus and exponent (both dialects' TEE key). */
export function rsaPublicKey(nB64: string, eB64: string): KeyObject {
  const n = fromBase64(nB64, 'RSA modulus');
  const e = fromBase64(eB64, 'RSA exponent');
  if (n.length < 128 || n.length > 1024) throw new CocoError('WORKLOAD_TEE_KEY', `RSA modulus of ${n.length} bytes is outside 1024..8192 bits`, { kind: 'input' });
  try {
    return createPublicKey({ key: { kty: 'RSA', n: Buffer.from(n).toString('base64url'), e: Buffer.from(e).toString('base64url') }, format: 'jwk' });
  } catch (err) {
    throw new CocoError('WORKLOAD_TEE_KEY', `not an RSA public key: ${(err as Error).message}`, { kind: 'input', cause: err });
  }
}

/** RSA-PKCS#1 v1.5 encryption, lower-case hex: how both dialects wrap a secret (§1.3, §2.4). */
export function rsaPkcs1Hex(key: KeyObject, plaintext: Uint8Array): string {
  try {
    return publicEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, plaintext).toString('hex');
  } catch (err) {
    throw new CocoError('WORKLOAD_TEE_KEY', `cannot encrypt ${plaintext.length} bytes to the TEE key: ${(err as Error).message}`, { kind: 'input', cause: err });
  }
}

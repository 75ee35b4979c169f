/**
 * The reference value store (RVPS) of the KBS with provenance (specs/kbs-protocol.md §4).
 *
 * Trustee's registration message `{"version":"0.1.0","type":"sample","payload":"<std base64 of {name: value}>"}`
 * is accepted unchanged. cocokit reads one optional member more, `provenance`: `{name: entry}` for names of the
 * payload, each entry saying where the value came from —
 *
 * - `algorithm` (required): the computation (`snp-launch-digest`, `uki-pcr11`, `tdx-direct-boot-rtmr`, …) or
 *   `signed-statement` for a value imported from a signed statement;
 * - `parameters`: the computation's parameters (a statement's `predicate_type` and `subjects`); `inputs`:
 *   `{artifact: sha256 hex}` of every input artifact (a statement's digest as `statement`); `events`: for a
 *   PCR or RTMR, the events the artifacts predict in it (a mismatch is explained with them);
 * - `signer`, `signer_issuer`, `components`: an imported statement's signer identity (and a Sigstore
 *   certificate's OIDC issuer) and SBOM components;
 * - `expires`: an RFC 3339 time after which the value is refused (an attestation that consults it is denied).
 *
 * This is the one provenance entry shape, the same in a workload registration (one entry per claim). Records
 * written before it carried a statement's `statement_sha256`, `predicate_type` and `subjects` at the top
 * level; those are still accepted and read, and shown in this shape (`normalizeProvenance`).
 *
 * The KBS stamps every registered value, with or without a stated provenance, with `registered_by` (the admin
 * token's role and subject), `registered_at` and `version` (1 for a new name, one more on each registration of
 * it), and keeps the stamped record with the value.
 */
import { fromBase64 } from '../formats/bytes.js';
import { LEGACY_PROVENANCE_FIELDS as LEGACY, normalizeProvenance } from '../attestation/provenance.js';
import { checkPredictedRegister, explainMeasured, measuredEvents, measuredEventsOfClaims, predictedRegisterOf, type PredictedRegister } from '../measure/explain-events.js';
import { snpSearchInput } from '../measure/snp-search.js';
import { tpmEvidenceFromJson } from '../tee/tpm/evidence.js';
import { evidenceFromJson } from '../tee/tdx/evidence.js';
import { isRecord, parseJson } from '../formats/json.js';
import type { JsonValue, ReferenceValueRecord, Store } from '../store/store.js';
import type { AdminIdentity } from './admin-auth.js';
import { echo } from './echo.js';
import { kbsError } from './errors.js';

/** The largest `provenance` member of one registration message. */
export const MAX_RV_PROVENANCE_BYTES = 64 * 1024;

/** Provenance fields a registration may state; the KBS adds the `registered_*` stamp and `version`. */
export interface ReferenceValueProvenanceInput {
  algorithm: string;
  parameters?: Record<string, JsonValue>;
  inputs?: Record<string, string>;
  /** For a PCR / RTMR: the events the artifacts predict in it (`measure/explain-events.ts`). */
  events?: PredictedRegister;
  signer?: string;
  /** A Sigstore signer: the OIDC issuer its certificate names. */
  signer_issuer?: string;
  components?: string[];
  expires?: string;
}

export { normalizeProvenance };

/** A stored provenance record: what was stated plus the KBS's stamp. */
export interface StampedProvenance extends Partial<ReferenceValueProvenanceInput> {
  registered_by: string;
  registered_at: string;
  version: number;
}

/** A parsed registration message. */
export interface ReferenceValueRegistration {
  values: Record<string, JsonValue>;
  provenance: Record<string, ReferenceValueProvenanceInput>;
}

const HEX64 = /^[0-9a-f]{64}$/;
const STATED = new Set(['algorithm', 'parameters', 'inputs', 'events', 'signer', 'signer_issuer', 'components', 'expires', ...LEGACY]);

function bad(message: string): never {
  throw kbsError('KBS_RVPS_PROVENANCE', `reference value provenance: ${message}`);
}

function checkEntry(name: string, e: unknown): ReferenceValueProvenanceInput {
  const where = `of ${echo(name)}`;
  if (!isRecord(e)) bad(`the entry ${where} must be an object {algorithm, parameters, inputs, …}`);
  for (const k of Object.keys(e)) if (!STATED.has(k)) bad(`unknown field ${echo(k, 40)} ${where} (known: ${[...STATED].join(', ')})`);
  if (typeof e.algorithm !== 'string' || !/^[a-z0-9][a-z0-9.-]{0,63}$/.test(e.algorithm)) bad(`"algorithm" ${where} must be a short lower-case name`);
  if (e.parameters !== undefined && !isRecord(e.parameters)) bad(`"parameters" ${where} must be an object`);
  if (e.inputs !== undefined && (!isRecord(e.inputs) || !Object.values(e.inputs).every((d) => typeof d === 'string' && HEX64.test(d)))) {
    bad(`"inputs" ${where} must map artifact names to SHA-256 hex digests`);
  }
  if (e.events !== undefined) {
    try {
      checkPredictedRegister(e.events, `provenance ${where}`);
    } catch (err) {
      bad((err as Error).message);
    }
  }
  if (e.signer !== undefined && (typeof e.signer !== 'string' || e.signer.length === 0 || e.signer.length > 1024)) bad(`"signer" ${where} must be a non-empty string`);
  if (e.signer_issuer !== undefined && (typeof e.signer_issuer !== 'string' || e.signer_issuer.length === 0 || e.signer_issuer.length > 1024)) bad(`"signer_issuer" ${where} must be a non-empty string`);
  if (e.statement_sha256 !== undefined && (typeof e.statement_sha256 !== 'string' || !HEX64.test(e.statement_sha256))) bad(`"statement_sha256" ${where} must be 64 lower-case hex digits`);
  if (e.predicate_type !== undefined && (typeof e.predicate_type !== 'string' || e.predicate_type.length === 0)) bad(`"predicate_type" ${where} must be a non-empty string`);
  if (e.subjects !== undefined && !Array.isArray(e.subjects)) bad(`"subjects" ${where} must be an array`);
  if (e.components !== undefined && (!Array.isArray(e.components) || !e.components.every((c) => typeof c === 'string'))) bad(`"components" ${where} must be an array of strings`);
  if (e.expires !== undefined && (typeof e.expires !== 'string' || !/^\d{4}-\d{2}-\d{2}T/.test(e.expires) || Number.isNaN(Date.parse(e.expires)))) {
    bad(`"expires" ${where} must be an RFC 3339 time`);
  }
  // The states of an SNP launch digest's parameter search are read back when a denial is explained.
  if (e.algorithm === 'snp-launch-digest') {
    try {
      snpSearchInput(e.parameters);
    } catch (err) {
      bad(`${where}: ${(err as Error).message}`);
    }
  }
  return normalizeProvenance(e) as unknown as ReferenceValueProvenanceInput;
}

/**
 * Reads a registration message: Trustee's fields as §4 defines them, and the optional `provenance`.
 * @throws CocoError `KBS_RVPS_*` (input / unsupported / limit) naming what is wrong
 */
export function parseReferenceValueMessage(msg: Record<string, unknown>): ReferenceValueRegistration {
  if (msg.version !== '0.1.0') throw kbsError('KBS_RVPS_VERSION', `reference value message version must be "0.1.0", got ${echo(msg.version)}`);
  if (msg.type !== 'sample') throw kbsError('KBS_RVPS_TYPE', `reference value message type ${echo(msg.type)} is not supported (sample)`, 'unsupported');
  if (typeof msg.payload !== 'string') throw kbsError('KBS_RVPS_PAYLOAD', 'reference value message: "payload" must be a base64 string');
  let values: unknown;
  try {
    values = parseJson(fromBase64(msg.payload, 'payload'), 'reference value payload');
  } catch (e) {
    throw kbsError('KBS_RVPS_PAYLOAD', `reference value payload: ${(e as Error).message}`);
  }
  if (!isRecord(values)) throw kbsError('KBS_RVPS_PAYLOAD', 'reference value payload must be a JSON object {name: value}');
  const provenance: Record<string, ReferenceValueProvenanceInput> = {};
  if (msg.provenance !== undefined) {
    const p = msg.provenance;
    if (!isRecord(p)) bad('"provenance" must be an object {name: {algorithm, parameters, inputs, …}}');
    if (JSON.stringify(p).length > MAX_RV_PROVENANCE_BYTES) throw kbsError('KBS_RVPS_PROVENANCE', `reference value provenance is larger than ${MAX_RV_PROVENANCE_BYTES} bytes`, 'limit');
    for (const [name, e] of Object.entries(p)) {
      if (!Object.prototype.hasOwnProperty.call(values, name)) bad(`provenance for ${echo(name)}, which the payload does not register`);
      provenance[name] = checkEntry(name, e);
    }
  }
  return { values: values as Record<string, JsonValue>, provenance };
}

/** Who acts, as provenance and audit name them: the admin token's role and subject, or the open door. */
export function adminActorName(identity: AdminIdentity | undefined): string {
  return identity === undefined ? 'unauthenticated' : `role=${identity.role}${identity.sub !== undefined ? ` sub=${identity.sub}` : ''}`;
}

/** The registration version a stored record carries (0 for none). */
function versionOf(rec: ReferenceValueRecord | undefined): number {
  const p = rec?.provenance;
  return isRecord(p) && typeof p.version === 'number' && Number.isSafeInteger(p.version) && p.version > 0 ? p.version : 0;
}

/**
 * Registers the message's values, each stamped with its provenance, in one transaction. The record keeps
 * Trustee's 12-month expiration unless the provenance states an earlier or later `expires`.
 * @returns the registered names
 */
export async function registerReferenceValues(store: Pick<Store, 'transaction'>, msg: Record<string, unknown>, now: Date, who = 'unauthenticated'): Promise<string[]> {
  const reg = parseReferenceValueMessage(msg);
  const defaultExpiry = new Date(now);
  defaultExpiry.setUTCFullYear(defaultExpiry.getUTCFullYear() + 1);
  await store.transaction(async (tx) => {
    for (const [name, value] of Object.entries(reg.values)) {
      const stated = reg.provenance[name];
      const version = versionOf(await tx.referenceValues.get(name)) + 1;
      const stamped: StampedProvenance = { ...(stated ?? {}), registered_by: who, registered_at: now.toISOString(), version };
      const expires = stated?.expires !== undefined ? new Date(Date.parse(stated.expires)) : defaultExpiry;
      await tx.referenceValues.set(name, value, expires, stamped as unknown as JsonValue);
    }
  });
  return Object.keys(reg.values);
}

/** When the record's provenance says the value stops being valid; undefined when it states no expiry. */
export function provenanceExpiry(rec: Pick<ReferenceValueRecord, 'provenance'>): Date | undefined {
  const p = rec.provenance;
  if (!isRecord(p) || typeof p.expires !== 'string') return undefined;
  const t = Date.parse(p.expires);
  return Number.isNaN(t) ? undefined : new Date(t);
}

/** The values an attestation may consult, and those whose stated expiry has passed (never consulted). */
export function referenceValueSnapshot(records: ReferenceValueRecord[], now: Date): { values: Record<string, JsonValue>; expired: Record<string, Date> } {
  const values: Record<string, JsonValue> = {};
  const expired: Record<string, Date> = {};
  for (const r of records) {
    const exp = provenanceExpiry(r);
    if (exp !== undefined && exp.getTime() <= now.getTime()) expired[r.name] = exp;
    else values[r.name] = r.value;
  }
  return { values, expired };
}

/** The admin API's view of one record (`GET /kbs/v0/reference-value/<id>?detail=true`). */
export function describeReferenceValue(r: ReferenceValueRecord): Record<string, JsonValue> {
  return {
    name: r.name,
    value: r.value,
    updated: r.updatedAt.toISOString(),
    ...(r.expiresAt ? { expiration: r.expiresAt.toISOString() } : {}),
    ...(r.provenance !== undefined ? { provenance: normalizeProvenance(r.provenance) } : {}),
  };
}

/** What a decision record says of one consulted value: when it was updated, at which version, by whom. */
export function referenceValueNote(r: ReferenceValueRecord | undefined): string {
  if (!r) return 'absent';
  const p = r.provenance;
  let note = `updated ${r.updatedAt.toISOString()}`;
  if (isRecord(p)) {
    if (typeof p.version === 'number') note += `, version ${p.version}`;
    if (typeof p.algorithm === 'string') note += `, ${p.algorithm}`;
    if (typeof p.signer === 'string') note += ` signed by ${p.signer}`;
    if (typeof p.expires === 'string') note += `, expires ${p.expires}`;
  }
  return note;
}

/** What the evidence says, as far as explaining a reference value needs. */
export interface MeasuredEvidence {
  tee: string;
  /** The TPM event log or the TD's CCEL, when the evidence carries one. */
  log?: Uint8Array;
  /** The TEE's verified claims; a TD's `uefi_event_logs` stand in for its CCEL, an SNP report's `measurement` is read. */
  claims?: Record<string, unknown>;
}

/**
 * What a denial says of a measurement whose provenance carries search states: the search itself runs when
 * the decision is read (decision-search.ts), off the request path.
 */
export const SEARCH_NOTE = 'the decision record names the nearby launch parameters that reproduce it';

/** The reported SNP measurement an explanation names (`reported HEX`, `--reported HEX`). */
export function reportedMeasurementOf(explanation: string): string | undefined {
  return /(?:^|[ ;])(?:--)?reported ([0-9a-f]{96})(?:;|$)/.exec(explanation)?.[1];
}

/** Launch digests whose artifacts `cocokit kbs workload explain` searches the parameters around. */
const SEARCHABLE = new Set(['snp-launch-digest']);
/** Launch digests that are an SNP report's MEASUREMENT. */
const SNP_MEASUREMENT = new Set(['snp-launch-digest', 'krun-launch-digest']);

function acceptedValues(value: unknown): string[] {
  return (Array.isArray(value) ? value : [value]).filter((x): x is string => typeof x === 'string').map((x) => x.toLowerCase());
}

/**
 * Why the evidence does not match one reference value, from the value's provenance — the same sentence
 * wherever the value is registered (RVPS record or workload registration):
 *
 * - a PCR or RTMR whose provenance predicts its events: the first event of the evidence's log (or of a TD's
 *   `uefi_event_logs` claim) that differs, when the log extends the register to none of the accepted values;
 * - an SNP launch measurement computed from artifacts: the registered computation (algorithm, parameters
 *   without the search states, input digests) and the reported value; when the provenance keeps search states
 *   the decision record names the parameter change reproducing it when read (decision-search.ts), otherwise
 *   the sentence names the command that searches from the artifacts;
 * - any other value computed from artifacts: the registered computation and the reported value.
 *
 * `reported` is the claim the value is compared with, when the caller knows it (a workload registration
 * compares each value with the claim of its name). Undefined when the evidence matches or nothing can be
 * said; a log that cannot be read explains nothing (the verifier has judged the evidence already).
 */
export function explainReferenceValue(name: string, value: unknown, provenance: unknown, ev: MeasuredEvidence, reported?: unknown): string | undefined {
  const accepted = acceptedValues(value);
  const predicted = predictedRegisterOf(provenance);
  if (predicted) {
    let measured: Array<{ digest: string; typeName: string }> | undefined;
    try {
      if (ev.log && (ev.tee === 'tpm' || ev.tee === 'tdx')) measured = measuredEvents(ev.tee, ev.log, predicted);
      else if (ev.tee === 'tdx') measured = measuredEventsOfClaims(ev.claims?.uefi_event_logs, predicted);
    } catch {
      return undefined;
    }
    if (measured === undefined) return undefined;
    const m = explainMeasured(predicted, measured);
    return m === undefined || accepted.includes(m.replayed) ? undefined : m.message;
  }
  if (!isRecord(provenance) || typeof provenance.algorithm !== 'string' || provenance.algorithm === 'signed-statement') return undefined;
  const algorithm = provenance.algorithm;
  const claim = reported ?? (SNP_MEASUREMENT.has(algorithm) && ev.tee === 'snp' ? ev.claims?.measurement : undefined);
  if (typeof claim !== 'string' || !/^[0-9a-fA-F]{1,256}$/.test(claim) || accepted.includes(claim.toLowerCase())) return undefined;
  // The search states are for the KBS's parameter search, not for reading: the sentence leaves them out.
  const { searchStates, ...shown } = isRecord(provenance.parameters) ? provenance.parameters : {};
  const parameters = isRecord(provenance.parameters) ? shown : provenance.parameters;
  const computed = `registered ${name} computed by ${algorithm}${parameters !== undefined ? ` with ${JSON.stringify(parameters)}` : ''}${provenance.inputs !== undefined ? ` from ${JSON.stringify(provenance.inputs)}` : ''}`;
  const hex = claim.toLowerCase();
  if (SEARCHABLE.has(algorithm) && /^[0-9a-f]{96}$/.test(hex)) {
    if (searchStates !== undefined) return `${computed}; reported ${hex}; ${SEARCH_NOTE}`;
    return `${computed}; explain with: cocokit kbs workload explain --from-artifacts … --reported ${hex}`;
  }
  return `${computed}; reported ${hex}`;
}

/**
 * For each consulted RVPS value computed from artifacts that the evidence does not match, why
 * (`explainReferenceValue`): the decision record's `explanations`.
 */
export function explainMismatches(tee: string, evidence: unknown, records: ReadonlyArray<ReferenceValueRecord | undefined>, claims?: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  let log: Uint8Array | undefined;
  try {
    if (tee === 'tpm') log = tpmEvidenceFromJson(evidence).eventLog;
    else if (tee === 'tdx') log = evidenceFromJson(evidence).ccEventLog ?? undefined;
  } catch {
    log = undefined;
  }
  for (const r of records) {
    if (!r || r.provenance === undefined) continue;
    const why = explainReferenceValue(r.name, r.value, r.provenance, { tee, ...(log ? { log } : {}), ...(claims ? { claims } : {}) });
    if (why !== undefined) out[r.name] = why;
  }
  return out;
}

/**
 * The one shape of a reference value's provenance entry, in an RVPS record and in a workload registration
 * (one entry per claim): `{algorithm, parameters?, inputs?, events?, signer?, signer_issuer?, components?,
 * expires?}` and the KBS's stamp `registered_by`, `registered_at`, `version`. A value from a signed statement
 * is `{algorithm: "signed-statement", parameters: {predicate_type, subjects}, inputs: {statement: <sha256>},
 * signer, …}`.
 */
import { isRecord } from '../formats/json.js';

/** Members of the earlier RVPS shape, read and moved where the one shape keeps them (`normalizeProvenance`). */
export const LEGACY_PROVENANCE_FIELDS = ['statement_sha256', 'predicate_type', 'subjects'] as const;

/**
 * One provenance entry in the one shape: a statement's `statement_sha256` moves to `inputs.statement`, its
 * `predicate_type` and `subjects` into `parameters` (what the earlier RVPS records kept at the top level).
 * Anything else is returned as it is; an entry already in shape is returned unchanged.
 */
export function normalizeProvenance<T>(entry: T): T {
  if (!isRecord(entry) || !LEGACY_PROVENANCE_FIELDS.some((k) => k in entry)) return entry;
  const { statement_sha256, predicate_type, subjects, ...rest } = entry as Record<string, unknown>;
  const parameters = { ...(isRecord(rest.parameters) ? rest.parameters : {}), ...(predicate_type !== undefined ? { predicate_type } : {}), ...(subjects !== undefined ? { subjects } : {}) };
  const inputs = { ...(isRecord(rest.inputs) ? rest.inputs : {}), ...(statement_sha256 !== undefined ? { statement: statement_sha256 } : {}) };
  return { ...rest, ...(Object.keys(parameters).length > 0 ? { parameters } : {}), ...(Object.keys(inputs).length > 0 ? { inputs } : {}) } as T;
}


/**
 * Which reference value each measurement matched. Reference values are what the KBS store holds (Trustee's
 * RVPS "sample" payload): `{name: value | [accepted values]}`; a field names the reference values it is a
 * measurement for (`InspectedField.references`) and the first name present decides.
 */
import { CocoError } from '../errors.js';
import { fromBase64 } from '../formats/bytes.js';
import { isRecord, parseJson } from '../formats/json.js';
import type { InspectedField } from './types.js';

/**
 * Reads a reference value file: the `{name: value}` map (as `GET /kbs/v0/reference-value` lists it) or the
 * RVPS registration message `{"version": "0.1.0", "type": "sample", "payload": <base64 of the map>}`.
 */
export function parseReferenceValues(bytes: Uint8Array): Record<string, unknown> {
  const v = parseJson(bytes, 'reference values');
  if (!isRecord(v)) throw new CocoError('INSPECT_REFERENCE_VALUES', 'reference values must be a JSON object {name: value}', { kind: 'input' });
  if (v.type === 'sample' && typeof v.payload === 'string') {
    let inner: unknown;
    try {
      inner = parseJson(fromBase64(v.payload, 'reference value payload'), 'reference value payload');
    } catch (e) {
      throw new CocoError('INSPECT_REFERENCE_VALUES', `reference value message payload: ${(e as Error).message}`, { kind: 'input', cause: e });
    }
    if (!isRecord(inner)) throw new CocoError('INSPECT_REFERENCE_VALUES', 'reference value payload must be a JSON object {name: value}', { kind: 'input' });
    return inner;
  }
  return v;
}

const norm = (v: string): string => v.trim().toLowerCase().replace(/^0x/, '');

function accepted(v: unknown): string[] {
  const list = Array.isArray(v) ? v : [v];
  return list.filter((x): x is string | number | boolean => ['string', 'number', 'boolean'].includes(typeof x)).map((x) => String(x));
}

/** Marks every field that names reference values: matched, not matched, or no reference. */
export function matchReferences(fields: InspectedField[], referenceValues: Record<string, unknown>): void {
  for (const f of fields) {
    if (!f.references?.length) continue;
    const name = f.references.find((n) => Object.hasOwn(referenceValues, n));
    if (name === undefined) {
      f.reference = { status: 'no-reference' };
      continue;
    }
    const expected = accepted(referenceValues[name]);
    f.reference = { status: expected.some((e) => norm(e) === norm(f.value)) ? 'matched' : 'not-matched', name, expected };
  }
}

/**
 * What the evidence inspector returns for any artifact: every field with where it sits, what it means and its
 * decoded flags, and the verification checks made (the same `Check` list `--explain` renders). The terminal
 * (`cocokit inspect`) and the web console both render this data; neither decodes anything itself.
 */
import type { Check } from '../formats/check.js';

export interface InspectedField {
  /** Name as the specification spells it, e.g. `MEASUREMENT`. */
  name: string;
  /** Byte offset in the artifact (binary formats only). */
  offset?: number;
  size?: number;
  /** The value as text: hex for bytes, decimal or 0x-hex for integers. */
  value: string;
  /** One line of what the field is for. */
  meaning: string;
  /** Decoded bit fields, e.g. `{ debug: false, smt: true }`. */
  flags?: Record<string, string | number | boolean>;
  /**
   * Reference value names this field is a measurement for (Trustee's RVPS / the KBS store names, e.g.
   * `snp_launch_measurement`, `mr_td`), in the order they are looked up.
   */
  references?: string[];
  /** Set when reference values were given: whether this measurement matched one. */
  reference?: ReferenceMatch;
}

export interface ReferenceMatch {
  status: 'matched' | 'not-matched' | 'no-reference';
  /** The reference value name that was compared (absent for `no-reference`). */
  name?: string;
  /** The accepted values, as the reference value store holds them. */
  expected?: string[];
}

export interface Inspection {
  /** What the artifact is, e.g. `snp-report`, `ear-token`. */
  format: string;
  /** How it was encoded, e.g. `raw`, `hex`, `json`, `hcl`. */
  form: string;
  /** One-line summary. */
  title: string;
  fields: InspectedField[];
  /** Verification checks, when the artifact could be verified (possibly none). */
  checks: Check[];
  /** Why verification was not done or is incomplete. */
  notes: string[];
}

export interface InspectOptions {
  /** Verification time (certificate validity); defaults to now. */
  now?: Date;
  /** An endorsement certificate (SNP VCEK/VLEK, DER or PEM) to verify the artifact with. */
  endorsement?: Uint8Array;
  /** A detached signature over the artifact (TPM: the quote's TPMT_SIGNATURE). */
  signature?: Uint8Array;
  /** The public key that signed it (TPM: the AK as PEM or TPM2B_PUBLIC). */
  key?: Uint8Array;
  /**
   * Reference values by name, as the KBS store holds them (`{name: value | [values]}`, the RVPS sample
   * payload): each measurement field is marked matched / not matched / no reference.
   */
  referenceValues?: Record<string, unknown>;
}

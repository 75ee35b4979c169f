/**
 * Shapes of the TEE claims a workload's reference values are compared with. The comparison is exact JSON
 * equality against the verifier's claims (lower-case hex for byte fields), so a reference value of the
 * wrong length or case can never match: it is refused at registration with the expected form, instead of
 * failing every attestation later.
 */
import { CocoError } from '../errors.js';

/** SEV-SNP report fields carried as hex claims, with their byte length (specs/snp.md §1.1, tee/snp/claims.ts). */
const SNP_HEX_BYTES: Record<string, number> = {
  measurement: 48,
  report_data: 64,
  init_data: 32,
  host_data: 32,
  chip_id: 64,
  family_id: 16,
  image_id: 16,
  id_key_digest: 48,
  author_key_digest: 48,
  report_id: 32,
  report_id_ma: 32,
};

const HEX_FIELDS: Record<string, Record<string, number>> = { snp: SNP_HEX_BYTES };

/**
 * Throws `WORKLOAD_REFERENCE_VALUE` (input) when a reference value for a known hex claim of `tee` is not
 * lower-case hex of the field's length; a value may be one string or a list of accepted strings.
 */
export function checkReferenceValueShapes(tee: string, referenceValues: Record<string, unknown>): void {
  const fields = HEX_FIELDS[tee];
  if (!fields) return;
  for (const [name, value] of Object.entries(referenceValues)) {
    const bytes = fields[name];
    if (bytes === undefined) continue;
    const values = Array.isArray(value) ? value : [value];
    for (const v of values) {
      const ok = typeof v === 'string' && v.length === bytes * 2 && /^[0-9a-f]*$/.test(v);
      if (!ok) {
        const got = typeof v === 'string' ? (/^[0-9a-fA-F]*$/.test(v) ? `${v.length / 2} bytes${/[A-F]/.test(v) ? ' in upper case' : ''}` : 'not hex') : `a ${Array.isArray(v) ? 'list' : typeof v}`;
        throw new CocoError('WORKLOAD_REFERENCE_VALUE', `reference value ${name} for ${tee} must be ${bytes} bytes of lower-case hex (${bytes * 2} digits), got ${got}`, { kind: 'input', detail: { name, bytes } });
      }
    }
  }
}

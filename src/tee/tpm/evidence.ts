/**
 * Trustee's `tpm` evidence (specs/measured-boot.md §3.9, kbs-protocol.md §3.2): `{"ak_public": std-base64 DER
 * SPKI, "tpm_quote": {"signature": std-base64 TPMT_SIGNATURE, "message": std-base64 TPMS_ATTEST,
 * "pcrs": [hex SHA-256 values]}}`, optionally with `"event_log": std-base64` (a cocokit extension).
 * Parsing only.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { CocoError } from '../../errors.js';
import { fromBase64, toBase64 } from '../../formats/bytes.js';
import { parseSignature, type TpmSignature } from '../../tpm/signature.js';

export interface TpmEvidence {
  akPublic: KeyObject;
  /** `ak_public` as sent (the claim policies compare with `trusted_aks`). */
  akPublicB64: string;
  message: Uint8Array;
  signature: TpmSignature;
  signatureBytes: Uint8Array;
  /** SHA-256 PCR values, PCR i at index i. */
  pcrs: Uint8Array[];
  eventLog?: Uint8Array;
}

function bad(path: string, want: string): never {
  throw new CocoError('TPM_EVIDENCE', `TPM evidence: ${path} must be ${want}`, { kind: 'input', detail: { path } });
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function b64(v: unknown, path: string, max: number): Uint8Array {
  if (typeof v !== 'string' || v.length === 0 || v.length > max) bad(path, `a base64 string of at most ${max} characters`);
  try {
    return fromBase64(v as string, path);
  } catch {
    return bad(path, 'standard base64');
  }
}

/**
 * @throws CocoError TPM_EVIDENCE (kind `input`) for any shape error; TPM_FORMAT for a malformed signature
 */
export function tpmEvidenceFromJson(json: unknown): TpmEvidence {
  if (!isObject(json)) bad('evidence', 'an object');
  const q = json.tpm_quote;
  if (!isObject(q)) bad('tpm_quote', 'an object');
  const akDer = b64(json.ak_public, 'ak_public', 4096);
  let akPublic: KeyObject;
  try {
    akPublic = createPublicKey({ key: Buffer.from(akDer), format: 'der', type: 'spki' });
  } catch {
    bad('ak_public', 'a DER SubjectPublicKeyInfo');
  }
  const message = b64(q.message, 'tpm_quote.message', 4096);
  const signatureBytes = b64(q.signature, 'tpm_quote.signature', 4096);
  if (!Array.isArray(q.pcrs) || q.pcrs.length === 0 || q.pcrs.length > 24) bad('tpm_quote.pcrs', 'an array of 1..24 hex SHA-256 values');
  const pcrs = (q.pcrs as unknown[]).map((p, i) => {
    if (typeof p !== 'string' || !/^[0-9a-fA-F]{64}$/.test(p)) bad(`tpm_quote.pcrs[${i}]`, 'a 64-digit hex string');
    return new Uint8Array(Buffer.from(p as string, 'hex'));
  });
  const ev: TpmEvidence = { akPublic, akPublicB64: toBase64(akDer), message, signature: parseSignature(signatureBytes), signatureBytes, pcrs };
  if (json.event_log !== undefined) ev.eventLog = b64(json.event_log, 'event_log', 16 * 1024 * 1024);
  return ev;
}

/** The JSON form of `tpmEvidenceFromJson`'s input. */
export function tpmEvidenceToJson(e: { akPublicDer: Uint8Array; message: Uint8Array; signature: Uint8Array; pcrs: readonly Uint8Array[]; eventLog?: Uint8Array }): Record<string, unknown> {
  return {
    ak_public: toBase64(e.akPublicDer),
    tpm_quote: { signature: toBase64(e.signature), message: toBase64(e.message), pcrs: e.pcrs.map((p) => Buffer.from(p).toString('hex')) },
    ...(e.eventLog === undefined ? {} : { event_log: toBase64(e.eventLog) }),
  };
}

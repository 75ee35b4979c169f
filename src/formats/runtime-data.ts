/**
 * Runtime-data binding (specs/kbs-protocol.md §1.5): the digest is H(JCS(object)), where the primary object is
 * `{additional-evidence, nonce, tee-pubkey}` and a device object `{nonce, tee-pubkey}`. SHA-384 unless the
 * challenge selected another algorithm (the built-in AS always uses SHA-384, except `se` with SHA-512).
 */
import { createHash } from 'node:crypto';
import { CocoError } from '../errors.js';
import { canonicalize } from './jcs.js';
import { utf8 } from './bytes.js';

export type HashAlgorithm = 'sha256' | 'sha384' | 'sha512' | 'sm3';
export const HASH_ALGORITHMS: readonly HashAlgorithm[] = ['sha256', 'sha384', 'sha512', 'sm3'];

export function isHashAlgorithm(s: unknown): s is HashAlgorithm {
  return typeof s === 'string' && (HASH_ALGORITHMS as readonly string[]).includes(s);
}

export function digest(alg: HashAlgorithm, data: Uint8Array | string): Uint8Array {
  try {
    return new Uint8Array(createHash(alg).update(typeof data === 'string' ? utf8.encode(data) : data).digest());
  } catch (e) {
    throw new CocoError('AS_HASH', `hash algorithm ${alg} is not available on this platform`, { kind: 'unsupported', cause: e });
  }
}

/** The primary runtime-data object; `additional-evidence` is present even when empty (§7.3). */
export function primaryRuntimeData(nonce: string, teePubkey: unknown, additionalEvidence: string): Record<string, unknown> {
  return { 'additional-evidence': additionalEvidence, nonce, 'tee-pubkey': teePubkey };
}

/** The runtime-data object of an additional device. */
export function deviceRuntimeData(nonce: string, teePubkey: unknown): Record<string, unknown> {
  return { nonce, 'tee-pubkey': teePubkey };
}

/** H(JCS(obj)). */
export function runtimeDataDigest(obj: unknown, alg: HashAlgorithm = 'sha384'): Uint8Array {
  return digest(alg, canonicalize(obj));
}

/** Trustee's `regularize_data`: zero-pad or truncate to the evidence field size (§1.5, §1.6). */
export function regularize(data: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(size);
  out.set(data.subarray(0, size));
  return out;
}

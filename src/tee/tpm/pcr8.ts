/**
 * Init-data bound through the vTPM's PCR 8 (specs/kbs-protocol.md §3.5, measured-boot.md §4.5): the guest's
 * attestation agent extends PCR 8 of the SHA-256 bank once with the 32-byte init-data digest, so a verifier
 * expects `PCR8 == SHA-256(32 zero bytes ‖ digest)`. Shared by the `tpm`, `az-snp-vtpm` and `az-tdx-vtpm`
 * verifiers and by the vTPM attesters.
 */
import { createHash } from 'node:crypto';
import { bytesEqual, toHex } from '../../formats/bytes.js';
import { check, type Check } from '../../formats/check.js';

/** PCR 8 after one extend of a fresh (zero) PCR with `digest`. */
export function pcr8ForInitData(digest: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(new Uint8Array(32)).update(digest).digest());
}

/** The `init-data` check: absent when no init-data digest is expected. */
export function initDataPcr8Check(pcr8: Uint8Array | undefined, expected: Uint8Array | undefined): Check[] {
  if (expected === undefined) return [];
  if (expected.length !== 32) {
    return [check('init-data', false, `init-data is bound through PCR 8 of the SHA-256 bank, so its digest must be 32 bytes (algorithm = "sha256"), not ${expected.length}`)];
  }
  const want = pcr8ForInitData(expected);
  return [check('init-data', pcr8 !== undefined && bytesEqual(pcr8, want), 'PCR 8 is SHA-256(zeros ‖ init-data digest)', { expected: toHex(want), actual: pcr8 === undefined ? 'none' : toHex(pcr8) })];
}

/** `pcr00`…`pcr23` claims, lower-case hex, from a list of SHA-256 PCR values. */
export function pcrClaims(pcrs: readonly Uint8Array[]): Record<string, string> {
  return Object.fromEntries(pcrs.map((v, i) => [`pcr${String(i).padStart(2, '0')}`, toHex(v)]));
}

/**
 * Public-area templates for the keys an attester creates: a storage root key to parent the AK, and
 * attestation keys (restricted signing) with tpm2_createak's attributes (specs/measured-boot.md §3.4).
 */
import { TPM_ALG, TPMA_OBJECT } from './constants.js';
import type { TpmtPublic } from './public.js';

const SHA256 = 0x000b;
const empty = new Uint8Array(0);

/** tpm2_createak's default: fixedTPM|fixedParent|sensitiveDataOrigin|userWithAuth|restricted|sign (0x00050072). */
export const AK_ATTRIBUTES = TPMA_OBJECT.fixedTPM | TPMA_OBJECT.fixedParent | TPMA_OBJECT.sensitiveDataOrigin | TPMA_OBJECT.userWithAuth | TPMA_OBJECT.restricted | TPMA_OBJECT.sign;

/** TCG "SRK" template (TCG TPM v2.0 Provisioning Guidance §7.5.1): RSA 2048 restricted decryption, AES-128-CFB. */
export function srkTemplate(): TpmtPublic {
  return {
    type: TPM_ALG.RSA,
    nameAlg: SHA256,
    objectAttributes: TPMA_OBJECT.fixedTPM | TPMA_OBJECT.fixedParent | TPMA_OBJECT.sensitiveDataOrigin | TPMA_OBJECT.userWithAuth | TPMA_OBJECT.noDA | TPMA_OBJECT.restricted | TPMA_OBJECT.decrypt,
    authPolicy: empty,
    symmetric: { algorithm: TPM_ALG.AES, keyBits: 128, mode: TPM_ALG.CFB },
    scheme: { scheme: TPM_ALG.NULL },
    keyBits: 2048,
    exponent: 0,
    modulus: empty,
  };
}

export type AkKind = 'rsa' | 'rsapss' | 'ecc256' | 'ecc384';

/** An attestation key template: RSA 2048 (RSASSA or RSAPSS) or ECC P-256/P-384 (ECDSA), signing with `hash`. */
export function akTemplate(kind: AkKind = 'rsa', hash = SHA256): TpmtPublic {
  const base = { nameAlg: SHA256, objectAttributes: AK_ATTRIBUTES, authPolicy: empty, symmetric: { algorithm: TPM_ALG.NULL } };
  if (kind === 'rsa' || kind === 'rsapss') {
    return { ...base, type: TPM_ALG.RSA, scheme: { scheme: kind === 'rsa' ? TPM_ALG.RSASSA : TPM_ALG.RSAPSS, hash }, keyBits: 2048, exponent: 0, modulus: empty };
  }
  return { ...base, type: TPM_ALG.ECC, scheme: { scheme: TPM_ALG.ECDSA, hash }, curveId: kind === 'ecc256' ? 0x0003 : 0x0004, kdf: { scheme: TPM_ALG.NULL }, x: empty, y: empty };
}

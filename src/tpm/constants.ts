/**
 * TPM 2.0 constants used on the wire (TCG TPM 2.0 Library Part 2 §6; specs/measured-boot.md §3.1–§3.4).
 * Hash algorithm ids live in `eventlog/algorithms.ts`, shared with event logs.
 */

/** TPM_ALG_ID values that are not hashes. */
export const TPM_ALG = {
  RSA: 0x0001,
  KEYEDHASH: 0x0008,
  HMAC: 0x0005,
  AES: 0x0006,
  NULL: 0x0010,
  RSASSA: 0x0014,
  RSAES: 0x0015,
  RSAPSS: 0x0016,
  OAEP: 0x0017,
  ECDSA: 0x0018,
  ECDH: 0x0019,
  ECDAA: 0x001a,
  SM2: 0x001b,
  ECSCHNORR: 0x001c,
  SYMCIPHER: 0x0025,
  ECC: 0x0023,
  CTR: 0x0040,
  OFB: 0x0041,
  CBC: 0x0042,
  CFB: 0x0043,
  ECB: 0x0044,
} as const;

const ALG_NAMES: Record<number, string> = {
  0x0001: 'rsa',
  0x0004: 'sha1',
  0x0005: 'hmac',
  0x0006: 'aes',
  0x0008: 'keyedhash',
  0x000b: 'sha256',
  0x000c: 'sha384',
  0x000d: 'sha512',
  0x0010: 'null',
  0x0012: 'sm3_256',
  0x0014: 'rsassa',
  0x0015: 'rsaes',
  0x0016: 'rsapss',
  0x0017: 'oaep',
  0x0018: 'ecdsa',
  0x0019: 'ecdh',
  0x001a: 'ecdaa',
  0x001b: 'sm2',
  0x001c: 'ecschnorr',
  0x0023: 'ecc',
  0x0025: 'symcipher',
  0x0027: 'sha3_256',
  0x0028: 'sha3_384',
  0x0029: 'sha3_512',
  0x0043: 'cfb',
};

/** tpm2-tools' lower-case name of an algorithm id, or `0x….` */
export function algName(id: number): string {
  return ALG_NAMES[id] ?? `0x${id.toString(16).padStart(4, '0')}`;
}

/** TPM_ECC_CURVE → Node's curve name and coordinate size. */
export const ECC_CURVES: Record<number, { name: string; node: string; jwk?: string; size: number }> = {
  0x0001: { name: 'nist_p192', node: 'prime192v1', size: 24 },
  0x0002: { name: 'nist_p224', node: 'secp224r1', size: 28 },
  0x0003: { name: 'nist_p256', node: 'prime256v1', jwk: 'P-256', size: 32 },
  0x0004: { name: 'nist_p384', node: 'secp384r1', jwk: 'P-384', size: 48 },
  0x0005: { name: 'nist_p521', node: 'secp521r1', jwk: 'P-521', size: 66 },
};

/** TPM_ST structure tags of TPMS_ATTEST (Part 2 §6.9). */
export const TPM_ST_ATTEST = {
  NV: 0x8014,
  COMMAND_AUDIT: 0x8015,
  SESSION_AUDIT: 0x8016,
  CERTIFY: 0x8017,
  QUOTE: 0x8018,
  TIME: 0x8019,
  CREATION: 0x801a,
  NV_DIGEST: 0x801c,
} as const;

/** TPM_GENERATED_VALUE: the magic that shows a TPMS_ATTEST was made by a TPM (Part 2 §6.2). */
export const TPM_GENERATED_VALUE = 0xff544347;

/** TPMA_OBJECT bits (Part 2 §8.3). */
export const TPMA_OBJECT = {
  fixedTPM: 0x2,
  stClear: 0x4,
  fixedParent: 0x10,
  sensitiveDataOrigin: 0x20,
  userWithAuth: 0x40,
  adminWithPolicy: 0x80,
  noDA: 0x400,
  encryptedDuplication: 0x800,
  restricted: 0x10000,
  decrypt: 0x20000,
  sign: 0x40000,
} as const;

/** The names of the TPMA_OBJECT bits set in `attrs`, in bit order. */
export function objectAttributeNames(attrs: number): string[] {
  return Object.entries(TPMA_OBJECT)
    .filter(([, bit]) => (attrs & bit) !== 0)
    .map(([name]) => name);
}

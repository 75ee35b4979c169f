/**
 * TPMT_PUBLIC / TPM2B_PUBLIC of RSA and ECC keys (Part 2 §12.2, specs/measured-boot.md §3.4), the object's
 * Name, and the key as a Node KeyObject.
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { CocoError } from '../errors.js';
import { toBase64Url } from '../formats/bytes.js';
import { digestWith, hashAlgorithmById } from '../eventlog/algorithms.js';
import { ECC_CURVES, TPM_ALG, TPMA_OBJECT, algName } from './constants.js';
import { parseWith, tpmFormatError, TpmWriter, type TpmReader } from './wire.js';

export interface SymmetricDef {
  algorithm: number;
  keyBits?: number;
  mode?: number;
}
/** A scheme: TPM_ALG_NULL, or a scheme with its hash (TPMT_RSA_SCHEME / TPMT_ECC_SCHEME). */
export interface KeyScheme {
  scheme: number;
  hash?: number;
}

export type TpmtPublic = {
  nameAlg: number;
  objectAttributes: number;
  authPolicy: Uint8Array;
  symmetric: SymmetricDef;
  scheme: KeyScheme;
} & (
  | { type: typeof TPM_ALG.RSA; keyBits: number; exponent: number; modulus: Uint8Array }
  | { type: typeof TPM_ALG.ECC; curveId: number; kdf: KeyScheme; x: Uint8Array; y: Uint8Array }
);

function readSymmetric(r: TpmReader): SymmetricDef {
  const algorithm = r.u16be();
  if (algorithm === TPM_ALG.NULL) return { algorithm };
  return { algorithm, keyBits: r.u16be(), mode: r.u16be() };
}
function readScheme(r: TpmReader): KeyScheme {
  const scheme = r.u16be();
  if (scheme === TPM_ALG.NULL) return { scheme };
  return { scheme, hash: r.u16be() };
}

function readTpmtPublic(r: TpmReader): TpmtPublic {
  const type = r.u16be();
  const nameAlg = r.u16be();
  if (hashAlgorithmById(nameAlg) === undefined) throw tpmFormatError(r.what, `nameAlg ${algName(nameAlg)} is not a hash`);
  const objectAttributes = r.u32be();
  const authPolicy = r.tpm2b('authPolicy', 64);
  if (type === TPM_ALG.RSA) {
    const symmetric = readSymmetric(r);
    const scheme = readScheme(r);
    const keyBits = r.u16be();
    const exponent = r.u32be();
    const modulus = r.tpm2b('unique.rsa', 512);
    if (modulus.length * 8 !== keyBits) throw tpmFormatError(r.what, `a ${keyBits}-bit key with a ${modulus.length}-byte modulus`);
    return { type, nameAlg, objectAttributes, authPolicy, symmetric, scheme, keyBits, exponent, modulus };
  }
  if (type === TPM_ALG.ECC) {
    const symmetric = readSymmetric(r);
    const scheme = readScheme(r);
    const curveId = r.u16be();
    const kdf = readScheme(r);
    const x = r.tpm2b('unique.ecc.x', 66);
    const y = r.tpm2b('unique.ecc.y', 66);
    return { type, nameAlg, objectAttributes, authPolicy, symmetric, scheme, curveId, kdf, x, y };
  }
  throw tpmFormatError(r.what, `object type ${algName(type)} is not an RSA or ECC key`);
}

/**
 * Parses a bare TPMT_PUBLIC (go-attestation's `AK.Public`).
 * @throws CocoError TPM_FORMAT
 */
export function parseTpmtPublic(bytes: Uint8Array): TpmtPublic {
  return parseWith(bytes, 'TPMT_PUBLIC', (r) => {
    const p = readTpmtPublic(r);
    r.end();
    return p;
  });
}

/**
 * Parses a TPM2B_PUBLIC (`tpm2_readpublic -f tss`, `tpm2_createak -u`): u16 size then TPMT_PUBLIC.
 * @throws CocoError TPM_FORMAT, also when the size disagrees with the contents
 */
export function parseTpm2bPublic(bytes: Uint8Array): TpmtPublic {
  return parseWith(bytes, 'TPM2B_PUBLIC', (r) => {
    const size = r.u16be();
    if (size !== r.remaining) throw tpmFormatError(r.what, `size ${size} but ${r.remaining} bytes follow`);
    const p = readTpmtPublic(r);
    r.end();
    return p;
  });
}

/** Marshals TPMT_PUBLIC. */
export function encodeTpmtPublic(p: TpmtPublic): Uint8Array {
  const w = new TpmWriter();
  w.u16be(p.type).u16be(p.nameAlg).u32be(p.objectAttributes).tpm2b(p.authPolicy);
  w.u16be(p.symmetric.algorithm);
  if (p.symmetric.algorithm !== TPM_ALG.NULL) w.u16be(p.symmetric.keyBits ?? 0).u16be(p.symmetric.mode ?? 0);
  const scheme = (s: KeyScheme) => {
    w.u16be(s.scheme);
    if (s.scheme !== TPM_ALG.NULL) w.u16be(s.hash ?? 0);
  };
  scheme(p.scheme);
  if (p.type === TPM_ALG.RSA) w.u16be(p.keyBits).u32be(p.exponent).tpm2b(p.modulus);
  else {
    w.u16be(p.curveId);
    scheme(p.kdf);
    w.tpm2b(p.x).tpm2b(p.y);
  }
  return w.finish();
}

export function encodeTpm2bPublic(p: TpmtPublic): Uint8Array {
  const t = encodeTpmtPublic(p);
  return new TpmWriter().tpm2b(t).finish();
}

/**
 * The object's Name: nameAlg (u16) ‖ H_nameAlg(TPMT_PUBLIC) (Part 1 §16). The Name is what a quote's
 * qualifiedSigner and a certify's attested name are made of.
 */
export function objectName(p: TpmtPublic | Uint8Array): Uint8Array {
  const bytes = p instanceof Uint8Array ? p : encodeTpmtPublic(p);
  const nameAlg = p instanceof Uint8Array ? (bytes[2] << 8) | bytes[3] : p.nameAlg;
  const digest = digestWith(nameAlg, bytes);
  return Uint8Array.from([nameAlg >> 8, nameAlg & 0xff, ...digest]);
}

/**
 * The public key as a Node KeyObject (RSA exponent 0 means 65537, Part 2 §12.2.3.5).
 * @throws CocoError TPM_KEY (kind `unsupported`) for a curve Node lacks; (kind `input`) for a point off the curve
 */
export function publicKeyObject(p: TpmtPublic): KeyObject {
  try {
    if (p.type === TPM_ALG.RSA) {
      const e = p.exponent === 0 ? 65537 : p.exponent;
      const eb = Buffer.alloc(4);
      eb.writeUInt32BE(e);
      let i = 0;
      while (i < 3 && eb[i] === 0) i++;
      return createPublicKey({ key: { kty: 'RSA', n: toBase64Url(p.modulus), e: toBase64Url(eb.subarray(i)) }, format: 'jwk' });
    }
    const curve = ECC_CURVES[p.curveId];
    if (curve?.jwk === undefined) throw new CocoError('TPM_KEY', `ECC curve 0x${p.curveId.toString(16)} is not supported`, { kind: 'unsupported' });
    const pad = (v: Uint8Array) => {
      if (v.length > curve.size) throw new CocoError('TPM_KEY', `ECC coordinate of ${v.length} bytes on ${curve.name}`, { kind: 'input' });
      const out = new Uint8Array(curve.size);
      out.set(v, curve.size - v.length);
      return out;
    };
    return createPublicKey({ key: { kty: 'EC', crv: curve.jwk, x: toBase64Url(pad(p.x)), y: toBase64Url(pad(p.y)) }, format: 'jwk' });
  } catch (e) {
    if (e instanceof CocoError) throw e;
    throw new CocoError('TPM_KEY', `the TPM public key is not a valid key: ${(e as Error).message}`, { kind: 'input', cause: e });
  }
}

/** Whether the key is an attestation key: restricted signing (Part 1 §25.2), as an AK must be (§3.4). */
export function isRestrictedSigningKey(p: TpmtPublic): boolean {
  const a = p.objectAttributes;
  return (a & TPMA_OBJECT.restricted) !== 0 && (a & TPMA_OBJECT.sign) !== 0 && (a & TPMA_OBJECT.decrypt) === 0;
}

/** SHA-256 over the SubjectPublicKeyInfo DER: a stable key id for claims and logs. */
export function keyFingerprint(key: KeyObject): string {
  return createHash('sha256').update(key.export({ type: 'spki', format: 'der' })).digest('hex');
}
